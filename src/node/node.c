/*
 * The node's lifecycle (node.h): create, start (identities and sealed
 * state, platform, recovery, consensus or join), stop, free; its state and
 * accessors. The other responsibilities live in node_*.c (node_priv.h).
 */
#include "node/node_priv.h"

#include "attest/code_id.h"
#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>

static const char *state_names[] = {"Starting", "Joining", "PartOfNetwork", "Stopping", "Failed"};

const char *cs_node_state_name(const cs_node *n)
{
    return state_names[n->state];
}

void node_set_state(cs_node *n, node_state s)
{
    if (n->state == s)
        return;
    cs_log_info(NODE_LOG, "node %s: %s -> %s", n->node_id, state_names[n->state], state_names[s]);
    n->state = s;
}

void node_fail(cs_node *n, consort_err rc, const char *what)
{
    if (n->state == NODE_FAILED)
        return;
    snprintf(n->failure, sizeof n->failure, "%s: %s (%s)", what, consort_errmsg(),
             consort_err_name(rc));
    cs_log_error(NODE_LOG, "node %s FAILED: %s", n->node_id, n->failure);
    n->writes_open = false;
    if (n->state != NODE_STOPPING)
        n->state = NODE_FAILED;
}

static void maybe_stopped(cs_node *n)
{
    if (n->state != NODE_STOPPING || n->closing != 0 || n->net_inflight != 0 || n->stop_cb == NULL)
        return;
    void (*cb)(void *) = n->stop_cb;
    n->stop_cb = NULL;
    cb(n->stop_ctx);
}

void node_closed_one(cs_node *n)
{
    n->closing--;
    maybe_stopped(n);
}

void node_net_done(cs_node *n)
{
    n->net_inflight--;
    maybe_stopped(n);
}

consort_err cs_node_new(uv_loop_t *loop, const cs_node_config *cfg, cs_node **out)
{
    CS_ENSURE(loop != NULL && cfg != NULL && out != NULL, CONSORT_E_INVALID_ARGUMENT,
              "node: loop and configuration required");
    cs_node *n = cs_calloc(1, sizeof *n);
    CS_ENSURE(n != NULL, CONSORT_E_NOMEM, "node");
    n->loop = loop;
    n->cfg = *cfg;
    if (n->cfg.chunk_size == 0)
        n->cfg.chunk_size = CS_LEDGER_CHUNK_SIZE_DEFAULT;
    if (n->cfg.sig_interval_tx == 0)
        n->cfg.sig_interval_tx = 100;
    if (n->cfg.sig_interval_ms == 0)
        n->cfg.sig_interval_ms = 100;
    if (n->cfg.snapshot_interval == 0)
        n->cfg.snapshot_interval = 10000;
    if (n->cfg.min_free_mib == 0)
        n->cfg.min_free_mib = 16;
    n->space_ok = true;
    snprintf(n->node_id, sizeof n->node_id, "(new)");
    cs_buf_init(&n->own_evidence, CS_EVIDENCE_MAX_BYTES);
    cs_buf_init(&n->last_sig, CS_LEDGER_ENTRY_MAX);
    cs_buf_init(&n->genesis, (size_t)4 << 20);
    cs_blob_list_init(&n->anchors);
    cs_policy_init(&n->policy);
    cs_policy_init(&n->join_policy);
    consort_err rc = cs_path_join(n->ledger_dir, sizeof n->ledger_dir, cfg->data_dir, "ledger");
    if (rc == CONSORT_OK)
        rc = cs_path_join(n->snapshot_dir, sizeof n->snapshot_dir, cfg->data_dir, "snapshots");
    if (rc == CONSORT_OK)
        rc = cs_kv_store_new(NULL, &n->kv);
    if (rc == CONSORT_OK) /* signature entries repeat what they sign: not state */
        rc = cs_kv_store_exclude_from_digest(n->kv, CS_SLICE_LIT(CS_LEDGER_SIG_MAP));
    if (rc == CONSORT_OK)
        rc = cs_merkle_new(&n->tree);
    if (rc != CONSORT_OK) {
        cs_node_free(n);
        return cs_err_context(rc, "node");
    }
    *out = n;
    return CONSORT_OK;
}

static bool count_node(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    (void)value;
    (*(size_t *)ctx)++;
    return true;
}

/* True if the service's store knows no node but this one: raft then makes
 * it leader at start without an election, in its old term, unless it moves
 * to a new one (consensus.h cs_consensus_new_term). */
static bool node_lone_voter(cs_node *n)
{
    cs_kv_tx *tx;
    if (cs_kv_tx_begin(n->kv, &tx) != CONSORT_OK)
        return false;
    size_t count = 0;
    bool others = false;
    consort_err rc = cs_kv_foreach(tx, CS_SLICE_LIT(NODE_MAP_NODES), count_node, &count);
    if (rc == CONSORT_OK)
        others = count > 1;
    cs_kv_tx_free(tx);
    cs_err_clear();
    return rc == CONSORT_OK && !others;
}

consort_err node_start_consensus(cs_node *n, bool bootstrap)
{
    if (!n->recovered) {
        CS_TRY_CTX(node_recover(n), "recovery");
        n->recovered = true;
    }
    char dir[CS_NODE_PATH_MAX + 8];
    CS_TRY(cs_path_join(dir, sizeof dir, n->cfg.data_dir, "raft"));
    unsigned threshold = (unsigned)n->cfg.snapshot_interval;
    const cs_consensus_opts o = {.loop = n->loop,
                                 .id = n->raft_id,
                                 .address = n->cfg.node_address,
                                 .data_dir = dir,
                                 .fsm = node_fsm(n),
                                 .connector = node_net_connector(n),
                                 .snapshot_threshold = threshold,
                                 .snapshot_trailing = threshold < 256 ? threshold / 2 : 0,
                                 .pre_vote = true,
                                 .on_state = node_leader_on_state,
                                 .on_state_ctx = n};
    if (!bootstrap && cs_consensus_has_state(dir) && node_lone_voter(n)) {
        /* before raft reads its metadata (raft_init) */
        uint64_t term = 0;
        CS_TRY_CTX(cs_consensus_new_term(dir, n->raft_id, &term), "consensus");
        cs_log_info(NODE_LOG, "node %s: the only voter: starting in a new term %llu", n->node_id,
                    (unsigned long long)term);
    }
    CS_TRY_CTX(cs_consensus_new(&o, &n->cons), "consensus");
    consort_err rc = CONSORT_OK;
    if (bootstrap) { /* only the start that created the service identity */
        const cs_raft_member me = {
            .id = n->raft_id, .address = n->cfg.node_address, .role = CS_RAFT_VOTER};
        rc = cs_consensus_bootstrap(n->cons, &me, 1);
    }
    if (rc == CONSORT_OK)
        rc = cs_consensus_start(n->cons);
    if (rc != CONSORT_OK) {
        cs_consensus_close(n->cons, NULL, NULL);
        n->cons = NULL;
        return rc;
    }
    node_check_open(n);
    return CONSORT_OK;
}

/* First start: a new node key and, for a new service, its identity and
 * genesis inputs (the only time the configuration's "start" section is
 * read). Sealed once the platform is open (node_seal.c). */
static consort_err first_start(cs_node *n, bool creating)
{
    CS_TRY(node_identity_create(n));
    if (creating) {
        CS_TRY(node_identity_create_service(n));
        CS_TRY(node_identity_issue(n, n->node_key, n->node_id, n->cfg.rpc_address, &n->node_cert));
    }
    cs_log_info(NODE_LOG, "node %s: new node identity (raft id %llu)", n->node_id,
                (unsigned long long)n->raft_id);
    return CONSORT_OK;
}

/*
 * docs/security.md "One service, one genesis": raft is bootstrapped only
 * by the start that creates the service identity, and a node that belongs
 * to a service never runs without the raft state it had (a copy of its
 * data directory with raft/ removed could otherwise vote again in terms it
 * voted in, or start a second service under the same identity).
 */
static consort_err check_raft_state(cs_node *n, bool creating, bool member)
{
    char dir[CS_NODE_PATH_MAX + 8];
    CS_TRY(cs_path_join(dir, sizeof dir, n->cfg.data_dir, "raft"));
    bool has = cs_consensus_has_state(dir);
    if (creating)
        CS_ENSURE(!has, CONSORT_E_STATE,
                  "refusing to create a service: %s already holds raft state without a sealed "
                  "identity (use an empty data directory)",
                  dir);
    else if (member)
        CS_ENSURE(has, CONSORT_E_STATE,
                  "node %s has a sealed identity but no raft state (%s): refusing to start (a "
                  "copied or partly deleted data directory could vote again or fork the "
                  "service); to serve again, start from an empty data directory and join "
                  "under a fresh identity",
                  n->node_id, dir);
    else
        CS_ENSURE(!has, CONSORT_E_STATE,
                  "node %s has not joined a service, yet %s holds raft state: refusing to "
                  "start (a mixed-up data directory)",
                  n->node_id, dir);
    return CONSORT_OK;
}

/* A joiner pins the service certificate it expects (join.service_cert). */
static consort_err load_pinned(cs_node *n)
{
    cs_x509 *pinned;
    CS_TRY_CTX(cs_x509_load_file(n->cfg.service_cert_path, &pinned), "pinned service certificate");
    if (n->service_cert != NULL) {
        uint8_t a[32], b[32];
        consort_err rc = cs_x509_fingerprint(pinned, a);
        if (rc == CONSORT_OK)
            rc = cs_x509_fingerprint(n->service_cert, b);
        cs_x509_free(pinned);
        CS_TRY(rc);
        CS_ENSURE(memcmp(a, b, 32) == 0, CONSORT_E_BAD_CERTIFICATE,
                  "%s is not the certificate of the service this node belongs to",
                  n->cfg.service_cert_path);
        return CONSORT_OK;
    }
    n->service_cert = pinned;
    return CONSORT_OK;
}

static consort_err start(cs_node *n)
{
    CS_TRY_CTX(cs_mkdir_p(n->cfg.data_dir, 0700), "data_dir %s", n->cfg.data_dir);
    CS_ENSURE(n->cfg.platform == CS_PLATFORM_VIRTUAL || n->cfg.platform == CS_PLATFORM_TPM,
              CONSORT_E_UNSUPPORTED, "platform %s: not supported by the node (docs/operating.md)",
              cs_platform_name(n->cfg.platform));
    CS_TRY(node_code_start(n)); /* module loaded from sealed bytes, then measured */
    CS_TRY(node_seal_derive_key(n));
    consort_err rc = node_seal_load(n);
    bool fresh = rc == CONSORT_E_NOT_FOUND;
    if (!fresh)
        CS_TRY(rc);
    bool creating = fresh && n->cfg.mode == CS_NODE_START;
    if (fresh)
        CS_TRY(first_start(n, creating));
    else if (n->cfg.mode == CS_NODE_START && n->has_secret)
        cs_log_info(NODE_LOG,
                    "node %s: restart of a service member: the configuration's \"start\" "
                    "section is ignored (the service's policy lives in its store)",
                    n->node_id);
    if (n->cfg.mode == CS_NODE_JOIN)
        CS_TRY(load_pinned(n));
    CS_TRY(node_platform_open(n));
    if (creating)
        CS_TRY(node_genesis_prepare(n));
    if (fresh)
        CS_TRY(node_seal_save(n));
    CS_TRY(node_identity_write_public(n));
    CS_TRY(node_net_configs(n));
    CS_TRY(node_exec_timer_start(n));
    char code_hex[65];
    cs_hex_encode(CS_SLICE(n->code_id, 32), code_hex);
    cs_log_info(NODE_LOG, "node %s: code id %s, %s", n->node_id, code_hex,
                fresh ? "first start" : "restart from sealed state");
    bool member = n->node_cert != NULL && n->has_secret;
    CS_TRY(check_raft_state(n, creating, member));
    if (!member) {
        node_set_state(n, NODE_JOINING);
        return node_join_start(n);
    }
    /* the store (and with it the service's policy) before any peer is heard */
    CS_TRY_CTX(node_recover(n), "recovery");
    n->recovered = true;
    CS_TRY(node_net_listen(n));
    return node_start_consensus(n, creating);
}

consort_err cs_node_start(cs_node *n)
{
    CS_ENSURE(!n->started, CONSORT_E_STATE, "node already started");
    n->started = true;
    consort_err rc = start(n);
    if (rc != CONSORT_OK)
        node_fail(n, rc, "start");
    return rc;
}

static void consensus_closed(void *ctx)
{
    node_closed_one(ctx);
}

void cs_node_stop(cs_node *n, void (*cb)(void *ctx), void *ctx)
{
    if (n->state == NODE_STOPPING) {
        return;
    }
    n->stop_cb = cb;
    n->stop_ctx = ctx;
    n->closing++; /* held until everything below was asked to close */
    node_set_state(n, NODE_STOPPING);
    node_exec_abandon(n, CONSORT_E_STATE, "node stopping");
    n->writes_open = false;
    cs_listener_close(n->listener);
    n->listener = NULL;
    node_join_close(n);
    node_exec_timer_close(n);
    if (n->cons != NULL) {
        n->closing++;
        cs_consensus *c = n->cons;
        cs_consensus_close(c, consensus_closed, n);
    }
    node_closed_one(n);
}

void cs_node_free(cs_node *n)
{
    if (n == NULL)
        return;
    n->cons = NULL; /* freed by its close */
    cs_ledger_writer_free(n->ledger);
    cs_kv_store_free(n->kv);
    cs_merkle_free(n->tree);
    node_index_cleanup(&n->idx);
    node_join_free(n);
    cs_attested_config_free(n->raft_acfg);
    cs_attested_config_free(n->ctl_acfg);
    node_platform_close(n);
    cs_key_free(n->node_key);
    cs_key_free(n->service_key);
    cs_x509_free(n->self_cert);
    cs_x509_free(n->node_cert);
    cs_x509_free(n->service_cert);
    cs_buf_cleanup(&n->own_evidence);
    cs_buf_cleanup(&n->last_sig);
    cs_buf_cleanup(&n->genesis);
    cs_ledger_keys_cleanup(&n->keys);
    cs_wipe(n->ledger_secret, sizeof n->ledger_secret);
    cs_wipe(n->seal_key, sizeof n->seal_key);
    node_code_free(n); /* the module last: the rpc serving it is stopped by now */
    cs_free(n);
}

/* ---- accessors ---- */

bool cs_node_is_open(const cs_node *n)
{
    return n->state == NODE_OPEN;
}

bool cs_node_is_leader(const cs_node *n)
{
    return n->writes_open;
}

const char *cs_node_leader_rpc_address(const cs_node *n)
{
    static char addr[CS_NODE_ADDR_MAX];
    addr[0] = '\0';
    if (n->cons == NULL)
        return addr;
    if (n->leader)
        return n->cfg.rpc_address;
    uint64_t id = cs_consensus_leader(n->cons, NULL);
    if (id == 0)
        return addr;
    char node_id[CS_NODE_ID_LEN + 1];
    snprintf(node_id, sizeof node_id, "%016llx", (unsigned long long)id);
    node_record r;
    node_record_init(&r);
    if (node_record_get((cs_node *)n, node_id, &r) == CONSORT_OK)
        snprintf(addr, sizeof addr, "%s", r.rpc_address);
    node_record_cleanup(&r);
    cs_err_clear();
    return addr;
}

void cs_node_set_fatal(cs_node *n, cs_node_fatal_fn fn, void *ctx)
{
    n->fatal = fn;
    n->fatal_ctx = ctx;
}

const char *cs_node_id(const cs_node *n)
{
    return n->node_id;
}

const cs_key *cs_node_key(const cs_node *n)
{
    return n->node_key;
}

const cs_x509 *cs_node_cert(const cs_node *n)
{
    return n->node_cert;
}

const cs_x509 *cs_node_service_cert(const cs_node *n)
{
    return n->service_cert;
}
