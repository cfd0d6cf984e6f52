/*
 * DCAP collateral: recognition by content, the signed-span extraction, the
 * TCB info / QE identity parsers and their negative cases, QE identity
 * matching, TCB level matching and status combination, and the PCK
 * certificate's SGX extension parser.
 */
#include "dcap_test.h"

#include "attest/dcap_json.h"
#include "attest/dcap_tcb.h"
#include "crypto/asn1_sgx.h"

#define SGX_TCB DT_PHALA_SGX "derived_tcb_info.json"
#define SGX_QE  DT_PHALA_SGX "derived_qe_identity.json"
#define TDX_TCB DT_PHALA_TDX "derived_tcb_info.json"
#define NOW     "2025-06-20T00:00:00Z"

/* A copy of `in` with the first `from` replaced by `to`. */
static void replaced(const cs_buf *in, const char *from, const char *to, cs_buf *out)
{
    size_t at = dt_find(in, from);
    cs_buf_init(out, 0);
    cst_ok(cs_buf_append(out, in->ptr, at));
    cst_ok(cs_buf_append(out, to, strlen(to)));
    cst_ok(cs_buf_append(out, in->ptr + at + strlen(from), in->len - at - strlen(from)));
}

/* The signed body of a PCS response file. */
static void body_of(const char *rel, const char *member, cs_buf *doc, cs_slice *body)
{
    uint8_t sig[64];
    cs_buf_init(doc, 0);
    cst_read_testdata(rel, doc);
    cst_ok(cs_dcap_signed_json_split(cs_buf_slice(doc), member, body, sig));
}

static void base64(cs_slice in, cs_buf *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < in.len; i += 3) {
        uint32_t v = (uint32_t)in.ptr[i] << 16;
        if (i + 1 < in.len)
            v |= (uint32_t)in.ptr[i + 1] << 8;
        if (i + 2 < in.len)
            v |= in.ptr[i + 2];
        char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], tab[v >> 6 & 63], tab[v & 63]};
        if (i + 1 >= in.len)
            q[2] = '=';
        if (i + 2 >= in.len)
            q[3] = '=';
        cst_ok(cs_buf_append(out, q, 4));
        if ((i / 3 + 1) % 16 == 0)
            cst_ok(cs_buf_append_u8(out, '\n'));
    }
}

static void phala_collateral_is_recognised(void **state)
{
    (void)state;
    cs_blob_list l;
    cs_blob_list_init(&l);
    dt_add_files(&l, dt_phala_tdx_collateral, NULL);
    cs_dcap_collateral c;
    cs_dcap_collateral_init(&c);
    cst_ok(cs_dcap_collateral_load(&c, &l));
    assert_int_equal(c.tcb_info_count, 1);
    assert_int_equal(c.qe_id_count, 1);
    assert_int_equal(c.crl_count, 2);
    assert_int_equal(c.cert_count, 4); /* two PEM chains of two */
    const cs_dcap_tcb_info *t = &c.tcb_infos[0];
    assert_true(t->tdx);
    assert_int_equal(t->version, 3);
    assert_int_equal(t->eval_number, 17);
    assert_int_equal(t->source, 0);
    assert_string_equal(t->next_update_text, "2025-07-19T10:16:03Z");
    assert_int_equal(t->next_update, dt_time("2025-07-19T10:16:03Z"));
    assert_true(t->module_id_count >= 1);
    assert_string_equal(c.qe_ids[0].id, "TD_QE");
    assert_int_equal(c.qe_ids[0].isvprodid, 2);
    cs_dcap_collateral_cleanup(&c);
    cs_blob_list_cleanup(&l);
}

static void crls_and_chains_in_other_encodings_are_recognised(void **state)
{
    (void)state;
    cs_buf der, pem, chain, url;
    cs_buf_init(&der, 0);
    cs_buf_init(&pem, 0);
    cs_buf_init(&chain, 0);
    cs_buf_init(&url, 0);
    cst_read_testdata(DT_PHALA_TDX "derived_pck_crl.der", &der);
    cst_ok(cs_buf_printf(&pem, "-----BEGIN X509 CRL-----\n"));
    base64(cs_buf_slice(&der), &pem);
    cst_ok(cs_buf_printf(&pem, "\n-----END X509 CRL-----\n"));
    /* a PCS issuer-chain header value: URL-encoded PEM */
    cst_read_testdata(DT_PHALA_TDX "derived_tcb_info_issuer_chain.pem", &chain);
    for (size_t i = 0; i < chain.len; i++) {
        uint8_t ch = chain.ptr[i];
        if (ch == ' ' || ch == '\n' || ch == '+' || ch == '/' || ch == '=')
            cst_ok(cs_buf_printf(&url, "%%%02X", ch));
        else
            cst_ok(cs_buf_append_u8(&url, ch));
    }
    cs_blob_list l;
    cs_blob_list_init(&l);
    cst_ok(cs_blob_list_add(&l, cs_buf_slice(&pem)));
    cst_ok(cs_blob_list_add(&l, cs_buf_slice(&url)));
    cs_dcap_collateral c;
    cs_dcap_collateral_init(&c);
    cst_ok(cs_dcap_collateral_load(&c, &l));
    assert_int_equal(c.crl_count, 1);
    assert_int_equal(c.cert_count, 2);
    char issuer[256];
    cs_x509_crl_issuer(c.crls[0], issuer, sizeof issuer);
    assert_non_null(strstr(issuer, "Intel SGX PCK Platform CA"));
    cs_dcap_collateral_cleanup(&c);
    cs_blob_list_cleanup(&l);
    cs_buf_cleanup(&der);
    cs_buf_cleanup(&pem);
    cs_buf_cleanup(&chain);
    cs_buf_cleanup(&url);
}

/* Loads `text` as the only endorsement. */
static consort_err load_one(const char *text, size_t len)
{
    cs_blob_list l;
    cs_blob_list_init(&l);
    cst_ok(cs_blob_list_add(&l, CS_SLICE(text, len)));
    cs_dcap_collateral c;
    cs_dcap_collateral_init(&c);
    consort_err rc = cs_dcap_collateral_load(&c, &l);
    cs_dcap_collateral_cleanup(&c);
    cs_blob_list_cleanup(&l);
    return rc;
}

static void unrecognised_blobs_are_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "hello",
        "   ",
        "{\"neither\": {}}",
        "{\"tcbInfo\": {}, \"enclaveIdentity\": {}, \"signature\": \"00\"}",
        "{\"tcbInfo\": 5, \"signature\": \"00\"}",
        "[1, 2]",
        "\x30\x03\x02\x01\x01",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN%20CERTIFICATE-----%ZZ",
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        consort_err rc = load_one(bad[i], strlen(bad[i]));
        if (rc != CONSORT_E_MALFORMED && rc != CONSORT_E_TRUNCATED)
            fail_msg("blob %zu: %s (%s)", i, consort_err_name(rc), consort_errmsg());
        dt_assert_msg("endorsement #0");
    }
}

/* The span is the member's value exactly as written, wherever it sits. */
static void signed_span_is_exact(void **state)
{
    (void)state;
    const char doc[] =
        " { \"signature\" : \"x\\\"}\" ,\n \"tcbInfo\"\t:  {\"a\":\"}{\\\"\",\"b\":[1,{}]}  }";
    cs_slice span;
    cst_ok(cs_dcap_json_member_span(CS_SLICE_LIT(doc), "tcbInfo", &span));
    const char want[] = "{\"a\":\"}{\\\"\",\"b\":[1,{}]}";
    assert_int_equal(span.len, strlen(want));
    assert_memory_equal(span.ptr, want, span.len);
    cst_fails(cs_dcap_json_member_span(CS_SLICE_LIT(doc), "tcb", &span), CONSORT_E_MALFORMED);
    /* a nested "tcbInfo" is not the top-level one */
    const char nested[] = "{\"x\":{\"tcbInfo\":{}},\"tcbInfo\":[]}";
    cst_ok(cs_dcap_json_member_span(CS_SLICE_LIT(nested), "tcbInfo", &span));
    assert_int_equal(span.len, 2);
}

static void signed_json_layout_rules(void **state)
{
    (void)state;
    cs_buf doc, changed;
    cs_slice body;
    uint8_t sig[64];
    body_of(SGX_TCB, "tcbInfo", &doc, &body);
    /* a second "tcbInfo" beside the signed one is refused */
    replaced(&doc, "{\"tcbInfo\":", "{\"tcbInfo\":{},\"tcbInfo\":", &changed);
    cst_fails(cs_dcap_signed_json_split(cs_buf_slice(&changed), "tcbInfo", &body, sig),
              CONSORT_E_MALFORMED);
    cs_buf_cleanup(&changed);
    /* so is an unsigned extra member */
    replaced(&doc, "{\"tcbInfo\":", "{\"note\":1,\"tcbInfo\":", &changed);
    cst_fails(cs_dcap_signed_json_split(cs_buf_slice(&changed), "tcbInfo", &body, sig),
              CONSORT_E_MALFORMED);
    cs_buf_cleanup(&changed);
    /* a short signature */
    replaced(&doc, "\"signature\":\"", "\"signature\":\"00", &changed);
    cst_fails(cs_dcap_signed_json_split(cs_buf_slice(&changed), "tcbInfo", &body, sig),
              CONSORT_E_MALFORMED);
    cs_buf_cleanup(&changed);
    /* every proper prefix of the document is rejected */
    for (size_t len = 0; len < doc.len; len++) {
        consort_err rc = load_one((const char *)doc.ptr, len);
        if (rc == CONSORT_OK)
            fail_msg("prefix of %zu bytes accepted", len);
    }
    cs_buf_cleanup(&doc);
}

/* Whitespace outside the signed body is harmless; inside it breaks the signature. */
static void only_the_raw_body_is_signed(void **state)
{
    (void)state;
    cs_buf doc, relaid, spaced;
    cs_slice body;
    uint8_t sig[64];
    char sig_hex[129];
    body_of(SGX_TCB, "tcbInfo", &doc, &body);
    cst_ok(cs_dcap_signed_json_split(cs_buf_slice(&doc), "tcbInfo", &body, sig));
    cs_hex_encode(CS_SLICE(sig, 64), sig_hex);
    cs_buf_init(&relaid, 0);
    cst_ok(cs_buf_printf(&relaid, "{\n  \"signature\" : \"%s\",\n  \"tcbInfo\" : ", sig_hex));
    cst_ok(cs_buf_append_slice(&relaid, body));
    cst_ok(cs_buf_printf(&relaid, "\n}\n"));
    replaced(&doc, "\"version\":3,", "\"version\": 3,", &spaced);

    for (int round = 0; round < 2; round++) {
        cs_evidence ev;
        cs_claims claims;
        dt_evidence(&ev, CS_PLATFORM_SGX, DT_PHALA_SGX "sgx_quote_v3.dat", dt_phala_sgx_collateral,
                    "derived_tcb_info.json");
        cst_ok(cs_blob_list_add(&ev.endorsements, cs_buf_slice(round == 0 ? &relaid : &spaced)));
        if (round == 0) {
            cst_ok(dt_verify(&ev, NOW, &claims));
        } else {
            cst_fails(dt_verify(&ev, NOW, &claims), CONSORT_E_BAD_SIGNATURE);
            dt_assert_msg("TCB info");
        }
        cs_evidence_cleanup(&ev);
    }
    cs_buf_cleanup(&spaced);
    cs_buf_cleanup(&relaid);
    cs_buf_cleanup(&doc);
}

/* Parses `body` with one substitution and expects `code`. */
static void tcb_info_expect(const cs_buf *body, const char *from, const char *to, consort_err code)
{
    cs_buf changed;
    replaced(body, from, to, &changed);
    cs_dcap_tcb_info t;
    consort_err rc = cs_dcap_tcb_info_parse(cs_buf_slice(&changed), &t);
    if (rc != code)
        fail_msg("'%s' -> '%s': %s (%s), expected %s", from, to, consort_err_name(rc),
                 consort_errmsg(), consort_err_name(code));
    if (rc == CONSORT_OK)
        cs_dcap_tcb_info_cleanup(&t);
    cs_buf_cleanup(&changed);
}

static void tcb_info_parser_rejects_bad_fields(void **state)
{
    (void)state;
    cs_buf doc, body;
    cs_slice s;
    body_of(TDX_TCB, "tcbInfo", &doc, &s);
    cs_buf_init(&body, 0);
    cst_ok(cs_buf_append_slice(&body, s));
    tcb_info_expect(&body, "\"version\":3", "\"version\":4", CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"version\":3", "\"version\":\"3\"", CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"id\":\"TDX\"", "\"id\":\"SEV\"", CONSORT_E_UNSUPPORTED);
    tcb_info_expect(&body, "\"tcbType\":0", "\"tcbType\":1", CONSORT_E_UNSUPPORTED);
    tcb_info_expect(&body, "\"fmspc\":\"B0C06F000000\"", "\"fmspc\":\"B0C06F0000\"",
                    CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"pceId\":\"0000\"", "\"pceId\":\"00g0\"", CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"issueDate\":\"2025", "\"issueDate\":\"x2025", CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "{\"svn\":", "{\"svn\":256,\"was\":", CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "{\"svn\":", "{\"svn\":-1,\"was\":", CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"sgxtcbcomponents\":[", "\"sgxtcbcomponents\":[{\"svn\":1},",
                    CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"tcbStatus\":\"UpToDate\"", "\"tcbStatus\":\"Fine\"",
                    CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"tcbStatus\":\"UpToDate\"", "\"tcbStatus\":\"TDRelaunchAdvised\"",
                    CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"tdxModule\":", "\"tdxModuleX\":", CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"tcbLevels\":[{\"tcb\":{\"sgx",
                    "\"tcbLevels\":[],\"x\":[{\"tcb\":{\"sgx", CONSORT_E_MALFORMED);
    tcb_info_expect(&body, "\"tcbLevels\":[{\"tcb\":{\"sgx", "\"tcbLevels\":[{\"tcb\":{\"sgx",
                    CONSORT_OK);
    /* every proper prefix of the body */
    for (size_t len = 0; len < body.len; len++) {
        cs_dcap_tcb_info t;
        if (cs_dcap_tcb_info_parse(CS_SLICE(body.ptr, len), &t) == CONSORT_OK)
            fail_msg("TCB info prefix of %zu bytes parsed", len);
    }
    cs_buf_cleanup(&body);
    cs_buf_cleanup(&doc);
}

static void tcb_info_v2_layout_is_accepted(void **state)
{
    (void)state;
    cs_buf json;
    cs_buf_init(&json, 0);
    cst_ok(cs_buf_printf(&json,
                         "{\"version\":2,\"issueDate\":\"2020-05-18T17:49:24Z\","
                         "\"nextUpdate\":\"2020-06-17T17:49:24Z\",\"fmspc\":\"00906ea10000\","
                         "\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":8,"
                         "\"tcbLevels\":[{\"tcb\":{"));
    for (int i = 1; i <= 16; i++)
        cst_ok(cs_buf_printf(&json, "\"sgxtcbcomp%02dsvn\":%d,", i, i));
    cst_ok(cs_buf_printf(&json, "\"pcesvn\":10},\"tcbDate\":\"2019-12-11T00:00:00Z\","
                                "\"tcbStatus\":\"SWHardeningNeeded\"}]}"));
    cs_dcap_tcb_info t;
    cst_ok(cs_dcap_tcb_info_parse(cs_buf_slice(&json), &t));
    assert_int_equal(t.version, 2);
    assert_false(t.tdx);
    assert_int_equal(t.level_count, 1);
    assert_int_equal(t.levels[0].sgx_comp[0], 1);
    assert_int_equal(t.levels[0].sgx_comp[15], 16);
    assert_int_equal(t.levels[0].pcesvn, 10);
    assert_int_equal(t.levels[0].status, CS_DCAP_SW_HARDENING_NEEDED);
    cs_dcap_tcb_info_cleanup(&t);
    cs_buf_cleanup(&json);
}

static void qe_identity_parse_and_match(void **state)
{
    (void)state;
    cs_buf doc, body;
    cs_slice s;
    body_of(SGX_QE, "enclaveIdentity", &doc, &s);
    cs_buf_init(&body, 0);
    cst_ok(cs_buf_append_slice(&body, s));
    cs_dcap_qe_identity id;
    cst_ok(cs_dcap_qe_identity_parse(cs_buf_slice(&body), &id));
    assert_string_equal(id.id, "QE");
    assert_int_equal(id.level_count, 6);

    /* the QE report of the Phala SGX quote */
    cs_buf quote;
    cs_buf_init(&quote, 0);
    cst_read_testdata(DT_PHALA_SGX "sgx_quote_v3.dat", &quote);
    cs_dcap_quote q;
    cst_ok(cs_dcap_quote_parse(cs_buf_slice(&quote), &q));
    const cs_dcap_svn_level *level = NULL;
    cst_ok(cs_dcap_qe_identity_match(&id, &q.qe, &level));
    assert_int_equal(level->isvsvn, 8); /* QE ISVSVN 10 -> level 8, UpToDate */
    assert_int_equal(level->status, CS_DCAP_UP_TO_DATE);

    cs_sgx_report qe = q.qe;
    qe.isvsvn = 6;
    cst_ok(cs_dcap_qe_identity_match(&id, &qe, &level));
    assert_int_equal(level->status, CS_DCAP_OUT_OF_DATE);
    assert_string_equal(level->adv.id[0], "INTEL-SA-00615");
    qe.isvsvn = 7; /* between levels 6 and 8 */
    cst_ok(cs_dcap_qe_identity_match(&id, &qe, &level));
    assert_int_equal(level->isvsvn, 6);
    qe.isvsvn = 0;
    cst_fails(cs_dcap_qe_identity_match(&id, &qe, &level), CONSORT_E_TCB);
    qe = q.qe;
    qe.mrsigner[3] ^= 1;
    cst_fails(cs_dcap_qe_identity_match(&id, &qe, &level), CONSORT_E_ATTESTATION);
    dt_assert_msg("MRSIGNER");
    qe = q.qe;
    qe.isvprodid = 2;
    cst_fails(cs_dcap_qe_identity_match(&id, &qe, &level), CONSORT_E_ATTESTATION);
    dt_assert_msg("ISVPRODID");
    qe = q.qe;
    qe.attributes[0] ^= 0x02; /* DEBUG: inside the mask FB */
    cst_fails(cs_dcap_qe_identity_match(&id, &qe, &level), CONSORT_E_ATTESTATION);
    dt_assert_msg("ATTRIBUTES");
    qe = q.qe;
    qe.attributes[0] ^= 0x04; /* outside the mask FB */
    cst_ok(cs_dcap_qe_identity_match(&id, &qe, &level));
    qe.attributes[12] ^= 0xff; /* mask 00 there */
    cst_ok(cs_dcap_qe_identity_match(&id, &qe, &level));
    qe = q.qe;
    qe.miscselect[2] ^= 0x10;
    cst_fails(cs_dcap_qe_identity_match(&id, &qe, &level), CONSORT_E_ATTESTATION);
    dt_assert_msg("MISCSELECT");
    cs_dcap_qe_identity_cleanup(&id);

    /* parser negatives */
    const char *const subs[][2] = {
        {"\"version\":2", "\"version\":1"},
        {"\"mrsigner\":\"8C4F", "\"mrsigner\":\"8C4"},
        {"\"isvprodid\":1", "\"isvprodid\":65536"},
        {"\"miscselect\":\"00000000\"", "\"miscselect\":0"},
        {"{\"tcb\":{\"isvsvn\":8}", "{\"tcb\":{\"isvsvn\":true}"},
        {"\"tcbLevels\":[", "\"tcbLevels\":5,\"x\":["},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(subs); i++) {
        cs_buf changed;
        replaced(&body, subs[i][0], subs[i][1], &changed);
        cst_fails_any(cs_dcap_qe_identity_parse(cs_buf_slice(&changed), &id));
        cs_buf_cleanup(&changed);
    }
    cs_buf_cleanup(&quote);
    cs_buf_cleanup(&body);
    cs_buf_cleanup(&doc);
}

/* The Phala SGX PCK certificate's SGX extension and TCB levels around it. */
static void tcb_levels_match_as_intel_does(void **state)
{
    (void)state;
    cs_buf doc;
    cs_slice s;
    body_of(SGX_TCB, "tcbInfo", &doc, &s);
    cs_dcap_tcb_info t;
    cst_ok(cs_dcap_tcb_info_parse(s, &t));
    cs_dcap_svn_level qe = {.isvsvn = 8, .status = CS_DCAP_UP_TO_DATE};
    /* PROVENANCE: comps [11,11,2,2,255,1,0...], PCESVN 13 */
    cs_sgx_pck_ext pck = {.tcb_comp = {11, 11, 2, 2, 255, 1}, .pcesvn = 13};
    cs_dcap_tcb_eval e;
    cst_ok(cs_dcap_tcb_evaluate(&t, &pck, NULL, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    assert_int_equal(e.adv.count, 2);
    /* component 7 at 12 reaches the first level */
    pck.tcb_comp[6] = 12;
    cst_ok(cs_dcap_tcb_evaluate(&t, &pck, NULL, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_SW_HARDENING_NEEDED);
    /* one component lower: a level two steps down */
    pck.tcb_comp[6] = 0;
    pck.tcb_comp[0] = 10;
    cst_ok(cs_dcap_tcb_evaluate(&t, &pck, NULL, &qe, &e));
    assert_int_equal(e.status, CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED);
    /* an out-of-date QE turns ConfigurationAndSWHardeningNeeded into
     * OutOfDateConfigurationNeeded and adds its advisories */
    pck.tcb_comp[0] = 11;
    cs_dcap_svn_level old_qe = {.isvsvn = 4,
                               .status = CS_DCAP_OUT_OF_DATE,
                               .adv = {.id = {"INTEL-SA-00334", "INTEL-SA-00615"}, .count = 2}};
    cst_ok(cs_dcap_tcb_evaluate(&t, &pck, NULL, &old_qe, &e));
    assert_int_equal(e.status, CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED);
    assert_int_equal(e.platform, CS_DCAP_CONFIGURATION_AND_SW_HARDENING_NEEDED);
    assert_int_equal(e.adv.count, 3);
    assert_string_equal(e.adv.id[2], "INTEL-SA-00334");
    /* below every level */
    pck.pcesvn = 0;
    cst_fails(cs_dcap_tcb_evaluate(&t, &pck, NULL, &qe, &e), CONSORT_E_TCB);
    cs_dcap_tcb_info_cleanup(&t);
    cs_buf_cleanup(&doc);
}

static void statuses_converge_like_the_qvl(void **state)
{
    (void)state;
    const struct {
        cs_dcap_status platform, part, want;
    } rows[] = {
        {CS_DCAP_UP_TO_DATE, CS_DCAP_UP_TO_DATE, CS_DCAP_UP_TO_DATE},
        {CS_DCAP_UP_TO_DATE, CS_DCAP_OUT_OF_DATE, CS_DCAP_OUT_OF_DATE},
        {CS_DCAP_SW_HARDENING_NEEDED, CS_DCAP_OUT_OF_DATE, CS_DCAP_OUT_OF_DATE},
        {CS_DCAP_CONFIGURATION_NEEDED, CS_DCAP_OUT_OF_DATE,
         CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED},
        {CS_DCAP_CONFIGURATION_AND_SW_HARDENING_NEEDED, CS_DCAP_OUT_OF_DATE,
         CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED},
        {CS_DCAP_OUT_OF_DATE, CS_DCAP_OUT_OF_DATE, CS_DCAP_OUT_OF_DATE},
        {CS_DCAP_CONFIGURATION_NEEDED, CS_DCAP_UP_TO_DATE, CS_DCAP_CONFIGURATION_NEEDED},
        {CS_DCAP_UP_TO_DATE, CS_DCAP_REVOKED, CS_DCAP_REVOKED},
        {CS_DCAP_REVOKED, CS_DCAP_UP_TO_DATE, CS_DCAP_REVOKED},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(rows); i++)
        assert_int_equal(cs_dcap_status_converge(rows[i].platform, rows[i].part), rows[i].want);
    cs_dcap_status st;
    cst_ok(cs_dcap_status_parse("OutOfDateConfigurationNeeded", &st));
    assert_int_equal(st, CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED);
    assert_string_equal(cs_dcap_status_name(CS_DCAP_REVOKED), "Revoked");
    cst_fails(cs_dcap_status_parse("uptodate", &st), CONSORT_E_MALFORMED);
}

/* The SGX extension of the Phala TDX PCK certificate. */
static void pck_sgx_extension_parses_and_rejects_damage(void **state)
{
    (void)state;
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_read_testdata(DT_PHALA_TDX "derived_pck_chain_from_quote.pem", &pem);
    cs_x509 *leaf = NULL;
    cst_ok(cs_x509_from_pem(cs_buf_slice(&pem), &leaf));
    cs_slice ext;
    cst_ok(cs_x509_extension(leaf, CS_SGX_EXT_OID, &ext));
    cs_sgx_pck_ext p;
    cst_ok(cs_asn1_sgx_parse(ext, &p));
    const uint8_t comps[16] = {3, 3, 2, 2, 4, 1, 0, 5};
    assert_memory_equal(p.tcb_comp, comps, 16);
    assert_int_equal(p.pcesvn, 11);
    const uint8_t cpusvn[16] = {3, 3, 2, 2, 4, 1, 0, 5};
    assert_memory_equal(p.cpusvn, cpusvn, 16);
    const uint8_t fmspc[6] = {0xb0, 0xc0, 0x6f, 0, 0, 0};
    assert_memory_equal(p.fmspc, fmspc, 6);
    assert_int_equal(p.pceid[0] | p.pceid[1], 0);
    assert_int_equal(p.sgx_type, 1); /* Scalable */

    cs_buf d;
    cs_buf_init(&d, 0);
    cst_ok(cs_buf_append_slice(&d, ext));
    for (size_t len = 0; len < d.len; len++)
        cst_fails(cs_asn1_sgx_parse(CS_SLICE(d.ptr, len), &p), CONSORT_E_MALFORMED);
    cst_ok(cs_buf_append_u8(&d, 0));
    cst_fails(cs_asn1_sgx_parse(cs_buf_slice(&d), &p), CONSORT_E_MALFORMED);
    d.len--;
    /* FMSPC's OID arc .4 -> .9: FMSPC is then missing */
    static const uint8_t fmspc_oid[] = {0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86,
                                        0xf8, 0x4d, 0x01, 0x0d, 0x01, 0x04};
    size_t at = SIZE_MAX;
    for (size_t i = 0; i + sizeof fmspc_oid <= d.len && at == SIZE_MAX; i++)
        if (memcmp(d.ptr + i, fmspc_oid, sizeof fmspc_oid) == 0)
            at = i;
    assert_true(at != SIZE_MAX);
    d.ptr[at + sizeof fmspc_oid - 1] = 0x09;
    cst_fails(cs_asn1_sgx_parse(cs_buf_slice(&d), &p), CONSORT_E_MALFORMED);
    dt_assert_msg("required entries missing");
    /* ... or .4 -> .3: PCE-ID twice */
    d.ptr[at + sizeof fmspc_oid - 1] = 0x03;
    cst_fails(cs_asn1_sgx_parse(cs_buf_slice(&d), &p), CONSORT_E_MALFORMED);
    /* FMSPC OCTET STRING of the wrong type */
    d.ptr[at + sizeof fmspc_oid - 1] = 0x04;
    assert_int_equal(d.ptr[at + sizeof fmspc_oid], 0x04);
    d.ptr[at + sizeof fmspc_oid] = 0x0c; /* UTF8String */
    cst_fails(cs_asn1_sgx_parse(cs_buf_slice(&d), &p), CONSORT_E_MALFORMED);
    dt_assert_msg("FMSPC");
    cs_buf_cleanup(&d);
    cs_x509_free(leaf);
    cs_buf_cleanup(&pem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phala_collateral_is_recognised),
        cmocka_unit_test(crls_and_chains_in_other_encodings_are_recognised),
        cmocka_unit_test(unrecognised_blobs_are_errors),
        cmocka_unit_test(signed_span_is_exact),
        cmocka_unit_test(signed_json_layout_rules),
        cmocka_unit_test(only_the_raw_body_is_signed),
        cmocka_unit_test(tcb_info_parser_rejects_bad_fields),
        cmocka_unit_test(tcb_info_v2_layout_is_accepted),
        cmocka_unit_test(qe_identity_parse_and_match),
        cmocka_unit_test(tcb_levels_match_as_intel_does),
        cmocka_unit_test(statuses_converge_like_the_qvl),
        cmocka_unit_test(pck_sgx_extension_parses_and_rejects_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
