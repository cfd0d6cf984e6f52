/*
 * Node records: the values of public:consort.nodes (node.md "Start"),
 * keyed by the node id (16 hex digits). CBOR map, text keys in this order:
 *   {"raft_id": uint, "node_address": tstr, "rpc_address": tstr,
 *    "cert": bstr (node certificate DER), "code_id": bstr 32,
 *    "status": tstr ("Trusted"), "evidence": bstr (evidence envelope
 *    binding the node key, empty nonce)}
 * Decoding is strict: records are read back from the replicated store,
 * whose contents a faulty leader could have written.
 */
#include "node/node_priv.h"

#include "base/cbor.h"

#include <string.h>

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

static consort_err key(cs_cbor_reader *rd, const char *want)
{
    cs_slice k;
    CS_TRY(cs_cbor_read_text(rd, &k));
    CS_ENSURE(cs_slice_eq(k, cs_slice_str(want)), CONSORT_E_MALFORMED,
              "node record: \"%.*s\" where \"%s\" was expected", (int)k.len, (const char *)k.ptr,
              want);
    return CONSORT_OK;
}

static consort_err text(cs_cbor_reader *rd, const char *name, char *out, size_t n)
{
    cs_slice s;
    CS_TRY(key(rd, name));
    CS_TRY(cs_cbor_read_text(rd, &s));
    CS_ENSURE(s.len < n && memchr(s.ptr, 0, s.len) == NULL, CONSORT_E_MALFORMED,
              "node record: %s of %zu bytes", name, s.len);
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return CONSORT_OK;
}

consort_err node_record_decode(cs_slice in, node_record *r)
{
    cs_cbor_reader rd;
    cs_cbor_reader_init(&rd, in);
    uint64_t pairs;
    cs_slice s;
    CS_TRY(cs_cbor_read_map(&rd, &pairs));
    CS_ENSURE(pairs == 7, CONSORT_E_MALFORMED, "node record: %llu members, expected 7",
              (unsigned long long)pairs);
    CS_TRY(key(&rd, "raft_id"));
    CS_TRY(cs_cbor_read_uint(&rd, &r->raft_id));
    CS_TRY(text(&rd, "node_address", r->node_address, sizeof r->node_address));
    CS_TRY(text(&rd, "rpc_address", r->rpc_address, sizeof r->rpc_address));
    CS_TRY(key(&rd, "cert"));
    CS_TRY(cs_cbor_read_bytes(&rd, &s));
    CS_TRY(cs_buf_set(&r->cert, s));
    CS_TRY(key(&rd, "code_id"));
    CS_TRY(cs_cbor_read_bytes(&rd, &s));
    CS_ENSURE(s.len == 32, CONSORT_E_MALFORMED, "node record: code id of %zu bytes", s.len);
    memcpy(r->code_id, s.ptr, 32);
    CS_TRY(text(&rd, "status", r->status, sizeof r->status));
    CS_TRY(key(&rd, "evidence"));
    CS_TRY(cs_cbor_read_bytes(&rd, &s));
    CS_TRY(cs_buf_set(&r->evidence, s));
    return cs_cbor_expect_end(&rd);
}

typedef struct get_ctx {
    const char *node_id;
    node_record *r;
    consort_err rc;
} get_ctx;

static consort_err get_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    get_ctx *g = ctx;
    (void)out;
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_get(tx, CS_SLICE_LIT(NODE_MAP_NODES), cs_slice_str(g->node_id), &v, &found));
    if (!found)
        return CONSORT_E_NOT_FOUND;
    return node_record_decode(v, g->r);
}

consort_err node_record_get(cs_node *n, const char *node_id, node_record *r)
{
    get_ctx g = {.node_id = node_id, .r = r};
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin(n->kv, &tx));
    consort_err rc = get_fn(&g, tx, NULL);
    cs_kv_tx_free(tx);
    return rc;
}
