/*
 * The bytes of a sealed blob (seal.h, docs/migration.md §2):
 *
 *   ["CSSL1", policy, sealer code id, [successors], counter name / null,
 *    counter value, nonce, ciphertext || tag]
 *
 * written and read by hand rather than through base/cbor.c: this is the
 * whole fixed cost of every seal and unseal (about 0.1 us each way through
 * the generic codec, most of a 64-byte seal). The writer makes exactly the
 * generic writer's shortest-form CBOR (test_seal checks so); the reader
 * takes exactly this grammar and nothing else.
 */
#include "sealing/seal_priv.h"

#include <string.h>

#define SEAL_FORMAT "CSSL1"

bool cs_seal_printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return false;
    return true;
}

/* ---- writing ---- */

/* A CBOR head (RFC 8949 §3: major type and argument) in its shortest form
 * (§4.2.1) at `p`; returns how many bytes it took (at most 9). */
static size_t put_head(uint8_t *p, uint8_t major, uint64_t v)
{
    const uint8_t m = (uint8_t)(major << 5);
    size_t n;
    if (v < 24) {
        p[0] = (uint8_t)(m | v);
        return 1;
    }
    if (v <= 0xff) {
        p[0] = m | 24;
        n = 1;
    } else if (v <= 0xffff) {
        p[0] = m | 25;
        n = 2;
    } else if (v <= 0xffffffffu) {
        p[0] = m | 26;
        n = 4;
    } else {
        p[0] = m | 27;
        n = 8;
    }
    for (size_t i = n; i > 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return n + 1;
}

static size_t put_string(uint8_t *p, uint8_t major, const void *bytes, size_t len)
{
    size_t n = put_head(p, major, len);
    memcpy(p + n, bytes, len);
    return n + len;
}

size_t cs_seal_write_header(const cs_seal_params *p, const uint8_t nonce[CS_AEAD_NONCE_LEN],
                            size_t plain_len, cs_buf *out)
{
    uint8_t *start = out->ptr + out->len, *w = start;
    w += put_head(w, 4, 8);
    w += put_string(w, 3, SEAL_FORMAT, sizeof SEAL_FORMAT - 1);
    w += put_head(w, 0, (uint64_t)p->policy);
    w += put_string(w, 2, p->code_id, CS_SEAL_CODE_ID_LEN);
    w += put_head(w, 4, p->successor_count);
    for (size_t i = 0; i < p->successor_count; i++)
        w += put_string(w, 2, p->successors[i].b, CS_SEAL_CODE_ID_LEN);
    if (p->counter_name != NULL)
        w += put_string(w, 3, p->counter_name, strlen(p->counter_name));
    else
        *w++ = 0xf6; /* null */
    w += put_head(w, 0, p->counter_value);
    w += put_string(w, 2, nonce, CS_AEAD_NONCE_LEN);
    size_t aad_len = (size_t)(w - start);
    w += put_head(w, 2, plain_len + CS_AEAD_TAG_LEN);
    out->len += (size_t)(w - start);
    return aad_len;
}

/* ---- reading ---- */

typedef struct reader {
    const uint8_t *p;
    size_t len, pos;
} reader;

/* The next item's head: major type and argument (any of the five argument
 * sizes; indefinite lengths and reserved values are not CBOR this format
 * uses). */
static consort_err get_head(reader *r, uint8_t *major, uint64_t *arg, const char *what)
{
    CS_ENSURE(r->pos < r->len, CONSORT_E_TRUNCATED, "%s: the blob ends at byte %zu", what, r->pos);
    const uint8_t b = r->p[r->pos];
    const uint8_t ai = b & 0x1f;
    CS_ENSURE(ai <= 27, CONSORT_E_MALFORMED, "%s: CBOR initial byte 0x%02x at byte %zu", what, b,
              r->pos);
    size_t n = ai < 24 ? 0 : (size_t)1 << (ai - 24);
    CS_ENSURE(r->len - r->pos - 1 >= n, CONSORT_E_TRUNCATED, "%s: the blob ends at byte %zu", what,
              r->len);
    uint64_t v = n == 0 ? ai : 0;
    for (size_t i = 1; i <= n; i++)
        v = v << 8 | r->p[r->pos + i];
    r->pos += 1 + n;
    *major = (uint8_t)(b >> 5);
    *arg = v;
    return CONSORT_OK;
}

static consort_err expect(reader *r, uint8_t major, uint64_t *arg, const char *what)
{
    uint8_t m = 0;
    CS_TRY(get_head(r, &m, arg, what));
    static const char *const names[8] = {"an unsigned integer",
                                         "a negative integer",
                                         "a byte string",
                                         "a text string",
                                         "an array",
                                         "a map",
                                         "a tag",
                                         "a simple value"};
    CS_ENSURE(m == major, CONSORT_E_MALFORMED, "%s: %s, expected %s", what, names[m], names[major]);
    return CONSORT_OK;
}

/* A byte (major 2) or text (3) string, in place. */
static consort_err get_string(reader *r, uint8_t major, cs_slice *out, const char *what)
{
    uint64_t len;
    CS_TRY(expect(r, major, &len, what));
    CS_ENSURE(len <= r->len - r->pos, CONSORT_E_TRUNCATED,
              "%s: %llu bytes, and the blob has %zu left", what, (unsigned long long)len,
              r->len - r->pos);
    *out = CS_SLICE(r->p + r->pos, (size_t)len);
    r->pos += (size_t)len;
    return CONSORT_OK;
}

static consort_err get_bytes_exact(reader *r, uint8_t *out, size_t n, const char *what)
{
    cs_slice s = CS_SLICE_EMPTY;
    CS_TRY(get_string(r, 2, &s, what));
    CS_ENSURE(s.len == n, CONSORT_E_MALFORMED, "%s of %zu bytes, expected %zu", what, s.len, n);
    memcpy(out, s.ptr, n);
    return CONSORT_OK;
}

static consort_err get_counter_name(reader *r, cs_seal_header *h)
{
    if (r->pos < r->len && r->p[r->pos] == 0xf6) { /* null: no counter */
        r->pos++;
        return CONSORT_OK;
    }
    cs_slice name = CS_SLICE_EMPTY;
    CS_TRY(get_string(r, 3, &name, "counter name"));
    CS_ENSURE(name.len >= 1 && name.len <= CS_SEAL_MAX_COUNTER_NAME &&
                  cs_seal_printable(name.ptr, name.len),
              CONSORT_E_MALFORMED,
              "counter name of %zu bytes: expected 1 to %d bytes of printable ASCII", name.len,
              CS_SEAL_MAX_COUNTER_NAME);
    memcpy(h->counter_name, name.ptr, name.len);
    h->counter_name[name.len] = '\0';
    h->has_counter = true;
    return CONSORT_OK;
}

consort_err cs_seal_parse(cs_slice blob, cs_seal_header *h, cs_seal_parsed *out)
{
    /* not memset: the successor array is 2 KiB, and this is the hot path */
    h->successor_count = 0;
    h->has_counter = false;
    h->counter_name[0] = '\0';
    h->counter_value = 0;
    CS_ENSURE(blob.len <= CS_SEAL_MAX_BLOB, CONSORT_E_TOO_LARGE, "%zu bytes, at most %zu", blob.len,
              CS_SEAL_MAX_BLOB);
    reader r = {blob.ptr, blob.len, 0};
    uint64_t n = 0, policy = 0, count = 0;
    CS_TRY(expect(&r, 4, &n, "blob"));
    CS_ENSURE(n == 8, CONSORT_E_MALFORMED, "array of %llu items, expected 8",
              (unsigned long long)n);
    cs_slice format = CS_SLICE_EMPTY;
    CS_TRY(get_string(&r, 3, &format, "format"));
    CS_ENSURE(cs_slice_eq(format, CS_SLICE_LIT(SEAL_FORMAT)), CONSORT_E_UNSUPPORTED,
              "format is not \"" SEAL_FORMAT "\"");
    CS_TRY(expect(&r, 0, &policy, "policy"));
    CS_ENSURE(policy == CS_SEAL_POLICY_CODE || policy == CS_SEAL_POLICY_LINEAGE,
              CONSORT_E_MALFORMED, "policy %llu, expected 1 (code) or 2 (lineage)",
              (unsigned long long)policy);
    h->policy = (cs_seal_policy)policy;
    CS_TRY(get_bytes_exact(&r, h->sealer_code_id, CS_SEAL_CODE_ID_LEN, "sealer code id"));
    CS_TRY(expect(&r, 4, &count, "successors"));
    CS_ENSURE(count <= CS_SEAL_MAX_SUCCESSORS, CONSORT_E_MALFORMED, "%llu successors, at most %d",
              (unsigned long long)count, CS_SEAL_MAX_SUCCESSORS);
    CS_ENSURE(count == 0 || policy == CS_SEAL_POLICY_LINEAGE, CONSORT_E_MALFORMED,
              "policy code with %llu successors", (unsigned long long)count);
    for (size_t i = 0; i < count; i++)
        CS_TRY(get_bytes_exact(&r, h->successors[i].b, CS_SEAL_CODE_ID_LEN, "successor"));
    h->successor_count = (size_t)count;
    CS_TRY(get_counter_name(&r, h));
    CS_TRY(expect(&r, 0, &h->counter_value, "counter value"));
    CS_ENSURE(h->has_counter || h->counter_value == 0, CONSORT_E_MALFORMED,
              "counter value %llu without a counter name", (unsigned long long)h->counter_value);
    CS_TRY(get_bytes_exact(&r, out->nonce, CS_AEAD_NONCE_LEN, "nonce"));
    out->aad = CS_SLICE(blob.ptr, r.pos);
    CS_TRY(get_string(&r, 2, &out->sealed, "ciphertext"));
    CS_ENSURE(out->sealed.len >= CS_AEAD_TAG_LEN, CONSORT_E_TRUNCATED,
              "ciphertext of %zu bytes is shorter than the tag", out->sealed.len);
    CS_ENSURE(r.pos == r.len, CONSORT_E_TRAILING_DATA, "%zu bytes after the ciphertext",
              r.len - r.pos);
    return CONSORT_OK;
}
