/*
 * The TPM 2.0 attester (tpm.h): the I/O side, on tss2 ESYS over a TCTI.
 *
 * Flow: Tss2_TctiLdr_Initialize(opts->tcti) -> Esys_Initialize -> Startup
 * (tolerated if the TPM already ran it) -> CreatePrimary of the AK in the
 * endorsement hierarchy. measure: PCR_Reset + PCR_Extend of the code id.
 * quote: Quote over the SHA-256 bank with report_data[0..32) as qualifying
 * data, then PCR_Read of the same PCRs; the values are checked against the
 * signed pcrDigest here already (a PCR that moved in between is retried).
 *
 * ESYS allocates its outputs with the C library; each is released with
 * Esys_Free right after use. Nothing here keeps a secret: the AK's private
 * part never leaves the TPM.
 */
#include "attest/tpm.h"

#include "base/alloc.h"

#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#define QUOTE_ATTEMPTS 3

struct cs_tpm_attester {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR ak;
    cs_key *ak_pub;
    unsigned code_id_pcr;
    uint32_t extra_pcrs;
    bool measured;
    uint8_t code_id[32]; /* what measure() extended */
    cs_blob_list certs;  /* AK certificate, then the chain (DER) */
};

static consort_err tpm_fail(TSS2_RC rc, const char *what)
{
    return cs_fail(CONSORT_E_IO, "TPM %s: %s (0x%08x)", what, Tss2_RC_Decode(rc), rc);
}

/* The AK template: a restricted signing key (Part 1, "Attestation Key"), like the
 * TCG EK Credential Profile's templates but signing, with the scheme fixed. */
static void ak_template(cs_tpm_ak_type type, TPM2B_PUBLIC *pub)
{
    memset(pub, 0, sizeof *pub);
    TPMT_PUBLIC *p = &pub->publicArea;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |
                          TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                          TPMA_OBJECT_USERWITHAUTH;
    if (type == CS_TPM_AK_ECDSA_P256) {
        p->type = TPM2_ALG_ECC;
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
        p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        return;
    }
    p->type = TPM2_ALG_RSA;
    p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.rsaDetail.scheme.scheme =
        type == CS_TPM_AK_RSAPSS_2048 ? TPM2_ALG_RSAPSS : TPM2_ALG_RSASSA;
    p->parameters.rsaDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA256;
    p->parameters.rsaDetail.keyBits = 2048;
    p->parameters.rsaDetail.exponent = 0;
}

/* Converts the TPM's public area to a cs_key through the pure TPMT_PUBLIC parser. */
static consort_err public_to_key(const TPMT_PUBLIC *pub, cs_key **out)
{
    uint8_t buf[CS_TPM_PUBLIC_MAX_BYTES];
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof buf, &off);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "AK public area");
    return cs_tpm_public_to_key(CS_SLICE(buf, off), out);
}

static consort_err create_ak(cs_tpm_attester *att, cs_tpm_ak_type type)
{
    TPM2B_SENSITIVE_CREATE sensitive;
    TPM2B_PUBLIC in_public;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION creation_pcr;
    memset(&sensitive, 0, sizeof sensitive);
    memset(&outside, 0, sizeof outside);
    memset(&creation_pcr, 0, sizeof creation_pcr);
    ak_template(type, &in_public);
    TPM2B_PUBLIC *out_public = NULL;
    TPM2B_CREATION_DATA *creation_data = NULL;
    TPM2B_DIGEST *creation_hash = NULL;
    TPMT_TK_CREATION *ticket = NULL;
    TSS2_RC rc =
        Esys_CreatePrimary(att->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &sensitive, &in_public, &outside, &creation_pcr, &att->ak,
                           &out_public, &creation_data, &creation_hash, &ticket);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "CreatePrimary (AK in the endorsement hierarchy)");
    consort_err err = public_to_key(&out_public->publicArea, &att->ak_pub);
    Esys_Free(out_public);
    Esys_Free(creation_data);
    Esys_Free(creation_hash);
    Esys_Free(ticket);
    return err;
}

consort_err cs_tpm_attester_new(const cs_tpm_attester_opts *opts, cs_tpm_attester **out)
{
    unsigned pcr = opts->code_id_pcr ? opts->code_id_pcr : CS_TPM_CODE_ID_PCR;
    /* PC Client PTP, PCR attributes: only PCR 16 (debug) and 23 (application support)
     * can be reset from locality 0. */
    CS_ENSURE(pcr == 16 || pcr == 23, CONSORT_E_INVALID_ARGUMENT,
              "TPM attester: code-id PCR %u is not resettable from locality 0 (use 16 or 23)", pcr);
    CS_ENSURE((opts->extra_pcrs >> CS_TPM_PCR_COUNT) == 0, CONSORT_E_INVALID_ARGUMENT,
              "TPM attester: extra PCR mask 0x%08x names PCRs above 23", opts->extra_pcrs);
    CS_ENSURE(opts->ak_type <= CS_TPM_AK_RSAPSS_2048, CONSORT_E_INVALID_ARGUMENT,
              "TPM attester: AK type %d unknown", (int)opts->ak_type);
    *out = NULL;
    cs_tpm_attester *att = cs_calloc(1, sizeof *att);
    CS_ENSURE(att != NULL, CONSORT_E_NOMEM, "TPM attester: out of memory");
    att->ak = ESYS_TR_NONE;
    att->code_id_pcr = pcr;
    att->extra_pcrs = opts->extra_pcrs;
    cs_blob_list_init(&att->certs);

    consort_err err = CONSORT_OK;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(opts->tcti, &att->tcti);
    if (rc != TSS2_RC_SUCCESS) {
        err = cs_fail(CONSORT_E_IO, "TPM attester: cannot open TCTI '%s': %s",
                      opts->tcti ? opts->tcti : "(default)", Tss2_RC_Decode(rc));
        goto fail;
    }
    rc = Esys_Initialize(&att->esys, att->tcti, NULL);
    CS_ENSURE_GOTO(err, rc == TSS2_RC_SUCCESS, fail, CONSORT_E_IO,
                   "TPM attester: Esys_Initialize: %s", Tss2_RC_Decode(rc));
    /* Part 3, TPM2_Startup: TPM_RC_INITIALIZE if the TPM was already started. */
    rc = Esys_Startup(att->esys, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && (rc & 0xffff) != TPM2_RC_INITIALIZE) {
        err = tpm_fail(rc, "Startup");
        goto fail;
    }
    CS_TRY_GOTO(err, create_ak(att, opts->ak_type), fail);
    *out = att;
    return CONSORT_OK;
fail:
    cs_tpm_attester_free(att);
    return cs_err_context(err, "TPM attester");
}

void cs_tpm_attester_free(cs_tpm_attester *att)
{
    if (att == NULL)
        return;
    if (att->esys != NULL && att->ak != ESYS_TR_NONE)
        (void)Esys_FlushContext(att->esys, att->ak);
    if (att->esys != NULL)
        Esys_Finalize(&att->esys);
    if (att->tcti != NULL)
        Tss2_TctiLdr_Finalize(&att->tcti);
    cs_key_free(att->ak_pub);
    cs_blob_list_cleanup(&att->certs);
    cs_free(att);
}

const cs_key *cs_tpm_attester_ak(const cs_tpm_attester *att)
{
    return att->ak_pub;
}

consort_err cs_tpm_ak_certify(const cs_key *ak, const cs_key *ca_key, const cs_x509 *ca_cert,
                              int64_t not_before, int64_t not_after, cs_x509 **out)
{
    /* SIMPLIFIED (tpm.h): no EK credential activation precedes this. */
    const cs_x509_params params = {
        .subject_cn = "consort TPM attestation key",
        .subject_org = "consort",
        .not_before = not_before,
        .not_after = not_after,
        .is_ca = false,
    };
    CS_TRY_CTX(cs_x509_create(&params, ak, ca_key, ca_cert, out), "AK certificate");
    return CONSORT_OK;
}

consort_err cs_tpm_attester_set_certs(cs_tpm_attester *att, const cs_x509 *ak_cert,
                                      cs_x509 *const *chain, size_t chain_len)
{
    cs_blob_list certs;
    cs_blob_list_init(&certs);
    cs_buf der;
    cs_buf_init(&der, CS_ENDORSEMENT_MAX_BYTES);
    consort_err err = CONSORT_OK;
    for (size_t i = 0; i <= chain_len && err == CONSORT_OK; i++) {
        cs_buf_reset(&der);
        err = cs_x509_to_der(i == 0 ? ak_cert : chain[i - 1], &der);
        if (err == CONSORT_OK)
            err = cs_blob_list_add(&certs, cs_buf_slice(&der));
    }
    cs_buf_cleanup(&der);
    if (err != CONSORT_OK) {
        cs_blob_list_cleanup(&certs);
        return cs_err_context(err, "TPM attester: certificates");
    }
    cs_blob_list_cleanup(&att->certs);
    att->certs = certs;
    return CONSORT_OK;
}

consort_err cs_tpm_attester_extend(cs_tpm_attester *att, unsigned pcr, const uint8_t digest[32])
{
    CS_ENSURE(pcr < CS_TPM_PCR_COUNT, CONSORT_E_INVALID_ARGUMENT, "TPM: PCR %u out of range", pcr);
    TPML_DIGEST_VALUES values;
    memset(&values, 0, sizeof values);
    values.count = 1;
    values.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(values.digests[0].digest.sha256, digest, 32);
    TSS2_RC rc = Esys_PCR_Extend(att->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                 ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "PCR_Extend");
    return CONSORT_OK;
}

consort_err cs_tpm_attester_measure(cs_tpm_attester *att, const uint8_t code_id[32])
{
    att->measured = false;
    TSS2_RC rc = Esys_PCR_Reset(att->esys, ESYS_TR_PCR0 + att->code_id_pcr, ESYS_TR_PASSWORD,
                                ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "PCR_Reset of the code-id PCR");
    CS_TRY(cs_tpm_attester_extend(att, att->code_id_pcr, code_id));
    memcpy(att->code_id, code_id, 32);
    att->measured = true;
    return CONSORT_OK;
}

/* One SHA-256 bank selection of the PCRs in `mask` (PC Client: 3 select bytes). */
static TPML_PCR_SELECTION sha256_selection(uint32_t mask)
{
    TPML_PCR_SELECTION sel;
    memset(&sel, 0, sizeof sel);
    sel.count = 1;
    sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel.pcrSelections[0].sizeofSelect = 3;
    for (unsigned b = 0; b < 3; b++)
        sel.pcrSelections[0].pcrSelect[b] = (uint8_t)(mask >> (8 * b));
    return sel;
}

/* Reads the SHA-256 PCRs of `mask` into values[pcr]; PCR_Read returns at most
 * eight digests per call (Part 2, TPML_DIGEST), so it loops until all are read. */
static consort_err read_pcrs(cs_tpm_attester *att, uint32_t mask,
                             uint8_t values[CS_TPM_PCR_COUNT][32])
{
    uint32_t left = mask;
    while (left != 0) {
        TPML_PCR_SELECTION want = sha256_selection(left);
        TPML_PCR_SELECTION *got = NULL;
        TPML_DIGEST *digests = NULL;
        UINT32 counter;
        TSS2_RC rc = Esys_PCR_Read(att->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &want,
                                   &counter, &got, &digests);
        if (rc != TSS2_RC_SUCCESS)
            return tpm_fail(rc, "PCR_Read");
        uint32_t read = 0;
        if (got->count == 1 && got->pcrSelections[0].hash == TPM2_ALG_SHA256)
            for (unsigned b = 0; b < 3 && b < got->pcrSelections[0].sizeofSelect; b++)
                read |= (uint32_t)got->pcrSelections[0].pcrSelect[b] << (8 * b);
        consort_err err = CONSORT_OK;
        size_t k = 0;
        for (unsigned p = 0; p < CS_TPM_PCR_COUNT && err == CONSORT_OK; p++) {
            if (((read >> p) & 1) == 0)
                continue;
            if (k >= digests->count || digests->digests[k].size != 32)
                err = cs_fail(CONSORT_E_IO, "TPM PCR_Read: no SHA-256 value for PCR %u", p);
            else
                memcpy(values[p], digests->digests[k].buffer, 32);
            k++;
        }
        Esys_Free(got);
        Esys_Free(digests);
        CS_TRY(err);
        CS_ENSURE(read != 0 && (read & ~left) == 0, CONSORT_E_IO,
                  "TPM PCR_Read: asked for PCRs 0x%06x, got 0x%06x", left, read);
        left &= ~read;
    }
    return CONSORT_OK;
}

/* Checks what the TPM returned as a verifier would (minus the certificate), so a
 * PCR that changed between Quote and PCR_Read is caught here (ATTESTATION). */
static consort_err self_check(const cs_tpm_attester *att, const cs_tpm_evidence *te)
{
    cs_tpm_quote q;
    cs_tpm_signature sig;
    CS_TRY(cs_tpm_quote_parse(te->attest, &q));
    CS_TRY(cs_tpm_signature_parse(te->signature, &sig));
    CS_TRY(cs_tpm_signature_verify(&sig, att->ak_pub, te->attest));
    return cs_tpm_quote_check_pcrs(&q, sig.hash_alg, te->pcrs, te->pcr_count);
}

static consort_err quote_once(cs_tpm_attester *att, const uint8_t report_data[64], cs_buf *out)
{
    uint32_t mask = att->extra_pcrs | (1u << att->code_id_pcr);
    TPM2B_DATA qualifying;
    memset(&qualifying, 0, sizeof qualifying);
    qualifying.size = CS_TPM_REPORT_DATA_LEN;
    memcpy(qualifying.buffer, report_data, CS_TPM_REPORT_DATA_LEN);
    TPMT_SIG_SCHEME scheme;
    memset(&scheme, 0, sizeof scheme);
    scheme.scheme = TPM2_ALG_NULL; /* the AK's own scheme */
    TPML_PCR_SELECTION sel = sha256_selection(mask);
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *signature = NULL;
    TSS2_RC rc = Esys_Quote(att->esys, att->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                            &qualifying, &scheme, &sel, &quoted, &signature);
    if (rc != TSS2_RC_SUCCESS)
        return tpm_fail(rc, "Quote");

    uint8_t values[CS_TPM_PCR_COUNT][32];
    uint8_t sig[CS_TPM_SIGNATURE_MAX_BYTES];
    size_t sig_len = 0;
    consort_err err = read_pcrs(att, mask, values);
    if (err == CONSORT_OK) {
        rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature, sig, sizeof sig, &sig_len);
        if (rc != TSS2_RC_SUCCESS)
            err = tpm_fail(rc, "quote signature");
    }
    cs_tpm_evidence te;
    memset(&te, 0, sizeof te);
    if (err == CONSORT_OK) {
        te.attest = CS_SLICE(quoted->attestationData, quoted->size);
        te.signature = CS_SLICE(sig, sig_len);
        for (unsigned p = 0; p < CS_TPM_PCR_COUNT; p++)
            if ((mask >> p) & 1)
                te.pcrs[te.pcr_count++] = CS_SLICE(values[p], 32);
        te.code_id_pcr = att->code_id_pcr;
        memcpy(te.code_id, att->code_id, 32);
        err = self_check(att, &te);
    }
    if (err == CONSORT_OK)
        err = cs_tpm_evidence_encode(&te, out);
    Esys_Free(quoted);
    Esys_Free(signature);
    return err;
}

consort_err cs_tpm_attester_quote(cs_tpm_attester *att, const uint8_t report_data[64],
                                  cs_evidence *ev)
{
    for (size_t i = CS_TPM_REPORT_DATA_LEN; i < 64; i++)
        CS_ENSURE(report_data[i] == 0, CONSORT_E_INVALID_ARGUMENT,
                  "TPM attester: report data byte %zu is not zero; a quote carries only %d "
                  "bytes",
                  i, CS_TPM_REPORT_DATA_LEN);
    CS_ENSURE(att->measured, CONSORT_E_STATE,
              "TPM attester: no code id measured (cs_tpm_attester_measure) yet");
    CS_ENSURE(att->certs.count > 0, CONSORT_E_STATE,
              "TPM attester: no AK certificate set (cs_tpm_attester_set_certs)");
    cs_buf bytes;
    cs_buf_init(&bytes, CS_EVIDENCE_MAX_BYTES);
    consort_err err = CONSORT_E_ATTESTATION;
    for (int attempt = 0; attempt < QUOTE_ATTEMPTS && err == CONSORT_E_ATTESTATION; attempt++) {
        cs_buf_reset(&bytes);
        err = quote_once(att, report_data, &bytes);
    }
    cs_evidence_cleanup(ev);
    cs_evidence_init(ev);
    for (size_t i = 0; i < att->certs.count && err == CONSORT_OK; i++)
        err = cs_blob_list_add(&ev->endorsements, cs_buf_slice(&att->certs.items[i]));
    if (err == CONSORT_OK) {
        ev->platform = CS_PLATFORM_TPM;
        cs_buf_move(&ev->evidence, &bytes);
    }
    cs_buf_cleanup(&bytes);
    if (err != CONSORT_OK) {
        cs_evidence_cleanup(ev);
        cs_evidence_init(ev);
        return cs_err_context(err, "TPM attester: quote");
    }
    return CONSORT_OK;
}

consort_err cs_tpm_attest_key(cs_tpm_attester *att, const cs_key *node_key, cs_slice nonce,
                              cs_evidence *ev)
{
    uint8_t report_data[64];
    CS_TRY(cs_report_data_bind(node_key, nonce, report_data));
    return cs_tpm_attester_quote(att, report_data, ev);
}
