/*
 * Per-transaction and per-signature derivations beside OpenSSL's own way of
 * doing the same: a transaction's commit evidence (HKDF-SHA256 of the
 * ledger secret, docs/ledger.md §2; consort's HMAC over the low-level hash)
 * against OpenSSL 3's HKDF (EVP_KDF, the implementation consort used before,
 * which looks the algorithm up on every call), and a key id (SHA-256 of the
 * DER SubjectPublicKeyInfo, kept by the key once computed) against encoding
 * the SPKI (i2d_PUBKEY) and hashing it, as every signature entry did twice.
 */
#include "bench.h"

#include "crypto/hash.h"
#include "crypto/key.h"
#include "store/ledger.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>
#include <stdio.h>

static uint8_t secret[CS_LEDGER_SECRET_LEN] = {1, 2, 3};

static void ce_ours(void *ctx, uint64_t n)
{
    (void)ctx;
    char ce[CS_LEDGER_CE_MAX];
    for (uint64_t i = 0; i < n; i++)
        if (cs_ledger_commit_evidence(secret, 2, i, ce) != CONSORT_OK)
            bench_die("commit evidence");
}

static void ce_openssl(void *ctx, uint64_t n)
{
    (void)ctx;
    for (uint64_t i = 0; i < n; i++) {
        char info[64];
        int len =
            snprintf(info, sizeof info, "consort commit evidence 2.%llu", (unsigned long long)i);
        uint8_t okm[32];
        EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
        EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
        EVP_KDF_free(kdf);
        static const uint8_t empty[1];
        OSSL_PARAM p[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret, sizeof secret),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)empty, 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, (size_t)len),
            OSSL_PARAM_construct_end()};
        if (kctx == NULL || EVP_KDF_derive(kctx, okm, sizeof okm, p) != 1)
            bench_die("OpenSSL HKDF");
        EVP_KDF_CTX_free(kctx);
    }
}

static void id_ours(void *ctx, uint64_t n)
{
    uint8_t id[32];
    for (uint64_t i = 0; i < n; i++)
        if (cs_key_id(ctx, id) != CONSORT_OK)
            bench_die("key id");
}

static void id_openssl(void *ctx, uint64_t n)
{
    EVP_PKEY *pkey = cs_key_pkey(ctx);
    for (uint64_t i = 0; i < n; i++) {
        unsigned char *der = NULL;
        int len = i2d_PUBKEY(pkey, &der);
        if (len <= 0)
            bench_die("i2d_PUBKEY");
        uint8_t id[32];
        cs_sha256(CS_SLICE(der, (size_t)len), id);
        OPENSSL_free(der);
    }
}

void bench_derive(void)
{
    double ours, raw;
    bench_pair(ce_ours, NULL, &ours, ce_openssl, NULL, &raw);
    bench_table_row("commit evidence (HKDF-SHA256), per tx", ours, "EVP_KDF HKDF-SHA256", raw);
    cs_key *key = NULL;
    if (cs_key_generate(CS_CURVE_P256, &key) != CONSORT_OK)
        bench_die("key");
    bench_pair(id_ours, key, &ours, id_openssl, key, &raw);
    bench_table_row("key id (kept), per signature entry", ours, "i2d_PUBKEY + SHA-256", raw);
    cs_key_free(key);
}
