/* The key cache behind seal.h (seal_keys.c), for seal.c only. */
#ifndef CS_SEALING_SEAL_PRIV_H
#define CS_SEALING_SEAL_PRIV_H

#include "crypto/aead_key.h"
#include "sealing/seal.h"

/*
 * The kept key of (policy, binding): binding_id is the code id for policy
 * code and ignored for lineage (whose binding is the lineage label). The
 * key is derived on the first use and kept (borrowed: valid until the cache
 * is freed or CS_SEAL_KEYCACHE_SLOTS other bindings were asked for since).
 */
CS_MUST_CHECK consort_err cs_seal_keycache_key(cs_seal_keycache *kc, cs_seal_policy policy,
                                               const uint8_t *binding_id, cs_aead_key **out);
/* A fresh random nonce (from a pool refilled by cs_random). */
CS_MUST_CHECK consort_err cs_seal_keycache_nonce(cs_seal_keycache *kc,
                                                 uint8_t nonce[CS_AEAD_NONCE_LEN]);

#endif
