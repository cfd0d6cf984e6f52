/*
 * The entry keys of a ledger secret, for ledger_entry.c and ledger_keys.c
 * only (not part of the ledger API; docs/ledger.md 1.2).
 */
#ifndef CS_STORE_LEDGER_KEYS_H
#define CS_STORE_LEDGER_KEYS_H

#include "store/ledger.h"

/* HKDF info of the entry keys (docs/ledger.md 1.2). */
#define CS_LEDGER_ENTRY_KEY_INFO "consort ledger entry v2"

/* key = HKDF-SHA256(IKM = secret, salt = salt, info = CS_LEDGER_ENTRY_KEY_INFO, L = 32).
 * CRYPTO if HKDF fails. */
CS_MUST_CHECK consort_err cs_ledger_keys_entry_key(const uint8_t secret[CS_LEDGER_SECRET_LEN],
                                                   const uint8_t salt[CS_LEDGER_SALT_LEN],
                                                   uint8_t key[CS_AEAD_KEY_LEN]);

/* The key that opens entries sealed under `salt`: the sealing key if it is
 * the current seal salt, else the cached key of the last salt opened, else
 * derived (and cached). `*key` points into `k`, valid until the next call. */
CS_MUST_CHECK consort_err cs_ledger_keys_open_key(cs_ledger_keys *k,
                                                  const uint8_t salt[CS_LEDGER_SALT_LEN],
                                                  const uint8_t **key);

#endif
