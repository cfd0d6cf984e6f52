/* The entry envelope (entry.h): round trips and every malformation. */
#include "testutil.h"

#include "consensus/entry.h"

#include <string.h>

static void round_trips_every_small_length(void **state)
{
    (void)state;
    uint8_t data[64];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(0xa0 + i);
    for (size_t len = 1; len <= sizeof data; len++) {
        struct raft_buffer b;
        cst_ok(cs_raft_entry_encode(CS_SLICE(data, len), &b));
        assert_int_equal(b.len % 8, 0);
        assert_int_equal(b.len, cs_raft_entry_size(len));
        assert_true(b.len >= 8 + len && b.len < 16 + len);
        const uint8_t *p = b.base;
        assert_int_equal(p[0], CS_RAFT_ENTRY_VERSION);
        assert_int_equal(p[7], len);
        cs_slice out;
        cst_ok(cs_raft_entry_decode(CS_SLICE(b.base, b.len), &out));
        assert_int_equal(out.len, len);
        assert_memory_equal(out.ptr, data, len);
        raft_free(b.base);
    }
    assert_int_equal(cs_raft_entry_size(1), 16);
    assert_int_equal(cs_raft_entry_size(8), 16);
    assert_int_equal(cs_raft_entry_size(9), 24);
    assert_int_equal(cs_raft_entry_size(128), 136);
}

static void encode_refuses_empty_and_oversized(void **state)
{
    (void)state;
    struct raft_buffer b;
    cst_fails(cs_raft_entry_encode(CS_SLICE_EMPTY, &b), CONSORT_E_INVALID_ARGUMENT);
    uint8_t x = 1;
    cst_fails(cs_raft_entry_encode(CS_SLICE(&x, CS_RAFT_ENTRY_DATA_MAX + 1), &b),
              CONSORT_E_INVALID_ARGUMENT);
}

/* "hello" (5 bytes) in its 16-byte envelope. */
static const uint8_t good[16] = {1, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0};

static consort_err decode_copy(const uint8_t *p, size_t len)
{
    cs_slice out;
    return cs_raft_entry_decode(CS_SLICE(p, len), &out);
}

static void decode_refuses_malformed_envelopes(void **state)
{
    (void)state;
    cst_ok(decode_copy(good, sizeof good));
    /* truncated anywhere */
    for (size_t len = 0; len < sizeof good; len++)
        cst_fails_any(decode_copy(good, len));
    cst_fails(decode_copy(good, 4), CONSORT_E_TRUNCATED);
    cst_fails(decode_copy(good, 10), CONSORT_E_TRUNCATED);
    cst_fails(decode_copy(good, 15), CONSORT_E_TRUNCATED);
    /* trailing data */
    uint8_t longer[24] = {0};
    memcpy(longer, good, sizeof good);
    cst_fails(decode_copy(longer, sizeof longer), CONSORT_E_TRAILING_DATA);

    uint8_t b[16];
    memcpy(b, good, sizeof b);
    b[0] = 2;
    cst_fails(decode_copy(b, sizeof b), CONSORT_E_UNSUPPORTED);
    memcpy(b, good, sizeof b);
    b[2] = 1;
    cst_fails(decode_copy(b, sizeof b), CONSORT_E_MALFORMED);
    memcpy(b, good, sizeof b);
    b[7] = 0;
    cst_fails(decode_copy(b, sizeof b), CONSORT_E_MALFORMED);
    memcpy(b, good, sizeof b);
    b[14] = 0x20; /* padding must be zero */
    cst_fails(decode_copy(b, sizeof b), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "padding byte 1"));
    const uint8_t huge[8] = {1, 0, 0, 0, 0x04, 0, 0, 1}; /* 64 MiB + 1 */
    cst_fails(decode_copy(huge, sizeof huge), CONSORT_E_TOO_LARGE);
    const uint8_t unpadded[13] = {1, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    cst_fails(decode_copy(unpadded, sizeof unpadded), CONSORT_E_TRUNCATED);
}

/* The envelope is framing, not integrity (raft CRCs its files, TLS protects
 * the wire): a flipped bit outside the data either fails or yields different
 * data (a length that turns zero padding into data), never "hello" again. */
static void every_header_or_padding_bit_flip_is_caught(void **state)
{
    (void)state;
    unsigned refused = 0;
    for (size_t byte = 0; byte < sizeof good; byte++) {
        if (byte >= 8 && byte < 13)
            continue; /* data bytes: any value is valid data */
        for (int bit = 0; bit < 8; bit++) {
            uint8_t b[16];
            memcpy(b, good, sizeof b);
            b[byte] ^= (uint8_t)(1u << bit);
            cs_slice out;
            if (cs_raft_entry_decode(CS_SLICE(b, sizeof b), &out) != CONSORT_OK) {
                refused++;
                continue;
            }
            assert_true(byte >= 4 && byte < 8); /* only the length field */
            assert_int_not_equal(out.len, 5);
        }
    }
    assert_true(refused >= 80);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trips_every_small_length),
        cmocka_unit_test(encode_refuses_empty_and_oversized),
        cmocka_unit_test(decode_refuses_malformed_envelopes),
        cmocka_unit_test(every_header_or_padding_bit_flip_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
