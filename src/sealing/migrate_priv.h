/* Messages and keys of the migration protocol (migrate_msg.c), for migrate_*.c. */
#ifndef CS_SEALING_MIGRATE_PRIV_H
#define CS_SEALING_MIGRATE_PRIV_H

#include "crypto/hash.h"
#include "sealing/migrate.h"
#include "sealing/store_priv.h"

#define MIG_ID_LEN       CS_SEALSTORE_ID_LEN
#define MIG_EVIDENCE_MAX ((size_t)64 << 10)
#define MIG_KEY_MAX      ((size_t)1 << 10)

/* offer: ["CSMO1", id_D, transfer key (SPKI DER), evidence_D] */
typedef struct mig_offer {
    uint8_t id_d[MIG_ID_LEN];
    cs_slice transfer_spki;
    cs_slice evidence;
} mig_offer;

/* package: ["CSMP1", id_S, id_D, ephemeral key (SPKI DER), evidence_S,
 *           SHA-256(evidence_D), SHA-256(offer), confirm tag, nonce,
 *           AES-256-GCM(contents)]; the associated data is the encoding
 * before the last element. */
typedef struct mig_package {
    uint8_t id_s[MIG_ID_LEN];
    uint8_t id_d[MIG_ID_LEN];
    cs_slice eph_spki;
    cs_slice evidence;
    uint8_t evidence_d_digest[32];
    uint8_t offer_digest[32];
    uint8_t tag[32];
    uint8_t nonce[12];
    cs_slice aad;
    cs_slice sealed;
} mig_package;

/* confirm: ["CSMC1", id_S, id_D, transfer key (SPKI DER), SHA-256(package),
 *           confirm tag, signature (transfer key, raw r||s)]
 * done:    ["CSMD1", id_S, id_D, signature (ephemeral key, raw r||s)] */
typedef struct mig_confirm {
    uint8_t id_s[MIG_ID_LEN];
    uint8_t id_d[MIG_ID_LEN];
    cs_slice transfer_spki;
    uint8_t package_digest[32];
    uint8_t tag[32];
    cs_slice sig;
} mig_confirm;

CS_MUST_CHECK consort_err mig_offer_encode(const uint8_t id_d[MIG_ID_LEN], cs_slice transfer_spki,
                                           cs_slice evidence, cs_buf *out);
CS_MUST_CHECK consort_err mig_offer_parse(cs_slice in, mig_offer *o);
/* Appends the package up to the sealed element; *aad_len = its length. */
CS_MUST_CHECK consort_err mig_package_header(const mig_package *p, cs_buf *out);
CS_MUST_CHECK consort_err mig_package_parse(cs_slice in, mig_package *p);
/* Signs or verifies with the transfer key (what: "confirm") or the
 * ephemeral key ("done"); the signed bytes are a label and the fields. */
CS_MUST_CHECK consort_err mig_confirm_encode(const mig_confirm *c, const cs_key *transfer,
                                             cs_buf *out);
CS_MUST_CHECK consort_err mig_confirm_parse(cs_slice in, mig_confirm *c, cs_key **transfer);
CS_MUST_CHECK consort_err mig_done_encode(const uint8_t id_s[MIG_ID_LEN],
                                          const uint8_t id_d[MIG_ID_LEN], const cs_key *eph,
                                          cs_buf *out);
CS_MUST_CHECK consort_err mig_done_verify(cs_slice in, const uint8_t id_s[MIG_ID_LEN],
                                          const uint8_t id_d[MIG_ID_LEN], const cs_key *eph);
/* The tag a source gives a destination to echo in its confirm:
 * HMAC-SHA256(HKDF(SMK, "consort migrate confirm v1"), id_S || id_D ||
 * transfer SPKI), so that a restarted source knows the confirm's key is one
 * it packaged for. */
CS_MUST_CHECK consort_err mig_confirm_tag(const uint8_t smk[32], const uint8_t id_s[MIG_ID_LEN],
                                          const uint8_t id_d[MIG_ID_LEN], cs_slice transfer_spki,
                                          uint8_t tag[32]);
/* The package key: HKDF-SHA256(ECDH(mine, peer), salt = id_S || id_D,
 * "consort migrate v1"). */
CS_MUST_CHECK consort_err mig_package_key(const cs_key *mine, const cs_key *peer,
                                          const uint8_t id_s[MIG_ID_LEN],
                                          const uint8_t id_d[MIG_ID_LEN], uint8_t key[32]);
/* The destination's migration identity (migrate_dst.c, <dir>/migrate.bin). */
typedef struct mig_dest_id {
    uint8_t id[MIG_ID_LEN];
    cs_key *transfer;
    cs_buf offer;          /* the latest offer made */
    uint64_t offer_anchor; /* the anchor's value when it was made */
} mig_dest_id;
void mig_dest_id_init(mig_dest_id *d);
void mig_dest_id_cleanup(mig_dest_id *d);
/* Loads <dir>/migrate.bin; *found false (and d untouched) if there is none. */
CS_MUST_CHECK consort_err mig_dest_id_load(const char *dir, const cs_sealstore_keys *keys,
                                           mig_dest_id *d, bool *found);
/* Hex of the first 4 bytes of an instance id, for messages. */
void mig_id_hex(const uint8_t *id, char out[9]);

#endif
