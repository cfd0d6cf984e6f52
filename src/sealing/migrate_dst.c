/*
 * The destination side of migration (migrate.h, docs/migration.md §5 steps
 * 1, 3 and 5). Its identity for the migration lives in <dir>/migrate.bin,
 * sealed with policy code under the lineage root:
 *   [instance_id (bstr 16), transfer key (PKCS#8 PEM), latest offer (bstr),
 *    the anchor's value when that offer was made (uint)]
 * so that a destination that crashed offers again as the same instance, and
 * a package is accepted only for the offer it answers, and only while the
 * destination's anchor has not moved since that offer (migrate_accept.c:
 * an old package must not create a store over a newer, hidden one).
 */
#include "sealing/migrate_priv.h"

#include "base/cbor.h"
#include "base/file.h"
#include "crypto/aead.h"
#include "crypto/rand.h"

#include <string.h>

void mig_dest_id_init(mig_dest_id *d)
{
    memset(d, 0, sizeof *d);
    cs_buf_init(&d->offer, MIG_EVIDENCE_MAX + 4096);
}

void mig_dest_id_cleanup(mig_dest_id *d)
{
    cs_key_free(d->transfer);
    cs_buf_cleanup(&d->offer);
}

static consort_err id_path(const char *dir, char *out)
{
    return cs_path_join(out, STORE_PATH_MAX, dir, "migrate.bin");
}

static consort_err id_decode(cs_slice plain, mig_dest_id *d)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, plain);
    uint64_t n;
    cs_slice pem, offer;
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n == 4, CONSORT_E_MALFORMED, "migrate.bin: %llu items", (unsigned long long)n);
    CS_TRY(cs_cbor_read_bytes_exact(&r, d->id, MIG_ID_LEN, "instance id"));
    CS_TRY(cs_cbor_read_bytes(&r, &pem));
    CS_TRY(cs_cbor_read_bytes(&r, &offer));
    CS_TRY(cs_cbor_read_uint(&r, &d->offer_anchor));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_TRY(cs_key_from_pem(pem, &d->transfer));
    return cs_buf_set(&d->offer, offer);
}

consort_err mig_dest_id_load(const char *dir, const cs_sealstore_keys *keys, mig_dest_id *d,
                             bool *found)
{
    char path[STORE_PATH_MAX];
    CS_TRY(id_path(dir, path));
    *found = cs_file_exists(path);
    if (!*found)
        return CONSORT_OK;
    cs_buf blob, plain;
    cs_buf_init(&blob, CS_SEAL_MAX_BLOB);
    cs_buf_init_secret(&plain, CS_SEAL_MAX_BLOB);
    const cs_seal_opener o = {.code_id = keys->code_id};
    consort_err rc = cs_file_read(path, &blob);
    if (rc == CONSORT_OK)
        rc = cs_unseal(keys->lineage_root, &o, cs_buf_slice(&blob), NULL, &plain);
    if (rc == CONSORT_OK)
        rc = id_decode(cs_buf_slice(&plain), d);
    cs_buf_cleanup(&blob);
    cs_buf_cleanup(&plain);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "%s", path);
}

static consort_err id_store(const char *dir, const cs_sealstore_keys *keys, const mig_dest_id *d)
{
    char path[STORE_PATH_MAX];
    CS_TRY(id_path(dir, path));
    cs_buf plain, pem, blob;
    cs_buf_init_secret(&plain, 0);
    cs_buf_init_secret(&pem, 0);
    cs_buf_init(&blob, 0);
    const cs_seal_params p = {.policy = CS_SEAL_POLICY_CODE, .code_id = keys->code_id};
    consort_err rc;
    CS_TRY_GOTO(rc, cs_key_private_pem(d->transfer, &pem), out);
    CS_TRY_GOTO(rc, cs_cbor_write_array(&plain, 4), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(&plain, CS_SLICE(d->id, MIG_ID_LEN)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(&plain, cs_buf_slice(&pem)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(&plain, cs_buf_slice(&d->offer)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_uint(&plain, d->offer_anchor), out);
    CS_TRY_GOTO(rc, cs_seal(keys->lineage_root, &p, cs_buf_slice(&plain), &blob), out);
    CS_TRY_GOTO(rc, store_durable_step("writing migrate.bin"), out);
    CS_TRY_GOTO(rc, cs_file_write_atomic(path, cs_buf_slice(&blob), 0600), out);
out:
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&pem);
    cs_buf_cleanup(&blob);
    return rc;
}

static consort_err dest_begin(const char *dir, const cs_sealstore_keys *keys, cs_anchor *anchor,
                              const cs_migrate_attestation *att, cs_slice nonce, mig_dest_id *d,
                              cs_buf *out)
{
    CS_TRY(cs_mkdir_p(dir, 0700));
    bool found;
    CS_TRY(mig_dest_id_load(dir, keys, d, &found));
    if (!found) {
        CS_TRY(cs_random(d->id, sizeof d->id));
        CS_TRY(cs_key_generate(CS_CURVE_P256, &d->transfer));
    }
    cs_buf spki, evidence;
    cs_buf_init(&spki, MIG_KEY_MAX);
    cs_buf_init(&evidence, MIG_EVIDENCE_MAX);
    consort_err rc;
    cs_buf_reset(&d->offer);
    CS_TRY_GOTO(rc, cs_key_spki_der(d->transfer, &spki), out);
    CS_TRY_CTX_GOTO(rc, att->attest(att->ctx, d->transfer, nonce, &evidence), out,
                    "offer evidence");
    CS_TRY_GOTO(
        rc, mig_offer_encode(d->id, cs_buf_slice(&spki), cs_buf_slice(&evidence), &d->offer), out);
    CS_TRY_GOTO(rc, cs_anchor_read(anchor, &d->offer_anchor), out);
    CS_TRY_GOTO(rc, id_store(dir, keys, d), out);
    CS_TRY_GOTO(rc, cs_buf_append_slice(out, cs_buf_slice(&d->offer)), out);
out:
    cs_buf_cleanup(&spki);
    cs_buf_cleanup(&evidence);
    return rc;
}

consort_err cs_migrate_dest_begin(const char *dir, const cs_sealstore_keys *keys, cs_anchor *anchor,
                                  const cs_migrate_attestation *att, cs_slice source_nonce,
                                  cs_buf *out)
{
    mig_dest_id d;
    mig_dest_id_init(&d);
    consort_err rc = dest_begin(dir, keys, anchor, att, source_nonce, &d, out);
    mig_dest_id_cleanup(&d);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "migration destination %s", dir);
}

consort_err cs_sealstore_confirm(cs_sealstore *s, cs_buf *confirm_out)
{
    CS_TRY(store_need_usable(s, "confirm"));
    CS_ENSURE(s->c.state == CS_SEALSTORE_PENDING, CONSORT_E_STATE,
              "confirm: this store is %s, not PENDING", cs_sealstore_state_name(s->c.state));
    mig_confirm c;
    memset(&c, 0, sizeof c);
    memcpy(c.id_s, s->c.peer_id, MIG_ID_LEN);
    memcpy(c.id_d, s->c.instance_id, MIG_ID_LEN);
    CS_ENSURE(s->c.mig.package_digest.len == 32 && s->c.mig.confirm_tag.len == 32,
              CONSORT_E_CORRUPT, "PENDING store without its package digest and tag");
    memcpy(c.package_digest, s->c.mig.package_digest.ptr, 32);
    memcpy(c.tag, s->c.mig.confirm_tag.ptr, 32);
    cs_key *transfer;
    CS_TRY(cs_key_from_pem(cs_buf_slice(&s->c.mig.transfer_key), &transfer));
    cs_buf spki;
    cs_buf_init(&spki, MIG_KEY_MAX);
    consort_err rc = cs_key_spki_der(transfer, &spki);
    c.transfer_spki = cs_buf_slice(&spki);
    if (rc == CONSORT_OK)
        rc = mig_confirm_encode(&c, transfer, confirm_out);
    cs_key_free(transfer);
    cs_buf_cleanup(&spki);
    return rc;
}

consort_err cs_sealstore_finish(cs_sealstore *s, cs_slice done)
{
    CS_TRY(store_need_usable(s, "done"));
    if (s->c.state == CS_SEALSTORE_LIVE)
        return CONSORT_OK; /* a repeated done (§5) */
    CS_ENSURE(s->c.state == CS_SEALSTORE_PENDING, CONSORT_E_STATE,
              "done: this store is %s, not PENDING", cs_sealstore_state_name(s->c.state));
    cs_key *eph;
    CS_TRY_CTX(cs_key_from_spki_der(cs_buf_slice(&s->c.mig.source_eph), &eph),
               "done: the source's key");
    consort_err rc = mig_done_verify(done, s->c.peer_id, s->c.instance_id, eph);
    cs_key_free(eph);
    CS_TRY_CTX(rc, "migration destination");
    s->c.state = CS_SEALSTORE_LIVE;
    memset(s->c.peer_id, 0, sizeof s->c.peer_id);
    cs_buf_reset(&s->c.mig.transfer_key);
    cs_buf_reset(&s->c.mig.source_eph);
    cs_buf_reset(&s->c.mig.package_digest);
    cs_buf_reset(&s->c.mig.confirm_tag);
    CS_TRY_CTX(store_commit(s), "migration destination: becoming LIVE");
    return CONSORT_OK;
}
