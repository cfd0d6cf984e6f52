/*
 * The keys of one ledger secret (docs/ledger.md 1.2; contract in ledger.h).
 *
 * Every entry is sealed under its own key salt's key,
 *
 *   key = HKDF-SHA256(IKM = ledger secret, salt = key_salt (16 bytes),
 *                     info = "consort ledger entry v2", L = 32),
 *
 * with the nonce 0x00000000 || be64(seqno). A sealer draws a random key
 * salt (cs_ledger_keys_rekey) and then only seals increasing seqnos under
 * it (sealed_upto), so a (key, nonce) pair never repeats even when
 * consensus makes a leader write the same (term, seqno) twice: it must
 * rekey first, and another salt is another key. The raw secret is never a
 * key: it is only ever the IKM of HKDF, under labels that differ from each
 * other (the commit evidence has its own, ledger_leaf.c).
 */
#include "store/ledger_keys.h"

#include "crypto/rand.h"

#include <string.h>

void cs_ledger_keys_init(cs_ledger_keys *k, const uint8_t secret[CS_LEDGER_SECRET_LEN])
{
    memset(k, 0, sizeof *k);
    memcpy(k->secret, secret, CS_LEDGER_SECRET_LEN);
}

void cs_ledger_keys_cleanup(cs_ledger_keys *k)
{
    if (k != NULL)
        cs_wipe(k, sizeof *k);
}

consort_err cs_ledger_keys_entry_key(const uint8_t secret[CS_LEDGER_SECRET_LEN],
                                     const uint8_t salt[CS_LEDGER_SALT_LEN],
                                     uint8_t key[CS_AEAD_KEY_LEN])
{
    CS_TRY_CTX(cs_hkdf_sha256(CS_SLICE(secret, CS_LEDGER_SECRET_LEN),
                              CS_SLICE(salt, CS_LEDGER_SALT_LEN),
                              CS_SLICE_LIT(CS_LEDGER_ENTRY_KEY_INFO), key, CS_AEAD_KEY_LEN),
               "ledger entry key");
    return CONSORT_OK;
}

consort_err cs_ledger_keys_rekey(cs_ledger_keys *k)
{
    /* whatever happens, the old salt is done with: a caller that ignores a
     * failure cannot seal under it again */
    k->sealing = false;
    k->sealed_upto = 0;
    cs_wipe(k->seal_key, sizeof k->seal_key);
    uint8_t salt[CS_LEDGER_SALT_LEN];
    CS_TRY_CTX(cs_random(salt, sizeof salt), "ledger rekey");
    CS_TRY(cs_ledger_keys_entry_key(k->secret, salt, k->seal_key));
    memcpy(k->seal_salt, salt, sizeof salt);
    k->sealing = true;
    return CONSORT_OK;
}

/* The labels of docs/ledger.md, which no other purpose may reuse. */
static bool is_ledger_label(const char *info)
{
    static const char ce_prefix[] = "consort commit evidence";
    return strcmp(info, CS_LEDGER_ENTRY_KEY_INFO) == 0 ||
           strncmp(info, ce_prefix, sizeof ce_prefix - 1) == 0;
}

consort_err cs_ledger_keys_derive(const cs_ledger_keys *k, const char *info, uint8_t out[32])
{
    CS_ENSURE(info != NULL && info[0] != '\0', CONSORT_E_INVALID_ARGUMENT,
              "ledger key derivation: empty info");
    CS_ENSURE(!is_ledger_label(info), CONSORT_E_INVALID_ARGUMENT,
              "ledger key derivation: info \"%s\" is one of the ledger's own labels", info);
    CS_TRY_CTX(cs_hkdf_sha256(CS_SLICE(k->secret, CS_LEDGER_SECRET_LEN), CS_SLICE_EMPTY,
                              cs_slice_str(info), out, 32),
               "ledger key derivation \"%s\"", info);
    return CONSORT_OK;
}

consort_err cs_ledger_keys_open_key(cs_ledger_keys *k, const uint8_t salt[CS_LEDGER_SALT_LEN],
                                    const uint8_t **key)
{
    cs_slice want = CS_SLICE(salt, CS_LEDGER_SALT_LEN);
    if (k->sealing && cs_slice_eq(want, CS_SLICE(k->seal_salt, CS_LEDGER_SALT_LEN))) {
        *key = k->seal_key; /* an entry this sealer wrote */
        return CONSORT_OK;
    }
    if (!k->open_cached || !cs_slice_eq(want, CS_SLICE(k->open_salt, CS_LEDGER_SALT_LEN))) {
        k->open_cached = false;
        CS_TRY(cs_ledger_keys_entry_key(k->secret, salt, k->open_key));
        memcpy(k->open_salt, salt, CS_LEDGER_SALT_LEN);
        k->open_cached = true;
    }
    *key = k->open_key;
    return CONSORT_OK;
}
