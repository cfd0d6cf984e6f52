/*
 * The node: one member of a consort service (DESIGN.md "A write, end to
 * end"; docs/architecture.md "The node" draws its parts). It wires the
 * replicated state (replica.h), the leader's executor (exec.h), consensus
 * over attested channels (peers.h), the identities and sealed state
 * (vault.h), the attestation platform (platform.h), joining (joiner.h,
 * admit.h) and genesis (genesis.h). The client-facing HTTPS endpoints
 * (rpc.h) are built on the functions below; nothing above this header
 * touches libraft, the ledger or the Merkle tree.
 *
 * The asynchronous contract (STYLE.md rule 10), for every function here
 * that takes a callback: the callback never fires inside the call that
 * registered it; it carries its own outcome (code and message); and the
 * node closes like a libuv handle: cs_node_stop, its callback, then
 * cs_node_free. State changes are events (cs_node_watch), never polled.
 *
 * Threading: everything runs on the node's libuv loop thread.
 */
#ifndef CS_NODE_NODE_H
#define CS_NODE_NODE_H

#include "attest/evidence.h"
#include "crypto/x509.h"
#include "net/defer.h"
#include "store/kv.h"

#include <consort/app.h>
#include <uv.h>

#define CS_NODE_PATH_MAX        1024
#define CS_NODE_ADDR_MAX        64
#define CS_NODE_MAX_LIST        64
#define CS_NODE_MAX_CONNECTIONS (1 << 20) /* the kernel's own cap on descriptors (fs.nr_open) */

typedef enum cs_node_mode {
    CS_NODE_START = 1,   /* create a new service */
    CS_NODE_JOIN = 2,    /* join a running service by attesting to it */
    CS_NODE_RECOVER = 3, /* recover a lost service from a copy of its ledger (docs/recovery.md) */
} cs_node_mode;

/* The node's JSON configuration (docs/operating.md documents every member). */
typedef struct cs_node_config {
    cs_platform platform;                  /* "platform": "virtual" (default) | "tpm" */
    char platform_dir[CS_NODE_PATH_MAX];   /* "platform_dir": virtual platform directory */
    char tpm_tcti[256];                    /* "tpm_tcti": e.g. "swtpm:host=127.0.0.1,port=2321" */
    char tpm_ak_ca_cert[CS_NODE_PATH_MAX]; /* "tpm_ak_ca_cert": PEM, the CA that certifies AKs (tpm)
                                            */
    char tpm_ak_ca_key[CS_NODE_PATH_MAX]; /* "tpm_ak_ca_key": PEM, certifies this node's AK at start
                                           */
    char tpm_ak_cert[CS_NODE_PATH_MAX]; /* "tpm_ak_cert": PEM, this node's AK certificate instead */
    char rpc_address[CS_NODE_ADDR_MAX]; /* "rpc_address": clients (TLS + HTTP) */
    char node_address[CS_NODE_ADDR_MAX]; /* "node_address": other nodes (attested channels) */
    char data_dir[CS_NODE_PATH_MAX];     /* "data_dir": ledger, raft log, snapshots, sealed state */
    char app_path[CS_NODE_PATH_MAX];     /* "app": application module (.so), may be empty */
    cs_node_mode mode;                   /* "start", "join" or "recover": {...} */
    /* start: */
    uint8_t trusted_code_ids[CS_NODE_MAX_LIST]
                            [32]; /* "trusted_code_ids": [hex] (own code id is always added) */
    size_t trusted_code_id_count;
    char users[CS_NODE_MAX_LIST][CS_NODE_PATH_MAX]; /* "users": [PEM certificate files] */
    size_t user_count;
    /* "members": [PEM certificate file, or {"cert": file, "encryption_key": file}] */
    char members[CS_NODE_MAX_LIST][CS_NODE_PATH_MAX];
    char member_enc_keys[CS_NODE_MAX_LIST][CS_NODE_PATH_MAX]; /* PEM RSA public keys, "" if none */
    size_t member_count;
    char constitution_path[CS_NODE_PATH_MAX]; /* "constitution": Lua file (default: built in) */
    bool open_at_genesis; /* "open_at_genesis": users served at once, without the members' vote */
    char service_cert_out[CS_NODE_PATH_MAX]; /* "service_cert_out": where to write the service
                                                certificate (start and recover) */
    /* join: */
    char join_target[CS_NODE_ADDR_MAX];       /* "target": node_address of a node of the service */
    char service_cert_path[CS_NODE_PATH_MAX]; /* "service_cert": PEM the joiner expects (pinned) */
    /* recover: */
    char previous_ledger[CS_NODE_PATH_MAX];       /* "previous_ledger": a copy of the lost service's
                                                     ledger directory (read only) */
    char previous_service_cert[CS_NODE_PATH_MAX]; /* "previous_service_cert": its certificate */
    /* tuning: */
    uint64_t sig_interval_tx;   /* "sig_interval_tx" (default 100) */
    uint64_t sig_interval_ms;   /* "sig_interval_ms" (default 10) */
    uint64_t ledger_sync_ms;    /* "ledger_sync_ms" (default 100; 0: at every signature entry) */
    uint64_t snapshot_interval; /* "snapshot_interval" transactions (default 100000) */
    uint64_t snapshot_log_kib;  /* "snapshot_log_kib": log bytes between snapshots (65536) */
    uint64_t heartbeat_ms;      /* "heartbeat_ms": raft heartbeats (default 25) */
    uint64_t chunk_size;        /* "ledger_chunk_bytes" (default 4 MiB) */
    uint64_t min_free_mib;      /* "min_free_mib": writes refused below this (default 16) */
    uint64_t raft_segment_kib;  /* "raft_segment_kib": raft's segment files; 0: from min_free_mib */
    bool allow_debug;           /* "allow_debug_evidence" (default false) */
    /* client connections (docs/operating.md "Connection limits"): */
    uint64_t max_client_connections;      /* "max_client_connections" (default 4096) */
    uint64_t max_client_connections_addr; /* "max_client_connections_per_address" (1024) */
    uint64_t http_header_timeout_ms;      /* "http_header_timeout_ms" (default 10000) */
    uint64_t http_request_timeout_ms;     /* "http_request_timeout_ms" (default 30000) */
    uint64_t http_idle_timeout_ms;        /* "http_idle_timeout_ms" (default 60000) */
} cs_node_config;

/* Parses and validates a configuration file (unknown members are errors),
 * filling in the defaults docs/operating.md lists (cs_node_config_defaults). */
CS_MUST_CHECK consort_err cs_node_config_load(const char *path, cs_node_config *cfg);
CS_MUST_CHECK consort_err cs_node_config_parse(cs_slice json, cs_node_config *cfg);
/* The defaults, in one place: every member zero but the tuning ones. */
void cs_node_config_defaults(cs_node_config *cfg);

typedef struct cs_node cs_node;

typedef enum cs_node_state {
    CS_NODE_STARTING = 0,
    CS_NODE_JOINING,        /* attesting to the service, or catching up after being admitted */
    CS_NODE_OPEN,           /* "PartOfNetwork": serves client requests */
    CS_NODE_STOPPING,       /* cs_node_stop was called */
    CS_NODE_FAILED,         /* stopped after an error (cs_node_failure says which) */
    CS_NODE_RETIRED,        /* removed from the service (its record is Retired): serves no
                               client; the process should stop */
    CS_NODE_WAITING_SHARES, /* "WaitingForRecoveryShares": recovering a lost service, the
                               public state restored, waiting for the members' shares */
    CS_NODE_RECOVERING,     /* the private state restored: taking over under the new
                               identity (docs/recovery.md) */
} cs_node_state;

/* Creates the node on `loop` (nothing runs until cs_node_start). The
 * configuration is copied; defaults fill its zero tuning members. */
CS_MUST_CHECK consort_err cs_node_new(uv_loop_t *loop, const cs_node_config *cfg, cs_node **out);
/*
 * Starts: loads the application module and measures the code id; loads or
 * creates identities and sealed state; recovers the store and Merkle tree
 * from the ledger (and snapshot); starts consensus, or for a joining node
 * attests to join_target. An error returned here leaves the node Failed
 * (with the reason) and nothing running; the node then only accepts
 * cs_node_stop / cs_node_free. Later failures are events (Failed).
 */
CS_MUST_CHECK consort_err cs_node_start(cs_node *n);
/* Stops everything: pending writes fail (STATE), waits end (STATE); `cb`
 * fires once every handle is closed and the sealed state written (never
 * inside this call), then the node can be freed. A ledger fsync running on
 * the loop's threadpool may outlive both: it holds nothing of the node and
 * ends on its own (the ledger is synced again as it closes), so the loop
 * must run until it returns before uv_loop_close (which says UV_EBUSY
 * meanwhile). A second call only replaces nothing (ignored). */
void cs_node_stop(cs_node *n, void (*cb)(void *ctx), void *ctx);
void cs_node_free(cs_node *n);

/* ---- state and events ---- */

cs_node_state cs_node_get_state(const cs_node *n);
/* "Starting", "Joining", "PartOfNetwork", "Stopping", "Failed", "Retired",
 * "WaitingForRecoveryShares", "Recovering". */
const char *cs_node_state_name(const cs_node *n);
/* Why the node failed ("" unless Failed). */
const char *cs_node_failure(const cs_node *n);
/* True when the node serves client requests (part of the network). */
bool cs_node_is_open(const cs_node *n);
/* True when this node is the leader and accepts writes. */
bool cs_node_is_leader(const cs_node *n);

/* What changed. */
typedef struct cs_node_event {
    cs_node_state state;
    bool leader;        /* accepts writes */
    bool has_cert;      /* the node certificate exists (rpc can serve) */
    const char *reason; /* Failed: why; else "" */
} cs_node_event;

typedef void (*cs_node_watch_fn)(void *ctx, const cs_node_event *ev);
/*
 * Calls `fn` after every change of state, leadership or certificate, and
 * when a follower learns of another leader (cs_node_leader_rpc_address
 * says which) (on the loop, from a deferred call: never inside the call
 * that caused the change). At most CS_NODE_MAX_WATCHERS at once; BUSY
 * beyond.
 */
#define CS_NODE_MAX_WATCHERS 8
CS_MUST_CHECK consort_err cs_node_watch(cs_node *n, cs_node_watch_fn fn, void *ctx);
/* Stops calling it, from now on: also for an event being delivered to the
 * watchers right now (a watcher may unwatch another, whose owner may then
 * free it). A no-op if it is not watching. */
void cs_node_unwatch(cs_node *n, cs_node_watch_fn fn, void *ctx);
/*
 * Called when the node cannot go on safely in this process: libraft 0.15
 * truncates its in-memory log under in-flight requests after a failed log
 * write and crashes later (docs/security.md "Nonces that cannot repeat").
 * The node is Failed when it fires, with the reason in `why`; the process
 * should exit at once (consortd does, with status 1). Without one, the node
 * hands leadership over and stays Failed.
 */
typedef void (*cs_node_fatal_fn)(void *ctx, const char *why);
void cs_node_set_fatal(cs_node *n, cs_node_fatal_fn fn, void *ctx);

/* The leader's rpc_address, copied into out[CS_NODE_ADDR_MAX] ("" if unknown). */
void cs_node_leader_rpc_address(cs_node *n, char out[CS_NODE_ADDR_MAX]);
/* Hex node id (16 characters). */
const char *cs_node_id(const cs_node *n);

/* ---- identities and code (for the client-facing TLS server) ---- */
const cs_key *cs_node_key(const cs_node *n);
/* What the application ABI's sealing functions use: the node's sealed
 * store (node_seal.h); NULL before the node started. */
const struct cs_app_sealer *cs_node_app_sealer(cs_node *n);
/* What they use in the service scope (app_svcseal.h); NULL before the node
 * started. */
struct cs_app_svcseal *cs_node_app_svcseal(cs_node *n);
/* The node certificate issued by the service identity (NULL until trusted). */
const cs_x509 *cs_node_cert(const cs_node *n);
const cs_x509 *cs_node_service_cert(const cs_node *n);
/* The application module the node loaded and measured at start (NULL: none,
 * or not started). Borrowed; it lives until cs_node_free. */
consort_app *cs_node_app(cs_node *n);

/* ---- transactions ---- */

typedef struct cs_txid {
    uint64_t term;
    uint64_t seqno;
} cs_txid;

typedef enum cs_tx_status {
    CS_TX_UNKNOWN = 0,
    CS_TX_PENDING,
    CS_TX_COMMITTED,
    CS_TX_INVALID,
} cs_tx_status;

const char *cs_tx_status_name(cs_tx_status s);
/* Parses "<term>.<seqno>" (both decimal, >= 1). */
CS_MUST_CHECK consort_err cs_txid_parse(const char *s, cs_txid *out);

/* What a transaction function decides. */
typedef struct cs_tx_outcome {
    bool commit; /* false: discard the writes */
    bool has_claims;
    uint8_t claims_digest[32];
} cs_tx_outcome;

/*
 * Runs inside a transaction. Returns an error to abort (writes discarded).
 * It may be called more than once for one request (re-run after a conflict),
 * so it must not keep side effects outside `tx` and `out`.
 */
typedef consort_err (*cs_node_tx_fn)(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out);

/* The outcome of an asynchronous operation: its own code and message
 * (never the thread-local error), and for writes the transaction id. */
typedef struct cs_node_result {
    consort_err rc;
    cs_txid txid;        /* writes: zero when nothing was written */
    const char *message; /* "" on success; valid during the callback */
} cs_node_result;

typedef void (*cs_node_done_fn)(void *ctx, const cs_node_result *res);

/*
 * Executes a read-write transaction on this node, which must be the leader.
 * Returns CONSORT_OK, and then `done` fires exactly once, later (never
 * inside this call), also when the node stops:
 *   rc OK: committed (durable on a majority) with its txid; or `fn` wrote
 *          nothing or asked not to commit (zero txid);
 *   rc STATE: leadership was lost before the commit: the outcome is unknown
 *          (the txid says which transaction to ask /node/tx about), or the
 *          node stopped.
 * Or returns an error and `done` never fires: STATE (not the leader, or not
 * part of the network), NO_SPACE (the node is short of disk), BUSY (the
 * transaction conflicted again and again), or `fn`'s own error.
 */
CS_MUST_CHECK consort_err cs_node_write(cs_node *n, cs_node_tx_fn fn, void *fn_ctx,
                                        cs_node_done_fn done, void *done_ctx);
/*
 * Executes a read-only transaction over this node's COMMITTED state, on the
 * leader too: it never observes a write that is not committed
 * (docs/consistency.md). fn's writes are refused. Synchronous.
 */
CS_MUST_CHECK consort_err cs_node_read(cs_node *n, cs_node_tx_fn fn, void *fn_ctx);
/* cs_node_write for a governance transaction (an internal ledger entry:
 * every node re-reads the service's policy when it applies one). */
CS_MUST_CHECK consort_err cs_node_write_governance(cs_node *n, cs_node_tx_fn fn, void *fn_ctx,
                                                   cs_node_done_fn done, void *done_ctx);
/* Has the service been opened to users (docs/governance.md)? As of the
 * state this node applied. */
bool cs_node_service_open(const cs_node *n);
/* Changes whenever what governance decides may have changed: a governance
 * or membership transaction committed, a snapshot was installed, the node
 * started or recovered (each calls node_refresh_policy). What a caller read
 * from the governance maps (public:consort.*) through cs_node_read holds
 * while this stays the same: only those transactions write them. */
uint64_t cs_node_policy_generation(const cs_node *n);

/*
 * Waiting for this node to have applied a transaction (read-your-writes,
 * x-consort-min-txid) or to be allowed a linearizable read. The caller owns
 * the waiter's memory, which must stay valid until the callback fired or
 * cs_node_wait_cancel returned.
 */
typedef struct cs_node_waiter cs_node_waiter;
typedef void (*cs_node_wait_fn)(void *ctx, const cs_node_result *res);
struct cs_node_waiter { /* the node's; the caller only provides the memory */
    cs_node_waiter *next, *prev;
    uint64_t seqno;
    uint64_t deadline; /* uv_now() ms */
    cs_node_wait_fn fn;
    void *ctx;
    consort_err rc;
    cs_node_waiter **list; /* the node's list it is on (NULL: none) */
    bool firing;
    cs_defer_item defer;
};
/*
 * Calls `fn` once this node has applied seqno `txid.seqno` (rc OK; the
 * txid's own status is then cs_node_tx_status), or `timeout_ms` passed
 * (TIMEOUT), or the node stops (STATE). Later, never inside this call.
 */
void cs_node_wait_applied(cs_node *n, cs_node_waiter *w, cs_txid txid, uint64_t timeout_ms,
                          cs_node_wait_fn fn, void *ctx);
/*
 * Linearizable reads (docs/consistency.md): on the leader, confirms that it
 * still leads (a raft barrier, shared by the reads that wait for it) and
 * calls `fn` (rc OK) once the node has applied everything committed before
 * the read arrived, so a cs_node_read then sees every write acknowledged
 * before. STATE if this node does not lead (the caller forwards the read to
 * the leader), TIMEOUT, or STATE when the node stops.
 */
void cs_node_wait_linearizable(cs_node *n, cs_node_waiter *w, uint64_t timeout_ms,
                               cs_node_wait_fn fn, void *ctx);
/* Withdraws a waiter whose callback has not fired (no-op otherwise). */
void cs_node_wait_cancel(cs_node *n, cs_node_waiter *w);

cs_tx_status cs_node_tx_status(const cs_node *n, cs_txid txid);
/* The last committed (applied) txid. */
cs_txid cs_node_commit_txid(const cs_node *n);
/*
 * The receipt JSON for a committed transaction (docs/receipts.md).
 * NOT_FOUND: it does not exist and never will (Invalid); BUSY: it may still
 * commit, or no signature covers it yet (answer 202); STATE: committed before
 * this node's ledger starts (another node has it).
 */
CS_MUST_CHECK consort_err cs_node_receipt(cs_node *n, cs_txid txid, cs_buf *json);
/* The service identity's private key (NULL until the node holds it: a
 * joiner before its welcome). Signs handling statements (e2e/statement.h). */
const cs_key *cs_node_service_key(const cs_node *n);
/* The term of applied entry `seqno` (0 if this node does not know it). */
uint64_t cs_node_term_of(cs_node *n, uint64_t seqno);

/* JSON documents served under /node/ (appended to `out`). */
CS_MUST_CHECK consort_err cs_node_network_json(cs_node *n, cs_buf *out); /* service cert, nodes */
/* The service's members and users (committed state): {"members": [{"id":
 * hex SHA-256 of the certificate DER, "certificate": PEM}, ...]}, by id. */
CS_MUST_CHECK consort_err cs_node_members_json(cs_node *n, cs_buf *out);
CS_MUST_CHECK consort_err cs_node_users_json(cs_node *n, cs_buf *out);
CS_MUST_CHECK consort_err cs_node_state_json(cs_node *n,
                                             cs_buf *out); /* id, state, leader, txids */
CS_MUST_CHECK consort_err cs_node_quotes_json(cs_node *n, cs_buf *out); /* each node's evidence */
/* Each node's Raft role, platform, code id and evidence verdict (node_overview.c). */
CS_MUST_CHECK consort_err cs_node_overview_json(cs_node *n, cs_buf *out);
/* Prometheus text exposition of the node's counters. */
CS_MUST_CHECK consort_err cs_node_metrics_text(cs_node *n, cs_buf *out);

/* ---- users and members (KV maps public:consort.users / public:consort.members) ---- */

/* Is the certificate with this SHA-256 (DER) fingerprint a registered user / member? */
bool cs_node_is_user(cs_node *n, const uint8_t fingerprint[32]);
bool cs_node_is_member(cs_node *n, const uint8_t fingerprint[32]);
/* Is this certificate a node certificate of this service (for forwarded requests)? */
bool cs_node_is_service_node_cert(cs_node *n, const cs_x509 *cert);

/* ---- recovery (docs/recovery.md) ---- */

/*
 * What a governance transaction issues recovery shares from (node/gov_shares.h):
 * the ledger secret (*secret borrowed, CS_LEDGER_SECRET_LEN bytes, valid
 * while the node lives) and the service id (SHA-256 of the service
 * certificate's DER). STATE if the node holds no ledger secret or service
 * certificate (it has not joined, or waits for recovery shares).
 */
CS_MUST_CHECK consort_err cs_node_share_keys(const cs_node *n, const uint8_t **secret,
                                             uint8_t service_id[32]);

/* What became of a submitted recovery share (cs_node_recovery_submit). */
typedef struct cs_node_share_result {
    int status;    /* HTTP status: 200, or the refusal's */
    char code[40]; /* the refusal's error code, "" if accepted */
    char message[512];
    unsigned submitted, threshold; /* shares held, and needed */
    bool recovered;                /* the threshold was reached: the ledger secret rebuilt,
                                      the private state restored, the node takes over */
} cs_node_share_result;

/*
 * A member's signed recovery_share request (POST /gov/recovery/share) on a
 * node in state WaitingForRecoveryShares: checked and kept in memory
 * (docs/recovery.md "Submitting shares"); the threshold-th one makes the
 * node restore the private state and take over (synchronously, then
 * consensus). A refusal is CONSORT_OK with out->status set (409
 * NotRecovering on a node that is not waiting). An error is the node's
 * failure (the node is then Failed).
 */
CS_MUST_CHECK consort_err cs_node_recovery_submit(cs_node *n, cs_slice body, int64_t now,
                                                  cs_node_share_result *out);
/* GET /gov/recovery: the waiting node's recovery (recovery point, previous
 * identity, threshold, epoch, who holds shares, who submitted), or the
 * service's share wrapping and previous identities otherwise. */
CS_MUST_CHECK consort_err cs_node_recovery_json(cs_node *n, cs_buf *out);
/* GET /gov/recovery/share/{member}: {"member_id", "epoch", "encrypted_share"
 * (base64)}; NOT_FOUND if no share was issued to that member. */
CS_MUST_CHECK consort_err cs_node_recovery_share_json(cs_node *n, const char *member_id,
                                                      cs_buf *out);

#endif
