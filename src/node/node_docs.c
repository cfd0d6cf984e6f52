/*
 * The documents served under /node/ (node.h): the network (service
 * certificate, nodes), this node's state, every node's quote, and the
 * metrics in Prometheus text format; and under /gov/, the members and the
 * users. Read from this node's store.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "crypto/b64.h"
#include "node/service_maps.h"
#include "node/succession.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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

static bool network_visit(void *ctx, const char *id, const node_record *r)
{
    if (r != NULL)
        json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s}", "node_id", id, "rpc_address",
                                             r->rpc_address, "node_address", r->node_address,
                                             "status", r->status));
    return true;
}

static consort_err nodes_array(cs_node *n, svc_record_fn visit, json_t **out)
{
    json_t *a = json_array();
    CS_ENSURE(a != NULL, CONSORT_E_NOMEM, "JSON document");
    consort_err rc =
        n->replica != NULL ? svc_records_each(node_replica_kv(n->replica), visit, a) : CONSORT_OK;
    if (rc != CONSORT_OK) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return CONSORT_OK;
}

/* The store this node's documents read: while it waits for recovery
 * shares, the recovered public state. */
static cs_kv_store *docs_kv(cs_node *n)
{
    return n->recovery != NULL ? node_recovery_kv(n->recovery) : node_replica_kv(n->replica);
}

static json_t *pem_json(cs_slice der)
{
    cs_x509 *cert = NULL;
    cs_buf pem;
    cs_buf_init(&pem, 64 << 10);
    json_t *out = NULL;
    if (cs_x509_from_der(der, &cert) == CONSORT_OK && cs_x509_to_pem(cert, &pem) == CONSORT_OK)
        out = json_stringn((const char *)pem.ptr, pem.len);
    cs_err_clear();
    cs_x509_free(cert);
    cs_buf_cleanup(&pem);
    return out != NULL ? out : json_null();
}

/* One succession record (succession.h) as served: both certificates, the
 * recovery point and the record itself (base64), for clients to verify. */
static bool previous_visit(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    cs_succession s;
    cs_buf b64;
    cs_buf_init(&b64, 0);
    if (cs_succession_decode(value, &s) == CONSORT_OK && cs_b64_encode(value, &b64) == CONSORT_OK)
        json_array_append_new(
            ctx, json_pack("{s:o, s:o, s:s, s:s%}", "previous_service_certificate",
                           pem_json(s.previous_der), "service_certificate", pem_json(s.next_der),
                           "last_txid", s.last_txid, "record", (const char *)b64.ptr, b64.len));
    cs_err_clear();
    cs_buf_cleanup(&b64);
    return true;
}

/* [{"previous_service_certificate", "service_certificate", "last_txid", "record"}] */
static consort_err previous_identities(cs_node *n, json_t **out)
{
    json_t *a = json_array();
    CS_ENSURE(a != NULL, CONSORT_E_NOMEM, "JSON document");
    cs_kv_tx *tx = NULL;
    consort_err rc = n->replica != NULL ? cs_kv_tx_begin_committed(docs_kv(n), &tx) : CONSORT_OK;
    if (rc == CONSORT_OK && tx != NULL)
        rc = cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_PREVIOUS_IDS), previous_visit, a);
    cs_kv_tx_free(tx);
    if (rc != CONSORT_OK) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return CONSORT_OK;
}

consort_err cs_node_network_json(cs_node *n, cs_buf *out)
{
    cs_buf pem;
    cs_buf_init(&pem, 64 << 10);
    json_t *nodes = NULL, *previous = NULL;
    const cs_x509 *service = cs_node_service_cert(n);
    consort_err rc;
    if (service != NULL)
        CS_TRY_GOTO(rc, cs_x509_to_pem(service, &pem), done);
    CS_TRY_GOTO(rc, cs_buf_append_u8(&pem, 0), done);
    CS_TRY_GOTO(rc, nodes_array(n, network_visit, &nodes), done);
    CS_TRY_GOTO(rc, previous_identities(n, &previous), done);
    rc = dump(json_pack("{s:s, s:o, s:o}", "service_certificate", (const char *)pem.ptr, "nodes",
                        nodes, "previous_identities", previous),
              out);
    nodes = previous = NULL;
done:
    json_decref(nodes);
    cs_buf_cleanup(&pem);
    return rc;
}

/* ---- /gov/recovery ---- */

static bool holder_visit(void *ctx, cs_slice key, cs_slice value)
{
    (void)value;
    return json_array_append_new(ctx, json_stringn((const char *)key.ptr, key.len)) == 0;
}

consort_err cs_node_recovery_json(cs_node *n, cs_buf *out)
{
    if (n->recovery != NULL)
        return node_recovery_status_json(n->recovery, out);
    CS_ENSURE(n->replica != NULL, CONSORT_E_STATE, "node %s has no state yet", cs_node_id(n));
    json_t *holders = json_array(), *previous = NULL;
    node_share_wrapping w;
    bool found = false;
    cs_kv_tx *tx = NULL;
    consort_err rc = holders != NULL ? CONSORT_OK : cs_fail(CONSORT_E_NOMEM, "JSON document");
    if (rc == CONSORT_OK)
        rc = cs_kv_tx_begin_committed(node_replica_kv(n->replica), &tx);
    if (rc == CONSORT_OK)
        rc = node_shares_wrapping(tx, &w, &found);
    if (rc == CONSORT_OK)
        rc = cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_RECOVERY_SHARES), holder_visit, holders);
    cs_kv_tx_free(tx);
    if (rc == CONSORT_OK)
        rc = previous_identities(n, &previous);
    if (rc != CONSORT_OK) {
        json_decref(holders);
        return rc;
    }
    return dump(json_pack("{s:s, s:I, s:I, s:o, s:o}", "state", cs_node_state_name(n), "threshold",
                          (json_int_t)(found ? w.threshold : 0), "epoch",
                          (json_int_t)(found ? w.epoch : 0), "members_with_shares", holders,
                          "previous_identities", previous),
                out);
}

consort_err cs_node_recovery_share_json(cs_node *n, const char *member_id, cs_buf *out)
{
    CS_ENSURE(n->replica != NULL, CONSORT_E_STATE, "node %s has no state yet", cs_node_id(n));
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin_committed(docs_kv(n), &tx));
    cs_slice share;
    bool found = false;
    node_share_wrapping w;
    bool wrapped = false;
    cs_buf b64;
    cs_buf_init(&b64, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, node_shares_wrapping(tx, &w, &wrapped), done);
    CS_TRY_GOTO(rc,
                cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_RECOVERY_SHARES), cs_slice_str(member_id),
                          &share, &found),
                done);
    CS_ENSURE_GOTO(rc, found && wrapped, done, CONSORT_E_NOT_FOUND,
                   "no recovery share was issued to member %s", member_id);
    CS_TRY_GOTO(rc, cs_b64_encode(share, &b64), done);
    rc = dump(json_pack("{s:s, s:I, s:I, s:s%}", "member_id", member_id, "epoch",
                        (json_int_t)w.epoch, "threshold", (json_int_t)w.threshold,
                        "encrypted_share", (const char *)b64.ptr, b64.len),
              out);
done:
    cs_buf_cleanup(&b64);
    cs_kv_tx_free(tx);
    return rc;
}

/* This node's role in raft's configuration: "voter", "standby", "spare", or
 * "none" (not in it: not joined yet, or removed). */
static const char *raft_role(cs_node *n)
{
    cs_raft_member m[CS_NODE_MAX_LIST];
    size_t count = 0;
    if (n->cons == NULL || cs_consensus_members(n->cons, m, CS_NODE_MAX_LIST, &count) != CONSORT_OK)
        return "none";
    for (size_t i = 0; i < count; i++)
        if (m[i].id == cs_consensus_id(n->cons))
            return m[i].role == CS_RAFT_VOTER     ? "voter"
                   : m[i].role == CS_RAFT_STANDBY ? "standby"
                                                  : "spare";
    return "none";
}

consort_err cs_node_state_json(cs_node *n, cs_buf *out)
{
    char committed[CS_LEDGER_TXID_MAX] = "";
    char leader[CS_NODE_ADDR_MAX];
    cs_txid c = cs_node_commit_txid(n);
    if (c.seqno > 0)
        cs_ledger_txid_format(c.term, c.seqno, committed);
    cs_node_leader_rpc_address(n, leader);
    cs_raft_state rs = n->cons != NULL ? cs_consensus_state(n->cons) : CS_RAFT_UNAVAILABLE;
    uint64_t signed_seqno = n->replica != NULL ? node_replica_applied_sig(n->replica) : 0;
    uint64_t pending = n->exec != NULL ? node_exec_pending(n->exec) : 0;
    json_t *doc = json_pack(
        "{s:s, s:s, s:b, s:s, s:s, s:s, s:b, s:I, s:s, s:I, s:I}", "node_id", cs_node_id(n),
        "state", cs_node_state_name(n), "is_leader", cs_node_is_leader(n), "leader_rpc_address",
        leader, "raft_state", cs_raft_state_name(rs), "raft_role", raft_role(n), "raft_available",
        node_raft_available(n), "raft_term",
        (json_int_t)(n->cons != NULL ? cs_consensus_term(n->cons) : 0), "last_committed_txid",
        committed, "last_signed_seqno", (json_int_t)signed_seqno, "pending", (json_int_t)pending);
    return dump(doc, out);
}

static bool quotes_visit(void *ctx, const char *id, const node_record *r)
{
    if (r == NULL)
        return true;
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
    cs_err_clear();
    return true;
}

consort_err cs_node_quotes_json(cs_node *n, cs_buf *out)
{
    json_t *quotes;
    CS_TRY(nodes_array(n, quotes_visit, &quotes));
    return dump(json_pack("{s:o}", "quotes", quotes), out);
}

/* The loop-lag probe's figures (loop_probe.h). */
static consort_err node_loop_metrics(cs_node *n, cs_buf *out)
{
    return node_loop_probe_metrics(n->probe, cs_node_id(n), out);
}

consort_err cs_node_metrics_text(cs_node *n, cs_buf *out)
{
    node_exec_stats ex = n->exec != NULL ? node_exec_get_stats(n->exec) : (node_exec_stats){0};
    node_replica_stats rs =
        n->replica != NULL ? node_replica_get_stats(n->replica) : (node_replica_stats){0};
    node_admit_stats as = n->admit != NULL ? node_admit_get_stats(n->admit) : (node_admit_stats){0};
    cs_attested_stats ps = n->peers != NULL ? node_peers_stats(n->peers) : (cs_attested_stats){0};
    cs_raft_transport_stats ts = {0};
    if (n->cons != NULL)
        cs_raft_transport_stats_get(cs_consensus_transport(n->cons), &ts);
    node_promoter_stats pro = node_promoter_get_stats(n->promoter);
    const struct {
        const char *name, *type, *help;
        uint64_t v;
    } rows[] = {
        {"consort_writes_committed_total", "counter", "Writes committed (this node led)",
         ex.writes_committed},
        {"consort_writes_failed_total", "counter", "Writes failed after submission",
         ex.writes_failed},
        {"consort_write_conflicts_total", "counter", "Transactions re-run after a conflict",
         ex.write_conflicts},
        {"consort_writes_refused_no_space_total", "counter", "Writes refused: disk full",
         ex.writes_refused_no_space},
        {"consort_entries_applied_total", "counter", "Ledger entries applied", rs.entries_applied},
        {"consort_signatures_total", "counter", "Signature entries applied", rs.signatures},
        {"consort_snapshots_taken_total", "counter", "Snapshots taken", rs.snapshots_taken},
        {"consort_snapshots_restored_total", "counter", "Snapshots installed",
         rs.snapshots_restored},
        {"consort_joins_accepted_total", "counter", "Nodes admitted", as.accepted},
        {"consort_joins_refused_total", "counter", "Join requests refused", as.refused},
        {"consort_node_channels_refused_total", "counter",
         "Connections to node_address refused (TLS or attestation)",
         ps.refused_tls + ps.refused_hello},
        {"consort_node_channels_refused_tls_total", "counter",
         "... of which failed the TLS handshake (no certificate, not TLS)", ps.refused_tls},
        {"consort_raft_inbound_pauses_total", "counter",
         "Times a peer's raft stream was paused while raft read a backlog", ts.inbound_pauses},
        {"consort_raft_messages_refused_total", "counter",
         "Raft connections closed for a message over the wire limits", ts.wire_refused},
        {"consort_raft_promotions_total", "counter", "Joined nodes promoted to voter (as leader)",
         pro.promoted},
        {"consort_raft_promotions_failed_total", "counter",
         "Promotion attempts raft aborted or refused (each retried)", pro.failed},
        {"consort_commit_seqno", "gauge", "Last committed seqno", cs_node_commit_txid(n).seqno},
        {"consort_pending_entries", "gauge", "Entries submitted, not committed",
         n->exec != NULL ? node_exec_pending(n->exec) : 0},
        {"consort_raft_term", "gauge", "Raft term", n->cons ? cs_consensus_term(n->cons) : 0},
        {"consort_is_leader", "gauge", "1 if this node leads", cs_node_is_leader(n) ? 1 : 0},
        {"consort_merkle_bytes", "gauge", "Memory of the Merkle tree",
         n->replica != NULL ? (uint64_t)cs_merkle_memory(node_replica_tree(n->replica)) : 0},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(rows); i++)
        CS_TRY(cs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s{node=\"%s\"} %llu\n",
                             rows[i].name, rows[i].help, rows[i].name, rows[i].type, rows[i].name,
                             cs_node_id(n), (unsigned long long)rows[i].v));
    CS_TRY(node_loop_metrics(n, out));
    return node_metrics_gauges(n, out);
}

/* ---- /gov/members, /gov/users ---- */

typedef struct cert_list {
    json_t *array;
    consort_err rc;
} cert_list;

static bool cert_visit(void *ctx, cs_slice key, cs_slice value)
{
    cert_list *l = ctx;
    cs_x509 *cert = NULL;
    cs_buf pem;
    cs_buf_init(&pem, 64 << 10);
    CS_TRY_GOTO(l->rc, cs_x509_from_der(value, &cert), done);
    CS_TRY_GOTO(l->rc, cs_x509_to_pem(cert, &pem), done);
    CS_TRY_GOTO(l->rc, cs_buf_append_u8(&pem, 0), done);
    json_t *entry = json_pack("{s:s%, s:s}", "id", (const char *)key.ptr, key.len, "certificate",
                              (const char *)pem.ptr);
    if (entry == NULL || json_array_append_new(l->array, entry) != 0)
        l->rc = cs_fail(CONSORT_E_NOMEM, "JSON document");
done:
    cs_x509_free(cert);
    cs_buf_cleanup(&pem);
    return l->rc == CONSORT_OK;
}

/* {"<name>": [{"id": hex SHA-256 of the certificate's DER, "certificate":
 * PEM}, ...]} from `map` in the committed state, ordered by id. */
static consort_err cert_list_json(cs_node *n, const char *map, const char *name, cs_buf *out)
{
    CS_ENSURE(n->replica != NULL, CONSORT_E_STATE, "node %s has no state yet", cs_node_id(n));
    cert_list l = {.array = json_array(), .rc = CONSORT_OK};
    CS_ENSURE(l.array != NULL, CONSORT_E_NOMEM, "JSON document");
    cs_kv_tx *tx;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_kv_tx_begin_committed(docs_kv(n), &tx), fail);
    rc = cs_kv_foreach(tx, cs_slice_str(map), cert_visit, &l);
    cs_kv_tx_free(tx);
    CS_TRY_GOTO(rc, rc != CONSORT_OK ? rc : l.rc, fail);
    return dump(json_pack("{s:o}", name, l.array), out);
fail:
    json_decref(l.array);
    return cs_err_context(rc, "%s", map);
}

consort_err cs_node_members_json(cs_node *n, cs_buf *out)
{
    return cert_list_json(n, SVC_MAP_MEMBERS, "members", out);
}

consort_err cs_node_users_json(cs_node *n, cs_buf *out)
{
    return cert_list_json(n, SVC_MAP_USERS, "users", out);
}
