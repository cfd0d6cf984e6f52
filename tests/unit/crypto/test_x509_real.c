/*
 * Real chains from ../shared/testdata (see the PROVENANCE.md files there):
 * AMD SEV-SNP ARK -> ASK/ASVK -> VCEK/VLEK, all signed with RSASSA-PSS
 * SHA-384, and Intel SGX Root CA -> PCK Processor/Platform CA -> PCK with
 * the published CRLs.
 */
#include "testutil.h"

#include "crypto/x509.h"

#include <openssl/x509.h>
#include <string.h>

static int64_t at(const char *rfc3339)
{
    int64_t t = 0;
    cst_ok(cs_time_parse_rfc3339(rfc3339, &t));
    return t;
}

static cs_x509 *load(const char *rel)
{
    cs_x509 *c = NULL;
    cst_ok(cs_x509_load_file(cst_testdata_path(rel), &c));
    return c;
}

static cs_x509_crl *load_crl(const char *rel)
{
    cs_buf der;
    cst_read_testdata(rel, &der);
    cs_x509_crl *crl = NULL;
    cst_ok(cs_x509_crl_parse(cs_buf_slice(&der), &crl));
    cs_buf_cleanup(&der);
    return crl;
}

static consort_err verify3(const char *leaf_rel, const char *mid_rel, const char *root_rel,
                           int64_t now, size_t *path)
{
    cs_x509 *leaf = load(leaf_rel), *mid = load(mid_rel), *root = load(root_rel);
    cs_x509_verify_opts opts = {.now = now};
    consort_err rc = cs_x509_verify_chain(leaf, &mid, 1, &root, 1, &opts, path);
    cs_x509_free(leaf);
    cs_x509_free(mid);
    cs_x509_free(root);
    return rc;
}

static void amd_chains_verify_with_rsa_pss(void **state)
{
    (void)state;
    /* PROVENANCE.md: each VCEK passes `openssl verify` against its ARK/ASK */
    static const struct {
        const char *vcek, *ask, *ark, *when;
    } chains[] = {
        {"sev-snp/milan-v2-virtee/vcek.der", "ask_milan.pem", "ark_milan.pem",
         "2024-06-01T00:00:00Z"},
        {"sev-snp/milan-v2-gosevguest/vcek.der", "ask_milan.pem", "ark_milan.pem",
         "2024-06-01T00:00:00Z"},
        {"sev-snp/milan-v2-trustee/vcek.der", "ask_milan.pem", "ark_milan.pem",
         "2024-06-01T00:00:00Z"},
        {"sev-snp/genoa-v3-azure/vcek.pem", "ask_genoa.pem", "ark_genoa.pem",
         "2025-06-01T00:00:00Z"},
        {"sev-snp/turin-vcek-only/vcek.der", "ask_turin.pem", "ark_turin.pem",
         "2025-06-01T00:00:00Z"},
        /* the VLEK expired on 2025-12-10 */
        {"sev-snp/milan-v3-vlek-aws/vlek.der", "asvk_milan.pem", "ark_milan.pem",
         "2025-06-01T00:00:00Z"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(chains); i++) {
        char ask[64], ark[64];
        snprintf(ask, sizeof ask, "sev-snp/certs/%s", chains[i].ask);
        snprintf(ark, sizeof ark, "sev-snp/certs/%s", chains[i].ark);
        int64_t now = at(chains[i].when);
        size_t path = 0;
        cst_ok(verify3(chains[i].vcek, ask, ark, now, &path));
        assert_int_equal(path, 3);
        /* 20 years later the VCEK/VLEK has expired (the ARKs last until 2045+) */
        cst_fails(verify3(chains[i].vcek, ask, ark, now + 20LL * 365 * 86400, NULL),
                  CONSORT_E_EXPIRED);
        assert_non_null(strstr(consort_errmsg(), "certificate has expired"));
    }
    cst_fails(verify3("sev-snp/milan-v3-vlek-aws/vlek.der", "sev-snp/certs/asvk_milan.pem",
                      "sev-snp/certs/ark_milan.pem", at("2026-01-01T00:00:00Z"), NULL),
              CONSORT_E_EXPIRED);
    assert_non_null(strstr(consort_errmsg(), "CN=SEV-VLEK"));
    /* a Milan VCEK does not chain to Genoa's ARK, nor skip its ASK */
    cst_fails(verify3("sev-snp/milan-v2-virtee/vcek.der", "sev-snp/certs/ask_genoa.pem",
                      "sev-snp/certs/ark_genoa.pem", at("2024-06-01T00:00:00Z"), NULL),
              CONSORT_E_BAD_CERTIFICATE);
    cst_fails(verify3("sev-snp/milan-v2-virtee/vcek.der", "sev-snp/certs/ark_milan.pem",
                      "sev-snp/certs/ark_milan.pem", at("2024-06-01T00:00:00Z"), NULL),
              CONSORT_E_BAD_CERTIFICATE);
}

static void amd_certificate_details(void **state)
{
    (void)state;
    cs_x509 *ark = load("sev-snp/certs/ark_milan.pem");
    cs_x509 *vcek = load("sev-snp/milan-v2-virtee/vcek.der");
    assert_true(cs_x509_is_self_signed(ark));
    assert_true(cs_x509_is_ca(ark));
    assert_false(cs_x509_is_ca(vcek));
    assert_int_equal(X509_get_signature_nid(cs_x509_ossl(vcek)), NID_rsassaPss);
    uint8_t fp[32], want[32];
    cst_ok(cs_x509_fingerprint(ark, fp));
    cst_ok(cs_hex_decode("69D063B45344D26A2E94E1F4210DE49EF555308287D4C174445C95639A540BCD", want,
                         32));
    assert_memory_equal(fp, want, 32);
    char s[256];
    cs_x509_subject(vcek, s, sizeof s);
    assert_string_equal(s, "CN=SEV-VCEK,O=Advanced Micro Devices,ST=CA,L=Santa Clara,C=US,"
                           "OU=Engineering");
    int64_t nb, na;
    cst_ok(cs_x509_validity(vcek, &nb, &na));
    assert_int_equal(nb, at("2023-04-03T19:23:43Z"));
    assert_int_equal(na, at("2030-04-03T19:23:43Z"));
    cs_key *key = NULL;
    cst_ok(cs_x509_public_key(vcek, &key));
    assert_int_equal(cs_key_curve(key), CS_CURVE_P384);
    cs_key_free(key);
    cst_ok(cs_x509_public_key(ark, &key));
    assert_string_equal(cs_key_type_name(key), "RSA");
    cst_ok(cs_x509_verify_signature(ark, key));
    cst_fails(cs_x509_verify_signature(vcek, key), CONSORT_E_BAD_SIGNATURE); /* ASK signed it */
    cs_key_free(key);

    /* the Turin VCEK's hwID extension: 8 raw bytes (PROVENANCE.md) */
    cs_x509 *turin = load("sev-snp/turin-vcek-only/vcek.der");
    cs_slice hwid;
    cst_ok(cs_x509_extension(turin, "1.3.6.1.4.1.3704.1.4", &hwid));
    assert_int_equal(hwid.len, 8);
    assert_memory_equal(hwid.ptr, "\x1e\x55\x0a\x8e\xe5\xcf\x9f\x4d", 8);
    cst_ok(cs_x509_extension(turin, "1.3.6.1.4.1.3704.1.3.9", &hwid)); /* FMC SPL */
    cst_fails(cs_x509_extension(vcek, "1.3.6.1.4.1.3704.1.3.9", &hwid), CONSORT_E_NOT_FOUND);
    cs_x509_free(turin);

    /* a KDS cert_chain bundle: ASK then ARK */
    cs_buf bundle;
    cst_read_testdata("sev-snp/certs/ask_ark_milan.pem", &bundle);
    cs_x509 **list = NULL;
    size_t count = 0;
    cst_ok(cs_x509_parse_all(cs_buf_slice(&bundle), &list, &count));
    assert_int_equal(count, 2);
    cst_ok(cs_x509_fingerprint(list[1], fp));
    assert_memory_equal(fp, want, 32);
    cs_x509_list_free(list, count);
    cs_buf_cleanup(&bundle);

    /* one flipped bit in the VCEK's signature */
    cs_buf der;
    cst_read_testdata("sev-snp/milan-v2-virtee/vcek.der", &der);
    der.ptr[der.len - 1] ^= 0x01;
    cs_x509 *bad = NULL;
    cst_ok(cs_x509_from_der(cs_buf_slice(&der), &bad));
    cs_x509 *ask = load("sev-snp/certs/ask_milan.pem");
    cs_x509_verify_opts opts = {.now = at("2024-06-01T00:00:00Z")};
    cst_fails(cs_x509_verify_chain(bad, &ask, 1, &ark, 1, &opts, NULL), CONSORT_E_BAD_CERTIFICATE);
    assert_non_null(strstr(consort_errmsg(), "signature failure"));
    cs_x509_free(ask);
    cs_x509_free(bad);
    cs_buf_cleanup(&der);
    cs_x509_free(vcek);
    cs_x509_free(ark);
}

typedef struct sgx {
    cs_x509 **pck; /* leaf, Processor CA, Root (from the quote) */
    size_t n;
    cs_x509 *root;
    cs_x509_crl *pck_crl, *root_crl;
} sgx;

static void sgx_load(sgx *s)
{
    cs_buf pem;
    cst_read_testdata("sgx-dcap/phala-dcap-qvl/derived_pck_chain_from_quote.pem", &pem);
    s->pck = NULL;
    s->n = 0;
    cst_ok(cs_x509_parse_all(cs_buf_slice(&pem), &s->pck, &s->n));
    assert_int_equal(s->n, 3);
    cs_buf_cleanup(&pem);
    s->root = load("sgx-dcap/common/intel_sgx_root_ca.der");
    s->pck_crl = load_crl("sgx-dcap/phala-dcap-qvl/derived_pck_crl.der");
    s->root_crl = load_crl("sgx-dcap/phala-dcap-qvl/derived_root_ca_crl.der");
}

static void sgx_free(sgx *s)
{
    cs_x509_list_free(s->pck, s->n);
    cs_x509_free(s->root);
    cs_x509_crl_free(s->pck_crl);
    cs_x509_crl_free(s->root_crl);
}

static void sgx_chain_with_crls(void **state)
{
    (void)state;
    sgx s;
    sgx_load(&s);
    uint8_t fp[32], want[32], in_quote[32];
    cst_ok(cs_x509_fingerprint(s.root, fp));
    cst_ok(cs_hex_decode("44A0196B2B99F889B8E149E95B807A350E7424964399E885A7CBB8CCFAB674D3", want,
                         32));
    assert_memory_equal(fp, want, 32);
    cst_ok(cs_x509_fingerprint(s.pck[2], in_quote));
    assert_memory_equal(in_quote, want, 32);

    /* PROVENANCE.md: the collateral is fresh from 2025-06-19 to 2025-07-19 */
    int64_t now = at("2025-06-20T00:00:00Z");
    cs_x509_crl *both[] = {s.pck_crl, s.root_crl};
    cs_x509_verify_opts opts = {.now = now, .require_crls = true, .crls = both, .crl_count = 2};
    size_t path = 0;
    cst_ok(cs_x509_verify_chain(s.pck[0], &s.pck[1], 1, &s.root, 1, &opts, &path));
    assert_int_equal(path, 3);

    /* each CRL is needed */
    cs_x509_crl *root_only[] = {s.root_crl};
    opts.crls = root_only;
    opts.crl_count = 1;
    cst_fails(cs_x509_verify_chain(s.pck[0], &s.pck[1], 1, &s.root, 1, &opts, NULL),
              CONSORT_E_COLLATERAL_MISSING);
    assert_non_null(strstr(consort_errmsg(), "CN=Intel SGX PCK Certificate"));
    cs_x509_crl *pck_only[] = {s.pck_crl};
    opts.crls = pck_only;
    cst_fails(cs_x509_verify_chain(s.pck[0], &s.pck[1], 1, &s.root, 1, &opts, NULL),
              CONSORT_E_COLLATERAL_MISSING);
    assert_non_null(strstr(consort_errmsg(), "CN=Intel SGX PCK Processor CA"));

    /* after the PCK CRL's nextUpdate */
    opts = (cs_x509_verify_opts){
        .now = at("2025-08-01T00:00:00Z"), .require_crls = true, .crls = both, .crl_count = 2};
    cst_fails(cs_x509_verify_chain(s.pck[0], &s.pck[1], 1, &s.root, 1, &opts, NULL),
              CONSORT_E_EXPIRED);
    assert_non_null(strstr(
        consort_errmsg(),
        "CRL of 'C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=Intel SGX PCK Processor CA'"));
    assert_non_null(strstr(consort_errmsg(), "CRL has expired"));

    int64_t tu, nu;
    cst_ok(cs_x509_crl_validity(s.pck_crl, &tu, &nu));
    assert_int_equal(tu, at("2025-06-19T10:23:18Z"));
    assert_int_equal(nu, at("2025-07-19T10:23:18Z"));
    sgx_free(&s);
}

static void sgx_other_chains(void **state)
{
    (void)state;
    sgx s;
    sgx_load(&s);
    int64_t now = at("2025-06-20T00:00:00Z");
    cs_x509_crl *root_only[] = {s.root_crl};

    /* TCB Info signing cert: issued by the root, covered by the root CRL */
    cs_buf pem;
    cst_read_testdata("sgx-dcap/phala-dcap-qvl/derived_tcb_info_issuer_chain.pem", &pem);
    cs_x509 **tcb = NULL;
    size_t n = 0;
    cst_ok(cs_x509_parse_all(cs_buf_slice(&pem), &tcb, &n));
    assert_int_equal(n, 2);
    cs_x509_verify_opts opts = {
        .now = now, .require_crls = true, .crls = root_only, .crl_count = 1};
    size_t path = 0;
    cst_ok(cs_x509_verify_chain(tcb[0], NULL, 0, &s.root, 1, &opts, &path));
    assert_int_equal(path, 2);
    cs_x509_list_free(tcb, n);
    cs_buf_cleanup(&pem);

    /* Occlum's PCK under the Platform CA: chains, but has no CRL here */
    cst_read_testdata("sgx-dcap/trustee-occlum/derived_pck_chain_from_quote.pem", &pem);
    cs_x509 **occ = NULL;
    n = 0;
    cst_ok(cs_x509_parse_all(cs_buf_slice(&pem), &occ, &n));
    assert_int_equal(n, 3);
    opts = (cs_x509_verify_opts){.now = now};
    cst_ok(cs_x509_verify_chain(occ[0], &occ[1], 1, &s.root, 1, &opts, &path));
    assert_int_equal(path, 3);
    cs_x509_crl *both[] = {s.pck_crl, s.root_crl};
    opts = (cs_x509_verify_opts){.now = now, .require_crls = true, .crls = both, .crl_count = 2};
    cst_fails(cs_x509_verify_chain(occ[0], &occ[1], 1, &s.root, 1, &opts, NULL),
              CONSORT_E_COLLATERAL_MISSING);
    /* the Processor CA cannot stand in for the Platform CA */
    opts = (cs_x509_verify_opts){.now = now};
    cst_fails(cs_x509_verify_chain(occ[0], &s.pck[1], 1, &s.root, 1, &opts, NULL),
              CONSORT_E_BAD_CERTIFICATE);
    /* nor is an AMD root a trust anchor for it */
    cs_x509 *ark = load("sev-snp/certs/ark_milan.pem");
    cst_fails(cs_x509_verify_chain(occ[0], &occ[1], 1, &ark, 1, &opts, NULL),
              CONSORT_E_BAD_CERTIFICATE);
    cs_x509_free(ark);
    cs_x509_list_free(occ, n);
    cs_buf_cleanup(&pem);
    sgx_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(amd_chains_verify_with_rsa_pss),
        cmocka_unit_test(amd_certificate_details),
        cmocka_unit_test(sgx_chain_with_crls),
        cmocka_unit_test(sgx_other_chains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
