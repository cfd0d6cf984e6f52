/*
 * The replicated state machine that consort's node implements, and its
 * adapter to libraft's struct raft_fsm.
 *
 * Contract for an FSM (all calls on the loop's thread but snapshot_make):
 *   apply     a COMMITTED entry, in raft log order, exactly once per start of
 *             the replica: after a restart raft applies again every entry
 *             after its last snapshot, so apply must recognise entries it
 *             already holds (consort: by seqno against its ledger). `index`
 *             is the raft log index, `term` the term in which the leader
 *             created the entry. `*result` (initially NULL) is handed to the
 *             submitter's completion callback on the node that submitted it.
 *             An error is fatal for this replica: raft stops applying (and
 *             tries the same entry again at the next commit), so return one
 *             only when the state can no longer advance (the node should then
 *             close the consensus object). A failed FSM is never snapshotted
 *             again: raft counts entries deferred during a snapshot (below)
 *             as applied, so after a failure among them a snapshot would
 *             claim entries the FSM does not hold.
 *   snapshot  appends the whole state to `out` (which the FSM may grow up to
 *             out->max). CONSORT_E_BUSY skips this snapshot (raft retries
 *             later); the bytes are wiped and freed once raft has stored them.
 *   restore   replaces the whole state with `data` (a snapshot produced by
 *             some replica's snapshot; check it as untrusted input). `data` is
 *             only borrowed.
 *
 * Asynchronous snapshots (optional; libraft fsm version 3, raft.h): set all
 * three of snapshot_begin/_make/_end and the adapter uses them instead of
 * `snapshot` (which may then be NULL):
 *   snapshot_begin  (loop) captures cheaply what the snapshot at the current
 *             applied state needs into a job of its own (`*job`). BUSY skips
 *             this snapshot. With `*defer` set, the job reads the FSM's live
 *             state from the worker: until snapshot_end the adapter does not
 *             call apply but keeps copies of the committed entries (their
 *             `*result` stays NULL), and holds back barrier completions
 *             (cs_fsm_adapter_after_catch_up); snapshot_end's caller then
 *             applies them in order, on the loop.
 *   snapshot_make   (libuv threadpool thread) appends the snapshot to `out`
 *             as `snapshot` would. It may touch only the job and, with
 *             `*defer`, the state frozen by it; it must not log or touch
 *             libraft.
 *   snapshot_end    (loop) always follows a successful begin, once raft has
 *             stored the bytes or given up; frees the job. `rc` is
 *             CONSORT_OK only if raft stored the snapshot: make's error if
 *             make failed, CONSORT_E_IO if raft did not store what make
 *             produced (a failed write, a server closing).
 *
 * Raft's internal entries (configuration changes, barriers) never reach the
 * FSM; their indexes are skipped, so indexes seen by apply increase strictly
 * but not always by one.
 */
#ifndef CS_CONSENSUS_FSM_H
#define CS_CONSENSUS_FSM_H

#include "base/buf.h"
#include "net/defer.h"

#include <raft.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct cs_fsm_entry {
    cs_slice data;
    uint64_t index;
    uint64_t term;
} cs_fsm_entry;

typedef struct cs_fsm {
    void *ctx;
    consort_err (*apply)(void *ctx, const cs_fsm_entry *entry, void **result);
    consort_err (*snapshot)(void *ctx, cs_buf *out);
    consort_err (*restore)(void *ctx, cs_slice data);
    consort_err (*snapshot_begin)(void *ctx, void **job, bool *defer);
    consort_err (*snapshot_make)(void *job, cs_buf *out);
    void (*snapshot_end)(void *ctx, void *job, consort_err rc);
} cs_fsm;

/* A committed entry kept while an asynchronous snapshot reads the state. */
typedef struct cs_fsm_deferred cs_fsm_deferred;

/* Something to run once deferred entries are applied (embed it). */
typedef struct cs_fsm_waiter {
    struct cs_fsm_waiter *next;
    void (*fn)(struct cs_fsm_waiter *w);
} cs_fsm_waiter;

/* Largest snapshot an FSM may produce. */
#define CS_FSM_SNAPSHOT_MAX ((size_t)1 << 30)

/* A struct raft_fsm that calls a cs_fsm (embed it; it must not move once
 * raft_init() has it). */
typedef struct cs_fsm_adapter {
    struct raft_fsm raft_fsm;
    const struct raft *raft; /* whose log gives each entry's index and term */
    cs_fsm fsm;
    uint64_t applied;   /* entries applied */
    uint64_t restored;  /* snapshots restored */
    consort_err failed; /* first error from apply, CONSORT_OK if none */
    /* an asynchronous snapshot in progress (between begin and end) */
    void *snap_job;
    consort_err snap_rc;           /* snapshot_make's result */
    struct raft_buffer *snap_bufs; /* the one buffer handed to raft, allocated on the loop */
    bool deferring;                /* apply deferred until the snapshot ends */
    uint64_t deferred;             /* entries ever deferred (information) */
    cs_fsm_deferred *def_head, *def_tail;
    cs_fsm_waiter *wait_head, *wait_tail;
    /* After the snapshot: the kept entries applied a slice at a time
     * (CS_FSM_DRAIN_SLICE_MS per loop turn, through `later`), new committed
     * entries queued behind them until none is left (`draining`). */
    cs_defer *later; /* NULL: all at once (cs_fsm_adapter_set_later) */
    uv_loop_t *loop; /* NULL: snapshot bytes freed on the loop (cs_fsm_adapter_set_loop) */
    uint64_t released_off_loop; /* snapshot buffers handed to the threadpool to free */
    cs_defer_item drain_item;
    bool draining;
    /* A follower answers its leader before it applies (below). */
    bool answer_first;     /* cs_fsm_adapter_set_answer_first */
    bool answering;        /* the entries kept are a follower's, kept for its answer */
    unsigned answer_turns; /* turns still to wait before applying them */
} cs_fsm_adapter;

/* How long one turn of the loop applies kept entries: a follower that kept
 * seconds of entries while it encoded a large snapshot goes on answering its
 * leader's heartbeats while it catches up. */
#define CS_FSM_DRAIN_SLICE_MS 5

/*
 * Sets up `a` so that &a->raft_fsm can be given to raft_init() (or
 * raft_fixture_grow()) for the raft instance `raft` (its memory; it need not be
 * initialised yet). The FSM's callbacks must all be set.
 */
CS_MUST_CHECK consort_err cs_fsm_adapter_init(cs_fsm_adapter *a, const cs_fsm *fsm,
                                              const struct raft *raft);

/* Sets the raft instance later (for raft_fixture, whose servers exist only
 * after raft_fixture_grow()). */
void cs_fsm_adapter_bind(cs_fsm_adapter *a, const struct raft *raft);

/* The queue on which the entries kept during a snapshot are applied a slice
 * at a time; without one they are all applied when the snapshot ends. */
void cs_fsm_adapter_set_later(cs_fsm_adapter *a, struct cs_defer *later);

/* The loop whose threadpool wipes and frees a snapshot's bytes once raft
 * has stored them (from CS_FSM_RELEASE_OFF_LOOP bytes up): on the loop,
 * wiping and unmapping a 616 MB snapshot held it 30-85 ms even with a
 * fast wipe. Without a loop they are freed where raft hands them back. */
#define CS_FSM_RELEASE_OFF_LOOP ((size_t)4 << 20)
void cs_fsm_adapter_set_loop(cs_fsm_adapter *a, uv_loop_t *loop);

/*
 * A follower answers before it applies. libraft applies the entries its
 * leader reports committed when a follower's append completes, BEFORE it
 * sends the answer (replication.c appendFollowerCb), so each write's
 * commit waited for a follower's apply of the write before it. With
 * answer_first (and a queue, cs_fsm_adapter_set_later), a follower keeps
 * a copy of each committed entry and applies it two loop turns later:
 * raft's answer, written into the transport in this turn, is read from
 * the bridge and sent in the next (bridge.h). The entries are kept as
 * during an asynchronous snapshot: in order, later ones queued behind,
 * barrier completions held back (cs_fsm_adapter_after_catch_up); a
 * snapshot raft takes meanwhile applies them first; an installed snapshot
 * drops them (it holds them); a leader applies at once.
 */
void cs_fsm_adapter_set_answer_first(cs_fsm_adapter *a, bool on);

/* Before raft closes (and the queue goes): the entries still kept are
 * applied now, and any kept from here on when their snapshot ends, all at
 * once (raft reported them applied). */
void cs_fsm_adapter_stop(cs_fsm_adapter *a);

/* Runs w->fn(w) now, or, while apply is deferred by an asynchronous snapshot,
 * on the loop once the deferred entries are applied (so that a barrier
 * completes only when the FSM holds every entry before it). Only for callers
 * already inside a loop callback (barrier_done): "now" must not be inside a
 * call that registered a user's callback. */
void cs_fsm_adapter_after_catch_up(cs_fsm_adapter *a, cs_fsm_waiter *w);

#endif
