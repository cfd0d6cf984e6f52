/*
 * Write-set codec (docs/kv.md "What reaches the ledger: write sets"):
 *
 *     write_set = { * map_name (tstr) => [ + [ key (bstr), value (bstr) / null ] ] }
 *
 * Deterministic: definite lengths, shortest heads, map names in bytewise
 * order of their UTF-8, keys in bytewise order, one entry per key, null for a
 * removal; the empty write set is the empty map 0xa0. A public write set
 * holds only "public:" maps and a private one only the others.
 */
#include "store/kv_priv.h"

#include <stdio.h>

/*
 * ---- strict canonical reading (also used by kv_snapshot.c) ----
 *
 * Strict reading of the canonical CBOR the store writes (write sets and
 * snapshots). The encoders only ever produce one byte string for a given
 * logical content, so the decoders accept exactly that one: shortest heads
 * (RFC 8949 §4.2.1 "Core Deterministic Encoding Requirements": integers and
 * lengths in the shortest form, no indefinite lengths), sorted unique names
 * and keys (checked by the callers), no trailing bytes. Then every node that
 * decodes an entry agrees on its meaning and a re-encoding reproduces it.
 */

/* RFC 8949 §3 / §4.2.1: argument < 24 in the initial byte, else the smallest
 * of 1, 2, 4 or 8 following bytes that holds it. */
static size_t head_len(uint64_t arg)
{
    if (arg < 24)
        return 1;
    if (arg <= 0xff)
        return 2;
    if (arg <= 0xffff)
        return 3;
    if (arg <= 0xffffffffULL)
        return 5;
    return 9;
}

consort_err cs_kv_cbor_next(cs_cbor_reader *r, cs_cbor_type want, const char *what,
                            cs_cbor_item *it)
{
    size_t start = r->pos;
    cs_cbor_item peek;
    CS_TRY_CTX(cs_cbor_peek(r, &peek), "%s", what);
    CS_ENSURE(peek.type == want, CONSORT_E_MALFORMED, "%s at offset %zu: expected %s, found %s",
              what, start, cs_cbor_type_name(want), cs_cbor_type_name(peek.type));
    CS_TRY_CTX(cs_cbor_next(r, it), "%s", what);
    uint64_t arg = 0;
    size_t body = 0;
    switch (want) {
    case CS_CBOR_UINT:
    case CS_CBOR_ARRAY:
    case CS_CBOR_MAP:
        arg = it->u;
        break;
    case CS_CBOR_BYTES:
    case CS_CBOR_TEXT:
        arg = it->str.len;
        body = it->str.len;
        break;
    default:
        break;
    }
    if (r->pos - start != head_len(arg) + body) {
        r->pos = start;
        return cs_fail(CONSORT_E_MALFORMED,
                       "%s at offset %zu: not in shortest form (RFC 8949 §4.2.1)", what, start);
    }
    return CONSORT_OK;
}

consort_err cs_kv_cbor_count(cs_cbor_reader *r, cs_cbor_type want, const char *what,
                             uint64_t *count)
{
    size_t start = r->pos;
    cs_cbor_item it;
    CS_TRY(cs_kv_cbor_next(r, want, what, &it));
    size_t left = r->in.len - r->pos;
    /* every item takes at least one byte, a map pair at least two */
    uint64_t per = want == CS_CBOR_MAP ? 2 : 1;
    if (it.u > left / per) {
        r->pos = start;
        return cs_fail(CONSORT_E_TRUNCATED, "%s at offset %zu: %llu items but %zu bytes left", what,
                       start, (unsigned long long)it.u, left);
    }
    *count = it.u;
    return CONSORT_OK;
}

consort_err cs_kv_decode_map_name(cs_slice name, size_t offset)
{
    consort_err rc = cs_kv_check_map_name(name);
    if (rc == CONSORT_OK)
        return CONSORT_OK;
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "%s", consort_errmsg());
    return cs_fail(CONSORT_E_MALFORMED, "map name at offset %zu: %s", offset, why);
}

/* ---- write sets ---- */

consort_err cs_kv_ws_encode(const kv_batch *b, bool public_set, cs_buf *out)
{
    size_t nmaps = 0;
    for (size_t i = 0; i < b->n; i++) {
        bool first = i == 0 || !cs_slice_eq(b->w[i].name, b->w[i - 1].name);
        if (first && cs_kv_map_is_public(b->w[i].name) == public_set)
            nmaps++;
    }
    CS_TRY(cs_cbor_write_map(out, nmaps));
    for (size_t i = 0; i < b->n;) {
        size_t j = i + 1;
        while (j < b->n && cs_slice_eq(b->w[j].name, b->w[i].name))
            j++;
        if (cs_kv_map_is_public(b->w[i].name) == public_set) {
            CS_TRY(cs_cbor_write_text(out, b->w[i].name));
            CS_TRY(cs_cbor_write_array(out, j - i));
            for (size_t k = i; k < j; k++) {
                const kv_rec *rec = b->w[k].rec;
                CS_TRY(cs_cbor_write_array(out, 2));
                CS_TRY(cs_cbor_write_bytes(out, kv_rec_key(rec)));
                if (rec->present)
                    CS_TRY(cs_cbor_write_bytes(out, kv_rec_value(rec)));
                else
                    CS_TRY(cs_cbor_write_null(out));
            }
        }
        i = j;
    }
    return CONSORT_OK;
}

/* Decodes the writes of one map (after its name) and visits them. */
static consort_err visit_entries(cs_cbor_reader *r, cs_slice name, const cs_kv_limits *l,
                                 cs_kv_ws_visit_cb cb, void *ctx)
{
    char nbuf[CS_KV_FMT_MAX], kbuf[CS_KV_FMT_MAX], pbuf[CS_KV_FMT_MAX];
    uint64_t n;
    CS_TRY(cs_kv_cbor_count(r, CS_CBOR_ARRAY, "write list", &n));
    CS_ENSURE(n >= 1, CONSORT_E_MALFORMED, "map %s at offset %zu: empty write list",
              cs_kv_fmt(name, nbuf, sizeof nbuf), r->pos - 1);
    cs_slice prev = CS_SLICE_EMPTY;
    for (uint64_t i = 0; i < n; i++) {
        size_t off = r->pos;
        uint64_t two;
        cs_cbor_item it;
        CS_TRY(cs_kv_cbor_count(r, CS_CBOR_ARRAY, "write", &two));
        CS_ENSURE(two == 2, CONSORT_E_MALFORMED,
                  "write at offset %zu: array of %llu items, expected [key, value]", off,
                  (unsigned long long)two);
        off = r->pos;
        CS_TRY(cs_kv_cbor_next(r, CS_CBOR_BYTES, "write key", &it));
        cs_slice key = it.str;
        CS_ENSURE(key.len <= l->max_key, CONSORT_E_TOO_LARGE,
                  "write key at offset %zu: %zu bytes, the cap is %zu", off, key.len, l->max_key);
        if (i > 0) {
            int c = cs_kv_bytes_cmp(prev, key);
            CS_ENSURE(c < 0, CONSORT_E_MALFORMED, "map %s: %s key %s at offset %zu%s%s",
                      cs_kv_fmt(name, nbuf, sizeof nbuf), c == 0 ? "duplicate" : "unsorted",
                      cs_kv_fmt(key, kbuf, sizeof kbuf), off, c == 0 ? "" : " after ",
                      c == 0 ? "" : cs_kv_fmt(prev, pbuf, sizeof pbuf));
        }
        prev = key;
        cs_cbor_item peek;
        off = r->pos;
        CS_TRY_CTX(cs_cbor_peek(r, &peek), "write value");
        cs_slice value;
        bool present = peek.type != CS_CBOR_NULL;
        if (present) {
            CS_TRY(cs_kv_cbor_next(r, CS_CBOR_BYTES, "write value (or null)", &it));
            value = it.str;
            CS_ENSURE(value.len <= l->max_value, CONSORT_E_TOO_LARGE,
                      "write value at offset %zu: %zu bytes, the cap is %zu", off, value.len,
                      l->max_value);
        } else {
            CS_TRY(cs_kv_cbor_next(r, CS_CBOR_NULL, "write removal", &it));
        }
        if (cb != NULL)
            CS_TRY(cb(ctx, name, key, present ? &value : NULL));
    }
    return CONSORT_OK;
}

consort_err cs_kv_ws_visit(cs_slice ws, bool public_set, const cs_kv_limits *limits,
                           cs_kv_ws_visit_cb cb, void *ctx)
{
    cs_kv_limits l = cs_kv_limits_resolve(limits);
    char nbuf[CS_KV_FMT_MAX], pbuf[CS_KV_FMT_MAX];
    CS_ENSURE(ws.len <= l.max_write_set, CONSORT_E_TOO_LARGE,
              "write set of %zu bytes, the cap is %zu", ws.len, l.max_write_set);
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, ws);
    uint64_t nmaps;
    CS_TRY(cs_kv_cbor_count(&r, CS_CBOR_MAP, "write set", &nmaps));
    cs_slice prev = CS_SLICE_EMPTY;
    for (uint64_t i = 0; i < nmaps; i++) {
        size_t off = r.pos;
        cs_cbor_item it;
        CS_TRY(cs_kv_cbor_next(&r, CS_CBOR_TEXT, "map name", &it));
        cs_slice name = it.str;
        CS_TRY(cs_kv_decode_map_name(name, off));
        CS_ENSURE(cs_kv_map_is_public(name) == public_set, CONSORT_E_MALFORMED,
                  "map %s at offset %zu is %s but this is the %s write set",
                  cs_kv_fmt(name, nbuf, sizeof nbuf), off, public_set ? "private" : "public",
                  public_set ? "public" : "private");
        if (i > 0) {
            int c = cs_kv_bytes_cmp(prev, name);
            CS_ENSURE(c < 0, CONSORT_E_MALFORMED, "%s map name %s at offset %zu%s%s",
                      c == 0 ? "duplicate" : "unsorted", cs_kv_fmt(name, nbuf, sizeof nbuf), off,
                      c == 0 ? "" : " after ", c == 0 ? "" : cs_kv_fmt(prev, pbuf, sizeof pbuf));
        }
        prev = name;
        CS_TRY(visit_entries(&r, name, &l, cb, ctx));
    }
    return cs_cbor_expect_end(&r);
}
