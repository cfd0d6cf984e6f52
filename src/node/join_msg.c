/* The join protocol's messages (join_msg.h). */
#include "node/join_msg.h"

#include "base/cbor.h"

#include <string.h>

static const char *const type_names[] = {"", "join", "redirect", "error", "welcome"};

static consort_err put_text(cs_buf *b, const char *key, const char *value)
{
    CS_TRY(cs_cbor_write_cstr(b, key));
    return cs_cbor_write_cstr(b, value);
}

static consort_err put_bytes(cs_buf *b, const char *key, cs_slice value)
{
    CS_TRY(cs_cbor_write_cstr(b, key));
    return cs_cbor_write_bytes(b, value);
}

static consort_err encode_body(const join_msg *m, cs_buf *b)
{
    static const size_t members[] = {0, 4, 2, 2, 5};
    CS_ENSURE(m->type >= JOIN_MSG_JOIN && m->type <= JOIN_MSG_WELCOME, CONSORT_E_INVALID_ARGUMENT,
              "join message: type %d", (int)m->type);
    CS_TRY(cs_cbor_write_map(b, members[m->type]));
    CS_TRY(put_text(b, "type", type_names[m->type]));
    switch (m->type) {
    case JOIN_MSG_JOIN:
        CS_TRY(put_text(b, "node_address", m->node_address));
        CS_TRY(put_text(b, "rpc_address", m->rpc_address));
        return put_bytes(b, "evidence", m->evidence);
    case JOIN_MSG_REDIRECT:
        return put_text(b, "node_address", m->node_address);
    case JOIN_MSG_ERROR:
        return put_text(b, "message", m->message);
    case JOIN_MSG_WELCOME:
        CS_TRY(put_bytes(b, "service_key", m->service_key));
        CS_TRY(put_bytes(b, "service_cert", m->service_cert));
        CS_TRY(put_bytes(b, "node_cert", m->node_cert));
        return put_bytes(b, "ledger_secret", m->ledger_secret);
    }
    return CONSORT_OK;
}

consort_err join_msg_encode(const join_msg *m, cs_buf *out)
{
    size_t start = out->len;
    uint8_t *len;
    CS_TRY(cs_buf_extend(out, 4, &len));
    consort_err rc = encode_body(m, out);
    if (rc != CONSORT_OK) {
        out->len = start;
        return rc;
    }
    size_t body = out->len - start - 4;
    out->ptr[start] = (uint8_t)(body >> 24);
    out->ptr[start + 1] = (uint8_t)(body >> 16);
    out->ptr[start + 2] = (uint8_t)(body >> 8);
    out->ptr[start + 3] = (uint8_t)body;
    return CONSORT_OK;
}

static consort_err get_text(cs_cbor_reader *r, const char *name, char *out, size_t n)
{
    CS_TRY(cs_cbor_read_key(r, name));
    return cs_cbor_read_cstr(r, out, n, name);
}

static consort_err get_bytes(cs_cbor_reader *r, const char *name, cs_slice *out)
{
    CS_TRY(cs_cbor_read_key(r, name));
    return cs_cbor_read_bytes(r, out);
}

static consort_err decode_body(cs_slice body, join_msg *m)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, body);
    uint64_t pairs;
    char type[16];
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_TRY(get_text(&r, "type", type, sizeof type));
    m->type = 0;
    for (int t = JOIN_MSG_JOIN; t <= JOIN_MSG_WELCOME; t++)
        if (strcmp(type, type_names[t]) == 0)
            m->type = (join_msg_type)t;
    CS_ENSURE(m->type != 0, CONSORT_E_MALFORMED, "unknown type \"%s\"", type);
    static const uint64_t members[] = {0, 4, 2, 2, 5};
    CS_ENSURE(pairs == members[m->type], CONSORT_E_MALFORMED, "%s with %llu members, expected %llu",
              type, (unsigned long long)pairs, (unsigned long long)members[m->type]);
    switch (m->type) {
    case JOIN_MSG_JOIN:
        CS_TRY(get_text(&r, "node_address", m->node_address, sizeof m->node_address));
        CS_TRY(get_text(&r, "rpc_address", m->rpc_address, sizeof m->rpc_address));
        CS_TRY(get_bytes(&r, "evidence", &m->evidence));
        break;
    case JOIN_MSG_REDIRECT:
        CS_TRY(get_text(&r, "node_address", m->node_address, sizeof m->node_address));
        break;
    case JOIN_MSG_ERROR:
        CS_TRY(get_text(&r, "message", m->message, sizeof m->message));
        break;
    case JOIN_MSG_WELCOME:
        CS_TRY(get_bytes(&r, "service_key", &m->service_key));
        CS_TRY(get_bytes(&r, "service_cert", &m->service_cert));
        CS_TRY(get_bytes(&r, "node_cert", &m->node_cert));
        CS_TRY(get_bytes(&r, "ledger_secret", &m->ledger_secret));
        break;
    }
    return cs_cbor_expect_end(&r);
}

consort_err join_msg_decode(cs_slice body, join_msg *out)
{
    memset(out, 0, sizeof *out);
    CS_TRY_CTX(decode_body(body, out), "join message");
    return CONSORT_OK;
}

consort_err join_msg_take(cs_buf *in, cs_slice data, cs_buf *body, bool *complete)
{
    *complete = false;
    CS_TRY(cs_buf_append_slice(in, data));
    if (in->len < 4)
        return CONSORT_OK;
    size_t len =
        (size_t)in->ptr[0] << 24 | (size_t)in->ptr[1] << 16 | (size_t)in->ptr[2] << 8 | in->ptr[3];
    CS_ENSURE(len <= JOIN_MSG_MAX, CONSORT_E_TOO_LARGE, "join message of %zu bytes", len);
    if (in->len < 4 + len)
        return CONSORT_OK;
    CS_ENSURE(in->len == 4 + len, CONSORT_E_TRAILING_DATA, "bytes after the join message");
    CS_TRY(cs_buf_set(body, CS_SLICE(in->ptr + 4, len)));
    *complete = true;
    return CONSORT_OK;
}
