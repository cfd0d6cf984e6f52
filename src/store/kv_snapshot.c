/*
 * Snapshots: the whole store at a seqno, as deterministic CBOR
 * (docs/kv.md "Snapshots"):
 *
 *     { "maps": { * name (tstr) => [ + [ key (bstr), value (bstr), version (uint) ] ] },
 *       "seqno": uint }
 *
 * Text keys, map names and keys in bytewise order of their bytes (so "maps"
 * precedes "seqno"), shortest heads, only maps that hold at least one key,
 * 1 <= version <= seqno. Restore accepts exactly this encoding and nothing
 * else, and swaps the decoded state in only once all of it decoded.
 *
 * One encoder serves cs_kv_snapshot (the store at its last seqno) and
 * cs_kv_snapshot_at (the store as it was at an earlier seqno `at`, read
 * through the undo log without changing anything), so both produce the same
 * bytes for the same state. The state at `at`, map by map:
 *
 *   - a key whose record has version <= `at` has not changed since `at`
 *     (any later change would have left a newer record or removed the key);
 *   - a key changed after `at` had, at `at`, the `old` record of the first
 *     undo item after `at` that touched it (absent if that `old` is NULL).
 *     Those are exactly the items after `at` whose `old` has version <= `at`:
 *     every later item's `old` was written after `at`, or is NULL;
 *   - the two sets are disjoint, and a map created after `at` holds no key
 *     of either, so it is left out like every empty map.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A record that a key of store map `map` (an index into s->maps) had at
 * `at` and no longer has. */
typedef struct revived {
    size_t map;
    kv_rec *rec;
} revived;

/* The store as of seqno `at`. */
typedef struct at_view {
    const cs_kv_store *s;
    uint64_t at;
    revived *rev; /* sorted by (map, key) */
    size_t nrev;
} at_view;

static void view_cleanup(at_view *v)
{
    cs_free(v->rev);
    v->rev = NULL;
    v->nrev = 0;
}

static int revived_cmp(const void *a, const void *b)
{
    const revived *x = a, *y = b;
    if (x->map != y->map)
        return x->map < y->map ? -1 : 1;
    return cs_kv_bytes_cmp(kv_rec_key(x->rec), kv_rec_key(y->rec));
}

/* True iff undo item `it` holds a record that its key had at `at`. */
static bool revives(const kv_undo_item *it, uint64_t at)
{
    return it->old != NULL && it->old->version <= at;
}

static consort_err view_init(const cs_kv_store *s, uint64_t at, at_view *v)
{
    const kv_undo *u = &s->undo;
    *v = (at_view){.s = s, .at = at};
    size_t k = u->nsegs;
    while (k > 0 && u->segs[k - 1].seqno > at)
        k--;
    size_t first = k < u->nsegs ? u->segs[k].first : u->nitems;
    size_t n = 0;
    for (size_t i = first; i < u->nitems; i++)
        n += revives(&u->items[i], at) ? 1 : 0;
    if (n == 0)
        return CONSORT_OK;
    v->rev = cs_calloc(n, sizeof *v->rev);
    CS_ENSURE(v->rev != NULL, CONSORT_E_NOMEM, "KV snapshot at seqno %llu: %zu earlier records",
              (unsigned long long)at, n);
    for (size_t i = first; i < u->nitems; i++) {
        const kv_undo_item *it = &u->items[i];
        if (!revives(it, at))
            continue;
        size_t pos = 0;
        kv_map *m = cs_kv_map_find(s, kv_map_name(it->map), &pos);
        /* the log only names maps that are in the store */
        CS_ENSURE(m == it->map, CONSORT_E_STATE,
                  "KV snapshot at seqno %llu: the undo log names a map the store does not hold",
                  (unsigned long long)at);
        v->rev[v->nrev++] = (revived){pos, it->old};
    }
    if (v->nrev > 1)
        qsort(v->rev, v->nrev, sizeof *v->rev, revived_cmp);
    return CONSORT_OK;
}

/* Where map `map`'s revived records start in the view (they are contiguous). */
static size_t revived_from(const at_view *v, size_t map)
{
    size_t lo = 0, hi = v->nrev;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->rev[mid].map < map)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether map `i` held any key at `at`. */
static bool map_nonempty_at(const at_view *v, size_t i)
{
    size_t r = revived_from(v, i);
    if (r < v->nrev && v->rev[r].map == i)
        return true;
    const kv_table *t = &v->s->maps[i]->table;
    for (size_t j = 0; t->slots != NULL && j <= t->mask; j++) {
        if (t->slots[j].rec != NULL && t->slots[j].rec->version <= v->at)
            return true;
    }
    return false;
}

/* The records map `i` held at `at`, sorted by key if `sorted` (an array to
 * cs_free; no references taken). */
static consort_err map_records_at(const at_view *v, size_t i, bool sorted, kv_rec ***out, size_t *n)
{
    const kv_table *t = &v->s->maps[i]->table;
    size_t r0 = revived_from(v, i), r1 = r0;
    while (r1 < v->nrev && v->rev[r1].map == i)
        r1++;
    *out = NULL;
    *n = 0;
    size_t cap = t->count + (r1 - r0);
    if (cap == 0)
        return CONSORT_OK;
    kv_rec **recs = cs_calloc(cap, sizeof *recs);
    CS_ENSURE(recs != NULL, CONSORT_E_NOMEM, "KV snapshot: sorting %zu keys", cap);
    size_t k = 0;
    for (size_t j = 0; t->slots != NULL && j <= t->mask; j++) {
        kv_rec *rec = t->slots[j].rec;
        if (rec != NULL && rec->version <= v->at)
            recs[k++] = rec;
    }
    for (size_t j = r0; j < r1; j++)
        recs[k++] = v->rev[j].rec;
    if (sorted)
        cs_kv_recs_sort(recs, k);
    *out = recs;
    *n = k;
    return CONSORT_OK;
}

/* One map's entry of the encoding: its name, then its records (sorted). */
static consort_err write_map(cs_slice name, kv_rec *const *recs, size_t n, cs_buf *out)
{
    CS_TRY(cs_cbor_write_text(out, name));
    CS_TRY(cs_cbor_write_array(out, n));
    for (size_t k = 0; k < n; k++) {
        CS_TRY(cs_cbor_write_array(out, 3));
        CS_TRY(cs_cbor_write_bytes(out, kv_rec_key(recs[k])));
        CS_TRY(cs_cbor_write_bytes(out, kv_rec_value(recs[k])));
        CS_TRY(cs_cbor_write_uint(out, recs[k]->version));
    }
    return CONSORT_OK;
}

static consort_err encode_map(const at_view *v, size_t i, cs_buf *out)
{
    kv_rec **recs;
    size_t n;
    CS_TRY(map_records_at(v, i, true, &recs, &n));
    consort_err rc = write_map(kv_map_name(v->s->maps[i]), recs, n, out);
    cs_free(recs);
    return rc;
}

static consort_err encode(const at_view *v, cs_buf *out)
{
    const cs_kv_store *s = v->s;
    size_t nonempty = 0;
    for (size_t i = 0; i < s->nmaps; i++)
        nonempty += map_nonempty_at(v, i) ? 1 : 0;
    CS_TRY(cs_cbor_write_map(out, 2));
    CS_TRY(cs_cbor_write_cstr(out, "maps"));
    CS_TRY(cs_cbor_write_map(out, nonempty));
    for (size_t i = 0; i < s->nmaps; i++) {
        if (map_nonempty_at(v, i))
            CS_TRY(encode_map(v, i, out));
    }
    CS_TRY(cs_cbor_write_cstr(out, "seqno"));
    return cs_cbor_write_uint(out, v->at);
}

consort_err cs_kv_snapshot_at(const cs_kv_store *s, uint64_t at, cs_buf *out)
{
    cs_buf_reset(out);
    CS_ENSURE(at <= s->last_seqno, CONSORT_E_STATE,
              "KV snapshot at seqno %llu: the store is only at %llu", (unsigned long long)at,
              (unsigned long long)s->last_seqno);
    CS_ENSURE(at >= s->undo.floor, CONSORT_E_STATE,
              "KV snapshot at seqno %llu: undo data only reaches back to %llu (compacted)",
              (unsigned long long)at, (unsigned long long)s->undo.floor);
    at_view v;
    consort_err rc = view_init(s, at, &v);
    if (rc == CONSORT_OK)
        rc = encode(&v, out);
    view_cleanup(&v);
    if (rc != CONSORT_OK) {
        cs_buf_reset(out);
        return cs_err_context(rc, "KV snapshot at seqno %llu", (unsigned long long)at);
    }
    return CONSORT_OK;
}

/* ---- pinned views ---- */

typedef struct pinned_map {
    uint8_t *name; /* a copy: the map may go (rollback) while the view lives */
    size_t name_len;
    kv_rec **recs; /* one reference each */
    size_t n;
} pinned_map;

struct cs_kv_pinned {
    uint64_t at;
    pinned_map *maps; /* the maps that held keys at `at`, in the store's order */
    size_t nmaps;
};

void cs_kv_pinned_free(cs_kv_pinned *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nmaps; i++) {
        for (size_t k = 0; k < p->maps[i].n; k++)
            cs_kv_rec_unref(p->maps[i].recs[k]);
        cs_free(p->maps[i].recs);
        cs_free(p->maps[i].name);
    }
    cs_free(p->maps);
    cs_free(p);
}

consort_err cs_kv_pin_at(const cs_kv_store *s, uint64_t at, cs_kv_pinned **out)
{
    CS_ENSURE(at <= s->last_seqno && at >= s->undo.floor, CONSORT_E_STATE,
              "KV view at seqno %llu: the store holds %llu..%llu", (unsigned long long)at,
              (unsigned long long)s->undo.floor, (unsigned long long)s->last_seqno);
    cs_kv_pinned *p = cs_calloc(1, sizeof *p);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "KV view: out of memory");
    p->at = at;
    at_view v;
    consort_err rc = view_init(s, at, &v);
    if (rc == CONSORT_OK && s->nmaps > 0 &&
        (p->maps = cs_calloc(s->nmaps, sizeof *p->maps)) == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "KV view: %zu maps", s->nmaps);
    for (size_t i = 0; rc == CONSORT_OK && i < s->nmaps; i++) {
        kv_rec **recs;
        size_t n;
        rc = map_records_at(&v, i, false, &recs, &n);
        if (rc != CONSORT_OK || n == 0) {
            cs_free(recs); /* an array for keys written since `at` only */
            continue;
        }
        pinned_map *m = &p->maps[p->nmaps++];
        m->recs = recs;
        m->n = n;
        for (size_t k = 0; k < n; k++)
            (void)cs_kv_rec_ref(recs[k]);
        cs_slice name = kv_map_name(s->maps[i]);
        m->name = cs_malloc(name.len > 0 ? name.len : 1);
        if (m->name == NULL)
            rc = cs_fail(CONSORT_E_NOMEM, "KV view: a map name");
        else
            memcpy(m->name, name.ptr, name.len);
        m->name_len = name.len;
    }
    view_cleanup(&v);
    if (rc != CONSORT_OK) {
        cs_kv_pinned_free(p);
        return cs_err_context(rc, "KV view at seqno %llu", (unsigned long long)at);
    }
    *out = p;
    return CONSORT_OK;
}

consort_err cs_kv_pinned_encode(cs_kv_pinned *p, cs_buf *out)
{
    cs_buf_reset(out);
    consort_err rc = cs_cbor_write_map(out, 2);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(out, "maps");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_map(out, p->nmaps);
    for (size_t i = 0; rc == CONSORT_OK && i < p->nmaps; i++) {
        pinned_map *m = &p->maps[i];
        cs_kv_recs_sort(m->recs, m->n); /* reads keys only: records never change */
        rc = write_map(CS_SLICE(m->name, m->name_len), m->recs, m->n, out);
    }
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(out, "seqno");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_uint(out, p->at);
    if (rc != CONSORT_OK) {
        cs_buf_reset(out);
        return cs_err_context(rc, "KV snapshot at seqno %llu", (unsigned long long)p->at);
    }
    return CONSORT_OK;
}

consort_err cs_kv_snapshot(const cs_kv_store *s, cs_buf *out)
{
    cs_buf_reset(out);
    at_view v = {.s = s, .at = s->last_seqno}; /* nothing to read from the undo log */
    consort_err rc = encode(&v, out);
    if (rc != CONSORT_OK) {
        cs_buf_reset(out);
        return cs_err_context(rc, "KV snapshot");
    }
    return CONSORT_OK;
}

/* ---- restore ---- */

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
