/*
 * Ledger entry codec, version 1 (service.md "Ledger entry"; docs/ledger.md
 * "Entries"). Layout, big-endian:
 *
 *   0  4  magic "CSLE"          56 32 commit_evidence_digest
 *   4  1  version = 1           88  4 public_len, then the public write set
 *   5  1  kind (1, 2, 3)       ..   4 private_len, then the private section
 *   6  2  flags = 0                  (AES-256-GCM ciphertext || 16-byte tag)
 *   8  8  term
 *  16  8  seqno
 *  24 32  claims_digest
 */
#include "store/ledger.h"

#include "crypto/hash.h"

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

/* service.md: nonce = be32(term) || be64(seqno), unique because (term, seqno)
 * never repeats; the caller has checked term <= CS_LEDGER_TERM_MAX. */
static void entry_nonce(uint64_t term, uint64_t seqno, uint8_t nonce[CS_AEAD_NONCE_LEN])
{
    for (int i = 0; i < 4; i++)
        nonce[i] = (uint8_t)(term >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (uint8_t)(seqno >> (56 - 8 * i));
}

/* "No private writes" is an empty slice or the empty write set (0xa0). */
static bool no_private_writes(cs_slice ws)
{
    return ws.len == 0 || (ws.len == 1 && ws.ptr[0] == 0xa0);
}

static consort_err check_params(const cs_ledger_entry_params *p)
{
    CS_ENSURE(kind_known((uint64_t)p->kind), CONSORT_E_INVALID_ARGUMENT,
              "ledger entry: kind %d unknown", (int)p->kind);
    CS_ENSURE(p->term >= 1 && p->term <= CS_LEDGER_TERM_MAX, CONSORT_E_INVALID_ARGUMENT,
              "ledger entry: term %llu outside 1..2^32-1 (the AES-GCM nonce holds 32 bits)",
              (unsigned long long)p->term);
    CS_ENSURE(p->seqno >= 1, CONSORT_E_INVALID_ARGUMENT, "ledger entry: seqno 0");
    CS_ENSURE(p->public_ws.len <= CS_LEDGER_WS_MAX, CONSORT_E_TOO_LARGE,
              "ledger entry: public write set of %zu bytes exceeds %zu", p->public_ws.len,
              CS_LEDGER_WS_MAX);
    CS_ENSURE(p->private_ws.len <= CS_LEDGER_WS_MAX, CONSORT_E_TOO_LARGE,
              "ledger entry: private write set of %zu bytes exceeds %zu", p->private_ws.len,
              CS_LEDGER_WS_MAX);
    return CONSORT_OK;
}

static consort_err encode_into(const cs_ledger_entry_params *p,
                               const uint8_t secret[CS_LEDGER_SECRET_LEN], cs_buf *out,
                               size_t start)
{
    static const uint8_t zero[CS_LEDGER_DIGEST_LEN];
    char ce[CS_LEDGER_CE_MAX];
    uint8_t ce_digest[CS_LEDGER_DIGEST_LEN];
    CS_TRY(cs_ledger_commit_evidence(secret, p->term, p->seqno, ce));
    cs_ledger_commit_evidence_digest(cs_slice_str(ce), ce_digest);
    cs_wipe(ce, sizeof ce);

    CS_TRY(cs_buf_append(out, CS_LEDGER_MAGIC, 4));
    CS_TRY(cs_buf_append_u8(out, CS_LEDGER_VERSION));
    CS_TRY(cs_buf_append_u8(out, (uint8_t)p->kind));
    CS_TRY(cs_buf_append_be16(out, 0)); /* flags: reserved */
    CS_TRY(cs_buf_append_be64(out, p->term));
    CS_TRY(cs_buf_append_be64(out, p->seqno));
    CS_TRY(cs_buf_append(out, p->claims_digest ? p->claims_digest : zero, CS_LEDGER_DIGEST_LEN));
    CS_TRY(cs_buf_append(out, ce_digest, sizeof ce_digest));
    CS_TRY(cs_buf_append_be32(out, (uint32_t)p->public_ws.len));
    CS_TRY(cs_buf_append_slice(out, p->public_ws));
    if (no_private_writes(p->private_ws))
        return cs_buf_append_be32(out, 0);
    CS_TRY(cs_buf_append_be32(out, (uint32_t)(p->private_ws.len + CS_AEAD_TAG_LEN)));
    /* the aad is every byte of this entry before the private section */
    uint8_t nonce[CS_AEAD_NONCE_LEN];
    entry_nonce(p->term, p->seqno, nonce);
    CS_TRY(cs_buf_reserve(out, p->private_ws.len + CS_AEAD_TAG_LEN));
    cs_slice aad = CS_SLICE(out->ptr + start, out->len - start);
    return cs_aead_seal(secret, nonce, aad, p->private_ws, out);
}

consort_err cs_ledger_entry_encode(const cs_ledger_entry_params *p,
                                   const uint8_t secret[CS_LEDGER_SECRET_LEN], cs_buf *out)
{
    CS_TRY(check_params(p));
    size_t start = out->len;
    consort_err rc = encode_into(p, secret, out, start);
    if (rc != CONSORT_OK) {
        out->len = start;
        return cs_err_context(rc, "ledger entry %llu", (unsigned long long)p->seqno);
    }
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
    CS_ENSURE(version == CS_LEDGER_VERSION, CONSORT_E_UNSUPPORTED, "version %u, expected %u",
              version, CS_LEDGER_VERSION);
    CS_TRY(cs_cursor_read_u8(c, &kind));
    CS_ENSURE(kind_known(kind), CONSORT_E_MALFORMED, "kind %u unknown (1, 2 or 3)", kind);
    out->kind = (cs_ledger_kind)kind;
    CS_TRY(cs_cursor_read_be16(c, &flags));
    CS_ENSURE(flags == 0, CONSORT_E_MALFORMED, "flags 0x%04x, reserved bits must be 0", flags);
    CS_TRY(cs_cursor_read_be64(c, &out->term));
    CS_ENSURE(out->term >= 1 && out->term <= CS_LEDGER_TERM_MAX, CONSORT_E_MALFORMED,
              "term %llu outside 1..2^32-1", (unsigned long long)out->term);
    CS_TRY(cs_cursor_read_be64(c, &out->seqno));
    CS_ENSURE(out->seqno >= 1, CONSORT_E_MALFORMED, "seqno 0");
    cs_slice digests;
    CS_TRY(cs_cursor_read_slice(c, 2 * CS_LEDGER_DIGEST_LEN, &digests));
    out->claims_digest = digests.ptr;
    out->commit_evidence_digest = digests.ptr + CS_LEDGER_DIGEST_LEN;
    return CONSORT_OK;
}

static consort_err decode_sections(cs_cursor *c, cs_ledger_entry *out)
{
    uint32_t public_len, private_len;
    CS_TRY(cs_cursor_read_be32(c, &public_len));
    CS_ENSURE(public_len <= CS_LEDGER_WS_MAX, CONSORT_E_TOO_LARGE, "public_len %u exceeds %zu",
              public_len, CS_LEDGER_WS_MAX);
    CS_TRY_CTX(cs_cursor_read_slice(c, public_len, &out->public_ws), "public write set");
    CS_TRY(cs_cursor_read_be32(c, &private_len));
    out->aad = CS_SLICE(c->ptr, c->pos);
    CS_ENSURE(private_len <= CS_LEDGER_PRIVATE_MAX, CONSORT_E_TOO_LARGE,
              "private_len %u exceeds %zu", private_len, CS_LEDGER_PRIVATE_MAX);
    /* the encoder writes 0 for "no private writes", else plaintext + tag */
    CS_ENSURE(private_len == 0 || private_len > CS_AEAD_TAG_LEN, CONSORT_E_MALFORMED,
              "private_len %u: neither 0 nor more than the %d-byte tag", private_len,
              CS_AEAD_TAG_LEN);
    CS_TRY_CTX(cs_cursor_read_slice(c, private_len, &out->private_section), "private section");
    return cs_cursor_expect_end(c);
}

consort_err cs_ledger_entry_decode(cs_slice in, cs_ledger_entry *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(in.len <= CS_LEDGER_ENTRY_MAX, CONSORT_E_TOO_LARGE,
              "ledger entry: %zu bytes exceeds %zu", in.len, CS_LEDGER_ENTRY_MAX);
    cs_cursor c;
    cs_cursor_init(&c, in);
    CS_TRY_CTX(decode_header(&c, out), "ledger entry");
    CS_TRY_CTX(decode_sections(&c, out), "ledger entry %llu", (unsigned long long)out->seqno);
    out->raw = in;
    return CONSORT_OK;
}

consort_err cs_ledger_entry_decrypt(const cs_ledger_entry *e,
                                    const uint8_t secret[CS_LEDGER_SECRET_LEN], cs_buf *out)
{
    if (e->private_section.len == 0)
        return cs_buf_append_u8(out, 0xa0);
    uint8_t nonce[CS_AEAD_NONCE_LEN];
    entry_nonce(e->term, e->seqno, nonce);
    CS_TRY_CTX(cs_aead_open(secret, nonce, e->aad, e->private_section, out),
               "ledger entry %llu: private section", (unsigned long long)e->seqno);
    return CONSORT_OK;
}
