/*
 * Genesis (docs/security.md "One service, one genesis"): the policy a new
 * service starts with, read from the configuration exactly once, at the
 * start that creates the service identity, then sealed with it and written
 * by the genesis transaction. A restart never reads the configuration's
 * "start" section again: trusted code ids, users, members, trust anchors
 * and the debug-evidence switch live in the replicated store from then on.
 *
 * Genesis inputs (sealed, node_seal.c): CBOR map, text keys in this order
 *   {"code_ids": [* bstr 32], "users": [* bstr DER], "members": [* bstr DER],
 *    "anchors": [* bstr], "allow_debug": bool}
 * where code_ids holds the node's own code id first, and anchors the
 * platform's trust anchors as the node loaded them (node_platform.c).
 */
#include "node/node_priv.h"

#include "base/cbor.h"
#include "base/log.h"
#include "crypto/hash.h"

#include <string.h>

#define GENESIS_MAX ((size_t)4 << 20)

static consort_err write_cert_files(cs_buf *b, char files[][CS_NODE_PATH_MAX], size_t count,
                                    const char *what)
{
    CS_TRY(cs_cbor_write_array(b, count));
    for (size_t i = 0; i < count; i++) {
        cs_x509 *cert;
        CS_TRY_CTX(cs_x509_load_file(files[i], &cert), "%s: certificate %s", what, files[i]);
        cs_buf der;
        cs_buf_init(&der, 64 << 10);
        consort_err rc = cs_x509_to_der(cert, &der);
        if (rc == CONSORT_OK)
            rc = cs_cbor_write_bytes(b, cs_buf_slice(&der));
        cs_buf_cleanup(&der);
        cs_x509_free(cert);
        CS_TRY(rc);
    }
    return CONSORT_OK;
}

consort_err node_genesis_prepare(cs_node *n)
{
    const cs_node_config *c = &n->cfg;
    cs_buf *b = &n->genesis;
    cs_buf_reset(b);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_cbor_write_map(b, 5), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "code_ids"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_array(b, 1 + c->trusted_code_id_count), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(b, CS_SLICE(n->code_id, 32)), fail);
    for (size_t i = 0; i < c->trusted_code_id_count; i++)
        CS_TRY_GOTO(rc, cs_cbor_write_bytes(b, CS_SLICE(c->trusted_code_ids[i], 32)), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "users"), fail);
    CS_TRY_GOTO(rc, write_cert_files(b, n->cfg.users, c->user_count, "users"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "members"), fail);
    CS_TRY_GOTO(rc, write_cert_files(b, n->cfg.members, c->member_count, "members"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "anchors"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_array(b, n->anchors.count), fail);
    for (size_t i = 0; i < n->anchors.count; i++)
        CS_TRY_GOTO(rc, cs_cbor_write_bytes(b, cs_buf_slice(&n->anchors.items[i])), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "allow_debug"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_bool(b, c->allow_debug), fail);
    return CONSORT_OK;
fail:
    cs_buf_reset(b);
    return cs_err_context(rc, "genesis configuration");
}

static consort_err expect_key(cs_cbor_reader *r, const char *want)
{
    cs_slice k;
    CS_TRY(cs_cbor_read_text(r, &k));
    CS_ENSURE(cs_slice_eq(k, cs_slice_str(want)), CONSORT_E_CORRUPT,
              "genesis inputs: \"%.*s\" where \"%s\" was expected", (int)k.len, (const char *)k.ptr,
              want);
    return CONSORT_OK;
}

static consort_err put_keyed_by_digest(cs_kv_tx *tx, const char *map, cs_slice value)
{
    uint8_t fp[32];
    char hex[65];
    cs_sha256(value, fp);
    cs_hex_encode(CS_SLICE(fp, 32), hex);
    return cs_kv_put(tx, cs_slice_str(map), cs_slice_str(hex), value);
}

static consort_err put_list(cs_cbor_reader *r, cs_kv_tx *tx, const char *key, const char *map)
{
    uint64_t count;
    CS_TRY(expect_key(r, key));
    CS_TRY(cs_cbor_read_array(r, &count));
    for (uint64_t i = 0; i < count; i++) {
        cs_slice v;
        CS_TRY(cs_cbor_read_bytes(r, &v));
        CS_TRY_CTX(put_keyed_by_digest(tx, map, v), "genesis %s", key);
    }
    return CONSORT_OK;
}

static consort_err put_code_ids(cs_cbor_reader *r, cs_kv_tx *tx)
{
    uint64_t count;
    CS_TRY(expect_key(r, "code_ids"));
    CS_TRY(cs_cbor_read_array(r, &count));
    for (uint64_t i = 0; i < count; i++) {
        cs_slice id;
        char hex[65];
        CS_TRY(cs_cbor_read_bytes(r, &id));
        CS_ENSURE(id.len == 32, CONSORT_E_CORRUPT, "genesis inputs: code id of %zu bytes", id.len);
        cs_hex_encode(id, hex);
        CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(NODE_MAP_CODE_IDS), cs_slice_str(hex),
                         CS_SLICE_LIT("AllowedToJoin")));
    }
    return CONSORT_OK;
}

consort_err node_genesis_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    cs_node *n = ctx;
    CS_ENSURE(n->genesis.len > 0, CONSORT_E_STATE, "genesis: no sealed genesis inputs");
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, cs_buf_slice(&n->genesis));
    uint64_t pairs;
    bool allow_debug;
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_ENSURE(pairs == 5, CONSORT_E_CORRUPT, "genesis inputs: %llu members, expected 5",
              (unsigned long long)pairs);
    CS_TRY(node_put_own_record(n, tx));
    CS_TRY(put_code_ids(&r, tx));
    CS_TRY(put_list(&r, tx, "users", NODE_MAP_USERS));
    CS_TRY(put_list(&r, tx, "members", NODE_MAP_MEMBERS));
    CS_TRY(put_list(&r, tx, "anchors", NODE_MAP_ANCHORS));
    CS_TRY(expect_key(&r, "allow_debug"));
    CS_TRY(cs_cbor_read_bool(&r, &allow_debug));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(NODE_MAP_POLICY), CS_SLICE_LIT("allow_debug_evidence"),
                     allow_debug ? CS_SLICE_LIT("true") : CS_SLICE_LIT("false")));
    cs_buf der;
    cs_buf_init(&der, 64 << 10);
    consort_err rc = cs_x509_to_der(n->service_cert, &der);
    if (rc == CONSORT_OK)
        rc = cs_kv_put(tx, CS_SLICE_LIT(NODE_MAP_SERVICE), CS_SLICE_LIT(NODE_SERVICE_KEY),
                       cs_buf_slice(&der));
    cs_buf_cleanup(&der);
    out->commit = true;
    return rc;
}

consort_err node_genesis_signed(cs_node *n, uint64_t sig_seqno)
{
    if (n->genesis.len == 0)
        return CONSORT_OK;
    /* the genesis transaction is committed and covered by a signature: its
     * inputs are no longer needed, and the ledger must never be shorter */
    cs_buf saved;
    cs_buf_init(&saved, GENESIS_MAX);
    CS_TRY(cs_buf_set(&saved, cs_buf_slice(&n->genesis)));
    cs_buf_reset(&n->genesis);
    consort_err rc = node_seal_hwm(n, sig_seqno);
    if (rc != CONSORT_OK)
        cs_buf_move(&n->genesis, &saved); /* keep the inputs until sealing succeeds */
    else
        cs_log_info(NODE_LOG, "node %s: genesis committed and signed at seqno %llu", n->node_id,
                    (unsigned long long)sig_seqno);
    cs_buf_cleanup(&saved);
    return rc;
}
