/*
 * Records and the open-addressing hash table that indexes them.
 *
 * Linear probing over a power-of-two array of (hash, record) slots, kept at
 * most 3/4 full, with backward-shift deletion (no tombstones, so lookups never
 * slow down after many removals). The full 64-bit SipHash is stored in each
 * slot, so a probe compares key bytes only when the hashes are equal.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN_CAP 8

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

static inline bool key_eq(const kv_rec *r, cs_slice key)
{
    return r->klen == key.len && (key.len == 0 || memcmp(r->data, key.ptr, key.len) == 0);
}

/* ---- slot arrays: slots of `size` bytes, each beginning with a kv_slot ---- */

static inline kv_slot *slot_at(const void *slots, size_t size, size_t i)
{
    return (kv_slot *)((char *)(uintptr_t)slots + i * size);
}

size_t cs_kv_slots_probe(const void *slots, size_t size, size_t mask, uint64_t hash, cs_slice key)
{
    size_t i = (size_t)hash & mask;
    for (;;) {
        const kv_slot *s = slot_at(slots, size, i);
        if (s->rec == NULL || (s->hash == hash && key_eq(s->rec, key)))
            return i;
        i = (i + 1) & mask;
    }
}

consort_err cs_kv_slots_reserve(void **slots, size_t size, size_t *mask, size_t count, size_t extra,
                                const char *what)
{
    CS_ENSURE(extra <= SIZE_MAX / 8 - count, CONSORT_E_NOMEM, "%s: %zu more keys", what, extra);
    size_t need = count + extra;
    size_t cap = *slots != NULL ? *mask + 1 : 0;
    if (need <= cap / 4 * 3)
        return CONSORT_OK;
    size_t ncap = cap > 0 ? cap : TABLE_MIN_CAP;
    while (need > ncap / 4 * 3) {
        CS_ENSURE(ncap <= SIZE_MAX / 2 / size, CONSORT_E_NOMEM, "%s: %zu keys", what, need);
        ncap *= 2;
    }
    void *grown = cs_calloc(ncap, size);
    CS_ENSURE(grown != NULL, CONSORT_E_NOMEM, "%s of %zu slots", what, ncap);
    for (size_t i = 0; i < cap; i++) {
        const kv_slot *s = slot_at(*slots, size, i);
        if (s->rec == NULL)
            continue;
        size_t j = (size_t)s->hash & (ncap - 1);
        while (slot_at(grown, size, j)->rec != NULL)
            j = (j + 1) & (ncap - 1);
        memcpy(slot_at(grown, size, j), s, size);
    }
    cs_free(*slots);
    *slots = grown;
    *mask = ncap - 1;
    return CONSORT_OK;
}

void cs_kv_slots_shift_out(void *slots, size_t size, size_t mask, size_t i)
{
    /* Backward-shift deletion: pull later members of the probe run into the
     * hole unless their home slot lies cyclically in (hole, current]. */
    size_t j = i;
    for (;;) {
        memset(slot_at(slots, size, i), 0, size);
        for (;;) {
            j = (j + 1) & mask;
            const kv_slot *s = slot_at(slots, size, j);
            if (s->rec == NULL)
                return;
            size_t home = (size_t)s->hash & mask;
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        memcpy(slot_at(slots, size, i), slot_at(slots, size, j), size);
        i = j;
    }
}

/* ---- the map table ---- */

void cs_kv_table_init(kv_table *t)
{
    *t = (kv_table){0};
}

void cs_kv_table_cleanup(kv_table *t)
{
    if (t->slots != NULL) {
        for (size_t i = 0; i <= t->mask; i++)
            cs_kv_rec_unref(t->slots[i].rec);
        cs_free(t->slots);
    }
    cs_kv_table_init(t);
}

consort_err cs_kv_table_reserve(kv_table *t, size_t extra)
{
    void *slots = t->slots;
    CS_TRY(cs_kv_slots_reserve(&slots, sizeof(kv_slot), &t->mask, t->count, extra, "KV table"));
    t->slots = slots;
    return CONSORT_OK;
}

kv_rec *cs_kv_table_find(const kv_table *t, uint64_t hash, cs_slice key)
{
    if (t->slots == NULL)
        return NULL;
    return t->slots[cs_kv_slots_probe(t->slots, sizeof(kv_slot), t->mask, hash, key)].rec;
}

kv_rec *cs_kv_table_set(kv_table *t, kv_rec *rec)
{
    size_t i = cs_kv_slots_probe(t->slots, sizeof(kv_slot), t->mask, rec->hash, kv_rec_key(rec));
    kv_rec *old = t->slots[i].rec;
    if (old == NULL)
        t->count++;
    t->slots[i] = (kv_slot){rec->hash, rec};
    return old;
}

kv_rec *cs_kv_table_take(kv_table *t, uint64_t hash, cs_slice key)
{
    if (t->slots == NULL)
        return NULL;
    size_t i = cs_kv_slots_probe(t->slots, sizeof(kv_slot), t->mask, hash, key);
    kv_rec *rec = t->slots[i].rec;
    if (rec == NULL)
        return NULL;
    t->count--;
    cs_kv_slots_shift_out(t->slots, sizeof(kv_slot), t->mask, i);
    return rec;
}

static int rec_ptr_cmp(const void *a, const void *b)
{
    const kv_rec *ra = *(const kv_rec *const *)a;
    const kv_rec *rb = *(const kv_rec *const *)b;
    return cs_kv_bytes_cmp(kv_rec_key(ra), kv_rec_key(rb));
}

void cs_kv_recs_sort(kv_rec **recs, size_t n)
{
    if (n > 1)
        qsort(recs, n, sizeof *recs, rec_ptr_cmp);
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
    for (size_t i = 0; i <= t->mask; i++) {
        if (t->slots[i].rec != NULL)
            recs[k++] = t->slots[i].rec;
    }
    cs_kv_recs_sort(recs, k);
    *out = recs;
    *n = k;
    return CONSORT_OK;
}
