/* The evidence envelope, blob lists, claims and the report-data binding. */
#include "testutil.h"

#include "attest/evidence.h"
#include "base/alloc.h"
#include "base/cbor.h"
#include "base/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An envelope with two endorsements. */
static void sample(cs_evidence *ev)
{
    cs_evidence_init(ev);
    ev->platform = CS_PLATFORM_SNP;
    assert_int_equal(cs_buf_append(&ev->evidence, "REPORT-BYTES", 12), CONSORT_OK);
    assert_int_equal(cs_blob_list_add(&ev->endorsements, CS_SLICE_LIT("cert-one")), CONSORT_OK);
    assert_int_equal(cs_blob_list_add(&ev->endorsements, CS_SLICE_LIT("crl-two")), CONSORT_OK);
}

static void encode_sample(cs_buf *out)
{
    cs_evidence ev;
    sample(&ev);
    cs_buf_init(out, 0);
    cst_ok(cs_evidence_encode(&ev, out));
    cs_evidence_cleanup(&ev);
}

static void round_trip(void **state)
{
    (void)state;
    cs_buf enc;
    encode_sample(&enc);
    /* {1: "snp", 2: h'...', 3: [...]} starts with map(3), key 1, text(3) "snp" */
    const uint8_t head[] = {0xa3, 0x01, 0x63, 's', 'n', 'p', 0x02, 0x4c};
    assert_memory_equal(enc.ptr, head, sizeof head);

    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_ok(cs_evidence_decode(cs_buf_slice(&enc), &ev));
    assert_int_equal(ev.platform, CS_PLATFORM_SNP);
    assert_int_equal(ev.evidence.len, 12);
    assert_memory_equal(ev.evidence.ptr, "REPORT-BYTES", 12);
    assert_int_equal(ev.endorsements.count, 2);
    assert_true(cs_slice_eq(cs_buf_slice(&ev.endorsements.items[1]), CS_SLICE_LIT("crl-two")));

    /* decoding into a used envelope replaces it */
    cst_ok(cs_evidence_decode(cs_buf_slice(&enc), &ev));
    assert_int_equal(ev.endorsements.count, 2);

    cs_buf again;
    cs_buf_init(&again, 0);
    cst_ok(cs_evidence_encode(&ev, &again));
    assert_true(cs_slice_eq(cs_buf_slice(&again), cs_buf_slice(&enc)));
    cs_buf_cleanup(&again);
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&enc);
}

static void truncated_at_every_length(void **state)
{
    (void)state;
    cs_buf enc;
    encode_sample(&enc);
    for (size_t n = 0; n < enc.len; n++) {
        cs_evidence ev;
        cs_evidence_init(&ev);
        consort_err rc = cs_evidence_decode(CS_SLICE(enc.ptr, n), &ev);
        if (rc == CONSORT_OK)
            fail_msg("prefix of %zu bytes decoded", n);
        assert_int_equal(ev.platform, CS_PLATFORM_NONE);
        assert_int_equal(ev.endorsements.count, 0);
        cs_evidence_cleanup(&ev);
    }
    cs_buf_cleanup(&enc);
}

static void trailing_bytes_rejected(void **state)
{
    (void)state;
    cs_buf enc;
    encode_sample(&enc);
    cst_ok(cs_buf_append_u8(&enc, 0x00));
    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_fails(cs_evidence_decode(cs_buf_slice(&enc), &ev), CONSORT_E_TRAILING_DATA);
    assert_non_null(strstr(consort_errmsg(), "evidence envelope"));
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&enc);
}

/* Writers for hand-made envelopes: each appends one value. */
typedef enum { V_PLATFORM, V_EVIDENCE, V_ENDORSE, V_TEXT, V_BYTES, V_MAP, V_INT } val_kind;

static void put(cs_buf *b, val_kind k)
{
    switch (k) {
    case V_PLATFORM:
        cst_ok(cs_cbor_write_cstr(b, "virtual"));
        break;
    case V_EVIDENCE:
        cst_ok(cs_cbor_write_bytes(b, CS_SLICE_LIT("report")));
        break;
    case V_ENDORSE:
        cst_ok(cs_cbor_write_array(b, 1));
        cst_ok(cs_cbor_write_bytes(b, CS_SLICE_LIT("cert")));
        break;
    case V_TEXT:
        cst_ok(cs_cbor_write_cstr(b, "text"));
        break;
    case V_BYTES:
        cst_ok(cs_cbor_write_bytes(b, CS_SLICE_LIT("bytes")));
        break;
    case V_MAP:
        cst_ok(cs_cbor_write_map(b, 0));
        break;
    case V_INT:
        cst_ok(cs_cbor_write_uint(b, 7));
        break;
    }
}

/* Decodes {k0: v0, k1: v1, k2: v2} and expects `code` with `needle` in the message. */
static void expect_envelope(const uint64_t keys[3], const val_kind vals[3], consort_err code,
                            const char *needle)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_cbor_write_map(&b, 3));
    for (int i = 0; i < 3; i++) {
        cst_ok(cs_cbor_write_uint(&b, keys[i]));
        put(&b, vals[i]);
    }
    cs_evidence ev;
    cs_evidence_init(&ev);
    consort_err rc = cs_evidence_decode(cs_buf_slice(&b), &ev);
    if (rc != code)
        fail_msg("got %s (%s), expected %s", consort_err_name(rc), consort_errmsg(),
                 consort_err_name(code));
    if (needle != NULL && strstr(consort_errmsg(), needle) == NULL)
        fail_msg("message '%s' lacks '%s'", consort_errmsg(), needle);
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&b);
}

static void wrong_types_and_keys(void **state)
{
    (void)state;
    const uint64_t k123[3] = {1, 2, 3};
    const val_kind good[3] = {V_PLATFORM, V_EVIDENCE, V_ENDORSE};
    expect_envelope(k123, good, CONSORT_OK, NULL);

    const val_kind bad_platform[3] = {V_BYTES, V_EVIDENCE, V_ENDORSE};
    expect_envelope(k123, bad_platform, CONSORT_E_MALFORMED, "platform (key 1)");
    const val_kind bad_evidence[3] = {V_PLATFORM, V_TEXT, V_ENDORSE};
    expect_envelope(k123, bad_evidence, CONSORT_E_MALFORMED, "evidence (key 2)");
    const val_kind bad_endorse[3] = {V_PLATFORM, V_EVIDENCE, V_MAP};
    expect_envelope(k123, bad_endorse, CONSORT_E_MALFORMED, "endorsements (key 3)");
    const val_kind int_evidence[3] = {V_PLATFORM, V_INT, V_ENDORSE};
    expect_envelope(k123, int_evidence, CONSORT_E_MALFORMED, "expected byte string");

    const uint64_t unknown[3] = {1, 2, 9};
    expect_envelope(unknown, good, CONSORT_E_MALFORMED, "unknown key 9");
    const uint64_t zero[3] = {0, 2, 3};
    expect_envelope(zero, good, CONSORT_E_MALFORMED, "unknown key 0");
    const uint64_t dup[3] = {1, 1, 3};
    expect_envelope(dup, good, CONSORT_E_MALFORMED, "duplicate key 1");
    const uint64_t swapped[3] = {2, 1, 3};
    expect_envelope(swapped, good, CONSORT_E_MALFORMED, "key 2 out of order");
}

static consort_err decode_bytes(const uint8_t *data, size_t len)
{
    cs_evidence ev;
    cs_evidence_init(&ev);
    consort_err rc = cs_evidence_decode(CS_SLICE(data, len), &ev);
    cs_evidence_cleanup(&ev);
    return rc;
}

static void malformed_shapes(void **state)
{
    (void)state;
    /* not a map */
    const uint8_t array[] = {0x83, 0x01, 0x02, 0x03};
    cst_fails(decode_bytes(array, sizeof array), CONSORT_E_MALFORMED);
    /* map with 2 and 4 entries */
    const uint8_t two[] = {0xa2, 0x01, 0x63, 's', 'n', 'p', 0x02, 0x41, 0x00};
    cst_fails(decode_bytes(two, sizeof two), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "2 entries, expected 3"));
    /* a text key */
    const uint8_t text_key[] = {0xa3, 0x61, 'a', 0x01};
    cst_fails(decode_bytes(text_key, sizeof text_key), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "key of entry 0"));
    /* unknown platform names, and "none" */
    const uint8_t foo[] = {0xa3, 0x01, 0x63, 'f', 'o', 'o', 0x02, 0x41, 0x00, 0x03, 0x80};
    cst_fails(decode_bytes(foo, sizeof foo), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), "platform 'foo' unknown"));
    const uint8_t none[] = {0xa3, 0x01, 0x64, 'n', 'o', 'n', 'e', 0x02, 0x41, 0x00, 0x03, 0x80};
    cst_fails(decode_bytes(none, sizeof none), CONSORT_E_UNSUPPORTED);
    const uint8_t nul[] = {0xa3, 0x01, 0x63, 's', 0, 'p', 0x02, 0x41, 0x00, 0x03, 0x80};
    cst_fails(decode_bytes(nul, sizeof nul), CONSORT_E_UNSUPPORTED);
    /* empty evidence */
    const uint8_t empty[] = {0xa3, 0x01, 0x63, 's', 'n', 'p', 0x02, 0x40, 0x03, 0x80};
    cst_fails(decode_bytes(empty, sizeof empty), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "is empty"));
    /* the smallest valid envelope, then the same with a non-shortest key (RFC 8949 §4.2.1) */
    const uint8_t ok[] = {0xa3, 0x01, 0x63, 's', 'n', 'p', 0x02, 0x41, 0x00, 0x03, 0x80};
    cst_ok(decode_bytes(ok, sizeof ok));
    const uint8_t long_key[] = {0xa3, 0x18, 0x01, 0x63, 's',  'n',
                                'p',  0x02, 0x41, 0x00, 0x03, 0x80};
    cst_fails(decode_bytes(long_key, sizeof long_key), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "deterministic"));
    const uint8_t long_len[] = {0xa3, 0x01, 0x63, 's',  'n',  'p',
                                0x02, 0x58, 0x01, 0x00, 0x03, 0x80};
    cst_fails(decode_bytes(long_len, sizeof long_len), CONSORT_E_MALFORMED);
    /* indefinite-length endorsement array */
    const uint8_t indef[] = {0xa3, 0x01, 0x63, 's', 'n', 'p', 0x02, 0x41, 0x00, 0x03, 0x9f, 0xff};
    cst_fails(decode_bytes(indef, sizeof indef), CONSORT_E_UNSUPPORTED);
}

static void oversized_fields(void **state)
{
    (void)state;
    cs_buf b;
    /* evidence one byte over the cap */
    cs_buf_init(&b, 0);
    cst_ok(cs_cbor_write_map(&b, 3));
    cst_ok(cs_cbor_write_uint(&b, 1));
    cst_ok(cs_cbor_write_cstr(&b, "tdx"));
    cst_ok(cs_cbor_write_uint(&b, 2));
    cst_ok(cs_cbor_write_bytes_header(&b, CS_EVIDENCE_MAX_BYTES + 1));
    uint8_t *fill;
    cst_ok(cs_buf_extend(&b, CS_EVIDENCE_MAX_BYTES + 1, &fill));
    cst_ok(cs_cbor_write_uint(&b, 3));
    cst_ok(cs_cbor_write_array(&b, 0));
    cst_fails(decode_bytes(b.ptr, b.len), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "exceeds"));
    cs_buf_cleanup(&b);

    /* one endorsement too many */
    cs_buf_init(&b, 0);
    cst_ok(cs_cbor_write_map(&b, 3));
    cst_ok(cs_cbor_write_uint(&b, 1));
    cst_ok(cs_cbor_write_cstr(&b, "tdx"));
    cst_ok(cs_cbor_write_uint(&b, 2));
    cst_ok(cs_cbor_write_bytes(&b, CS_SLICE_LIT("q")));
    cst_ok(cs_cbor_write_uint(&b, 3));
    cst_ok(cs_cbor_write_array(&b, CS_EVIDENCE_MAX_ENDORSEMENTS + 1));
    for (int i = 0; i < CS_EVIDENCE_MAX_ENDORSEMENTS + 1; i++)
        cst_ok(cs_cbor_write_bytes(&b, CS_SLICE_LIT("e")));
    cst_fails(decode_bytes(b.ptr, b.len), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "33 items exceed 32"));
    cs_buf_cleanup(&b);

    /* an oversized endorsement */
    cs_buf_init(&b, 0);
    cst_ok(cs_cbor_write_map(&b, 3));
    cst_ok(cs_cbor_write_uint(&b, 1));
    cst_ok(cs_cbor_write_cstr(&b, "tdx"));
    cst_ok(cs_cbor_write_uint(&b, 2));
    cst_ok(cs_cbor_write_bytes(&b, CS_SLICE_LIT("q")));
    cst_ok(cs_cbor_write_uint(&b, 3));
    cst_ok(cs_cbor_write_array(&b, 1));
    cst_ok(cs_cbor_write_bytes_header(&b, CS_ENDORSEMENT_MAX_BYTES + 1));
    cst_ok(cs_buf_extend(&b, CS_ENDORSEMENT_MAX_BYTES + 1, &fill));
    cst_fails(decode_bytes(b.ptr, b.len), CONSORT_E_TOO_LARGE);
    cs_buf_cleanup(&b);

    /* the encoder refuses what the decoder would */
    cs_evidence ev;
    cs_evidence_init(&ev);
    cs_buf_init(&b, 0);
    cst_fails(cs_evidence_encode(&ev, &b), CONSORT_E_INVALID_ARGUMENT);
    ev.platform = CS_PLATFORM_TPM;
    cst_fails(cs_evidence_encode(&ev, &b), CONSORT_E_INVALID_ARGUMENT);
    cst_ok(cs_buf_append_u8(&ev.evidence, 1));
    for (int i = 0; i < CS_EVIDENCE_MAX_ENDORSEMENTS + 1; i++)
        cst_ok(cs_blob_list_add(&ev.endorsements, CS_SLICE_LIT("x")));
    cst_fails(cs_evidence_encode(&ev, &b), CONSORT_E_TOO_LARGE);
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&b);
}

/* Every allocation failure during decode returns NOMEM and leaks nothing. */
static void decode_survives_allocation_failures(void **state)
{
    (void)state;
    cs_buf enc;
    encode_sample(&enc);
    cst_alloc_install();
    long base = cst_alloc_live();
    int failures = 0;
    for (long n = 0; n < 64; n++) {
        cst_alloc_fail_after(n);
        cs_evidence ev;
        cs_evidence_init(&ev);
        consort_err rc = cs_evidence_decode(cs_buf_slice(&enc), &ev);
        bool failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        cs_evidence_cleanup(&ev);
        assert_int_equal(cst_alloc_live(), base);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        assert_int_equal(rc, CONSORT_E_NOMEM);
        failures++;
    }
    assert_true(failures >= 3); /* evidence, endorsement list, endorsements, re-encoding */
    cst_alloc_uninstall();
    cs_buf_cleanup(&enc);
}

static void blob_list_reads_a_directory(void **state)
{
    (void)state;
    char dir[] = "/tmp/cst-blobs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    const char *names[] = {"b.pem", "a.der", ".hidden"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        cst_ok(cs_file_write_atomic(path, cs_slice_str(names[i]), 0644));
    }
    snprintf(path, sizeof path, "%s/sub", dir);
    cst_ok(cs_mkdir_p(path, 0700));

    cs_blob_list l;
    cs_blob_list_init(&l);
    cst_ok(cs_blob_list_add_dir(&l, dir));
    assert_int_equal(l.count, 2);
    assert_true(cs_slice_eq(cs_buf_slice(&l.items[0]), CS_SLICE_LIT("a.der")));
    assert_true(cs_slice_eq(cs_buf_slice(&l.items[1]), CS_SLICE_LIT("b.pem")));
    cs_blob_list_cleanup(&l);
    assert_int_equal(l.count, 0);

    cst_fails(cs_blob_list_add_dir(&l, "/nonexistent/consort"), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "/nonexistent/consort"));

    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

static void claims_helpers(void **state)
{
    (void)state;
    cs_claims c;
    cs_claims_init(&c, CS_PLATFORM_TDX);
    assert_int_equal(c.platform, CS_PLATFORM_TDX);
    const uint8_t rtmr[3] = {1, 2, 3};
    cst_ok(cs_claims_add_hex(&c, "rtmr0", CS_SLICE(rtmr, 3)));
    cst_ok(cs_claims_add_u64(&c, "vmpl", 2));
    cst_ok(cs_claims_add_bool(&c, "smt", true));
    cst_ok(cs_claims_add_string(&c, "fmspc", "00906ED50000"));
    const cs_claim *cl = cs_claims_find(&c, "rtmr0");
    assert_non_null(cl);
    assert_int_equal(cl->kind, CS_CLAIM_HEX);
    assert_int_equal(cl->len, 3);
    assert_memory_equal(cl->bytes, rtmr, 3);
    assert_int_equal(cs_claims_find(&c, "vmpl")->u64, 2);
    assert_int_equal(cs_claims_find(&c, "smt")->u64, 1);
    assert_string_equal(cs_claims_find(&c, "fmspc")->str, "00906ED50000");
    assert_null(cs_claims_find(&c, "nope"));

    cst_fails(cs_claims_add_u64(&c, "vmpl", 3), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "'vmpl' given twice"));
    cst_fails(cs_claims_add_u64(&c, "a_name_that_is_far_too_long_for_it", 1),
              CONSORT_E_INVALID_ARGUMENT);
    uint8_t big[CS_CLAIM_MAX_BYTES + 1] = {0};
    cst_fails(cs_claims_add_hex(&c, "big", CS_SLICE(big, sizeof big)), CONSORT_E_TOO_LARGE);
    cst_fails(cs_claims_add_string(&c, "ctl", "bell\a"), CONSORT_E_MALFORMED);
    while (c.extra_count < CS_CLAIMS_MAX_EXTRA) {
        char name[16];
        snprintf(name, sizeof name, "x%zu", c.extra_count);
        cst_ok(cs_claims_add_bool(&c, name, false));
    }
    cst_fails(cs_claims_add_bool(&c, "one_more", false), CONSORT_E_TOO_LARGE);

    cst_ok(cs_claims_add_advisory(&c, "INTEL-SA-00615"));
    cst_ok(cs_claims_add_advisory(&c, "INTEL-SA-00615"));
    assert_int_equal(c.advisory_count, 1);
    cst_fails(cs_claims_add_advisory(&c, "INTEL-SA-0061500000000000"), CONSORT_E_TOO_LARGE);
    cst_fails(cs_claims_add_advisory(&c, ""), CONSORT_E_TOO_LARGE);
}

static void report_data_binds_key_and_nonce(void **state)
{
    (void)state;
    cs_key *a;
    cs_key *b;
    cst_ok(cs_key_generate(CS_CURVE_P256, &a));
    cst_ok(cs_key_generate(CS_CURVE_P384, &b));
    const cs_slice nonce = CS_SLICE_LIT("challenge-1");

    uint8_t rd[64];
    cst_ok(cs_report_data_bind(a, nonce, rd));
    /* recompute SHA-256(SPKI || nonce) by hand; the upper 32 bytes are zero */
    cs_buf spki;
    cs_buf_init(&spki, 0);
    cst_ok(cs_key_spki_der(a, &spki));
    cst_ok(cs_buf_append_slice(&spki, nonce));
    uint8_t want[32];
    cs_sha256(cs_buf_slice(&spki), want);
    assert_memory_equal(rd, want, 32);
    const uint8_t zeros[32] = {0};
    assert_memory_equal(rd + 32, zeros, 32);
    cs_buf_cleanup(&spki);

    cs_claims c;
    cs_claims_init(&c, CS_PLATFORM_VIRTUAL);
    memcpy(c.report_data, rd, 64);
    cst_ok(cs_claims_check_binding(&c, a, nonce));
    cst_fails(cs_claims_check_binding(&c, b, nonce), CONSORT_E_REPORT_DATA);
    cst_fails(cs_claims_check_binding(&c, a, CS_SLICE_LIT("challenge-2")), CONSORT_E_REPORT_DATA);
    cst_fails(cs_claims_check_binding(&c, a, CS_SLICE_EMPTY), CONSORT_E_REPORT_DATA);
    /* a non-zero padding byte breaks the binding too */
    c.report_data[63] = 1;
    cst_fails(cs_claims_check_binding(&c, a, nonce), CONSORT_E_REPORT_DATA);
    assert_non_null(strstr(consort_errmsg(), "does not bind"));

    uint8_t big_nonce[2048] = {0};
    cst_fails(cs_report_data_bind(a, CS_SLICE(big_nonce, sizeof big_nonce), rd),
              CONSORT_E_TOO_LARGE);
    cs_key_free(a);
    cs_key_free(b);
}

static void platform_names(void **state)
{
    (void)state;
    cs_platform p;
    cst_ok(cs_platform_parse("tdx", &p));
    assert_int_equal(p, CS_PLATFORM_TDX);
    assert_string_equal(cs_platform_name(CS_PLATFORM_VIRTUAL), "virtual");
    cst_fails(cs_platform_parse("none", &p), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(cs_verifier_find(CS_PLATFORM_VIRTUAL));
    assert_null(cs_verifier_find(CS_PLATFORM_NONE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(truncated_at_every_length),
        cmocka_unit_test(trailing_bytes_rejected),
        cmocka_unit_test(wrong_types_and_keys),
        cmocka_unit_test(malformed_shapes),
        cmocka_unit_test(oversized_fields),
        cmocka_unit_test(decode_survives_allocation_failures),
        cmocka_unit_test(blob_list_reads_a_directory),
        cmocka_unit_test(claims_helpers),
        cmocka_unit_test(report_data_binds_key_and_nonce),
        cmocka_unit_test(platform_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
