/*
 * The node object (node.h): the one place that wires the node's parts
 * together (docs/architecture.md "The node"). Its files, each calling only
 * the ones below it (no circles):
 *
 *   node.c         lifecycle: new, start, stop, free          (top)
 *   node_start.c   the start sequence: code, vault, platform, raft state,
 *                  recovery, channels; joining and genesis
 *   node_recover.c recover mode: waiting for the members' shares, restoring
 *                  the private state, taking over under a new identity
 *   node_member.c  becoming a member: the replica, the signer, listening,
 *                  consensus
 *   node_api.c     writes, reads, waits, status, receipts, users/members
 *   node_docs.c    the /node/ documents and metrics
 *   node_raft.c    consensus: the FSM, leadership, linearizable reads
 *   node_ops.c     what the executor and admission may ask of raft, the
 *                  vault and each other (their ops tables)
 *   node_events.c  state, identities, failure, watchers, applied-seqno
 *                  waiters, stop accounting (bottom)
 *
 * The parts (each its own struct, header and API; none sees another's
 * fields): code (node_code.h), vault (vault.h), platform (platform.h),
 * replica (replica.h), executor (exec.h), peers (peers.h), admission
 * (admit.h), joiner (joiner.h), the service's maps (service_maps.h),
 * genesis (genesis.h) and, in recover mode, recovery (recovery.h).
 *
 * Everything runs on the node's loop thread.
 */
#ifndef CS_NODE_NODE_PRIV_H
#define CS_NODE_NODE_PRIV_H

#include "consensus/consensus.h"
#include "net/defer.h"
#include "net/timer.h"
#include "node/admit.h"
#include "node/promote.h"
#include "node/exec.h"
#include "node/loop_probe.h"
#include "node/joiner.h"
#include "node/node.h"
#include "node/node_code.h"
#include "node/peers.h"
#include "node/platform.h"
#include "node/recovery.h"
#include "node/replica.h"
#include "node/node_seal.h"
#include "node/vault.h"

#define NODE_LOG "node"
/* A failed barrier is retried after this long while the node still leads. */
#define NODE_BARRIER_RETRY_MS 100

/* A certificate already found to be issued by this service. */
typedef struct node_issued_entry {
    uint8_t fingerprint[32];
    char node_id[CS_NODE_ID_LEN + 1];
    int64_t not_after;
    bool used;
} node_issued_entry;

#define NODE_ISSUED_CACHE 16

/* A verdict on one node's evidence, for GET /node/overview (node_overview.c):
 * remembered by the evidence's SHA-256 for NODE_TCB_TTL_MS. */
typedef struct node_tcb_entry {
    uint8_t digest[32];
    uint64_t checked_at; /* uv_now() */
    bool used, verified;
    /* verified: the claims the console shows */
    uint64_t security_version;
    char tcb_status[48];
    bool debug;
    char advisories[CS_CLAIMS_MAX_ADVISORIES][24];
    size_t advisory_count;
    char error[256]; /* not verified: why */
} node_tcb_entry;

#define NODE_TCB_CACHE  CS_NODE_MAX_LIST /* a verdict per node of a large service */
#define NODE_TCB_TTL_MS 60000

typedef struct node_watcher {
    cs_node_watch_fn fn;
    void *ctx;
} node_watcher;

typedef struct node_updater node_updater;

struct cs_node {
    uv_loop_t *loop;
    cs_node_config cfg;
    cs_node_state state;
    char failure[CS_ERRMSG_MAX];
    bool started;
    cs_defer *defer; /* the node's deferred calls: events, waiters, stop */

    /* the parts */
    cs_node_code *code;
    node_vault *vault;
    node_seal *seal;                /* the sealed store the vault and applications use */
    struct cs_app_svcseal *svcseal; /* applications' service-scope sealing (app_svcseal.h) */
    node_platform *platform;
    node_replica *replica;
    node_exec *exec;
    node_peers *peers;
    node_admit *admit;
    node_promoter *promoter; /* the leader's promotion of joined nodes (promote.h) */
    node_loop_probe *probe;  /* how late the loop runs (loop_probe.h) */
    node_joiner *joiner;
    cs_consensus *cons;
    cs_buf own_evidence;     /* our evidence envelope (key bound, empty nonce) */
    node_recovery *recovery; /* recover mode, while waiting for shares (node_recover.c) */
    bool succession_watching, succession_sent;
    /* a recovered service's raft log holds none of the recovered entries:
     * the first signature entry after this seqno (the recovery point) is
     * followed by a snapshot that compacts the log, so joiners get one */
    uint64_t compact_after;
    bool compacting;
    /* a recovered service bootstraps raft above every term of the lost
     * ledger (node_recover.c; 0: not one) */
    uint64_t raft_term_above;
    /* cs_raft_heap_stats.heap_freed_bytes at the last node_snapshot_release */
    uint64_t raft_heap_freed_seen;

    /* leadership (node_raft.c) */
    bool leader; /* raft says we lead in lead_term */
    /* uv_now() since raft has known no leader (0: it knows one, or leads):
     * reads are refused NODE_LEADERLESS_READ_MS after that (node_api.c) */
    uint64_t leaderless_since;
    uint64_t lead_term;
    bool barrier_inflight;
    bool genesis_sent;
    cs_timer *barrier_retry;
    /* linearizable reads: waiting for the next barrier / covered by one in flight */
    cs_node_waiter *lin_next, *lin_current;
    bool lin_inflight;

    /* events (node_events.c) */
    node_watcher watchers[CS_NODE_MAX_WATCHERS];
    cs_defer_item event_item;
    cs_node_event last_event; /* what watchers were told last */
    uint64_t last_leader;     /* ... and the leader's raft id then (0: none known) */
    cs_node_fatal_fn fatal;
    void *fatal_ctx;
    /* waiters for an applied seqno (sorted by nothing: few at a time) */
    cs_node_waiter *waiters;
    cs_timer *wait_timer;

    bool service_open;     /* the service map's status, as of node_refresh_policy */
    uint64_t policy_gen;   /* counts node_refresh_policy calls (cs_node_policy_generation) */
    node_updater *updater; /* the leader's membership driver (node_update.c) */

    node_issued_entry issued[NODE_ISSUED_CACHE];
    unsigned issued_next;
    node_tcb_entry tcb[NODE_TCB_CACHE]; /* /node/overview's evidence verdicts */

    /* stopping (node.c): parts still closing, then stop_cb, deferred */
    int closing;
    /* writes of the sealed vault still on the thread pool (node_start.c):
     * each holds a closing reference while the node stops */
    unsigned seal_writes;
    void (*stop_cb)(void *ctx);
    void *stop_ctx;
    cs_defer_item stop_item;
    /* a request consensus refused at once, told later (node_ops.c) */
    cs_defer_item refused_item;
    uint64_t refused_term;
    consort_err refused_rc;
    char refused_why[CS_ERRMSG_MAX];
};

/* How long a node that knows no leader goes on serving reads of its
 * committed state (an election normally ends well within it). */
#define NODE_LEADERLESS_READ_MS 2000

/* ---- node_api.c ---- */
/* Can this node vouch that its committed state is current? It leads, or
 * follows a leader it heard from within an election timeout (raft forgets
 * a leader it stops hearing from), or has known none for less than
 * NODE_LEADERLESS_READ_MS. */
bool node_raft_available(cs_node *n);

/* ---- node_events.c ---- */
/* Moves to state `s` and tells the watchers (deferred). */
void node_set_state(cs_node *n, cs_node_state s);
/* Something watchers see changed (leadership, certificate): tell them. */
void node_changed(cs_node *n);
/* Stops the node after an unrecoverable error: `what` and `why` logged and
 * kept as the failure; state Failed; watchers told. */
void node_fail(cs_node *n, consort_err rc, const char *what, const char *why);
/* consensus.h on_failed (ctx: the node): raft stopped itself and would never
 * take part again, so the node fails like a failed apply; a restart brings
 * it back. */
void node_raft_failed(void *ctx, consort_err err, const char *msg);
/* The node's applied seqno moved: waiters at or below it fire (deferred). */
void node_waiters_applied(cs_node *n, uint64_t applied);
/* Every waiter (applied and linearizable) fires with `rc` (deferred). */
void node_waiters_fail_all(cs_node *n, consort_err rc, const char *why);
/* Puts `w` on `list` (one of the node's waiter lists). */
void node_waiter_add(cs_node_waiter **list, cs_node_waiter *w);
/* Fires waiter `w` with `rc` (deferred), taking it off its list. */
void node_waiter_fire(cs_node *n, cs_node_waiter *w, consort_err rc);
/* Arms the wait timer for the earliest deadline. */
void node_waiters_rearm(cs_node *n);
/* Stop accounting: something still closing; one thing closed (the last
 * one reports the stop to cs_node_stop's callback, deferred). */
void node_closing_add(cs_node *n);
void node_closed_one(cs_node *n);
CS_MUST_CHECK consort_err node_events_init(cs_node *n);
/* Appends the raft state, signature lag, ledger size, snapshot age and
 * attestation failures to /node/metrics (node_metrics.c). */
CS_MUST_CHECK consort_err node_metrics_gauges(cs_node *n, cs_buf *out);
/* This node's own record (status Trusted), for genesis and a recovery's take-over. */
CS_MUST_CHECK consort_err node_own_record(cs_node *n, node_record *r);
void node_events_cleanup(cs_node *n);

/* ---- node_update.c ---- */
/* Starts / stops the membership driver (retired nodes leave raft; rolling
 * updates advance), which acts only while the node leads. */
CS_MUST_CHECK consort_err node_update_start(cs_node *n);
void node_update_stop(cs_node *n);

/* ---- node_join_policy.c ---- */
/* The service's decision for a joiner (admit.h node_admit_ops.decide). */
node_admit_decision node_join_decide(cs_node *n, const char *node_id, const uint8_t code_id[32],
                                     bool *has_record, char why[256]);

/* ---- node_ops.c ---- */
/* The executor's access to raft (exec.h node_exec_ops). */
node_exec_ops node_raft_exec_ops(cs_node *n);
/* Admission's access to raft and the executor (admit.h node_admit_ops). */
node_admit_ops node_raft_admit_ops(cs_node *n);
/* The promoter's access to raft (promote.h node_promoter_ops). */
node_promoter_ops node_raft_promoter_ops(cs_node *n);

/* ---- node_raft.c ---- */
/* Creates and starts consensus (bootstrapping a new service if asked). */
CS_MUST_CHECK consort_err node_raft_start(cs_node *n, bool bootstrap);
/* A linearizable read waits for the next barrier (node.h). */
void node_raft_linearizable(cs_node *n, cs_node_waiter *w);
/* Leadership is over (stopping): pending writes and reads fail. */
void node_raft_stop(cs_node *n);
/* Re-reads the service's policy from the store into the platform. */
void node_refresh_policy(cs_node *n);
/* node_snapsched.c: when raft takes its next snapshot. After one this node
 * took: once the log holds a share of its bytes (node_snapshot_threshold). */
void node_snapshot_taken(cs_node *n);
/* After every applied entry: past node_snapshot_log_cap bytes of log since
 * the last snapshot, at once. */
void node_snapshot_watch_log(cs_node *n);
/* After raft truncated its log to a snapshot: the heap gives the memory
 * those entries held back to the system (cs_alloc_trim_soon, off the loop),
 * or a node's resident memory stays at the log's peak until the store
 * reuses it (62 B a key at 1M keys: bench/RESULTS.md); only when
 * node_snapshot_trim_worth says so of the log's bytes that were in libc's
 * heap: all of them with libraft's default heap; with consort's
 * (consensus/raft_heap.h, consortd), what its heap blocks freed since the
 * last release (its large blocks went back to the system when freed). */
void node_snapshot_release(cs_node *n);
/* Whether a trim is worth its cost after a snapshot of `snapshot_bytes`
 * that truncated `log_bytes` of log: when the log held at least half as
 * many bytes as the state. The trim walks the whole heap with its lock
 * held (an allocation on the loop waits for it), and its cost grows with
 * the heap while the log stays under snapshot_log_kib (or a quarter of
 * the state): on the loop it took 90-230 ms at 1M keys. */
bool node_snapshot_trim_worth(uint64_t log_bytes, uint64_t snapshot_bytes);
/* As raft begins a snapshot: the entries it keeps before it, by bytes
 * (node_snapshot_trailing: a quarter of snapshot_log_kib; never more than
 * node_snapshot_trailing_cap). */
void node_snapshot_set_trailing(cs_node *n);
/* The most entries kept before a snapshot: half of a small
 * snapshot_interval (under 256: tests and tiny services), else
 * NODE_SNAPSHOT_TRAILING_MAX. */
unsigned node_snapshot_trailing_cap(const cs_node *n);
/* Opens the node (PartOfNetwork) once its own record is in the store. */
void node_check_open(cs_node *n);

/* ---- node_member.c ---- */
/* Runs the node as a member of its service: the replica recovered from the
 * ledger (unless `recovered`: node_recover.c did it) under the identities
 * the vault holds, the signer, listening, and consensus (bootstrapped if
 * `bootstrap`: a new or a recovered service). */
CS_MUST_CHECK consort_err node_member_run(cs_node *n, bool bootstrap, bool recovered,
                                          const char *service_cert_out);

/* ---- node_recover.c ---- */
/* Recover mode's start: the previous ledger read, waiting for shares. */
CS_MUST_CHECK consort_err node_recover_start(cs_node *n);
/* A recovered member that restarted before its succession transaction was
 * committed writes it once it leads. */
CS_MUST_CHECK consort_err node_recover_resume(cs_node *n);

/* ---- node_start.c ---- */
CS_MUST_CHECK consort_err node_start_all(cs_node *n);

#endif
