/* The attested channel's hello codec (strict decoding) and configuration errors. */
#include "net_fixture.h"

#include "attest/virtual.h"
#include "base/cbor.h"
#include "net/attested.h"

static const uint8_t TRUSTED[32] = {0x7e, 0x57, 1, 2, 3};

typedef struct fixture {
    cs_virtual_platform *platform;
    cs_key *key;
    cs_x509 *cert, *other_cert;
    cs_key *other_key;
    char node_id[CS_NODE_ID_LEN + 1];
    cs_blob_list anchors;
    cs_verify_opts opts;
    cs_policy policy;
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    cst_ok(cs_virtual_platform_generate((int64_t)time(NULL), &f.platform));
    cst_ok(cs_key_generate(CS_CURVE_P256, &f.key));
    cst_ok(cs_key_generate(CS_CURVE_P256, &f.other_key));
    cst_self_signed(f.key, "node", &f.cert);
    cst_self_signed(f.other_key, "other", &f.other_cert);
    cst_ok(cs_attested_node_id(f.key, f.node_id));
    assert_int_equal(strlen(f.node_id), CS_NODE_ID_LEN);
    cs_blob_list_init(&f.anchors);
    f.opts = (cs_verify_opts){.anchors = &f.anchors};
    cs_policy_init(&f.policy);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cs_virtual_platform_free(f->platform);
    cs_key_free(f->key);
    cs_key_free(f->other_key);
    cs_x509_free(f->cert);
    cs_x509_free(f->other_cert);
    cs_blob_list_cleanup(&f->anchors);
    return 0;
}

static consort_err attest_cb(void *ctx, const cs_key *key, cs_slice nonce, cs_evidence *out)
{
    (void)ctx;
    (void)key;
    (void)nonce;
    (void)out;
    return cs_fail(CONSORT_E_STATE, "not used");
}

static void hello_codec(void **state)
{
    fixture *w = *state;
    cs_evidence ev;
    cs_evidence_init(&ev);
    uint8_t rd[64] = {0};
    cst_ok(cs_virtual_attest(w->platform, TRUSTED, 1, false, rd, &ev));
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_attested_hello_encode(&ev, w->node_id, 77, "10.0.0.1:6000", &out));
    cs_slice body = CS_SLICE(out.ptr + 4, out.len - 4);
    assert_int_equal((size_t)out.ptr[2] << 8 | out.ptr[3], body.len);
    cs_attested_hello h;
    cst_ok(cs_attested_hello_decode(body, &h));
    assert_int_equal(h.raft_id, 77);
    assert_true(cs_slice_eq(h.node_id, cs_slice_str(w->node_id)));
    assert_true(cs_slice_eq(h.raft_address, cs_slice_str("10.0.0.1:6000")));
    cs_evidence back;
    cs_evidence_init(&back);
    cst_ok(cs_evidence_decode(h.evidence, &back));
    assert_int_equal(back.platform, CS_PLATFORM_VIRTUAL);
    cs_evidence_cleanup(&back);
    /* every truncation fails; trailing bytes fail */
    for (size_t n = 0; n < body.len; n += 1 + n / 8)
        cst_fails_any(cs_attested_hello_decode(CS_SLICE(body.ptr, n), &h));
    cs_buf more;
    cs_buf_init(&more, 0);
    cst_ok(cs_buf_append_slice(&more, body));
    cst_ok(cs_buf_append_u8(&more, 0));
    cst_fails(cs_attested_hello_decode(cs_buf_slice(&more), &h), CONSORT_E_TRAILING_DATA);
    /* wrong shapes */
    static const struct {
        const char *hex;
        consort_err want;
    } bad[] = {
        {"a0", CONSORT_E_MALFORMED},               /* empty map */
        {"80", CONSORT_E_MALFORMED},               /* array */
        {"a4024100", CONSORT_E_MALFORMED},         /* key 2 first */
        {"a4016100", CONSORT_E_MALFORMED},         /* evidence as text */
        {"a401400263616263", CONSORT_E_MALFORMED}, /* node id not 16 hex */
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cs_buf b;
        cst_hex(bad[i].hex, &b);
        consort_err rc = cs_attested_hello_decode(cs_buf_slice(&b), &h);
        if (rc != bad[i].want)
            fail_msg("case %zu: %s (%s)", i, consort_err_name(rc), consort_errmsg());
        cs_buf_cleanup(&b);
    }
    /* evidence larger than an envelope may be */
    cs_buf huge;
    cs_buf_init(&huge, 0);
    cst_ok(cs_cbor_write_map(&huge, 4));
    cst_ok(cs_cbor_write_uint(&huge, 1));
    cst_ok(cs_cbor_write_bytes_header(&huge, CS_EVIDENCE_MAX_BYTES + 1));
    uint8_t *fill;
    cst_ok(cs_buf_extend(&huge, CS_EVIDENCE_MAX_BYTES + 1, &fill));
    cst_fails(cs_attested_hello_decode(cs_buf_slice(&huge), &h), CONSORT_E_TOO_LARGE);
    cs_buf_cleanup(&huge);
    /* keys out of order: the shared integer-key reader names both */
    cs_buf swapped;
    cs_buf_init(&swapped, 0);
    cst_ok(cs_cbor_write_map(&swapped, 4));
    cst_ok(cs_cbor_write_uint(&swapped, 2));
    cst_fails(cs_attested_hello_decode(cs_buf_slice(&swapped), &h), CONSORT_E_MALFORMED);
    assert_string_equal(consort_errmsg(), "hello: key 2 where 1 was expected");
    cs_buf_cleanup(&swapped);
    /* encoding refuses what decoding would refuse */
    cs_buf_reset(&out);
    cst_fails(cs_attested_hello_encode(&ev, "XYZ", 1, "a:1", &out), CONSORT_E_MALFORMED);
    cst_fails(cs_attested_hello_encode(&ev, w->node_id, 1, "has space:1", &out),
              CONSORT_E_MALFORMED);
    assert_int_equal(out.len, 0);
    cs_buf_cleanup(&more);
    cs_buf_cleanup(&out);
    cs_evidence_cleanup(&ev);
}

static void config_errors(void **state)
{
    fixture *w = *state;
    cs_attested_config *cfg = NULL;
    cs_attested_params p = {.key = w->key,
                            .cert = w->other_cert,
                            .raft_address = "x:1",
                            .attest = attest_cb,
                            .verify_opts = &w->opts,
                            .policy = &w->policy};
    cst_fails(cs_attested_config_new(&p, &cfg), CONSORT_E_INVALID_ARGUMENT); /* key != cert */
    p.cert = w->cert;
    p.raft_address = "";
    cst_fails(cs_attested_config_new(&p, &cfg), CONSORT_E_INVALID_ARGUMENT);
    p.raft_address = "x:1";
    p.policy = NULL;
    cst_fails(cs_attested_config_new(&p, &cfg), CONSORT_E_INVALID_ARGUMENT);
    assert_null(cfg);
    p.policy = &w->policy;
    cst_ok(cs_attested_config_new(&p, &cfg));
    assert_string_equal(cs_attested_config_node_id(cfg), w->node_id);
    cs_attested_config_free(cfg);
    cs_attested_config_free(NULL);
    assert_null(cs_attested_stream_peer(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hello_codec),
        cmocka_unit_test(config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
