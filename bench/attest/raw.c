/*
 * The raw OpenSSL baseline: EVP_DigestVerifyInit + EVP_DigestVerify on an
 * EVP_MD_CTX reused for the same key (one per signature: OpenSSL 3.0 does
 * not re-initialise a context cleanly for a key of another type), with the
 * public key already an EVP_PKEY and the signature already in OpenSSL's
 * encoding: what one verification through OpenSSL's EVP interface costs when
 * it starts from a key, as a verifier without state between calls does.
 * It is not a floor: EVP_DigestVerifyInit fetches the algorithms and makes a
 * new EVP_PKEY_CTX every time, and consort's verifications reuse one kept
 * per key (src/crypto/key_verify.h), so for a cheap signature (RSA-2048) a
 * cached verification can come close to or above this rate.
 */
#include "attbench.h"

#include <openssl/x509.h>
#include <string.h>

void ab_raw_init(ab_raw *r)
{
    memset(r, 0, sizeof *r);
}

void ab_raw_cleanup(ab_raw *r)
{
    for (size_t i = 0; i < r->count; i++) {
        EVP_PKEY_free(r->sigs[i].pkey);
        cs_buf_cleanup(&r->sigs[i].msg);
        cs_buf_cleanup(&r->sigs[i].sig);
        EVP_MD_CTX_free(r->sigs[i].mctx);
    }
    memset(r, 0, sizeof *r);
}

/* An independent OpenSSL key with the same public key (through its SPKI). */
static EVP_PKEY *openssl_key(const cs_key *key)
{
    cs_buf spki;
    cs_buf_init(&spki, 0);
    ab_check(cs_key_spki_der(key, &spki), "SubjectPublicKeyInfo");
    const unsigned char *p = spki.ptr;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)spki.len);
    cs_buf_cleanup(&spki);
    if (pkey == NULL)
        ab_die("d2i_PUBKEY");
    return pkey;
}

static ab_sig *next_sig(ab_raw *r, const cs_key *key, const EVP_MD *md, cs_slice msg)
{
    if (r->count == sizeof r->sigs / sizeof r->sigs[0])
        ab_die("too many raw signatures");
    ab_sig *s = &r->sigs[r->count++];
    s->pkey = openssl_key(key);
    s->md = md;
    s->mctx = EVP_MD_CTX_new();
    if (s->mctx == NULL)
        ab_die("EVP_MD_CTX_new");
    cs_buf_init(&s->msg, 0);
    cs_buf_init(&s->sig, 0);
    ab_check(cs_buf_set(&s->msg, msg), "raw message");
    return s;
}

void ab_raw_add_ecdsa(ab_raw *r, const cs_key *key, const EVP_MD *md, cs_slice msg, cs_slice rs)
{
    ab_sig *s = next_sig(r, key, md, msg);
    ab_check(cs_ecdsa_sig_raw_to_der(rs, &s->sig), "ECDSA r||s to DER");
}

void ab_raw_add_rsa(ab_raw *r, const cs_key *key, const EVP_MD *md, cs_slice msg, cs_slice sig)
{
    ab_sig *s = next_sig(r, key, md, msg);
    ab_check(cs_buf_set(&s->sig, sig), "RSA signature");
}

void ab_raw_op(void *ctx, uint64_t n)
{
    ab_raw *r = ctx;
    for (uint64_t i = 0; i < n; i++) {
        for (size_t j = 0; j < r->count; j++) {
            const ab_sig *s = &r->sigs[j];
            if (EVP_DigestVerifyInit(s->mctx, NULL, s->md, NULL, s->pkey) != 1 ||
                EVP_DigestVerify(s->mctx, s->sig.ptr, s->sig.len, s->msg.ptr, s->msg.len) != 1)
                ab_die("EVP_DigestVerify");
        }
    }
}
