#include "testutil.h"

#include "base/buf.h"
#include "base/cbor.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void cursor_reads_both_endians(void **state)
{
    (void)state;
    const uint8_t data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
    cs_cursor c;
    cs_cursor_init(&c, CS_SLICE(data, sizeof data));
    uint16_t be16;
    uint32_t le32;
    uint8_t u8;
    cst_ok(cs_cursor_read_be16(&c, &be16));
    assert_int_equal(be16, 0x0102);
    cst_ok(cs_cursor_read_le32(&c, &le32));
    assert_int_equal(le32, 0x06050403);
    uint64_t be64;
    cst_fails(cs_cursor_read_be64(&c, &be64), CONSORT_E_TRUNCATED);
    /* a failed read does not move the cursor */
    assert_int_equal(c.pos, 6);
    cst_ok(cs_cursor_read_u8(&c, &u8));
    assert_int_equal(u8, 0x07);
    cst_fails(cs_cursor_expect_end(&c), CONSORT_E_TRAILING_DATA);
    assert_non_null(strstr(consort_errmsg(), "2 trailing bytes"));
    cs_slice rest = cs_cursor_rest(&c);
    assert_int_equal(rest.len, 2);
    cst_ok(cs_cursor_expect_end(&c));
}

static void buf_respects_its_limit(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 8);
    cst_ok(cs_buf_append(&b, "12345678", 8));
    cst_fails(cs_buf_append_u8(&b, '9'), CONSORT_E_TOO_LARGE);
    assert_int_equal(b.len, 8);
    cs_buf_cleanup(&b);
    assert_null(b.ptr);
}

static void buf_appends_integers(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_buf_append_be32(&b, 0x01020304));
    cst_ok(cs_buf_append_le16(&b, 0x0506));
    const uint8_t want[] = {1, 2, 3, 4, 6, 5};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.ptr, want, sizeof want);
    cst_ok(cs_buf_printf(&b, "%d", 42));
    assert_int_equal(b.len, sizeof want + 2);
    cs_buf_cleanup(&b);
}

/* cs_buf_printf formats into the spare room when the result fits and again
 * after growing when it does not; over the limit it fails and leaves the
 * contents as they were. */
static void buf_printf_fits_grows_and_limits(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 4096);
    cst_ok(cs_buf_printf(&b, "%s=%d;", "a", 1));
    char long_value[3000];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    cst_ok(cs_buf_printf(&b, "%s: %s\r\n", "x-long", long_value));
    assert_int_equal(b.len, 4 + 8 + 2999 + 2);
    assert_memory_equal(b.ptr, "a=1;x-long: vvv", 15);
    assert_memory_equal(b.ptr + b.len - 3, "v\r\n", 3);
    size_t len = b.len;
    cst_fails(cs_buf_printf(&b, "%s", long_value), CONSORT_E_TOO_LARGE);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.ptr + b.len - 3, "v\r\n", 3);
    cs_buf_cleanup(&b);
}

/* Regression: extending an empty buffer by 0 bytes did memset(NULL, 0, 0),
 * undefined behaviour that UBSan reports (found through cst_hex("")). */
static void buf_extend_by_zero_on_empty_buffer(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    uint8_t *p = (uint8_t *)&b;
    cst_ok(cs_buf_extend(&b, 0, &p));
    assert_int_equal(b.len, 0);
    cst_ok(cs_hex_decode_buf("", &b));
    assert_int_equal(b.len, 0);
    cs_buf_cleanup(&b);
}

static void hex_round_trip_and_errors(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x00, 0xab, 0xff};
    char hex[7];
    cs_hex_encode(CS_SLICE(bytes, 3), hex);
    assert_string_equal(hex, "00abff");
    uint8_t back[3];
    cst_ok(cs_hex_decode("00ABff", back, 3));
    assert_memory_equal(back, bytes, 3);
    cst_fails(cs_hex_decode("00abf", back, 3), CONSORT_E_MALFORMED);
    cst_fails(cs_hex_decode("00abfg", back, 3), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "position 5"));
}

static void errors_gain_context(void **state)
{
    (void)state;
    consort_err rc = cs_fail(CONSORT_E_MALFORMED, "field %s bad", "x");
    rc = cs_err_context(rc, "layer %d", 2);
    assert_int_equal(rc, CONSORT_E_MALFORMED);
    assert_string_equal(consort_errmsg(), "layer 2: field x bad");
    assert_int_equal(consort_err_category_of(CONSORT_E_BAD_SIGNATURE), CONSORT_CAT_CRYPTO);
    assert_string_equal(consort_err_name(CONSORT_E_NO_SPACE), "NO_SPACE");
    /* no message to add to (cleared at a boundary): the context alone, no
     * dangling ": " */
    cs_err_clear();
    rc = cs_err_context(CONSORT_E_STATE, "layer %d", 3);
    assert_string_equal(consort_errmsg(), "layer 3");
}

/* cs_cbor_read_cstr: what fits with its NUL; too long, an embedded NUL or
 * not text: MALFORMED naming the field. */
static void cbor_cstr(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 256);
    cst_ok(cs_cbor_write_cstr(&b, "abc"));
    cst_ok(cs_cbor_write_cstr(&b, "abcd"));
    cst_ok(cs_cbor_write_text(&b, CS_SLICE("a\0b", 3)));
    cst_ok(cs_cbor_write_uint(&b, 7));
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, cs_buf_slice(&b));
    char out[4];
    cst_ok(cs_cbor_read_cstr(&r, out, sizeof out, "name"));
    assert_string_equal(out, "abc");
    cst_fails(cs_cbor_read_cstr(&r, out, sizeof out, "name"), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "name of 4 bytes"));
    cst_fails(cs_cbor_read_cstr(&r, out, sizeof out, "name"), CONSORT_E_MALFORMED);
    assert_int_not_equal(cs_cbor_read_cstr(&r, out, sizeof out, "name"), CONSORT_OK);
    cs_buf_cleanup(&b);
}

static void cbor_round_trip(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_cbor_write_tag(&b, 18));
    cst_ok(cs_cbor_write_array(&b, 4));
    cst_ok(cs_cbor_write_int(&b, -35));
    cst_ok(cs_cbor_write_map(&b, 1));
    cst_ok(cs_cbor_write_uint(&b, 396));
    cst_ok(cs_cbor_write_cstr(&b, "x"));
    cst_ok(cs_cbor_write_bytes(&b, CS_SLICE_LIT("abc")));
    cst_ok(cs_cbor_write_null(&b));

    cs_cbor_reader r;
    cs_cbor_reader_init(&r, cs_buf_slice(&b));
    uint64_t u;
    int64_t i;
    cs_slice s;
    cst_ok(cs_cbor_read_tag(&r, &u));
    assert_int_equal(u, 18);
    cst_ok(cs_cbor_read_array(&r, &u));
    assert_int_equal(u, 4);
    cst_ok(cs_cbor_read_int(&r, &i));
    assert_int_equal(i, -35);
    cs_slice raw;
    cst_ok(cs_cbor_read_raw(&r, &raw)); /* the whole map */
    assert_int_equal(raw.len, 1 + 3 + 2);
    cst_fails(cs_cbor_read_text(&r, &s), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "expected text string"));
    cst_ok(cs_cbor_read_bytes(&r, &s));
    assert_int_equal(s.len, 3);
    cst_ok(cs_cbor_read_null(&r));
    cst_ok(cs_cbor_expect_end(&r));
    cs_buf_cleanup(&b);
}

/* Every one-byte tag head 0xc0..0xd7 decodes (libcbor 0.8 rejects 0xc6..0xd4). */
static void cbor_small_tags_decode(void **state)
{
    (void)state;
    for (uint8_t ib = 0xc0; ib <= 0xd7; ib++) {
        const uint8_t data[] = {ib, 0x01};
        cs_cbor_reader r;
        cs_cbor_reader_init(&r, CS_SLICE(data, sizeof data));
        uint64_t tag;
        cst_ok(cs_cbor_read_tag(&r, &tag));
        assert_int_equal(tag, ib - 0xc0);
        cst_ok(cs_cbor_skip(&r));
        cst_ok(cs_cbor_expect_end(&r));
    }
}

static void cbor_rejects_bad_input(void **state)
{
    (void)state;
    cs_cbor_reader r;
    cs_cbor_item it;
    /* truncated byte string: header says 5 bytes, 2 present */
    const uint8_t trunc[] = {0x45, 'a', 'b'};
    cs_cbor_reader_init(&r, CS_SLICE(trunc, sizeof trunc));
    cst_fails(cs_cbor_next(&r, &it), CONSORT_E_TRUNCATED);
    /* indefinite-length array */
    const uint8_t indef[] = {0x9f, 0x01, 0xff};
    cs_cbor_reader_init(&r, CS_SLICE(indef, sizeof indef));
    cst_fails(cs_cbor_next(&r, &it), CONSORT_E_UNSUPPORTED);
    /* reserved additional info 28 */
    const uint8_t reserved[] = {0x1c};
    cs_cbor_reader_init(&r, CS_SLICE(reserved, sizeof reserved));
    cst_fails(cs_cbor_next(&r, &it), CONSORT_E_MALFORMED);
    /* an array that claims more items than there are bytes */
    const uint8_t liar[] = {0x9a, 0xff, 0xff, 0xff, 0xff, 0x01};
    cs_cbor_reader_init(&r, CS_SLICE(liar, sizeof liar));
    cst_fails(cs_cbor_skip(&r), CONSORT_E_TRUNCATED);
    /* nesting deeper than the cap */
    uint8_t deep[64];
    memset(deep, 0x81, sizeof deep);
    cs_cbor_reader_init(&r, CS_SLICE(deep, sizeof deep));
    cst_fails(cs_cbor_skip(&r), CONSORT_E_TOO_LARGE);
    /* trailing bytes */
    const uint8_t trailing[] = {0x01, 0x02};
    cs_cbor_reader_init(&r, CS_SLICE(trailing, sizeof trailing));
    uint64_t u;
    cst_ok(cs_cbor_read_uint(&r, &u));
    cst_fails(cs_cbor_expect_end(&r), CONSORT_E_TRAILING_DATA);
}

/* Resident pages of [p, p + n), n a whole number of pages. */
static size_t resident_pages(void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), count = 0;
    unsigned char *vec = malloc(n / page);
    assert_non_null(vec);
    assert_int_equal(mincore(p, n, vec), 0);
    for (size_t i = 0; i < n / page; i++)
        count += vec[i] & 1;
    free(vec);
    return count;
}

/* A wipe zeroes everything written, small or large, at any alignment, and
 * leaves the pages of a large buffer that were never written alone (a
 * byte-by-byte wipe faulted all of them in). */
static void wipe_zeroes_what_was_written_and_faults_nothing_in(void **state)
{
    (void)state;
    uint8_t small[100];
    memset(small, 0xa5, sizeof small);
    cs_wipe(small + 3, 90);
    for (size_t i = 0; i < sizeof small; i++)
        assert_int_equal(small[i], i < 3 || i >= 93 ? 0xa5 : 0);

    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (size_t)64 << 20;
    uint8_t *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    /* written: the first 3 pages and a half, one page in the middle, the last byte */
    memset(m, 0x5a, 3 * page + page / 2);
    memset(m + n / 2, 0x5a, page);
    m[n - 1] = 0x5a;
    size_t before = resident_pages(m, n);
    assert_true(before >= 6 && before < 64);
    /* from an unaligned start to an unaligned end */
    cs_wipe(m + 7, n - 8);
    assert_int_equal(m[0], 0x5a);
    assert_int_equal(m[6], 0x5a);
    assert_int_equal(m[n - 1], 0x5a);
    for (size_t i = 7; i < 4 * page; i++)
        assert_int_equal(m[i], 0);
    for (size_t i = 0; i < page; i++)
        assert_int_equal(m[n / 2 + i], 0);
    /* never-written pages stay out (reading the checks above faulted none:
     * they only read written pages) */
    assert_int_equal(resident_pages(m, n), before);
    m[n - 1] = 0x5a;
    cs_wipe(m, n);
    assert_int_equal(m[n - 1], 0);
    assert_int_equal(m[0], 0);
    assert_int_equal(munmap(m, n), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cursor_reads_both_endians),
        cmocka_unit_test(buf_respects_its_limit),
        cmocka_unit_test(buf_appends_integers),
        cmocka_unit_test(buf_printf_fits_grows_and_limits),
        cmocka_unit_test(buf_extend_by_zero_on_empty_buffer),
        cmocka_unit_test(hex_round_trip_and_errors),
        cmocka_unit_test(errors_gain_context),
        cmocka_unit_test(cbor_round_trip),
        cmocka_unit_test(cbor_cstr),
        cmocka_unit_test(cbor_rejects_bad_input),
        cmocka_unit_test(cbor_small_tags_decode),
        cmocka_unit_test(wipe_zeroes_what_was_written_and_faults_nothing_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
