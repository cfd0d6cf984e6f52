/*
 * The attested channel's hello message (attested.h): encoding and strict
 * decoding, and the node id derived from a key.
 */
#include "net/attested.h"

#include "base/cbor.h"

#include <string.h>

enum { KEY_EVIDENCE = 1, KEY_NODE_ID = 2, KEY_RAFT_ID = 3, KEY_RAFT_ADDRESS = 4 };

consort_err cs_attested_node_id(const cs_key *key, char out[CS_NODE_ID_LEN + 1])
{
    uint8_t id[CS_SHA256_LEN];
    CS_TRY(cs_key_id(key, id)); /* SHA-256 of the SPKI DER */
    cs_hex_encode(CS_SLICE(id, CS_NODE_ID_LEN / 2), out);
    return CONSORT_OK;
}

static bool printable(cs_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < 0x21 || s.ptr[i] > 0x7e)
            return false;
    return true;
}

static consort_err check_node_id(cs_slice id)
{
    CS_ENSURE(id.len == CS_NODE_ID_LEN, CONSORT_E_MALFORMED,
              "hello: node id of %zu bytes, expected %d", id.len, CS_NODE_ID_LEN);
    for (size_t i = 0; i < id.len; i++)
        CS_ENSURE((id.ptr[i] >= '0' && id.ptr[i] <= '9') || (id.ptr[i] >= 'a' && id.ptr[i] <= 'f'),
                  CONSORT_E_MALFORMED, "hello: node id is not lower-case hex");
    return CONSORT_OK;
}

static consort_err check_address(cs_slice a)
{
    CS_ENSURE(a.len >= 1 && a.len <= CS_RAFT_ADDRESS_MAX && printable(a), CONSORT_E_MALFORMED,
              "hello: raft address of %zu bytes is empty, too long or not printable", a.len);
    return CONSORT_OK;
}

consort_err cs_attested_hello_encode(const cs_evidence *ev, const char *node_id, uint64_t raft_id,
                                     const char *raft_address, cs_buf *out)
{
    CS_TRY(check_node_id(cs_slice_str(node_id)));
    CS_TRY(check_address(cs_slice_str(raft_address)));
    cs_buf env;
    cs_buf_init(&env, CS_EVIDENCE_MAX_BYTES);
    size_t start = out->len;
    uint8_t *len_at;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_evidence_encode(ev, &env), fail);
    CS_TRY_GOTO(rc, cs_buf_extend(out, 4, &len_at), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_map(out, 4), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_uint(out, KEY_EVIDENCE), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, cs_buf_slice(&env)), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_uint(out, KEY_NODE_ID), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(out, node_id), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_uint(out, KEY_RAFT_ID), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_uint(out, raft_id), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_uint(out, KEY_RAFT_ADDRESS), fail);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(out, raft_address), fail);
    cs_buf_cleanup(&env);
    size_t body = out->len - start - 4;
    if (body > CS_ATTESTED_HELLO_MAX) {
        out->len = start;
        return cs_fail(CONSORT_E_TOO_LARGE, "hello: %zu bytes, at most %d", body,
                       CS_ATTESTED_HELLO_MAX);
    }
    uint8_t *p = out->ptr + start; /* the buffer may have moved: recompute */
    p[0] = (uint8_t)(body >> 24);
    p[1] = (uint8_t)(body >> 16);
    p[2] = (uint8_t)(body >> 8);
    p[3] = (uint8_t)body;
    return CONSORT_OK;

fail:
    cs_buf_cleanup(&env);
    out->len = start;
    return cs_err_context(rc, "hello");
}

consort_err cs_attested_hello_decode(cs_slice in, cs_attested_hello *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(in.len <= CS_ATTESTED_HELLO_MAX, CONSORT_E_TOO_LARGE, "hello: %zu bytes, at most %d",
              in.len, CS_ATTESTED_HELLO_MAX);
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    uint64_t pairs;
    CS_TRY_CTX(cs_cbor_read_map(&r, &pairs), "hello");
    CS_ENSURE(pairs == 4, CONSORT_E_MALFORMED, "hello: map of %llu pairs, expected 4",
              (unsigned long long)pairs);
    CS_TRY_CTX(cs_cbor_read_ukey(&r, KEY_EVIDENCE), "hello");
    CS_TRY_CTX(cs_cbor_read_bytes(&r, &out->evidence), "hello: evidence");
    CS_ENSURE(out->evidence.len <= CS_EVIDENCE_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "hello: evidence of %zu bytes, at most %d", out->evidence.len, CS_EVIDENCE_MAX_BYTES);
    CS_TRY_CTX(cs_cbor_read_ukey(&r, KEY_NODE_ID), "hello");
    CS_TRY_CTX(cs_cbor_read_text(&r, &out->node_id), "hello: node id");
    CS_TRY(check_node_id(out->node_id));
    CS_TRY_CTX(cs_cbor_read_ukey(&r, KEY_RAFT_ID), "hello");
    CS_TRY_CTX(cs_cbor_read_uint(&r, &out->raft_id), "hello: raft id");
    CS_TRY_CTX(cs_cbor_read_ukey(&r, KEY_RAFT_ADDRESS), "hello");
    CS_TRY_CTX(cs_cbor_read_text(&r, &out->raft_address), "hello: raft address");
    CS_TRY(check_address(out->raft_address));
    CS_TRY_CTX(cs_cbor_expect_end(&r), "hello");
    return CONSORT_OK;
}
