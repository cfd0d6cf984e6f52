/*
 * Back-pressure between a peer's stream and raft (bridge.h):
 *   - a raft that does not read (busy installing a snapshot, say) while a
 *     peer sends it a 100 MiB message: the bridge pauses the peer's stream
 *     and holds at most its high-water mark, and once raft reads, every
 *     byte arrives over the same connection (before: the connection was
 *     closed at 64 MiB: "raft is N bytes behind (limit 67108864): closing
 *     the connection", and the peer sent it all again, forever);
 * with real libraft servers on the in-process network:
 *   - a follower cut off while the leader commits more than the former
 *     64 MiB backlog limit catches up once the link is back, over the
 *     connections it has: libraft sends it the whole log tail in one
 *     AppendEntries, which its raft reads more slowly than the stream
 *     delivers it, so the bridge pauses the stream instead of closing it
 *     (before: "raft is N bytes behind (limit 67108864): closing the
 *     connection", reconnect, resend, forever);
 *   - a peer announcing a message beyond the wire limits (raft_wire.h) is
 *     disconnected before raft allocates what it announced (raft's heap is
 *     watched).
 */
#include "../net/net_fixture.h"
#include "raft_cluster.h"

#include "consensus/loopnet_priv.h"

#include <raft.h>
#include <raft/uv.h>
#include <stdatomic.h>
#include <sys/socket.h>

/* ---- a raft that reads slowly ---- */

#define SLOW_ENTRY   ((size_t)1 << 20)
#define SLOW_ENTRIES 100 /* one AppendEntries of 100 MiB */

typedef struct slow {
    uv_stream_t *raft_end; /* what raft would read */
    size_t raft_read;
    char buf[65536];
} slow;

static slow g_slow;

static void slow_accept(struct raft_uv_transport *rt, raft_id id, const char *address,
                        uv_stream_t *stream)
{
    (void)rt;
    (void)id;
    (void)address;
    g_slow.raft_end = stream; /* not read yet: raft is busy */
}

static void slow_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(g_slow.buf, sizeof g_slow.buf);
}

static void slow_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)st;
    (void)buf;
    if (nread > 0)
        g_slow.raft_read += (size_t)nread;
}

static void raft_end_closed(uv_handle_t *h)
{
    raft_free(h);
}

static consort_err no_connect(void *ctx, uint64_t id, const char *address, cs_raft_connect_cb cb,
                              void *arg)
{
    (void)ctx;
    (void)cb;
    (void)arg;
    return cs_fail(CONSORT_E_STATE, "test: no connections to %llu at %s", (unsigned long long)id,
                   address);
}

typedef struct peer_end {
    bool closed;
    cs_stream *s;
} peer_end;

static void pe_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    (void)s;
    (void)data;
}

static void pe_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    (void)msg;
    peer_end *p = ctx;
    p->closed = true;
    p->s = NULL;
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static bool transport_closed;

static void transport_closed_cb(struct raft_uv_transport *rt)
{
    (void)rt;
    transport_closed = true;
}

static void watch_cb(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop for `ms`: a window for what must NOT happen. */
static void watch_loop(uv_loop_t *loop, unsigned ms)
{
    bool expired = false;
    uv_timer_t t;
    assert_int_equal(uv_timer_init(loop, &t), 0);
    t.data = &expired;
    assert_int_equal(uv_timer_start(&t, watch_cb, ms, 0), 0);
    while (!expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static bool paused_once(void *ctx)
{
    cs_raft_transport_stats st;
    cs_raft_transport_stats_get(ctx, &st);
    return st.inbound_pauses >= 1;
}

static bool all_read(void *ctx)
{
    return g_slow.raft_read >= *(size_t *)ctx;
}

static void test_slow_raft_pauses_the_peer_instead_of_closing(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cs_loopnet *net;
    cst_ok(cs_loopnet_new(&loop, &net));
    memset(&g_slow, 0, sizeof g_slow);
    const cs_raft_connector conn = {.connect = no_connect};
    cs_raft_transport *t;
    cst_ok(cs_raft_transport_new(&loop, &conn, NULL, &t));
    struct raft_uv_transport *rt = cs_raft_transport_raft(t);
    assert_int_equal(rt->init(rt, 1, "node-1"), 0);
    assert_int_equal(rt->listen(rt, slow_accept), 0);

    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer_end pe = {0};
    cs_stream *theirs;
    cst_ok(cs_loopnet_stream_new(net, fds[0], 2, 1, "node-1", &pe.s));
    cst_ok(cs_loopnet_stream_new(net, fds[1], 1, 2, "node-2", &theirs));
    const cs_stream_cbs cbs = {.on_data = pe_data, .on_close = pe_close};
    cs_stream_set_cbs(pe.s, &cbs, &pe);
    cst_ok(cs_raft_transport_accept(t, theirs, 2, "node-2"));
    assert_non_null(g_slow.raft_end);

    /* the peer's raft sends one AppendEntries of 100 x 1 MiB (raft_wire.h) */
    size_t header = 16 + 48 + 16 * SLOW_ENTRIES;
    uint8_t *h = cs_calloc(1, header);
    assert_non_null(h);
    le64(h, RAFT_IO_APPEND_ENTRIES);
    le64(h + 8, header - 16);
    le64(h + 16, 2);                 /* term */
    le64(h + 16 + 32, SLOW_ENTRIES); /* n */
    for (size_t k = 0; k < SLOW_ENTRIES; k++) {
        uint8_t *e = h + 16 + 40 + 16 * k;
        le64(e, 2);
        e[8] = RAFT_COMMAND;
        e[12] = 0; /* length 1 MiB, little-endian u32 */
        e[13] = 0;
        e[14] = 0x10;
    }
    cst_ok(cs_stream_write(pe.s, CS_SLICE(h, header)));
    cs_free(h);
    uint8_t *data = cs_calloc(1, SLOW_ENTRY);
    assert_non_null(data);
    for (size_t k = 0; k < SLOW_ENTRIES; k++)
        cst_ok(cs_stream_write(pe.s, CS_SLICE(data, SLOW_ENTRY)));
    cs_free(data);
    const size_t total = header + SLOW_ENTRIES * SLOW_ENTRY;

    /* raft reads nothing: the bridge pauses the peer's stream ... */
    cst_run_until(&loop, 30000, paused_once, t, "the peer's stream paused");
    /* ... and for a while nothing changes: the connection stays, the peer waits */
    watch_loop(&loop, 1000);
    cs_raft_transport_stats st;
    cs_raft_transport_stats_get(t, &st);
    assert_false(pe.closed);
    assert_int_equal(st.connections, 1);
    assert_true(st.inbound_pauses >= 1);
    /* held for raft: its socket buffer, the high-water mark (4 MiB) and one delivery */
    assert_true(st.bytes_from_peers <= ((size_t)5 << 20));
    assert_true(cs_stream_write_queue_len(pe.s) > total / 2);

    /* raft reads: everything arrives over this connection */
    assert_int_equal(uv_read_start(g_slow.raft_end, slow_alloc, slow_read), 0);
    cst_run_until(&loop, 30000, all_read, (void *)&total, "raft read the 100 MiB message");
    cs_raft_transport_stats_get(t, &st);
    assert_false(pe.closed);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.wire_refused, 0);
    assert_int_equal(st.bytes_from_peers, total);

    /* raft closes its end; the bridge closes the peer's stream */
    uv_close((uv_handle_t *)g_slow.raft_end, raft_end_closed);
    cst_run_until(&loop, 5000, cst_flag_set, &pe.closed, "the peer's stream closed");
    transport_closed = false;
    rt->close(rt, transport_closed_cb);
    cst_run_until(&loop, 5000, cst_flag_set, &transport_closed, "the transport closed");
    cs_raft_transport_free(t);
    cs_loopnet_free(net);
    cst_loop_finish(&loop);
}

/* ---- a follower far behind ---- */

#define BIG_ENTRY   ((size_t)1 << 20)
#define BIG_ENTRIES 80 /* 80 MiB: above the former 64 MiB backlog limit */

static unsigned g_cut; /* the follower cut off */

static bool applied_except(cl_cluster *cl, void *arg)
{
    uint64_t want = *(uint64_t *)arg;
    for (unsigned i = 0; i < cl->n; i++)
        if (i != g_cut && cl->nodes[i].fsm.n < want)
            return false;
    return true;
}

static bool cut_applied(cl_cluster *cl, void *arg)
{
    return cl->nodes[g_cut].fsm.n >= *(uint64_t *)arg;
}

static void test_far_behind_follower_catches_up_without_reconnecting(void **state)
{
    (void)state;
    cl_cluster cl;
    cl_init(&cl, 3);
    cl.snapshot_threshold = 4096; /* no snapshot: the log tail is what it gets */
    /* as consortd runs raft: a follower busy reading a long message does not
     * disrupt the leader (pre-vote) */
    cl.pre_vote = true;
    cl_start_all(&cl);
    int l = cl_wait_leader(&cl, 10000, 0);
    assert_true(l >= 0);
    g_cut = ((unsigned)l + 1) % 3;
    cl_node *cut = &cl.nodes[g_cut];
    /* one small entry everywhere first: node 3 is a working follower */
    cl_tally tally = {0};
    cst_ok(cl_submit(&cl, (unsigned)l, 1, 8, &tally));
    uint64_t one = 1;
    assert_true(cl_run_until(&cl, 10000, cl_all_applied, &one));

    cs_loopnet_isolate(cl.net, cut->id, true);
    uint8_t *big = cs_malloc(BIG_ENTRY);
    assert_non_null(big);
    for (unsigned k = 0; k < BIG_ENTRIES; k++) {
        memset(big, (int)k, BIG_ENTRY);
        for (int b = 0; b < 8; b++)
            big[b] = (uint8_t)((uint64_t)(100u + k) >> (56 - 8 * b));
        cst_ok(cs_consensus_submit(cl.nodes[l].c, CS_SLICE(big, BIG_ENTRY), cl_applied_cb, &tally));
    }
    cs_free(big);
    uint64_t all = 1 + BIG_ENTRIES;
    bool ok = cl_run_until(&cl, 60000, applied_except, &all);
    if (!ok)
        for (unsigned i = 0; i < 3; i++)
            fprintf(
                stderr,
                "node %u: applied %llu commit %llu last %llu state %d tally ok %u failed %u (%s)\n",
                i, (unsigned long long)cl.nodes[i].fsm.n,
                (unsigned long long)cs_consensus_commit_index(cl.nodes[i].c),
                (unsigned long long)cs_consensus_last_index(cl.nodes[i].c),
                (int)cs_consensus_state(cl.nodes[i].c), tally.ok, tally.failed, tally.last_msg);
    assert_true(ok);
    assert_int_equal(cut->fsm.n, 1);

    cs_raft_transport_stats before;
    cs_raft_transport_stats_get(cs_consensus_transport(cut->c), &before);
    cs_loopnet_isolate(cl.net, cut->id, false);
    assert_true(cl_run_until(&cl, 60000, cut_applied, &all));
    cl_assert_same_history(&cl.nodes[l].fsm, &cut->fsm);

    cs_raft_transport_stats after;
    cs_raft_transport_stats_get(cs_consensus_transport(cut->c), &after);
    assert_int_equal(after.wire_refused, 0);
    /* the leader's connection was not dropped and made again in a loop */
    assert_true(after.accepted - before.accepted <= 2);
    cl_cleanup(&cl);
}

/* ---- an announced size beyond the limits never reaches raft ---- */

static _Atomic size_t g_largest; /* the largest block raft asked its heap for */

static void note(size_t n)
{
    size_t cur = atomic_load(&g_largest);
    while (n > cur && !atomic_compare_exchange_weak(&g_largest, &cur, n))
        ;
}

static void *h_malloc(void *data, size_t size)
{
    (void)data;
    note(size);
    return malloc(size);
}

static void h_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}

static void *h_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    note(nmemb * size);
    return calloc(nmemb, size);
}

static void *h_realloc(void *data, void *ptr, size_t size)
{
    (void)data;
    note(size);
    return realloc(ptr, size);
}

static void *h_aligned_alloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    note(size);
    return aligned_alloc(alignment, size);
}

static void h_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)data;
    (void)alignment;
    free(ptr);
}

static struct raft_heap g_heap = {NULL,      h_malloc,        h_free,        h_calloc,
                                  h_realloc, h_aligned_alloc, h_aligned_free};

typedef struct evil {
    bool closed;
} evil;

static void evil_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    (void)s;
    (void)data;
}

static void evil_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    (void)msg;
    ((evil *)ctx)->closed = true;
}

static bool evil_closed(cl_cluster *cl, void *arg)
{
    (void)cl;
    return ((evil *)arg)->closed;
}

static void test_oversized_message_refused_before_raft_allocates(void **state)
{
    (void)state;
    raft_heap_set(&g_heap);
    cl_cluster cl;
    cl_init(&cl, 1);
    cl_start_all(&cl);
    assert_true(cl_wait_leader(&cl, 10000, 0) == 0);

    /* an inbound connection from an authenticated peer 9 */
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    cs_stream *ours, *theirs;
    cst_ok(cs_loopnet_stream_new(cl.net, fds[0], 9, 1, "node-1", &ours));
    cst_ok(cs_loopnet_stream_new(cl.net, fds[1], 1, 9, "node-9", &theirs));
    evil e = {0};
    const cs_stream_cbs cbs = {.on_data = evil_data, .on_close = evil_close};
    cs_stream_set_cbs(ours, &cbs, &e);
    cst_ok(cs_consensus_accept(cl.nodes[0].c, theirs, 9, "node-9"));
    cl_run_for(&cl, 50);
    atomic_store(&g_largest, 0);

    /* an AppendEntries preamble announcing a header of 1 GiB, then bytes of it */
    uint8_t pre[16 + 4096] = {0};
    pre[0] = RAFT_IO_APPEND_ENTRIES;
    pre[8 + 3] = 0x40; /* 0x40000000 = 1 GiB, little-endian */
    cst_ok(cs_stream_write(ours, CS_SLICE(pre, sizeof pre)));
    assert_true(cl_run_until(&cl, 5000, evil_closed, &e));

    cs_raft_transport_stats st;
    cs_raft_transport_stats_get(cs_consensus_transport(cl.nodes[0].c), &st);
    assert_int_equal(st.wire_refused, 1);
    /* raft kept running and never asked for the announced gigabyte */
    assert_true(atomic_load(&g_largest) < ((size_t)1 << 20));
    cl_tally tally = {0};
    cst_ok(cl_submit(&cl, 0, 7, 8, &tally));
    uint64_t one = 1;
    assert_true(cl_run_until(&cl, 5000, cl_all_applied, &one));
    assert_true(atomic_load(&g_largest) > 0); /* the watch works: raft allocated meanwhile */
    cl_cleanup(&cl);
    raft_heap_set_default();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_raft_pauses_the_peer_instead_of_closing),
        cmocka_unit_test(test_far_behind_follower_catches_up_without_reconnecting),
        cmocka_unit_test(test_oversized_message_refused_before_raft_allocates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
