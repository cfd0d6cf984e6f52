/*
 * The loop-lag probe (node/loop_probe.h): a callback that holds the loop
 * shows as lag (the largest lag, a stall over NODE_LOOP_STALL_MS, the
 * histogram's upper buckets); the histogram is cumulative.
 */
#include "testutil.h"

#include "node/loop_probe.h"

#include <time.h>
#include <unistd.h>

static void hold_loop(uv_timer_t *t)
{
    (void)t;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 120 * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void stop_loop(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void a_held_loop_shows(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    node_loop_probe *p;
    cst_ok(node_loop_probe_new(&loop, &p));
    uv_timer_t hold, stop;
    uv_timer_init(&loop, &hold);
    uv_timer_init(&loop, &stop);
    uv_timer_start(&hold, hold_loop, 100, 0);
    uv_timer_start(&stop, stop_loop, 400, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    node_loop_stats st = node_loop_probe_stats(p);
    assert_true(st.samples >= 5);
    assert_true(st.max_us >= 100 * 1000); /* the 120 ms hold, less the timer's slack */
    assert_true(st.stalls >= 1);
    /* cumulative buckets: non-decreasing, the last one counts every sample */
    for (int i = 1; i < NODE_LOOP_BUCKETS; i++)
        assert_true(st.buckets[i] >= st.buckets[i - 1]);
    assert_int_equal(st.buckets[NODE_LOOP_BUCKETS - 1], st.samples);
    assert_true(st.buckets[NODE_LOOP_BUCKETS - 2] < st.samples); /* the hold is over 100 ms */
    assert_true(st.sum_us >= st.max_us);
    node_loop_probe_free(p);
    uv_close((uv_handle_t *)&hold, NULL);
    uv_close((uv_handle_t *)&stop, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_held_loop_shows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
