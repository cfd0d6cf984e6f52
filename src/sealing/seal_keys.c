/*
 * The key cache of sealed blobs (seal.h): a few derived keys, each with its
 * AES key schedule kept (cs_aead_key), and a pool of random nonce bytes.
 *
 *   key(policy, binding) = HKDF-SHA256(ikm = root, salt = binding,
 *                                      info = "consort seal v1" || policy)
 *
 * docs/migration.md §2. The root is wiped when the cache is freed.
 */
#include "sealing/seal_priv.h"

#include "base/alloc.h"
#include "crypto/rand.h"

#include <string.h>

#define CS_SEAL_KEYCACHE_SLOTS 4
/* 85 nonces per refill: one RAND call instead of one per seal */
#define NONCE_POOL (CS_AEAD_NONCE_LEN * 85)

typedef struct slot {
    bool used;
    cs_seal_policy policy;
    uint8_t binding[32];
    cs_aead_key *key;
} slot;

struct cs_seal_keycache {
    uint8_t root[CS_SEAL_ROOT_LEN];
    uint8_t lineage_label[32];
    slot slots[CS_SEAL_KEYCACHE_SLOTS];
    size_t next_victim;
    uint8_t pool[NONCE_POOL];
    size_t pool_pos; /* bytes of `pool` already used */
};

consort_err cs_seal_keycache_new(const uint8_t root[CS_SEAL_ROOT_LEN], cs_seal_keycache **out)
{
    *out = NULL;
    cs_seal_keycache *kc = cs_calloc(1, sizeof *kc);
    CS_ENSURE(kc != NULL, CONSORT_E_NOMEM, "seal key cache: out of memory");
    memcpy(kc->root, root, CS_SEAL_ROOT_LEN);
    cs_seal_lineage_label(kc->lineage_label);
    kc->pool_pos = NONCE_POOL;
    *out = kc;
    return CONSORT_OK;
}

void cs_seal_keycache_free(cs_seal_keycache *kc)
{
    if (kc == NULL)
        return;
    for (size_t i = 0; i < CS_SEAL_KEYCACHE_SLOTS; i++)
        cs_aead_key_free(kc->slots[i].key);
    cs_wipe(kc, sizeof *kc);
    cs_free(kc);
}

static consort_err derive(const cs_seal_keycache *kc, cs_seal_policy policy,
                          const uint8_t binding[32], cs_aead_key **out)
{
    uint8_t info[sizeof "consort seal v1"]; /* the label and one policy byte */
    memcpy(info, "consort seal v1", sizeof info - 1);
    info[sizeof info - 1] = (uint8_t)policy;
    uint8_t key[CS_AEAD_KEY_LEN];
    consort_err rc = cs_hkdf_sha256(CS_SLICE(kc->root, CS_SEAL_ROOT_LEN), CS_SLICE(binding, 32),
                                    CS_SLICE(info, sizeof info), key, sizeof key);
    if (rc == CONSORT_OK)
        rc = cs_aead_key_new(key, out);
    cs_wipe(key, sizeof key);
    return rc;
}

consort_err cs_seal_keycache_key(cs_seal_keycache *kc, cs_seal_policy policy,
                                 const uint8_t *binding_id, cs_aead_key **out)
{
    const uint8_t *binding = policy == CS_SEAL_POLICY_LINEAGE ? kc->lineage_label : binding_id;
    for (size_t i = 0; i < CS_SEAL_KEYCACHE_SLOTS; i++) {
        slot *s = &kc->slots[i];
        if (s->used && s->policy == policy && memcmp(s->binding, binding, 32) == 0) {
            *out = s->key;
            return CONSORT_OK;
        }
    }
    cs_aead_key *key;
    CS_TRY_CTX(derive(kc, policy, binding, &key), "seal key");
    slot *s = &kc->slots[kc->next_victim];
    kc->next_victim = (kc->next_victim + 1) % CS_SEAL_KEYCACHE_SLOTS;
    cs_aead_key_free(s->key);
    s->used = true;
    s->policy = policy;
    memcpy(s->binding, binding, 32);
    s->key = key;
    *out = key;
    return CONSORT_OK;
}

consort_err cs_seal_keycache_nonce(cs_seal_keycache *kc, uint8_t nonce[CS_AEAD_NONCE_LEN])
{
    if (kc->pool_pos + CS_AEAD_NONCE_LEN > NONCE_POOL) {
        CS_TRY_CTX(cs_random(kc->pool, NONCE_POOL), "seal nonce");
        kc->pool_pos = 0;
    }
    memcpy(nonce, kc->pool + kc->pool_pos, CS_AEAD_NONCE_LEN);
    cs_wipe(kc->pool + kc->pool_pos, CS_AEAD_NONCE_LEN); /* never handed out twice */
    kc->pool_pos += CS_AEAD_NONCE_LEN;
    return CONSORT_OK;
}
