/*
 * libFuzzer target for handling statements (src/e2e/statement.h), which a
 * client receives from a service. The input is tried twice: as a whole
 * statement, and as the payload of a statement signed here with a fixed
 * service key in a batch of two (so the payload parser is reached past the
 * signature and proof checks), and as a batch proof (so the proof parser is
 * fuzzed past the kid check);
 * what verifies is then held against exchanges and policies (nested calls
 * and summaries included). The input is also read as a client's policy
 * (JSON). Nothing may crash, leak or read out of bounds; a failure must
 * carry a message.
 * Seeds: corpus/e2e_statement (statements and payloads cs_e2e_sign wrote).
 */
#include "base/cbor.h"
#include "crypto/cose.h"
#include "e2e/statement.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cs_key *g_key;
static cs_x509 *g_cert;

static void must_say_why(consort_err rc)
{
    if (rc != CONSORT_OK && consort_errmsg()[0] == '\0')
        abort();
}

static void setup(void)
{
    if (g_key != NULL)
        return;
    const cs_x509_params p = {
        .subject_cn = "consort service", .not_before = 0, .not_after = 4102444800};
    if (cs_key_generate(CS_CURVE_P256, &g_key) != CONSORT_OK ||
        cs_x509_create(&p, g_key, g_key, NULL, &g_cert) != CONSORT_OK)
        abort();
}

static void check_all(const cs_e2e_statement *s)
{
    static const uint8_t nonce[16] = {0};
    const cs_e2e_expect e = {.nonce = s->nonce,
                             .nonce_len = s->nonce_len,
                             .method = "POST",
                             .target = "/app/x",
                             .status = 200};
    const cs_e2e_expect other = {.nonce = nonce, .nonce_len = 16, .method = "GET", .target = "/"};
    const cs_x509 *issuers[1] = {g_cert};
    const char *claims[1] = {"tested"};
    const cs_e2e_policy any = {0};
    const cs_e2e_policy certs = {
        .issuers = issuers, .n_issuers = 1, .claims = claims, .n_claims = 1};
    cs_err_clear();
    must_say_why(cs_e2e_check(s, &e, &any));
    cs_err_clear();
    must_say_why(cs_e2e_check(s, &e, &certs));
    cs_err_clear();
    must_say_why(cs_e2e_check(s, &other, &any));
}

static void try_statement(cs_slice cose, cs_e2e_statement *s)
{
    cs_err_clear();
    consort_err rc = cs_e2e_verify(cose, g_cert, s);
    must_say_why(rc);
    if (rc == CONSORT_OK)
        check_all(s);
}

/* The input as a client's policy (JSON): parsed, and its digest taken. */
static void try_policy(cs_slice json)
{
    cs_e2e_policy_doc *d = calloc(1, sizeof *d);
    if (d == NULL)
        return;
    cs_err_clear();
    consort_err rc = cs_e2e_policy_parse(json, d);
    must_say_why(rc);
    uint8_t digest[32];
    if (rc == CONSORT_OK)
        must_say_why(cs_e2e_policy_digest(&d->p, digest));
    cs_e2e_policy_doc_cleanup(d);
    free(d);
}

/* The input as the batch proof (unprotected -70002) of a statement signed
 * here: the proof parser and the root it gives, past the kid check. */
static void try_proof(cs_slice proof, cs_e2e_statement *s)
{
    const cs_slice payload = CS_SLICE_LIT("a statement's payload");
    cs_buf signed_one, forged;
    cs_buf_init(&signed_one, CS_E2E_MAX);
    cs_buf_init(&forged, CS_E2E_MAX * 2);
    cs_cose_sign1 m;
    if (cs_e2e_sign_batch(&payload, 1, g_key, g_cert, &signed_one) == CONSORT_OK &&
        cs_cose_sign1_decode(cs_buf_slice(&signed_one), &m) == CONSORT_OK &&
        cs_cbor_write_tag(&forged, CS_COSE_TAG_SIGN1) == CONSORT_OK &&
        cs_cbor_write_array(&forged, 4) == CONSORT_OK &&
        cs_cbor_write_bytes(&forged, m.protected_bstr) == CONSORT_OK &&
        cs_cbor_write_map(&forged, 1) == CONSORT_OK &&
        cs_cbor_write_int(&forged, CS_E2E_HDR_PROOF) == CONSORT_OK &&
        cs_buf_append_slice(&forged, proof) == CONSORT_OK &&
        cs_cbor_write_bytes(&forged, payload) == CONSORT_OK &&
        cs_cbor_write_bytes(&forged, m.signature) == CONSORT_OK)
        try_statement(cs_buf_slice(&forged), s);
    cs_buf_cleanup(&signed_one);
    cs_buf_cleanup(&forged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    try_policy(CS_SLICE(data, size));
    cs_e2e_statement *s = calloc(1, sizeof *s);
    if (s == NULL)
        return 0;
    try_statement(CS_SLICE(data, size), s);
    /* signed here, as the second leaf of a batch of two (so the proof has
     * a path), and checked */
    const cs_slice payloads[2] = {CS_SLICE_LIT("another answer's statement"), CS_SLICE(data, size)};
    cs_buf outs[2];
    for (size_t i = 0; i < 2; i++)
        cs_buf_init(&outs[i], CS_E2E_MAX * 2);
    if (cs_e2e_sign_batch(payloads, 2, g_key, g_cert, outs) == CONSORT_OK)
        try_statement(cs_buf_slice(&outs[1]), s);
    for (size_t i = 0; i < 2; i++)
        cs_buf_cleanup(&outs[i]);
    try_proof(CS_SLICE(data, size), s);
    free(s);
    return 0;
}
