/*
 * libFuzzer target for signed governance requests (src/gov/request.h):
 * arbitrary bytes are decoded with cs_gov_request_decode; whatever decodes
 * must describe its input (ids of 64 lower-case hex digits, a known type, a
 * proposal id exactly for ballot and withdrawal, slices inside the input),
 * gets its replay digest, which must be the SHA-256 of the Sig_structure
 * that COSE verification rebuilds and must not change with the signature
 * bytes, and is verified against the two members of the seed corpus at the
 * instant the seeds were signed (so the genuine seeds verify, and a request
 * that verifies must have a digest, a member id and a known signer).
 * Nothing may crash, leak or read out of bounds.
 *
 * Seeds: tests/fuzz/corpus/gov_request, written once with
 * cs_gov_request_sign (valid: a proposal under ES256 and an empty one under
 * ES384, a ballot and a withdrawal) and cs_cose_sign1_sign (validly signed
 * but refused: ballot without proposal id, proposal with one, detached
 * payload, unprotected header, extra parameter, unknown type, upper-case
 * kid, created_at as text), plus untagged, truncated and trailing-byte
 * copies of the proposal. The members' private keys were thrown away; the
 * certificates below are theirs.
 */
#include "crypto/hash.h"
#include "gov/request.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seed corpus's members (P-256 and P-384, self-signed) and the
 * created_at of every seed. */
static const char member_pems[2][800] = {
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhTCCASugAwIBAgIBATAKBggqhkjOPQQDAjAbMRkwFwYDVQQDDBBmdXp6IG1l\n"
    "bWJlciBwMjU2MB4XDTIzMTExMzIyMTMyMFoXDTMzMTExMTIyMTMyMFowGzEZMBcG\n"
    "A1UEAwwQZnV6eiBtZW1iZXIgcDI1NjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA\n"
    "BNmPc8Mm/zxb8qUfO6e8oKRaAucnzxyz4x75LzRBJYaqpKGJ7i8dNhjkGdjG5gWY\n"
    "tyj2me4pLKf1P3AVAE/olcqjYDBeMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQD\n"
    "AgeAMB0GA1UdDgQWBBTIt8tht1EkCpj5bOPBU6IV4QevXjAfBgNVHSMEGDAWgBTI\n"
    "t8tht1EkCpj5bOPBU6IV4QevXjAKBggqhkjOPQQDAgNIADBFAiAMlp+aW9ViRQ8A\n"
    "pMS4sQGKg7dPmNlcxpraawykRs2BZQIhAJ97aB0feSSdx6MuhkmogZe5XXb6DFis\n"
    "W2IC7Ha2LgRs\n"
    "-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBwjCCAUigAwIBAgIBATAKBggqhkjOPQQDAzAbMRkwFwYDVQQDDBBmdXp6IG1l\n"
    "bWJlciBwMzg0MB4XDTIzMTExMzIyMTMyMFoXDTMzMTExMTIyMTMyMFowGzEZMBcG\n"
    "A1UEAwwQZnV6eiBtZW1iZXIgcDM4NDB2MBAGByqGSM49AgEGBSuBBAAiA2IABAic\n"
    "A77WJOsd5oRmjYM+BFy4oB8d0RMBmmUC0t1mbWJqupxrO+yZHSo6fgROf0qBTVeq\n"
    "L7fUpNlPeRZM4HU374JNRTHDrcsspauVfqaXNsXItQjg3G7LzWHfDPitsxVhmqNg\n"
    "MF4wDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwHQYDVR0OBBYEFIARN5Zn\n"
    "m/uvFDZq/Oyj2UX4oq6gMB8GA1UdIwQYMBaAFIARN5Znm/uvFDZq/Oyj2UX4oq6g\n"
    "MAoGCCqGSM49BAMDA2gAMGUCMF3Erg54NYo9K1BVeBqi8xN9ydxXl32Uzc5/p9M4\n"
    "b6U1bUlxWw4KiluoKf2qZaVYWwIxAO5Ea+xUqwHfNJuYGM8IoNuSZ+4wBtXaa77E\n"
    "RCcqmIHFrWvsT2di+CH34rPsYZE7Nw==\n"
    "-----END CERTIFICATE-----\n",
};
#define CORPUS_TIME ((int64_t)1700000000)
#define WINDOW      300

typedef struct member {
    cs_x509 *cert;
    char id[CS_GOV_ID_HEX_LEN + 1];
} member;

static member *members(void)
{
    static member m[2];
    if (m[0].cert == NULL) {
        for (size_t i = 0; i < 2; i++)
            if (cs_x509_from_pem(cs_slice_str(member_pems[i]), &m[i].cert) != CONSORT_OK ||
                cs_gov_member_id(m[i].cert, m[i].id) != CONSORT_OK)
                abort();
    }
    return m;
}

static consort_err lookup(void *ctx, const char *member_id, cs_x509 **cert)
{
    const member *m = ctx;
    for (size_t i = 0; i < 2; i++)
        if (strcmp(m[i].id, member_id) == 0) {
            *cert = cs_x509_ref(m[i].cert);
            return CONSORT_OK;
        }
    return CONSORT_E_NOT_FOUND;
}

static bool is_hex_id(const char *s)
{
    if (strlen(s) != CS_GOV_ID_HEX_LEN)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static bool inside(cs_slice s, const uint8_t *data, size_t size)
{
    return s.len == 0 ||
           (s.ptr >= data && s.len <= size && s.ptr - data <= (ptrdiff_t)(size - s.len));
}

/* The decoded request says what the bytes say. */
static void check_decoded(const cs_gov_request *req, const uint8_t *data, size_t size)
{
    if (req->bytes.ptr != data || req->bytes.len != size || !inside(req->payload, data, size) ||
        !inside(req->cose.signature, data, size) || !is_hex_id(req->member_id))
        abort();
    if (req->alg != CS_COSE_ES256 && req->alg != CS_COSE_ES384)
        abort();
    if (strcmp(cs_gov_msg_type_name(req->type), "unknown") == 0)
        abort();
    bool needs = req->type == CS_GOV_MSG_BALLOT || req->type == CS_GOV_MSG_WITHDRAWAL;
    if (needs != req->has_proposal_id ||
        (needs ? !is_hex_id(req->proposal_id) : req->proposal_id[0] != '\0'))
        abort();
}

/* The digest covers exactly what the member signed: the Sig_structure
 * COSE verification rebuilds, and not the signature itself. */
static void check_digest(const cs_gov_request *req, uint8_t digest[CS_SHA256_LEN])
{
    if (cs_gov_request_digest(req, digest) != CONSORT_OK)
        abort(); /* nothing but memory can make this fail */
    cs_buf tbs;
    cs_buf_init(&tbs, 0);
    if (cs_cose_sign1_tbs(&req->cose, NULL, &tbs) != CONSORT_OK)
        abort();
    uint8_t want[CS_SHA256_LEN];
    cs_sha256(cs_buf_slice(&tbs), want);
    cs_buf_cleanup(&tbs);
    if (memcmp(digest, want, sizeof want) != 0)
        abort();
    cs_gov_request other = *req;
    static const uint8_t sig[96] = {1};
    other.cose.signature = CS_SLICE(sig, req->alg == CS_COSE_ES256 ? 64 : 96);
    uint8_t again[CS_SHA256_LEN];
    if (cs_gov_request_digest(&other, again) != CONSORT_OK ||
        memcmp(digest, again, sizeof again) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    member *m = members();
    cs_gov_request req;
    if (cs_gov_request_decode(CS_SLICE(data, size), &req) != CONSORT_OK)
        return 0;
    check_decoded(&req, data, size);
    uint8_t digest[CS_SHA256_LEN];
    check_digest(&req, digest);
    char signer[CS_GOV_ID_HEX_LEN + 1] = "";
    if (cs_gov_request_verify(&req, lookup, m, CORPUS_TIME, WINDOW, signer) == CONSORT_OK &&
        strcmp(signer, req.member_id) != 0)
        abort(); /* a verified request names its signer */
    return 0;
}
