/* Requests on the consensus object: entries, barriers, membership, transfer. */
#include "base/alloc.h"
#include "consensus/consensus_priv.h"
#include "consensus/entry.h"
#include "consensus/raft_err.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Fails with the leader's identity in the message when raft says NOTLEADER. */
static consort_err request_fail(cs_consensus *c, int rv, const char *what)
{
    if (rv == RAFT_NOTLEADER) {
        const char *addr = NULL;
        uint64_t leader = cs_consensus_leader(c, &addr);
        return cs_fail(CONSORT_E_STATE, "%s: raft %llu is not the leader (leader: %llu at %s)",
                       what, (unsigned long long)c->raft.id, (unsigned long long)leader,
                       addr != NULL ? addr : "unknown");
    }
    return cs_raft_fail(rv, raft_errmsg(&c->raft), "%s on raft %llu", what,
                        (unsigned long long)c->raft.id);
}

/* ---- later ----
 *
 * libraft calls a request's callback with a failure from inside its own
 * state changes: a leader stepping down fails every pending entry, barrier
 * and membership change after freeing the followers' progress but while it
 * still says LEADER, and raft_close fails them from inside the call. A
 * callback that makes its next request there (a barrier for the reads that
 * waited meanwhile) crashed the node. So failures, and transfers, complete
 * from the loop once libraft has returned (cs_defer, the project's one way
 * to run a completion later); successes come from libraft's apply loop,
 * where new requests are safe, and are not delayed. */

#define ENSURE_RUNNING(c)                                                                          \
    CS_ENSURE((c)->started && !(c)->closing, CONSORT_E_STATE,                                      \
              "consensus: raft %llu is not running", (unsigned long long)(c)->raft.id)

/* ---- entries ---- */

typedef struct apply_req {
    struct raft_apply req;
    cs_consensus *c;
    cs_consensus_applied_cb cb;
    void *ctx;
    cs_defer_item later; /* a failure, told from the loop */
    consort_err rc;
    char msg[CS_ERRMSG_MAX];
} apply_req;

static void apply_failed_later(void *req)
{
    apply_req *a = req;
    cs_consensus_applied_cb cb = a->cb;
    void *ctx = a->ctx;
    uint64_t index = a->req.index;
    consort_err rc = a->rc;
    char msg[CS_ERRMSG_MAX];
    memcpy(msg, a->msg, sizeof msg);
    cs_free(a);
    cb(ctx, rc, msg, index, NULL);
}

static void apply_done(struct raft_apply *req, int status, void *result)
{
    apply_req *a = req->data;
    if (status != 0) {
        a->rc = cs_raft_format(a->msg, sizeof a->msg, status, NULL, "entry %llu",
                               (unsigned long long)req->index);
        cs_defer_call(a->c->later, &a->later, apply_failed_later, a);
        return;
    }
    cs_consensus_applied_cb cb = a->cb;
    void *ctx = a->ctx;
    uint64_t index = req->index;
    cs_free(a);
    cb(ctx, CONSORT_OK, "", index, result);
}

consort_err cs_consensus_submit_batch(cs_consensus *c, const cs_slice *entries, size_t n,
                                      cs_consensus_applied_cb cb, void *ctx)
{
    ENSURE_RUNNING(c);
    CS_ENSURE(cb != NULL, CONSORT_E_INVALID_ARGUMENT, "submit: callback required");
    CS_ENSURE(n > 0 && n <= CS_CONSENSUS_BATCH_MAX, CONSORT_E_INVALID_ARGUMENT,
              "submit: %zu entries (1..%d)", n, CS_CONSENSUS_BATCH_MAX);
    for (size_t i = 0; i < n; i++)
        CS_ENSURE(entries[i].len > 0 && entries[i].len <= CS_CONSENSUS_ENTRY_MAX,
                  CONSORT_E_INVALID_ARGUMENT, "submit: entry of %zu bytes (1..%zu)", entries[i].len,
                  CS_CONSENSUS_ENTRY_MAX);
    apply_req *a = cs_calloc(1, sizeof *a);
    struct raft_buffer *bufs = cs_calloc(n, sizeof *bufs);
    consort_err rc = CONSORT_OK;
    if (a == NULL || bufs == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "submit request");
    /* raft_apply takes ownership of the payloads (raft_malloc'd) on success */
    size_t made = 0;
    for (; rc == CONSORT_OK && made < n; made++)
        rc = cs_raft_entry_encode(entries[made], &bufs[made]);
    if (rc != CONSORT_OK) {
        for (size_t i = 0; i + 1 < made; i++)
            raft_free(bufs[i].base);
        cs_free(bufs);
        cs_free(a);
        return cs_err_context(rc, "submit");
    }
    a->req.data = a;
    a->c = c;
    a->cb = cb;
    a->ctx = ctx;
    int rv = raft_apply(&c->raft, &a->req, bufs, (unsigned)n, apply_done);
    if (rv != 0) {
        /* libraft frees the payloads itself when it fails after appending
         * them to its log (raft_apply: logDiscard on a failed replication
         * trigger). Only RAFT_NOTLEADER, checked before the append, leaves
         * them ours for sure; for other codes freeing them could be a double
         * free, so a rare out-of-memory failure may leak them instead. */
        if (rv == RAFT_NOTLEADER)
            for (size_t i = 0; i < n; i++)
                raft_free(bufs[i].base);
        cs_free(bufs);
        cs_free(a);
        return request_fail(c, rv, "submit");
    }
    cs_free(bufs); /* the array is raft_apply's to read during the call only */
    return CONSORT_OK;
}

consort_err cs_consensus_submit(cs_consensus *c, cs_slice entry, cs_consensus_applied_cb cb,
                                void *ctx)
{
    return cs_consensus_submit_batch(c, &entry, 1, cb, ctx);
}

/* ---- barrier ---- */

typedef struct barrier_req {
    struct raft_barrier req;
    cs_fsm_waiter wait;  /* completion held back while apply is deferred */
    cs_defer_item later; /* a failure, told from the loop */
    cs_consensus *c;
    cs_fsm_adapter *fsm;
    consort_err rc;
    char msg[CS_ERRMSG_MAX];
    cs_consensus_done_cb cb;
    void *ctx;
} barrier_req;

static void barrier_complete(cs_fsm_waiter *w)
{
    barrier_req *b = (barrier_req *)(void *)((char *)w - offsetof(barrier_req, wait));
    cs_consensus_done_cb cb = b->cb;
    void *ctx = b->ctx;
    consort_err rc = b->rc;
    char msg[CS_ERRMSG_MAX];
    memcpy(msg, b->msg, sizeof msg);
    cs_free(b);
    cb(ctx, rc, msg);
}

static void barrier_failed_later(void *ctx)
{
    barrier_req *b = ctx;
    barrier_complete(&b->wait);
}

/* The barrier completes once the FSM holds every entry before it: an
 * asynchronous snapshot may still hold some back (fsm.h). */
static void barrier_done(struct raft_barrier *req, int status)
{
    barrier_req *b = req->data;
    b->rc = CONSORT_OK;
    b->msg[0] = '\0';
    if (status != 0)
        b->rc = cs_raft_format(b->msg, sizeof b->msg, status, NULL, "barrier %llu",
                               (unsigned long long)req->index);
    b->wait.fn = barrier_complete;
    if (status != 0) {
        cs_defer_call(b->c->later, &b->later, barrier_failed_later, b);
    } else {
        cs_fsm_adapter_after_catch_up(b->fsm, &b->wait);
    }
}

consort_err cs_consensus_barrier(cs_consensus *c, cs_consensus_done_cb cb, void *ctx)
{
    ENSURE_RUNNING(c);
    CS_ENSURE(cb != NULL, CONSORT_E_INVALID_ARGUMENT, "barrier: callback required");
    barrier_req *b = cs_calloc(1, sizeof *b);
    CS_ENSURE(b != NULL, CONSORT_E_NOMEM, "barrier request");
    b->req.data = b;
    b->c = c;
    b->fsm = &c->fsm;
    b->cb = cb;
    b->ctx = ctx;
    int rv = raft_barrier(&c->raft, &b->req, barrier_done);
    if (rv != 0) {
        cs_free(b);
        return request_fail(c, rv, "barrier");
    }
    return CONSORT_OK;
}

/* ---- membership ---- */

typedef struct change_req {
    struct raft_change req;
    cs_consensus *c;
    cs_consensus_done_cb cb;
    void *ctx;
    uint64_t id;
    const char *what;
    cs_defer_item later; /* a failure, told from the loop */
    consort_err rc;
    char msg[CS_ERRMSG_MAX];
} change_req;

static void change_complete(change_req *ch)
{
    cs_consensus_done_cb cb = ch->cb;
    void *ctx = ch->ctx;
    consort_err rc = ch->rc;
    char msg[CS_ERRMSG_MAX];
    memcpy(msg, ch->msg, sizeof msg);
    cs_free(ch);
    if (cb != NULL)
        cb(ctx, rc, msg);
}

static void change_failed_later(void *ctx)
{
    change_complete(ctx);
}

static void change_done(struct raft_change *req, int status)
{
    change_req *ch = req->data;
    if (status == 0) {
        change_complete(ch);
        return;
    }
    ch->rc = cs_raft_format(ch->msg, sizeof ch->msg, status, NULL, "%s of server %llu", ch->what,
                            (unsigned long long)ch->id);
    cs_defer_call(ch->c->later, &ch->later, change_failed_later, ch);
}

static change_req *change_new(cs_consensus *c, cs_consensus_done_cb cb, void *ctx, uint64_t id,
                              const char *what)
{
    change_req *ch = cs_calloc(1, sizeof *ch);
    if (ch == NULL)
        return NULL;
    ch->req.data = ch;
    ch->c = c;
    ch->cb = cb;
    ch->ctx = ctx;
    ch->id = id;
    ch->what = what;
    return ch;
}

static consort_err change_submit(cs_consensus *c, change_req *ch, int rv)
{
    if (rv == 0)
        return CONSORT_OK;
    const char *what = ch->what;
    cs_free(ch);
    return request_fail(c, rv, what);
}

consort_err cs_consensus_add(cs_consensus *c, uint64_t id, const char *address,
                             cs_consensus_done_cb cb, void *ctx)
{
    ENSURE_RUNNING(c);
    CS_ENSURE(id != 0 && address != NULL && address[0] != '\0' && strlen(address) <= 255,
              CONSORT_E_INVALID_ARGUMENT, "add: id %llu / address invalid", (unsigned long long)id);
    change_req *ch = change_new(c, cb, ctx, id, "add");
    CS_ENSURE(ch != NULL, CONSORT_E_NOMEM, "add request");
    return change_submit(c, ch, raft_add(&c->raft, &ch->req, id, address, change_done));
}

consort_err cs_consensus_assign(cs_consensus *c, uint64_t id, cs_raft_role role,
                                cs_consensus_done_cb cb, void *ctx)
{
    ENSURE_RUNNING(c);
    int raft_role = cs_consensus_raft_role(role);
    CS_ENSURE(raft_role >= 0, CONSORT_E_INVALID_ARGUMENT, "assign: role %d unknown", (int)role);
    change_req *ch = change_new(c, cb, ctx, id, "role change");
    CS_ENSURE(ch != NULL, CONSORT_E_NOMEM, "assign request");
    return change_submit(c, ch, raft_assign(&c->raft, &ch->req, id, raft_role, change_done));
}

consort_err cs_consensus_remove(cs_consensus *c, uint64_t id, cs_consensus_done_cb cb, void *ctx)
{
    ENSURE_RUNNING(c);
    change_req *ch = change_new(c, cb, ctx, id, "removal");
    CS_ENSURE(ch != NULL, CONSORT_E_NOMEM, "remove request");
    return change_submit(c, ch, raft_remove(&c->raft, &ch->req, id, change_done));
}

/* ---- leadership transfer ---- */

typedef struct transfer_req {
    struct raft_transfer req;
    cs_consensus *c;
    cs_consensus_done_cb cb;
    void *ctx;
    uint64_t target;
    cs_defer_item later;
} transfer_req;

static void transfer_complete(void *req)
{
    transfer_req *t = req;
    cs_consensus *c = t->c;
    uint64_t leader = cs_consensus_leader(c, NULL);
    consort_err rc = CONSORT_OK;
    char msg[CS_ERRMSG_MAX] = "";
    /* raft_transfer: "check whether the operation was successful by calling
     * raft_leader() and checking if it returns the target server". */
    uint64_t target = t->target != 0 ? t->target : t->req.id;
    bool ok = target != 0 ? leader == target : leader != 0 && leader != c->raft.id;
    if (!ok) {
        rc = CONSORT_E_TIMEOUT;
        snprintf(msg, sizeof msg, "leadership transfer from %llu to %llu: leader is %llu",
                 (unsigned long long)c->raft.id, (unsigned long long)target,
                 (unsigned long long)leader);
    }
    cs_consensus_done_cb cb = t->cb;
    void *ctx = t->ctx;
    cs_free(t);
    if (cb != NULL)
        cb(ctx, rc, msg);
}

/* libraft ends a transfer from its state changes too: judged and told from
 * the loop ("later"). */
static void transfer_done(struct raft_transfer *req)
{
    transfer_req *t = req->data;
    cs_defer_call(t->c->later, &t->later, transfer_complete, t);
}

consort_err cs_consensus_transfer(cs_consensus *c, uint64_t id, cs_consensus_done_cb cb, void *ctx)
{
    ENSURE_RUNNING(c);
    transfer_req *t = cs_calloc(1, sizeof *t);
    CS_ENSURE(t != NULL, CONSORT_E_NOMEM, "transfer request");
    t->req.data = t;
    t->c = c;
    t->cb = cb;
    t->ctx = ctx;
    t->target = id;
    int rv = raft_transfer(&c->raft, &t->req, id, transfer_done);
    if (rv != 0) {
        cs_free(t);
        return request_fail(c, rv, "leadership transfer");
    }
    return CONSORT_OK;
}
