/*
 * Writes of one loop turn leave a TLS stream together (tls_stream.c
 * "Gathered writes"), over real TCP on 127.0.0.1.
 */
#include "tls_fixture.h"

/* ---- writes of one turn leave together ----
 *
 * The client's TLS stream runs over a TCP stream wrapped to count the
 * writes it is given. Written from a timer, three writes are held (queued,
 * not written) and leave as one; written from on_data, they leave as one
 * when on_data returns; a write past one record's size leaves at once,
 * after what was held; what was held goes out before a close. */

typedef struct counting {
    cs_stream base;
    cs_stream *real;
    int writes;
} counting;

static counting *counting_of(const cs_stream *s)
{
    return (counting *)(void *)((const char *)s - offsetof(counting, base));
}
static consort_err cnt_write(cs_stream *s, cs_slice data)
{
    counting_of(s)->writes++;
    return cs_stream_write(counting_of(s)->real, data);
}
static void cnt_close(cs_stream *s)
{
    cs_stream_close(counting_of(s)->real);
}
static void cnt_set_cbs(cs_stream *s, const cs_stream_cbs *cbs, void *ctx)
{
    cs_stream_set_cbs(counting_of(s)->real, cbs, ctx);
}
static const cs_x509 *cnt_peer_cert(const cs_stream *s)
{
    return cs_stream_peer_cert(counting_of(s)->real);
}
static size_t cnt_queue_len(const cs_stream *s)
{
    return cs_stream_write_queue_len(counting_of(s)->real);
}
static const char *cnt_peer_address(const cs_stream *s)
{
    return cs_stream_peer_address(counting_of(s)->real);
}
static void cnt_set_paused(cs_stream *s, bool paused)
{
    if (paused)
        cs_stream_pause(counting_of(s)->real);
    else
        cs_stream_resume(counting_of(s)->real);
}
static const cs_stream_vtbl counting_vtbl = {
    .write = cnt_write,
    .close = cnt_close,
    .set_cbs = cnt_set_cbs,
    .peer_cert = cnt_peer_cert,
    .write_queue_len = cnt_queue_len,
    .peer_address = cnt_peer_address,
    .set_paused = cnt_set_paused,
};

#define BIG_WRITE ((size_t)20 << 10) /* over one record's 16 KiB */

typedef struct gather {
    uv_loop_t loop;
    cs_listener *listener;
    cs_tls_config *ccfg;
    counting cw;
    cs_stream *client, *server;
    uv_timer_t tick;
    int step;        /* what the client does next */
    int before;      /* the counting stream's writes before the step's writes */
    int gathered[3]; /* writes each step took, seen by the server on arrival */
    cs_buf server_got, client_got;
    bool server_closed, client_closed;
    consort_err server_reason;
} gather;

static void g_tick(uv_timer_t *t);

static void g_s_data(void *ctx, cs_stream *s, cs_slice data)
{
    gather *g = ctx;
    cst_ok(cs_buf_append_slice(&g->server_got, data));
    cs_slice got = cs_buf_slice(&g->server_got);
    if (got.len == 11 && g->step == 0) {
        assert_memory_equal(got.ptr, "onetwothree", 11);
        g->gathered[0] = g->cw.writes - g->before;
        g->step = 1;
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("A")));
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("B")));
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("C")));
    } else if (got.len == 14 && g->step == 2) {
        assert_memory_equal(got.ptr + 11, "xyz", 3);
        g->gathered[1] = g->cw.writes - g->before;
        g->step = 3;
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("ok")));
    }
}

static void g_s_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    gather *g = ctx;
    cst_cb_msg(reason, msg);
    g->server_closed = true;
    g->server_reason = reason;
}

static void g_accept(void *ctx, cs_stream *s)
{
    gather *g = ctx;
    g->server = s;
    const cs_stream_cbs cbs = {.on_data = g_s_data, .on_close = g_s_close};
    cs_stream_set_cbs(s, &cbs, g);
}

static void g_c_data(void *ctx, cs_stream *s, cs_slice data)
{
    gather *g = ctx;
    cst_ok(cs_buf_append_slice(&g->client_got, data));
    if (g->client_got.len == 3 && g->step == 1) { /* "ABC": answer from on_data */
        assert_memory_equal(g->client_got.ptr, "ABC", 3);
        g->step = 2;
        g->before = g->cw.writes;
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("x")));
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("y")));
        cst_ok(cs_stream_write(s, CS_SLICE_LIT("z")));
        assert_int_equal(g->cw.writes, g->before);       /* held until on_data returns */
    } else if (g->client_got.len == 5 && g->step == 3) { /* "ok": next from a timer */
        assert_int_equal(uv_timer_start(&g->tick, g_tick, 1, 0), 0);
    }
}

static void g_c_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    gather *g = ctx;
    cst_cb_msg(reason, msg);
    g->client_closed = true;
}

static void g_tick(uv_timer_t *t)
{
    gather *g = t->data;
    cs_stream *c = g->client;
    if (g->step == 0) {
        g->before = g->cw.writes;
        cst_ok(cs_stream_write(c, CS_SLICE_LIT("one")));
        cst_ok(cs_stream_write(c, CS_SLICE_LIT("two")));
        cst_ok(cs_stream_write(c, CS_SLICE_LIT("three")));
        assert_int_equal(g->cw.writes, g->before);       /* held for the turn's end */
        assert_true(cs_stream_write_queue_len(c) >= 11); /* and counted as queued */
        return;
    }
    /* step 3: a small write, one past a record's size, then a close */
    g->before = g->cw.writes;
    cst_ok(cs_stream_write(c, CS_SLICE_LIT("q")));
    assert_int_equal(g->cw.writes, g->before);
    uint8_t big[BIG_WRITE];
    memset(big, 'b', sizeof big);
    cst_ok(cs_stream_write(c, CS_SLICE(big, sizeof big)));
    g->gathered[2] = g->cw.writes - g->before; /* "q" and the big one: at once */
    cst_ok(cs_stream_write(c, CS_SLICE_LIT("bye")));
    cs_stream_close(c); /* "bye" goes before the close_notify */
}

static void g_tls_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    gather *g = ctx;
    cst_cb_msg(err, msg);
    cst_ok(err);
    g->client = s;
    const cs_stream_cbs cbs = {.on_data = g_c_data, .on_close = g_c_close};
    cs_stream_set_cbs(s, &cbs, g);
    assert_int_equal(uv_timer_start(&g->tick, g_tick, 1, 0), 0); /* outside any on_data */
}

static void g_tcp_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    gather *g = ctx;
    cst_cb_msg(err, msg);
    cst_ok(err);
    g->cw.base.vt = &counting_vtbl;
    g->cw.real = s;
    cst_ok(cs_tls_stream_start(&g->loop, &g->cw.base, g->ccfg, 5000, g_tls_connected, g));
}

static bool g_done(void *ctx)
{
    gather *g = ctx;
    return g->server_closed && g->client_closed;
}

static void tls_writes_of_a_turn_leave_together(void **state)
{
    pki *p = *state;
    static gather g; /* the big write's buffer is on the stack of g_tick */
    memset(&g, 0, sizeof g);
    cs_buf_init(&g.server_got, 0);
    cs_buf_init(&g.client_got, 0);
    assert_int_equal(uv_loop_init(&g.loop), 0);
    assert_int_equal(uv_timer_init(&g.loop, &g.tick), 0);
    g.tick.data = &g;
    cs_tls_config *scfg = make_server(p, p->server_key, p->server_cert, CS_TLS_CLIENT_CERT_NONE);
    g.ccfg = make_client(&p->pin, NULL, NULL);
    cst_ok(cs_tls_listen(&g.loop, "127.0.0.1:0", scfg, g_accept, &g, &g.listener));
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(g.listener));
    cst_ok(cs_tcp_connect(&g.loop, addr, g_tcp_connected, &g));
    cst_run_until(&g.loop, 10000, g_done, &g, "the gathered exchange to end");
    assert_int_equal(g.gathered[0], 1); /* three writes from a timer: one */
    assert_int_equal(g.gathered[1], 1); /* three writes from on_data: one */
    assert_int_equal(g.gathered[2], 1); /* the held "q" went with the big write, in order */
    cst_ok(g.server_reason);            /* an orderly close, after every byte */
    assert_int_equal(g.server_got.len, 14 + 1 + BIG_WRITE + 3);
    assert_int_equal(g.server_got.ptr[14], 'q');
    assert_int_equal(g.server_got.ptr[15], 'b');
    assert_memory_equal(g.server_got.ptr + 15 + BIG_WRITE, "bye", 3);
    uv_close((uv_handle_t *)&g.tick, NULL);
    cs_listener_close(g.listener);
    cs_tls_config_free(scfg);
    cs_tls_config_free(g.ccfg);
    cst_loop_finish(&g.loop);
    cs_buf_cleanup(&g.server_got);
    cs_buf_cleanup(&g.client_got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls_writes_of_a_turn_leave_together),
    };
    return cmocka_run_group_tests(tests, tls_setup, tls_teardown);
}
