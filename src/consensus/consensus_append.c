/*
 * A failed log write: raft_uv's append wrapped (consensus_priv.h
 * cs_consensus_append_wrap).
 *
 * libraft 0.15 mishandles a log write that fails (a full disk). A follower
 * keeps the entries in its in-memory log as if stored and answers the
 * leader "rejected"; holding them already, it never writes them again, and
 * it can be elected and then never commit (the chaos run of seed
 * 1108279417: the service took no write for the rest of the run). A leader
 * truncates its log under the writes still in flight, which crashes it.
 * And raft_uv rolls its next index back, so the entries it writes next are
 * filed under the failed ones' indexes. Later libraft releases fix the
 * first two; with this one the only safe course is a restart, which
 * reloads the log from disk.
 *
 * So raft_uv's append is wrapped (raft's request keeps its own data and
 * callback): from the first failure on, no completion reaches raft and no
 * new write reaches raft_uv. Those requests are held, so raft counts
 * nothing more as stored: it neither acknowledges nor commits on this
 * server's word. The failure is told from the loop (consensus_ops.c
 * "later"), never from inside raft_uv's callback, and the held requests are
 * handed back when raft closes (consensus.c io_close). */
#include "base/alloc.h"
#include "consensus/consensus_priv.h"
#include "consensus/raft_err.h"

#include <stdio.h>

struct append_wrap {
    append_wrap *next; /* held */
    cs_consensus *c;
    struct raft_io_append *req;
    void *raft_data;
    raft_io_append_cb raft_cb;
    uint64_t first;
    unsigned n;
};

static void append_failed_later(void *ctx)
{
    cs_consensus *c = ctx;
    if (!c->closing)
        cs_consensus_report_failure(c, c->append_failed_err, c->append_failed_msg);
}

static void hold(cs_consensus *c, append_wrap *w)
{
    w->next = NULL;
    if (c->held_tail != NULL)
        c->held_tail->next = w;
    else
        c->held_head = w;
    c->held_tail = w;
}

static void note_append_failure(cs_consensus *c, const append_wrap *w, int status)
{
    char detail[RAFT_ERRMSG_BUF_SIZE], head[CS_ERRMSG_MAX - 160];
    snprintf(detail, sizeof detail, "%s", c->io.errmsg);
    consort_err err =
        cs_raft_format(head, sizeof head, status, detail, "raft %llu: storing entries %llu..%llu",
                       (unsigned long long)c->raft.id, (unsigned long long)w->first,
                       (unsigned long long)(w->first + w->n - 1));
    snprintf(c->append_failed_msg, sizeof c->append_failed_msg,
             "%s; libraft keeps entries whose write failed as if they were stored, so this "
             "server stores nothing more and a restart reloads its log from disk",
             head);
    c->append_failed_err = err != CONSORT_E_STATE ? err : CONSORT_E_IO;
    cs_defer_call(c->later, &c->append_failed_item, append_failed_later, c);
}

/* Raft's request gets its own data back, then its callback. */
static void hand_back(append_wrap *w, int status)
{
    struct raft_io_append *req = w->req;
    raft_io_append_cb cb = w->raft_cb;
    req->data = w->raft_data;
    cs_free(w);
    cb(req, status);
}

static void io_append_done(struct raft_io_append *req, int status)
{
    append_wrap *w = req->data;
    cs_consensus *c = w->c;
    if (status != 0 && status != RAFT_CANCELED && c->append_failed_err == CONSORT_OK && !c->closing)
        note_append_failure(c, w, status);
    if (c->append_failed_err != CONSORT_OK && !c->closing) {
        hold(c, w);
        return;
    }
    /* Closing, raft_uv cancels the writes it has not made. On a failure
     * status a leader truncates its log from the request's index, under
     * the later requests still to be cancelled: libraft 0.15 then crashes
     * in the next one. Raft is UNAVAILABLE by then (raft_close), and on
     * status 0 both callbacks only drop their references
     * (cs_consensus_append_release). */
    if (status == RAFT_CANCELED && c->closing && c->raft.state == RAFT_UNAVAILABLE)
        status = 0;
    hand_back(w, status);
}

static int io_append(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
    cs_consensus *c = cs_consensus_of_io(io);
    append_wrap *w = cs_malloc(sizeof *w);
    if (w == NULL)
        return RAFT_NOMEM;
    /* raft put the entries at the end of its in-memory log */
    uint64_t last = raft_last_index(&c->raft);
    *w = (append_wrap){.c = c,
                       .req = req,
                       .raft_data = req->data,
                       .raft_cb = cb,
                       .first = last >= n ? last - n + 1 : 1,
                       .n = n};
    if (c->append_failed_err != CONSORT_OK) {
        hold(c, w); /* never written: raft_uv would file it under the wrong index */
        return 0;
    }
    req->data = w;
    int rv = c->io_append(io, req, entries, n, io_append_done);
    if (rv != 0) {
        req->data = w->raft_data;
        cs_free(w);
    }
    return rv;
}

/* raft_close made raft UNAVAILABLE before it closes raft_uv: the held
 * requests go back to raft with status 0, on which both of libraft's append
 * callbacks, seeing raft unavailable, only drop their references to the
 * entries (replication.c appendLeaderCb, appendFollowerCb). A failure
 * status would make a leader truncate its log under requests still held. */
void cs_consensus_append_release(cs_consensus *c)
{
    while (c->held_head != NULL) {
        append_wrap *w = c->held_head;
        c->held_head = w->next;
        if (c->held_head == NULL)
            c->held_tail = NULL;
        hand_back(w, 0);
    }
}

void cs_consensus_append_wrap(cs_consensus *c)
{
    c->io_append = c->io.append;
    c->io.append = io_append;
}
