/*
 * The stream transport: who raft may talk to (authenticated ids only),
 * malformed traffic in both directions, back-pressure from a stream's write
 * queue, dropped connections, and argument / allocation failures.
 */
#include "raft_cluster.h"

#include "consensus/loopnet_priv.h"

#include <raft.h>
#include <raft/uv.h>
#include <sys/socket.h>
#include <unistd.h>

static cl_cluster *cl_new(unsigned n)
{
    cl_cluster *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl_init(cl, n);
    return cl;
}

static void cl_free(cl_cluster *cl)
{
    cl_cleanup(cl);
    free(cl);
}

/* ---- a raw stream pair, one end watched by the test ---- */

typedef struct watched {
    bool closed;
    consort_err reason;
    size_t received;
} watched;

static void w_on_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    ((watched *)ctx)->received += data.len;
}

static void w_on_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    watched *w = ctx;
    cst_cb_msg(reason, msg);
    w->closed = true;
    w->reason = reason;
}

static const cs_stream_cbs watched_cbs = {.on_data = w_on_data, .on_close = w_on_close};

/* Returns the end to hand over; the other end reports to *w. */
static cs_stream *stream_pair(cl_cluster *cl, watched *w, cs_stream **mine)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    cs_stream *theirs = NULL;
    cst_ok(cs_loopnet_stream_new(cl->net, fds[0], 50, 1, "node-1", mine));
    cst_ok(cs_loopnet_stream_new(cl->net, fds[1], 1, 50, "evil", &theirs));
    memset(w, 0, sizeof *w);
    cs_stream_set_cbs(*mine, &watched_cbs, w);
    return theirs;
}

static bool watched_closed(cl_cluster *cl, void *arg)
{
    (void)cl;
    return ((watched *)arg)->closed;
}

static void accept_refuses_unauthenticated_or_malformed_peers(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(1);
    cs_consensus_opts o = {.loop = &cl->loop,
                           .id = 1,
                           .address = "node-1",
                           .data_dir = cl->nodes[0].dir,
                           .fsm = cl_fsm_iface(&cl->nodes[0].fsm, false)};
    cst_ok(cs_loopnet_connector(cl->net, 1, &o.connector));
    cst_ok(cs_consensus_new(&o, &cl->nodes[0].c));
    cs_consensus *c = cl->nodes[0].c;
    watched w;
    cs_stream *mine = NULL;

    /* Not started: raft is not listening yet. */
    cst_fails(cs_consensus_accept(c, stream_pair(cl, &w, &mine), 2, "node-2"), CONSORT_E_STATE);
    assert_true(cl_run_until(cl, 2000, watched_closed, &w));

    cs_raft_member m = {1, "node-1", CS_RAFT_VOTER};
    cst_ok(cs_consensus_bootstrap(c, &m, 1));
    cst_ok(cs_consensus_start(c));
    const struct {
        uint64_t id;
        const char *address;
    } bad[] = {{0, "node-2"}, {1, "node-1"}, {2, ""}, {2, "node 2"}, {2, "node-2\n"}, {2, NULL}};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cst_fails(cs_consensus_accept(c, stream_pair(cl, &w, &mine), bad[i].id, bad[i].address),
                  CONSORT_E_INVALID_ARGUMENT);
        assert_true(cl_run_until(cl, 2000, watched_closed, &w));
    }
    char long_addr[300];
    memset(long_addr, 'a', sizeof long_addr - 1);
    long_addr[sizeof long_addr - 1] = '\0';
    cst_fails(cs_consensus_accept(c, stream_pair(cl, &w, &mine), 2, long_addr),
              CONSORT_E_INVALID_ARGUMENT);
    assert_true(cl_run_until(cl, 2000, watched_closed, &w));

    cs_raft_transport_stats st;
    cs_raft_transport_stats_get(cs_consensus_transport(c), &st);
    assert_int_equal(st.refused, CS_ARRAY_LEN(bad) + 2);
    assert_int_equal(st.accepted, 0);
    assert_int_equal(st.connections, 0);

    /* A well-formed hand-over is accepted; garbage from that peer makes raft
     * drop the connection, and the node keeps working. */
    cst_ok(cs_consensus_accept(c, stream_pair(cl, &w, &mine), 2, "node-2"));
    cs_raft_transport_stats_get(cs_consensus_transport(c), &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.connections, 1);
    /* A message preamble (type, header length) raft must refuse: unknown
     * type 2^64-1 with an empty header. (libraft allocates whatever header
     * length a peer announces, so only authenticated peers may reach it.) */
    uint8_t junk[16];
    memset(junk, 0xff, 8);
    memset(junk + 8, 0, 8);
    cst_ok(cs_stream_write(mine, CS_SLICE(junk, sizeof junk)));
    assert_true(cl_run_until(cl, 2000, watched_closed, &w));
    assert_int_equal(w.received, 0);
    assert_int_equal(cl_wait_leader(cl, 3000, 0), 0);
    cl_tally t = {0};
    cst_ok(cl_submit(cl, 0, 7, 8, &t));
    cl_count_arg a = {&t, 1};
    assert_true(cl_run_until(cl, 3000, cl_tally_done, &a));
    assert_int_equal(t.ok, 1);
    cl_free(cl);
}

/* ---- connector wrappers: lie about ids, or fake a full write queue ---- */

typedef struct wrap_stream {
    cs_stream base;
    cs_stream *inner;
    cs_stream_cbs cbs;
    void *ctx;
} wrap_stream;

static size_t g_fake_queue;
static uint64_t g_id_offset;
static cs_raft_connector g_inner[CL_MAX_NODES];

static void ws_on_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    wrap_stream *w = ctx;
    w->cbs.on_data(w->ctx, &w->base, data);
}

static void ws_on_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    wrap_stream *w = ctx;
    w->cbs.on_close(w->ctx, &w->base, reason, msg);
    free(w);
}

static const cs_stream_cbs ws_inner_cbs = {.on_data = ws_on_data, .on_close = ws_on_close};

static consort_err ws_write(cs_stream *s, cs_slice d)
{
    return cs_stream_write(((wrap_stream *)s)->inner, d);
}
static void ws_close(cs_stream *s)
{
    cs_stream_close(((wrap_stream *)s)->inner);
}
static void ws_set_cbs(cs_stream *s, const cs_stream_cbs *cbs, void *ctx)
{
    wrap_stream *w = (wrap_stream *)s;
    w->cbs = *cbs;
    w->ctx = ctx;
    cs_stream_set_cbs(w->inner, &ws_inner_cbs, w);
}
static const struct cs_x509 *ws_peer_cert(const cs_stream *s)
{
    return cs_stream_peer_cert(((const wrap_stream *)s)->inner);
}
static size_t ws_queue(const cs_stream *s)
{
    return cs_stream_write_queue_len(((const wrap_stream *)s)->inner) + g_fake_queue;
}
static const char *ws_peer_address(const cs_stream *s)
{
    return cs_stream_peer_address(((const wrap_stream *)s)->inner);
}

static void ws_set_paused(cs_stream *s, bool paused)
{
    wrap_stream *w = (wrap_stream *)s;
    if (paused)
        cs_stream_pause(w->inner);
    else
        cs_stream_resume(w->inner);
}

static const cs_stream_vtbl ws_vt = {ws_write, ws_close,        ws_set_cbs,   ws_peer_cert,
                                     ws_queue, ws_peer_address, ws_set_paused};

typedef struct wrap_dial {
    cs_raft_connect_cb cb;
    void *arg;
} wrap_dial;

static void wrap_connected(void *arg, consort_err status, const char *msg, cs_stream *stream,
                           uint64_t peer_id)
{
    wrap_dial d = *(wrap_dial *)arg;
    free(arg);
    if (stream != NULL) {
        wrap_stream *w = calloc(1, sizeof *w);
        assert_non_null(w);
        w->base.vt = &ws_vt;
        w->inner = stream;
        stream = &w->base;
    }
    d.cb(d.arg, status, msg, stream, peer_id + g_id_offset);
}

static consort_err wrap_connect(void *ctx, uint64_t id, const char *address, cs_raft_connect_cb cb,
                                void *arg)
{
    cs_raft_connector *inner = ctx;
    wrap_dial *d = malloc(sizeof *d);
    assert_non_null(d);
    d->cb = cb;
    d->arg = arg;
    consort_err rc = inner->connect(inner->ctx, id, address, wrap_connected, d);
    if (rc != CONSORT_OK)
        free(d);
    return rc;
}

static void install_wrapper(cl_cluster *cl, unsigned i, cs_raft_connector *conn)
{
    (void)cl;
    g_inner[i] = *conn;
    *conn = (cs_raft_connector){.ctx = &g_inner[i], .connect = wrap_connect};
}

static void peer_with_wrong_authenticated_id_is_refused(void **state)
{
    (void)state;
    g_fake_queue = 0;
    g_id_offset = 100; /* every channel "authenticates" somebody else */
    cl_cluster *cl = cl_new(2);
    cl->wrap_connector = install_wrapper;
    cst_log_capture_start();
    cl_start_all(cl);
    cl_run_for(cl, 1500);
    assert_non_null(
        strstr(cst_log_captured(), "connect to 2 reached authenticated peer 102: refused"));
    cst_log_capture_stop();
    /* Two voters need each other's vote: nobody may win. */
    assert_int_equal(cl_leader(cl), -1);
    for (unsigned i = 0; i < 2; i++) {
        cs_raft_transport_stats st;
        cs_raft_transport_stats_get(cs_consensus_transport(cl->nodes[i].c), &st);
        assert_true(st.refused > 0);
        assert_int_equal(st.connected, 0);
        assert_int_equal(st.bytes_to_peers, 0);
    }
    g_id_offset = 0; /* honest again: raft retries and an election succeeds */
    assert_true(cl_wait_leader(cl, 8000, 0) >= 0);
    cl_free(cl);
}

static void full_write_queue_pauses_raft_output(void **state)
{
    (void)state;
    g_fake_queue = 0;
    g_id_offset = 0;
    cl_cluster *cl = cl_new(3);
    cl->wrap_connector = install_wrapper;
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    cs_raft_transport *lt = cs_consensus_transport(cl->nodes[l].c);

    g_fake_queue = (size_t)16 << 20; /* above the 4 MiB high-water mark */
    cl_run_for(cl, 200);
    cs_raft_transport_stats a, b;
    cs_raft_transport_stats_get(lt, &a);
    assert_true(a.pauses >= 1);
    cl_run_for(cl, 300); /* raft keeps sending heartbeats; none leave */
    cs_raft_transport_stats_get(lt, &b);
    assert_int_equal(b.bytes_to_peers, a.bytes_to_peers);

    g_fake_queue = 0; /* the queue "drains": output resumes */
    l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    cl_tally t = {0};
    for (uint64_t v = 1; v <= 20; v++)
        cst_ok(cl_submit(cl, (unsigned)l, v, 64, &t));
    cl_count_arg ca = {&t, 20};
    assert_true(cl_run_until(cl, 8000, cl_tally_done, &ca));
    assert_int_equal(t.ok, 20);
    cs_raft_transport_stats_get(cs_consensus_transport(cl->nodes[l].c), &b);
    assert_true(b.bytes_to_peers > 0);
    cl_free(cl);
}

/* ---- a peer that answers on a connection raft opened ---- */

static watched g_evil;

static consort_err evil_accept(void *ctx, cs_stream *s, uint64_t peer_id, const char *addr)
{
    (void)ctx;
    (void)peer_id;
    (void)addr;
    cs_stream_set_cbs(s, &watched_cbs, &g_evil);
    return cs_stream_write(s, CS_SLICE_LIT("unsolicited bytes"));
}

static void data_on_outbound_connection_closes_it(void **state)
{
    (void)state;
    memset(&g_evil, 0, sizeof g_evil);
    cl_cluster *cl = cl_new(1);
    cst_ok(cs_loopnet_attach(cl->net, 2, "evil", evil_accept, NULL));
    cs_consensus_opts o = {.loop = &cl->loop,
                           .id = 1,
                           .address = "node-1",
                           .data_dir = cl->nodes[0].dir,
                           .election_timeout_ms = 100,
                           .heartbeat_timeout_ms = 20,
                           .connect_retry_ms = 1000,
                           .fsm = cl_fsm_iface(&cl->nodes[0].fsm, false)};
    cst_ok(cs_loopnet_connector(cl->net, 1, &o.connector));
    cst_ok(cs_consensus_new(&o, &cl->nodes[0].c));
    cs_raft_member m[2] = {{1, "node-1", CS_RAFT_VOTER}, {2, "evil", CS_RAFT_VOTER}};
    cst_ok(cs_consensus_bootstrap(cl->nodes[0].c, m, 2));
    cst_log_capture_start();
    cst_ok(cs_consensus_start(cl->nodes[0].c));
    /* Node 1 campaigns, dials "evil" for a vote, and evil talks back. */
    assert_true(cl_run_until(cl, 4000, watched_closed, &g_evil));
    assert_non_null(strstr(cst_log_captured(), "on an outbound connection"));
    cst_log_capture_stop();
    cs_raft_transport_stats st;
    cs_raft_transport_stats_get(cs_consensus_transport(cl->nodes[0].c), &st);
    assert_true(st.connected >= 1);
    assert_int_equal(cl_leader(cl), -1);
    cl_free(cl);
}

static void dropped_peer_reconnects(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(3);
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    unsigned f = ((unsigned)l + 1) % 3;
    cs_raft_transport *lt = cs_consensus_transport(cl->nodes[l].c);
    cs_raft_transport_stats before, after;
    cs_raft_transport_stats_get(lt, &before);
    assert_true(before.connections >= 2); /* up to one each way per follower */
    cs_raft_transport_drop_peer(lt, cl->nodes[f].id);
    cl_run_for(cl, 20);
    cs_raft_transport_stats_get(lt, &after);
    assert_true(after.connections < before.connections);
    cl_tally t = {0};
    for (uint64_t v = 1; v <= 10; v++)
        cst_ok(cl_submit(cl, (unsigned)l, v, 8, &t));
    const uint64_t ten = 10;
    assert_true(cl_run_until(cl, 8000, cl_all_applied, (void *)&ten));
    cs_raft_transport_stats_get(lt, &after);
    assert_true(after.connected > before.connected);
    cl_free(cl);
}

static void consensus_new_checks_arguments_and_allocations(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(1);
    cs_consensus *c = NULL;
    cs_consensus_opts o = {.loop = &cl->loop,
                           .id = 1,
                           .address = "node-1",
                           .data_dir = cl->nodes[0].dir,
                           .fsm = cl_fsm_iface(&cl->nodes[0].fsm, false)};
    cst_ok(cs_loopnet_connector(cl->net, 1, &o.connector));
    cs_consensus_opts bad = o;
    bad.id = 0;
    cst_fails(cs_consensus_new(&bad, &c), CONSORT_E_INVALID_ARGUMENT);
    bad = o;
    bad.address = "";
    cst_fails(cs_consensus_new(&bad, &c), CONSORT_E_INVALID_ARGUMENT);
    bad = o;
    bad.fsm.restore = NULL;
    cst_fails(cs_consensus_new(&bad, &c), CONSORT_E_INVALID_ARGUMENT);
    bad = o;
    bad.connector.connect = NULL;
    cst_fails(cs_consensus_new(&bad, &c), CONSORT_E_INVALID_ARGUMENT);
    char file[600];
    snprintf(file, sizeof file, "%s/plain-file", cl->root);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    bad = o;
    bad.data_dir = file;
    cst_fails_any(cs_consensus_new(&bad, &c));

    /* Every allocation failure is reported and leaks nothing. */
    (void)uv_run(&cl->loop, UV_RUN_NOWAIT); /* the refused objects' handles close */
    cst_alloc_install();
    long baseline = cst_alloc_live();
    for (long k = 0;; k++) {
        cst_alloc_fail_after(k);
        consort_err rc = cs_consensus_new(&o, &c);
        cst_alloc_fail_after(-1);
        if (rc == CONSORT_OK)
            break;
        assert_int_equal(rc, CONSORT_E_NOMEM);
        (void)uv_run(&cl->loop, UV_RUN_NOWAIT); /* handles close on the loop (defer.h) */
        assert_int_equal(cst_alloc_live(), baseline);
        assert_true(k < 100);
    }
    cl->nodes[0].c = c;
    cl_stop(cl, 0);
    assert_int_equal(cst_alloc_live(), baseline);
    cst_alloc_uninstall();
    cl_free(cl);
}

/* ---- close() cancels pending connects from the loop, never inside it ---- */

typedef struct held_connect {
    cs_raft_connect_cb cb[2];
    void *arg[2];
    int n;
} held_connect;

static consort_err hold_connect(void *ctx, uint64_t id, const char *address, cs_raft_connect_cb cb,
                                void *arg)
{
    (void)id;
    (void)address;
    held_connect *h = ctx;
    assert_true(h->n < 2);
    h->cb[h->n] = cb;
    h->arg[h->n] = arg;
    h->n++;
    return CONSORT_OK;
}

typedef struct raft_side {
    int connect_calls;
    int canceled;
    bool closed;
} raft_side;

static raft_side g_raft;

static void raft_connect_cb(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
    (void)req;
    assert_null(stream);
    assert_false(g_raft.closed); /* every connect is answered before close_cb */
    g_raft.connect_calls++;
    g_raft.canceled += status == RAFT_CANCELED;
}

static void raft_transport_closed_cb(struct raft_uv_transport *rt)
{
    (void)rt;
    g_raft.closed = true;
}

static void close_cancels_connects_on_the_loop(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    held_connect h = {0};
    const cs_raft_connector conn = {.ctx = &h, .connect = hold_connect};
    cs_raft_transport *t = NULL;
    cst_ok(cs_raft_transport_new(&loop, &conn, NULL, &t));
    struct raft_uv_transport *rt = cs_raft_transport_raft(t);
    assert_int_equal(rt->init(rt, 1, "node-1"), 0);
    struct raft_uv_connect a, b;
    memset(&g_raft, 0, sizeof g_raft);
    assert_int_equal(rt->connect(rt, &a, 2, "node-2", raft_connect_cb), 0);
    assert_int_equal(rt->connect(rt, &b, 3, "node-3", raft_connect_cb), 0);
    assert_int_equal(h.n, 2);

    rt->close(rt, raft_transport_closed_cb);
    /* like uv_close: nothing is called back from inside close() */
    assert_int_equal(g_raft.connect_calls, 0);
    assert_false(g_raft.closed);
    /* one connector answers before the loop runs, the other after */
    h.cb[0](h.arg[0], CONSORT_E_IO, "early answer", NULL, 0);
    assert_int_equal(g_raft.connect_calls, 0);

    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(g_raft.connect_calls, 2);
    assert_int_equal(g_raft.canceled, 2);
    assert_true(g_raft.closed);
    h.cb[1](h.arg[1], CONSORT_E_IO, "late answer", NULL, 0);
    assert_int_equal(g_raft.connect_calls, 2); /* raft is not called twice */

    cs_raft_transport_free(t);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_refuses_unauthenticated_or_malformed_peers),
        cmocka_unit_test(peer_with_wrong_authenticated_id_is_refused),
        cmocka_unit_test(full_write_queue_pauses_raft_output),
        cmocka_unit_test(data_on_outbound_connection_closes_it),
        cmocka_unit_test(dropped_peer_reconnects),
        cmocka_unit_test(consensus_new_checks_arguments_and_allocations),
        cmocka_unit_test(close_cancels_connects_on_the_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
