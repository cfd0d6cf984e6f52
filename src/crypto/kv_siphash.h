/*
 * SipHash-2-4 (J.-P. Aumasson, D. J. Bernstein, "SipHash: a fast short-input
 * PRF", INDOCRYPT 2012): a keyed 64-bit pseudorandom function for hash tables
 * whose keys come from untrusted clients. With a secret random 128-bit key an
 * attacker cannot choose keys that collide, so lookups stay O(1) under attack
 * (the "hash flooding" denial of service the paper describes).
 *
 * No OpenSSL here: the EVP_MAC "SIPHASH" path costs far more per call than
 * hashing a short key, and this runs once per KV lookup (src/store/kv*).
 */
#ifndef CS_CRYPTO_KV_SIPHASH_H
#define CS_CRYPTO_KV_SIPHASH_H

#include "base/buf.h"

#include <stdint.h>

#define CS_SIPHASH_KEY_LEN 16

/* SipHash-2-4 of `in` under the 16-byte `key`; never fails. */
uint64_t cs_siphash24(const uint8_t key[CS_SIPHASH_KEY_LEN], cs_slice in);

#endif
