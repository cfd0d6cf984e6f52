/*
 * libFuzzer target for receipts (src/store/receipt.h): input starting with
 * '{' is parsed as receipt JSON and, if it parses, verified against the
 * seed corpus's service certificate at the time the corpus was made (so
 * the seeds verify completely), with and without its own claims digest;
 * anything else is decoded as a COSE receipt. Nothing may crash, leak or
 * read out of bounds; a seed that verifies must still verify when asked for
 * the claims digest it carries.
 *
 * Seeds: tests/fuzz/corpus/receipt, written by gen_ledger (see
 * fuzz_ledger_entry.c) with --corpus-receipts.
 */
#include "store/receipt.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seed corpus's service certificate and the instant it was made. */
static const char service_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjTCCATOgAwIBAgIII+YhGHgiHWAwCgYIKoZIzj0EAwIwGjEYMBYGA1UEAwwP\n"
    "Y29uc29ydCBzZXJ2aWNlMB4XDTI2MTEyMDE1MjU1M1oXDTQ2MTExNjE1MjU1M1ow\n"
    "GjEYMBYGA1UEAwwPY29uc29ydCBzZXJ2aWNlMFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
    "AQcDQgAEbVHRl1yMdB3erJa75fYZGCjOApAxMOXJ6oUxk+VKxl6fx9zi/X5pdVGL\n"
    "BPNtcQIw59eWuwELmK0oa+exKQuV2qNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNV\n"
    "HQ8BAf8EBAMCAQYwHQYDVR0OBBYEFMSFl6G4VBy7Cekkq5oDr8IdfNfnMB8GA1Ud\n"
    "IwQYMBaAFMSFl6G4VBy7Cekkq5oDr8IdfNfnMAoGCCqGSM49BAMCA0gAMEUCIExt\n"
    "E0CA4x9bWa9FWkF33TZZnCyzgoSZBvzipV6xDCdsAiEAkrrHqSGAlv+i2vwzN0cr\n"
    "bhYN/SCu78zWNOR+jJGFS7M=\n"
    "-----END CERTIFICATE-----\n";
#define CORPUS_TIME ((int64_t)1795274753)

static const cs_x509 *service_cert(void)
{
    static cs_x509 *cert;
    if (cert == NULL && cs_x509_from_pem(CS_SLICE_LIT(service_pem), &cert) != CONSORT_OK)
        abort();
    return cert;
}

static void outcome(consort_err rc)
{
    (void)rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == '{') {
        cs_receipt r;
        cs_receipt_init(&r);
        if (cs_receipt_parse(CS_SLICE(data, size), &r) == CONSORT_OK) {
            cs_receipt_verify_opts o = {.now = CORPUS_TIME};
            if (cs_receipt_verify(&r, service_cert(), &o) == CONSORT_OK) {
                o.claims_digest = r.claims_digest;
                if (cs_receipt_verify(&r, service_cert(), &o) != CONSORT_OK)
                    abort();
            }
        }
        cs_receipt_cleanup(&r);
        return 0;
    }
    cs_cose_sign1 msg;
    cs_cose_alg alg;
    cs_slice kid;
    cs_receipt_proof proof;
    if (cs_receipt_cose_decode(CS_SLICE(data, size), &msg, &alg, &kid, &proof) == CONSORT_OK) {
        if (proof.leaf_index >= proof.tree_size || kid.len != 32)
            abort();
        uint8_t root[CS_MERKLE_HASH_LEN], leaf[CS_MERKLE_HASH_LEN] = {0};
        outcome(cs_merkle_root_from_inclusion(CS_SLICE(leaf, sizeof leaf), proof.leaf_index,
                                              proof.tree_size, proof.path, proof.path_len, root));
    }
    return 0;
}
