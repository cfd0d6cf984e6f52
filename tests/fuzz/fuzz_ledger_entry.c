/*
 * libFuzzer target for the ledger entry decoder (src/store/ledger.h, format
 * version 2): arbitrary bytes are decoded as an entry; whatever decodes has
 * its leaf hashed and is opened (authenticated, decrypted, commit evidence
 * checked) under the fixed ledger secret of the seed corpus, so the seeds
 * reach the AES-GCM path and succeed while a mutated entry must fail; a
 * signature entry is parsed and, if it parses, verified against the seed
 * corpus's service certificate at the time the corpus was made. The same
 * bytes are also tried as a chunk file name. Nothing may crash, leak or
 * read out of bounds, a decoded entry must describe exactly its input, and
 * nothing may be appended when opening fails.
 *
 * Seeds: tests/fuzz/corpus/ledger_entry: entry_<seqno>.bin (version 2),
 * written by
 *   gen_ledger OUT --entries 6 --sig-every 3 --secret 000102...1f
 *              --corpus-entries tests/fuzz/corpus/ledger_entry
 * (entry 1 with claims and private writes, 2 and 3, and the signature entry
 * 4), and v1_entry_1.bin, a version 1 entry (refused as unsupported).
 */
#include "store/ledger.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seed corpus's service certificate and the instant it was made. */
static const char service_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjTCCATOgAwIBAgIICyIZL6D/r1MwCgYIKoZIzj0EAwIwGjEYMBYGA1UEAwwP\n"
    "Y29uc29ydCBzZXJ2aWNlMB4XDTI2MTIwMjE3NTgwOFoXDTQ2MTEyODE3NTgwOFow\n"
    "GjEYMBYGA1UEAwwPY29uc29ydCBzZXJ2aWNlMFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
    "AQcDQgAEbYaYiSU9enZJjGxwMPNJ93elvK0OX0o4gYkEfIePkMKq1rwC4k549Cjc\n"
    "4tqNtpbkLxwI2XGRqU1cN/1e9Ty7xKNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNV\n"
    "HQ8BAf8EBAMCAQYwHQYDVR0OBBYEFKVXutlWwuYOkhu2lsBTm/HAuULbMB8GA1Ud\n"
    "IwQYMBaAFKVXutlWwuYOkhu2lsBTm/HAuULbMAoGCCqGSM49BAMCA0gAMEUCIQDu\n"
    "BRRWH/R5qsmjitH6BnFU07MjnLCds+TvGLgpJFqV9AIgYHDOzeMBqjQ2IrarXu2e\n"
    "Ns4Nmrfy3WQLPxtiAZX1uJY=\n"
    "-----END CERTIFICATE-----\n";
#define CORPUS_TIME ((int64_t)1796320688)

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
    /* the slices tile the input: header, public write set, private_len,
     * ciphertext, tag */
    if (e->raw.ptr != data || e->raw.len != size || e->aad.ptr != data ||
        e->aad.len != CS_LEDGER_HEADER_LEN + e->public_ws.len + 4 ||
        e->public_ws.ptr != data + CS_LEDGER_HEADER_LEN || e->tag.len != CS_AEAD_TAG_LEN ||
        e->tag.ptr != data + size - CS_AEAD_TAG_LEN ||
        e->aad.len + e->ciphertext.len + e->tag.len != size ||
        (e->ciphertext.len > 0 && e->ciphertext.ptr != data + e->aad.len) ||
        e->key_salt != data + 24 || e->claims_digest != data + 40 ||
        e->commit_evidence_digest != data + 72)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the keys persist across inputs, so the cached key of the last salt
     * opened is exercised too */
    static cs_ledger_keys keys;
    static bool keys_ready;
    if (!keys_ready) {
        uint8_t secret[CS_LEDGER_SECRET_LEN];
        for (size_t i = 0; i < sizeof secret; i++)
            secret[i] = (uint8_t)i;
        cs_ledger_keys_init(&keys, secret);
        keys_ready = true;
    }

    cs_ledger_entry e;
    if (cs_ledger_entry_decode(CS_SLICE(data, size), &e) == CONSORT_OK) {
        check_decoded(&e, data, size);
        uint8_t leaf[CS_MERKLE_HASH_LEN];
        cs_ledger_leaf_hash(&e, leaf);
        cs_buf plain;
        cs_buf_init_secret(&plain, 0);
        consort_err rc = cs_ledger_entry_open(&e, &keys, &plain);
        if (rc != CONSORT_OK && plain.len != 0)
            abort(); /* nothing is appended on failure */
        if (rc == CONSORT_OK && plain.len != (e.ciphertext.len > 0 ? e.ciphertext.len : 1))
            abort(); /* the plaintext, or the empty write set 0xa0 */
        outcome(rc);
        cs_buf_cleanup(&plain);
        cs_ledger_sig sig;
        if (e.kind == CS_LEDGER_KIND_SIGNATURE && cs_ledger_sig_parse(&e, &sig) == CONSORT_OK) {
            if (sig.tree_size != e.seqno - 1 || sig.root.len != CS_MERKLE_HASH_LEN ||
                sig.state.len != CS_LEDGER_DIGEST_LEN || sig.terms.len != CS_LEDGER_DIGEST_LEN)
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
