/*
 * The destination accepting a package (migrate.h cs_migrate_dest_accept,
 * docs/migration.md §5 step 3): check it answers this destination's latest
 * offer, verify the source's evidence over its ephemeral key and that
 * offer, decrypt, check the source's code is admissible, and create the
 * PENDING store under this destination's keys and anchor.
 */
#include "sealing/migrate_priv.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "crypto/aead.h"
#include "crypto/rand.h"

#include <string.h>

typedef struct received {
    store_content c;
    cs_code_id successors[CS_SEAL_MAX_SUCCESSORS];
    size_t successor_count;
} received;

static consort_err decode_plain(cs_slice plain, received *rx)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, plain);
    uint64_t n;
    cs_slice content;
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n == 2, CONSORT_E_MALFORMED, "package contents: %llu items, expected 2",
              (unsigned long long)n);
    CS_TRY(cs_cbor_read_bytes(&r, &content));
    CS_TRY(store_content_decode(content, &rx->c));
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n <= CS_SEAL_MAX_SUCCESSORS, CONSORT_E_MALFORMED, "package: %llu successors",
              (unsigned long long)n);
    for (size_t i = 0; i < n; i++)
        CS_TRY(cs_cbor_read_bytes_exact(&r, rx->successors[i].b, 32, "successor"));
    rx->successor_count = (size_t)n;
    return cs_cbor_expect_end(&r);
}

/* The package answers our latest offer, and the evidence digest is of our evidence. */
static consort_err check_answers_offer(const mig_package *p, const mig_dest_id *d)
{
    CS_ENSURE(memcmp(p->id_d, d->id, MIG_ID_LEN) == 0, CONSORT_E_POLICY,
              "package for another destination instance");
    mig_offer o;
    CS_TRY_CTX(mig_offer_parse(cs_buf_slice(&d->offer), &o), "the latest offer");
    uint8_t offer_digest[32], ev_digest[32];
    cs_sha256(cs_buf_slice(&d->offer), offer_digest);
    cs_sha256(o.evidence, ev_digest);
    CS_ENSURE(cs_ct_equal(CS_SLICE(offer_digest, 32), CS_SLICE(p->offer_digest, 32)) &&
                  cs_ct_equal(CS_SLICE(ev_digest, 32), CS_SLICE(p->evidence_d_digest, 32)),
              CONSORT_E_POLICY,
              "package answers another offer than this destination's latest (offer again)");
    return CONSORT_OK;
}

static bool in_list(const uint8_t *id, const cs_code_id *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(id, l[i].b, 32) == 0)
            return true;
    return false;
}

/* Opens the package into rx; *code_s receives the source's attested code id. */
static consort_err open_package(const mig_package *p, const mig_dest_id *d,
                                const cs_migrate_attestation *att, uint8_t code_s[32], received *rx)
{
    cs_key *eph;
    CS_TRY_CTX(cs_key_from_spki_der(p->eph_spki, &eph), "package ephemeral key");
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_SEAL_MAX_BLOB);
    uint8_t key[32];
    consort_err rc;
    CS_ENSURE_GOTO(rc, cs_key_curve(eph) == CS_CURVE_P256, out, CONSORT_E_UNSUPPORTED,
                   "package ephemeral key: %s, expected P-256", cs_curve_name(cs_key_curve(eph)));
    CS_TRY_CTX_GOTO(rc,
                    att->verify(att->ctx, p->evidence, eph, CS_SLICE(p->offer_digest, 32), code_s),
                    out, "package evidence");
    CS_TRY_GOTO(rc, mig_package_key(d->transfer, eph, p->id_s, p->id_d, key), out);
    rc = cs_aead_open(key, p->nonce, p->aad, p->sealed, &plain);
    cs_wipe(key, sizeof key);
    CS_TRY_CTX_GOTO(rc, rc, out, "package contents");
    CS_TRY_GOTO(rc, decode_plain(cs_buf_slice(&plain), rx), out);
out:
    cs_key_free(eph);
    cs_buf_cleanup(&plain);
    return rc;
}

/* Moves what was received into a new PENDING store and commits it. */
static consort_err create_pending(cs_sealstore *s, received *rx, const mig_package *p,
                                  const mig_dest_id *d, const uint8_t code_s[32], cs_slice package)
{
    store_content_cleanup(&s->c);
    s->c = rx->c; /* moved */
    store_content_init(&rx->c);
    memcpy(s->c.instance_id, d->id, MIG_ID_LEN);
    memcpy(s->c.peer_id, p->id_s, MIG_ID_LEN);
    s->c.state = CS_SEALSTORE_PENDING;
    if (memcmp(code_s, s->keys.code_id, 32) != 0 &&
        !in_list(code_s, s->c.ancestors, s->c.ancestor_count)) {
        CS_ENSURE(s->c.ancestor_count < CS_SEALSTORE_MAX_ANCESTORS, CONSORT_E_TOO_LARGE,
                  "package: %d ancestors already", CS_SEALSTORE_MAX_ANCESTORS);
        memcpy(s->c.ancestors[s->c.ancestor_count++].b, code_s, 32);
    }
    for (size_t i = 0; i < rx->successor_count; i++)
        if (memcmp(rx->successors[i].b, s->keys.code_id, 32) != 0)
            s->successors[s->successor_count++] = rx->successors[i];
    uint8_t digest[32];
    cs_sha256(package, digest);
    CS_TRY(cs_key_private_pem(d->transfer, &s->c.mig.transfer_key));
    CS_TRY(cs_buf_set(&s->c.mig.source_eph, p->eph_spki));
    CS_TRY(cs_buf_set(&s->c.mig.package_digest, CS_SLICE(digest, 32)));
    CS_TRY(cs_buf_set(&s->c.mig.confirm_tag, CS_SLICE(p->tag, 32)));
    CS_TRY(store_smk_ready(s));
    CS_TRY(cs_anchor_read(s->anchor, &s->bound));
    return store_commit(s);
}

/* A destination that already holds a store: confirm again if PENDING from this source. */
static consort_err accept_again(const char *dir, const cs_sealstore_keys *keys, cs_anchor *anchor,
                                cs_slice package, cs_sealstore **store_out, cs_buf *confirm_out)
{
    mig_package p;
    CS_TRY(mig_package_parse(package, &p));
    cs_sealstore *s;
    CS_TRY(cs_sealstore_open(dir, keys, anchor, &s));
    consort_err rc = CONSORT_OK;
    if (s->c.state != CS_SEALSTORE_PENDING)
        rc = cs_fail(CONSORT_E_STATE, "%s already holds a %s store", dir,
                     cs_sealstore_state_name(s->c.state));
    else if (memcmp(s->c.peer_id, p.id_s, MIG_ID_LEN) != 0)
        rc = cs_fail(CONSORT_E_POLICY, "%s is PENDING from another source", dir);
    if (rc == CONSORT_OK)
        rc = cs_sealstore_confirm(s, confirm_out);
    if (rc != CONSORT_OK) {
        cs_sealstore_free(s);
        return rc;
    }
    *store_out = s;
    return CONSORT_OK;
}

static consort_err accept(const char *dir, const cs_sealstore_keys *keys, cs_anchor *anchor,
                          const cs_migrate_attestation *att, cs_slice package, mig_dest_id *d,
                          received *rx, cs_sealstore **store_out, cs_buf *confirm_out)
{
    if (store_exists(dir))
        return accept_again(dir, keys, anchor, package, store_out, confirm_out);
    bool found;
    CS_TRY(mig_dest_id_load(dir, keys, d, &found));
    CS_ENSURE(found, CONSORT_E_STATE, "no offer was made from %s (cs_migrate_dest_begin)", dir);
    /* docs/migration-model.md: a package for an offer made before this
     * destination's anchor moved would create a store over the one the
     * anchor vouches for now (hidden by the host): an acknowledged state
     * lost. Only a package for an offer made at the current value creates. */
    uint64_t now;
    CS_TRY(cs_anchor_read(anchor, &now));
    CS_ENSURE(now == d->offer_anchor, CONSORT_E_STATE,
              "the package answers an offer made when this destination's anchor was at %llu; "
              "it is at %llu now (its store changed since, or is hidden): offer again",
              (unsigned long long)d->offer_anchor, (unsigned long long)now);
    mig_package p;
    CS_TRY(mig_package_parse(package, &p));
    CS_TRY(check_answers_offer(&p, d));
    uint8_t code_s[32];
    CS_TRY(open_package(&p, d, att, code_s, rx));
    char hex[17];
    cs_hex_encode(CS_SLICE(code_s, 8), hex);
    /* §5 step 3: the source runs this code, or lists it as an approved successor */
    CS_ENSURE(memcmp(code_s, keys->code_id, 32) == 0 ||
                  in_list(keys->code_id, rx->successors, rx->successor_count),
              CONSORT_E_POLICY,
              "source code %s... is not this code and does not list it as a successor", hex);
    cs_sealstore *s;
    CS_TRY(store_handle_new(dir, keys, anchor, &s));
    consort_err rc = create_pending(s, rx, &p, d, code_s, package);
    if (rc == CONSORT_OK)
        rc = cs_sealstore_confirm(s, confirm_out);
    if (rc != CONSORT_OK) {
        cs_sealstore_free(s);
        return rc;
    }
    *store_out = s;
    return CONSORT_OK;
}

consort_err cs_migrate_dest_accept(const char *dir, const cs_sealstore_keys *keys,
                                   cs_anchor *anchor, const cs_migrate_attestation *att,
                                   cs_slice package, cs_sealstore **store_out, cs_buf *confirm_out)
{
    *store_out = NULL;
    mig_dest_id d;
    mig_dest_id_init(&d);
    received *rx = cs_calloc(1, sizeof *rx);
    CS_ENSURE(rx != NULL, CONSORT_E_NOMEM, "package: out of memory");
    store_content_init(&rx->c);
    consort_err rc = accept(dir, keys, anchor, att, package, &d, rx, store_out, confirm_out);
    store_content_cleanup(&rx->c);
    cs_free(rx);
    mig_dest_id_cleanup(&d);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "migration destination %s", dir);
}
