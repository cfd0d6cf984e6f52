/* The service's own maps (service_maps.h). */
#include "node/service_maps.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "crypto/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- node records ---- */

void node_record_init(node_record *r)
{
    memset(r, 0, sizeof *r);
    cs_buf_init(&r->cert, CS_LEDGER_CERT_MAX);
    cs_buf_init(&r->evidence, CS_EVIDENCE_MAX_BYTES);
}

void node_record_cleanup(node_record *r)
{
    cs_buf_cleanup(&r->cert);
    cs_buf_cleanup(&r->evidence);
}

consort_err node_record_encode(const node_record *r, cs_buf *out)
{
    CS_TRY(cs_cbor_write_map(out, 7));
    CS_TRY(cs_cbor_write_cstr(out, "raft_id"));
    CS_TRY(cs_cbor_write_uint(out, r->raft_id));
    CS_TRY(cs_cbor_write_cstr(out, "node_address"));
    CS_TRY(cs_cbor_write_cstr(out, r->node_address));
    CS_TRY(cs_cbor_write_cstr(out, "rpc_address"));
    CS_TRY(cs_cbor_write_cstr(out, r->rpc_address));
    CS_TRY(cs_cbor_write_cstr(out, "cert"));
    CS_TRY(cs_cbor_write_bytes(out, cs_buf_slice(&r->cert)));
    CS_TRY(cs_cbor_write_cstr(out, "code_id"));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(r->code_id, 32)));
    CS_TRY(cs_cbor_write_cstr(out, "status"));
    CS_TRY(cs_cbor_write_cstr(out, r->status));
    CS_TRY(cs_cbor_write_cstr(out, "evidence"));
    return cs_cbor_write_bytes(out, cs_buf_slice(&r->evidence));
}

static consort_err text(cs_cbor_reader *rd, const char *name, char *out, size_t n)
{
    CS_TRY(cs_cbor_read_key(rd, name));
    return cs_cbor_read_cstr(rd, out, n, name);
}

static consort_err bytes(cs_cbor_reader *rd, const char *name, cs_slice *out)
{
    CS_TRY(cs_cbor_read_key(rd, name));
    return cs_cbor_read_bytes(rd, out);
}

static consort_err decode(cs_slice in, node_record *r)
{
    cs_cbor_reader rd;
    cs_cbor_reader_init(&rd, in);
    uint64_t pairs;
    cs_slice s;
    CS_TRY(cs_cbor_read_map(&rd, &pairs));
    CS_ENSURE(pairs == 7, CONSORT_E_MALFORMED, "%llu members, expected 7",
              (unsigned long long)pairs);
    CS_TRY(cs_cbor_read_key(&rd, "raft_id"));
    CS_TRY(cs_cbor_read_uint(&rd, &r->raft_id));
    CS_TRY(text(&rd, "node_address", r->node_address, sizeof r->node_address));
    CS_TRY(text(&rd, "rpc_address", r->rpc_address, sizeof r->rpc_address));
    CS_TRY(bytes(&rd, "cert", &s));
    CS_TRY(cs_buf_set(&r->cert, s));
    CS_TRY(bytes(&rd, "code_id", &s));
    CS_ENSURE(s.len == 32, CONSORT_E_MALFORMED, "code id of %zu bytes", s.len);
    memcpy(r->code_id, s.ptr, 32);
    CS_TRY(text(&rd, "status", r->status, sizeof r->status));
    CS_TRY(bytes(&rd, "evidence", &s));
    CS_TRY(cs_buf_set(&r->evidence, s));
    return cs_cbor_expect_end(&rd);
}

/*
 * A record is read only in the form node_record_encode writes (shortest
 * integer and length heads): the same record has one encoding, so the
 * bytes in the store are the record (the CBOR reader alone also takes
 * longer heads, which RFC 8949 allows).
 */
consort_err node_record_decode(cs_slice in, node_record *r)
{
    CS_TRY_CTX(decode(in, r), "node record");
    cs_buf again;
    cs_buf_init(&again, in.len + 1);
    consort_err rc = node_record_encode(r, &again);
    if (rc == CONSORT_OK && !cs_slice_eq(cs_buf_slice(&again), in))
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "node record: not in its canonical encoding (an integer or a length in a "
                     "longer form than needed)");
    cs_buf_cleanup(&again);
    return rc;
}

consort_err svc_record_get(cs_kv_store *kv, const char *node_id, node_record *r)
{
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin(kv, &tx));
    cs_slice v;
    bool found = false;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_NODES), cs_slice_str(node_id), &v, &found),
                done);
    CS_ENSURE_GOTO(rc, found, done, CONSORT_E_NOT_FOUND, "no node %s in the service", node_id);
    rc = node_record_decode(v, r);
done:
    cs_kv_tx_free(tx);
    return rc;
}

consort_err svc_record_put(cs_kv_tx *tx, const char *node_id, const node_record *r)
{
    cs_buf val;
    cs_buf_init(&val, 1 << 20);
    consort_err rc;
    CS_TRY_GOTO(rc, node_record_encode(r, &val), done);
    rc = cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_NODES), cs_slice_str(node_id), cs_buf_slice(&val));
done:
    cs_buf_cleanup(&val);
    return rc;
}

typedef struct each_ctx {
    svc_record_fn fn;
    void *ctx;
    node_record r;
} each_ctx;

static bool each_cb(void *ctx, cs_slice key, cs_slice value)
{
    each_ctx *e = ctx;
    char id[CS_NODE_ADDR_MAX];
    if (key.len >= sizeof id)
        return true;
    memcpy(id, key.ptr, key.len);
    id[key.len] = '\0';
    cs_buf_reset(&e->r.cert);
    cs_buf_reset(&e->r.evidence);
    bool ok = node_record_decode(value, &e->r) == CONSORT_OK;
    cs_err_clear();
    return e->fn(e->ctx, id, ok ? &e->r : NULL);
}

consort_err svc_records_each(cs_kv_store *kv, svc_record_fn fn, void *ctx)
{
    each_ctx e = {.fn = fn, .ctx = ctx};
    node_record_init(&e.r);
    cs_kv_tx *tx;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_kv_tx_begin(kv, &tx), done);
    rc = cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_NODES), each_cb, &e);
    cs_kv_tx_free(tx);
done:
    node_record_cleanup(&e.r);
    return rc;
}

static bool count_cb(void *ctx, const char *node_id, const node_record *r)
{
    (void)node_id;
    (void)r;
    (*(size_t *)ctx)++;
    return true;
}

consort_err svc_records_count(cs_kv_store *kv, size_t *count)
{
    *count = 0;
    return svc_records_each(kv, count_cb, count);
}

/* ---- policy ---- */

void svc_policy_init(svc_policy *p)
{
    memset(p, 0, sizeof *p);
    cs_blob_list_init(&p->anchors);
}

void svc_policy_cleanup(svc_policy *p)
{
    cs_free(p->code_ids);
    cs_blob_list_cleanup(&p->anchors);
    memset(p, 0, sizeof *p);
}

typedef struct policy_ctx {
    svc_policy *p;
    size_t cap;
    consort_err rc;
} policy_ctx;

static bool code_id_cb(void *ctx, cs_slice key, cs_slice value)
{
    policy_ctx *pc = ctx;
    char hex[65];
    if (key.len != 64 || !cs_slice_eq(value, CS_SLICE_LIT(SVC_CODE_ID_OK)))
        return true; /* not a trusted code id */
    if (pc->p->code_id_count == pc->cap) {
        size_t cap = pc->cap ? pc->cap * 2 : 8;
        uint8_t(*ids)[32] = cs_realloc(pc->p->code_ids, cap * sizeof *ids);
        if (ids == NULL) {
            pc->rc = cs_fail(CONSORT_E_NOMEM, "trusted code ids");
            return false;
        }
        pc->p->code_ids = ids;
        pc->cap = cap;
    }
    memcpy(hex, key.ptr, 64);
    hex[64] = '\0';
    if (cs_hex_decode(hex, pc->p->code_ids[pc->p->code_id_count], 32) == CONSORT_OK)
        pc->p->code_id_count++;
    cs_err_clear();
    return true;
}

static bool anchor_cb(void *ctx, cs_slice key, cs_slice value)
{
    policy_ctx *pc = ctx;
    (void)key;
    pc->rc = cs_blob_list_add(&pc->p->anchors, value);
    return pc->rc == CONSORT_OK;
}

consort_err svc_policy_read(cs_kv_store *kv, svc_policy *out)
{
    policy_ctx pc = {.p = out, .rc = CONSORT_OK};
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin(kv, &tx));
    cs_slice v;
    bool found = false;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_CODE_IDS), code_id_cb, &pc), done);
    CS_TRY_GOTO(rc, pc.rc, done);
    CS_TRY_GOTO(rc, cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_ANCHORS), anchor_cb, &pc), done);
    CS_TRY_GOTO(rc, pc.rc, done);
    CS_TRY_GOTO(
        rc, cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_POLICY), CS_SLICE_LIT(SVC_DEBUG_KEY), &v, &found),
        done);
    out->has_allow_debug = found;
    out->allow_debug = found && cs_slice_eq(v, CS_SLICE_LIT("true"));
done:
    cs_kv_tx_free(tx);
    return rc;
}

bool svc_cert_registered(cs_kv_store *kv, const char *map, const uint8_t fp[32])
{
    char hex[65];
    cs_hex_encode(CS_SLICE(fp, 32), hex);
    cs_kv_tx *tx;
    if (cs_kv_tx_begin_committed(kv, &tx) != CONSORT_OK) {
        cs_err_clear();
        return false;
    }
    cs_slice v;
    bool found = false;
    bool ok = cs_kv_get(tx, cs_slice_str(map), cs_slice_str(hex), &v, &found) == CONSORT_OK;
    cs_kv_tx_free(tx);
    cs_err_clear();
    return ok && found;
}

consort_err svc_record_set_status(cs_kv_tx *tx, const char *node_id, const char *status)
{
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_NODES), cs_slice_str(node_id), &v, &found));
    CS_ENSURE(found, CONSORT_E_NOT_FOUND, "no node %s", node_id);
    node_record r;
    node_record_init(&r);
    cs_buf enc;
    cs_buf_init(&enc, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, node_record_decode(v, &r), out);
    snprintf(r.status, sizeof r.status, "%s", status);
    CS_TRY_GOTO(rc, node_record_encode(&r, &enc), out);
    rc = cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_NODES), cs_slice_str(node_id), cs_buf_slice(&enc));
out:
    cs_buf_cleanup(&enc);
    node_record_cleanup(&r);
    return rc;
}

bool svc_service_open(cs_kv_store *kv)
{
    cs_kv_tx *tx;
    if (cs_kv_tx_begin(kv, &tx) != CONSORT_OK) {
        cs_err_clear();
        return false;
    }
    cs_slice v;
    bool found = false;
    bool ok = cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_SERVICE), CS_SLICE_LIT(SVC_STATUS_KEY), &v,
                        &found) == CONSORT_OK;
    bool open = ok && found && cs_slice_eq(v, CS_SLICE_LIT(SVC_STATUS_OPEN));
    cs_kv_tx_free(tx);
    cs_err_clear();
    return open;
}

/* ---- writing ---- */

consort_err svc_put_by_digest(cs_kv_tx *tx, const char *map, cs_slice value)
{
    uint8_t fp[32];
    char hex[65];
    cs_sha256(value, fp);
    cs_hex_encode(CS_SLICE(fp, 32), hex);
    return cs_kv_put(tx, cs_slice_str(map), cs_slice_str(hex), value);
}

consort_err svc_put_code_id(cs_kv_tx *tx, const uint8_t code_id[32])
{
    char hex[65];
    cs_hex_encode(CS_SLICE(code_id, 32), hex);
    return cs_kv_put(tx, CS_SLICE_LIT(SVC_MAP_CODE_IDS), cs_slice_str(hex),
                     CS_SLICE_LIT(SVC_CODE_ID_OK));
}

/* ---- governance settings and members ---- */

consort_err svc_setting(cs_kv_tx *tx, const char *name, uint64_t def, uint64_t *out)
{
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_SETTINGS), cs_slice_str(name), &v, &found));
    *out = def;
    if (!found)
        return CONSORT_OK;
    char text[24];
    CS_ENSURE(v.len > 0 && v.len < sizeof text, CONSORT_E_CORRUPT, "setting %s: %zu bytes", name,
              v.len);
    memcpy(text, v.ptr, v.len);
    text[v.len] = '\0';
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    CS_ENSURE(*end == '\0' && text[0] >= '0' && text[0] <= '9', CONSORT_E_CORRUPT,
              "setting %s: \"%s\" is not a decimal number", name, text);
    *out = n;
    return CONSORT_OK;
}

consort_err svc_member_lookup(void *ctx, const char *member_id, cs_x509 **cert)
{
    cs_kv_tx *tx = ctx;
    cs_slice der;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(SVC_MAP_MEMBERS), cs_slice_str(member_id), &der, &found));
    if (!found)
        return cs_fail(CONSORT_E_NOT_FOUND, "no member %s", member_id);
    return cs_x509_from_der(der, cert);
}
