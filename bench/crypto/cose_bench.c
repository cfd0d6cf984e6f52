/*
 * COSE_Sign1 rates (src/crypto/cose.h) beside raw OpenSSL ECDSA: one
 * EVP_DigestSign / EVP_DigestVerify with the same curve and hash over a
 * message as long as the COSE Sig_structure (RFC 9052 §4.4) that consort
 * signs. The COSE message is shaped like a receipt signature (DESIGN.md):
 * protected {1: alg, 4: kid, 395: 1}, detached 32-byte payload (a Merkle
 * root). "verify" includes decoding the message bytes, as a verifier must.
 */
#include "bench.h"

#include "crypto/cose.h"
#include "crypto/key.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

typedef struct cose_ctx {
    cs_key *key; /* private, for signing */
    cs_key *pub; /* public only, for verifying */
    cs_cose_sign1_params params;
    cs_cose_param prot[2];
    uint8_t kid[32];
    uint8_t root[32];
    cs_buf out;     /* reused output of sign */
    cs_buf message; /* one signed message, for verify */
} cose_ctx;

typedef struct raw_ctx {
    EVP_PKEY *key; /* private */
    EVP_PKEY *pub; /* public only */
    const EVP_MD *md;
    EVP_MD_CTX *mctx;
    uint8_t msg[512];
    size_t msg_len;
    uint8_t sig[160]; /* DER */
    size_t sig_len;
} raw_ctx;

static void cose_sign(void *ctx, uint64_t n)
{
    cose_ctx *c = ctx;
    for (uint64_t i = 0; i < n; i++) {
        cs_buf_reset(&c->out);
        if (cs_cose_sign1_sign(c->key, &c->params, &c->out) != CONSORT_OK)
            bench_die("cs_cose_sign1_sign");
    }
}

static void cose_verify(void *ctx, uint64_t n)
{
    cose_ctx *c = ctx;
    cs_slice payload = CS_SLICE(c->root, sizeof c->root);
    cs_cose_verify_opts opts = {.detached_payload = &payload};
    for (uint64_t i = 0; i < n; i++) {
        cs_cose_sign1 msg;
        if (cs_cose_sign1_decode(cs_buf_slice(&c->message), &msg) != CONSORT_OK ||
            cs_cose_sign1_verify(&msg, c->pub, &opts) != CONSORT_OK)
            bench_die("cs_cose_sign1_verify");
    }
}

static void raw_sign(void *ctx, uint64_t n)
{
    raw_ctx *r = ctx;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = sizeof r->sig;
        if (EVP_DigestSignInit(r->mctx, NULL, r->md, NULL, r->key) != 1 ||
            EVP_DigestSign(r->mctx, r->sig, &len, r->msg, r->msg_len) != 1)
            bench_die("EVP_DigestSign");
        r->sig_len = len;
    }
}

static void raw_verify(void *ctx, uint64_t n)
{
    raw_ctx *r = ctx;
    for (uint64_t i = 0; i < n; i++) {
        if (EVP_DigestVerifyInit(r->mctx, NULL, r->md, NULL, r->pub) != 1 ||
            EVP_DigestVerify(r->mctx, r->sig, r->sig_len, r->msg, r->msg_len) != 1)
            bench_die("EVP_DigestVerify");
    }
}

/* The public half of `key` as a key of its own (what a verifier holds). */
static cs_key *public_only(const cs_key *key)
{
    cs_buf der;
    cs_buf_init(&der, 0);
    cs_key *pub = NULL;
    if (cs_key_spki_der(key, &der) != CONSORT_OK ||
        cs_key_from_spki_der(cs_buf_slice(&der), &pub) != CONSORT_OK)
        bench_die("public key");
    cs_buf_cleanup(&der);
    return pub;
}

static EVP_PKEY *raw_public_only(EVP_PKEY *key)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    const unsigned char *p = der;
    EVP_PKEY *pub = len > 0 ? d2i_PUBKEY(NULL, &p, len) : NULL;
    OPENSSL_free(der);
    if (pub == NULL)
        bench_die("raw public key");
    return pub;
}

static void bench_alg(cs_cose_alg alg, cs_curve curve, const char *curve_name, const EVP_MD *md)
{
    cose_ctx c = {0};
    if (cs_key_generate(curve, &c.key) != CONSORT_OK || cs_key_id(c.key, c.kid) != CONSORT_OK)
        bench_die("cs_key_generate");
    c.pub = public_only(c.key);
    memset(c.root, 0x3c, sizeof c.root);
    c.prot[0] = CS_COSE_PARAM_BYTES(CS_COSE_HDR_KID, CS_SLICE(c.kid, sizeof c.kid));
    c.prot[1] = CS_COSE_PARAM_INT(CS_COSE_HDR_VDS, 1); /* RFC9162_SHA256 */
    c.params = (cs_cose_sign1_params){.alg = alg,
                                      .protected_params = c.prot,
                                      .protected_count = 2,
                                      .payload = CS_SLICE(c.root, sizeof c.root),
                                      .detached = true};
    cs_buf_init(&c.out, 0);
    cs_buf_init(&c.message, 0);
    if (cs_cose_sign1_sign(c.key, &c.params, &c.message) != CONSORT_OK)
        bench_die("cs_cose_sign1_sign");

    /* The raw message is as long as the Sig_structure COSE hashes. */
    cs_cose_sign1 decoded;
    cs_slice payload = CS_SLICE(c.root, sizeof c.root);
    cs_cose_verify_opts opts = {.detached_payload = &payload};
    cs_buf tbs;
    cs_buf_init(&tbs, 0);
    if (cs_cose_sign1_decode(cs_buf_slice(&c.message), &decoded) != CONSORT_OK ||
        cs_cose_sign1_tbs(&decoded, &opts, &tbs) != CONSORT_OK)
        bench_die("cs_cose_sign1_tbs");

    raw_ctx r = {.md = md, .msg_len = tbs.len};
    if (r.msg_len > sizeof r.msg)
        bench_die("Sig_structure size");
    memset(r.msg, 0x5a, r.msg_len);
    r.key = EVP_EC_gen(curve_name);
    r.mctx = EVP_MD_CTX_new();
    if (r.key == NULL || r.mctx == NULL)
        bench_die("EVP_EC_gen");
    r.pub = raw_public_only(r.key);
    raw_sign(&r, 1);

    char what[64], raw_what[64];
    double ours, raw;
    const char *name = cs_cose_alg_name(alg);
    snprintf(raw_what, sizeof raw_what, "EVP_DigestSign %s, %zu B", curve_name, r.msg_len);
    snprintf(what, sizeof what, "COSE_Sign1 %s sign", name);
    bench_pair(cose_sign, &c, &ours, raw_sign, &r, &raw);
    bench_table_row(what, ours, raw_what, raw);
    snprintf(what, sizeof what, "COSE_Sign1 %s sign / raw ECDSA sign", name);
    bench_goal(what, ours / raw, 0.9, "%");

    snprintf(raw_what, sizeof raw_what, "EVP_DigestVerify %s, %zu B", curve_name, r.msg_len);
    snprintf(what, sizeof what, "COSE_Sign1 %s decode + verify", name);
    bench_pair(cose_verify, &c, &ours, raw_verify, &r, &raw);
    bench_table_row(what, ours, raw_what, raw);
    snprintf(what, sizeof what, "COSE_Sign1 %s verify / raw ECDSA verify", name);
    bench_goal(what, ours / raw, 0.9, "%");

    EVP_MD_CTX_free(r.mctx);
    EVP_PKEY_free(r.key);
    EVP_PKEY_free(r.pub);
    cs_buf_cleanup(&tbs);
    cs_buf_cleanup(&c.out);
    cs_buf_cleanup(&c.message);
    cs_key_free(c.key);
    cs_key_free(c.pub);
}

void bench_cose(void)
{
    bench_alg(CS_COSE_ES256, CS_CURVE_P256, "P-256", EVP_sha256());
    bench_alg(CS_COSE_ES384, CS_CURVE_P384, "P-384", EVP_sha384());
}
