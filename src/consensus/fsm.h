/*
 * The replicated state machine that consort's node implements, and its
 * adapter to libraft's struct raft_fsm.
 *
 * Contract for an FSM (all calls on the loop's thread):
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
 *             close the consensus object).
 *   snapshot  appends the whole state to `out` (which the FSM may grow up to
 *             out->max). CONSORT_E_BUSY skips this snapshot (raft retries
 *             later); the bytes are wiped and freed once raft has stored them.
 *   restore   replaces the whole state with `data` (a snapshot produced by
 *             some replica's snapshot; check it as untrusted input). `data` is
 *             only borrowed.
 *
 * Raft's internal entries (configuration changes, barriers) never reach the
 * FSM; their indexes are skipped, so indexes seen by apply increase strictly
 * but not always by one.
 */
#ifndef CS_CONSENSUS_FSM_H
#define CS_CONSENSUS_FSM_H

#include "base/buf.h"

#include <raft.h>
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
} cs_fsm;

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
} cs_fsm_adapter;

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

#endif
