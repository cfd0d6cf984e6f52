/*
 * Reads over the committed state (docs/kv.md "Committed reads").
 *
 * On a leader the store holds, above the committed seqno, its own executed
 * but uncommitted transactions, which cs_kv_rollback undoes if leadership is
 * lost; a read must not see them. Each map keeps a committed index
 * (kv_shadow.c): for every key changed after the committed seqno, the record
 * it had at that seqno. A view transaction looks a key up there first and in
 * the map table only if the key has no entry, so a get costs one more probe
 * and nothing depends on how many transactions are pending. A map created by
 * a pending transaction holds only keys with entries saying "absent", so it
 * reads as empty, which is the same as missing (docs/kv.md "Maps, keys and
 * values").
 *
 * Moving the committed seqno walks the undo items it passes, in seqno order:
 * each moves its key's entry forward to the record that item wrote, and the
 * entry of a key whose last pending change is passed goes (the map table
 * then holds its committed record). So every undo item is walked once.
 *
 * A view transaction reads the committed state as of each call, as an
 * ordinary transaction reads the current store; it records nothing for
 * validation since it never commits. Every record a get returns stays
 * referenced until the transaction is freed: `reads` holds the latest one per
 * key, and a get that finds a newer committed record moves the older one to
 * `kept`.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

void cs_kv_set_committed(cs_kv_store *s, uint64_t seqno)
{
    uint64_t c = seqno < s->last_seqno ? seqno : s->last_seqno;
    if (c <= s->committed_seqno)
        return;
    const kv_undo *u = &s->undo;
    /* the undo log reaches back to floor <= committed: it holds every item passed */
    size_t from = cs_kv_undo_first_after(u, s->committed_seqno);
    size_t to = cs_kv_undo_first_after(u, c);
    for (size_t i = from; i < to; i++) {
        const kv_undo_item *it = &u->items[i];
        if (it->old == NULL && it->new_rec == NULL)
            continue; /* a map created: its keys have items of their own */
        cs_kv_shadow_committed(&it->map->shadow, it->old != NULL ? it->old : it->new_rec,
                               it->new_rec);
    }
    s->committed_seqno = c;
}

uint64_t cs_kv_committed_seqno(const cs_kv_store *s)
{
    return s->committed_seqno;
}

consort_err cs_kv_tx_begin_committed(cs_kv_store *s, cs_kv_tx **out)
{
    cs_kv_tx *tx;
    CS_TRY(cs_kv_tx_begin(s, &tx));
    tx->view = true;
    *out = tx;
    return CONSORT_OK;
}

/* The key's record at the committed seqno, or NULL if it was absent then. */
static kv_rec *committed_rec(const kv_map *m, uint64_t hash, cs_slice key)
{
    const kv_shadow *sh = cs_kv_shadow_find(&m->shadow, hash, key);
    if (sh != NULL)
        return sh->present ? sh->rec : NULL;
    return cs_kv_table_find(&m->table, hash, key);
}

/* Holds a reference to `r` until the transaction is freed. On failure the
 * transaction is unchanged. */
static consort_err keep(cs_kv_tx *tx, kv_txmap *tm, kv_rec *r)
{
    kv_rec *held = cs_kv_table_find(&tm->reads, r->hash, kv_rec_key(r));
    if (held == r)
        return CONSORT_OK;
    if (held == NULL) {
        CS_TRY(cs_kv_table_reserve(&tm->reads, 1));
    } else if (tx->nkept == tx->kept_cap) {
        /* the value borrowed from `held` must outlive its replacement */
        size_t cap = tx->kept_cap > 0 ? tx->kept_cap * 2 : 8;
        CS_ENSURE(cap <= SIZE_MAX / 2 / sizeof *tx->kept, CONSORT_E_NOMEM,
                  "KV committed view: %zu earlier values", tx->nkept);
        kv_rec **kept = cs_realloc(tx->kept, cap * sizeof *kept);
        CS_ENSURE(kept != NULL, CONSORT_E_NOMEM, "KV committed view: %zu earlier values", cap);
        tx->kept = kept;
        tx->kept_cap = cap;
    }
    kv_rec *displaced = cs_kv_table_set(&tm->reads, cs_kv_rec_ref(r));
    if (displaced != NULL)
        tx->kept[tx->nkept++] = displaced;
    return CONSORT_OK;
}

consort_err cs_kv_view_get(cs_kv_tx *tx, kv_txmap *tm, uint64_t hash, cs_slice key, cs_slice *value,
                           bool *found)
{
    kv_map *m = cs_kv_tx_store_map(tx, tm);
    kv_rec *r = m != NULL ? committed_rec(m, hash, key) : NULL;
    if (r != NULL)
        CS_TRY(keep(tx, tm, r));
    *found = r != NULL;
    *value = r != NULL ? kv_rec_value(r) : CS_SLICE_EMPTY;
    return CONSORT_OK;
}

/* The records map `m` held at the committed seqno, sorted by key, each with
 * a reference (the callback may change the store); NULL and 0 if none. */
static consort_err committed_sorted(const kv_map *m, kv_rec ***out, size_t *n)
{
    const kv_table *t = &m->table;
    const kv_shadows *sh = &m->shadow;
    *out = NULL;
    *n = 0;
    size_t cap = t->count + sh->count;
    if (cap == 0)
        return CONSORT_OK;
    kv_rec **recs = cs_calloc(cap, sizeof *recs);
    CS_ENSURE(recs != NULL, CONSORT_E_NOMEM, "KV committed view: sorting %zu keys", cap);
    size_t k = 0;
    for (size_t i = 0; i < cs_kv_table_cap(t); i++) {
        kv_rec *r = cs_kv_table_rec(t, i);
        /* a key with an entry was changed since: the entry says what it was */
        if (r != NULL && cs_kv_shadow_find(sh, r->hash, kv_rec_key(r)) == NULL)
            recs[k++] = r;
    }
    for (size_t i = 0; i < kv_slots_cap(&sh->slots); i++) {
        const kv_shadow *e = (const kv_shadow *)kv_slot_at(&sh->slots, sizeof(kv_shadow), i);
        if (e->rec != NULL && e->present)
            recs[k++] = e->rec;
    }
    cs_kv_recs_sort(recs, k);
    for (size_t i = 0; i < k; i++)
        cs_kv_rec_ref(recs[i]);
    *out = recs;
    *n = k;
    return CONSORT_OK;
}

consort_err cs_kv_view_foreach(cs_kv_tx *tx, kv_txmap *tm, cs_kv_visit_cb cb, void *ctx)
{
    kv_map *m = cs_kv_tx_store_map(tx, tm);
    if (m == NULL)
        return CONSORT_OK;
    kv_rec **recs;
    size_t n;
    CS_TRY(committed_sorted(m, &recs, &n));
    bool more = true;
    for (size_t i = 0; i < n && more; i++)
        more = cb(ctx, kv_rec_key(recs[i]), kv_rec_value(recs[i]));
    for (size_t i = 0; i < n; i++)
        cs_kv_rec_unref(recs[i]);
    cs_free(recs);
    return CONSORT_OK;
}
