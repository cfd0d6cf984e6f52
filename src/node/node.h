/*
 * The node: one member of a consort service (DESIGN.md "A write, end to
 * end"; /work/notes/service.md). It wires the KV store, the ledger, the
 * Merkle tree, consensus over attested channels, the identities and the
 * attestation platform together. Client-facing HTTP endpoints (node/rpc.h)
 * are built on the functions below; nothing above this header touches
 * libraft, the ledger writer or the Merkle tree directly.
 *
 * Threading: everything runs on the node's libuv loop thread.
 */
#ifndef CS_NODE_NODE_H
#define CS_NODE_NODE_H

#include "attest/evidence.h"
#include "crypto/x509.h"
#include "store/kv.h"

#include <uv.h>

#define CS_NODE_PATH_MAX 1024
#define CS_NODE_ADDR_MAX 64
#define CS_NODE_MAX_LIST 64

typedef enum cs_node_mode {
    CS_NODE_START = 1, /* create a new service */
    CS_NODE_JOIN = 2,  /* join a running service by attesting to it */
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
    cs_node_mode mode;                   /* "start": {...} or "join": {...} */
    /* start: */
    uint8_t trusted_code_ids[CS_NODE_MAX_LIST]
                            [32]; /* "trusted_code_ids": [hex] (own code id is always added) */
    size_t trusted_code_id_count;
    char users[CS_NODE_MAX_LIST][CS_NODE_PATH_MAX]; /* "users": [PEM certificate files] */
    size_t user_count;
    char members[CS_NODE_MAX_LIST][CS_NODE_PATH_MAX]; /* "members": [PEM certificate files] */
    size_t member_count;
    char service_cert_out[CS_NODE_PATH_MAX]; /* "service_cert_out": where to write the service
                                                certificate */
    /* join: */
    char join_target[CS_NODE_ADDR_MAX];       /* "target": node_address of a node of the service */
    char service_cert_path[CS_NODE_PATH_MAX]; /* "service_cert": PEM the joiner expects (pinned) */
    /* tuning: */
    uint64_t sig_interval_tx;   /* "sig_interval_tx" (default 100) */
    uint64_t sig_interval_ms;   /* "sig_interval_ms" (default 100) */
    uint64_t snapshot_interval; /* "snapshot_interval" transactions (default 10000) */
    uint64_t chunk_size;        /* "ledger_chunk_bytes" (default 4 MiB) */
    uint64_t min_free_mib;      /* "min_free_mib": writes refused below this (default 16) */
    bool allow_debug;           /* "allow_debug_evidence" (default false) */
} cs_node_config;

/* Parses and validates a configuration file (unknown members are errors). */
CS_MUST_CHECK consort_err cs_node_config_load(const char *path, cs_node_config *cfg);
CS_MUST_CHECK consort_err cs_node_config_parse(cs_slice json, cs_node_config *cfg);

typedef struct cs_node cs_node;

/* Creates the node on `loop` (nothing runs until cs_node_start). */
CS_MUST_CHECK consort_err cs_node_new(uv_loop_t *loop, const cs_node_config *cfg, cs_node **out);
/*
 * Starts: loads or creates identities and sealed state, recovers the store
 * and Merkle tree from the ledger (and snapshot), starts consensus; for a
 * new service bootstraps it; for a joining node attests to join_target. The
 * node accepts client requests once cs_node_is_open() (see the state).
 */
CS_MUST_CHECK consort_err cs_node_start(cs_node *n);
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
/* Stops everything; `cb` fires when every handle is closed, then the node can be freed. */
void cs_node_stop(cs_node *n, void (*cb)(void *ctx), void *ctx);
void cs_node_free(cs_node *n);

/* "Starting", "Joining", "PartOfNetwork", "Stopping", "Failed". */
const char *cs_node_state_name(const cs_node *n);
/* True when the node serves client requests (part of the network). */
bool cs_node_is_open(const cs_node *n);
bool cs_node_is_leader(const cs_node *n);
/* The leader's rpc_address ("" if unknown). */
const char *cs_node_leader_rpc_address(const cs_node *n);
/* Hex node id (16 characters). */
const char *cs_node_id(const cs_node *n);

/* ---- identities (for the client-facing TLS server) ---- */
const cs_key *cs_node_key(const cs_node *n);
/* The node certificate issued by the service identity (NULL until trusted). */
const cs_x509 *cs_node_cert(const cs_node *n);
const cs_x509 *cs_node_service_cert(const cs_node *n);

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

/* Completion of a write: CONSORT_OK once committed (durable on a majority),
 * with its txid; else the reason (CONSORT_E_STATE: not leader / lost leadership). */
typedef void (*cs_node_done_fn)(void *ctx, consort_err rc, cs_txid txid);

/*
 * Executes a read-write transaction on this node, which must be the leader
 * (CONSORT_E_STATE otherwise: the caller forwards). If fn asks to commit and
 * wrote something, the transaction gets the next seqno, is applied locally,
 * replicated, and `done` fires on commit. If it wrote nothing (or asked not
 * to commit), `done` fires at once with CONSORT_OK and a zero txid.
 * `done` always fires exactly once (also when the node stops).
 */
CS_MUST_CHECK consort_err cs_node_write(cs_node *n, cs_node_tx_fn fn, void *fn_ctx,
                                        cs_node_done_fn done, void *done_ctx);
/* Executes a read-only transaction against this node's state (committed
 * and, on the leader, its own pending writes). fn's writes are refused. */
CS_MUST_CHECK consort_err cs_node_read(cs_node *n, cs_node_tx_fn fn, void *fn_ctx);

cs_tx_status cs_node_tx_status(const cs_node *n, cs_txid txid);
/* The last committed txid. */
cs_txid cs_node_commit_txid(const cs_node *n);
/*
 * The receipt JSON for a committed transaction (/work/notes/service.md
 * "Receipts"). CONSORT_E_NOT_FOUND: unknown or invalid txid;
 * CONSORT_E_BUSY: committed but no signature covers it yet (answer 202).
 */
CS_MUST_CHECK consort_err cs_node_receipt(cs_node *n, cs_txid txid, cs_buf *json);

/* JSON documents served under /node/ (appended to `out`). */
CS_MUST_CHECK consort_err cs_node_network_json(cs_node *n, cs_buf *out); /* service cert, nodes */
CS_MUST_CHECK consort_err cs_node_state_json(cs_node *n,
                                             cs_buf *out); /* id, state, leader, txids */
CS_MUST_CHECK consort_err cs_node_quotes_json(cs_node *n, cs_buf *out); /* each node's evidence */
/* Prometheus text exposition of the node's counters. */
CS_MUST_CHECK consort_err cs_node_metrics_text(cs_node *n, cs_buf *out);

/* ---- users and members (KV maps public:consort.users / public:consort.members) ---- */

/* Is the certificate with this SHA-256 (DER) fingerprint a registered user / member? */
bool cs_node_is_user(cs_node *n, const uint8_t fingerprint[32]);
bool cs_node_is_member(cs_node *n, const uint8_t fingerprint[32]);
/* Is this certificate a node certificate of this service (for forwarded requests)? */
bool cs_node_is_service_node_cert(cs_node *n, const cs_x509 *cert);

#endif
