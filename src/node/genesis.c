/* Genesis inputs and the genesis transaction (genesis.h). */
#include "node/genesis.h"

#include "base/cbor.h"

#include <string.h>

static consort_err write_cert_files(cs_buf *b, const char files[][CS_NODE_PATH_MAX], size_t count,
                                    const char *what)
{
    CS_TRY(cs_cbor_write_array(b, count));
    for (size_t i = 0; i < count; i++) {
        cs_x509 *cert;
        CS_TRY_CTX(cs_x509_load_file(files[i], &cert), "%s: certificate %s", what, files[i]);
        cs_buf der;
        cs_buf_init(&der, 64 << 10);
        consort_err rc;
        CS_TRY_GOTO(rc, cs_x509_to_der(cert, &der), next);
        CS_TRY_GOTO(rc, cs_cbor_write_bytes(b, cs_buf_slice(&der)), next);
    next:
        cs_buf_cleanup(&der);
        cs_x509_free(cert);
        CS_TRY(rc);
    }
    return CONSORT_OK;
}

consort_err node_genesis_prepare(const cs_node_config *c, const uint8_t code_id[32],
                                 const cs_blob_list *anchors, cs_buf *b)
{
    cs_buf_reset(b);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_cbor_write_map(b, 5), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "code_ids"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_array(b, 1 + c->trusted_code_id_count), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(b, CS_SLICE(code_id, 32)), fail);
    for (size_t i = 0; i < c->trusted_code_id_count; i++)
        CS_TRY_GOTO(rc, cs_cbor_write_bytes(b, CS_SLICE(c->trusted_code_ids[i], 32)), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "users"), fail);
    CS_TRY_GOTO(rc, write_cert_files(b, c->users, c->user_count, "users"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "members"), fail);
    CS_TRY_GOTO(rc, write_cert_files(b, c->members, c->member_count, "members"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "anchors"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_array(b, anchors->count), fail);
    for (size_t i = 0; i < anchors->count; i++)
        CS_TRY_GOTO(rc, cs_cbor_write_bytes(b, cs_buf_slice(&anchors->items[i])), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "allow_debug"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_bool(b, c->allow_debug), fail);
    return CONSORT_OK;
fail:
    cs_buf_reset(b);
    return cs_err_context(rc, "genesis configuration");
}

static consort_err expect_key(cs_cbor_reader *r, const char *want)
{
    CS_TRY_CTX(cs_cbor_read_key(r, want), "genesis inputs");
    return CONSORT_OK;
}

static consort_err put_list(cs_cbor_reader *r, cs_kv_tx *tx, const char *key, const char *map)
{
    uint64_t count;
    CS_TRY(expect_key(r, key));
    CS_TRY(cs_cbor_read_array(r, &count));
    for (uint64_t i = 0; i < count; i++) {
        cs_slice v;
        CS_TRY(cs_cbor_read_bytes(r, &v));
        CS_TRY_CTX(svc_put_by_digest(tx, map, v), "genesis %s", key);
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
        CS_TRY(cs_cbor_read_bytes(r, &id));
        CS_ENSURE(id.len == 32, CONSORT_E_CORRUPT, "genesis inputs: code id of %zu bytes", id.len);
        CS_TRY(svc_put_code_id(tx, id.ptr));
    }
    return CONSORT_OK;
}

consort_err node_genesis_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    const node_genesis *g = ctx;
    CS_ENSURE(g->inputs.len > 0, CONSORT_E_STATE, "genesis: no sealed genesis inputs");
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, g->inputs);
    uint64_t pairs;
    bool allow_debug;
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_ENSURE(pairs == 5, CONSORT_E_CORRUPT, "genesis inputs: %llu members, expected 5",
              (unsigned long long)pairs);
    CS_TRY(svc_record_put(tx, g->node_id, g->record));
    CS_TRY(put_code_ids(&r, tx));
    CS_TRY(put_list(&r, tx, "users", SVC_MAP_USERS));
    CS_TRY(put_list(&r, tx, "members", SVC_MAP_MEMBERS));
    CS_TRY(put_list(&r, tx, "anchors", SVC_MAP_ANCHORS));
    CS_TRY(expect_key(&r, "allow_debug"));
    CS_TRY(cs_cbor_read_bool(&r, &allow_debug));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_POLICY), CS_SLICE_LIT(SVC_DEBUG_KEY),
                     allow_debug ? CS_SLICE_LIT("true") : CS_SLICE_LIT("false")));
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_SERVICE), CS_SLICE_LIT(SVC_SERVICE_KEY),
                     g->service_cert));
    out->commit = true;
    return CONSORT_OK;
}
