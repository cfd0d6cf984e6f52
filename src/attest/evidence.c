/*
 * The evidence envelope (docs/formats.md "Evidence envelope") and the
 * report-data binding of the attester's key (DESIGN.md "Platforms").
 *
 * Envelope, a CBOR map with definite lengths and exactly these keys in
 * this order:
 *   { 1: platform (tstr), 2: evidence (bstr), 3: [* endorsement (bstr)] }
 * The decoder accepts exactly one encoding of each envelope: the one
 * cs_evidence_encode produces (RFC 8949 §4.2.1 core deterministic encoding:
 * shortest-form arguments, definite lengths, keys in ascending order).
 */
#include "attest/evidence.h"

#include "base/cbor.h"
#include "crypto/rand.h"

#include <string.h>

enum { KEY_PLATFORM = 1, KEY_EVIDENCE = 2, KEY_ENDORSEMENTS = 3, KEY_COUNT = 3 };

/* The longest platform name ("virtual"), with room to spare. */
#define PLATFORM_NAME_MAX 15

consort_err cs_evidence_encode(const cs_evidence *ev, cs_buf *out)
{
    CS_ENSURE(ev->platform > CS_PLATFORM_NONE && ev->platform < CS_PLATFORM_COUNT,
              CONSORT_E_INVALID_ARGUMENT, "evidence envelope: platform %d invalid",
              (int)ev->platform);
    /* never produce what cs_evidence_decode would refuse */
    CS_ENSURE(ev->evidence.len > 0, CONSORT_E_INVALID_ARGUMENT,
              "evidence envelope: empty evidence");
    CS_ENSURE(ev->evidence.len <= CS_EVIDENCE_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "evidence envelope: evidence of %zu bytes exceeds %d", ev->evidence.len,
              CS_EVIDENCE_MAX_BYTES);
    CS_ENSURE(ev->endorsements.count <= CS_EVIDENCE_MAX_ENDORSEMENTS, CONSORT_E_TOO_LARGE,
              "evidence envelope: %zu endorsements exceed %d", ev->endorsements.count,
              CS_EVIDENCE_MAX_ENDORSEMENTS);

    CS_TRY(cs_cbor_write_map(out, KEY_COUNT));
    CS_TRY(cs_cbor_write_uint(out, KEY_PLATFORM));
    CS_TRY(cs_cbor_write_cstr(out, cs_platform_name(ev->platform)));
    CS_TRY(cs_cbor_write_uint(out, KEY_EVIDENCE));
    CS_TRY(cs_cbor_write_bytes(out, cs_buf_slice(&ev->evidence)));
    CS_TRY(cs_cbor_write_uint(out, KEY_ENDORSEMENTS));
    CS_TRY(cs_cbor_write_array(out, ev->endorsements.count));
    for (size_t i = 0; i < ev->endorsements.count; i++) {
        cs_slice e = cs_buf_slice(&ev->endorsements.items[i]);
        CS_ENSURE(e.len <= CS_ENDORSEMENT_MAX_BYTES, CONSORT_E_TOO_LARGE,
                  "evidence envelope: endorsement %zu of %zu bytes exceeds %d", i, e.len,
                  CS_ENDORSEMENT_MAX_BYTES);
        CS_TRY(cs_cbor_write_bytes(out, e));
    }
    return CONSORT_OK;
}

/* Reads the key of entry `index` (0-based) and checks it is the expected one. */
static consort_err read_key(cs_cbor_reader *r, uint64_t index, uint64_t seen_mask)
{
    uint64_t key;
    CS_TRY_CTX(cs_cbor_read_uint(r, &key), "key of entry %llu", (unsigned long long)index);
    CS_ENSURE(key >= KEY_PLATFORM && key <= KEY_ENDORSEMENTS, CONSORT_E_MALFORMED,
              "unknown key %llu", (unsigned long long)key);
    CS_ENSURE((seen_mask & (1u << key)) == 0, CONSORT_E_MALFORMED, "duplicate key %llu",
              (unsigned long long)key);
    CS_ENSURE(key == index + 1, CONSORT_E_MALFORMED, "key %llu out of order, expected %llu",
              (unsigned long long)key, (unsigned long long)(index + 1));
    return CONSORT_OK;
}

static consort_err read_platform(cs_cbor_reader *r, cs_platform *out)
{
    cs_slice name;
    CS_TRY_CTX(cs_cbor_read_text(r, &name), "platform (key 1)");
    char copy[PLATFORM_NAME_MAX + 1];
    CS_ENSURE(name.len <= PLATFORM_NAME_MAX && memchr(name.ptr, '\0', name.len) == NULL,
              CONSORT_E_UNSUPPORTED, "platform name of %zu bytes unknown", name.len);
    memcpy(copy, name.ptr, name.len);
    copy[name.len] = '\0';
    if (cs_platform_parse(copy, out) != CONSORT_OK)
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "platform '%s' unknown, expected virtual, tpm, snp, tdx or sgx", copy);
    return CONSORT_OK;
}

static consort_err read_evidence(cs_cbor_reader *r, cs_buf *out)
{
    cs_slice bytes;
    CS_TRY_CTX(cs_cbor_read_bytes(r, &bytes), "evidence (key 2)");
    CS_ENSURE(bytes.len > 0, CONSORT_E_MALFORMED, "evidence (key 2) is empty");
    CS_ENSURE(bytes.len <= CS_EVIDENCE_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "evidence (key 2) of %zu bytes exceeds %d", bytes.len, CS_EVIDENCE_MAX_BYTES);
    return cs_buf_set(out, bytes);
}

static consort_err read_endorsements(cs_cbor_reader *r, cs_blob_list *out)
{
    uint64_t count;
    CS_TRY_CTX(cs_cbor_read_array(r, &count), "endorsements (key 3)");
    CS_ENSURE(count <= CS_EVIDENCE_MAX_ENDORSEMENTS, CONSORT_E_TOO_LARGE,
              "endorsements (key 3): %llu items exceed %d", (unsigned long long)count,
              CS_EVIDENCE_MAX_ENDORSEMENTS);
    for (uint64_t i = 0; i < count; i++) {
        cs_slice bytes;
        CS_TRY_CTX(cs_cbor_read_bytes(r, &bytes), "endorsement %llu", (unsigned long long)i);
        CS_ENSURE(bytes.len <= CS_ENDORSEMENT_MAX_BYTES, CONSORT_E_TOO_LARGE,
                  "endorsement %llu of %zu bytes exceeds %d", (unsigned long long)i, bytes.len,
                  CS_ENDORSEMENT_MAX_BYTES);
        CS_TRY(cs_blob_list_add(out, bytes));
    }
    return CONSORT_OK;
}

static consort_err decode_into(cs_slice in, cs_evidence *ev)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    uint64_t entries;
    CS_TRY(cs_cbor_read_map(&r, &entries));
    CS_ENSURE(entries == KEY_COUNT, CONSORT_E_MALFORMED, "map has %llu entries, expected %d",
              (unsigned long long)entries, KEY_COUNT);
    uint64_t seen = 0;
    for (uint64_t i = 0; i < KEY_COUNT; i++) {
        CS_TRY(read_key(&r, i, seen));
        seen |= 1u << (i + 1);
        switch (i + 1) {
        case KEY_PLATFORM:
            CS_TRY(read_platform(&r, &ev->platform));
            break;
        case KEY_EVIDENCE:
            CS_TRY(read_evidence(&r, &ev->evidence));
            break;
        default:
            CS_TRY(read_endorsements(&r, &ev->endorsements));
            break;
        }
    }
    CS_TRY(cs_cbor_expect_end(&r));

    /* RFC 8949 §4.2.1: one value, one encoding. Re-encoding must give the
     * input back, which rejects non-shortest integer and length arguments. */
    cs_buf again;
    cs_buf_init(&again, in.len);
    consort_err rc = cs_evidence_encode(ev, &again);
    if (rc == CONSORT_OK && !cs_slice_eq(cs_buf_slice(&again), in))
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "not in deterministic encoding (RFC 8949 §4.2.1): an argument is not "
                     "in its shortest form");
    else if (rc == CONSORT_E_TOO_LARGE)
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "not in deterministic encoding (RFC 8949 §4.2.1): longer than needed");
    cs_buf_cleanup(&again);
    return rc;
}

/*
 * Decodes into `ev`, which must have been initialised (cs_evidence_init);
 * its previous contents are released. On failure `ev` is left empty.
 */
consort_err cs_evidence_decode(cs_slice in, cs_evidence *ev)
{
    cs_evidence tmp;
    cs_evidence_init(&tmp);
    consort_err rc = decode_into(in, &tmp);
    cs_evidence_cleanup(ev);
    if (rc != CONSORT_OK) {
        cs_evidence_cleanup(&tmp);
        cs_evidence_init(ev);
        return cs_err_context(rc, "evidence envelope");
    }
    *ev = tmp;
    return CONSORT_OK;
}

/* ---- report-data binding ---- */

/* Bounds the DER SubjectPublicKeyInfo of any key consort binds. */
#define SPKI_MAX_BYTES (16 * 1024)
/* Bounds the nonce: a nonce is a short challenge, never a document. */
#define NONCE_MAX_BYTES 1024

consort_err cs_report_data_bind(const cs_key *key, cs_slice nonce, uint8_t out[64])
{
    CS_ENSURE(nonce.len <= NONCE_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "report data: nonce of %zu bytes exceeds %d", nonce.len, NONCE_MAX_BYTES);
    cs_buf spki;
    cs_buf_init(&spki, SPKI_MAX_BYTES);
    consort_err rc = cs_key_spki_der(key, &spki);
    if (rc == CONSORT_OK) {
        /* DESIGN.md "Platforms": SHA-256(DER SPKI || nonce), zero-padded to 64 bytes */
        const cs_slice parts[2] = {cs_buf_slice(&spki), nonce};
        memset(out, 0, 64);
        cs_sha256_parts(parts, 2, out);
    }
    cs_buf_cleanup(&spki);
    return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "report data");
}

consort_err cs_claims_check_binding(const cs_claims *claims, const cs_key *key, cs_slice nonce)
{
    uint8_t want[64];
    CS_TRY(cs_report_data_bind(key, nonce, want));
    if (!cs_ct_equal(CS_SLICE(want, sizeof want),
                     CS_SLICE(claims->report_data, sizeof claims->report_data))) {
        char got_hex[2 * 32 + 1];
        char want_hex[2 * 32 + 1];
        cs_hex_encode(CS_SLICE(claims->report_data, 32), got_hex);
        cs_hex_encode(CS_SLICE(want, 32), want_hex);
        return cs_fail(CONSORT_E_REPORT_DATA,
                       "report data %s... does not bind the given key and nonce (expected %s...)",
                       got_hex, want_hex);
    }
    return CONSORT_OK;
}
