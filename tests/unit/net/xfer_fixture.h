/*
 * A bulk transfer in both directions at once, with back-pressure: each
 * side writes a known pattern while its stream's write queue is below a
 * high-water mark (a 1 ms timer pumps), and checks every byte it receives.
 * Works over any transport: the test sets up a listener whose on_accept is
 * cst_xfer_accept and a connect whose callback is cst_xfer_connect.
 */
#ifndef CST_XFER_FIXTURE_H
#define CST_XFER_FIXTURE_H

#include "net_fixture.h"

#define CST_XFER_BYTES ((size_t)6 << 20)
#define CST_XFER_CHUNK 65536
#define CST_XFER_HIGH  ((size_t)1 << 20)

typedef struct cst_side {
    cs_stream *s;
    size_t sent, received;
    size_t max_queue;
    bool closed, bad;
    consort_err reason;
    uint8_t seed; /* the pattern this side sends; the peer's is seed ^ 0xff */
} cst_side;

typedef struct cst_xfer {
    uv_loop_t loop;
    cs_listener *listener;
    uv_timer_t pump;
    cst_side a, b; /* a = client, b = server */
} cst_xfer;

static inline uint8_t cst_pattern(uint8_t seed, size_t i)
{
    return (uint8_t)(seed + i * 31 + (i >> 13));
}

static inline void cst_side_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    cst_side *d = ctx;
    uint8_t peer_seed = (uint8_t)(d->seed ^ 0xff);
    for (size_t i = 0; i < data.len; i++)
        if (data.ptr[i] != cst_pattern(peer_seed, d->received + i))
            d->bad = true;
    d->received += data.len;
}

static inline void cst_side_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    cst_side *d = ctx;
    cst_cb_msg(reason, msg);
    d->closed = true;
    d->reason = reason;
    d->s = NULL;
}

/* Writes while the queue is below the high-water mark. */
static inline void cst_side_pump(cst_side *d, size_t total)
{
    if (d->s == NULL)
        return;
    uint8_t chunk[CST_XFER_CHUNK];
    while (d->sent < total && cs_stream_write_queue_len(d->s) < CST_XFER_HIGH) {
        size_t n = total - d->sent < CST_XFER_CHUNK ? total - d->sent : CST_XFER_CHUNK;
        for (size_t i = 0; i < n; i++)
            chunk[i] = cst_pattern(d->seed, d->sent + i);
        cst_ok(cs_stream_write(d->s, CS_SLICE(chunk, n)));
        d->sent += n;
        size_t q = cs_stream_write_queue_len(d->s);
        if (q > d->max_queue)
            d->max_queue = q;
    }
}

static inline void cst_xfer_pump_cb(uv_timer_t *t)
{
    cst_xfer *x = t->data;
    cst_side_pump(&x->a, CST_XFER_BYTES);
    cst_side_pump(&x->b, CST_XFER_BYTES);
}

static inline void cst_xfer_accept(void *ctx, cs_stream *s)
{
    cst_xfer *x = ctx;
    x->b.s = s;
    const cs_stream_cbs cbs = {.on_data = cst_side_data, .on_close = cst_side_close};
    cs_stream_set_cbs(s, &cbs, &x->b);
}

static inline void cst_xfer_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    cst_xfer *x = ctx;
    cst_cb_ok(err, msg);
    x->a.s = s;
    const cs_stream_cbs cbs = {.on_data = cst_side_data, .on_close = cst_side_close};
    cs_stream_set_cbs(s, &cbs, &x->a);
}

static inline bool cst_xfer_done(void *ctx)
{
    cst_xfer *x = ctx;
    return x->a.received == CST_XFER_BYTES && x->b.received == CST_XFER_BYTES;
}

static inline bool cst_xfer_connected(void *ctx)
{
    cst_xfer *x = ctx;
    return x->a.s != NULL && x->b.s != NULL;
}

static inline bool cst_xfer_closed(void *ctx)
{
    cst_xfer *x = ctx;
    return x->a.closed && x->b.closed;
}

static inline void cst_xfer_init(cst_xfer *x)
{
    memset(x, 0, sizeof *x);
    x->a.seed = 0x11;
    x->b.seed = 0xee;
    assert_int_equal(uv_loop_init(&x->loop), 0);
}

/* After the listener and the connect are set up: transfer, check, close, finish the loop. */
static inline void cst_xfer_run(cst_xfer *x)
{
    assert_int_equal(uv_timer_init(&x->loop, &x->pump), 0);
    x->pump.data = x;
    assert_int_equal(uv_timer_start(&x->pump, cst_xfer_pump_cb, 1, 1), 0);
    cst_run_until(&x->loop, 60000, cst_xfer_done, x, "6 MiB each way");
    assert_false(x->a.bad);
    assert_false(x->b.bad);
    /* back-pressure held: never far above the high-water mark */
    assert_true(x->a.max_queue < CST_XFER_HIGH + 2 * CST_XFER_CHUNK);
    assert_true(x->b.max_queue < CST_XFER_HIGH + 2 * CST_XFER_CHUNK);
    uv_close((uv_handle_t *)&x->pump, NULL);
    cs_stream_close(x->a.s);
    cst_fails(cs_stream_write(x->a.s, CS_SLICE_LIT("late")), CONSORT_E_STATE);
    cst_run_until(&x->loop, 5000, cst_xfer_closed, x, "both sides closed");
    assert_int_equal(x->a.reason, CONSORT_OK);
    assert_int_equal(x->b.reason, CONSORT_OK);
    cs_listener_close(x->listener);
    cst_loop_finish(&x->loop);
}

#endif
