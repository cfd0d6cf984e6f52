/*
 * Restoring a snapshot (docs/kv.md "Snapshots"): accepts exactly the
 * encoding kv_snapshot.c writes and nothing else, and swaps the decoded state
 * in only once all of it decoded.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct decoded {
    kv_map **maps;
    size_t n;
    uint64_t max_version;
} decoded;

static void decoded_cleanup(decoded *d)
{
    for (size_t i = 0; i < d->n; i++)
        cs_kv_map_free(d->maps[i]);
    cs_free(d->maps);
    *d = (decoded){0};
}

static consort_err expect_text(cs_cbor_reader *r, const char *want)
{
    size_t off = r->pos;
    cs_cbor_item it;
    CS_TRY(cs_kv_cbor_next(r, CS_CBOR_TEXT, "snapshot field name", &it));
    CS_ENSURE(cs_slice_eq(it.str, cs_slice_str(want)), CONSORT_E_MALFORMED,
              "snapshot field at offset %zu: expected \"%s\"", off, want);
    return CONSORT_OK;
}

static consort_err decode_entries(const cs_kv_store *s, cs_cbor_reader *r, kv_map *m, decoded *d)
{
    char nbuf[CS_KV_FMT_MAX], kbuf[CS_KV_FMT_MAX];
    const cs_kv_limits *l = &s->limits;
    uint64_t n;
    CS_TRY(cs_kv_cbor_count(r, CS_CBOR_ARRAY, "snapshot key list", &n));
    CS_ENSURE(n >= 1, CONSORT_E_MALFORMED, "snapshot map %s: empty key list",
              cs_kv_fmt(kv_map_name(m), nbuf, sizeof nbuf));
    CS_TRY(cs_kv_table_reserve(&m->table, (size_t)n));
    cs_slice prev = CS_SLICE_EMPTY;
    for (uint64_t i = 0; i < n; i++) {
        size_t off = r->pos;
        uint64_t three, version;
        cs_cbor_item it;
        CS_TRY(cs_kv_cbor_count(r, CS_CBOR_ARRAY, "snapshot entry", &three));
        CS_ENSURE(three == 3, CONSORT_E_MALFORMED,
                  "snapshot entry at offset %zu: %llu items, expected [key, value, version]", off,
                  (unsigned long long)three);
        off = r->pos;
        CS_TRY(cs_kv_cbor_next(r, CS_CBOR_BYTES, "snapshot key", &it));
        cs_slice key = it.str;
        CS_ENSURE(key.len <= l->max_key, CONSORT_E_TOO_LARGE,
                  "snapshot key at offset %zu: %zu bytes, the cap is %zu", off, key.len,
                  l->max_key);
        CS_ENSURE(i == 0 || cs_kv_bytes_cmp(prev, key) < 0, CONSORT_E_MALFORMED,
                  "snapshot map %s: key %s at offset %zu is a duplicate or out of order",
                  cs_kv_fmt(kv_map_name(m), nbuf, sizeof nbuf), cs_kv_fmt(key, kbuf, sizeof kbuf),
                  off);
        prev = key;
        off = r->pos;
        CS_TRY(cs_kv_cbor_next(r, CS_CBOR_BYTES, "snapshot value", &it));
        cs_slice value = it.str;
        CS_ENSURE(value.len <= l->max_value, CONSORT_E_TOO_LARGE,
                  "snapshot value at offset %zu: %zu bytes, the cap is %zu", off, value.len,
                  l->max_value);
        off = r->pos;
        CS_TRY(cs_kv_cbor_next(r, CS_CBOR_UINT, "snapshot version", &it));
        version = it.u;
        CS_ENSURE(version >= 1, CONSORT_E_MALFORMED, "snapshot version at offset %zu is 0", off);
        if (version > d->max_version)
            d->max_version = version;
        kv_rec *rec;
        CS_TRY(cs_kv_rec_new(cs_kv_hash(s, key), key, &value, &rec));
        rec->version = version;
        (void)cs_kv_table_set(&m->table, rec); /* reserved above; keys are unique */
    }
    return CONSORT_OK;
}

static consort_err decode(const cs_kv_store *s, cs_slice in, decoded *d, uint64_t *seqno)
{
    char nbuf[CS_KV_FMT_MAX];
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    uint64_t fields, nmaps;
    CS_TRY(cs_kv_cbor_count(&r, CS_CBOR_MAP, "snapshot", &fields));
    CS_ENSURE(fields == 2, CONSORT_E_MALFORMED, "snapshot: %llu fields, expected maps and seqno",
              (unsigned long long)fields);
    CS_TRY(expect_text(&r, "maps"));
    CS_TRY(cs_kv_cbor_count(&r, CS_CBOR_MAP, "snapshot maps", &nmaps));
    if (nmaps > 0) {
        d->maps = cs_calloc((size_t)nmaps, sizeof *d->maps);
        CS_ENSURE(d->maps != NULL, CONSORT_E_NOMEM, "snapshot: %llu maps",
                  (unsigned long long)nmaps);
    }
    for (uint64_t i = 0; i < nmaps; i++) {
        size_t off = r.pos;
        cs_cbor_item it;
        CS_TRY(cs_kv_cbor_next(&r, CS_CBOR_TEXT, "snapshot map name", &it));
        CS_TRY(cs_kv_decode_map_name(it.str, off));
        CS_ENSURE(i == 0 || cs_kv_bytes_cmp(kv_map_name(d->maps[d->n - 1]), it.str) < 0,
                  CONSORT_E_MALFORMED,
                  "snapshot map name %s at offset %zu is a duplicate or out of order",
                  cs_kv_fmt(it.str, nbuf, sizeof nbuf), off);
        kv_map *m;
        CS_TRY(cs_kv_map_new(s, it.str, &m));
        d->maps[d->n++] = m;
        CS_TRY(decode_entries(s, &r, m, d));
    }
    CS_TRY(expect_text(&r, "seqno"));
    size_t off = r.pos;
    cs_cbor_item it;
    CS_TRY(cs_kv_cbor_next(&r, CS_CBOR_UINT, "snapshot seqno", &it));
    CS_ENSURE(d->max_version <= it.u, CONSORT_E_MALFORMED,
              "snapshot seqno %llu at offset %zu is below a key version %llu",
              (unsigned long long)it.u, off, (unsigned long long)d->max_version);
    CS_TRY(cs_cbor_expect_end(&r));
    *seqno = it.u;
    return CONSORT_OK;
}

consort_err cs_kv_restore(cs_kv_store *s, cs_slice snapshot)
{
    /* the maps and the undo log hold records the views read (kv_priv.h) */
    CS_ENSURE(s->pins == NULL, CONSORT_E_BUSY,
              "KV restore: a pinned view of the store (a snapshot being made) is still live");
    decoded d = {0};
    uint64_t seqno = 0;
    consort_err rc = decode(s, snapshot, &d, &seqno);
    if (rc != CONSORT_OK) {
        decoded_cleanup(&d);
        if (rc == CONSORT_E_NOMEM)
            return rc;
        char why[CS_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", consort_errmsg());
        return cs_fail(CONSORT_E_CORRUPT, "KV restore: %s", why);
    }
    /* the one full scan of the state digest: from the decoded contents */
    cs_lthash digest;
    rc = cs_kv_digest_maps(d.maps, d.n, &digest);
    if (rc != CONSORT_OK) {
        decoded_cleanup(&d);
        return cs_err_context(rc, "KV restore");
    }
    cs_kv_undo_cleanup(&s->undo);
    for (size_t i = 0; i < s->nmaps; i++)
        cs_kv_map_free(s->maps[i]);
    cs_free(s->maps);
    s->maps = d.maps;
    s->nmaps = d.n;
    s->maps_cap = d.n;
    s->last_seqno = seqno;
    s->committed_seqno = seqno; /* nothing above it to hide: the maps' indexes are empty */
    s->undo.floor = seqno;
    s->digest = digest;
    s->generation++;
    s->maps_epoch++;
    return CONSORT_OK;
}
