/*
 * Deferred calls (net/defer.h): a call runs on a later loop iteration, never
 * inside cs_defer_call, in the order queued, once; a cancelled call never
 * runs; cs_defer_flush runs what is queued now, including calls those calls
 * queue (consensus closing answers for its requests this way); cs_defer_free
 * drops what is still queued.
 */
#include "net/defer.h"
#include "testutil.h"

#include <string.h>

typedef struct rec {
    cs_defer *q;
    char order[16];
    size_t n;
    cs_defer_item items[4];
    cs_defer_item chained;
} rec;

static void note(rec *r, char c)
{
    assert_true(r->n + 1 < sizeof r->order);
    r->order[r->n++] = c;
    r->order[r->n] = '\0';
}

static void call_a(void *ctx)
{
    note(ctx, 'a');
}
static void call_b(void *ctx)
{
    note(ctx, 'b');
}
static void call_c(void *ctx)
{
    note(ctx, 'c');
}

static void call_chain(void *ctx)
{
    rec *r = ctx;
    note(r, 'x');
    cs_defer_call(r->q, &r->chained, call_c, r); /* queued by a call */
}

static void runs_later_in_order_once(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    rec r = {0};
    cst_ok(cs_defer_new(&loop, &r.q));
    cs_defer_call(r.q, &r.items[0], call_a, &r);
    cs_defer_call(r.q, &r.items[1], call_b, &r);
    cs_defer_call(r.q, &r.items[1], call_b, &r); /* already queued: no-op */
    cs_defer_call(r.q, &r.items[2], call_c, &r);
    cs_defer_cancel(r.q, &r.items[2]);
    assert_int_equal(r.n, 0); /* never inside the call */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_string_equal(r.order, "ab");
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_string_equal(r.order, "ab");
    cs_defer_free(r.q);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void flush_runs_everything_now(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    rec r = {0};
    cst_ok(cs_defer_new(&loop, &r.q));
    cs_defer_call(r.q, &r.items[0], call_a, &r);
    cs_defer_call(r.q, &r.items[1], call_chain, &r);
    cs_defer_flush(r.q);
    assert_string_equal(r.order, "axc"); /* the chained call too, without the loop */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_string_equal(r.order, "axc"); /* nothing runs twice */
    cs_defer_free(r.q);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void free_drops_what_is_queued(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    rec r = {0};
    cst_ok(cs_defer_new(&loop, &r.q));
    cs_defer_call(r.q, &r.items[0], call_a, &r);
    cs_defer_free(r.q);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_later_in_order_once),
        cmocka_unit_test(flush_runs_everything_now),
        cmocka_unit_test(free_drops_what_is_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
