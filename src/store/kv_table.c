/*
 * Records and the map table that indexes them: a slot array (kv_slots.c) of
 * (hash, record) slots.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

consort_err cs_kv_rec_new(uint64_t hash, cs_slice key, const cs_slice *value, kv_rec **out)
{
    size_t vlen = value ? value->len : 0;
    CS_ENSURE(key.len <= CS_KV_REC_LEN_MAX && vlen <= CS_KV_REC_LEN_MAX, CONSORT_E_TOO_LARGE,
              "KV record: a key of %zu bytes and a value of %zu (each at most %llu)", key.len, vlen,
              (unsigned long long)CS_KV_REC_LEN_MAX);
    kv_rec *r = cs_malloc(sizeof(kv_rec) + key.len + vlen);
    CS_ENSURE(r != NULL, CONSORT_E_NOMEM, "KV record of %zu bytes", key.len + vlen);
    *r = (kv_rec){.hash = hash,
                  .refs = 1,
                  .klen = (uint32_t)key.len,
                  .vlen = (uint32_t)vlen,
                  .present = value != NULL};
    if (key.len > 0)
        memcpy(r->data, key.ptr, key.len);
    if (vlen > 0)
        memcpy(r->data + key.len, value->ptr, vlen);
    *out = r;
    return CONSORT_OK;
}

kv_rec *cs_kv_rec_ref(kv_rec *r)
{
    r->refs++;
    return r;
}

void cs_kv_rec_unref(kv_rec *r)
{
    if (r != NULL && --r->refs == 0)
        cs_free(r);
}

int cs_kv_bytes_cmp(cs_slice a, cs_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0)
        return c;
    return (a.len > b.len) - (a.len < b.len);
}

/* ---- the map table ---- */

void cs_kv_table_init(kv_table *t)
{
    *t = (kv_table){0};
}

void cs_kv_table_cleanup(kv_table *t)
{
    for (size_t i = 0; i < cs_kv_table_cap(t); i++)
        cs_kv_rec_unref(cs_kv_table_rec(t, i));
    cs_kv_slots_free(&t->slots);
    cs_kv_slots_free(&t->old);
    cs_kv_table_init(t);
}

/* Moves up to `budget` slots of the previous array into the new one. */
static void grow_step(kv_table *t, size_t budget)
{
    kv_slots *o = &t->old;
    while (o->chunks != NULL && budget > 0) {
        if (t->old_pos > o->mask) {
            cs_kv_slots_free(o); /* views keep the chunks they share */
            t->old_pos = 0;
            return;
        }
        budget--;
        kv_slot s = *kv_slot_at(o, sizeof(kv_slot), t->old_pos);
        if (s.rec == NULL) {
            t->old_pos++;
            continue;
        }
        /* a later member of the run may shift back into old_pos: look again */
        cs_kv_slots_insert(&t->slots, sizeof(kv_slot), &s);
        cs_kv_slots_shift_out(o, sizeof(kv_slot), t->old_pos);
    }
}

consort_err cs_kv_table_reserve(kv_table *t, size_t extra)
{
    size_t cap = kv_slots_cap(&t->slots), ncap;
    CS_TRY(cs_kv_slots_grown_cap(cap, sizeof(kv_slot), t->count, extra, "KV table", &ncap));
    if (ncap == cap)
        return CONSORT_OK;
    /* growing faster than the steps move (a large batch): finish first */
    grow_step(t, SIZE_MAX);
    kv_slots grown;
    CS_TRY(cs_kv_slots_alloc(&grown, sizeof(kv_slot), ncap, "KV table"));
    t->old = t->slots;
    t->slots = grown;
    t->old_pos = 0;
    if (t->count == 0)
        grow_step(t, SIZE_MAX); /* nothing to move: drop it now */
    return CONSORT_OK;
}

kv_rec *cs_kv_table_find(const kv_table *t, uint64_t hash, cs_slice key)
{
    if (t->slots.chunks == NULL)
        return NULL;
    kv_rec *r = kv_slot_at(&t->slots, sizeof(kv_slot),
                           cs_kv_slots_probe(&t->slots, sizeof(kv_slot), hash, key))
                    ->rec;
    if (r != NULL || t->old.chunks == NULL)
        return r;
    return kv_slot_at(&t->old, sizeof(kv_slot),
                      cs_kv_slots_probe(&t->old, sizeof(kv_slot), hash, key))
        ->rec;
}

/* Removes `key` from array `a` and returns its record, or NULL. */
static kv_rec *take_from(kv_slots *a, uint64_t hash, cs_slice key)
{
    if (a->chunks == NULL)
        return NULL;
    size_t i = cs_kv_slots_probe(a, sizeof(kv_slot), hash, key);
    kv_rec *rec = kv_slot_at(a, sizeof(kv_slot), i)->rec;
    if (rec != NULL)
        cs_kv_slots_shift_out(a, sizeof(kv_slot), i);
    return rec;
}

/* Close to doubling (past 3/4 full, cs_kv_slots_grown_cap), a large table
 * announces the doubled array, so that its pages are faulted in off this
 * thread: faulted here, 512 MiB of them held a node's loop 700 ms. */
static void announce_growth(const kv_table *t)
{
    size_t cap = kv_slots_cap(&t->slots);
    if (cap >= KV_CHUNK_SLOTS && t->old.chunks == NULL && t->count == cap / 4 * 3 - cap / 16)
        cs_alloc_zeroed_pages_soon(cs_kv_slots_bytes(2 * cap, sizeof(kv_slot)));
}

kv_rec *cs_kv_table_set(kv_table *t, kv_rec *rec)
{
    cs_slice key = kv_rec_key(rec);
    kv_rec *old = take_from(&t->old, rec->hash, key); /* keys live in one array */
    size_t i = cs_kv_slots_probe(&t->slots, sizeof(kv_slot), rec->hash, key);
    kv_slot *s = cs_kv_slot_w(&t->slots, sizeof(kv_slot), i);
    if (s->rec != NULL)
        old = s->rec;
    if (old == NULL) {
        t->count++;
        announce_growth(t);
    }
    *s = (kv_slot){rec->hash, rec};
    grow_step(t, KV_GROW_STEP);
    return old;
}

kv_rec *cs_kv_table_take(kv_table *t, uint64_t hash, cs_slice key)
{
    kv_rec *rec = take_from(&t->slots, hash, key);
    if (rec == NULL)
        rec = take_from(&t->old, hash, key);
    if (rec != NULL)
        t->count--;
    grow_step(t, KV_GROW_STEP);
    return rec;
}

consort_err cs_kv_table_sorted(const kv_table *t, kv_rec ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (t->count == 0)
        return CONSORT_OK;
    kv_rec **recs = cs_calloc(t->count, sizeof *recs);
    CS_ENSURE(recs != NULL, CONSORT_E_NOMEM, "KV: sorting %zu keys", t->count);
    size_t k = 0;
    for (size_t i = 0; i < cs_kv_table_cap(t); i++) {
        if (cs_kv_table_rec(t, i) != NULL)
            recs[k++] = cs_kv_table_rec(t, i);
    }
    cs_kv_recs_sort(recs, k);
    *out = recs;
    *n = k;
    return CONSORT_OK;
}
