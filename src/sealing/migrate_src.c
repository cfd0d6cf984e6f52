/*
 * The source side of migration (migrate.h, docs/migration.md §5 steps 2
 * and 4): answering an offer (freeze, package) and a confirm (retire,
 * done). The source's ephemeral key is created at freezing and kept in the
 * store (sealed), so a restarted FROZEN or RETIRED source signs done and
 * answers further offers with the key its evidence binds.
 */
#include "sealing/migrate_priv.h"

#include "base/cbor.h"
#include "crypto/aead.h"
#include "crypto/rand.h"

#include <string.h>

static bool admitted(const cs_sealstore *s, const uint8_t code[32])
{
    if (memcmp(code, s->keys.code_id, 32) == 0)
        return true;
    for (size_t i = 0; i < s->successor_count; i++)
        if (memcmp(code, s->successors[i].b, 32) == 0)
            return true;
    return false;
}

/* LIVE -> FROZEN with a fresh ephemeral key (one commit). */
static consort_err freeze(cs_sealstore *s)
{
    cs_key *eph;
    CS_TRY(cs_key_generate(CS_CURVE_P256, &eph));
    cs_buf_reset(&s->c.mig.eph_key);
    consort_err rc = cs_key_private_pem(eph, &s->c.mig.eph_key);
    cs_key_free(eph);
    CS_TRY(rc);
    s->c.state = CS_SEALSTORE_FROZEN;
    CS_TRY_CTX(store_commit(s), "freeze");
    return CONSORT_OK;
}

/* The contents a package carries: the store as a LIVE instance (no
 * migration secrets, no instance id of its own) and its successors. */
static consort_err package_plain(const cs_sealstore *s, cs_buf *out)
{
    store_content view = s->c; /* shallow: only read */
    memset(view.instance_id, 0, sizeof view.instance_id);
    memset(view.peer_id, 0, sizeof view.peer_id);
    memset(&view.mig, 0, sizeof view.mig);
    view.state = CS_SEALSTORE_LIVE;
    CS_TRY(cs_cbor_write_array(out, 2));
    cs_buf content;
    cs_buf_init_secret(&content, CS_SEAL_MAX_PLAIN);
    consort_err rc = store_content_encode(&view, &content);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(out, cs_buf_slice(&content));
    cs_buf_cleanup(&content);
    CS_TRY(rc);
    CS_TRY(cs_cbor_write_array(out, s->successor_count));
    for (size_t i = 0; i < s->successor_count; i++)
        CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(s->successors[i].b, 32)));
    return CONSORT_OK;
}

typedef struct pkg_ctx {
    const mig_offer *offer;
    const cs_key *transfer;
    const cs_key *eph;
    cs_buf eph_spki;
    cs_buf evidence;
    cs_buf plain;
} pkg_ctx;

static consort_err build_package(cs_sealstore *s, cs_slice offer_bytes, pkg_ctx *k,
                                 const cs_migrate_attestation *att, cs_buf *out)
{
    mig_package p;
    memset(&p, 0, sizeof p);
    memcpy(p.id_s, s->c.instance_id, MIG_ID_LEN);
    memcpy(p.id_d, k->offer->id_d, MIG_ID_LEN);
    cs_sha256(offer_bytes, p.offer_digest);
    cs_sha256(k->offer->evidence, p.evidence_d_digest);
    CS_TRY(cs_key_spki_der(k->eph, &k->eph_spki));
    /* evidence_S binds the ephemeral key and the offer it answers */
    CS_TRY_CTX(att->attest(att->ctx, k->eph, CS_SLICE(p.offer_digest, 32), &k->evidence),
               "package evidence");
    p.eph_spki = cs_buf_slice(&k->eph_spki);
    p.evidence = cs_buf_slice(&k->evidence);
    CS_TRY(mig_confirm_tag(s->c.smk, p.id_s, p.id_d, k->offer->transfer_spki, p.tag));
    CS_TRY(cs_random(p.nonce, sizeof p.nonce));
    CS_TRY(package_plain(s, &k->plain));
    uint8_t key[32];
    CS_TRY(mig_package_key(k->eph, k->transfer, p.id_s, p.id_d, key));
    size_t start = out->len;
    consort_err rc = cs_buf_reserve(out, 4096 + p.evidence.len + k->plain.len);
    if (rc == CONSORT_OK)
        rc = mig_package_header(&p, out);
    size_t aad_len = out->len - start;
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes_header(out, k->plain.len + CS_AEAD_TAG_LEN);
    if (rc == CONSORT_OK)
        rc = cs_aead_seal(key, p.nonce, CS_SLICE(out->ptr + start, aad_len),
                          cs_buf_slice(&k->plain), out);
    cs_wipe(key, sizeof key);
    if (rc != CONSORT_OK)
        out->len = start;
    return rc;
}

static consort_err load_eph(const cs_sealstore *s, cs_key **out)
{
    CS_ENSURE(s->c.mig.eph_key.len > 0, CONSORT_E_CORRUPT,
              "sealed store is %s without its ephemeral key", cs_sealstore_state_name(s->c.state));
    return cs_key_from_pem(cs_buf_slice(&s->c.mig.eph_key), out);
}

static consort_err answer_retired(cs_sealstore *s, const mig_offer *o, cs_buf *out)
{
    char to[9], from[9];
    mig_id_hex(s->c.peer_id, to);
    mig_id_hex(o->id_d, from);
    CS_ENSURE(memcmp(o->id_d, s->c.peer_id, MIG_ID_LEN) == 0, CONSORT_E_POLICY,
              "offer: this source retired to instance %s..., not %s...", to, from);
    cs_key *eph;
    CS_TRY(load_eph(s, &eph));
    consort_err rc = mig_done_encode(s->c.instance_id, s->c.peer_id, eph, out);
    cs_key_free(eph);
    return rc;
}

static consort_err answer_offer(cs_sealstore *s, cs_slice offer, cs_slice nonce,
                                const cs_migrate_attestation *att, cs_buf *out,
                                cs_migrate_answer *kind)
{
    CS_TRY(store_need_usable(s, "offer"));
    mig_offer o;
    CS_TRY(mig_offer_parse(offer, &o));
    CS_ENSURE(s->c.state != CS_SEALSTORE_PENDING, CONSORT_E_STATE,
              "offer: this store is PENDING (a destination), not a source");
    if (s->c.state == CS_SEALSTORE_RETIRED) {
        *kind = CS_MIGRATE_DONE;
        return answer_retired(s, &o, out);
    }
    pkg_ctx k;
    memset(&k, 0, sizeof k);
    k.offer = &o;
    cs_buf_init(&k.eph_spki, MIG_KEY_MAX);
    cs_buf_init(&k.evidence, MIG_EVIDENCE_MAX);
    cs_buf_init_secret(&k.plain, CS_SEAL_MAX_PLAIN);
    cs_key *transfer = NULL, *eph = NULL;
    uint8_t code_d[32];
    char hex[17];
    consort_err rc;
    CS_TRY_CTX_GOTO(rc, cs_key_from_spki_der(o.transfer_spki, &transfer), out_free,
                    "offer transfer key");
    CS_ENSURE_GOTO(rc, cs_key_curve(transfer) == CS_CURVE_P256, out_free, CONSORT_E_UNSUPPORTED,
                   "offer transfer key: %s, expected P-256", cs_curve_name(cs_key_curve(transfer)));
    CS_TRY_CTX_GOTO(rc, att->verify(att->ctx, o.evidence, transfer, nonce, code_d), out_free,
                    "offer evidence");
    cs_hex_encode(CS_SLICE(code_d, 8), hex);
    /* admissible before anything changes: a refused offer never freezes */
    CS_ENSURE_GOTO(rc, admitted(s, code_d), out_free, CONSORT_E_POLICY,
                   "offer: destination code %s... is neither this code nor one of its %zu "
                   "approved successors",
                   hex, s->successor_count);
    if (s->c.state == CS_SEALSTORE_LIVE)
        CS_TRY_GOTO(rc, freeze(s), out_free);
    CS_TRY_GOTO(rc, load_eph(s, &eph), out_free);
    k.transfer = transfer;
    k.eph = eph;
    CS_TRY_GOTO(rc, build_package(s, offer, &k, att, out), out_free);
    *kind = CS_MIGRATE_PACKAGE;
out_free:
    cs_key_free(transfer);
    cs_key_free(eph);
    cs_buf_cleanup(&k.eph_spki);
    cs_buf_cleanup(&k.evidence);
    cs_buf_cleanup(&k.plain);
    return rc;
}

consort_err cs_sealstore_answer_offer(cs_sealstore *s, cs_slice offer, cs_slice nonce,
                                      const cs_migrate_attestation *att, cs_buf *out,
                                      cs_migrate_answer *kind)
{
    CS_TRY_CTX(answer_offer(s, offer, nonce, att, out, kind), "migration source");
    return CONSORT_OK;
}

static consort_err answer_confirm(cs_sealstore *s, cs_slice confirm, cs_buf *done_out)
{
    CS_TRY(store_need_usable(s, "confirm"));
    mig_confirm c;
    cs_key *transfer;
    CS_TRY(mig_confirm_parse(confirm, &c, &transfer));
    cs_key_free(transfer); /* verified; only its SPKI is needed below */
    char from[9], to[9];
    mig_id_hex(c.id_d, from);
    mig_id_hex(s->c.peer_id, to);
    CS_ENSURE(memcmp(c.id_s, s->c.instance_id, MIG_ID_LEN) == 0, CONSORT_E_POLICY,
              "confirm for another source instance");
    CS_ENSURE(s->c.state == CS_SEALSTORE_FROZEN || s->c.state == CS_SEALSTORE_RETIRED,
              CONSORT_E_STATE, "confirm: this store is %s, not FROZEN",
              cs_sealstore_state_name(s->c.state));
    CS_ENSURE(s->c.state != CS_SEALSTORE_RETIRED || memcmp(c.id_d, s->c.peer_id, MIG_ID_LEN) == 0,
              CONSORT_E_POLICY, "confirm from %s...: this source already retired to %s...", from,
              to);
    uint8_t want[32];
    CS_TRY(mig_confirm_tag(s->c.smk, c.id_s, c.id_d, c.transfer_spki, want));
    CS_ENSURE(cs_ct_equal(CS_SLICE(want, 32), CS_SLICE(c.tag, 32)), CONSORT_E_POLICY,
              "confirm from %s...: its key was never sent a package by this source", from);
    if (s->c.state == CS_SEALSTORE_FROZEN) {
        s->c.state = CS_SEALSTORE_RETIRED;
        memcpy(s->c.peer_id, c.id_d, MIG_ID_LEN);
        CS_TRY_CTX(store_commit(s), "retire");
    }
    cs_key *eph;
    CS_TRY(load_eph(s, &eph));
    consort_err rc = mig_done_encode(s->c.instance_id, s->c.peer_id, eph, done_out);
    cs_key_free(eph);
    return rc;
}

consort_err cs_sealstore_answer_confirm(cs_sealstore *s, cs_slice confirm, cs_buf *done_out)
{
    CS_TRY_CTX(answer_confirm(s, confirm, done_out), "migration source");
    return CONSORT_OK;
}
