#include "consensus/entry.h"

#include <string.h>

size_t cs_raft_entry_size(size_t data_len)
{
    size_t n = CS_RAFT_ENTRY_HEADER + data_len;
    return (n + 7) & ~(size_t)7;
}

consort_err cs_raft_entry_encode(cs_slice data, struct raft_buffer *out)
{
    CS_ENSURE(data.len > 0 && data.len <= CS_RAFT_ENTRY_DATA_MAX, CONSORT_E_INVALID_ARGUMENT,
              "raft entry of %zu bytes (1..%zu)", data.len, CS_RAFT_ENTRY_DATA_MAX);
    size_t total = cs_raft_entry_size(data.len);
    uint8_t *p = raft_malloc(total);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "raft entry of %zu bytes", total);
    memset(p, 0, CS_RAFT_ENTRY_HEADER);
    p[0] = CS_RAFT_ENTRY_VERSION;
    p[4] = (uint8_t)(data.len >> 24);
    p[5] = (uint8_t)(data.len >> 16);
    p[6] = (uint8_t)(data.len >> 8);
    p[7] = (uint8_t)data.len;
    memcpy(p + CS_RAFT_ENTRY_HEADER, data.ptr, data.len);
    memset(p + CS_RAFT_ENTRY_HEADER + data.len, 0, total - CS_RAFT_ENTRY_HEADER - data.len);
    *out = (struct raft_buffer){.base = p, .len = total};
    return CONSORT_OK;
}

consort_err cs_raft_entry_decode(cs_slice payload, cs_slice *data)
{
    cs_cursor c;
    cs_cursor_init(&c, payload);
    uint8_t version;
    uint8_t reserved[3];
    uint32_t len;
    CS_TRY_CTX(cs_cursor_read_u8(&c, &version), "raft entry header");
    CS_TRY_CTX(cs_cursor_read_into(&c, reserved, sizeof reserved), "raft entry header");
    CS_TRY_CTX(cs_cursor_read_be32(&c, &len), "raft entry header");
    CS_ENSURE(version == CS_RAFT_ENTRY_VERSION, CONSORT_E_UNSUPPORTED,
              "raft entry: version %u, expected %u", version, CS_RAFT_ENTRY_VERSION);
    CS_ENSURE(reserved[0] == 0 && reserved[1] == 0 && reserved[2] == 0, CONSORT_E_MALFORMED,
              "raft entry: reserved bytes %02x%02x%02x not zero", reserved[0], reserved[1],
              reserved[2]);
    CS_ENSURE(len > 0, CONSORT_E_MALFORMED, "raft entry: empty data");
    CS_ENSURE(len <= CS_RAFT_ENTRY_DATA_MAX, CONSORT_E_TOO_LARGE,
              "raft entry: data length %u exceeds %zu", len, CS_RAFT_ENTRY_DATA_MAX);
    CS_TRY_CTX(cs_cursor_read_slice(&c, len, data), "raft entry data of %u bytes", len);
    /* The padding: exactly up to the next multiple of 8, all zero. */
    size_t pad = cs_raft_entry_size(len) - CS_RAFT_ENTRY_HEADER - len;
    cs_slice zeros;
    CS_TRY_CTX(cs_cursor_read_slice(&c, pad, &zeros), "raft entry padding");
    for (size_t i = 0; i < zeros.len; i++)
        CS_ENSURE(zeros.ptr[i] == 0, CONSORT_E_MALFORMED, "raft entry: padding byte %zu is 0x%02x",
                  i, zeros.ptr[i]);
    CS_TRY_CTX(cs_cursor_expect_end(&c), "raft entry of %u bytes", len);
    return CONSORT_OK;
}
