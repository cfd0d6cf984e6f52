/*
 * The migration protocol's messages and keys (migrate_priv.h): each parser
 * checks the exact count, type and length of every element and refuses
 * trailing bytes before any cryptography runs.
 */
#include "sealing/migrate_priv.h"

#include "base/cbor.h"
#include "crypto/aead.h"

#include <string.h>

void mig_id_hex(const uint8_t *id, char out[9])
{
    cs_hex_encode(CS_SLICE(id, 4), out);
}

static consort_err read_head(cs_cbor_reader *r, uint64_t items, const char *format)
{
    uint64_t n;
    CS_TRY(cs_cbor_read_array(r, &n));
    CS_ENSURE(n == items, CONSORT_E_MALFORMED, "%s: %llu items, expected %llu", format,
              (unsigned long long)n, (unsigned long long)items);
    cs_slice f;
    CS_TRY(cs_cbor_read_text(r, &f));
    CS_ENSURE(cs_slice_eq(f, cs_slice_str(format)), CONSORT_E_MALFORMED, "not a %s message",
              format);
    return CONSORT_OK;
}

static consort_err read_bounded(cs_cbor_reader *r, size_t max, const char *what, cs_slice *out)
{
    CS_TRY(cs_cbor_read_bytes(r, out));
    CS_ENSURE(out->len >= 1 && out->len <= max, CONSORT_E_MALFORMED,
              "%s of %zu bytes, expected 1 to %zu", what, out->len, max);
    return CONSORT_OK;
}

consort_err mig_offer_encode(const uint8_t id_d[MIG_ID_LEN], cs_slice transfer_spki,
                             cs_slice evidence, cs_buf *out)
{
    CS_TRY(cs_cbor_write_array(out, 4));
    CS_TRY(cs_cbor_write_cstr(out, "CSMO1"));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(id_d, MIG_ID_LEN)));
    CS_TRY(cs_cbor_write_bytes(out, transfer_spki));
    return cs_cbor_write_bytes(out, evidence);
}

consort_err mig_offer_parse(cs_slice in, mig_offer *o)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    CS_TRY(read_head(&r, 4, "CSMO1"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, o->id_d, MIG_ID_LEN, "offer instance id"));
    CS_TRY(read_bounded(&r, MIG_KEY_MAX, "offer transfer key", &o->transfer_spki));
    CS_TRY(read_bounded(&r, MIG_EVIDENCE_MAX, "offer evidence", &o->evidence));
    return cs_cbor_expect_end(&r);
}

consort_err mig_package_header(const mig_package *p, cs_buf *out)
{
    CS_TRY(cs_cbor_write_array(out, 10));
    CS_TRY(cs_cbor_write_cstr(out, "CSMP1"));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(p->id_s, MIG_ID_LEN)));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(p->id_d, MIG_ID_LEN)));
    CS_TRY(cs_cbor_write_bytes(out, p->eph_spki));
    CS_TRY(cs_cbor_write_bytes(out, p->evidence));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(p->evidence_d_digest, 32)));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(p->offer_digest, 32)));
    CS_TRY(cs_cbor_write_bytes(out, CS_SLICE(p->tag, 32)));
    return cs_cbor_write_bytes(out, CS_SLICE(p->nonce, 12));
}

consort_err mig_package_parse(cs_slice in, mig_package *p)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    CS_TRY(read_head(&r, 10, "CSMP1"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, p->id_s, MIG_ID_LEN, "package source id"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, p->id_d, MIG_ID_LEN, "package destination id"));
    CS_TRY(read_bounded(&r, MIG_KEY_MAX, "package ephemeral key", &p->eph_spki));
    CS_TRY(read_bounded(&r, MIG_EVIDENCE_MAX, "package evidence", &p->evidence));
    CS_TRY(cs_cbor_read_bytes_exact(&r, p->evidence_d_digest, 32, "package evidence digest"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, p->offer_digest, 32, "package offer digest"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, p->tag, 32, "package confirm tag"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, p->nonce, 12, "package nonce"));
    p->aad = CS_SLICE(in.ptr, r.pos);
    CS_TRY(read_bounded(&r, CS_SEAL_MAX_BLOB, "package contents", &p->sealed));
    return cs_cbor_expect_end(&r);
}

/* The bytes a confirm's signature covers. */
static void confirm_signed(const mig_confirm *c, cs_buf *b, consort_err *rc)
{
    const cs_slice parts[] = {
        CS_SLICE_LIT("consort migrate confirm v1"),
        CS_SLICE(c->id_s, MIG_ID_LEN),
        CS_SLICE(c->id_d, MIG_ID_LEN),
        CS_SLICE(c->package_digest, 32),
        CS_SLICE(c->tag, 32),
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(parts) && *rc == CONSORT_OK; i++)
        *rc = cs_buf_append_slice(b, parts[i]);
}

consort_err mig_confirm_encode(const mig_confirm *c, const cs_key *transfer, cs_buf *out)
{
    cs_buf msg, sig;
    cs_buf_init(&msg, 0);
    cs_buf_init(&sig, 0);
    consort_err rc = CONSORT_OK;
    confirm_signed(c, &msg, &rc);
    CS_TRY_GOTO(rc, rc, out);
    CS_TRY_GOTO(rc, cs_ecdsa_sign(transfer, CS_HASH_SHA256, cs_buf_slice(&msg), CS_SIG_RAW, &sig),
                out);
    CS_TRY_GOTO(rc, cs_cbor_write_array(out, 7), out);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(out, "CSMC1"), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, CS_SLICE(c->id_s, MIG_ID_LEN)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, CS_SLICE(c->id_d, MIG_ID_LEN)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, c->transfer_spki), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, CS_SLICE(c->package_digest, 32)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, CS_SLICE(c->tag, 32)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, cs_buf_slice(&sig)), out);
out:
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&sig);
    return rc;
}

consort_err mig_confirm_parse(cs_slice in, mig_confirm *c, cs_key **transfer)
{
    *transfer = NULL;
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    CS_TRY(read_head(&r, 7, "CSMC1"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, c->id_s, MIG_ID_LEN, "confirm source id"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, c->id_d, MIG_ID_LEN, "confirm destination id"));
    CS_TRY(read_bounded(&r, MIG_KEY_MAX, "confirm transfer key", &c->transfer_spki));
    CS_TRY(cs_cbor_read_bytes_exact(&r, c->package_digest, 32, "confirm package digest"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, c->tag, 32, "confirm tag"));
    CS_TRY(read_bounded(&r, 132, "confirm signature", &c->sig));
    CS_TRY(cs_cbor_expect_end(&r));
    cs_key *key;
    CS_TRY_CTX(cs_key_from_spki_der(c->transfer_spki, &key), "confirm transfer key");
    cs_buf msg;
    cs_buf_init(&msg, 0);
    consort_err rc = CONSORT_OK;
    confirm_signed(c, &msg, &rc);
    if (rc == CONSORT_OK)
        rc = cs_ecdsa_verify(key, CS_HASH_SHA256, cs_buf_slice(&msg), CS_SIG_RAW, c->sig);
    cs_buf_cleanup(&msg);
    if (rc != CONSORT_OK) {
        cs_key_free(key);
        return cs_err_context(rc, "confirm signature");
    }
    *transfer = key;
    return CONSORT_OK;
}

static consort_err done_signed(const uint8_t *id_s, const uint8_t *id_d, cs_buf *b)
{
    CS_TRY(cs_buf_append_slice(b, CS_SLICE_LIT("consort migrate done v1")));
    CS_TRY(cs_buf_append(b, id_s, MIG_ID_LEN));
    return cs_buf_append(b, id_d, MIG_ID_LEN);
}

consort_err mig_done_encode(const uint8_t id_s[MIG_ID_LEN], const uint8_t id_d[MIG_ID_LEN],
                            const cs_key *eph, cs_buf *out)
{
    cs_buf msg, sig;
    cs_buf_init(&msg, 0);
    cs_buf_init(&sig, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, done_signed(id_s, id_d, &msg), out);
    CS_TRY_GOTO(rc, cs_ecdsa_sign(eph, CS_HASH_SHA256, cs_buf_slice(&msg), CS_SIG_RAW, &sig), out);
    CS_TRY_GOTO(rc, cs_cbor_write_array(out, 4), out);
    CS_TRY_GOTO(rc, cs_cbor_write_cstr(out, "CSMD1"), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, CS_SLICE(id_s, MIG_ID_LEN)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, CS_SLICE(id_d, MIG_ID_LEN)), out);
    CS_TRY_GOTO(rc, cs_cbor_write_bytes(out, cs_buf_slice(&sig)), out);
out:
    cs_buf_cleanup(&msg);
    cs_buf_cleanup(&sig);
    return rc;
}

consort_err mig_done_verify(cs_slice in, const uint8_t id_s[MIG_ID_LEN],
                            const uint8_t id_d[MIG_ID_LEN], const cs_key *eph)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    uint8_t got_s[MIG_ID_LEN], got_d[MIG_ID_LEN];
    cs_slice sig;
    CS_TRY(read_head(&r, 4, "CSMD1"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, got_s, MIG_ID_LEN, "done source id"));
    CS_TRY(cs_cbor_read_bytes_exact(&r, got_d, MIG_ID_LEN, "done destination id"));
    CS_TRY(read_bounded(&r, 132, "done signature", &sig));
    CS_TRY(cs_cbor_expect_end(&r));
    char a[9], b[9];
    mig_id_hex(got_s, a);
    mig_id_hex(got_d, b);
    CS_ENSURE(memcmp(got_s, id_s, MIG_ID_LEN) == 0 && memcmp(got_d, id_d, MIG_ID_LEN) == 0,
              CONSORT_E_POLICY, "done from %s... to %s... is not for this migration", a, b);
    cs_buf msg;
    cs_buf_init(&msg, 0);
    consort_err rc = done_signed(id_s, id_d, &msg);
    if (rc == CONSORT_OK)
        rc = cs_ecdsa_verify(eph, CS_HASH_SHA256, cs_buf_slice(&msg), CS_SIG_RAW, sig);
    cs_buf_cleanup(&msg);
    CS_TRY_CTX(rc, "done signature");
    return CONSORT_OK;
}

consort_err mig_confirm_tag(const uint8_t smk[32], const uint8_t id_s[MIG_ID_LEN],
                            const uint8_t id_d[MIG_ID_LEN], cs_slice transfer_spki, uint8_t tag[32])
{
    uint8_t k[32];
    CS_TRY(cs_hkdf_sha256(CS_SLICE(smk, 32), CS_SLICE_EMPTY,
                          CS_SLICE_LIT("consort migrate confirm v1"), k, sizeof k));
    const cs_slice parts[] = {CS_SLICE(id_s, MIG_ID_LEN), CS_SLICE(id_d, MIG_ID_LEN),
                              transfer_spki};
    cs_hmac_sha256_parts(CS_SLICE(k, sizeof k), parts, CS_ARRAY_LEN(parts), tag);
    cs_wipe(k, sizeof k);
    return CONSORT_OK;
}

consort_err mig_package_key(const cs_key *mine, const cs_key *peer, const uint8_t id_s[MIG_ID_LEN],
                            const uint8_t id_d[MIG_ID_LEN], uint8_t key[32])
{
    cs_buf shared;
    cs_buf_init_secret(&shared, 0);
    uint8_t salt[2 * MIG_ID_LEN];
    memcpy(salt, id_s, MIG_ID_LEN);
    memcpy(salt + MIG_ID_LEN, id_d, MIG_ID_LEN);
    consort_err rc = cs_key_ecdh(mine, peer, &shared);
    if (rc == CONSORT_OK)
        rc = cs_hkdf_sha256(cs_buf_slice(&shared), CS_SLICE(salt, sizeof salt),
                            CS_SLICE_LIT("consort migrate v1"), key, 32);
    cs_buf_cleanup(&shared);
    return rc;
}
