/*
 * libFuzzer target for the ledger entry decoder (src/store/ledger.h):
 * arbitrary bytes are decoded as an entry; whatever decodes has its leaf
 * hashed and its private section opened under the fixed ledger secret of
 * the seed corpus (so seeds reach the AES-GCM path and succeed); a
 * signature entry is parsed and, if it parses, verified against the seed
 * corpus's service certificate at the time the corpus was made. The same
 * bytes are also tried as a chunk file name. Nothing may crash, leak or
 * read out of bounds, and a decoded entry must describe exactly its input.
 *
 * Seeds: tests/fuzz/corpus/ledger_entry, written by
 *   gen_ledger OUT --entries 6 --sig-every 3 --secret 000102...1f
 *              --corpus-entries tests/fuzz/corpus/ledger_entry
 */
#include "store/ledger.h"

#include <stdlib.h>
#include <string.h>

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

static void check_decoded(const cs_ledger_entry *e, const uint8_t *data, size_t size)
{
    /* the slices tile the input: header, public write set, private_len, private */
    if (e->raw.ptr != data || e->raw.len != size ||
        e->aad.len != CS_LEDGER_HEADER_LEN + e->public_ws.len + 4 ||
        e->aad.len + e->private_section.len != size ||
        e->public_ws.ptr != data + CS_LEDGER_HEADER_LEN)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t secret[CS_LEDGER_SECRET_LEN];
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (uint8_t)i;

    cs_ledger_entry e;
    if (cs_ledger_entry_decode(CS_SLICE(data, size), &e) == CONSORT_OK) {
        check_decoded(&e, data, size);
        uint8_t leaf[CS_MERKLE_HASH_LEN];
        cs_ledger_leaf_hash(&e, leaf);
        cs_buf plain;
        cs_buf_init_secret(&plain, 0);
        outcome(cs_ledger_entry_decrypt(&e, secret, &plain));
        cs_buf_cleanup(&plain);
        cs_ledger_sig sig;
        if (e.kind == CS_LEDGER_KIND_SIGNATURE && cs_ledger_sig_parse(&e, &sig) == CONSORT_OK) {
            if (sig.tree_size != e.seqno - 1 || sig.root.len != CS_MERKLE_HASH_LEN)
                abort();
            outcome(cs_ledger_sig_verify(&sig, service_cert(), CORPUS_TIME, NULL));
        }
    }

    /* the same bytes as a chunk file name */
    char name[CS_LEDGER_NAME_MAX + 8];
    size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, n);
    name[n] = '\0';
    cs_ledger_chunk c;
    if (cs_ledger_chunk_parse_name(name, &c) == CONSORT_OK && strcmp(c.name, name) != 0)
        abort(); /* only canonical names parse */
    return 0;
}
