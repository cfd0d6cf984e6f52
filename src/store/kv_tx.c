/*
 * Transactions: begin, read (recording versions), buffered writes, free.
 * Commit lives in kv_apply.c.
 *
 * Iteration (cs_kv_foreach) visits a map as the transaction sees it: the
 * store's keys merged with the transaction's own puts and removals, in
 * bytewise key order. It counts as a read of the whole map (phantoms
 * included): it records the map's change counter, and commit fails with BUSY
 * if the map changed at all since. Coarse, but exact and O(1) to validate.
 *
 * A read-only view of the committed state (cs_kv_tx_begin_committed) is the
 * same object with `view` set: its reads go to kv_committed.c, its writes
 * and its commit fail with STATE.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <string.h>

consort_err cs_kv_tx_begin(cs_kv_store *s, cs_kv_tx **out)
{
    cs_kv_tx *tx = cs_calloc(1, sizeof *tx);
    CS_ENSURE(tx != NULL, CONSORT_E_NOMEM, "KV transaction");
    tx->store = s;
    tx->generation = s->generation;
    *out = tx;
    return CONSORT_OK;
}

static void txmap_free(kv_txmap *tm)
{
    cs_kv_table_cleanup(&tm->reads);
    cs_kv_table_cleanup(&tm->writes);
    cs_free(tm->name);
    cs_free(tm);
}

void cs_kv_tx_free(cs_kv_tx *tx)
{
    if (tx == NULL)
        return;
    for (size_t i = 0; i < tx->nmaps; i++)
        txmap_free(tx->maps[i]);
    for (size_t i = 0; i < tx->nkept; i++)
        cs_kv_rec_unref(tx->kept[i]);
    cs_free(tx->kept);
    cs_free(tx->maps);
    cs_free(tx);
}

consort_err cs_kv_tx_check_open(const cs_kv_tx *tx, const char *op)
{
    CS_ENSURE(!tx->committed, CONSORT_E_STATE, "KV %s: the transaction has already committed", op);
    return CONSORT_OK;
}

consort_err cs_kv_tx_check_writable(const cs_kv_tx *tx, const char *op)
{
    CS_ENSURE(!tx->view, CONSORT_E_STATE,
              "KV %s: the transaction is a read-only view of the committed state", op);
    return CONSORT_OK;
}

kv_map *cs_kv_tx_store_map(const cs_kv_tx *tx, kv_txmap *tm)
{
    if (tm->map_epoch != tx->store->maps_epoch) {
        tm->map = cs_kv_map_find(tx->store, kv_txmap_name(tm), NULL);
        tm->map_epoch = tx->store->maps_epoch;
    }
    return tm->map;
}

static consort_err txmap_new(cs_kv_tx *tx, cs_slice name, kv_txmap **out)
{
    kv_txmap *tm = cs_calloc(1, sizeof *tm);
    CS_ENSURE(tm != NULL, CONSORT_E_NOMEM, "KV transaction map");
    tm->name = cs_malloc(name.len);
    if (tm->name == NULL) {
        cs_free(tm);
        return cs_fail(CONSORT_E_NOMEM, "KV transaction map name");
    }
    memcpy(tm->name, name.ptr, name.len);
    tm->name_len = name.len;
    tm->map = cs_kv_map_find(tx->store, name, NULL);
    tm->map_epoch = tx->store->maps_epoch;
    cs_kv_table_init(&tm->reads);
    cs_kv_table_init(&tm->writes);
    *out = tm;
    return CONSORT_OK;
}

consort_err cs_kv_tx_map(cs_kv_tx *tx, cs_slice name, kv_txmap **out)
{
    if (tx->last < tx->nmaps && cs_slice_eq(kv_txmap_name(tx->maps[tx->last]), name)) {
        *out = tx->maps[tx->last];
        return CONSORT_OK;
    }
    size_t lo = 0, hi = tx->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cs_kv_bytes_cmp(kv_txmap_name(tx->maps[mid]), name);
        if (c == 0) {
            tx->last = mid;
            *out = tx->maps[mid];
            return CONSORT_OK;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    CS_TRY(cs_kv_check_map_name(name));
    if (tx->nmaps == tx->maps_cap) {
        size_t cap = tx->maps_cap > 0 ? tx->maps_cap * 2 : 4;
        kv_txmap **maps = cs_realloc(tx->maps, cap * sizeof *maps);
        CS_ENSURE(maps != NULL, CONSORT_E_NOMEM, "KV transaction: %zu maps", cap);
        tx->maps = maps;
        tx->maps_cap = cap;
    }
    kv_txmap *tm = NULL;
    CS_TRY(txmap_new(tx, name, &tm));
    memmove(tx->maps + lo + 1, tx->maps + lo, (tx->nmaps - lo) * sizeof *tx->maps);
    tx->maps[lo] = tm;
    tx->nmaps++;
    tx->last = lo;
    *out = tm;
    return CONSORT_OK;
}

static consort_err check_key(const cs_kv_tx *tx, cs_slice key)
{
    size_t max = tx->store->limits.max_key;
    CS_ENSURE(key.len <= max, CONSORT_E_TOO_LARGE, "KV key of %zu bytes, the cap is %zu", key.len,
              max);
    return CONSORT_OK;
}

consort_err cs_kv_get(cs_kv_tx *tx, cs_slice map, cs_slice key, cs_slice *value, bool *found)
{
    CS_TRY(cs_kv_tx_check_open(tx, "get"));
    CS_TRY(check_key(tx, key));
    kv_txmap *tm = NULL;
    CS_TRY(cs_kv_tx_map(tx, map, &tm));
    uint64_t h = cs_kv_hash(tx->store, key);
    if (tx->view)
        return cs_kv_view_get(tx, tm, h, key, value, found);
    /* read-your-writes: own write first, then what this transaction read */
    kv_rec *r = cs_kv_table_find(&tm->writes, h, key);
    if (r == NULL)
        r = cs_kv_table_find(&tm->reads, h, key);
    if (r == NULL) {
        kv_map *m = cs_kv_tx_store_map(tx, tm);
        kv_rec *cur = m != NULL ? cs_kv_table_find(&m->table, h, key) : NULL;
        CS_TRY(cs_kv_table_reserve(&tm->reads, 1));
        if (cur != NULL)
            r = cs_kv_rec_ref(cur);
        else
            CS_TRY(cs_kv_rec_new(h, key, NULL, &r)); /* absent: version 0 */
        (void)cs_kv_table_set(&tm->reads, r);
    }
    *found = r->present;
    *value = r->present ? kv_rec_value(r) : CS_SLICE_EMPTY;
    return CONSORT_OK;
}

/* Buffers a put (value != NULL) or a removal. */
static consort_err buffer_write(cs_kv_tx *tx, cs_slice map, cs_slice key, const cs_slice *value)
{
    CS_TRY(cs_kv_tx_check_open(tx, value != NULL ? "put" : "remove"));
    CS_TRY(cs_kv_tx_check_writable(tx, value != NULL ? "put" : "remove"));
    CS_TRY(check_key(tx, key));
    if (value != NULL) {
        size_t max = tx->store->limits.max_value;
        CS_ENSURE(value->len <= max, CONSORT_E_TOO_LARGE, "KV value of %zu bytes, the cap is %zu",
                  value->len, max);
    }
    kv_txmap *tm = NULL;
    CS_TRY(cs_kv_tx_map(tx, map, &tm));
    CS_TRY(cs_kv_table_reserve(&tm->writes, 1));
    kv_rec *rec;
    CS_TRY(cs_kv_rec_new(cs_kv_hash(tx->store, key), key, value, &rec));
    /* last write wins: the earlier one (and any value borrowed from it) goes */
    cs_kv_rec_unref(cs_kv_table_set(&tm->writes, rec));
    return CONSORT_OK;
}

consort_err cs_kv_put(cs_kv_tx *tx, cs_slice map, cs_slice key, cs_slice value)
{
    return buffer_write(tx, map, key, &value);
}

consort_err cs_kv_remove(cs_kv_tx *tx, cs_slice map, cs_slice key)
{
    return buffer_write(tx, map, key, NULL);
}

uint64_t cs_kv_tx_store_seqno(const cs_kv_tx *tx)
{
    return tx->view ? cs_kv_committed_seqno(tx->store) : cs_kv_last_seqno(tx->store);
}

bool cs_kv_tx_has_writes(const cs_kv_tx *tx)
{
    for (size_t i = 0; i < tx->nmaps; i++) {
        if (tx->maps[i]->writes.count > 0)
            return true;
    }
    return false;
}

/* ---- iteration ---- */

typedef struct sorted_recs {
    kv_rec **recs;
    size_t n;
} sorted_recs;

/* Sorted records of a table, each with a reference held for the duration of
 * the iteration (the callback may change the transaction or the store). */
static consort_err take_sorted(const kv_table *t, sorted_recs *out)
{
    CS_TRY(cs_kv_table_sorted(t, &out->recs, &out->n));
    for (size_t i = 0; i < out->n; i++)
        cs_kv_rec_ref(out->recs[i]);
    return CONSORT_OK;
}

static void release(sorted_recs *sr)
{
    for (size_t i = 0; i < sr->n; i++)
        cs_kv_rec_unref(sr->recs[i]);
    cs_free(sr->recs);
    *sr = (sorted_recs){0};
}

consort_err cs_kv_foreach(cs_kv_tx *tx, cs_slice map, cs_kv_visit_cb cb, void *ctx)
{
    CS_TRY(cs_kv_tx_check_open(tx, "foreach"));
    kv_txmap *tm = NULL;
    CS_TRY(cs_kv_tx_map(tx, map, &tm));
    if (tx->view)
        return cs_kv_view_foreach(tx, tm, cb, ctx);
    kv_map *m = cs_kv_tx_store_map(tx, tm);
    sorted_recs store = {0}, own = {0};
    if (m != NULL)
        CS_TRY(take_sorted(&m->table, &store));
    consort_err rc = take_sorted(&tm->writes, &own);
    if (rc != CONSORT_OK) {
        release(&store);
        return rc;
    }
    if (!tm->scanned) {
        /* the first iteration is what the transaction's result depends on */
        tm->scanned = true;
        tm->scan_mod = m != NULL ? m->mod_count : 0;
    }
    size_t i = 0, j = 0;
    bool more = true;
    while (more && (i < store.n || j < own.n)) {
        const kv_rec *pick;
        if (j == own.n) {
            pick = store.recs[i++];
        } else if (i == store.n) {
            pick = own.recs[j++];
        } else {
            int c = cs_kv_bytes_cmp(kv_rec_key(store.recs[i]), kv_rec_key(own.recs[j]));
            if (c < 0) {
                pick = store.recs[i++];
            } else {
                if (c == 0)
                    i++; /* the transaction's own write hides the stored value */
                pick = own.recs[j++];
            }
        }
        if (pick->present)
            more = cb(ctx, kv_rec_key(pick), kv_rec_value(pick));
    }
    release(&store);
    release(&own);
    return CONSORT_OK;
}
