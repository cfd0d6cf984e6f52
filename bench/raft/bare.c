/* The ceiling: libraft with its own uv TCP transport, no consort code. */
#include "bench_raft.h"

#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct bare {
    bench_node *node;
    uv_loop_t loop;
    uv_timer_t timer;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    uint64_t applied;
    uint64_t seq;
    unsigned in_flight;
    int closing;
    unsigned drain_ticks;
} bare;

typedef struct bare_req {
    struct raft_apply req;
    bare *b;
} bare_req;

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    bare *b = fsm->data;
    (void)buf;
    b->applied++;
    *result = &b->applied;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    bare *b = fsm->data;
    *bufs = raft_malloc(sizeof **bufs);
    (*bufs)[0].base = raft_malloc(8);
    (*bufs)[0].len = 8;
    memcpy((*bufs)[0].base, &b->applied, 8);
    *n = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    bare *b = fsm->data;
    memcpy(&b->applied, buf->base, 8);
    raft_free(buf->base);
    return 0;
}

static void fill(bare *b);

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    bare_req *r = req->data;
    bare *b = r->b;
    (void)result;
    free(r);
    b->in_flight--;
    if (status == 0)
        atomic_fetch_add(&b->node->sh->commits, 1);
    else
        atomic_fetch_add(&b->node->sh->failures, 1);
    fill(b);
}

static void fill(bare *b)
{
    bench_shared *sh = b->node->sh;
    if (b->closing || atomic_load(&sh->stop) || raft_state(&b->raft) != RAFT_LEADER)
        return;
    while (b->in_flight < sh->in_flight) {
        bare_req *r = malloc(sizeof *r);
        void *p = raft_malloc(sh->entry_len);
        if (r == NULL || p == NULL) {
            free(r);
            raft_free(p);
            return;
        }
        bench_fill_entry(p, sh->entry_len, ++b->seq);
        struct raft_buffer buf = {p, sh->entry_len};
        r->req.data = r;
        r->b = b;
        if (raft_apply(&b->raft, &r->req, &buf, 1, apply_cb) != 0) {
            raft_free(p);
            free(r);
            return;
        }
        b->in_flight++;
    }
}

static void closed_cb(struct raft *r)
{
    bare *b = r->data;
    raft_uv_close(&b->io);
    raft_uv_tcp_close(&b->transport);
    uv_close((uv_handle_t *)&b->timer, NULL);
}

static void timer_cb(uv_timer_t *t)
{
    bare *b = t->data;
    if (atomic_load(&b->node->sh->stop)) {
        /* Let the entries in flight finish first (up to 2 s): closing libraft
         * 0.15 with appends in flight on its TCP transport double-frees. */
        if (b->drain_ticks++ < 400 && b->in_flight > 0)
            return;
        if (!b->closing) {
            b->closing = 1;
            uv_timer_stop(t);
            raft_close(&b->raft, closed_cb);
        }
        return;
    }
    fill(b);
}

void *bench_bare_node(void *arg)
{
    bench_node *node = arg;
    bench_shared *sh = node->sh;
    bare *b = calloc(1, sizeof *b);
    if (b == NULL) {
        bench_fail(sh, "bare", "out of memory");
        return NULL;
    }
    b->node = node;
    uv_loop_init(&b->loop);
    b->fsm = (struct raft_fsm){.version = 1,
                               .data = b,
                               .apply = fsm_apply,
                               .snapshot = fsm_snapshot,
                               .restore = fsm_restore};
    int rv = raft_uv_tcp_init(&b->transport, &b->loop);
    if (rv == 0)
        rv = raft_uv_init(&b->io, &b->loop, node->dir, &b->transport);
    if (rv == 0)
        rv = raft_init(&b->raft, &b->io, &b->fsm, node->id, sh->address[node->idx]);
    if (rv != 0) {
        bench_fail(sh, "bare raft init", raft_strerror(rv));
        return NULL;
    }
    b->raft.data = b;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (unsigned i = 0; i < BENCH_NODES; i++)
        raft_configuration_add(&conf, i + 1, sh->address[i], RAFT_VOTER);
    rv = raft_bootstrap(&b->raft, &conf);
    raft_configuration_close(&conf);
    if (rv == 0)
        rv = raft_start(&b->raft);
    if (rv != 0) {
        bench_fail(sh, "bare raft start", raft_errmsg(&b->raft));
        return NULL;
    }
    uv_timer_init(&b->loop, &b->timer);
    b->timer.data = b;
    uv_timer_start(&b->timer, timer_cb, 5, 5);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
    free(b);
    return NULL;
}
