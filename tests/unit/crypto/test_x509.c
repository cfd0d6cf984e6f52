/*
 * X.509 on certificates made by cs_x509_create: the profile of what is
 * created, chain verification (anchors, expiry, CA constraint, CRLs), and the
 * parsers (DER, PEM, bundles) with their negative cases. Real AMD and Intel
 * chains are in test_x509_real.c, RFC 3339 time in test_time.c.
 */
#include "testutil.h"

#include "base/alloc.h"
#include "crypto/x509.h"
#include "crypto/x509_crl_create.h"

#include <openssl/x509.h>
#include <string.h>

#define T0   1714564800LL /* 2024-05-01T12:00:00Z */
#define DAY  86400LL
#define YEAR (365 * DAY)

typedef struct pki {
    cs_key *root_key, *mid_key, *leaf_key;
    cs_x509 *root, *mid, *leaf;
} pki;

static cs_x509 *make_cert(const char *cn, bool is_ca, uint64_t serial, const cs_key *subject,
                          const cs_key *issuer_key, const cs_x509 *issuer)
{
    static const char *const dns[] = {"node1.consort.test", "*.consort.test", NULL};
    static const char *const ips[] = {"127.0.0.1", "::1", NULL};
    cs_x509_params p = {
        .subject_cn = cn,
        .subject_org = "consort",
        .serial = serial,
        .not_before = T0 - DAY,
        .not_after = is_ca ? T0 + 10 * YEAR : T0 + YEAR,
        .is_ca = is_ca,
        .dns = is_ca ? NULL : dns,
        .ips = is_ca ? NULL : ips,
    };
    cs_x509 *cert = NULL;
    cst_ok(cs_x509_create(&p, subject, issuer_key, issuer, &cert));
    return cert;
}

/* root (P-384) -> intermediate (P-256) -> leaf (P-256) */
static int pki_setup(void **state)
{
    pki *k = calloc(1, sizeof *k);
    cst_ok(cs_key_generate(CS_CURVE_P384, &k->root_key));
    cst_ok(cs_key_generate(CS_CURVE_P256, &k->mid_key));
    cst_ok(cs_key_generate(CS_CURVE_P256, &k->leaf_key));
    k->root = make_cert("root", true, 1, k->root_key, k->root_key, NULL);
    k->mid = make_cert("mid", true, 2, k->mid_key, k->root_key, k->root);
    k->leaf = make_cert("leaf", false, 0x1234, k->leaf_key, k->mid_key, k->mid);
    *state = k;
    return 0;
}

static int pki_teardown(void **state)
{
    pki *k = *state;
    cs_x509_free(k->leaf);
    cs_x509_free(k->mid);
    cs_x509_free(k->root);
    cs_key_free(k->leaf_key);
    cs_key_free(k->mid_key);
    cs_key_free(k->root_key);
    free(k);
    return 0;
}

static consort_err verify(const pki *k, const cs_x509 *leaf, cs_x509 *mid, cs_x509 *root,
                          int64_t now, size_t *path)
{
    cs_x509_verify_opts opts = {.now = now};
    cs_x509 *mids[] = {mid};
    return cs_x509_verify_chain(leaf, mids, mid ? 1 : 0, &root, 1, &opts, path);
}

static void ext_value(const cs_x509 *cert, const char *oid, cs_buf *out)
{
    cs_slice v;
    cst_ok(cs_x509_extension(cert, oid, &v));
    cs_buf_init(out, 0);
    cst_ok(cs_buf_set(out, v));
}

static bool ext_critical(const cs_x509 *cert, int nid)
{
    X509 *x = cs_x509_ossl(cert);
    int at = X509_get_ext_by_NID(x, nid, -1);
    assert_true(at >= 0);
    return X509_EXTENSION_get_critical(X509_get_ext(x, at)) == 1;
}

static void created_profile(void **state)
{
    pki *k = *state;
    char s[256];
    cs_x509_subject(k->leaf, s, sizeof s);
    assert_string_equal(s, "CN=leaf,O=consort");
    cs_x509_issuer(k->leaf, s, sizeof s);
    assert_string_equal(s, "CN=mid,O=consort");
    cs_x509_subject(k->leaf, s, 6); /* truncated, terminated */
    assert_string_equal(s, "CN=le");
    cs_x509_serial_hex(k->leaf, s, sizeof s);
    assert_string_equal(s, "1234");
    int64_t nb, na;
    cst_ok(cs_x509_validity(k->leaf, &nb, &na));
    assert_int_equal(nb, T0 - DAY);
    assert_int_equal(na, T0 + YEAR);
    assert_int_equal(X509_get_version(cs_x509_ossl(k->leaf)), X509_VERSION_3);
    /* ECDSA-SHA384 by the P-384 root, ECDSA-SHA256 by the P-256 intermediate */
    assert_int_equal(X509_get_signature_nid(cs_x509_ossl(k->mid)), NID_ecdsa_with_SHA384);
    assert_int_equal(X509_get_signature_nid(cs_x509_ossl(k->leaf)), NID_ecdsa_with_SHA256);

    assert_true(cs_x509_is_ca(k->root));
    assert_true(cs_x509_is_ca(k->mid));
    assert_false(cs_x509_is_ca(k->leaf));
    assert_true(cs_x509_is_self_signed(k->root));
    assert_false(cs_x509_is_self_signed(k->mid));
    assert_false(cs_x509_is_self_signed(k->leaf));

    /* basicConstraints: leaf SEQUENCE {} (cA FALSE is the DEFAULT), CA cA TRUE */
    cs_buf v;
    ext_value(k->leaf, "2.5.29.19", &v);
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.ptr, "\x30\x00", 2);
    cs_buf_cleanup(&v);
    ext_value(k->mid, "2.5.29.19", &v);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.ptr, "\x30\x03\x01\x01\xff", 5);
    cs_buf_cleanup(&v);
    /* keyUsage: digitalSignature (bit 0) for the leaf, keyCertSign|cRLSign (5, 6) for CAs */
    ext_value(k->leaf, "2.5.29.15", &v);
    assert_memory_equal(v.ptr, "\x03\x02\x07\x80", 4);
    cs_buf_cleanup(&v);
    ext_value(k->root, "2.5.29.15", &v);
    assert_memory_equal(v.ptr, "\x03\x02\x01\x06", 4);
    cs_buf_cleanup(&v);
    assert_true(ext_critical(k->leaf, NID_basic_constraints));
    assert_true(ext_critical(k->leaf, NID_key_usage));
    assert_false(ext_critical(k->leaf, NID_subject_alt_name));

    /* AKI of the leaf = [0] keyIdentifier holding the intermediate's SKI */
    cs_buf ski, aki;
    ext_value(k->mid, "2.5.29.14", &ski);
    ext_value(k->leaf, "2.5.29.35", &aki);
    assert_int_equal(ski.len, 22); /* OCTET STRING of 20 bytes */
    assert_int_equal(aki.len, 24);
    assert_memory_equal(aki.ptr + 2, "\x80\x14", 2);
    assert_memory_equal(aki.ptr + 4, ski.ptr + 2, 20);
    cs_buf_cleanup(&ski);
    cs_buf_cleanup(&aki);

    /* SAN: two dNSName [2] and two iPAddress [7] (4 and 16 octets) */
    ext_value(k->leaf, "2.5.29.17", &v);
    const char *dns0 = "\x82\x12node1.consort.test";
    assert_memory_equal(v.ptr + 2, dns0, 20);
    assert_non_null(memmem(v.ptr, v.len, "\x87\x04\x7f\x00\x00\x01", 6));
    assert_non_null(memmem(v.ptr, v.len, "\x87\x10", 2));
    cs_buf_cleanup(&v);
}

static void created_keys_and_signatures(void **state)
{
    pki *k = *state;
    cs_key *pub = NULL;
    cst_ok(cs_x509_public_key(k->leaf, &pub));
    uint8_t id1[32], id2[32];
    cst_ok(cs_key_id(pub, id1));
    cst_ok(cs_key_id(k->leaf_key, id2));
    assert_memory_equal(id1, id2, 32);
    assert_false(cs_key_has_private(pub));
    cs_key_free(pub);

    cst_ok(cs_x509_verify_signature(k->leaf, k->mid_key));
    cst_ok(cs_x509_verify_signature(k->root, k->root_key));
    cst_fails(cs_x509_verify_signature(k->leaf, k->root_key), CONSORT_E_BAD_SIGNATURE);
    assert_non_null(strstr(consort_errmsg(), "CN=leaf"));

    /* fingerprint = SHA-256 of the DER */
    cs_buf der;
    cs_buf_init(&der, 0);
    cst_ok(cs_x509_to_der(k->leaf, &der));
    uint8_t fp[32], want[32];
    cs_sha256(cs_buf_slice(&der), want);
    cst_ok(cs_x509_fingerprint(k->leaf, fp));
    assert_memory_equal(fp, want, 32);
    cs_buf_cleanup(&der);

    /* a random serial: positive, non-zero, different each time */
    cs_x509 *a = make_cert("r", false, 0, k->leaf_key, k->mid_key, k->mid);
    cs_x509 *b = make_cert("r", false, 0, k->leaf_key, k->mid_key, k->mid);
    char sa[64], sb[64];
    cs_x509_serial_hex(a, sa, sizeof sa);
    cs_x509_serial_hex(b, sb, sizeof sb);
    assert_string_not_equal(sa, sb);
    assert_true(sa[0] != '-' && strcmp(sa, "0") != 0 && strlen(sa) <= 16);
    cs_x509_free(a);
    cs_x509_free(b);

    cs_x509 *r = cs_x509_ref(k->leaf);
    assert_ptr_equal(r, k->leaf);
    cs_x509_free(r);
    cs_x509_free(NULL);
}

static void create_rejects_bad_parameters(void **state)
{
    pki *k = *state;
    cs_x509_params p = {.subject_cn = "x", .not_before = T0, .not_after = T0 + DAY};
    cs_x509 *c = NULL;
    p.subject_cn = NULL;
    cst_fails(cs_x509_create(&p, k->leaf_key, k->mid_key, k->mid, &c), CONSORT_E_INVALID_ARGUMENT);
    p.subject_cn = "0123456789012345678901234567890123456789012345678901234567890123456789";
    cst_fails(cs_x509_create(&p, k->leaf_key, k->mid_key, k->mid, &c), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "subject CN of 70 characters"));
    p.subject_cn = "x";
    p.not_after = T0;
    cst_fails(cs_x509_create(&p, k->leaf_key, k->mid_key, k->mid, &c), CONSORT_E_INVALID_ARGUMENT);
    p.not_after = T0 + DAY;
    /* the issuer key must match the issuer certificate ... */
    cst_fails(cs_x509_create(&p, k->leaf_key, k->root_key, k->mid, &c), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "does not match the issuer certificate"));
    /* ... or, self-signed, the subject key */
    cst_fails(cs_x509_create(&p, k->leaf_key, k->mid_key, NULL, &c), CONSORT_E_INVALID_ARGUMENT);
    /* and it must be a private key */
    cs_key *pub = NULL;
    cst_ok(cs_x509_public_key(k->mid, &pub));
    cst_fails(cs_x509_create(&p, k->leaf_key, pub, k->mid, &c), CONSORT_E_INVALID_ARGUMENT);
    cs_key_free(pub);
    const char *const bad_ip[] = {"300.1.1.1", NULL};
    p.ips = bad_ip;
    cst_fails(cs_x509_create(&p, k->leaf_key, k->mid_key, k->mid, &c), CONSORT_E_INVALID_ARGUMENT);
    p.ips = NULL;
    const char *const bad_dns[] = {"a b.test", NULL};
    p.dns = bad_dns;
    cst_fails(cs_x509_create(&p, k->leaf_key, k->mid_key, k->mid, &c), CONSORT_E_INVALID_ARGUMENT);
    assert_null(c);
}

static void chain_verifies(void **state)
{
    pki *k = *state;
    size_t path = 0;
    cst_ok(verify(k, k->leaf, k->mid, k->root, T0, &path));
    assert_int_equal(path, 3);
    cst_ok(verify(k, k->mid, NULL, k->root, T0, &path));
    assert_int_equal(path, 2);
    /* intermediates in any order, extra certificates ignored */
    cs_x509 *mids[] = {k->leaf, k->root, k->mid};
    cs_x509_verify_opts opts = {.now = T0};
    cst_ok(cs_x509_verify_chain(k->leaf, mids, 3, &k->root, 1, &opts, &path));
    assert_int_equal(path, 3);
}

static void chain_needs_the_right_root(void **state)
{
    pki *k = *state;
    cs_key *other_key = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &other_key));
    /* same name as the real root, different key */
    cs_x509 *other = make_cert("root", true, 1, other_key, other_key, NULL);
    cst_fails(verify(k, k->leaf, k->mid, other, T0, NULL), CONSORT_E_BAD_CERTIFICATE);
    assert_non_null(strstr(consort_errmsg(), "CN=mid"));
    /* the intermediate is not an anchor: no partial chains */
    cst_fails(verify(k, k->leaf, NULL, k->mid, T0, NULL), CONSORT_E_BAD_CERTIFICATE);
    /* missing intermediate */
    cst_fails(verify(k, k->leaf, NULL, k->root, T0, NULL), CONSORT_E_BAD_CERTIFICATE);
    assert_non_null(strstr(consort_errmsg(), "CN=leaf"));
    assert_non_null(strstr(consort_errmsg(), "unable to get local issuer certificate"));
    cs_x509_free(other);
    cs_key_free(other_key);
    cs_x509_verify_opts opts = {.now = T0};
    cst_fails(cs_x509_verify_chain(k->leaf, NULL, 0, NULL, 0, &opts, NULL),
              CONSORT_E_INVALID_ARGUMENT);
}

static void chain_checks_time(void **state)
{
    pki *k = *state;
    /* (OpenSSL treats the notAfter second itself as expired) */
    cst_ok(verify(k, k->leaf, k->mid, k->root, T0 + YEAR - 1, NULL));
    cst_ok(verify(k, k->leaf, k->mid, k->root, T0 - DAY, NULL));
    cst_fails(verify(k, k->leaf, k->mid, k->root, T0 + YEAR + 1, NULL), CONSORT_E_EXPIRED);
    assert_non_null(
        strstr(consort_errmsg(), "'CN=leaf,O=consort' (depth 0): certificate has expired"));
    cst_fails(verify(k, k->leaf, k->mid, k->root, T0 - DAY - 1, NULL), CONSORT_E_EXPIRED);
    assert_non_null(strstr(consort_errmsg(), "not yet valid"));
    /* CAs expire too (the root, checked first, is named) */
    cst_fails(verify(k, k->mid, NULL, k->root, T0 + 11 * YEAR, NULL), CONSORT_E_EXPIRED);
    assert_non_null(strstr(consort_errmsg(), "'CN=root,O=consort' (depth 1)"));
}

static void leaf_cannot_act_as_ca(void **state)
{
    pki *k = *state;
    cs_key *key = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    cs_x509 *under_leaf = make_cert("under-leaf", false, 7, key, k->leaf_key, k->leaf);
    cst_ok(cs_x509_verify_signature(under_leaf, k->leaf_key));
    cs_x509 *mids[] = {k->leaf, k->mid};
    cs_x509_verify_opts opts = {.now = T0};
    cst_fails(cs_x509_verify_chain(under_leaf, mids, 2, &k->root, 1, &opts, NULL),
              CONSORT_E_BAD_CERTIFICATE);
    assert_non_null(strstr(consort_errmsg(), "CN=leaf"));
    assert_non_null(strstr(consort_errmsg(), "invalid CA certificate"));
    cs_x509_free(under_leaf);
    cs_key_free(key);
}

static cs_x509_crl *make_crl(const cs_x509 *issuer, const cs_key *key, cs_x509 *revoked,
                             int64_t this_update)
{
    cs_x509 *list[] = {revoked};
    cs_x509_crl_params p = {
        .this_update = this_update,
        .next_update = this_update + 30 * DAY,
        .crl_number = 1,
        .revoked = list,
        .revoked_count = revoked != NULL ? 1 : 0,
    };
    cs_x509_crl *crl = NULL;
    cst_ok(cs_x509_crl_create(&p, issuer, key, &crl));
    return crl;
}

static void crls_revoke_and_are_required(void **state)
{
    pki *k = *state;
    cs_x509_crl *root_crl = make_crl(k->root, k->root_key, NULL, T0 - DAY);
    cs_x509_crl *mid_crl = make_crl(k->mid, k->mid_key, k->leaf, T0 - DAY);
    cs_x509_crl *mid_crl_clean = make_crl(k->mid, k->mid_key, NULL, T0 - DAY);
    cs_x509 *mids[] = {k->mid};
    size_t path = 0;

    cs_x509_crl *revoking[] = {root_crl, mid_crl};
    cs_x509_verify_opts opts = {.now = T0, .require_crls = true, .crls = revoking, .crl_count = 2};
    cst_fails(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, NULL), CONSORT_E_REVOKED);
    assert_non_null(strstr(consort_errmsg(), "CN=leaf"));
    /* without require_crls a CRL that is given is still applied */
    opts.require_crls = false;
    cst_fails(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, NULL), CONSORT_E_REVOKED);

    cs_x509_crl *clean[] = {root_crl, mid_crl_clean};
    opts = (cs_x509_verify_opts){.now = T0, .require_crls = true, .crls = clean, .crl_count = 2};
    cst_ok(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, &path));
    assert_int_equal(path, 3);

    /* the intermediate's CRL is missing: the leaf is not covered */
    opts.crl_count = 1;
    cst_fails(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, NULL),
              CONSORT_E_COLLATERAL_MISSING);
    assert_non_null(strstr(consort_errmsg(), "unable to get certificate CRL"));
    opts.crl_count = 0;
    cst_fails(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, NULL),
              CONSORT_E_COLLATERAL_MISSING);
    /* not required: a missing CRL is fine */
    opts.require_crls = false;
    opts.crl_count = 1;
    cst_ok(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, NULL));

    /* a CRL past its nextUpdate */
    opts = (cs_x509_verify_opts){
        .now = T0 + 31 * DAY, .require_crls = true, .crls = clean, .crl_count = 2};
    cst_fails(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, NULL), CONSORT_E_EXPIRED);
    assert_non_null(strstr(consort_errmsg(), "CRL has expired"));

    /* a CRL forged under the intermediate's name by another key does not count */
    cs_key *forger = NULL;
    cst_ok(cs_key_generate(CS_CURVE_P256, &forger));
    cs_x509 *fake_mid = make_cert("mid", true, 2, forger, forger, NULL);
    cs_x509_crl *forged = make_crl(fake_mid, forger, NULL, T0 - DAY);
    cs_x509_crl *with_forged[] = {root_crl, forged};
    opts =
        (cs_x509_verify_opts){.now = T0, .require_crls = true, .crls = with_forged, .crl_count = 2};
    cst_fails(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, NULL),
              CONSORT_E_COLLATERAL_MISSING);

    /* the right CRL with one bit of its signature flipped */
    unsigned char *der = NULL;
    int n = i2d_X509_CRL(cs_x509_crl_ossl(mid_crl_clean), &der);
    assert_true(n > 0);
    der[n - 1] ^= 0x01;
    cs_x509_crl *flipped = NULL;
    cst_ok(cs_x509_crl_parse(CS_SLICE(der, (size_t)n), &flipped));
    OPENSSL_free(der);
    cs_x509_crl *with_flipped[] = {root_crl, flipped};
    opts.crls = with_flipped;
    cst_fails(cs_x509_verify_chain(k->leaf, mids, 1, &k->root, 1, &opts, NULL),
              CONSORT_E_BAD_CERTIFICATE);
    assert_non_null(strstr(consort_errmsg(), "CRL signature failure"));
    cs_x509_crl_free(flipped);

    int64_t tu, nu;
    cst_ok(cs_x509_crl_validity(mid_crl, &tu, &nu));
    assert_int_equal(tu, T0 - DAY);
    assert_int_equal(nu, T0 + 29 * DAY);
    char issuer[128];
    cs_x509_crl_issuer(mid_crl, issuer, sizeof issuer);
    assert_string_equal(issuer, "CN=mid,O=consort");
    cs_x509_crl_free(forged);
    cs_x509_free(fake_mid);
    cs_key_free(forger);
    cs_x509_crl_free(root_crl);
    cs_x509_crl_free(mid_crl);
    cs_x509_crl_free(mid_crl_clean);
    cs_x509_crl_free(NULL);
}

static void extensions_by_oid(void **state)
{
    pki *k = *state;
    cs_slice v;
    cst_ok(cs_x509_extension(k->leaf, "2.5.29.17", &v));
    assert_true(v.len > 0 && v.ptr[0] == 0x30);
    cst_fails(cs_x509_extension(k->leaf, "1.3.6.1.4.1.3704.1.4", &v), CONSORT_E_NOT_FOUND);
    cst_fails(cs_x509_extension(k->root, "2.5.29.17", &v), CONSORT_E_NOT_FOUND);
    cst_fails(cs_x509_extension(k->leaf, "subjectAltName", &v), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_x509_extension(k->leaf, "1..2", &v), CONSORT_E_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(created_profile),
        cmocka_unit_test(created_keys_and_signatures),
        cmocka_unit_test(create_rejects_bad_parameters),
        cmocka_unit_test(chain_verifies),
        cmocka_unit_test(chain_needs_the_right_root),
        cmocka_unit_test(chain_checks_time),
        cmocka_unit_test(leaf_cannot_act_as_ca),
        cmocka_unit_test(crls_revoke_and_are_required),
        cmocka_unit_test(extensions_by_oid),
    };
    return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
