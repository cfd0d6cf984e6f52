/*
 * The SEV-SNP certificate table parser (src/attest/snp_certtable.c), on a
 * table built from the real Milan VCEK, ASK and ARK in
 * $CONSORT_TESTDATA/sev-snp, and on every way the table can be broken.
 */
#include "testutil.h"

#include "attest/snp_certtable.h"

#include <string.h>

/* The first certificate of a PEM file, as DER. */
static void pem_cert_to_der(const char *rel, cs_buf *der)
{
    cs_buf pem;
    cst_read_testdata(rel, &pem);
    cst_ok(cs_buf_append_u8(&pem, 0));
    const char *begin = strstr((const char *)pem.ptr, "-----BEGIN CERTIFICATE-----");
    assert_non_null(begin);
    begin += strlen("-----BEGIN CERTIFICATE-----");
    const char *end = strstr(begin, "-----END CERTIFICATE-----");
    assert_non_null(end);
    char *b64 = test_malloc((size_t)(end - begin) + 1);
    size_t n = 0;
    for (const char *p = begin; p < end; p++)
        if (*p != '\n' && *p != '\r')
            b64[n++] = *p;
    b64[n] = '\0';
    cst_base64(b64, der);
    test_free(b64);
    cs_buf_cleanup(&pem);
    assert_true(der->len > 100);
    assert_int_equal(der->ptr[0], 0x30); /* DER SEQUENCE */
}

typedef struct chain {
    cs_buf vcek, ask, ark, table;
} chain;

/* VCEK, ASK, ARK of the milan-v2-virtee set, and the table built from them. */
static void chain_load(chain *c)
{
    cst_read_testdata("sev-snp/milan-v2-virtee/vcek.der", &c->vcek);
    pem_cert_to_der("sev-snp/certs/ask_milan.pem", &c->ask);
    pem_cert_to_der("sev-snp/certs/ark_milan.pem", &c->ark);
    cs_snp_cert_entry e[3];
    memset(e, 0, sizeof e);
    memcpy(e[0].guid, cs_snp_cert_kind_guid(CS_SNP_CERT_VCEK), CS_SNP_GUID_LEN);
    e[0].data = cs_buf_slice(&c->vcek);
    memcpy(e[1].guid, cs_snp_cert_kind_guid(CS_SNP_CERT_ASK), CS_SNP_GUID_LEN);
    e[1].data = cs_buf_slice(&c->ask);
    memcpy(e[2].guid, cs_snp_cert_kind_guid(CS_SNP_CERT_ARK), CS_SNP_GUID_LEN);
    e[2].data = cs_buf_slice(&c->ark);
    cs_buf_init(&c->table, 0);
    cst_ok(cs_snp_certtable_build(e, 3, &c->table));
}

static void chain_cleanup(chain *c)
{
    cs_buf_cleanup(&c->vcek);
    cs_buf_cleanup(&c->ask);
    cs_buf_cleanup(&c->ark);
    cs_buf_cleanup(&c->table);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void parses_real_chain(void **state)
{
    (void)state;
    chain c;
    chain_load(&c);
    assert_int_equal(c.table.len, 4 * 24 + c.vcek.len + c.ask.len + c.ark.len);
    cs_snp_certtable t;
    cst_ok(cs_snp_certtable_parse(cs_buf_slice(&c.table), &t));
    assert_int_equal(t.count, 3);
    assert_int_equal(t.entries[0].kind, CS_SNP_CERT_VCEK);
    assert_int_equal(t.entries[1].kind, CS_SNP_CERT_ASK);
    assert_int_equal(t.entries[2].kind, CS_SNP_CERT_ARK);
    assert_int_equal(t.entries[0].offset, 96);
    assert_true(cs_slice_eq(t.entries[0].data, cs_buf_slice(&c.vcek)));
    assert_true(cs_slice_eq(t.entries[1].data, cs_buf_slice(&c.ask)));
    assert_true(cs_slice_eq(t.entries[2].data, cs_buf_slice(&c.ark)));
    const cs_snp_cert_entry *ark = cs_snp_certtable_find(&t, CS_SNP_CERT_ARK);
    assert_ptr_equal(ark, &t.entries[2]);
    assert_null(cs_snp_certtable_find(&t, CS_SNP_CERT_VLEK));
    chain_cleanup(&c);
}

static void guids_and_names(void **state)
{
    (void)state;
    /* GHCB spec §4.1.8.1 GUIDs, as go-sev-guest, virtee/sev and AMD's tools spell them. */
    static const struct {
        cs_snp_cert_kind kind;
        const char *name, *guid;
    } want[] = {
        {CS_SNP_CERT_VCEK, "vcek", "63da758d-e664-4564-adc5-f4b93be8accd"},
        {CS_SNP_CERT_VLEK, "vlek", "a8074bc2-a25a-483e-aae6-39c045a0b8a1"},
        {CS_SNP_CERT_ASK, "ask", "4ab7b379-bbac-4fe4-a02f-05aef327c782"},
        {CS_SNP_CERT_ARK, "ark", "c0b406a4-a803-4952-9743-3fb6014cd0ae"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(want); i++) {
        char text[CS_SNP_GUID_STR_LEN];
        cs_snp_guid_format(cs_snp_cert_kind_guid(want[i].kind), text);
        assert_string_equal(text, want[i].guid);
        assert_string_equal(cs_snp_cert_kind_name(want[i].kind), want[i].name);
    }
    assert_null(cs_snp_cert_kind_guid(CS_SNP_CERT_UNKNOWN));
    assert_string_equal(cs_snp_cert_kind_name(CS_SNP_CERT_UNKNOWN), "unknown");
}

static void empty_tables(void **state)
{
    (void)state;
    cs_snp_certtable t;
    t.count = 7;
    cst_ok(cs_snp_certtable_parse(CS_SLICE_EMPTY, &t));
    assert_int_equal(t.count, 0);
    uint8_t terminator_only[24] = {0};
    cst_ok(cs_snp_certtable_parse(CS_SLICE(terminator_only, 24), &t));
    assert_int_equal(t.count, 0);
}

static void rejects_truncation_at_every_length(void **state)
{
    (void)state;
    chain c;
    chain_load(&c);
    cs_snp_certtable t;
    for (size_t len = 1; len < c.table.len; len++) {
        cst_fails(cs_snp_certtable_parse(CS_SLICE(c.table.ptr, len), &t), CONSORT_E_TRUNCATED);
        assert_int_equal(t.count, 0);
    }
    cst_fails(cs_snp_certtable_parse(CS_SLICE(c.table.ptr, 50), &t), CONSORT_E_TRUNCATED);
    assert_non_null(strstr(consort_errmsg(), "no all-zero terminating entry"));
    chain_cleanup(&c);
}

/* Copies the table, lets `edit` change it, and expects `code` with `needle` in the message. */
static void expect_rejected(const chain *c, void (*edit)(uint8_t *, size_t), consort_err code,
                            const char *needle)
{
    cs_buf copy;
    cs_buf_init(&copy, 0);
    cst_ok(cs_buf_set(&copy, cs_buf_slice(&c->table)));
    edit(copy.ptr, copy.len);
    cs_snp_certtable t;
    cst_fails(cs_snp_certtable_parse(cs_buf_slice(&copy), &t), code);
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", consort_errmsg(), needle);
    assert_int_equal(t.count, 0);
    cs_buf_cleanup(&copy);
}

static void offset_past_end(uint8_t *p, size_t n)
{
    put_le32(p + 16, (uint32_t)n);
}
static void offset_wraps(uint8_t *p, size_t n)
{
    (void)n;
    put_le32(p + 16, 0xfffffff0u);
    put_le32(p + 20, 0x20);
}
static void length_past_end(uint8_t *p, size_t n)
{
    (void)n;
    put_le32(p + 24 + 20, 0x10000);
}
static void overlapping(uint8_t *p, size_t n)
{
    (void)n;
    put_le32(p + 24 + 16, 96 + 10);
}
static void into_table(uint8_t *p, size_t n)
{
    (void)n;
    put_le32(p + 16, 48);
}
static void zero_length(uint8_t *p, size_t n)
{
    (void)n;
    put_le32(p + 48 + 20, 0);
}
static void null_guid_with_offset(uint8_t *p, size_t n)
{
    (void)n;
    memset(p + 24, 0, 16);
}
static void duplicate_guid(uint8_t *p, size_t n)
{
    (void)n;
    memcpy(p + 48, p, 16);
}
static void dirty_terminator(uint8_t *p, size_t n)
{
    (void)n;
    put_le32(p + 72 + 16, 5);
}

static void rejects_bad_entries(void **state)
{
    (void)state;
    chain c;
    chain_load(&c);
    expect_rejected(&c, offset_past_end, CONSORT_E_TRUNCATED, "entry 0 (vcek)");
    expect_rejected(&c, offset_wraps, CONSORT_E_TRUNCATED, "run past the end");
    expect_rejected(&c, length_past_end, CONSORT_E_TRUNCATED, "entry 1 (ask)");
    expect_rejected(&c, overlapping, CONSORT_E_MALFORMED, "overlap entry 0 (vcek)");
    expect_rejected(&c, into_table, CONSORT_E_MALFORMED, "inside the table");
    expect_rejected(&c, zero_length, CONSORT_E_MALFORMED, "entry 2 (ark): length 0");
    expect_rejected(&c, null_guid_with_offset, CONSORT_E_MALFORMED, "null GUID");
    expect_rejected(&c, duplicate_guid, CONSORT_E_MALFORMED, "repeats the GUID of entry 0");
    /* GHCB §4.1.8.1: the terminator is all zeros, its offset and length too */
    expect_rejected(&c, dirty_terminator, CONSORT_E_MALFORMED, "entry 3 has the null GUID");
    chain_cleanup(&c);
}

static void keeps_unknown_guids(void **state)
{
    (void)state;
    static const uint8_t odd[16] = {0xec, 0xae, 0x0c, 0x0f, 0x95, 0x02, 0x43, 0xb1,
                                    0xaf, 0xa2, 0x0a, 0xe2, 0xe0, 0xd5, 0x65, 0xb6};
    cs_snp_cert_entry e[2];
    memset(e, 0, sizeof e);
    memcpy(e[0].guid, odd, 16);
    e[0].data = CS_SLICE_LIT("\x08\0\0\0\x11\x0f\xa0\0");
    memcpy(e[1].guid, cs_snp_cert_kind_guid(CS_SNP_CERT_VLEK), 16);
    e[1].data = CS_SLICE_LIT("not really a certificate");
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_snp_certtable_build(e, 2, &b));
    cs_snp_certtable t;
    cst_ok(cs_snp_certtable_parse(cs_buf_slice(&b), &t));
    assert_int_equal(t.count, 2);
    assert_int_equal(t.entries[0].kind, CS_SNP_CERT_UNKNOWN);
    assert_memory_equal(t.entries[0].guid, odd, 16);
    assert_int_equal(t.entries[0].data.len, 8);
    char text[CS_SNP_GUID_STR_LEN];
    cs_snp_guid_format(t.entries[0].guid, text);
    assert_string_equal(text, "ecae0c0f-9502-43b1-afa2-0ae2e0d565b6");
    assert_int_equal(t.entries[1].kind, CS_SNP_CERT_VLEK);
    cs_buf_cleanup(&b);
}

static void enforces_limits(void **state)
{
    (void)state;
    /* 32 one-byte entries are accepted, a 33rd is refused. */
    uint8_t raw[34 * 24 + 33];
    memset(raw, 0, sizeof raw);
    for (uint32_t n = 32; n <= 33; n++) {
        memset(raw, 0, sizeof raw);
        for (uint32_t i = 0; i < n; i++) {
            raw[i * 24] = (uint8_t)(i + 1); /* distinct GUIDs */
            put_le32(raw + i * 24 + 16, (n + 1) * 24 + i);
            put_le32(raw + i * 24 + 20, 1);
        }
        cs_snp_certtable t;
        size_t len = (n + 1) * 24 + n;
        if (n == 32) {
            cst_ok(cs_snp_certtable_parse(CS_SLICE(raw, len), &t));
            assert_int_equal(t.count, 32);
        } else {
            cst_fails(cs_snp_certtable_parse(CS_SLICE(raw, len), &t), CONSORT_E_TOO_LARGE);
        }
    }
    uint8_t *big = test_calloc(1, CS_SNP_CERTTABLE_MAX_BYTES + 1);
    cs_snp_certtable t;
    cst_fails(cs_snp_certtable_parse(CS_SLICE(big, CS_SNP_CERTTABLE_MAX_BYTES + 1), &t),
              CONSORT_E_TOO_LARGE);
    cst_ok(cs_snp_certtable_parse(CS_SLICE(big, CS_SNP_CERTTABLE_MAX_BYTES), &t));
    assert_int_equal(t.count, 0);
    test_free(big);
    /* the builder refuses what the parser would */
    cs_snp_cert_entry e[1];
    memset(e, 0, sizeof e);
    e[0].data = CS_SLICE_LIT("x");
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_fails(cs_snp_certtable_build(e, 1, &b), CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&b);
}

static void survives_every_header_bit_flip(void **state)
{
    (void)state;
    chain c;
    chain_load(&c);
    size_t rejected = 0;
    for (size_t bit = 0; bit < 4 * 24 * 8; bit++) {
        c.table.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cs_snp_certtable t;
        consort_err rc = cs_snp_certtable_parse(cs_buf_slice(&c.table), &t);
        if (rc != CONSORT_OK) {
            rejected++;
            assert_int_equal(t.count, 0);
        }
        for (size_t i = 0; i < t.count; i++) {
            /* whatever parses names bytes inside the blob, after the table */
            assert_true(t.entries[i].data.ptr >= c.table.ptr + (t.count + 1) * 24);
            assert_true(t.entries[i].data.ptr + t.entries[i].data.len <= c.table.ptr + c.table.len);
        }
        c.table.ptr[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* every flip in an offset or in the terminator breaks the table (a flip that shortens
     * a length or renames a GUID still describes a well-formed table) */
    assert_true(rejected >= 3 * 32 + 24 * 8);
    chain_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_real_chain),   cmocka_unit_test(guids_and_names),
        cmocka_unit_test(empty_tables),        cmocka_unit_test(rejects_truncation_at_every_length),
        cmocka_unit_test(rejects_bad_entries), cmocka_unit_test(keeps_unknown_guids),
        cmocka_unit_test(enforces_limits),     cmocka_unit_test(survives_every_header_bit_flip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
