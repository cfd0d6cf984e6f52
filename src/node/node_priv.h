/*
 * The node's internals, shared by the node_*.c files (not part of the node
 * API, node.h). One struct cs_node; each file owns one responsibility:
 *
 *   node.c          lifecycle: new, start, stop, free, state, accessors
 *   node_config.c   the JSON configuration
 *   node_seal.c     sealing key and sealed state (sealed/sealed.bin)
 *   node_identity.c node key, service identity, certificates, ids
 *   node_platform.c attester, verification options, policy from the KV
 *   node_recover.c  rebuilding store, Merkle tree and indexes from the ledger
 *   node_index.c    per-seqno terms, ledger positions, signature index, status
 *   node_fsm.c      consensus FSM: apply, snapshot, restore
 *   node_snapshot.c the snapshot format (encrypted) and its checks
 *   node_exec.c     cs_node_write / cs_node_read, the pending queue, signatures
 *   node_leader.c   leadership changes, barrier, genesis
 *   node_net.c      attested listener, raft connector
 *   node_join.c     the join protocol (both sides)
 *   node_receipt.c  receipts, tx status
 *   node_json.c     the /node/ documents and metrics
 *
 * Everything runs on the node's loop thread.
 */
#ifndef CS_NODE_NODE_PRIV_H
#define CS_NODE_NODE_PRIV_H

#include "attest/policy.h"
#include "attest/virtual.h"
#include "consensus/consensus.h"
#include "net/attested.h"
#include "node/node.h"
#include "store/ledger.h"

#define NODE_LOG "node"

/* Internal KV maps (service.md, node.md "Start"). */
#define NODE_MAP_NODES    "public:consort.nodes"
#define NODE_MAP_CODE_IDS "public:consort.code_ids"
#define NODE_MAP_USERS    "public:consort.users"
#define NODE_MAP_MEMBERS  "public:consort.members"
#define NODE_MAP_SERVICE  "public:consort.service"
#define NODE_SERVICE_KEY  "cert"
/* Trust anchors for peers' evidence (key: hex SHA-256 of the DER, value:
 * DER) and the evidence policy (key "allow_debug_evidence": "true" or
 * "false"): set at genesis, never read from a host file afterwards. */
#define NODE_MAP_ANCHORS "public:consort.trust_anchors"
#define NODE_MAP_POLICY  "public:consort.policy"

/* A transaction is re-run at most this many times after conflicts. */
#define NODE_MAX_RETRIES 8

typedef enum node_state {
    NODE_STARTING = 0,
    NODE_JOINING,
    NODE_OPEN, /* "PartOfNetwork" */
    NODE_STOPPING,
    NODE_FAILED,
} node_state;

/* One transaction the leader executed and submitted, not yet applied. */
typedef struct node_pending {
    struct node_pending *next;
    uint64_t seqno;
    uint64_t term;
    cs_buf entry;         /* the ledger entry bytes as submitted */
    cs_node_done_fn done; /* NULL for signature entries */
    void *done_ctx;
} node_pending;

/* Per-seqno facts the node keeps in memory (node_index.c). */
typedef cs_ledger_term_run node_term_run;

typedef struct node_index {
    uint64_t base;         /* first seqno held in `offsets` (ledger start) */
    uint64_t *offsets;     /* frame offset within its chunk, per seqno >= base */
    uint64_t *chunk_first; /* first seqno of each chunk, ascending */
    size_t offset_count, offset_cap;
    size_t chunk_count, chunk_cap;
    uint64_t chunk_bytes; /* bytes in the current chunk */
    bool chunk_closing;   /* the next entry starts a new chunk */
    node_term_run *terms; /* runs of equal terms, ascending */
    size_t term_count, term_cap;
    uint64_t *sigs; /* seqnos of signature entries, ascending */
    size_t sig_count, sig_cap;
} node_index;

typedef struct node_metrics {
    uint64_t writes_committed;
    uint64_t writes_failed;
    uint64_t write_conflicts;
    uint64_t entries_applied;
    uint64_t signatures;
    uint64_t snapshots_taken;
    uint64_t snapshots_restored;
    uint64_t joins_accepted;
    uint64_t joins_refused;
    uint64_t writes_refused_no_space;
} node_metrics;

typedef struct node_join node_join; /* node_join.c */

/* A certificate already found to be issued by this service (cs_node_is_service_node_cert). */
typedef struct node_issued_entry {
    uint8_t fingerprint[32];
    char node_id[CS_NODE_ID_LEN + 1];
    int64_t not_after;
    bool used;
} node_issued_entry;

#define NODE_ISSUED_CACHE 16

struct cs_node {
    uv_loop_t *loop;
    cs_node_config cfg;
    node_issued_entry issued[NODE_ISSUED_CACHE];
    unsigned issued_next;
    node_state state;
    char failure[CS_ERRMSG_MAX];

    /* identity */
    char node_id[CS_NODE_ID_LEN + 1];
    uint64_t raft_id;
    uint8_t code_id[32];
    struct cs_node_code *code; /* node_code.c: the loaded module and what code_id measured */
    cs_key *node_key;
    cs_x509 *self_cert;  /* self-signed, for attested channels before the join */
    cs_x509 *node_cert;  /* issued by the service identity (NULL until trusted) */
    cs_key *service_key; /* private (every trusted node holds it) */
    cs_x509 *service_cert;
    uint8_t ledger_secret[CS_LEDGER_SECRET_LEN];
    bool has_secret;
    cs_ledger_keys keys; /* derived from ledger_secret (node_keys_set) */
    uint8_t seal_key[32];
    /* sealed service facts (node_seal.c) */
    uint64_t hwm;        /* high-water mark: a signed seqno the ledger durably holds */
    cs_buf genesis;      /* genesis inputs (CBOR, node_leader.c) until genesis commits */
    cs_buf own_evidence; /* our evidence envelope bound to our key, empty nonce */

    /* platform and policy */
    cs_virtual_platform *vplat;
    struct cs_tpm_attester *tpm; /* platform tpm (node_tpm.c) */
    cs_blob_list anchors;
    cs_verify_opts verify_opts;
    cs_policy policy;      /* peers: code ids from the KV */
    cs_policy join_policy; /* a joiner checking its target: any code id */

    /* store */
    cs_kv_store *kv;
    cs_merkle_tree *tree; /* leaves of every entry applied, plus the leader's pending ones */
    cs_ledger_writer *ledger;
    node_index idx;
    uint64_t applied;      /* seqno of the last applied (committed) entry */
    uint64_t applied_term; /* its term */
    cs_buf last_sig;       /* bytes of the last signature entry applied (or restored) */
    uint64_t applied_sig;  /* its seqno (0: none) */
    char ledger_dir[CS_NODE_PATH_MAX];
    char snapshot_dir[CS_NODE_PATH_MAX];

    /* consensus */
    cs_consensus *cons;
    bool leader;          /* acting as leader (pending queue may be non-empty) */
    bool writes_open;     /* leader whose barrier has been applied */
    uint64_t lead_term;   /* the term in which we lead */
    uint64_t closed_term; /* writes never reopen in this term (a raft write failed) */
    bool barrier_inflight;
    bool genesis_sent;
    bool recovered; /* store, tree and indexes rebuilt from the ledger */

    /* the leader's queue */
    node_pending *head, *tail;
    size_t pending_count;
    uint64_t next_seqno;     /* leader: seqno of the next entry it creates */
    uint64_t last_sig_seqno; /* last signature entry created or applied */
    uint64_t unsigned_tx;    /* entries created since the last signature */
    uv_timer_t sig_timer;
    bool sig_timer_init;

    /* network */
    cs_attested_config *raft_acfg; /* our raft id, node cert */
    cs_attested_config *ctl_acfg;  /* raft id 0: join/control channels */
    cs_listener *listener;
    node_join *join;       /* joiner: the attempt in progress */
    unsigned net_inflight; /* connector attempts and control channels not yet called back */
    bool join_busy;        /* leader: a join being admitted (one at a time) */

    cs_node_fatal_fn fatal;
    void *fatal_ctx;

    node_metrics m;
    uint64_t space_checked_at; /* uv_now of the last free-space check */
    bool space_ok;

    /* stop */
    int closing; /* outstanding asynchronous closes */
    void (*stop_cb)(void *ctx);
    void *stop_ctx;
    bool started;
};

/* ---- node.c ---- */
/* Stops the node after an unrecoverable error (logged with the reason). */
void node_fail(cs_node *n, consort_err rc, const char *what);
/* Sets the state and logs the change. */
void node_set_state(cs_node *n, node_state s);
/* One asynchronous close finished (handles, consensus): the last one ends the stop. */
void node_closed_one(cs_node *n);
/* A connect attempt or control stream counted in net_inflight finished. */
void node_net_done(cs_node *n);

/* ---- node_seal.c ---- */
CS_MUST_CHECK consort_err node_seal_derive_key(cs_node *n);
/* Writes sealed/sealed.bin from the node's secrets. */
CS_MUST_CHECK consort_err node_seal_save(cs_node *n);
/* Loads sealed/sealed.bin into the node; NOT_FOUND if there is none. */
CS_MUST_CHECK consort_err node_seal_load(cs_node *n);
/* Sets the ledger secret (copied unless it is n->ledger_secret) and its keys. */
void node_keys_set(cs_node *n, const uint8_t secret[CS_LEDGER_SECRET_LEN]);
/* Raises the sealed high-water mark to `seqno` (no-op if not higher) and
 * seals; on failure the mark is unchanged. */
CS_MUST_CHECK consort_err node_seal_hwm(cs_node *n, uint64_t seqno);

/* ---- node_identity.c ---- */
/* Creates a fresh node key (raft id never 0) and a self-signed certificate. */
CS_MUST_CHECK consort_err node_identity_create(cs_node *n);
/* Derives node id and raft id from the node key; makes the self-signed cert. */
CS_MUST_CHECK consort_err node_identity_derive(cs_node *n);
/* Creates the service key, certificate and ledger secret (mode start). */
CS_MUST_CHECK consort_err node_identity_create_service(cs_node *n);
/* A node certificate for `subject` issued by the service identity, with the
 * host of `rpc_address` (and "localhost") as subjectAltName. */
CS_MUST_CHECK consort_err node_identity_issue(cs_node *n, const cs_key *subject,
                                              const char *node_id, const char *rpc_address,
                                              cs_x509 **out);
/* Writes node_cert.pem and service_cert.pem into data_dir (public copies). */
CS_MUST_CHECK consort_err node_identity_write_public(cs_node *n);
/* The raft id for a node id (16 hex digits): its big-endian value. */
CS_MUST_CHECK consort_err node_raft_id_of(const char *node_id, uint64_t *out);

/* ---- node_platform.c ---- */
CS_MUST_CHECK consort_err node_platform_open(cs_node *n);
void node_platform_close(cs_node *n);
/* The attester for attested channels (cs_attester_fn). */
consort_err node_platform_attest(void *ctx, const cs_key *key, cs_slice nonce, cs_evidence *out);
/* Rebuilds n->policy from public:consort.code_ids (keeps the old one on error). */
void node_platform_refresh_policy(cs_node *n);

/* ---- node_index.c ---- */
void node_index_cleanup(node_index *x);
void node_index_reset(node_index *x, uint64_t base);
/* Records an entry appended to the ledger (frame of `entry_len` bytes). */
CS_MUST_CHECK consort_err node_index_add(node_index *x, uint64_t seqno, uint64_t term,
                                         bool signature, size_t entry_len, uint64_t chunk_size);
/* Term runs only (snapshot restore: entries not in our ledger). */
CS_MUST_CHECK consort_err node_index_add_term(node_index *x, uint64_t seqno, uint64_t term);
CS_MUST_CHECK consort_err node_index_add_sig(node_index *x, uint64_t seqno);
/* The term of the entry `seqno` (0 if unknown). */
uint64_t node_index_term(const node_index *x, uint64_t seqno);
/* The terms digest (store/ledger.h) of entries 1 .. tree_size: the runs the
 * index holds for entries up to `applied`, then, for entries applied+1 ..
 * tree_size (a leader's pending ones), `pending_term`. */
CS_MUST_CHECK consort_err node_index_terms_digest(const node_index *x, uint64_t tree_size,
                                                  uint64_t applied, uint64_t pending_term,
                                                  uint8_t out[CS_LEDGER_DIGEST_LEN]);
/* The first signature seqno > seqno (0 if none). */
uint64_t node_index_sig_after(const node_index *x, uint64_t seqno);
/* Reads the bytes of entry `seqno` from the ledger files into `out`. */
CS_MUST_CHECK consort_err node_index_read_entry(const cs_node *n, uint64_t seqno, cs_buf *out);

/* ---- node_recover.c ---- */
/* Opens the ledger and rebuilds KV, Merkle tree and indexes from it: every
 * entry authenticated, entries after the last signature entry cut (they
 * come back through consensus), the sealed high-water mark reached. */
CS_MUST_CHECK consort_err node_recover(cs_node *n);
/* Authenticates a committed entry (store/ledger.h cs_ledger_entry_open),
 * checks a signature entry (node_check_signature) and applies the write
 * sets to the KV and the leaf to the tree (follower and recovery path;
 * the leader already holds its own entries). */
CS_MUST_CHECK consort_err node_apply_entry_state(cs_node *n, const cs_ledger_entry *e);
/* Records a committed entry that reached the ledger: applied seqno, term,
 * indexes, last signature, undo compaction. */
CS_MUST_CHECK consort_err node_note_applied(cs_node *n, const cs_ledger_entry *e);
/* The state a signature entry states for store `kv`: HKDF-SHA256(ikm =
 * ledger secret, salt = "", info = "consort state digest v2" || the store's
 * state digest (docs/kv.md)), 32 bytes. */
CS_MUST_CHECK consort_err node_state_digest(const cs_node *n, const cs_kv_store *kv,
                                            uint8_t out[CS_KV_STATE_DIGEST_LEN]);
/* Checks a signature entry: its root against `t` (which must hold its
 * tree_size leaves or more), its state digest against `state` (the store
 * after entries 1 .. tree_size), its terms digest against the runs of `x`,
 * both signatures and the node certificate against the service
 * certificate. BAD_PROOF naming what disagrees, or the signature errors. */
CS_MUST_CHECK consort_err node_check_signature(cs_node *n, const cs_ledger_entry *e,
                                               const cs_merkle_tree *t,
                                               const uint8_t state[CS_KV_STATE_DIGEST_LEN],
                                               const node_index *x);
/* Opens the ledger writer on n->ledger_dir starting at `start` if empty. */
CS_MUST_CHECK consort_err node_open_ledger(cs_node *n, uint64_t start);

/* ---- node_fsm.c ---- */
cs_fsm node_fsm(cs_node *n);

/* ---- node_snapshot.c, node_snapshot_make.c ---- */
/* Snapshot bytes: magic || nonce || AES-256-GCM, the key derived with this
 * info from the ledger secret (node_snapshot.c has the format). */
#define NODE_SNAP_MAGIC "CSSNAP02"
#define NODE_SNAP_INFO  "consort snapshot v2"
CS_MUST_CHECK consort_err node_snapshot_key(const cs_node *n, uint8_t key[32]);
/* The whole snapshot at once, on the loop (tests, tools). */
CS_MUST_CHECK consort_err node_snapshot_make(cs_node *n, cs_buf *out);
/* The three steps of an asynchronous snapshot (consensus/fsm.h): begin on
 * the loop (BUSY before the first signature entry; *defer set when the
 * job reads the node's state from the worker, i.e. when not leading), seal
 * on any thread, end on the loop (always after a successful begin). The
 * snapshot's checkpoint is the last signature entry applied, its tail the
 * entries applied after it. */
CS_MUST_CHECK consort_err node_snapshot_begin(cs_node *n, void **job, bool *defer);
CS_MUST_CHECK consort_err node_snapshot_seal(void *job, cs_buf *out);
void node_snapshot_end(cs_node *n, void *job, consort_err rc);
/* Checks a snapshot (untrusted bytes) in full, then installs it: replaces
 * the node's state if the node is behind its checkpoint, else checks that
 * it agrees and applies the entries of its tail the node lacks. From disk
 * (a restart): only the checkpoint, the ledger holds the rest. */
CS_MUST_CHECK consort_err node_snapshot_install(cs_node *n, cs_slice data, bool from_disk);
/* The latest snapshot saved in snapshots/ (NOT_FOUND if none). */
CS_MUST_CHECK consort_err node_snapshot_load_latest(cs_node *n, uint64_t *seqno);

/* ---- node_exec.c ---- */
/* cs_node_write with the ledger entry kind (internal transactions). */
CS_MUST_CHECK consort_err node_exec(cs_node *n, cs_ledger_kind kind, cs_node_tx_fn fn, void *fn_ctx,
                                    cs_node_done_fn done, void *done_ctx);
/* Appends a signature entry if there are unsigned entries. */
CS_MUST_CHECK consort_err node_exec_signature(cs_node *n);
/* Fails every pending request with `rc` and rolls KV and tree back to `applied`. */
void node_exec_abandon(cs_node *n, consort_err rc, const char *why);
CS_MUST_CHECK consort_err node_exec_timer_start(cs_node *n);
void node_exec_timer_close(cs_node *n);
/* True if the data directory's file system has room for more writes. */
bool node_exec_has_space(cs_node *n);

/* ---- node_leader.c ---- */
void node_leader_on_state(void *ctx, cs_raft_state state, uint64_t term);
/* Opens the node (PartOfNetwork) once its own record is in the KV. */
void node_check_open(cs_node *n);

/* ---- node_genesis.c ---- */
/* First start of a new service: the genesis inputs from the configuration
 * (and the platform's anchors) into n->genesis, to be sealed. */
CS_MUST_CHECK consort_err node_genesis_prepare(cs_node *n);
/* The genesis transaction (cs_node_tx_fn) from the sealed inputs. */
consort_err node_genesis_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out);
/* The first signature entry was applied: drops the inputs, seals the
 * high-water mark. */
CS_MUST_CHECK consort_err node_genesis_signed(cs_node *n, uint64_t sig_seqno);

/* ---- node_net.c ---- */
CS_MUST_CHECK consort_err node_net_configs(cs_node *n);
CS_MUST_CHECK consort_err node_net_listen(cs_node *n);
cs_raft_connector node_net_connector(cs_node *n);
/* True if `cert` is a node certificate issued by this service's identity. */
bool node_net_is_service_issued(cs_node *n, const cs_x509 *cert);
/* Reads a node record from the KV (public:consort.nodes); NOT_FOUND if absent. */
typedef struct node_record {
    uint64_t raft_id;
    char node_address[CS_NODE_ADDR_MAX];
    char rpc_address[CS_NODE_ADDR_MAX];
    char status[32];
    cs_buf cert; /* DER */
    uint8_t code_id[32];
    cs_buf evidence; /* envelope */
} node_record;
void node_record_init(node_record *r);
void node_record_cleanup(node_record *r);
CS_MUST_CHECK consort_err node_record_encode(const node_record *r, cs_buf *out);
CS_MUST_CHECK consort_err node_record_decode(cs_slice in, node_record *r);
/* The record of `node_id` as this node's KV sees it. */
CS_MUST_CHECK consort_err node_record_get(cs_node *n, const char *node_id, node_record *r);

/* Puts this node's own record (status Trusted) into public:consort.nodes. */
CS_MUST_CHECK consort_err node_put_own_record(cs_node *n, cs_kv_tx *tx);

/* ---- node_join.c ---- */
/* Joiner: starts attesting to join_target. */
CS_MUST_CHECK consort_err node_join_start(cs_node *n);
/* Target/leader: a control channel arrived (ownership of `s` taken). */
void node_join_accept(cs_node *n, cs_stream *s, const cs_attested_peer *peer);
void node_join_close(cs_node *n);
void node_join_free(cs_node *n);

/* ---- node_code.c ---- */
/* Loads the module, warms up, measures the code id (n->code, n->code_id). */
CS_MUST_CHECK consort_err node_code_start(cs_node *n);
/* Before the node produces evidence: refuses (logged once per reason) if the
 * process maps code the code id does not cover (node_code.h). */
CS_MUST_CHECK consort_err node_code_check(cs_node *n);
/* Frees n->code and the module (cs_node_free). */
void node_code_free(cs_node *n);

/* ---- node.c: after join or recovery ---- */
/* Creates and starts consensus (bootstrapping a new service if `bootstrap`). */
CS_MUST_CHECK consort_err node_start_consensus(cs_node *n, bool bootstrap);

#endif
