/*
 * Sealed blobs (seal.h): encoding, header parsing and the policy checks of
 * docs/migration.md §2. Keys come from the key cache (seal_keys.c).
 */
#include "sealing/seal_priv.h"

#include "crypto/hash.h"

#include <string.h>

void cs_seal_lineage_label(uint8_t out[32])
{
    cs_sha256(CS_SLICE_LIT("consort lineage v1"), out);
}

static consort_err check_counter_name(cs_slice name)
{
    CS_ENSURE(name.len >= 1 && name.len <= CS_SEAL_MAX_COUNTER_NAME, CONSORT_E_INVALID_ARGUMENT,
              "sealed blob: counter name of %zu bytes, expected 1 to %d", name.len,
              CS_SEAL_MAX_COUNTER_NAME);
    CS_ENSURE(cs_seal_printable(name.ptr, name.len), CONSORT_E_INVALID_ARGUMENT,
              "sealed blob: counter name is not printable ASCII");
    return CONSORT_OK;
}

static consort_err check_params(const cs_seal_params *p, cs_slice plain)
{
    CS_ENSURE(p->policy == CS_SEAL_POLICY_CODE || p->policy == CS_SEAL_POLICY_LINEAGE,
              CONSORT_E_INVALID_ARGUMENT, "seal: policy %d, expected 1 (code) or 2 (lineage)",
              (int)p->policy);
    CS_ENSURE(p->code_id != NULL, CONSORT_E_INVALID_ARGUMENT, "seal: no code id");
    CS_ENSURE(p->policy == CS_SEAL_POLICY_LINEAGE || p->successor_count == 0,
              CONSORT_E_INVALID_ARGUMENT, "seal: policy code lists no successors (%zu given)",
              p->successor_count);
    CS_ENSURE(p->successor_count <= CS_SEAL_MAX_SUCCESSORS, CONSORT_E_INVALID_ARGUMENT,
              "seal: %zu successors, at most %d", p->successor_count, CS_SEAL_MAX_SUCCESSORS);
    if (p->counter_name != NULL)
        CS_TRY_CTX(check_counter_name(cs_slice_str(p->counter_name)), "seal");
    else
        CS_ENSURE(p->counter_value == 0, CONSORT_E_INVALID_ARGUMENT,
                  "seal: counter value %llu without a counter name",
                  (unsigned long long)p->counter_value);
    CS_ENSURE(plain.len <= CS_SEAL_MAX_PLAIN, CONSORT_E_TOO_LARGE,
              "seal: plaintext of %zu bytes, at most %zu", plain.len, CS_SEAL_MAX_PLAIN);
    return CONSORT_OK;
}

consort_err cs_seal_with(cs_seal_keycache *kc, const cs_seal_params *p, cs_slice plain, cs_buf *out)
{
    CS_TRY(check_params(p, plain));
    uint8_t nonce[CS_AEAD_NONCE_LEN];
    CS_TRY(cs_seal_keycache_nonce(kc, nonce));
    cs_aead_key *key;
    CS_TRY(cs_seal_keycache_key(kc, p->policy, p->code_id, &key));
    size_t start = out->len;
    /* reserve all of it first: the header is written into the room, and the
     * associated data below points into `out` */
    _Static_assert(CS_SEAL_HEADER_MAX + CS_AEAD_TAG_LEN <= CS_SEAL_OVERHEAD, "header room");
    consort_err rc = cs_buf_reserve(out, CS_SEAL_OVERHEAD + plain.len);
    if (rc == CONSORT_OK) {
        size_t aad_len = cs_seal_write_header(p, nonce, plain.len, out);
        rc = cs_aead_key_seal(key, nonce, CS_SLICE(out->ptr + start, aad_len), plain, out);
    }
    if (rc != CONSORT_OK) {
        out->len = start;
        return cs_err_context(rc, "seal");
    }
    return CONSORT_OK;
}

consort_err cs_seal_peek(cs_slice blob, cs_seal_header *hdr)
{
    cs_seal_parsed p;
    CS_TRY_CTX(cs_seal_parse(blob, hdr, &p), "sealed blob");
    return CONSORT_OK;
}

static bool id_in(const uint8_t *id, const cs_code_id *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(id, list[i].b, CS_SEAL_CODE_ID_LEN) == 0)
            return true;
    return false;
}

static consort_err refuse(const cs_seal_header *h, const cs_seal_opener *o)
{
    char opener[17], sealer[17];
    cs_hex_encode(CS_SLICE(o->code_id, 8), opener);
    cs_hex_encode(CS_SLICE(h->sealer_code_id, 8), sealer);
    if (h->policy == CS_SEAL_POLICY_CODE)
        return cs_fail(CONSORT_E_POLICY, "policy code: sealed by code %s..., opener is code %s...",
                       sealer, opener);
    return cs_fail(CONSORT_E_POLICY,
                   "policy lineage: opener code %s... is not the sealer %s..., not one of its %zu "
                   "successors, and the sealer is not one of the opener's %zu ancestors",
                   opener, sealer, h->successor_count, o->ancestor_count);
}

/* §2: who may open. Code ids are public: plain comparisons. */
static consort_err admit(const cs_seal_header *h, const cs_seal_opener *o)
{
    bool same = memcmp(o->code_id, h->sealer_code_id, CS_SEAL_CODE_ID_LEN) == 0;
    if (same || (h->policy == CS_SEAL_POLICY_LINEAGE &&
                 (id_in(o->code_id, h->successors, h->successor_count) ||
                  id_in(h->sealer_code_id, o->ancestors, o->ancestor_count))))
        return CONSORT_OK;
    return refuse(h, o);
}

consort_err cs_unseal_with(cs_seal_keycache *kc, const cs_seal_opener *o, cs_slice blob,
                           cs_seal_header *hdr, cs_buf *plain_out)
{
    cs_seal_header local;
    cs_seal_header *h = hdr != NULL ? hdr : &local;
    CS_ENSURE(o->code_id != NULL, CONSORT_E_INVALID_ARGUMENT, "unseal: no code id");
    cs_seal_parsed p;
    CS_TRY_CTX(cs_seal_parse(blob, h, &p), "sealed blob");
    CS_TRY_CTX(admit(h, o), "sealed blob");
    /* policy code: the key of the OPENER's code id (another code derives
     * another key even if the check above were skipped) */
    const uint8_t *binding_id = h->policy == CS_SEAL_POLICY_CODE ? o->code_id : h->sealer_code_id;
    cs_aead_key *key;
    CS_TRY(cs_seal_keycache_key(kc, h->policy, binding_id, &key));
    CS_TRY_CTX(cs_aead_key_open(key, p.nonce, p.aad, p.sealed, plain_out),
               "sealed blob (policy %s, %zu bytes)",
               h->policy == CS_SEAL_POLICY_CODE ? "code" : "lineage", blob.len);
    return CONSORT_OK;
}

consort_err cs_seal(const uint8_t root[CS_SEAL_ROOT_LEN], const cs_seal_params *p, cs_slice plain,
                    cs_buf *out)
{
    cs_seal_keycache *kc;
    CS_TRY(cs_seal_keycache_new(root, &kc));
    consort_err rc = cs_seal_with(kc, p, plain, out);
    cs_seal_keycache_free(kc);
    return rc;
}

consort_err cs_unseal(const uint8_t root[CS_SEAL_ROOT_LEN], const cs_seal_opener *o, cs_slice blob,
                      cs_seal_header *hdr, cs_buf *plain_out)
{
    cs_seal_keycache *kc;
    CS_TRY(cs_seal_keycache_new(root, &kc));
    consort_err rc = cs_unseal_with(kc, o, blob, hdr, plain_out);
    cs_seal_keycache_free(kc);
    return rc;
}
