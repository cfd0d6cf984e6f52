/*
 * The tpm platform end to end against a real TPM: swtpm started as a process
 * (tests/util/swtpm.h; the tests skip only if swtpm is not installed). An AK
 * made by the TPM is certified by a local CA, the code id is extended into
 * PCR 23, a quote binds the node key and nonce, and the verifier checks it.
 * Then every attack the verifier must stop: tampered quote, wrong report
 * data, changed or swapped PCR values, an AK certificate from another CA, a
 * signature by another key, a changed selection, a wrong code id, a PCR
 * extended again, an expired AK certificate, and every single-bit change.
 */
#include "testutil.h"

#include "attest/tpm.h"
#include "crypto/rand.h"
#include "swtpm.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fixture {
    bool started;
    cst_swtpm tpm;
    cs_key *ca_key;
    cs_x509 *ca;
    cs_key *node_key;
    int64_t now;
    uint8_t code_id[32];
} fixture;

static fixture fx;

static cs_x509 *make_ca(cs_key **key, const char *cn)
{
    cst_ok(cs_key_generate(CS_CURVE_P256, key));
    const cs_x509_params p = {
        .subject_cn = cn, .not_before = fx.now - 3600, .not_after = fx.now + 86400, .is_ca = true};
    cs_x509 *ca = NULL;
    cst_ok(cs_x509_create(&p, *key, *key, NULL, &ca));
    return ca;
}

/* Starts swtpm and the CA once for the whole file (skips if swtpm is missing). */
static fixture *get_fixture(void)
{
    if (!fx.started) {
        cst_swtpm_start(&fx.tpm);
        fx.started = true;
        fx.now = (int64_t)time(NULL);
        fx.ca = make_ca(&fx.ca_key, "consort test AK CA");
        cst_ok(cs_key_generate(CS_CURVE_P256, &fx.node_key));
        for (int i = 0; i < 32; i++)
            fx.code_id[i] = (uint8_t)(0xc0 + i);
    }
    return &fx;
}

static int teardown_group(void **state)
{
    (void)state;
    cst_swtpm_stop(&fx.tpm);
    cs_x509_free(fx.ca);
    cs_key_free(fx.ca_key);
    cs_key_free(fx.node_key);
    return 0;
}

/* An attester with its AK certified by (ca_key, ca) and the code id measured. */
static cs_tpm_attester *attester_by(cs_tpm_ak_type type, uint32_t extra, const cs_key *ca_key,
                                    cs_x509 *ca)
{
    fixture *f = get_fixture();
    const cs_tpm_attester_opts opts = {.tcti = f->tpm.tcti, .ak_type = type, .extra_pcrs = extra};
    cs_tpm_attester *att = NULL;
    cst_ok(cs_tpm_attester_new(&opts, &att));
    cs_x509 *ak_cert = NULL;
    cst_ok(cs_tpm_ak_certify(cs_tpm_attester_ak(att), ca_key, ca, f->now - 60, f->now + 3600,
                             &ak_cert));
    cst_ok(cs_tpm_attester_set_certs(att, ak_cert, &ca, 1));
    cs_x509_free(ak_cert);
    cst_ok(cs_tpm_attester_measure(att, f->code_id));
    return att;
}

/* The same, certified by the fixture's CA (the verifier's anchor). */
static cs_tpm_attester *attester(cs_tpm_ak_type type, uint32_t extra)
{
    fixture *f = get_fixture();
    return attester_by(type, extra, f->ca_key, f->ca);
}

static void anchors_of(const cs_x509 *ca, cs_blob_list *l)
{
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(ca, &der));
    cs_blob_list_init(l);
    cst_ok(cs_blob_list_add(l, cs_buf_slice(&der)));
    cs_buf_cleanup(&der);
}

static consort_err verify_at(const cs_evidence *ev, int64_t now, cs_claims *claims)
{
    cs_blob_list anchors;
    anchors_of(fx.ca, &anchors);
    const cs_verify_opts opts = {.now = now, .anchors = &anchors};
    consort_err rc = cs_tpm_verifier.verify(ev, &opts, claims);
    cs_blob_list_cleanup(&anchors);
    return rc;
}

static consort_err verify(const cs_evidence *ev, cs_claims *claims)
{
    return verify_at(ev, fx.now, claims);
}

#define nonce CS_SLICE_LIT("fresh nonce 1")

static void quote(cs_tpm_attester *att, cs_evidence *ev)
{
    cs_evidence_init(ev);
    cst_ok(cs_tpm_attest_key(att, fx.node_key, nonce, ev));
    assert_int_equal(ev->platform, CS_PLATFORM_TPM);
    assert_int_equal(ev->endorsements.count, 2);
}

/* Replaces the evidence bytes with `te` re-encoded. */
static void reencode(cs_evidence *ev, const cs_tpm_evidence *te)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_ok(cs_tpm_evidence_encode(te, &b));
    cst_ok(cs_buf_set(&ev->evidence, cs_buf_slice(&b)));
    cs_buf_cleanup(&b);
}

static void check_good(cs_tpm_attester *att)
{
    cs_evidence ev;
    quote(att, &ev);
    cs_claims claims;
    cst_ok(verify(&ev, &claims));
    assert_int_equal(claims.platform, CS_PLATFORM_TPM);
    assert_memory_equal(claims.code_id, fx.code_id, 32);
    cst_ok(cs_claims_check_binding(&claims, fx.node_key, nonce));
    assert_false(claims.debug);
    uint8_t ak_id[32], pcr23[32];
    cst_ok(cs_key_id(cs_tpm_attester_ak(att), ak_id));
    assert_int_equal(claims.signer_len, 32);
    assert_memory_equal(claims.signer, ak_id, 32);
    cs_tpm_code_id_pcr_value(fx.code_id, pcr23);
    const cs_claim *c = cs_claims_find(&claims, "pcr_sha256_23");
    assert_non_null(c);
    assert_int_equal(c->len, 32);
    assert_memory_equal(c->bytes, pcr23, 32);
    assert_non_null(cs_claims_find(&claims, "firmware_version"));
    assert_non_null(cs_claims_find(&claims, "reset_count"));
    assert_int_equal(cs_claims_find(&claims, "code_id_pcr")->u64, 23);
    assert_int_equal(cs_claims_find(&claims, "qualified_signer")->len, 34);

    /* through the envelope and the platform table */
    cs_buf wire;
    cs_buf_init(&wire, 0);
    cst_ok(cs_evidence_encode(&ev, &wire));
    cs_evidence back;
    cs_evidence_init(&back);
    cst_ok(cs_evidence_decode(cs_buf_slice(&wire), &back));
    cs_blob_list anchors;
    anchors_of(fx.ca, &anchors);
    const cs_verify_opts opts = {.now = fx.now, .anchors = &anchors};
    cs_claims again;
    cst_ok(cs_evidence_verify(&back, &opts, &again));
    assert_memory_equal(again.report_data, claims.report_data, 64);
    cs_blob_list_cleanup(&anchors);
    cs_evidence_cleanup(&back);
    cs_buf_cleanup(&wire);
    cs_evidence_cleanup(&ev);
}

static void ecdsa_ak_round_trip(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_ECDSA_P256, 0xff);
    assert_int_equal(cs_key_curve(cs_tpm_attester_ak(att)), CS_CURVE_P256);
    check_good(att);
    cs_tpm_attester_free(att);
}

static void rsa_ak_round_trips(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_RSASSA_2048, 0);
    assert_int_equal(cs_key_rsa_bits(cs_tpm_attester_ak(att)), 2048);
    check_good(att);
    cs_tpm_attester_free(att);
    att = attester(CS_TPM_AK_RSAPSS_2048, 0);
    check_good(att);
    cs_evidence ev;
    quote(att, &ev);
    cs_tpm_evidence te;
    cs_tpm_signature sig;
    cst_ok(cs_tpm_evidence_decode(cs_buf_slice(&ev.evidence), &te));
    cst_ok(cs_tpm_signature_parse(te.signature, &sig));
    assert_int_equal(sig.sig_alg, CS_TPM_ALG_RSAPSS);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
}

static void ak_is_stable_across_attesters(void **state)
{
    (void)state;
    cs_tpm_attester *a = attester(CS_TPM_AK_ECDSA_P256, 0);
    cs_tpm_attester *b = attester(CS_TPM_AK_ECDSA_P256, 0);
    uint8_t ida[32], idb[32];
    cst_ok(cs_key_id(cs_tpm_attester_ak(a), ida));
    cst_ok(cs_key_id(cs_tpm_attester_ak(b), idb));
    assert_memory_equal(ida, idb, 32);
    cs_tpm_attester_free(a);
    cs_tpm_attester_free(b);
}

static void wrong_nonce_or_key_rejected(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_ECDSA_P256, 0);
    cs_evidence ev;
    quote(att, &ev);
    cs_claims claims;
    cst_ok(verify(&ev, &claims));
    cst_fails(cs_claims_check_binding(&claims, fx.node_key, CS_SLICE_LIT("fresh nonce 2")),
              CONSORT_E_REPORT_DATA);
    cs_key *other = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &other));
    cst_fails(cs_claims_check_binding(&claims, other, nonce), CONSORT_E_REPORT_DATA);
    cs_key_free(other);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
}

/* Quotes with PCR 16 extended too, so that the quote covers two distinct values. */
static void tampered_quote_and_pcrs_rejected(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_ECDSA_P256, 1u << 16);
    uint8_t junk[32];
    memset(junk, 0x5a, 32);
    cst_ok(cs_tpm_attester_extend(att, 16, junk));
    cs_evidence ev;
    quote(att, &ev);
    cs_claims claims;
    cst_ok(verify(&ev, &claims));
    cs_buf orig;
    cs_buf_init(&orig, 0);
    cst_ok(cs_buf_set(&orig, cs_buf_slice(&ev.evidence)));
    cs_tpm_evidence te;
    cst_ok(cs_tpm_evidence_decode(cs_buf_slice(&orig), &te));
    assert_int_equal(te.pcr_count, 2);
    uint8_t attest[CS_TPM_ATTEST_MAX_BYTES];
    memcpy(attest, te.attest.ptr, te.attest.len);
    const cs_slice good_attest = te.attest;
    te.attest = CS_SLICE(attest, good_attest.len);

    /* tampered clock (magic 4, type 2, qualifiedSigner 2+34, extraData 2+32, clock 8) */
    attest[80] ^= 0x01;
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_BAD_SIGNATURE);
    attest[80] ^= 0x01;
    /* another PCR selected in the signed selection: pcrSelect sits before pcrDigest */
    attest[te.attest.len - 34 - 1] ^= 0x40; /* PCR 22 */
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_BAD_SIGNATURE);
    attest[te.attest.len - 34 - 1] ^= 0x40;

    /* a PCR value changed */
    uint8_t pcr[32];
    memcpy(pcr, te.pcrs[0].ptr, 32);
    const cs_slice good0 = te.pcrs[0];
    pcr[31] ^= 0x80;
    te.pcrs[0] = CS_SLICE(pcr, 32);
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "pcrDigest"));
    /* the two PCR values swapped */
    te.pcrs[0] = te.pcrs[1];
    te.pcrs[1] = good0;
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_ATTESTATION);
    /* a PCR value dropped */
    te.pcrs[1] = te.pcrs[0];
    te.pcrs[0] = good0;
    te.pcr_count = 1;
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_MALFORMED);
    te.pcr_count = 2;
    reencode(&ev, &te);
    cst_ok(verify(&ev, &claims));
    cs_buf_cleanup(&orig);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
}

static void ak_cert_from_another_ca_rejected(void **state)
{
    (void)state;
    cs_key *other_key = NULL;
    (void)get_fixture();
    cs_x509 *other = make_ca(&other_key, "some other CA");
    cs_tpm_attester *att = attester_by(CS_TPM_AK_ECDSA_P256, 0, other_key, other);
    cs_evidence ev;
    quote(att, &ev);
    cs_claims claims;
    cst_fails(verify(&ev, &claims), CONSORT_E_BAD_CERTIFICATE);
    /* and with no AK certificate at all */
    cs_blob_list_cleanup(&ev.endorsements);
    cst_fails(verify(&ev, &claims), CONSORT_E_COLLATERAL_MISSING);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
    cs_x509_free(other);
    cs_key_free(other_key);
}

static void signature_by_another_key_rejected(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_ECDSA_P256, 0);
    cs_evidence ev;
    quote(att, &ev);
    cs_buf orig;
    cs_buf_init(&orig, 0);
    cst_ok(cs_buf_set(&orig, cs_buf_slice(&ev.evidence)));
    cs_tpm_evidence te;
    cst_ok(cs_tpm_evidence_decode(cs_buf_slice(&orig), &te));
    /* the same quote signed by a software key, in a well-formed TPMT_SIGNATURE */
    cs_key *rogue = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &rogue));
    cs_buf raw, sigbytes;
    cs_buf_init(&raw, 0);
    cs_buf_init(&sigbytes, 0);
    cst_ok(cs_sig_sign(rogue, CS_SIG_ECDSA, CS_HASH_SHA256, te.attest, &raw));
    cs_tpm_signature sig;
    memset(&sig, 0, sizeof sig);
    sig.sig_alg = CS_TPM_ALG_ECDSA;
    sig.hash_alg = CS_TPM_ALG_SHA256;
    memcpy(sig.ecdsa_r, raw.ptr, 32);
    memcpy(sig.ecdsa_s, raw.ptr + 32, 32);
    sig.ecdsa_r_len = sig.ecdsa_s_len = 32;
    cst_ok(cs_tpm_signature_marshal(&sig, &sigbytes));
    te.signature = cs_buf_slice(&sigbytes);
    reencode(&ev, &te);
    cs_claims claims;
    cst_fails(verify(&ev, &claims), CONSORT_E_BAD_SIGNATURE);

    /* an RSA signature where the AK is an EC key */
    cs_tpm_signature rsa;
    uint8_t junk[256];
    memset(junk, 0x01, sizeof junk);
    cst_ok(cs_tpm_signature_from_rsa(CS_TPM_ALG_RSASSA, CS_TPM_ALG_SHA256,
                                     CS_SLICE(junk, sizeof junk), &rsa));
    cs_buf_reset(&sigbytes);
    cst_ok(cs_tpm_signature_marshal(&rsa, &sigbytes));
    te.signature = cs_buf_slice(&sigbytes);
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "not an RSA key"));

    /* the rogue key certified by the trusted CA still cannot sign for the TPM: the
     * quote was made by the TPM's AK, not by the certified key */
    cst_ok(cs_buf_set(&ev.evidence, cs_buf_slice(&orig)));
    cs_x509 *rogue_cert = NULL;
    cst_ok(cs_tpm_ak_certify(rogue, fx.ca_key, fx.ca, fx.now - 60, fx.now + 60, &rogue_cert));
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(rogue_cert, &der));
    cst_ok(cs_buf_set(&ev.endorsements.items[0], cs_buf_slice(&der)));
    cst_fails(verify(&ev, &claims), CONSORT_E_BAD_SIGNATURE);
    cs_buf_cleanup(&der);
    cs_x509_free(rogue_cert);
    cs_buf_cleanup(&raw);
    cs_buf_cleanup(&sigbytes);
    cs_key_free(rogue);
    cs_buf_cleanup(&orig);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
}

static void wrong_code_id_rejected(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_ECDSA_P256, 0x3);
    cs_evidence ev;
    quote(att, &ev);
    cs_buf orig;
    cs_buf_init(&orig, 0);
    cst_ok(cs_buf_set(&orig, cs_buf_slice(&ev.evidence)));
    cs_tpm_evidence te;
    cst_ok(cs_tpm_evidence_decode(cs_buf_slice(&orig), &te));
    cs_claims claims;
    te.code_id[0] ^= 1; /* claims another code id */
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_ATTESTATION);
    te.code_id[0] ^= 1;
    te.code_id_pcr = 1; /* points at a quoted PCR that does not hold it */
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_ATTESTATION);
    te.code_id_pcr = 16; /* points at a PCR the quote does not cover */
    reencode(&ev, &te);
    cst_fails(verify(&ev, &claims), CONSORT_E_ATTESTATION);
    assert_non_null(strstr(consort_errmsg(), "does not cover"));
    cs_evidence_cleanup(&ev);

    /* the code-id PCR extended a second time on the TPM */
    uint8_t more[32] = {1};
    cst_ok(cs_tpm_attester_extend(att, 23, more));
    quote(att, &ev);
    cst_fails(verify(&ev, &claims), CONSORT_E_ATTESTATION);
    /* measuring again resets it */
    cst_ok(cs_tpm_attester_measure(att, fx.code_id));
    cs_evidence_cleanup(&ev);
    quote(att, &ev);
    cst_ok(verify(&ev, &claims));
    cs_buf_cleanup(&orig);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
}

static void expired_ak_cert_rejected(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_ECDSA_P256, 0);
    cs_evidence ev;
    quote(att, &ev);
    cs_claims claims;
    cst_fails(verify_at(&ev, fx.now + 7200, &claims), CONSORT_E_EXPIRED);
    cst_fails(verify_at(&ev, fx.now - 7200, &claims), CONSORT_E_EXPIRED);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
}

static void every_bit_flip_of_evidence_rejected(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_ECDSA_P256, 0x1);
    cs_evidence ev;
    quote(att, &ev);
    cs_claims claims;
    cst_ok(verify(&ev, &claims));
    for (size_t i = 0; i < ev.evidence.len; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            ev.evidence.ptr[i] ^= (uint8_t)(1u << bit);
            if (verify(&ev, &claims) == CONSORT_OK)
                fail_msg("flipping bit %u of evidence byte %zu was accepted", bit, i);
            ev.evidence.ptr[i] ^= (uint8_t)(1u << bit);
        }
    }
    cst_ok(verify(&ev, &claims));
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
}

/* Every allocation the verifier makes, failed in turn: an error, never a leak. */
static void verifier_survives_every_allocation_failure(void **state)
{
    (void)state;
    cs_tpm_attester *att = attester(CS_TPM_AK_ECDSA_P256, 0x1);
    cs_evidence ev;
    quote(att, &ev);
    cs_blob_list anchors;
    anchors_of(fx.ca, &anchors);
    const cs_verify_opts opts = {.now = fx.now, .anchors = &anchors};
    cs_claims claims;
    cst_alloc_install();
    long n = 0;
    for (;; n++) {
        long live = cst_alloc_live();
        cst_alloc_fail_after(n);
        consort_err rc = cs_tpm_verifier.verify(&ev, &opts, &claims);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed) {
            cst_ok(rc);
            break;
        }
        assert_int_not_equal(rc, CONSORT_OK);
    }
    cst_alloc_uninstall();
    assert_true(n > 0); /* the verifier did allocate, so the sweep meant something */
    cs_blob_list_cleanup(&anchors);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(att);
}

static void attester_usage_errors(void **state)
{
    (void)state;
    fixture *f = get_fixture();
    cs_tpm_attester_opts opts = {.tcti = f->tpm.tcti, .code_id_pcr = 7};
    cs_tpm_attester *att = NULL;
    cst_fails(cs_tpm_attester_new(&opts, &att), CONSORT_E_INVALID_ARGUMENT);
    opts.code_id_pcr = 0;
    opts.extra_pcrs = 1u << 24;
    cst_fails(cs_tpm_attester_new(&opts, &att), CONSORT_E_INVALID_ARGUMENT);
    opts.extra_pcrs = 0;
    cst_ok(cs_tpm_attester_new(&opts, &att));
    uint8_t rd[64] = {0};
    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_fails(cs_tpm_attester_quote(att, rd, &ev), CONSORT_E_STATE); /* nothing measured */
    cst_ok(cs_tpm_attester_measure(att, f->code_id));
    cst_fails(cs_tpm_attester_quote(att, rd, &ev), CONSORT_E_STATE); /* no AK certificate */
    rd[40] = 1;
    cst_fails(cs_tpm_attester_quote(att, rd, &ev), CONSORT_E_INVALID_ARGUMENT);
    cs_tpm_attester_free(att);
    cs_evidence_cleanup(&ev);
    cs_tpm_attester_free(NULL);

    /* nothing listening (swtpm's ports are even, so an odd port + 1 is free of it) */
    char tcti[96];
    snprintf(tcti, sizeof tcti, "swtpm:host=127.0.0.1,port=%d", f->tpm.port + 3);
    opts.tcti = tcti;
    cst_fails(cs_tpm_attester_new(&opts, &att), CONSORT_E_IO);
    assert_null(att);
}

int main(void)
{
    /* tss2 logs every unmarshalling error to stderr; the tests provoke thousands */
    setenv("TSS2_LOG", "all+none", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ecdsa_ak_round_trip),
        cmocka_unit_test(rsa_ak_round_trips),
        cmocka_unit_test(ak_is_stable_across_attesters),
        cmocka_unit_test(wrong_nonce_or_key_rejected),
        cmocka_unit_test(tampered_quote_and_pcrs_rejected),
        cmocka_unit_test(ak_cert_from_another_ca_rejected),
        cmocka_unit_test(signature_by_another_key_rejected),
        cmocka_unit_test(wrong_code_id_rejected),
        cmocka_unit_test(expired_ak_cert_rejected),
        cmocka_unit_test(every_bit_flip_of_evidence_rejected),
        cmocka_unit_test(verifier_survives_every_allocation_failure),
        cmocka_unit_test(attester_usage_errors),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, teardown_group));
}
