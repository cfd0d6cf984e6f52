/*
 * Ledger entry codec, version 2 (docs/ledger.md section 1). Layout,
 * big-endian, P = public_len, C = private_len:
 *
 *     0  4  magic "CSLE"             72  32  commit_evidence_digest
 *     4  1  version = 2             104   4  public_len P (<= 16 MiB)
 *     5  1  kind (1, 2, 3)          108   P  public write set
 *     6  2  flags = 0             108+P   4  private_len C (<= 16 MiB)
 *     8  8  term (1 .. 2^32-1)    112+P   C  private ciphertext
 *    16  8  seqno (>= 1)        112+P+C  16  AES-GCM tag
 *    24 16  key_salt
 *    40 32  claims_digest        (the entry is exactly 128 + P + C bytes)
 *
 * Every entry is AES-256-GCM sealed under the key of its key_salt
 * (ledger_keys.c), nonce 0x00000000 || be64(seqno), aad = bytes
 * [0, 112 + P), plaintext = the private write set (possibly empty: the tag
 * is then a GMAC over the aad). So the tag authenticates every byte of the
 * entry, with or without private writes.
 */
#include "store/ledger.h"
#include "store/ledger_keys.h"

#include "crypto/hash.h"
#include "crypto/rand.h"

#include <inttypes.h>
#include <string.h>

const char *cs_ledger_kind_name(cs_ledger_kind kind)
{
    switch (kind) {
    case CS_LEDGER_KIND_TX:
        return "transaction";
    case CS_LEDGER_KIND_SIGNATURE:
        return "signature";
    case CS_LEDGER_KIND_INTERNAL:
        return "internal";
    }
    return "unknown";
}

static bool kind_known(uint64_t kind)
{
    return kind >= CS_LEDGER_KIND_TX && kind <= CS_LEDGER_KIND_INTERNAL;
}

/* docs/ledger.md 1.2: nonce = 0x00000000 || be64(seqno), unique per key
 * because a key salt never seals the same seqno twice. */
static void entry_nonce(uint64_t seqno, uint8_t nonce[CS_AEAD_NONCE_LEN])
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(seqno >> (56 - 8 * i));
}

/* "No private writes" is an empty slice or the empty write set (0xa0). */
static bool no_private_writes(cs_slice ws)
{
    return ws.len == 0 || (ws.len == 1 && ws.ptr[0] == 0xa0);
}

/* SHA-256 of the commit evidence of (term, seqno) (docs/ledger.md 2). */
static consort_err ce_digest_of(const uint8_t secret[CS_LEDGER_SECRET_LEN], uint64_t term,
                                uint64_t seqno, uint8_t out[CS_LEDGER_DIGEST_LEN])
{
    char ce[CS_LEDGER_CE_MAX];
    CS_TRY(cs_ledger_commit_evidence(secret, term, seqno, ce));
    cs_ledger_commit_evidence_digest(cs_slice_str(ce), out);
    cs_wipe(ce, sizeof ce);
    return CONSORT_OK;
}

static consort_err check_params(const cs_ledger_entry_params *p, const cs_ledger_keys *k)
{
    CS_ENSURE(kind_known((uint64_t)p->kind), CONSORT_E_INVALID_ARGUMENT,
              "ledger entry: kind %d unknown", (int)p->kind);
    CS_ENSURE(p->term >= 1 && p->term <= CS_LEDGER_TERM_MAX, CONSORT_E_INVALID_ARGUMENT,
              "ledger entry: term %" PRIu64 " outside 1..2^32-1", p->term);
    CS_ENSURE(p->seqno >= 1, CONSORT_E_INVALID_ARGUMENT, "ledger entry: seqno 0");
    CS_ENSURE(p->public_ws.len <= CS_LEDGER_WS_MAX, CONSORT_E_TOO_LARGE,
              "ledger entry: public write set of %zu bytes exceeds %zu", p->public_ws.len,
              CS_LEDGER_WS_MAX);
    CS_ENSURE(p->private_ws.len <= CS_LEDGER_WS_MAX, CONSORT_E_TOO_LARGE,
              "ledger entry: private write set of %zu bytes exceeds %zu", p->private_ws.len,
              CS_LEDGER_WS_MAX);
    /* docs/ledger.md 1.2: a key salt seals strictly increasing seqnos */
    CS_ENSURE(k->sealing, CONSORT_E_STATE,
              "ledger entry %" PRIu64 ": the ledger keys have no sealing key yet (rekey first)",
              p->seqno);
    CS_ENSURE(p->seqno > k->sealed_upto, CONSORT_E_STATE,
              "ledger entry %" PRIu64 ": seqno not above %" PRIu64
              ", the last sealed under this key salt (a nonce would repeat: rekey first)",
              p->seqno, k->sealed_upto);
    return CONSORT_OK;
}

static consort_err encode_into(const cs_ledger_entry_params *p, const cs_ledger_keys *k,
                               cs_buf *out, size_t start)
{
    static const uint8_t zero[CS_LEDGER_DIGEST_LEN];
    uint8_t ce_digest[CS_LEDGER_DIGEST_LEN];
    CS_TRY(ce_digest_of(k->secret, p->term, p->seqno, ce_digest));
    cs_slice priv = no_private_writes(p->private_ws) ? CS_SLICE_EMPTY : p->private_ws;

    CS_TRY(cs_buf_reserve(out, CS_LEDGER_ENTRY_MIN + p->public_ws.len + priv.len));
    CS_TRY(cs_buf_append(out, CS_LEDGER_MAGIC, 4));
    CS_TRY(cs_buf_append_u8(out, CS_LEDGER_VERSION));
    CS_TRY(cs_buf_append_u8(out, (uint8_t)p->kind));
    CS_TRY(cs_buf_append_be16(out, 0)); /* flags: reserved */
    CS_TRY(cs_buf_append_be64(out, p->term));
    CS_TRY(cs_buf_append_be64(out, p->seqno));
    CS_TRY(cs_buf_append(out, k->seal_salt, CS_LEDGER_SALT_LEN));
    CS_TRY(cs_buf_append(out, p->claims_digest ? p->claims_digest : zero, CS_LEDGER_DIGEST_LEN));
    CS_TRY(cs_buf_append(out, ce_digest, sizeof ce_digest));
    CS_TRY(cs_buf_append_be32(out, (uint32_t)p->public_ws.len));
    CS_TRY(cs_buf_append_slice(out, p->public_ws));
    CS_TRY(cs_buf_append_be32(out, (uint32_t)priv.len));
    /* aad = every byte of this entry so far (docs/ledger.md 1.2); the
     * reserve above keeps `out` from moving under it */
    uint8_t nonce[CS_AEAD_NONCE_LEN];
    entry_nonce(p->seqno, nonce);
    cs_slice aad = CS_SLICE(out->ptr + start, out->len - start);
    return cs_aead_seal(k->seal_key, nonce, aad, priv, out);
}

consort_err cs_ledger_entry_encode(const cs_ledger_entry_params *p, cs_ledger_keys *k, cs_buf *out)
{
    CS_TRY(check_params(p, k));
    size_t start = out->len;
    consort_err rc = encode_into(p, k, out, start);
    if (rc != CONSORT_OK) {
        if (out->len > start)
            cs_wipe(out->ptr + start, out->len - start);
        out->len = start;
        return cs_err_context(rc, "ledger entry %" PRIu64, p->seqno);
    }
    k->sealed_upto = p->seqno;
    return CONSORT_OK;
}

static consort_err decode_header(cs_cursor *c, cs_ledger_entry *out)
{
    uint8_t magic[4], version, kind;
    uint16_t flags;
    CS_TRY(cs_cursor_read_into(c, magic, sizeof magic));
    CS_ENSURE(memcmp(magic, CS_LEDGER_MAGIC, 4) == 0, CONSORT_E_MALFORMED,
              "magic %02x%02x%02x%02x, expected \"CSLE\"", magic[0], magic[1], magic[2], magic[3]);
    CS_TRY(cs_cursor_read_u8(c, &version));
    CS_ENSURE(version != 1, CONSORT_E_UNSUPPORTED,
              "version 1: ledger format version 1 is no longer supported (expected %u)",
              CS_LEDGER_VERSION);
    CS_ENSURE(version == CS_LEDGER_VERSION, CONSORT_E_UNSUPPORTED, "version %u, expected %u",
              version, CS_LEDGER_VERSION);
    CS_TRY(cs_cursor_read_u8(c, &kind));
    CS_ENSURE(kind_known(kind), CONSORT_E_MALFORMED, "kind %u unknown (1, 2 or 3)", kind);
    out->kind = (cs_ledger_kind)kind;
    CS_TRY(cs_cursor_read_be16(c, &flags));
    CS_ENSURE(flags == 0, CONSORT_E_MALFORMED, "flags 0x%04x, reserved bits must be 0", flags);
    CS_TRY(cs_cursor_read_be64(c, &out->term));
    CS_ENSURE(out->term >= 1 && out->term <= CS_LEDGER_TERM_MAX, CONSORT_E_MALFORMED,
              "term %" PRIu64 " outside 1..2^32-1", out->term);
    CS_TRY(cs_cursor_read_be64(c, &out->seqno));
    CS_ENSURE(out->seqno >= 1, CONSORT_E_MALFORMED, "seqno 0");
    cs_slice fixed;
    CS_TRY(cs_cursor_read_slice(c, CS_LEDGER_SALT_LEN + 2 * CS_LEDGER_DIGEST_LEN, &fixed));
    out->key_salt = fixed.ptr;
    out->claims_digest = fixed.ptr + CS_LEDGER_SALT_LEN;
    out->commit_evidence_digest = fixed.ptr + CS_LEDGER_SALT_LEN + CS_LEDGER_DIGEST_LEN;
    return CONSORT_OK;
}

static consort_err decode_sections(cs_cursor *c, cs_ledger_entry *out)
{
    uint32_t public_len, private_len;
    CS_TRY(cs_cursor_read_be32(c, &public_len));
    CS_ENSURE(public_len <= CS_LEDGER_WS_MAX, CONSORT_E_TOO_LARGE, "public_len %u exceeds %zu",
              public_len, CS_LEDGER_WS_MAX);
    CS_TRY_CTX(cs_cursor_read_slice(c, public_len, &out->public_ws), "public write set");
    CS_TRY_CTX(cs_cursor_read_be32(c, &private_len), "private_len");
    out->aad = CS_SLICE(c->ptr, c->pos);
    CS_ENSURE(private_len <= CS_LEDGER_WS_MAX, CONSORT_E_TOO_LARGE, "private_len %u exceeds %zu",
              private_len, CS_LEDGER_WS_MAX);
    CS_TRY_CTX(cs_cursor_read_slice(c, private_len, &out->ciphertext), "private ciphertext");
    CS_TRY_CTX(cs_cursor_read_slice(c, CS_AEAD_TAG_LEN, &out->tag), "tag");
    return cs_cursor_expect_end(c);
}

consort_err cs_ledger_entry_decode(cs_slice in, cs_ledger_entry *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(in.len <= CS_LEDGER_ENTRY_MAX, CONSORT_E_TOO_LARGE,
              "ledger entry: %zu bytes exceeds %zu", in.len, CS_LEDGER_ENTRY_MAX);
    cs_cursor c;
    cs_cursor_init(&c, in);
    consort_err rc = decode_header(&c, out);
    if (rc != CONSORT_OK) {
        memset(out, 0, sizeof *out); /* no half-decoded entry escapes */
        return cs_err_context(rc, "ledger entry");
    }
    rc = decode_sections(&c, out);
    if (rc != CONSORT_OK) {
        uint64_t seqno = out->seqno;
        memset(out, 0, sizeof *out);
        return cs_err_context(rc, "ledger entry %" PRIu64, seqno);
    }
    out->raw = in;
    return CONSORT_OK;
}

/* ciphertext || tag: the bytes after the aad, contiguous in `raw`. */
static consort_err sealed_part(const cs_ledger_entry *e, cs_slice *out)
{
    CS_ENSURE(e->raw.ptr != NULL && e->aad.ptr == e->raw.ptr &&
                  e->aad.len + e->ciphertext.len + CS_AEAD_TAG_LEN == e->raw.len &&
                  e->tag.len == CS_AEAD_TAG_LEN,
              CONSORT_E_INVALID_ARGUMENT, "ledger entry: not a decoded entry");
    *out = CS_SLICE(e->raw.ptr + e->aad.len, e->raw.len - e->aad.len);
    return CONSORT_OK;
}

consort_err cs_ledger_entry_open(const cs_ledger_entry *e, cs_ledger_keys *k, cs_buf *out)
{
    const unsigned long long seqno = (unsigned long long)e->seqno;
    cs_slice sealed;
    CS_TRY(sealed_part(e, &sealed));
    const uint8_t *key;
    CS_TRY_CTX(cs_ledger_keys_open_key(k, e->key_salt, &key), "ledger entry %llu", seqno);
    uint8_t nonce[CS_AEAD_NONCE_LEN], want[CS_LEDGER_DIGEST_LEN];
    entry_nonce(e->seqno, nonce);
    /* the tag first: any altered, added or stripped byte is BAD_TAG */
    size_t start = out->len;
    CS_TRY_CTX(cs_aead_open(key, nonce, e->aad, sealed, out), "ledger entry %llu", seqno);
    consort_err rc = ce_digest_of(k->secret, e->term, e->seqno, want);
    /* docs/ledger.md 2: the digest of the commit evidence of (term, seqno);
     * a genuine tag with another digest is a sealer that got it wrong */
    if (rc == CONSORT_OK && !cs_ct_equal(CS_SLICE(want, sizeof want),
                                         CS_SLICE(e->commit_evidence_digest, CS_LEDGER_DIGEST_LEN)))
        rc = cs_fail(CONSORT_E_BAD_PROOF,
                     "commit_evidence_digest is not the digest of the commit evidence of %" PRIu64
                     ".%" PRIu64,
                     e->term, e->seqno);
    if (rc == CONSORT_OK && e->ciphertext.len == 0)
        rc = cs_buf_append_u8(out, 0xa0); /* no private writes: the empty write set */
    if (rc != CONSORT_OK) {
        if (out->len > start)
            cs_wipe(out->ptr + start, out->len - start);
        out->len = start;
        return cs_err_context(rc, "ledger entry %llu", seqno);
    }
    return CONSORT_OK;
}
