/*
 * Fuzz target: the evidence envelope decoder and the virtual verifier.
 * Decodes the input as an envelope; if it decodes, it must re-encode to the
 * same bytes (one encoding per envelope) and the virtual verifier runs on it
 * with the fixed trust anchor below. The input is also parsed as a bare
 * virtual report. Nothing may crash, leak or read out of bounds, and
 * whatever verifies must be virtual evidence from the anchor's key.
 *
 * The seeds in corpus/evidence/ were produced by `consort evidence create`
 * on the platform whose certificate this is (its key is not kept).
 */
#include "attest/virtual.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ANCHOR_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIB4jCCAYigAwIBAgIIIYgAGMZiBFQwCgYIKoZIzj0EAwIwRjEQMA4GA1UECgwH\n"
    "Y29uc29ydDEyMDAGA1UEAwwpY29uc29ydCB2aXJ0dWFsIHBsYXRmb3JtIGMyZmIy\n"
    "OWQ3MmRkMDJkYmYwHhcNMjYxMTIxMTUwNTQzWhcNMzYxMTIwMTUwNTQzWjBGMRAw\n"
    "DgYDVQQKDAdjb25zb3J0MTIwMAYDVQQDDCljb25zb3J0IHZpcnR1YWwgcGxhdGZv\n"
    "cm0gYzJmYjI5ZDcyZGQwMmRiZjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABMc2\n"
    "dCwZlUK//BMkkpvnvrelZqq8oUQcwY6zl7BpqmepJhQat7ju+y9GfStfu45AueDv\n"
    "Rt3R4ZQeUB+uxrgrAP6jYDBeMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeA\n"
    "MB0GA1UdDgQWBBTY2cFWQQJ2MuGVVm/sUtpicyMGojAfBgNVHSMEGDAWgBTY2cFW\n"
    "QQJ2MuGVVm/sUtpicyMGojAKBggqhkjOPQQDAgNIADBFAiEAuW8LKN7w3i+/eIkE\n"
    "XgTqyu252o6StpfxL/xbCGJJdHQCIDFuHlYyYWr4uMFsiixDrtnZR10DFMarrx1Q\n"
    "LG+Um1Qn\n"
    "-----END CERTIFICATE-----\n";

static cs_blob_list anchors;
static int64_t now;
static uint8_t anchor_key_id[32];

static void setup_once(void)
{
    static bool done;
    if (done)
        return;
    cs_x509 *cert = NULL;
    cs_key *key = NULL;
    int64_t not_after;
    cs_blob_list_init(&anchors);
    if (cs_blob_list_add(&anchors, CS_SLICE_LIT(ANCHOR_PEM)) != CONSORT_OK ||
        cs_x509_from_pem(CS_SLICE_LIT(ANCHOR_PEM), &cert) != CONSORT_OK ||
        cs_x509_validity(cert, &now, &not_after) != CONSORT_OK ||
        cs_x509_public_key(cert, &key) != CONSORT_OK || cs_key_id(key, anchor_key_id) != CONSORT_OK)
        abort();
    now += 86400; /* a fixed instant inside the certificate's validity */
    cs_key_free(key);
    cs_x509_free(cert);
    done = true;
}

static void check_envelope(const cs_evidence *ev, cs_slice input)
{
    cs_buf again;
    cs_buf_init(&again, 0);
    if (cs_evidence_encode(ev, &again) != CONSORT_OK || !cs_slice_eq(cs_buf_slice(&again), input))
        abort(); /* decoded but does not re-encode to the same bytes */
    cs_buf_cleanup(&again);

    const cs_verify_opts opts = {.now = now, .anchors = &anchors};
    cs_claims claims;
    if (cs_virtual_verifier.verify(ev, &opts, &claims) != CONSORT_OK)
        return;
    const cs_claim *kid = cs_claims_find(&claims, "platform_key_id");
    if (ev->platform != CS_PLATFORM_VIRTUAL || claims.platform != CS_PLATFORM_VIRTUAL ||
        kid == NULL || kid->len != 32 || memcmp(kid->bytes, anchor_key_id, 32) != 0)
        abort(); /* accepted evidence that the anchor did not sign */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    const cs_slice input = CS_SLICE(data, size);
    cs_evidence ev;
    cs_evidence_init(&ev);
    if (cs_evidence_decode(input, &ev) == CONSORT_OK)
        check_envelope(&ev, input);
    cs_evidence_cleanup(&ev);

    cs_virtual_report report;
    consort_err rc = cs_virtual_report_parse(input, &report);
    (void)rc;
    return 0;
}
