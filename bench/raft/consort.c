/*
 * consort's consensus object over plain TCP streams. The connector's
 * "authentication" is a bench stand-in: the dialer sends its raft id (8 bytes)
 * and waits for a one-byte ack before handing the stream to raft; in the node
 * this is the attested channel's job.
 */
#include "bench_raft.h"

#include "base/alloc.h"
#include "consensus/consensus.h"
#include "net/tcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cnode {
    bench_node *node;
    uv_loop_t loop;
    uv_timer_t timer;
    cs_listener *listener;
    cs_consensus *c;
    uint64_t applied;
    uint64_t seq;
    unsigned in_flight;
    int closing;
    unsigned drain_ticks;
    uint8_t *entry;
} cnode;

/* ---- the stand-in handshake ---- */

typedef struct hello {
    cnode *n;
    cs_stream *s;
    uint8_t got[8];
    size_t have;
    /* dialer side */
    cs_raft_connect_cb cb;
    void *arg;
    uint64_t want;
} hello;

static void hello_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    hello *h = ctx;
    (void)s;
    if (h->cb != NULL)
        h->cb(h->arg, reason != CONSORT_OK ? reason : CONSORT_E_IO,
              reason != CONSORT_OK ? msg : "closed before the ack", NULL, 0);
    free(h);
}

static void acceptor_data(void *ctx, cs_stream *s, cs_slice d)
{
    hello *h = ctx;
    size_t take = d.len < 8 - h->have ? d.len : 8 - h->have;
    memcpy(h->got + h->have, d.ptr, take);
    h->have += take;
    if (h->have < 8)
        return;
    uint64_t id = 0;
    for (int k = 0; k < 8; k++)
        id = id << 8 | h->got[k];
    if (d.len != take || id == 0 || id > BENCH_NODES ||
        cs_stream_write(s, CS_SLICE_LIT("k")) != CONSORT_OK) {
        cs_stream_close(s); /* acceptor_close frees h */
        return;
    }
    cnode *n = h->n;
    free(h); /* the stream is raft's from here, whatever accept says */
    if (cs_consensus_accept(n->c, s, id, n->node->sh->address[id - 1]) != CONSORT_OK &&
        !atomic_load(&n->node->sh->stop))
        fprintf(stderr, "bench_raft: accept from %llu: %s\n", (unsigned long long)id,
                consort_errmsg());
}

static void acceptor_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    free(ctx);
}

static const cs_stream_cbs acceptor_cbs = {.on_data = acceptor_data, .on_close = acceptor_close};

static void on_accept(void *ctx, cs_stream *s)
{
    hello *h = calloc(1, sizeof *h);
    if (h == NULL) {
        cs_stream_close(s);
        return;
    }
    h->n = ctx;
    h->s = s;
    cs_stream_set_cbs(s, &acceptor_cbs, h);
}

static void dialer_data(void *ctx, cs_stream *s, cs_slice d)
{
    hello *h = ctx;
    cs_raft_connect_cb cb = h->cb;
    void *arg = h->arg;
    uint64_t want = h->want;
    h->cb = NULL; /* reported here, not by dialer_close */
    if (d.len != 1 || d.ptr[0] != 'k') {
        cs_stream_close(s); /* dialer_close frees h */
        cb(arg, CONSORT_E_MALFORMED, "bad ack", NULL, 0);
        return;
    }
    free(h);
    cb(arg, CONSORT_OK, "", s, want); /* the transport sets its callbacks now */
}

static void dialer_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    hello_close(ctx, s, reason, msg);
}

static const cs_stream_cbs dialer_cbs = {.on_data = dialer_data, .on_close = dialer_close};

static void on_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    hello *h = ctx;
    if (err != CONSORT_OK) {
        h->cb(h->arg, err, msg, NULL, 0);
        free(h);
        return;
    }
    uint8_t id[8];
    for (int k = 0; k < 8; k++)
        id[k] = (uint8_t)(h->n->node->id >> (56 - 8 * k));
    cs_stream_set_cbs(s, &dialer_cbs, h);
    if (cs_stream_write(s, CS_SLICE(id, 8)) != CONSORT_OK)
        cs_stream_close(s); /* dialer_close reports the failure */
}

static consort_err tcp_dial(void *ctx, uint64_t id, const char *address, cs_raft_connect_cb cb,
                            void *arg)
{
    cnode *n = ctx;
    hello *h = calloc(1, sizeof *h);
    CS_ENSURE(h != NULL, CONSORT_E_NOMEM, "dial");
    h->n = n;
    h->cb = cb;
    h->arg = arg;
    h->want = id;
    consort_err rc = cs_tcp_connect(&n->loop, address, on_connect, h);
    if (rc != CONSORT_OK)
        free(h);
    return rc;
}

/* ---- the FSM and the client ---- */

static consort_err fsm_apply(void *ctx, const cs_fsm_entry *e, void **result)
{
    cnode *n = ctx;
    (void)e;
    n->applied++;
    *result = &n->applied;
    return CONSORT_OK;
}

static consort_err fsm_snapshot(void *ctx, cs_buf *out)
{
    return cs_buf_append_be64(out, ((cnode *)ctx)->applied);
}

static consort_err fsm_restore(void *ctx, cs_slice data)
{
    cs_cursor c;
    cs_cursor_init(&c, data);
    CS_TRY(cs_cursor_read_be64(&c, &((cnode *)ctx)->applied));
    return cs_cursor_expect_end(&c);
}

static void fill(cnode *n);

static void applied_cb(void *ctx, consort_err status, const char *msg, uint64_t index, void *result)
{
    cnode *n = ctx;
    (void)index;
    (void)result;
    n->in_flight--;
    if (status == CONSORT_OK)
        atomic_fetch_add(&n->node->sh->commits, 1);
    else
        atomic_fetch_add(&n->node->sh->failures, 1);
    fill(n);
}

static void fill(cnode *n)
{
    bench_shared *sh = n->node->sh;
    if (n->closing || atomic_load(&sh->stop) || cs_consensus_state(n->c) != CS_RAFT_LEADER)
        return;
    while (n->in_flight < sh->in_flight) {
        bench_fill_entry(n->entry, sh->entry_len, ++n->seq);
        if (cs_consensus_submit(n->c, CS_SLICE(n->entry, sh->entry_len), applied_cb, n) !=
            CONSORT_OK)
            return;
        n->in_flight++;
    }
}

static void closed_cb(void *ctx)
{
    cnode *n = ctx;
    cs_listener_close(n->listener);
    uv_close((uv_handle_t *)&n->timer, NULL);
}

static void timer_cb(uv_timer_t *t)
{
    cnode *n = t->data;
    if (atomic_load(&n->node->sh->stop)) {
        if (n->drain_ticks++ < 400 && n->in_flight > 0)
            return; /* as in bare.c: let entries in flight finish */
        if (!n->closing) {
            n->closing = 1;
            uv_timer_stop(t);
            cs_consensus_close(n->c, closed_cb, n);
        }
        return;
    }
    fill(n);
}

void *bench_consort_node(void *arg)
{
    bench_node *node = arg;
    bench_shared *sh = node->sh;
    cnode *n = calloc(1, sizeof *n);
    uint8_t *entry = malloc(sh->entry_len);
    if (n == NULL || entry == NULL) {
        bench_fail(sh, "consort", "out of memory");
        return NULL;
    }
    n->node = node;
    n->entry = entry;
    uv_loop_init(&n->loop);
    cs_consensus_opts o = {
        .loop = &n->loop,
        .id = node->id,
        .address = sh->address[node->idx],
        .data_dir = node->dir,
        .fsm = {.ctx = n, .apply = fsm_apply, .snapshot = fsm_snapshot, .restore = fsm_restore},
        .connector = {.ctx = n, .connect = tcp_dial},
    };
    cs_raft_member m[BENCH_NODES];
    for (unsigned i = 0; i < BENCH_NODES; i++)
        m[i] = (cs_raft_member){i + 1, sh->address[i], CS_RAFT_VOTER};
    if (cs_tcp_listen(&n->loop, sh->address[node->idx], on_accept, n, &n->listener) != CONSORT_OK ||
        cs_consensus_new(&o, &n->c) != CONSORT_OK ||
        cs_consensus_bootstrap(n->c, m, BENCH_NODES) != CONSORT_OK ||
        cs_consensus_start(n->c) != CONSORT_OK) {
        bench_fail(sh, "consort node start", consort_errmsg());
        return NULL;
    }
    uv_timer_init(&n->loop, &n->timer);
    n->timer.data = n;
    uv_timer_start(&n->timer, timer_cb, 5, 5);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    uv_loop_close(&n->loop);
    free(entry);
    free(n);
    return NULL;
}
