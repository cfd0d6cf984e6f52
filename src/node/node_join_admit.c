/*
 * The join protocol, target and leader side, and the joiner's checks of
 * the welcome (protocol: node_join.c).
 */
#include "node/node_join_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <string.h>
#include <time.h>

typedef struct admit {
    cs_node *n;
    cs_stream *s; /* NULL once closed */
    cs_buf in, msg;
    char node_id[CS_NODE_ID_LEN + 1];
    uint64_t raft_id;
    uint8_t code_id[32];
    cs_key *key; /* the joiner's (from its TLS certificate) */
    node_record rec;
    bool flow; /* the leader is admitting it (transaction, raft add) */
} admit;

static void admit_free_if_done(admit *a)
{
    if (a->s != NULL || a->flow)
        return;
    cs_buf_cleanup(&a->in);
    cs_buf_cleanup(&a->msg);
    cs_key_free(a->key);
    node_record_cleanup(&a->rec);
    cs_free(a);
}

static void admit_close(admit *a)
{
    if (a->s != NULL)
        cs_stream_close(a->s); /* admit_closed follows */
}

static void answer(admit *a, cs_buf *frame)
{
    node_msg_frame_end(frame);
    if (a->s != NULL && cs_stream_write(a->s, cs_buf_slice(frame)) != CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: answer to joiner %s: %s", a->n->node_id, a->node_id,
                    consort_errmsg());
    admit_close(a);
}

static void answer_error(admit *a, const char *why)
{
    cs_log_warn(NODE_LOG, "node %s: join of %s refused: %s", a->n->node_id, a->node_id, why);
    a->n->m.joins_refused++;
    cs_buf b;
    cs_buf_init(&b, NODE_MSG_MAX);
    if (node_msg_frame_begin(&b, 2, "error") == CONSORT_OK &&
        cs_cbor_write_cstr(&b, "message") == CONSORT_OK &&
        cs_cbor_write_cstr(&b, why) == CONSORT_OK)
        answer(a, &b);
    else
        admit_close(a);
    cs_buf_cleanup(&b);
}

static void answer_welcome(admit *a)
{
    cs_node *n = a->n;
    cs_buf b, key, svc;
    cs_buf_init_secret(&b, NODE_MSG_MAX);
    cs_buf_init_secret(&key, 16 << 10);
    cs_buf_init(&svc, 64 << 10);
    consort_err rc = cs_key_private_pem(n->service_key, &key);
    if (rc == CONSORT_OK)
        rc = cs_x509_to_der(n->service_cert, &svc);
    if (rc == CONSORT_OK)
        rc = node_msg_frame_begin(&b, 5, "welcome");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, "service_key");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(&b, cs_buf_slice(&key));
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, "service_cert");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(&b, cs_buf_slice(&svc));
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, "node_cert");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(&b, cs_buf_slice(&a->rec.cert));
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(&b, "ledger_secret");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(&b, CS_SLICE(n->ledger_secret, CS_LEDGER_SECRET_LEN));
    if (rc == CONSORT_OK) {
        n->m.joins_accepted++;
        cs_log_info(NODE_LOG, "node %s: node %s joined (raft %llu at %s)", n->node_id, a->node_id,
                    (unsigned long long)a->raft_id, a->rec.node_address);
        answer(a, &b);
    } else {
        answer_error(a, consort_errmsg());
    }
    cs_buf_cleanup(&b);
    cs_buf_cleanup(&key);
    cs_buf_cleanup(&svc);
}

/* ---- the leader's flow: transaction, raft add, welcome, promotion ---- */

static void promoted(void *ctx, consort_err rc)
{
    cs_node *n = ctx;
    n->join_busy = false;
    if (rc != CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: promoting a joined node to voter: %s", n->node_id,
                    consort_errmsg());
}

static void flow_end(admit *a)
{
    a->flow = false;
    admit_free_if_done(a);
}

static void added(void *ctx, consort_err rc)
{
    admit *a = ctx;
    cs_node *n = a->n;
    if (rc != CONSORT_OK) {
        n->join_busy = false;
        answer_error(a, consort_errmsg());
        flow_end(a);
        return;
    }
    answer_welcome(a);
    if (cs_consensus_assign(n->cons, a->raft_id, CS_RAFT_VOTER, promoted, n) != CONSORT_OK)
        promoted(n, CONSORT_E_STATE);
    flow_end(a);
}

static bool in_raft_config(cs_node *n, uint64_t id)
{
    cs_raft_member m[CS_NODE_MAX_LIST];
    size_t count = 0;
    if (cs_consensus_members(n->cons, m, CS_NODE_MAX_LIST, &count) != CONSORT_OK)
        return false;
    for (size_t i = 0; i < count; i++)
        if (m[i].id == id)
            return true;
    return false;
}

static void committed(void *ctx, consort_err rc, cs_txid txid)
{
    admit *a = ctx;
    cs_node *n = a->n;
    (void)txid;
    if (rc == CONSORT_OK && in_raft_config(n, a->raft_id)) {
        added(a, CONSORT_OK);
        return;
    }
    if (rc == CONSORT_OK)
        rc = cs_consensus_add(n->cons, a->raft_id, a->rec.node_address, added, a);
    if (rc != CONSORT_OK) {
        n->join_busy = false;
        answer_error(a, consort_errmsg());
        flow_end(a);
    }
}

static consort_err add_node_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    admit *a = ctx;
    cs_buf val;
    cs_buf_init(&val, 1 << 20);
    consort_err rc = node_record_encode(&a->rec, &val);
    if (rc == CONSORT_OK)
        rc = cs_kv_put(tx, CS_SLICE_LIT(NODE_MAP_NODES), cs_slice_str(a->node_id),
                       cs_buf_slice(&val));
    cs_buf_cleanup(&val);
    out->commit = true;
    return rc;
}

/* The joiner's evidence (its quote) must bind its key and carry its code id. */
static consort_err check_evidence(admit *a)
{
    cs_evidence ev;
    cs_evidence_init(&ev);
    cs_claims claims;
    cs_verify_opts o = a->n->verify_opts;
    o.now = (int64_t)time(NULL);
    consort_err rc = cs_evidence_decode(cs_buf_slice(&a->rec.evidence), &ev);
    if (rc == CONSORT_OK)
        rc = cs_evidence_verify(&ev, &o, &claims);
    if (rc == CONSORT_OK)
        rc = cs_claims_check_binding(&claims, a->key, CS_SLICE_EMPTY);
    if (rc == CONSORT_OK && memcmp(claims.code_id, a->code_id, 32) != 0)
        rc = cs_fail(CONSORT_E_POLICY, "its quote names another code id than its channel");
    cs_evidence_cleanup(&ev);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "joiner's quote");
}

static void admit_request(admit *a)
{
    cs_node *n = a->n;
    cs_cbor_reader r;
    uint64_t pairs;
    char type[16];
    cs_slice ev;
    consort_err rc = node_msg_open(cs_buf_slice(&a->msg), &r, &pairs, type);
    if (rc == CONSORT_OK && (strcmp(type, "join") != 0 || pairs != 4))
        rc = cs_fail(CONSORT_E_MALFORMED, "expected a join request, got \"%s\"", type);
    if (rc == CONSORT_OK)
        rc = node_msg_text(&r, "node_address", a->rec.node_address, sizeof a->rec.node_address);
    if (rc == CONSORT_OK)
        rc = node_msg_text(&r, "rpc_address", a->rec.rpc_address, sizeof a->rec.rpc_address);
    if (rc == CONSORT_OK)
        rc = node_msg_key(&r, "evidence");
    if (rc == CONSORT_OK)
        rc = cs_cbor_read_bytes(&r, &ev);
    if (rc == CONSORT_OK)
        rc = cs_buf_set(&a->rec.evidence, ev);
    if (rc == CONSORT_OK)
        rc = cs_cbor_expect_end(&r);
    if (rc != CONSORT_OK) {
        answer_error(a, consort_errmsg());
        return;
    }
    if (!n->writes_open) {
        const char *addr = NULL;
        if (n->cons != NULL && cs_consensus_leader(n->cons, &addr) != 0 && addr != NULL &&
            !n->leader) {
            cs_buf b;
            cs_buf_init(&b, NODE_MSG_MAX);
            if (node_msg_frame_begin(&b, 2, "redirect") == CONSORT_OK &&
                cs_cbor_write_cstr(&b, "node_address") == CONSORT_OK &&
                cs_cbor_write_cstr(&b, addr) == CONSORT_OK)
                answer(a, &b);
            else
                admit_close(a);
            cs_buf_cleanup(&b);
        } else {
            answer_error(a, "no leader accepting writes yet");
        }
        return;
    }
    if (n->join_busy) {
        answer_error(a, "busy admitting another node");
        return;
    }
    rc = check_evidence(a);
    cs_x509 *cert = NULL;
    if (rc == CONSORT_OK)
        rc = node_identity_issue(n, a->key, a->node_id, a->rec.rpc_address, &cert);
    if (rc == CONSORT_OK)
        rc = cs_x509_to_der(cert, &a->rec.cert);
    cs_x509_free(cert);
    if (rc != CONSORT_OK) {
        answer_error(a, consort_errmsg());
        return;
    }
    a->rec.raft_id = a->raft_id;
    memcpy(a->rec.code_id, a->code_id, 32);
    snprintf(a->rec.status, sizeof a->rec.status, "Trusted");
    n->join_busy = true;
    a->flow = true;
    rc = node_exec(n, CS_LEDGER_KIND_INTERNAL, add_node_fn, a, committed, a);
    if (rc != CONSORT_OK) {
        n->join_busy = false;
        a->flow = false;
        answer_error(a, consort_errmsg());
    }
}

static void admit_data(void *ctx, cs_stream *s, cs_slice data)
{
    admit *a = ctx;
    (void)s;
    bool complete;
    if (a->flow)
        return; /* one request per channel */
    consort_err rc = node_msg_take(&a->in, data, &a->msg, &complete);
    if (rc != CONSORT_OK)
        answer_error(a, consort_errmsg());
    else if (complete)
        admit_request(a);
}

static void admit_closed(void *ctx, cs_stream *s, consort_err reason)
{
    admit *a = ctx;
    cs_node *n = a->n;
    (void)s;
    (void)reason;
    a->s = NULL;
    admit_free_if_done(a);
    node_net_done(n);
}

void node_join_accept(cs_node *n, cs_stream *s, const cs_attested_peer *peer)
{
    admit *a = cs_calloc(1, sizeof *a);
    if (a == NULL) {
        cs_stream_close(s);
        return;
    }
    a->n = n;
    a->s = s;
    cs_buf_init(&a->in, NODE_MSG_MAX + 4);
    cs_buf_init(&a->msg, NODE_MSG_MAX);
    node_record_init(&a->rec);
    memcpy(a->node_id, peer->node_id, sizeof a->node_id);
    memcpy(a->code_id, peer->claims->code_id, 32);
    n->net_inflight++;
    const cs_stream_cbs cbs = {.on_data = admit_data, .on_close = admit_closed};
    cs_stream_set_cbs(s, &cbs, a);
    if (node_raft_id_of(a->node_id, &a->raft_id) != CONSORT_OK ||
        cs_x509_public_key(peer->cert, &a->key) != CONSORT_OK)
        answer_error(a, consort_errmsg());
}

/* ---- the joiner's side of the welcome ---- */

static consort_err welcome_bytes(cs_cbor_reader *r, const char *name, cs_slice *out)
{
    CS_TRY(node_msg_key(r, name));
    return cs_cbor_read_bytes(r, out);
}

static consort_err same_key(const cs_key *a, const cs_key *b, const char *what)
{
    uint8_t ia[32], ib[32];
    CS_TRY(cs_key_id(a, ia));
    CS_TRY(cs_key_id(b, ib));
    CS_ENSURE(memcmp(ia, ib, 32) == 0, CONSORT_E_BAD_CERTIFICATE, "welcome: %s", what);
    return CONSORT_OK;
}

consort_err node_join_welcome(cs_node *n, cs_cbor_reader *r, uint64_t pairs)
{
    CS_ENSURE(pairs == 5, CONSORT_E_MALFORMED, "welcome of %llu members",
              (unsigned long long)pairs);
    cs_slice skey, scert, ncert, secret;
    CS_TRY(welcome_bytes(r, "service_key", &skey));
    CS_TRY(welcome_bytes(r, "service_cert", &scert));
    CS_TRY(welcome_bytes(r, "node_cert", &ncert));
    CS_TRY(welcome_bytes(r, "ledger_secret", &secret));
    CS_TRY(cs_cbor_expect_end(r));
    CS_ENSURE(secret.len == CS_LEDGER_SECRET_LEN, CONSORT_E_MALFORMED,
              "welcome: ledger secret of %zu bytes", secret.len);
    cs_buf pinned;
    cs_buf_init(&pinned, 64 << 10);
    consort_err rc = cs_x509_to_der(n->service_cert, &pinned);
    if (rc == CONSORT_OK && !cs_slice_eq(cs_buf_slice(&pinned), scert))
        rc = cs_fail(CONSORT_E_BAD_CERTIFICATE,
                     "welcome: the service certificate is not the pinned one");
    cs_buf_cleanup(&pinned);
    CS_TRY(rc);
    cs_key *svc_key = NULL, *cert_key = NULL, *svc_pub = NULL;
    cs_x509 *cert = NULL;
    rc = cs_key_from_pem(skey, &svc_key);
    if (rc == CONSORT_OK)
        rc = cs_x509_public_key(n->service_cert, &svc_pub);
    if (rc == CONSORT_OK)
        rc = same_key(svc_key, svc_pub, "the service key does not match its certificate");
    if (rc == CONSORT_OK)
        rc = cs_x509_from_der(ncert, &cert);
    if (rc == CONSORT_OK)
        rc = cs_x509_verify_signature(cert, svc_pub);
    if (rc == CONSORT_OK)
        rc = cs_x509_public_key(cert, &cert_key);
    if (rc == CONSORT_OK)
        rc = same_key(cert_key, n->node_key, "the node certificate is for another key");
    cs_key_free(cert_key);
    cs_key_free(svc_pub);
    if (rc != CONSORT_OK) {
        cs_key_free(svc_key);
        cs_x509_free(cert);
        return rc;
    }
    cs_key_free(n->service_key);
    n->service_key = svc_key;
    cs_x509_free(n->node_cert);
    n->node_cert = cert;
    node_keys_set(n, secret.ptr);
    cs_log_info(NODE_LOG, "node %s: admitted by the service; starting consensus", n->node_id);
    CS_TRY_CTX(node_seal_save(n), "after the join");
    CS_TRY(node_identity_write_public(n));
    CS_TRY(node_net_configs(n));
    CS_TRY(node_net_listen(n));
    return node_start_consensus(n, false);
}
