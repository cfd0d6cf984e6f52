/*
 * The vault's sealed state (vault.h): the node's secrets, kept as the
 * payload of the node's sealed store (node_seal.h: sealed under the
 * platform's lineage root for this code and the successors governance
 * approved, bound to the platform's monotonic counter).
 *
 * Payload: CBOR map, text keys in this order
 *   {"node_key": bstr (PKCS#8 PEM), "raft_id": uint,
 *    "service_key": bstr PEM / null, "service_cert": bstr DER / null,
 *    "node_cert": bstr DER / null, "ledger_secret": bstr 32 / null,
 *    "hwm": uint, "genesis": bstr / null,
 *    "previous": [* [bstr DER, uint]] (a recovered or recovering service:
 *                 the identities it succeeded and their last seqnos,
 *                 vault_recover.c; absent otherwise)}
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
#include "node/vault_priv.h"

#include "base/alloc.h"
#include "base/cbor.h"

#include <string.h>

#define SEAL_MAX ((size_t)64 << 10)

static consort_err write_opt_bytes(cs_buf *b, const char *key, cs_slice v, bool present)
{
    CS_TRY(cs_cbor_write_cstr(b, key));
    return present ? cs_cbor_write_bytes(b, v) : cs_cbor_write_null(b);
}

static consort_err cert_der(const cs_x509 *c, cs_buf *out)
{
    return c != NULL ? cs_x509_to_der(c, out) : CONSORT_OK;
}

static consort_err encode_previous(const node_vault *v, cs_buf *plain)
{
    cs_buf der;
    cs_buf_init(&der, 16 << 10);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(plain, "previous"), out);
    CS_TRY_GOTO(rc, cs_cbor_write_array(plain, v->prev_count), out);
    for (size_t i = 0; i < v->prev_count; i++) {
        cs_buf_reset(&der);
        CS_TRY_GOTO(rc, cs_x509_to_der(v->prev_cert[i], &der), out);
        CS_TRY_GOTO(rc, cs_cbor_write_array(plain, 2), out);
        CS_TRY_GOTO(rc, cs_cbor_write_bytes(plain, cs_buf_slice(&der)), out);
        CS_TRY_GOTO(rc, cs_cbor_write_uint(plain, v->prev_last[i]), out);
    }
out:
    cs_buf_cleanup(&der);
    return rc;
}

static consort_err decode_previous(node_vault *v, cs_cbor_reader *r)
{
    uint64_t count;
    CS_TRY_CTX(cs_cbor_read_key(r, "previous"), "sealed state");
    CS_TRY(cs_cbor_read_array(r, &count));
    CS_ENSURE(count >= 1 && count <= NODE_VAULT_PREV_MAX, CONSORT_E_CORRUPT,
              "sealed state: %llu previous identities", (unsigned long long)count);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t two;
        cs_slice der;
        CS_TRY(cs_cbor_read_array(r, &two));
        CS_ENSURE(two == 2, CONSORT_E_CORRUPT, "sealed state: a previous identity of %llu items",
                  (unsigned long long)two);
        CS_TRY(cs_cbor_read_bytes(r, &der));
        CS_TRY(cs_cbor_read_uint(r, &v->prev_last[i]));
        CS_TRY(cs_x509_from_der(der, &v->prev_cert[i]));
        v->prev_count++;
    }
    return CONSORT_OK;
}

/* `key`'s private PEM into `out`: encoded again only for another key. */
static consort_err key_pem(const node_vault *v, size_t slot, cs_key *key, cs_buf *out)
{
    vault_pem *c = v->pems != NULL ? &v->pems[slot] : NULL;
    if (c == NULL || c->key != key) {
        CS_TRY(cs_key_private_pem(key, out));
        if (c != NULL) {
            cs_key_free(c->key);
            c->key = NULL; /* kept only once the PEM is */
            if (cs_buf_set(&c->pem, cs_buf_slice(out)) == CONSORT_OK)
                c->key = cs_key_ref(key);
            cs_err_clear();
        }
        return CONSORT_OK;
    }
    return cs_buf_set(out, cs_buf_slice(&c->pem));
}

static consort_err encode_fields(const node_vault *v, cs_buf *plain, cs_buf *nk, cs_buf *sk,
                                 cs_buf *sc, cs_buf *nc)
{
    CS_TRY(key_pem(v, 0, v->node_key, nk));
    if (v->service_key != NULL)
        CS_TRY(key_pem(v, 1, v->service_key, sk));
    CS_TRY(cert_der(v->service_cert, sc));
    CS_TRY(cert_der(v->node_cert, nc));
    CS_TRY(cs_cbor_write_map(plain, v->prev_count > 0 ? 9 : 8));
    CS_TRY(write_opt_bytes(plain, "node_key", cs_buf_slice(nk), true));
    CS_TRY(cs_cbor_write_cstr(plain, "raft_id"));
    CS_TRY(cs_cbor_write_uint(plain, v->raft_id));
    CS_TRY(write_opt_bytes(plain, "service_key", cs_buf_slice(sk), v->service_key != NULL));
    CS_TRY(write_opt_bytes(plain, "service_cert", cs_buf_slice(sc), v->service_cert != NULL));
    CS_TRY(write_opt_bytes(plain, "node_cert", cs_buf_slice(nc), v->node_cert != NULL));
    CS_TRY(write_opt_bytes(plain, "ledger_secret", CS_SLICE(v->secret, 32), v->has_secret));
    CS_TRY(cs_cbor_write_cstr(plain, "hwm"));
    CS_TRY(cs_cbor_write_uint(plain, v->hwm));
    CS_TRY(write_opt_bytes(plain, "genesis", cs_buf_slice(&v->genesis), v->genesis.len > 0));
    return v->prev_count > 0 ? encode_previous(v, plain) : CONSORT_OK;
}

consort_err node_vault_encode(const node_vault *v, cs_buf *plain)
{
    cs_buf nk, sk, sc, nc;
    cs_buf_init_secret(&nk, 16 << 10);
    cs_buf_init_secret(&sk, 16 << 10);
    cs_buf_init(&sc, 16 << 10);
    cs_buf_init(&nc, 16 << 10);
    consort_err rc = encode_fields(v, plain, &nk, &sk, &sc, &nc);
    cs_buf_cleanup(&nk);
    cs_buf_cleanup(&sk);
    cs_buf_cleanup(&sc);
    cs_buf_cleanup(&nc);
    return rc;
}

/* The cache of key_pem, kept by the vaults that are saved (node_vault_encode
 * alone, as the fuzz targets use it, encodes every time). */
static consort_err pems_init(node_vault *v)
{
    if (v->pems != NULL)
        return CONSORT_OK;
    v->pems = cs_calloc(2, sizeof *v->pems);
    CS_ENSURE(v->pems != NULL, CONSORT_E_NOMEM, "vault: out of memory");
    for (size_t i = 0; i < 2; i++)
        cs_buf_init_secret(&v->pems[i].pem, 16 << 10);
    return CONSORT_OK;
}

consort_err node_vault_save(node_vault *v)
{
    CS_ENSURE(v->seal != NULL, CONSORT_E_STATE, "sealing: no sealed store");
    CS_TRY(pems_init(v));
    cs_buf plain;
    cs_buf_init_secret(&plain, SEAL_MAX);
    consort_err rc = node_vault_encode(v, &plain);
    if (rc == CONSORT_OK)
        rc = node_seal_set_payload(v->seal, cs_buf_slice(&plain));
    cs_buf_cleanup(&plain);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "sealing the node's state");
}

/* Reads one "key": value pair whose value is a byte string or null. */
static consort_err read_opt_bytes(cs_cbor_reader *r, const char *key, cs_slice *out, bool *present)
{
    CS_TRY_CTX(cs_cbor_read_key(r, key), "sealed state");
    cs_cbor_item it;
    CS_TRY(cs_cbor_peek(r, &it));
    *present = it.type != CS_CBOR_NULL;
    if (!*present)
        return cs_cbor_read_null(r);
    return cs_cbor_read_bytes(r, out);
}

consort_err node_vault_decode(node_vault *v, cs_slice plain)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, plain);
    uint64_t pairs;
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_ENSURE(pairs == 8 || pairs == 9, CONSORT_E_CORRUPT,
              "sealed state: %llu members, expected 8 or 9", (unsigned long long)pairs);
    cs_slice nk, sk, sc, nc, secret, genesis;
    bool has_nk, has_sk, has_sc, has_nc, has_secret, has_genesis;
    uint64_t hwm;
    CS_TRY(read_opt_bytes(&r, "node_key", &nk, &has_nk));
    CS_ENSURE(has_nk, CONSORT_E_CORRUPT, "sealed state: no node key");
    CS_TRY_CTX(cs_cbor_read_key(&r, "raft_id"), "sealed state");
    uint64_t raft_id;
    CS_TRY(cs_cbor_read_uint(&r, &raft_id));
    CS_TRY(read_opt_bytes(&r, "service_key", &sk, &has_sk));
    CS_TRY(read_opt_bytes(&r, "service_cert", &sc, &has_sc));
    CS_TRY(read_opt_bytes(&r, "node_cert", &nc, &has_nc));
    CS_TRY(read_opt_bytes(&r, "ledger_secret", &secret, &has_secret));
    CS_TRY_CTX(cs_cbor_read_key(&r, "hwm"), "sealed state");
    CS_TRY(cs_cbor_read_uint(&r, &hwm));
    CS_TRY(read_opt_bytes(&r, "genesis", &genesis, &has_genesis));
    if (pairs == 9)
        CS_TRY(decode_previous(v, &r));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_ENSURE(!has_secret || secret.len == CS_LEDGER_SECRET_LEN, CONSORT_E_CORRUPT,
              "sealed state: ledger secret of %zu bytes", secret.len);
    CS_TRY(cs_key_from_pem(nk, &v->node_key));
    CS_TRY(vault_derive_ids(v));
    CS_ENSURE(raft_id == v->raft_id, CONSORT_E_CORRUPT,
              "sealed state: raft id %llu does not belong to the node key (%llu)",
              (unsigned long long)raft_id, (unsigned long long)v->raft_id);
    if (has_sk)
        CS_TRY(cs_key_from_pem(sk, &v->service_key));
    if (has_sc)
        CS_TRY(cs_x509_from_der(sc, &v->service_cert));
    if (has_nc)
        CS_TRY(cs_x509_from_der(nc, &v->node_cert));
    if (has_secret) {
        memcpy(v->secret, secret.ptr, CS_LEDGER_SECRET_LEN);
        v->has_secret = true;
    }
    v->hwm = hwm;
    cs_buf_reset(&v->genesis);
    if (has_genesis)
        CS_TRY(cs_buf_set(&v->genesis, genesis));
    return CONSORT_OK;
}

consort_err node_vault_load(node_vault *v)
{
    CS_ENSURE(v->seal != NULL, CONSORT_E_STATE, "sealed state: no sealed store");
    cs_buf plain;
    cs_buf_init_secret(&plain, SEAL_MAX);
    consort_err rc = node_seal_payload(v->seal, &plain);
    if (rc == CONSORT_OK)
        rc = node_vault_decode(v, cs_buf_slice(&plain));
    if (rc != CONSORT_OK && rc != CONSORT_E_NOT_FOUND &&
        consort_err_category_of(rc) == CONSORT_CAT_PROTOCOL)
        rc = cs_err_context(CONSORT_E_CORRUPT, "sealed state");
    cs_buf_cleanup(&plain);
    return rc;
}

consort_err node_vault_raise_hwm_later(node_vault *v, uv_loop_t *loop, uint64_t seqno,
                                       node_seal_done_fn done, void *ctx, bool *queued)
{
    *queued = false;
    CS_ENSURE(v->seal != NULL, CONSORT_E_STATE, "sealing: no sealed store");
    if (seqno <= v->hwm)
        return CONSORT_OK;
    CS_TRY(pems_init(v));
    uint64_t old = v->hwm;
    v->hwm = seqno;
    cs_buf plain;
    cs_buf_init_secret(&plain, SEAL_MAX);
    consort_err rc = node_vault_encode(v, &plain);
    if (rc == CONSORT_OK)
        rc = node_seal_set_payload_later(v->seal, loop, cs_buf_slice(&plain), done, ctx);
    cs_buf_cleanup(&plain);
    *queued = rc == CONSORT_OK;
    if (rc != CONSORT_OK)
        v->hwm = old;
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "sealing the node's state");
}

consort_err node_vault_set_genesis(node_vault *v, cs_slice inputs)
{
    return cs_buf_set(&v->genesis, inputs);
}

cs_slice node_vault_genesis(const node_vault *v)
{
    return cs_buf_slice(&v->genesis);
}

consort_err node_vault_genesis_signed(node_vault *v, uint64_t sig_seqno)
{
    if (v->genesis.len == 0)
        return CONSORT_OK;
    cs_buf saved;
    cs_buf_init(&saved, v->genesis.max);
    cs_buf_move(&saved, &v->genesis);
    cs_buf_init(&v->genesis, saved.max);
    uint64_t old = v->hwm;
    if (sig_seqno > v->hwm)
        v->hwm = sig_seqno;
    consort_err rc = node_vault_save(v);
    if (rc != CONSORT_OK) { /* keep the inputs until sealing succeeds */
        v->hwm = old;
        cs_buf_cleanup(&v->genesis);
        cs_buf_move(&v->genesis, &saved);
    }
    cs_buf_cleanup(&saved);
    return rc;
}
