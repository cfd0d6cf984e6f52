/*
 * Calls at the end of a loop turn (net/turn_end.h): never inside
 * cs_turn_end_arm; once per arming however often armed; armed from a timer
 * (before the loop waits) or from an I/O callback (after the I/O phase), it
 * runs before the loop next waits for I/O, also when it arms itself again;
 * cs_turn_end_free drops an armed call.
 */
#include "net/turn_end.h"
#include "testutil.h"

#include <string.h>

typedef struct rec {
    uv_loop_t loop;
    cs_turn_end *t;
    uv_timer_t arm_timer, far_timer;
    uv_async_t async;
    int calls;
    int rearm; /* calls that arm it again from inside */
} rec;

static void on_turn_end(void *ctx)
{
    rec *r = ctx;
    r->calls++;
    if (r->rearm > 0) {
        r->rearm--;
        cs_turn_end_arm(r->t); /* what the call did wrote more */
        return;
    }
    (void)uv_timer_stop(&r->far_timer); /* nothing left to wait for */
}

static void arm_from_timer(uv_timer_t *h)
{
    rec *r = h->data;
    cs_turn_end_arm(r->t);
    cs_turn_end_arm(r->t);         /* armed already: one call */
    assert_int_equal(r->calls, 0); /* never inside the arming call */
}

static void closed(uv_handle_t *h)
{
    (void)h;
}

static void finish(rec *r)
{
    cs_turn_end_free(r->t);
    uv_close((uv_handle_t *)&r->arm_timer, closed);
    uv_close((uv_handle_t *)&r->far_timer, closed);
    uv_close((uv_handle_t *)&r->async, closed);
    assert_int_equal(uv_run(&r->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&r->loop), 0);
}

static void far_cb(uv_timer_t *h)
{
    (void)h;
}

static void async_cb(uv_async_t *h)
{
    rec *r = h->data;
    int before = r->calls;
    cs_turn_end_arm(r->t);
    assert_int_equal(r->calls, before); /* never inside the arming call */
}

static void start(rec *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(uv_loop_init(&r->loop), 0);
    cst_ok(cs_turn_end_new(&r->loop, on_turn_end, r, &r->t));
    assert_int_equal(uv_timer_init(&r->loop, &r->arm_timer), 0);
    assert_int_equal(uv_timer_init(&r->loop, &r->far_timer), 0);
    assert_int_equal(uv_async_init(&r->loop, &r->async, async_cb), 0);
    r->arm_timer.data = r->far_timer.data = r->async.data = r;
    uv_unref((uv_handle_t *)&r->async); /* the far timer alone keeps the loop waiting */
    assert_int_equal(uv_timer_start(&r->far_timer, far_cb, 3000, 0), 0);
}

/* Armed from a timer, the call comes before the loop waits for I/O: with a
 * timer 3 s away, the loop would otherwise sleep until it. */
static void armed_in_a_timer_runs_before_the_wait(void **state)
{
    (void)state;
    rec r;
    start(&r);
    assert_int_equal(uv_timer_start(&r.arm_timer, arm_from_timer, 0, 0), 0);
    uint64_t t0 = uv_hrtime();
    (void)uv_run(&r.loop, UV_RUN_ONCE);
    assert_int_equal(r.calls, 1);
    assert_true(uv_hrtime() - t0 < 1000000000ull); /* did not sleep until the far timer */
    uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 1); /* once per arming */
    finish(&r);
}

/* Armed from an I/O callback (an async wake-up), the call comes in the same
 * turn, right after the I/O phase. */
static void armed_in_io_runs_in_the_same_turn(void **state)
{
    (void)state;
    rec r;
    start(&r);
    assert_int_equal(uv_async_send(&r.async), 0);
    (void)uv_run(&r.loop, UV_RUN_ONCE);
    assert_int_equal(r.calls, 1);
    /* armed again later: runs again */
    assert_int_equal(uv_timer_start(&r.far_timer, far_cb, 3000, 0), 0);
    assert_int_equal(uv_async_send(&r.async), 0);
    uint64_t t0 = uv_hrtime();
    (void)uv_run(&r.loop, UV_RUN_ONCE);
    assert_int_equal(r.calls, 2);
    assert_true(uv_hrtime() - t0 < 1000000000ull);
    finish(&r);
}

/* A call that arms it again (the writer it woke wrote more) runs again
 * before the loop sleeps, though the loop will not come back to that phase:
 * armed in a timer, the first call runs in the prepare phase. */
static void rearmed_inside_runs_again_before_the_wait(void **state)
{
    (void)state;
    rec r;
    start(&r);
    r.rearm = 2;
    assert_int_equal(uv_timer_start(&r.arm_timer, arm_from_timer, 0, 0), 0);
    uint64_t t0 = uv_hrtime();
    (void)uv_run(&r.loop, UV_RUN_ONCE);
    assert_int_equal(r.calls, 3);
    assert_true(uv_hrtime() - t0 < 1000000000ull);
    finish(&r);
}

static void free_drops_an_armed_call(void **state)
{
    (void)state;
    rec r;
    start(&r);
    cs_turn_end_arm(r.t);
    finish(&r); /* frees it armed, then runs the loop to the end */
    assert_int_equal(r.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(armed_in_a_timer_runs_before_the_wait),
        cmocka_unit_test(armed_in_io_runs_in_the_same_turn),
        cmocka_unit_test(rearmed_inside_runs_again_before_the_wait),
        cmocka_unit_test(free_drops_an_armed_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
