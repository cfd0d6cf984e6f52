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

/* One map as of `at`: the records of its slots with version <= at, and the
 * records its keys had at `at` and no longer have. */
typedef struct src_map {
    cs_slice name;
    const kv_table *table; /* the store's, or a view's frozen arrays */
    const revived *rev;
    size_t nrev;
} src_map;

static src_map store_map(const at_view *v, size_t i)
{
    const kv_map *m = v->s->maps[i];
    size_t r0 = revived_from(v, i), r1 = r0;
    while (r1 < v->nrev && v->rev[r1].map == i)
        r1++;
    return (src_map){kv_map_name(m), &m->table, v->rev + r0, r1 - r0};
}

static kv_rec *slot_rec_at(const src_map *m, size_t j, uint64_t at)
{
    kv_rec *rec = cs_kv_table_rec(m->table, j);
    return rec != NULL && rec->version <= at ? rec : NULL;
}

/* Whether the map held any key at `at`. */
static bool nonempty_at(const src_map *m, uint64_t at)
{
    if (m->nrev > 0)
        return true;
    for (size_t j = 0; j < cs_kv_table_cap(m->table); j++) {
        if (slot_rec_at(m, j, at) != NULL)
            return true;
    }
    return false;
}

/* The records the map held at `at`, sorted by key (an array to cs_free; no
 * references taken). */
static consort_err records_at(const src_map *m, uint64_t at, kv_rec ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = m->table->count + m->nrev;
    if (cap == 0)
        return CONSORT_OK;
    kv_rec **recs = cs_calloc(cap, sizeof *recs);
    CS_ENSURE(recs != NULL, CONSORT_E_NOMEM, "KV snapshot: sorting %zu keys", cap);
    size_t k = 0;
    for (size_t j = 0; j < cs_kv_table_cap(m->table); j++) {
        kv_rec *rec = slot_rec_at(m, j, at);
        if (rec != NULL && k < cap)
            recs[k++] = rec;
    }
    for (size_t j = 0; j < m->nrev && k < cap; j++)
        recs[k++] = m->rev[j].rec;
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

static consort_err encode_map(const src_map *m, uint64_t at, cs_buf *out)
{
    kv_rec **recs;
    size_t n;
    CS_TRY(records_at(m, at, &recs, &n));
    consort_err rc = write_map(m->name, recs, n, out);
    cs_free(recs);
    return rc;
}

/* The whole encoding of maps[0..n) (in the store's order) as of `at`. */
static consort_err encode(const src_map *maps, size_t n, uint64_t at, cs_buf *out)
{
    size_t nonempty = 0;
    for (size_t i = 0; i < n; i++)
        nonempty += nonempty_at(&maps[i], at) ? 1 : 0;
    CS_TRY(cs_cbor_write_map(out, 2));
    CS_TRY(cs_cbor_write_cstr(out, "maps"));
    CS_TRY(cs_cbor_write_map(out, nonempty));
    for (size_t i = 0; i < n; i++) {
        if (nonempty_at(&maps[i], at))
            CS_TRY(encode_map(&maps[i], at, out));
    }
    CS_TRY(cs_cbor_write_cstr(out, "seqno"));
    return cs_cbor_write_uint(out, at);
}

static consort_err encode_store(const at_view *v, cs_buf *out)
{
    size_t n = v->s->nmaps;
    src_map *maps = n > 0 ? cs_calloc(n, sizeof *maps) : NULL;
    CS_ENSURE(n == 0 || maps != NULL, CONSORT_E_NOMEM, "KV snapshot: %zu maps", n);
    for (size_t i = 0; i < n; i++)
        maps[i] = store_map(v, i);
    consort_err rc = encode(maps, n, v->at, out);
    cs_free(maps);
    return rc;
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
        rc = encode_store(&v, out);
    view_cleanup(&v);
    if (rc != CONSORT_OK) {
        cs_buf_reset(out);
        return cs_err_context(rc, "KV snapshot at seqno %llu", (unsigned long long)at);
    }
    return CONSORT_OK;
}

consort_err cs_kv_snapshot(const cs_kv_store *s, cs_buf *out)
{
    cs_buf_reset(out);
    at_view v = {.s = s, .at = s->last_seqno}; /* nothing to read from the undo log */
    consort_err rc = encode_store(&v, out);
    if (rc != CONSORT_OK) {
        cs_buf_reset(out);
        return cs_err_context(rc, "KV snapshot");
    }
    return CONSORT_OK;
}

/* ---- pinned views ----
 *
 * A view takes one reference to each chunk of each map's slot array
 * (kv_slots.c: a shared chunk is copied before the store writes it), a copy
 * of each map's name, and one reference to each record the view revives
 * from the undo log: O(chunks + writes since `at`), not O(keys). The records
 * in the frozen chunks are the ones the tables held at pin time, all with
 * version <= the view's horizon (the store's last seqno then); they stay
 * alive because each is still in a table, or in the undo log (which compact
 * keeps back to the oldest live horizon), or kept by the store (rollback,
 * cs_kv_pins_drop). The worker reads each record's version to leave out
 * those written after `at`.
 */

struct cs_kv_pinned {
    cs_kv_store *s;
    cs_kv_pinned *next; /* the store's live views */
    uint64_t at;
    uint64_t horizon; /* the store's last seqno at pin time */
    uint64_t hold;    /* undo items after it were made after pin time */
    src_map *maps;    /* every map of the store at pin time, in its order */
    kv_table *tables; /* maps[i].table: the frozen chunks (no spares) */
    size_t nmaps;
    revived *rev; /* one reference each; .map indexes maps */
    size_t nrev;
};

uint64_t cs_kv_pins_hold(const cs_kv_store *s)
{
    uint64_t h = UINT64_MAX;
    for (const cs_kv_pinned *p = s->pins; p != NULL; p = p->next)
        h = p->hold < h ? p->hold : h;
    return h;
}

void cs_kv_pins_rolled_back(cs_kv_store *s, uint64_t to)
{
    for (cs_kv_pinned *p = s->pins; p != NULL; p = p->next)
        p->hold = to < p->hold ? to : p->hold;
}

uint64_t cs_kv_pins_reach(const cs_kv_store *s)
{
    uint64_t h = 0;
    for (const cs_kv_pinned *p = s->pins; p != NULL; p = p->next)
        h = p->horizon > h ? p->horizon : h;
    return h;
}

consort_err cs_kv_pins_reserve(cs_kv_store *s, size_t n)
{
    if (s->pins == NULL || s->kept_cap - s->nkept >= n)
        return CONSORT_OK;
    CS_ENSURE(n <= SIZE_MAX / 2 / sizeof *s->kept - s->nkept, CONSORT_E_NOMEM,
              "KV: keeping %zu records for views", n);
    size_t cap = s->nkept + n;
    kv_rec **k = cs_realloc(s->kept, cap * sizeof *k);
    CS_ENSURE(k != NULL, CONSORT_E_NOMEM, "KV: keeping %zu records for views", cap);
    s->kept = k;
    s->kept_cap = cap;
    return CONSORT_OK;
}

void cs_kv_pins_drop(cs_kv_store *s, kv_rec *r)
{
    if (r != NULL && s->pins != NULL && r->version <= cs_kv_pins_reach(s) &&
        s->nkept < s->kept_cap) {
        s->kept[s->nkept++] = r; /* a view's frozen chunk may point at it */
        return;
    }
    cs_kv_rec_unref(r);
}

void cs_kv_pinned_free(cs_kv_pinned *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nmaps; i++) {
        cs_kv_slots_free(&p->tables[i].slots); /* a view's arrays: chunks only */
        cs_kv_slots_free(&p->tables[i].old);
        cs_free((void *)(uintptr_t)p->maps[i].name.ptr);
    }
    for (size_t i = 0; i < p->nrev; i++)
        cs_kv_rec_unref(p->rev[i].rec);
    cs_free(p->rev);
    cs_free(p->tables);
    cs_free(p->maps);
    cs_kv_store *s = p->s;
    cs_kv_pinned **link = &s->pins;
    while (*link != NULL && *link != p)
        link = &(*link)->next;
    if (*link == p)
        *link = p->next;
    cs_free(p);
    if (s->pins == NULL)
        cs_kv_pins_released(s);
}

/* The view's own copy of map i: name, frozen chunks, and its revived records. */
static consort_err pin_map(cs_kv_pinned *p, const at_view *v, size_t i)
{
    kv_map *m = v->s->maps[i];
    src_map sm = store_map(v, i);
    cs_slice name = kv_map_name(m);
    uint8_t *copy = cs_malloc(name.len > 0 ? name.len : 1);
    CS_ENSURE(copy != NULL, CONSORT_E_NOMEM, "KV view: a map name");
    memcpy(copy, name.ptr, name.len);
    size_t n;
    kv_table *t = &p->tables[i];
    t->slots.mask = m->table.slots.mask;
    t->old.mask = m->table.old.mask;
    t->count = m->table.count;
    consort_err rc = cs_kv_slots_share(&m->table.slots, sizeof(kv_slot), &t->slots.chunks, &n);
    if (rc == CONSORT_OK)
        rc = cs_kv_slots_share(&m->table.old, sizeof(kv_slot), &t->old.chunks, &n);
    if (rc != CONSORT_OK) {
        cs_kv_slots_free(&t->slots); /* what the first share took */
        cs_free(copy);
        return rc;
    }
    p->maps[i] = (src_map){CS_SLICE(copy, name.len), t, p->rev + (sm.rev - v->rev), sm.nrev};
    p->nmaps = i + 1;
    return CONSORT_OK;
}

consort_err cs_kv_pin_at(cs_kv_store *s, uint64_t at, cs_kv_pinned **out)
{
    CS_ENSURE(at <= s->last_seqno && at >= s->undo.floor, CONSORT_E_STATE,
              "KV view at seqno %llu: the store holds %llu..%llu", (unsigned long long)at,
              (unsigned long long)s->undo.floor, (unsigned long long)s->last_seqno);
    CS_ENSURE(!s->closing, CONSORT_E_STATE, "KV view: the store is closing");
    cs_kv_pinned *p = cs_calloc(1, sizeof *p);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "KV view: out of memory");
    *p = (cs_kv_pinned){.s = s, .at = at, .horizon = s->last_seqno, .hold = s->last_seqno};
    at_view v;
    consort_err rc = view_init(s, at, &v);
    if (rc == CONSORT_OK && v.nrev > 0 && (p->rev = cs_calloc(v.nrev, sizeof *p->rev)) == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "KV view: %zu earlier records", v.nrev);
    if (rc == CONSORT_OK && s->nmaps > 0 &&
        ((p->maps = cs_calloc(s->nmaps, sizeof *p->maps)) == NULL ||
         (p->tables = cs_calloc(s->nmaps, sizeof *p->tables)) == NULL))
        rc = cs_fail(CONSORT_E_NOMEM, "KV view: %zu maps", s->nmaps);
    if (rc == CONSORT_OK) {
        for (size_t i = 0; i < v.nrev; i++)
            p->rev[p->nrev++] = (revived){v.rev[i].map, cs_kv_rec_ref(v.rev[i].rec)};
    }
    for (size_t i = 0; rc == CONSORT_OK && i < s->nmaps; i++)
        rc = pin_map(p, &v, i);
    view_cleanup(&v);
    p->next = s->pins;
    s->pins = p;
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
    consort_err rc = encode(p->maps, p->nmaps, p->at, out);
    if (rc != CONSORT_OK) {
        cs_buf_reset(out);
        return cs_err_context(rc, "KV snapshot at seqno %llu", (unsigned long long)p->at);
    }
    return CONSORT_OK;
}
