/*
 * Internals of the executor (exec.h), shared by exec.c (the queue,
 * writes, consensus) and exec_sign.c (signature entries, the free-space
 * check) only.
 */
#ifndef CS_NODE_EXEC_PRIV_H
#define CS_NODE_EXEC_PRIV_H

#include "net/defer.h"
#include "net/timer.h"
#include "node/exec.h"

#include <stdarg.h>

#define EXEC_LOG "node"
/* A transaction is re-run at most this many times after conflicts. */
#define EXEC_MAX_RETRIES 8
/* How long a free-space reading is reused (ms). */
#define EXEC_SPACE_CHECK_MS 50
/* While writes are open, free space is read at least this often (ms),
 * whether writes arrive or not: a disk that fills while the leader is
 * idle must still make it hand over, and a hand-over that failed or
 * timed out must be asked again without waiting for a client. */
#define EXEC_SPACE_WATCH_MS 100

/* At most this many entries, and this many bytes (but always one entry),
 * in one request to consensus (exec_sign.c submit_queued). */
#define EXEC_BATCH_MAX   256
#define EXEC_BATCH_BYTES ((size_t)4 << 20)

/* One entry the leader executed and submitted, not yet committed; then,
 * once done, its completion waiting in the deferred queue. */
typedef struct exec_item {
    struct exec_item *next;
    node_exec *ex;
    cs_txid txid;
    cs_buf entry;           /* the ledger entry as submitted */
    node_exec_done_fn done; /* NULL for signature entries */
    void *done_ctx;
    cs_defer_item defer;
    consort_err rc;
    char message[CS_ERRMSG_MAX];
} exec_item;

struct node_exec {
    node_exec_opts o;
    node_exec_signer signer;
    cs_defer *defer;

    bool open; /* writes open in `term` */
    uint64_t term;
    uint64_t closed_term; /* a raft write failed in this term: never reopen */
    uint64_t next_seqno;
    exec_item *head, *tail; /* queued, not committed, in seqno order */
    exec_item *unsubmitted; /* the first of them not handed to consensus yet */
    cs_defer_item submit_later;
    size_t pending;
    uint64_t unsigned_tx; /* entries since the last signature entry */
    cs_timer *sig_timer;
    bool sig_armed;
    bool sig_due;              /* fell due with entries in flight: the next write signs */
    uint64_t space_checked_at; /* uv_now of the last free-space reading */
    bool space_ok;
    uint64_t space_free;    /* bytes, at that reading (the smaller of the two dirs) */
    uint64_t handover_term; /* the term of the last hand-over request */
    uint64_t handover_at;   /* ... and its uv_now */
    cs_timer *space_timer;  /* EXEC_SPACE_WATCH_MS while open */

    size_t completions; /* queued, not run yet */
    int completing;     /* inside a completion */
    bool freed;         /* node_exec_free called: release once completions ran */
    node_exec_stats stats;
};

/* ---- exec.c ---- */
/* Completes `it` with `rc` and a message (deferred; signature items are just freed). */
void exec_complete(node_exec *ex, exec_item *it, consort_err rc, const char *fmt, ...)
    CS_PRINTF(4, 5);
void exec_item_free(exec_item *it);
/* Releases the executor once freed and its completions ran. */
void exec_maybe_released(node_exec *ex);

/* ---- exec_sign.c ---- */
/* The signature and free-space timers. */
CS_MUST_CHECK consort_err exec_sign_init(node_exec *ex);
void exec_sign_cleanup(node_exec *ex);
/* Arms the signature timer if entries are unsigned and it is not armed. */
void exec_sign_schedule(node_exec *ex);
/* After a write was queued: a signature entry right after it if one is
 * due (sig_interval_tx entries, or the timer fell due with entries in
 * flight), else the timer armed. */
void exec_sign_after_write(node_exec *ex);
/* After an entry committed: a due signature with nothing left in flight
 * waits NODE_EXEC_SIG_GRACE_MS more for a write to ride with. */
void exec_sign_drained(node_exec *ex);
void exec_sign_stop(node_exec *ex);
/* Appends the leaf of it->entry (sealed as `seqno`) to the tree and queues
 * it (ownership taken); queued entries go to consensus together at the end
 * of the loop turn (ops.submit). On failure everything is undone
 * (exec_undo) and `it` freed. */
CS_MUST_CHECK consort_err exec_enqueue(node_exec *ex, uint64_t seqno, exec_item *it);
/* Drops the queued entries not handed to consensus yet (writes closing:
 * they fail with the others pending). */
void exec_submit_cancel(node_exec *ex);
/* Entry `seqno` was sealed but not queued: the store and tree go back to
 * seqno - 1 and the key salt is renewed (that seqno will be sealed again). */
void exec_undo(node_exec *ex, uint64_t seqno);
/* Room for more writes. A leader without room asks to hand leadership
 * over (in each term it leads, then at most every
 * NODE_EXEC_HAND_OVER_RETRY_MS while it still leads). `fresh`: read the
 * free space now instead of reusing a reading of the last
 * EXEC_SPACE_CHECK_MS. */
bool exec_has_space(node_exec *ex, bool fresh);
/* Reads the free space every EXEC_SPACE_WATCH_MS while writes are open
 * (exec_has_space: a leader short of space asks to hand over, and asks
 * again while it still leads), from now until exec_space_unwatch. */
void exec_space_watch(node_exec *ex);
void exec_space_unwatch(node_exec *ex);

#endif
