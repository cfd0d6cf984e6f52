/*
 * The flow-control contract of stream.h ("Flow control"), checked on any
 * transport: the test connects a writer W and a reader R (any stream
 * pair), hands them to cst_pause_attach, then runs the checks below.
 *
 *   - a pause from inside on_data stops delivery at once: while paused
 *     nothing more is delivered, and what the peer writes backs up into the
 *     peer's own write queue (bounded memory at the reader);
 *   - pause and resume are idempotent and never call on_data or on_close
 *     from inside the call (STYLE.md rule 10); held bytes follow from the
 *     loop, every byte once, in order;
 *   - a stream closed while paused still reports on_close; a peer's close
 *     seen only after resume is reported by on_close, from the loop.
 * Header-only: each test file is its own program.
 */
#ifndef CST_PAUSE_FIXTURE_H
#define CST_PAUSE_FIXTURE_H

#include "net_fixture.h"

/* Written by W in one go: more than loopback's socket buffers can hold
 * (tcp_wmem + tcp_rmem maxima are a few MiB each). */
#define CST_PAUSE_BYTES ((size_t)48 << 20)
#define CST_PAUSE_CHUNK ((size_t)1 << 20)
/* How long a paused reader is watched for deliveries that must not come. */
#define CST_PAUSE_WATCH_MS 400

typedef struct cst_pause {
    uv_loop_t *loop;
    cs_stream *w, *r;    /* writer, reader (NULL once closed) */
    size_t received;     /* by R, all checked against the pattern */
    size_t at_pause;     /* received when R paused itself */
    size_t calls_paused; /* on_data calls while R was paused */
    bool pause_in_data;  /* R pauses inside its next on_data */
    bool paused;         /* R is paused (as the test asked) */
    bool in_call;        /* inside cs_stream_pause/resume */
    bool reentered;      /* a callback ran inside one of them */
    bool bad;            /* a byte out of pattern */
    bool r_closed, w_closed;
    consort_err r_reason;
} cst_pause;

static inline uint8_t cst_pause_byte(size_t i)
{
    return (uint8_t)(i * 7 + (i >> 11));
}

static inline void cst_pause_r_data(void *ctx, cs_stream *s, cs_slice data)
{
    cst_pause *p = ctx;
    if (p->in_call)
        p->reentered = true;
    if (p->paused)
        p->calls_paused++;
    for (size_t i = 0; i < data.len; i++)
        if (data.ptr[i] != cst_pause_byte(p->received + i))
            p->bad = true;
    p->received += data.len;
    if (p->pause_in_data) {
        p->pause_in_data = false;
        p->paused = true;
        p->at_pause = p->received;
        cs_stream_pause(s);
    }
}

static inline void cst_pause_r_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    cst_pause *p = ctx;
    cst_cb_msg(reason, msg);
    if (p->in_call)
        p->reentered = true;
    p->r_closed = true;
    p->r_reason = reason;
    p->r = NULL;
}

static inline void cst_pause_w_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    (void)s;
    (void)data;
}

static inline void cst_pause_w_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    cst_pause *p = ctx;
    cst_cb_msg(reason, msg);
    p->w_closed = true;
    p->w = NULL;
}

/* Sets R's and W's callbacks (call it inside the callbacks that deliver them,
 * or right after, as net.h asks). */
static inline void cst_pause_attach_r(cst_pause *p, cs_stream *r)
{
    p->r = r;
    const cs_stream_cbs cbs = {.on_data = cst_pause_r_data, .on_close = cst_pause_r_close};
    cs_stream_set_cbs(r, &cbs, p);
}

static inline void cst_pause_attach_w(cst_pause *p, cs_stream *w)
{
    p->w = w;
    const cs_stream_cbs cbs = {.on_data = cst_pause_w_data, .on_close = cst_pause_w_close};
    cs_stream_set_cbs(w, &cbs, p);
}

static inline void cst_pause_call(cst_pause *p, bool pause)
{
    p->in_call = true;
    if (pause)
        cs_stream_pause(p->r);
    else
        cs_stream_resume(p->r);
    p->in_call = false;
    assert_false(p->reentered);
}

static inline bool cst_pause_got_some(void *ctx)
{
    return ((cst_pause *)ctx)->paused;
}

static inline bool cst_pause_got_all(void *ctx)
{
    cst_pause *p = ctx;
    return p->received >= CST_PAUSE_BYTES || p->r_closed;
}

/* R got the 4 bytes of "held". */
static inline bool cst_pause_got_held(void *ctx)
{
    return ((cst_pause *)ctx)->received >= 4;
}

/* Runs the loop for `ms` (a watch window for something that must NOT happen). */
static inline void cst_pause_watch(cst_pause *p, unsigned ms)
{
    bool expired = false;
    uv_timer_t t;
    assert_int_equal(uv_timer_init(p->loop, &t), 0);
    t.data = &expired;
    assert_int_equal(uv_timer_start(&t, cst_deadline_cb, ms, 0), 0);
    while (!expired)
        uv_run(p->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(p->loop, UV_RUN_NOWAIT);
}

static inline void cst_pause_write_all(cst_pause *p)
{
    static uint8_t chunk[CST_PAUSE_CHUNK];
    for (size_t off = 0; off < CST_PAUSE_BYTES; off += CST_PAUSE_CHUNK) {
        for (size_t i = 0; i < CST_PAUSE_CHUNK; i++)
            chunk[i] = cst_pause_byte(off + i);
        cst_ok(cs_stream_write(p->w, CS_SLICE(chunk, CST_PAUSE_CHUNK)));
    }
}

/*
 * The whole contract on a connected pair whose callbacks are attached:
 * W sends CST_PAUSE_BYTES; R pauses inside its first on_data and is
 * watched; resumed, it gets every byte; then R pauses again, W closes, and
 * R, resumed, reports W's close from the loop; both sides close cleanly.
 */
static inline void cst_pause_check(cst_pause *p)
{
    p->pause_in_data = true;
    cst_pause_write_all(p);
    cst_run_until(p->loop, 20000, cst_pause_got_some, p, "R's first bytes");
    cst_pause_watch(p, CST_PAUSE_WATCH_MS);
    /* nothing delivered while paused ... */
    assert_int_equal(p->calls_paused, 0);
    assert_int_equal(p->received, p->at_pause);
    /* ... and the rest waits at the writer, not in the reader's memory */
    assert_true(p->at_pause < CST_PAUSE_BYTES / 2);
    assert_true(cs_stream_write_queue_len(p->w) > CST_PAUSE_BYTES / 2);
    /* idempotent, and no callback from inside either call */
    cst_pause_call(p, true);
    p->paused = false;
    cst_pause_call(p, false);
    cst_pause_call(p, false);
    cst_run_until(p->loop, 30000, cst_pause_got_all, p, "every byte after resume");
    assert_false(p->r_closed);
    assert_int_equal(p->received, CST_PAUSE_BYTES);
    assert_false(p->bad);
    assert_false(p->reentered);

    /* paused again; the peer closes; resumed, R reports the close from the loop */
    cst_pause_call(p, true);
    p->paused = true;
    cs_stream_close(p->w);
    cst_pause_watch(p, 100);
    assert_int_equal(p->calls_paused, 0);
    p->paused = false;
    cst_pause_call(p, false);
    assert_false(p->r_closed); /* not inside resume */
    cst_run_until(p->loop, 10000, cst_flag_set, &p->r_closed, "R's on_close after resume");
    assert_int_equal(p->r_reason, CONSORT_OK);
    assert_false(p->reentered);
    cst_run_until(p->loop, 10000, cst_flag_set, &p->w_closed, "W's on_close");
}

/* A stream closed while paused still reports on_close (R closes itself). */
static inline void cst_pause_check_close_while_paused(cst_pause *p)
{
    p->pause_in_data = true;
    cst_ok(cs_stream_write(p->w, CS_SLICE_LIT("some bytes")));
    cst_run_until(p->loop, 10000, cst_pause_got_some, p, "R's first bytes");
    cs_stream_close(p->r);
    cst_pause_call(p, false); /* closing: a no-op, and no callback inside */
    cst_pause_call(p, true);
    assert_false(p->r_closed);
    cst_run_until(p->loop, 10000, cst_flag_set, &p->r_closed, "R's on_close while paused");
    assert_int_equal(p->r_reason, CONSORT_OK);
    cst_run_until(p->loop, 10000, cst_flag_set, &p->w_closed, "W's on_close");
}

#endif
