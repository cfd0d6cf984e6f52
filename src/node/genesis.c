/* Genesis inputs and the genesis transaction (genesis.h). */
#include "node/genesis.h"

#include "base/cbor.h"
#include "base/file.h"
#include "crypto/hash.h"
#include "gov/constitution.h"
#include "gov/request.h"
#include "gov/shares.h"
#include "node/succession.h"

#include <stdio.h>
#include <string.h>

#define GENESIS_PAIRS 8
/* The largest member encryption key file read (PEM). */
#define ENC_KEY_MAX ((size_t)16 << 10)

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

/* Each member's encryption key file (checked), or an empty string. */
static consort_err write_member_keys(cs_buf *b, const cs_node_config *c)
{
    CS_TRY(cs_cbor_write_array(b, c->member_count));
    for (size_t i = 0; i < c->member_count; i++) {
        cs_buf pem;
        cs_buf_init(&pem, ENC_KEY_MAX);
        consort_err rc = CONSORT_OK;
        if (c->member_enc_keys[i][0] != '\0') {
            CS_TRY_GOTO(rc, cs_file_read(c->member_enc_keys[i], &pem), next);
            CS_TRY_GOTO(rc, cs_gov_enc_key_check(cs_buf_slice(&pem)), next);
        }
        CS_TRY_GOTO(rc, cs_cbor_write_bytes(b, cs_buf_slice(&pem)), next);
    next:
        cs_buf_cleanup(&pem);
        CS_TRY_CTX(rc, "members: item %zu encryption key %s", i, c->member_enc_keys[i]);
    }
    return CONSORT_OK;
}

/* The constitution file (or the built-in one), checked by loading it. */
static consort_err write_constitution(cs_buf *b, const cs_node_config *c)
{
    cs_buf text;
    cs_buf_init(&text, CS_CONSTITUTION_MAX_SCRIPT);
    consort_err rc;
    if (c->constitution_path[0] != '\0') {
        CS_TRY_GOTO(rc, cs_file_read(c->constitution_path, &text), out);
    } else {
        size_t len;
        const char *script = cs_constitution_default_script(&len);
        CS_TRY_GOTO(rc, cs_buf_append(&text, script, len), out);
    }
    cs_constitution *check;
    CS_TRY_GOTO(rc, cs_constitution_new((const char *)text.ptr, text.len, NULL, &check), out);
    cs_constitution_free(check);
    rc = cs_cbor_write_text(b, cs_buf_slice(&text));
out:
    cs_buf_cleanup(&text);
    if (rc != CONSORT_OK && c->constitution_path[0] != '\0')
        return cs_err_context(rc, "constitution %s", c->constitution_path);
    return rc;
}

consort_err node_genesis_prepare(const cs_node_config *c, const uint8_t code_id[32],
                                 const cs_blob_list *anchors, cs_buf *b)
{
    cs_buf_reset(b);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_cbor_write_map(b, GENESIS_PAIRS), fail);
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
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "member_keys"), fail);
    CS_TRY_GOTO(rc, write_member_keys(b, c), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "constitution"), fail);
    CS_TRY_GOTO(rc, write_constitution(b, c), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(b, "open"), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_bool(b, c->open_at_genesis), fail);
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

/* Puts each item of the array under `key` by its digest; `raw` (may be
 * NULL) gets the array's encoding. */
static consort_err put_list(cs_cbor_reader *r, cs_kv_tx *tx, const char *key, const char *map,
                            cs_slice *raw)
{
    uint64_t count;
    CS_TRY(expect_key(r, key));
    size_t start = r->pos;
    CS_TRY(cs_cbor_read_array(r, &count));
    for (uint64_t i = 0; i < count; i++) {
        cs_slice v;
        CS_TRY(cs_cbor_read_bytes(r, &v));
        CS_TRY_CTX(svc_put_by_digest(tx, map, v), "genesis %s", key);
    }
    if (raw != NULL)
        *raw = CS_SLICE(r->in.ptr + start, r->pos - start);
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

/* The members' encryption keys, by member id (the members were put first). */
static consort_err put_member_keys(cs_cbor_reader *r, cs_kv_tx *tx, cs_slice members)
{
    cs_cbor_reader m;
    cs_cbor_reader_init(&m, members);
    uint64_t count, keys;
    CS_TRY(cs_cbor_read_array(&m, &count));
    CS_TRY(expect_key(r, "member_keys"));
    CS_TRY(cs_cbor_read_array(r, &keys));
    CS_ENSURE(keys == count, CONSORT_E_CORRUPT, "genesis inputs: %llu member keys for %llu members",
              (unsigned long long)keys, (unsigned long long)count);
    for (uint64_t i = 0; i < count; i++) {
        cs_slice der, pem;
        CS_TRY(cs_cbor_read_bytes(&m, &der));
        CS_TRY(cs_cbor_read_bytes(r, &pem));
        if (pem.len == 0)
            continue;
        uint8_t fp[32];
        char id[65];
        cs_sha256(der, fp);
        cs_hex_encode(CS_SLICE(fp, 32), id);
        CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_MEMBER_KEYS), cs_slice_str(id), pem));
    }
    return CONSORT_OK;
}

/* Governance settings: the request window and the recovery threshold (a
 * majority of the members who have an encryption key; 0: none has). */
static consort_err put_settings(cs_kv_tx *tx, size_t with_keys)
{
    char text[24];
    snprintf(text, sizeof text, "%d", SVC_DEFAULT_WINDOW_S);
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_SETTINGS), CS_SLICE_LIT(SVC_SETTING_WINDOW),
                     cs_slice_str(text)));
    snprintf(text, sizeof text, "%zu", with_keys == 0 ? 0 : with_keys / 2 + 1);
    return cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_SETTINGS), CS_SLICE_LIT(SVC_SETTING_THRESHOLD),
                     cs_slice_str(text));
}

static bool count_key(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    (void)value;
    (*(size_t *)ctx)++;
    return true;
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
    CS_ENSURE(pairs == GENESIS_PAIRS, CONSORT_E_CORRUPT,
              "genesis inputs: %llu members, expected %d", (unsigned long long)pairs,
              GENESIS_PAIRS);
    CS_TRY(svc_record_put(tx, g->node_id, g->record));
    CS_TRY(put_code_ids(&r, tx));
    CS_TRY(put_list(&r, tx, "users", SVC_MAP_USERS, NULL));
    cs_slice members;
    CS_TRY(put_list(&r, tx, "members", SVC_MAP_MEMBERS, &members));
    CS_TRY(put_list(&r, tx, "anchors", SVC_MAP_ANCHORS, NULL));
    CS_TRY(expect_key(&r, "allow_debug"));
    CS_TRY(cs_cbor_read_bool(&r, &allow_debug));
    CS_TRY(put_member_keys(&r, tx, members));
    cs_slice script;
    bool open;
    CS_TRY(expect_key(&r, "constitution"));
    CS_TRY(cs_cbor_read_text(&r, &script));
    CS_TRY(expect_key(&r, "open"));
    CS_TRY(cs_cbor_read_bool(&r, &open));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_CONSTITUTION), CS_SLICE_LIT(SVC_CONSTITUTION_KEY),
                     script));
    size_t with_keys = 0;
    CS_TRY(cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_MEMBER_KEYS), count_key, &with_keys));
    CS_TRY(put_settings(tx, with_keys));
    CS_ENSURE(g->ledger_secret != NULL && g->service_key != NULL, CONSORT_E_STATE,
              "genesis: no ledger secret or service key");
    node_share_keys shares = {.ledger_secret = g->ledger_secret};
    node_share_service_id(g->service_cert, shares.service_id);
    CS_TRY_CTX(node_shares_issue(tx, &shares), "genesis");
    CS_TRY(node_service_key_put(tx, g->service_key));
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_SERVICE), CS_SLICE_LIT(SVC_STATUS_KEY),
                     open ? CS_SLICE_LIT(SVC_STATUS_OPEN) : CS_SLICE_LIT(SVC_STATUS_OPENING)));
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_POLICY), CS_SLICE_LIT(SVC_DEBUG_KEY),
                     allow_debug ? CS_SLICE_LIT("true") : CS_SLICE_LIT("false")));
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_SERVICE), CS_SLICE_LIT(SVC_SERVICE_KEY),
                     g->service_cert));
    out->commit = true;
    return CONSORT_OK;
}
