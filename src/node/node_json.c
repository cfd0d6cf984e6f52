/*
 * The documents served under /node/ (node.h) and the users/members/node
 * certificate checks the HTTP layer authenticates with. Everything is read
 * from this node's store (committed state, plus the leader's own pending
 * writes).
 */
#include "node/node_priv.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

#include "base/alloc.h"
#include "crypto/b64.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

static consort_err dump(json_t *doc, cs_buf *out)
{
    CS_ENSURE(doc != NULL, CONSORT_E_NOMEM, "JSON document");
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "JSON text");
    consort_err rc = cs_buf_append(out, text, strlen(text));
    free(text);
    return rc;
}

static json_t *hex_json(cs_slice s)
{
    char hex[129];
    if (s.len > 64)
        return json_null();
    cs_hex_encode(s, hex);
    return json_string(hex);
}

/* Calls visit(ctx, node_id, record) for every node of public:consort.nodes. */
typedef struct nodes_walk {
    void (*visit)(void *ctx, const char *node_id, const node_record *r);
    void *ctx;
} nodes_walk;

static bool nodes_cb(void *ctx, cs_slice key, cs_slice value)
{
    nodes_walk *w = ctx;
    char id[CS_NODE_ID_LEN + 1];
    if (key.len != CS_NODE_ID_LEN)
        return true;
    memcpy(id, key.ptr, key.len);
    id[key.len] = '\0';
    node_record r;
    node_record_init(&r);
    if (node_record_decode(value, &r) == CONSORT_OK)
        w->visit(w->ctx, id, &r);
    node_record_cleanup(&r);
    return true;
}

static consort_err walk_nodes(cs_node *n, nodes_walk *w)
{
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin(n->kv, &tx));
    consort_err rc = cs_kv_foreach(tx, CS_SLICE_LIT(NODE_MAP_NODES), nodes_cb, w);
    cs_kv_tx_free(tx);
    return rc;
}

static void network_visit(void *ctx, const char *id, const node_record *r)
{
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s}", "node_id", id, "rpc_address",
                                         r->rpc_address, "node_address", r->node_address, "status",
                                         r->status));
}

consort_err cs_node_network_json(cs_node *n, cs_buf *out)
{
    cs_buf pem;
    cs_buf_init(&pem, 64 << 10);
    consort_err rc = n->service_cert != NULL ? cs_x509_to_pem(n->service_cert, &pem) : CONSORT_OK;
    if (rc == CONSORT_OK)
        rc = cs_buf_append_u8(&pem, 0);
    json_t *nodes = json_array();
    nodes_walk w = {.visit = network_visit, .ctx = nodes};
    if (rc == CONSORT_OK)
        rc = walk_nodes(n, &w);
    if (rc != CONSORT_OK) {
        json_decref(nodes);
        cs_buf_cleanup(&pem);
        return rc;
    }
    json_t *doc =
        json_pack("{s:s, s:o}", "service_certificate", (const char *)pem.ptr, "nodes", nodes);
    cs_buf_cleanup(&pem);
    return dump(doc, out);
}

consort_err cs_node_state_json(cs_node *n, cs_buf *out)
{
    char committed[CS_LEDGER_TXID_MAX] = "";
    if (n->applied > 0)
        cs_ledger_txid_format(n->applied_term, n->applied, committed);
    cs_raft_state rs = n->cons != NULL ? cs_consensus_state(n->cons) : CS_RAFT_UNAVAILABLE;
    json_t *doc =
        json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:s, s:I, s:I}", "node_id", n->node_id, "state",
                  cs_node_state_name(n), "is_leader", cs_node_is_leader(n), "leader_rpc_address",
                  cs_node_leader_rpc_address(n), "raft_state", cs_raft_state_name(rs), "raft_term",
                  (json_int_t)(n->cons != NULL ? cs_consensus_term(n->cons) : 0),
                  "last_committed_txid", committed, "last_signed_seqno",
                  (json_int_t)n->last_sig_seqno, "pending", (json_int_t)n->pending_count);
    return dump(doc, out);
}

static void quotes_visit(void *ctx, const char *id, const node_record *r)
{
    cs_buf b64;
    cs_buf_init(&b64, 2 * CS_EVIDENCE_MAX_BYTES);
    cs_evidence ev;
    cs_evidence_init(&ev);
    const char *platform = "unknown";
    if (cs_evidence_decode(cs_buf_slice(&r->evidence), &ev) == CONSORT_OK)
        platform = cs_platform_name(ev.platform);
    if (cs_b64_encode(cs_buf_slice(&r->evidence), &b64) == CONSORT_OK &&
        cs_buf_append_u8(&b64, 0) == CONSORT_OK)
        json_array_append_new(
            ctx, json_pack("{s:s, s:s, s:o, s:s}", "node_id", id, "platform", platform, "code_id",
                           hex_json(CS_SLICE(r->code_id, 32)), "evidence", (const char *)b64.ptr));
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&b64);
}

consort_err cs_node_quotes_json(cs_node *n, cs_buf *out)
{
    json_t *quotes = json_array();
    nodes_walk w = {.visit = quotes_visit, .ctx = quotes};
    consort_err rc = walk_nodes(n, &w);
    if (rc != CONSORT_OK) {
        json_decref(quotes);
        return rc;
    }
    return dump(json_pack("{s:o}", "quotes", quotes), out);
}

consort_err cs_node_metrics_text(cs_node *n, cs_buf *out)
{
    const node_metrics *m = &n->m;
    const struct {
        const char *name, *type, *help;
        uint64_t v;
    } rows[] = {
        {"consort_writes_committed_total", "counter", "Writes committed (this node led)",
         m->writes_committed},
        {"consort_writes_failed_total", "counter", "Writes failed after submission",
         m->writes_failed},
        {"consort_write_conflicts_total", "counter", "Transactions re-run after a conflict",
         m->write_conflicts},
        {"consort_writes_refused_no_space_total", "counter", "Writes refused: disk full",
         m->writes_refused_no_space},
        {"consort_entries_applied_total", "counter", "Ledger entries applied", m->entries_applied},
        {"consort_signatures_total", "counter", "Signature entries applied", m->signatures},
        {"consort_snapshots_taken_total", "counter", "Snapshots taken", m->snapshots_taken},
        {"consort_snapshots_restored_total", "counter", "Snapshots installed",
         m->snapshots_restored},
        {"consort_joins_accepted_total", "counter", "Nodes admitted", m->joins_accepted},
        {"consort_joins_refused_total", "counter", "Join requests refused", m->joins_refused},
        {"consort_commit_seqno", "gauge", "Last committed seqno", n->applied},
        {"consort_pending_entries", "gauge", "Entries submitted, not committed", n->pending_count},
        {"consort_raft_term", "gauge", "Raft term", n->cons ? cs_consensus_term(n->cons) : 0},
        {"consort_is_leader", "gauge", "1 if this node leads", n->writes_open ? 1 : 0},
        {"consort_merkle_bytes", "gauge", "Memory of the Merkle tree",
         (uint64_t)cs_merkle_memory(n->tree)},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(rows); i++)
        CS_TRY(cs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s{node=\"%s\"} %llu\n",
                             rows[i].name, rows[i].help, rows[i].name, rows[i].type, rows[i].name,
                             n->node_id, (unsigned long long)rows[i].v));
    return CONSORT_OK;
}

static bool in_map(cs_node *n, const char *map, const uint8_t fp[32])
{
    char hex[65];
    cs_hex_encode(CS_SLICE(fp, 32), hex);
    cs_kv_tx *tx;
    if (n->kv == NULL || cs_kv_tx_begin(n->kv, &tx) != CONSORT_OK)
        return false;
    cs_slice v;
    bool found = false;
    if (cs_kv_get(tx, cs_slice_str(map), cs_slice_str(hex), &v, &found) != CONSORT_OK)
        found = false;
    cs_kv_tx_free(tx);
    return found;
}

bool cs_node_is_user(cs_node *n, const uint8_t fingerprint[32])
{
    return in_map(n, NODE_MAP_USERS, fingerprint);
}

bool cs_node_is_member(cs_node *n, const uint8_t fingerprint[32])
{
    return in_map(n, NODE_MAP_MEMBERS, fingerprint);
}

/*
 * The expensive part of recognising a node certificate (the service's
 * signature over it, and the node id derived from its key) is done once per
 * certificate and remembered by fingerprint: a follower forwards every write
 * over one connection with one certificate, and this ran per request. The
 * validity period, the node's record (status Trusted) and the certificate's
 * identity with the recorded one are checked on every call.
 */
static const char *issued_node_id(cs_node *n, const cs_x509 *cert, const uint8_t fp[32],
                                  char id[CS_NODE_ID_LEN + 1], int64_t now)
{
    for (unsigned i = 0; i < NODE_ISSUED_CACHE; i++) {
        node_issued_entry *e = &n->issued[i];
        if (e->used && memcmp(e->fingerprint, fp, 32) == 0)
            return now < e->not_after ? e->node_id : NULL;
    }
    int64_t not_before, not_after;
    if (!node_net_is_service_issued(n, cert) ||
        cs_x509_validity(cert, &not_before, &not_after) != CONSORT_OK || now < not_before ||
        now >= not_after)
        return NULL;
    cs_key *key = NULL;
    bool ok = cs_x509_public_key(cert, &key) == CONSORT_OK &&
              cs_attested_node_id(key, id) == CONSORT_OK;
    cs_key_free(key);
    if (!ok)
        return NULL;
    node_issued_entry *e = &n->issued[n->issued_next++ % NODE_ISSUED_CACHE];
    memcpy(e->fingerprint, fp, 32);
    memcpy(e->node_id, id, CS_NODE_ID_LEN + 1);
    e->not_after = not_after;
    e->used = true;
    return e->node_id;
}

bool cs_node_is_service_node_cert(cs_node *n, const cs_x509 *cert)
{
    uint8_t fp[32];
    char id_buf[CS_NODE_ID_LEN + 1];
    if (cert == NULL || cs_x509_fingerprint(cert, fp) != CONSORT_OK) {
        cs_err_clear();
        return false;
    }
    const char *id = issued_node_id(n, cert, fp, id_buf, (int64_t)time(NULL));
    node_record r;
    node_record_init(&r);
    uint8_t recorded[32];
    bool ok = id != NULL && node_record_get(n, id, &r) == CONSORT_OK &&
              strcmp(r.status, "Trusted") == 0;
    if (ok) {
        cs_sha256(cs_buf_slice(&r.cert), recorded);
        ok = cs_ct_equal(CS_SLICE(recorded, 32), CS_SLICE(fp, 32));
    }
    node_record_cleanup(&r);
    cs_err_clear();
    return ok;
}
