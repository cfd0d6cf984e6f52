/*
 * libFuzzer target for the tpm platform's parsers (src/attest/tpm.h): the
 * same bytes are read as a TPMS_ATTEST quote, a TPMT_SIGNATURE, a
 * TPMT_PUBLIC and consort's "tpm" evidence CBOR, and then handed to the
 * verifier as evidence. Whatever parses is pushed further: PCR digests are
 * recomputed, signatures checked against a fixed key, a parsed signature is
 * marshalled back and must give the same bytes, decoded evidence is encoded
 * again and must decode to the same fields. Nothing may crash, leak or read
 * out of bounds. Seeds: the real GCE and Azure vTPM structures and evidence
 * made by swtpm.
 */
#include "attest/tpm.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cs_key *fixed_key(void)
{
    static cs_key *key;
    if (key == NULL && cs_key_generate(CS_CURVE_P256, &key) != CONSORT_OK)
        abort();
    return key;
}

/* Results the target does not judge still count as used (warn_unused_result). */
static void outcome(consort_err rc)
{
    (void)rc;
}

static void fuzz_quote(cs_slice in)
{
    cs_tpm_quote q;
    if (cs_tpm_quote_parse(in, &q) != CONSORT_OK)
        return;
    size_t n = cs_tpm_quote_pcr_count(&q);
    if (n > CS_TPM_MAX_BANKS * CS_TPM_PCR_COUNT)
        abort(); /* parse must bound the selection */
    static const uint8_t zeros[64];
    cs_slice values[CS_TPM_MAX_BANKS * CS_TPM_PCR_COUNT];
    size_t k = 0;
    for (size_t i = 0; i < q.bank_count; i++)
        for (unsigned p = 0; p < CS_TPM_PCR_COUNT; p++)
            if ((q.banks[i].pcrs >> p) & 1)
                values[k++] = CS_SLICE(zeros, cs_tpm_bank_digest_len(q.banks[i].hash_alg));
    outcome(cs_tpm_quote_check_pcrs(&q, CS_TPM_ALG_SHA256, values, k));
    size_t pos;
    outcome(cs_tpm_quote_pcr_position(&q, CS_TPM_ALG_SHA256, 23, &pos));
}

static void fuzz_signature(cs_slice in)
{
    cs_tpm_signature sig;
    if (cs_tpm_signature_parse(in, &sig) != CONSORT_OK)
        return;
    cs_buf again;
    cs_buf_init(&again, 0);
    if (cs_tpm_signature_marshal(&sig, &again) != CONSORT_OK ||
        !cs_slice_eq(cs_buf_slice(&again), in))
        abort(); /* TPM marshalling is canonical: parse then marshal gives the input */
    cs_buf_cleanup(&again);
    outcome(cs_tpm_signature_verify(&sig, fixed_key(), in));
}

static void fuzz_public(cs_slice in)
{
    cs_key *key = NULL;
    if (cs_tpm_public_to_key(in, &key) == CONSORT_OK)
        cs_key_free(key);
}

static void fuzz_evidence(cs_slice in)
{
    cs_tpm_evidence te;
    if (cs_tpm_evidence_decode(in, &te) != CONSORT_OK)
        return;
    fuzz_quote(te.attest);
    fuzz_signature(te.signature);
    cs_tpm_quote q;
    cs_tpm_signature sig;
    if (cs_tpm_quote_parse(te.attest, &q) == CONSORT_OK &&
        cs_tpm_signature_parse(te.signature, &sig) == CONSORT_OK)
        outcome(cs_tpm_quote_check_pcrs(&q, sig.hash_alg, te.pcrs, te.pcr_count));
    cs_buf out;
    cs_buf_init(&out, 0);
    cs_tpm_evidence back;
    if (cs_tpm_evidence_encode(&te, &out) != CONSORT_OK ||
        cs_tpm_evidence_decode(cs_buf_slice(&out), &back) != CONSORT_OK ||
        back.pcr_count != te.pcr_count || back.code_id_pcr != te.code_id_pcr ||
        memcmp(back.code_id, te.code_id, 32) != 0 || !cs_slice_eq(back.attest, te.attest) ||
        !cs_slice_eq(back.signature, te.signature))
        abort();
    cs_buf_cleanup(&out);
}

static void fuzz_verifier(cs_slice in)
{
    cs_evidence ev;
    cs_evidence_init(&ev);
    ev.platform = CS_PLATFORM_TPM;
    cs_blob_list anchors;
    cs_blob_list_init(&anchors);
    static const uint8_t not_a_cert[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    if (cs_buf_set(&ev.evidence, in) == CONSORT_OK &&
        cs_blob_list_add(&anchors, CS_SLICE(not_a_cert, sizeof not_a_cert)) == CONSORT_OK) {
        const cs_verify_opts opts = {.now = 1700000000, .anchors = &anchors};
        cs_claims claims;
        if (cs_tpm_verifier.verify(&ev, &opts, &claims) == CONSORT_OK)
            abort(); /* without an AK certificate nothing can verify */
    }
    cs_blob_list_cleanup(&anchors);
    cs_evidence_cleanup(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int once;
    if (!once) {
        setenv("TSS2_LOG", "all+none", 0); /* tss2 logs every unmarshalling error */
        once = 1;
    }
    const cs_slice in = CS_SLICE(data, size);
    fuzz_quote(in);
    fuzz_signature(in);
    fuzz_public(in);
    fuzz_evidence(in);
    fuzz_verifier(in);
    return 0;
}
