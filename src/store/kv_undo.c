/*
 * The undo log: rollback of uncommitted transactions (a deposed leader rolls
 * its store back to the last seqno Raft committed) and compaction.
 *
 * One segment per applied seqno, in ascending order, holding one item per key
 * that changed and one per map the transaction created. Invariant: the
 * segments cover every seqno in (floor, last_seqno], so rollback to any seqno
 * in [floor, last_seqno] is exact.
 *
 * Every record an item points at is alive while the item is: `old` is the
 * log's, and `new_rec` is either still in its map or the `old` of a later
 * item. Rollback reverses the state digest item by item (each key written
 * leaves, each key displaced returns), computed before anything changes.
 *
 * The committed seqno lies in [floor, last_seqno]: rollback may not go below
 * it, and compaction, which says its seqnos are committed, first raises it.
 * The items after it are the ones each map's committed index counts
 * (kv_priv.h); rollback uncounts every item it undoes.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <string.h>

static void drop_items(kv_undo_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cs_kv_rec_unref(items[i].old);
}

void cs_kv_undo_cleanup(kv_undo *u)
{
    drop_items(u->items, u->nitems);
    cs_free(u->items);
    cs_free(u->segs);
    uint64_t floor = u->floor;
    *u = (kv_undo){.floor = floor};
}

static consort_err grow(void **arr, size_t *cap, size_t used, size_t extra, size_t elem)
{
    if (*cap - used >= extra)
        return CONSORT_OK;
    CS_ENSURE(extra <= SIZE_MAX / 4 / elem - used, CONSORT_E_NOMEM, "KV undo log: %zu more", extra);
    size_t ncap = *cap > 0 ? *cap : 16;
    while (ncap - used < extra)
        ncap *= 2;
    void *p = cs_realloc(*arr, ncap * elem);
    CS_ENSURE(p != NULL, CONSORT_E_NOMEM, "KV undo log of %zu entries", ncap);
    *arr = p;
    *cap = ncap;
    return CONSORT_OK;
}

consort_err cs_kv_undo_reserve(kv_undo *u, size_t items)
{
    void *p = u->items;
    CS_TRY(grow(&p, &u->items_cap, u->nitems, items, sizeof *u->items));
    u->items = p;
    p = u->segs;
    CS_TRY(grow(&p, &u->segs_cap, u->nsegs, 1, sizeof *u->segs));
    u->segs = p;
    return CONSORT_OK;
}

void cs_kv_undo_begin_seg(kv_undo *u, uint64_t seqno)
{
    u->segs[u->nsegs++] = (kv_undo_seg){seqno, u->nitems};
}

void cs_kv_undo_push(kv_undo *u, kv_map *map, kv_rec *old, kv_rec *new_rec)
{
    u->items[u->nitems++] = (kv_undo_item){map, old, new_rec};
}

size_t cs_kv_undo_first_after(const kv_undo *u, uint64_t seqno)
{
    /* segments are consecutive from floor + 1: segs[k] is seqno floor + 1 + k */
    uint64_t k = seqno - u->floor;
    return k < u->nsegs ? u->segs[k].first : u->nitems;
}

/* Reverts one item; the map is exactly as the item's transaction left it. */
static void undo_item(cs_kv_store *s, const kv_undo_item *it)
{
    kv_map *m = it->map;
    if (it->old == NULL && it->new_rec == NULL) {
        /* the transaction created the map: its keys are gone again, drop it */
        size_t pos;
        kv_map *found = cs_kv_map_find(s, kv_map_name(m), &pos);
        if (found == m) {
            memmove(s->maps + pos, s->maps + pos + 1, (s->nmaps - pos - 1) * sizeof *s->maps);
            s->nmaps--;
            s->maps_epoch++;
            cs_kv_map_free(m);
        }
        return;
    }
    /* every undone item is after the committed seqno: the index counts it */
    cs_kv_shadow_undone(&m->shadow, it->old != NULL ? it->old : it->new_rec);
    if (it->new_rec != NULL)
        cs_kv_pins_drop(s, cs_kv_table_take(&m->table, it->new_rec->hash, kv_rec_key(it->new_rec)));
    if (it->old != NULL) {
        /* tables never shrink and held this key before: there is room */
        kv_rec *displaced = cs_kv_table_set(&m->table, it->old);
        cs_kv_pins_drop(s, displaced); /* NULL unless the log is inconsistent */
    }
    m->mod_count++;
}

/* The change to the state digest of undoing items [first, nitems). */
static consort_err undo_delta(const kv_undo *u, size_t first, cs_lthash *delta)
{
    cs_lthash_init(delta);
    for (size_t i = first; i < u->nitems; i++) {
        const kv_undo_item *it = &u->items[i];
        if (it->new_rec != NULL)
            CS_TRY(cs_kv_digest_sub(delta, it->map, it->new_rec, it->new_rec->version));
        if (it->old != NULL)
            CS_TRY(cs_kv_digest_add(delta, it->map, it->old, it->old->version));
    }
    return CONSORT_OK;
}

consort_err cs_kv_rollback(cs_kv_store *s, uint64_t to_seqno)
{
    kv_undo *u = &s->undo;
    CS_ENSURE(to_seqno <= s->last_seqno, CONSORT_E_INVALID_ARGUMENT,
              "KV rollback to seqno %llu: the store is only at %llu", (unsigned long long)to_seqno,
              (unsigned long long)s->last_seqno);
    if (to_seqno == s->last_seqno)
        return CONSORT_OK;
    CS_ENSURE(to_seqno >= u->floor, CONSORT_E_STATE,
              "KV rollback to seqno %llu: undo data only reaches back to %llu (compacted)",
              (unsigned long long)to_seqno, (unsigned long long)u->floor);
    CS_ENSURE(to_seqno >= s->committed_seqno, CONSORT_E_STATE,
              "KV rollback to seqno %llu: seqnos up to %llu are committed",
              (unsigned long long)to_seqno, (unsigned long long)s->committed_seqno);
    size_t keep = u->nsegs;
    while (keep > 0 && u->segs[keep - 1].seqno > to_seqno)
        keep--;
    size_t first = keep < u->nsegs ? u->segs[keep].first : u->nitems;
    cs_lthash delta;
    CS_TRY_CTX(undo_delta(u, first, &delta), "KV rollback to seqno %llu",
               (unsigned long long)to_seqno);
    /* each undone item takes at most two records out of a table */
    CS_TRY_CTX(cs_kv_pins_reserve(s, 2 * (u->nitems - first)), "KV rollback to seqno %llu",
               (unsigned long long)to_seqno);
    while (u->nsegs > 0 && u->segs[u->nsegs - 1].seqno > to_seqno) {
        kv_undo_seg seg = u->segs[--u->nsegs];
        while (u->nitems > seg.first) {
            kv_undo_item it = u->items[--u->nitems];
            /* the log's reference to `old` passes back to the table */
            undo_item(s, &it);
        }
    }
    cs_lthash_combine(&s->digest, &delta);
    s->last_seqno = to_seqno;
    s->generation++;
    cs_kv_pins_rolled_back(s, to_seqno);
    return CONSORT_OK;
}

void cs_kv_compact(cs_kv_store *s, uint64_t committed_seqno)
{
    kv_undo *u = &s->undo;
    uint64_t c = committed_seqno < s->last_seqno ? committed_seqno : s->last_seqno;
    if (c <= u->floor)
        return;
    /* what can no longer be rolled back is committed (floor <= committed) */
    cs_kv_set_committed(s, c);
    /* the items after a live view's horizon hold records its chunks point
     * at (kv_priv.h "pinned views"): they stay until the view goes */
    uint64_t hold = cs_kv_pins_hold(s);
    if (c > hold)
        c = hold;
    if (c <= u->floor)
        return;
    /* at most KV_COMPACT_STEP items per call (whole seqnos, at least one):
     * after a view held compaction back for a long snapshot, the backlog
     * is freed over the following signatures, not in one turn */
    size_t k = 0;
    while (k < u->nsegs && u->segs[k].seqno <= c &&
           (k == 0 || (k + 1 < u->nsegs ? u->segs[k + 1].first : u->nitems) <= KV_COMPACT_STEP))
        k++;
    if (k == 0)
        return;
    c = u->segs[k - 1].seqno;
    size_t cut = k < u->nsegs ? u->segs[k].first : u->nitems;
    if (cut > 0) {
        drop_items(u->items, cut);
        memmove(u->items, u->items + cut, (u->nitems - cut) * sizeof *u->items);
        u->nitems -= cut;
    }
    for (size_t i = k; i < u->nsegs; i++)
        u->segs[i].first -= cut;
    if (k > 0) {
        memmove(u->segs, u->segs + k, (u->nsegs - k) * sizeof *u->segs);
        u->nsegs -= k;
    }
    u->floor = c;
}
