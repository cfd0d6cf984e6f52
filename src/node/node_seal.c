/*
 * Sealed state (node.md "Identities and sealed state"): the node's secrets,
 * encrypted under a key only this code on this platform can derive, in
 * data_dir/sealed/sealed.bin.
 *
 * Sealing key, virtual platform: HKDF-SHA256(ikm = the platform private
 * key's PKCS#8 DER, salt = code id, info = "consort sealing v1") (RFC 5869).
 * Another binary or app module (another code id) or another platform
 * derives another key and cannot unseal.
 * Sealing key, TPM platform (node_tpm.c, attest/tpm_seal.h): TPM2_HMAC with
 * a primary HMAC key of the TPM's owner hierarchy over "consort sealing v1"
 * || code id: another TPM, or another code id, cannot unseal.
 *
 * File: "CSSEAL02" || nonce (12 random bytes) || AES-256-GCM(ciphertext ||
 * tag) with aad = the magic. Plaintext: CBOR map, text keys in this order
 *   {"node_key": bstr (PKCS#8 PEM), "raft_id": uint,
 *    "service_key": bstr PEM / null, "service_cert": bstr DER / null,
 *    "node_cert": bstr DER / null, "ledger_secret": bstr 32 / null,
 *    "hwm": uint, "genesis": bstr / null}
 * The certificates are sealed too, so a host cannot swap the public copies
 * (node_cert.pem, service_cert.pem) to change what the node trusts.
 *
 * Service facts (docs/security.md "Host storage"): a node that holds a
 * ledger secret belongs to a service, and only the start that created its
 * identity may bootstrap raft or run genesis. "genesis" holds the policy of
 * a service this node created and has not committed yet (node_leader.c),
 * read from the configuration once, at that first start; "hwm" is the
 * highest signature seqno the node knows its ledger durably holds (updated
 * at genesis and at every snapshot): a ledger found shorter at start was
 * rolled back, and the node refuses it.
 */
#include "node/node_priv.h"
#include "node/node_tpm.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "base/file.h"
#include "crypto/aead.h"
#include "crypto/b64.h"
#include "crypto/rand.h"

#include <string.h>

#define SEAL_MAGIC "CSSEAL02"
#define SEAL_MAX   ((size_t)64 << 10)
#define SEAL_INFO  "consort sealing v1"

/* The DER inside a PEM text (header, footer and line breaks removed). */
static consort_err pem_body_der(cs_slice pem, cs_buf *der)
{
    cs_buf b64;
    cs_buf_init_secret(&b64, pem.len);
    consort_err rc = CONSORT_OK;
    bool in_body = false;
    size_t i = 0;
    while (i < pem.len && rc == CONSORT_OK) {
        size_t j = i;
        while (j < pem.len && pem.ptr[j] != '\n')
            j++;
        cs_slice line = CS_SLICE(pem.ptr + i, j - i);
        if (line.len > 0 && line.ptr[line.len - 1] == '\r')
            line.len--;
        if (line.len >= 5 && memcmp(line.ptr, "-----", 5) == 0)
            in_body = !in_body;
        else if (in_body)
            rc = cs_buf_append_slice(&b64, line);
        i = j + 1;
    }
    if (rc == CONSORT_OK)
        rc = cs_b64_decode(cs_buf_slice(&b64), der);
    cs_buf_cleanup(&b64);
    return rc;
}

consort_err node_seal_derive_key(cs_node *n)
{
    if (n->cfg.platform == CS_PLATFORM_TPM)
        return node_tpm_seal_key(n, CS_SLICE_LIT(SEAL_INFO));
    CS_ENSURE(n->cfg.platform == CS_PLATFORM_VIRTUAL, CONSORT_E_UNSUPPORTED,
              "sealing: platform %s has no sealing key (only \"virtual\" and \"tpm\")",
              cs_platform_name(n->cfg.platform));
    char path[CS_NODE_PATH_MAX + 32];
    CS_TRY(cs_path_join(path, sizeof path, n->cfg.platform_dir, CS_VIRTUAL_KEY_FILE));
    cs_key *pk;
    CS_TRY_CTX(cs_key_load_pem_file(path, &pk), "sealing key");
    cs_buf pem, der;
    cs_buf_init_secret(&pem, 16 << 10);
    cs_buf_init_secret(&der, 16 << 10);
    consort_err rc = cs_key_private_pem(pk, &pem);
    if (rc == CONSORT_OK)
        rc = pem_body_der(cs_buf_slice(&pem), &der);
    if (rc == CONSORT_OK)
        rc = cs_hkdf_sha256(cs_buf_slice(&der), CS_SLICE(n->code_id, 32), CS_SLICE_LIT(SEAL_INFO),
                            n->seal_key, sizeof n->seal_key);
    cs_buf_cleanup(&pem);
    cs_buf_cleanup(&der);
    cs_key_free(pk);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "sealing key");
}

static consort_err sealed_path(const cs_node *n, char *out, size_t len)
{
    char dir[CS_NODE_PATH_MAX + 16];
    CS_TRY(cs_path_join(dir, sizeof dir, n->cfg.data_dir, "sealed"));
    CS_TRY(cs_mkdir_p(dir, 0700));
    return cs_path_join(out, len, dir, "sealed.bin");
}

static consort_err write_opt_bytes(cs_buf *b, const char *key, cs_slice v, bool present)
{
    CS_TRY(cs_cbor_write_cstr(b, key));
    return present ? cs_cbor_write_bytes(b, v) : cs_cbor_write_null(b);
}

static consort_err cert_der(const cs_x509 *c, cs_buf *out)
{
    return c != NULL ? cs_x509_to_der(c, out) : CONSORT_OK;
}

static consort_err encode_plain(cs_node *n, cs_buf *plain)
{
    cs_buf nk, sk, sc, nc;
    cs_buf_init_secret(&nk, 16 << 10);
    cs_buf_init_secret(&sk, 16 << 10);
    cs_buf_init(&sc, 16 << 10);
    cs_buf_init(&nc, 16 << 10);
    consort_err rc = cs_key_private_pem(n->node_key, &nk);
    if (rc == CONSORT_OK && n->service_key != NULL)
        rc = cs_key_private_pem(n->service_key, &sk);
    if (rc == CONSORT_OK)
        rc = cert_der(n->service_cert, &sc);
    if (rc == CONSORT_OK)
        rc = cert_der(n->node_cert, &nc);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_map(plain, 8);
    if (rc == CONSORT_OK)
        rc = write_opt_bytes(plain, "node_key", cs_buf_slice(&nk), true);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(plain, "raft_id");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_uint(plain, n->raft_id);
    if (rc == CONSORT_OK)
        rc = write_opt_bytes(plain, "service_key", cs_buf_slice(&sk), n->service_key != NULL);
    if (rc == CONSORT_OK)
        rc = write_opt_bytes(plain, "service_cert", cs_buf_slice(&sc), n->service_cert != NULL);
    if (rc == CONSORT_OK)
        rc = write_opt_bytes(plain, "node_cert", cs_buf_slice(&nc), n->node_cert != NULL);
    if (rc == CONSORT_OK)
        rc = write_opt_bytes(plain, "ledger_secret", CS_SLICE(n->ledger_secret, 32), n->has_secret);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(plain, "hwm");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_uint(plain, n->hwm);
    if (rc == CONSORT_OK)
        rc = write_opt_bytes(plain, "genesis", cs_buf_slice(&n->genesis), n->genesis.len > 0);
    cs_buf_cleanup(&nk);
    cs_buf_cleanup(&sk);
    cs_buf_cleanup(&sc);
    cs_buf_cleanup(&nc);
    return rc;
}

consort_err node_seal_save(cs_node *n)
{
    char path[CS_NODE_PATH_MAX + 32];
    CS_TRY_CTX(sealed_path(n, path, sizeof path), "sealed state");
    cs_buf plain, file;
    cs_buf_init_secret(&plain, SEAL_MAX);
    cs_buf_init(&file, SEAL_MAX + 64);
    uint8_t nonce[CS_AEAD_NONCE_LEN];
    consort_err rc = encode_plain(n, &plain);
    if (rc == CONSORT_OK)
        rc = cs_random(nonce, sizeof nonce);
    if (rc == CONSORT_OK)
        rc = cs_buf_append(&file, SEAL_MAGIC, 8);
    if (rc == CONSORT_OK)
        rc = cs_buf_append(&file, nonce, sizeof nonce);
    if (rc == CONSORT_OK)
        rc =
            cs_aead_seal(n->seal_key, nonce, CS_SLICE_LIT(SEAL_MAGIC), cs_buf_slice(&plain), &file);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(path, cs_buf_slice(&file), 0600);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&file);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "sealing %s", path);
}

/* Reads one "key": value pair whose value is a byte string or null. */
static consort_err read_opt_bytes(cs_cbor_reader *r, const char *key, cs_slice *out, bool *present)
{
    cs_slice k;
    CS_TRY(cs_cbor_read_text(r, &k));
    CS_ENSURE(cs_slice_eq(k, cs_slice_str(key)), CONSORT_E_CORRUPT,
              "sealed state: member \"%.*s\" where \"%s\" was expected", (int)k.len,
              (const char *)k.ptr, key);
    cs_cbor_item it;
    CS_TRY(cs_cbor_peek(r, &it));
    *present = it.type != CS_CBOR_NULL;
    if (!*present)
        return cs_cbor_read_null(r);
    return cs_cbor_read_bytes(r, out);
}

static consort_err decode_plain(cs_node *n, cs_slice plain)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, plain);
    uint64_t pairs;
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_ENSURE(pairs == 8, CONSORT_E_CORRUPT, "sealed state: %llu members, expected 8",
              (unsigned long long)pairs);
    cs_slice nk, sk, sc, nc, secret, k, genesis;
    bool has_nk, has_sk, has_sc, has_nc, has_secret, has_genesis;
    uint64_t hwm;
    CS_TRY(read_opt_bytes(&r, "node_key", &nk, &has_nk));
    CS_ENSURE(has_nk, CONSORT_E_CORRUPT, "sealed state: no node key");
    CS_TRY(cs_cbor_read_text(&r, &k));
    CS_ENSURE(cs_slice_eq(k, CS_SLICE_LIT("raft_id")), CONSORT_E_CORRUPT,
              "sealed state: raft_id expected");
    uint64_t raft_id;
    CS_TRY(cs_cbor_read_uint(&r, &raft_id));
    CS_TRY(read_opt_bytes(&r, "service_key", &sk, &has_sk));
    CS_TRY(read_opt_bytes(&r, "service_cert", &sc, &has_sc));
    CS_TRY(read_opt_bytes(&r, "node_cert", &nc, &has_nc));
    CS_TRY(read_opt_bytes(&r, "ledger_secret", &secret, &has_secret));
    CS_TRY(cs_cbor_read_text(&r, &k));
    CS_ENSURE(cs_slice_eq(k, CS_SLICE_LIT("hwm")), CONSORT_E_CORRUPT, "sealed state: hwm expected");
    CS_TRY(cs_cbor_read_uint(&r, &hwm));
    CS_TRY(read_opt_bytes(&r, "genesis", &genesis, &has_genesis));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_ENSURE(!has_secret || secret.len == CS_LEDGER_SECRET_LEN, CONSORT_E_CORRUPT,
              "sealed state: ledger secret of %zu bytes", secret.len);
    CS_TRY(cs_key_from_pem(nk, &n->node_key));
    CS_TRY(node_identity_derive(n));
    CS_ENSURE(raft_id == n->raft_id, CONSORT_E_CORRUPT,
              "sealed state: raft id %llu does not belong to the node key (%llu)",
              (unsigned long long)raft_id, (unsigned long long)n->raft_id);
    if (has_sk)
        CS_TRY(cs_key_from_pem(sk, &n->service_key));
    if (has_sc)
        CS_TRY(cs_x509_from_der(sc, &n->service_cert));
    if (has_nc)
        CS_TRY(cs_x509_from_der(nc, &n->node_cert));
    if (has_secret)
        node_keys_set(n, secret.ptr);
    n->hwm = hwm;
    cs_buf_reset(&n->genesis);
    if (has_genesis)
        CS_TRY(cs_buf_set(&n->genesis, genesis));
    return CONSORT_OK;
}

consort_err node_seal_load(cs_node *n)
{
    char path[CS_NODE_PATH_MAX + 32];
    CS_TRY_CTX(sealed_path(n, path, sizeof path), "sealed state");
    if (!cs_file_exists(path))
        return CONSORT_E_NOT_FOUND;
    cs_buf file, plain;
    cs_buf_init(&file, SEAL_MAX + 64);
    cs_buf_init_secret(&plain, SEAL_MAX);
    consort_err rc = cs_file_read(path, &file);
    cs_cursor c;
    cs_cursor_init(&c, cs_buf_slice(&file));
    cs_slice magic = CS_SLICE_EMPTY, nonce = CS_SLICE_EMPTY;
    if (rc == CONSORT_OK)
        rc = cs_cursor_read_slice(&c, 8, &magic);
    if (rc == CONSORT_OK && cs_slice_eq(magic, CS_SLICE_LIT("CSSEAL01")))
        rc = cs_fail(CONSORT_E_UNSUPPORTED, "sealed state version 1 (before ledger format 2): "
                                            "this node cannot be upgraded in place; start it "
                                            "with a fresh data directory and join the service");
    else if (rc == CONSORT_OK && !cs_slice_eq(magic, CS_SLICE_LIT(SEAL_MAGIC)))
        rc = cs_fail(CONSORT_E_CORRUPT, "not a sealed state file (magic)");
    if (rc == CONSORT_OK)
        rc = cs_cursor_read_slice(&c, CS_AEAD_NONCE_LEN, &nonce);
    if (rc == CONSORT_OK) {
        rc = cs_aead_open(n->seal_key, nonce.ptr, CS_SLICE_LIT(SEAL_MAGIC), cs_cursor_rest(&c),
                          &plain);
        if (rc == CONSORT_E_BAD_TAG)
            rc = cs_fail(CONSORT_E_BAD_TAG, "cannot unseal: sealed by another code id or "
                                            "platform, or altered");
    }
    if (rc == CONSORT_OK)
        rc = decode_plain(n, cs_buf_slice(&plain));
    if (rc != CONSORT_OK && rc != CONSORT_E_BAD_TAG && rc != CONSORT_E_UNSUPPORTED &&
        consort_err_category_of(rc) == CONSORT_CAT_PROTOCOL)
        rc = cs_err_context(CONSORT_E_CORRUPT, "sealed state");
    cs_buf_cleanup(&file);
    cs_buf_cleanup(&plain);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "%s", path);
}

void node_keys_set(cs_node *n, const uint8_t secret[CS_LEDGER_SECRET_LEN])
{
    if (n->ledger_secret != secret)
        memcpy(n->ledger_secret, secret, CS_LEDGER_SECRET_LEN);
    cs_ledger_keys_cleanup(&n->keys);
    cs_ledger_keys_init(&n->keys, n->ledger_secret);
    n->has_secret = true;
}

consort_err node_seal_hwm(cs_node *n, uint64_t seqno)
{
    if (seqno <= n->hwm)
        return CONSORT_OK;
    uint64_t old = n->hwm;
    n->hwm = seqno;
    consort_err rc = node_seal_save(n);
    if (rc != CONSORT_OK)
        n->hwm = old;
    return rc;
}
