/*
 * Slot arrays: the open-addressing hash tables under the map tables, the
 * transactions' read and write sets and the committed index.
 *
 * Linear probing over a power-of-two number of slots kept at most 3/4 full,
 * with backward-shift deletion (no tombstones, so lookups never slow down
 * after many removals). Each slot begins with a kv_slot: the full 64-bit
 * SipHash is stored, so a probe compares key bytes only when the hashes are
 * equal.
 *
 * The slots live in chunks of at most KV_CHUNK_SLOTS, so that a pinned view
 * (kv_snapshot.c) can hold a map's whole table by taking one reference per
 * chunk instead of one per record: a chunk shared with a view is never
 * written again; the first write to it copies it (copy on write). The copy
 * goes to one of the array's spares, reserved when the view was pinned, one
 * per chunk that became shared, so writes stay infallible (the apply path
 * makes every allocation before it changes anything). The spares of one pin
 * are one allocation, a slab, that nothing writes until a copy lands there:
 * pinning touches no page of it (16,384 separate allocations at 10M keys
 * faulted a page each on the store's thread), and the slab is freed when
 * its last chunk or spare goes. A new array's chunks are one slab too, from
 * calloc: a large one is fresh zero pages from the kernel, not a 256 MiB
 * memset on the store's thread at 16M slots. A chunk freed while its slab
 * lives gives its whole pages back (madvise), so holes left by copies do
 * not stay resident.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIN_CAP 8

static _Atomic uint64_t advised;

uint64_t cs_kv_slots_advised(void)
{
    return advised;
}

typedef struct kv_slab {
    size_t live;  /* chunks and spares carved from it and not freed */
    size_t bytes; /* the whole allocation (keeps the chunks 16-byte aligned) */
    unsigned char mem[];
} kv_slab;

static size_t slab_bytes(size_t n, size_t chunk)
{
    return n > (SIZE_MAX - sizeof(kv_slab)) / chunk ? 0 : sizeof(kv_slab) + n * chunk;
}

static kv_slab *slab_new(size_t n, size_t chunk)
{
    size_t bytes = slab_bytes(n, chunk);
    if (bytes == 0)
        return NULL;
    kv_slab *sl = cs_alloc_zeroed_pages(bytes);
    if (sl != NULL)
        *sl = (kv_slab){.live = n, .bytes = bytes};
    return sl;
}

static void slab_put(kv_slab *sl, size_t n)
{
    sl->live -= n;
    if (sl->live == 0)
        cs_free_zeroed_pages(sl, sl->bytes);
}

/* Chunks being freed, gathered while they lie end to end in one slab. */
typedef struct hole {
    kv_slab *slab;
    uintptr_t lo, hi;
    size_t n;
} hole;

/* Frees the gathered chunks: their whole pages go back to the kernel if
 * their slab stays (one madvise per run, not per chunk), then the slab
 * loses them. */
static void hole_flush(hole *h)
{
    if (h->n == 0)
        return;
    if (h->slab->live > h->n) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t lo = (h->lo + page - 1) & ~(page - 1), hi = h->hi & ~(page - 1);
        if (hi > lo) {
            (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: may fail */
            advised++;
        }
    }
    slab_put(h->slab, h->n);
    *h = (hole){0};
}

static void hole_add(hole *h, kv_chunk *c, size_t bytes)
{
    uintptr_t at = (uintptr_t)c;
    if (h->n > 0 && (h->slab != c->slab || h->hi != at))
        hole_flush(h);
    if (h->n == 0)
        *h = (hole){.slab = c->slab, .lo = at, .hi = at};
    h->hi = at + bytes;
    h->n++;
}

static size_t chunk_slots(size_t cap)
{
    return cap < KV_CHUNK_SLOTS ? cap : KV_CHUNK_SLOTS;
}

static size_t chunk_bytes(size_t cap, size_t size)
{
    return sizeof(kv_chunk) + chunk_slots(cap) * size;
}

static size_t nchunks(size_t cap)
{
    return (cap + KV_CHUNK_SLOTS - 1) / KV_CHUNK_SLOTS;
}

static inline bool key_eq(const kv_rec *r, cs_slice key)
{
    return r->klen == key.len && (key.len == 0 || memcmp(r->data, key.ptr, key.len) == 0);
}

static int chunk_addr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (kv_chunk *const *)a, y = (uintptr_t) * (kv_chunk *const *)b;
    return (x > y) - (x < y);
}

/* Drops one reference to each chunk of an array of `cap` slots (freed at
 * zero; NULLs skipped) and consumes the array (its entries are reordered:
 * the caller frees it next). The chunks freed are taken by address, so
 * those of one slab come together: a slab losing its last chunks goes at
 * once, and otherwise each run of neighbours gives its pages back. By
 * index they alternate between slabs after a view's copies (each copy lies
 * where the spares of the pin that took it were, in the order the writes
 * came), which made one madvise per chunk. Slots are at least a kv_slot
 * wide, so the bytes given to a hole lie inside every chunk. */
static void release_chunks(kv_chunk **chunks, size_t cap)
{
    size_t n = chunks != NULL ? nchunks(cap) : 0, freed = 0;
    for (size_t i = 0; i < n; i++) {
        if (chunks[i] != NULL && --chunks[i]->refs == 0)
            chunks[freed++] = chunks[i];
    }
    qsort(chunks, freed, sizeof *chunks, chunk_addr_cmp);
    size_t bytes = chunk_bytes(cap, sizeof(kv_slot));
    for (size_t i = 0, end; i < freed; i = end) {
        kv_slab *sl = chunks[i]->slab;
        for (end = i + 1; end < freed && chunks[end]->slab == sl;)
            end++;
        if (sl->live == end - i) {
            slab_put(sl, end - i);
            continue;
        }
        hole h = {0};
        for (size_t k = i; k < end; k++)
            hole_add(&h, chunks[k], bytes);
        hole_flush(&h);
    }
}

static void free_spares(kv_slots *a)
{
    for (size_t i = 0; i < a->nspare; i++)
        slab_put(a->spare[i].slab, 1); /* never written: no page to give back */
    cs_free(a->spare);
    a->spare = NULL;
    a->nspare = 0;
}

void cs_kv_slots_free(kv_slots *a)
{
    if (a->chunks != NULL) {
        release_chunks(a->chunks, a->mask + 1);
        cs_free(a->chunks);
    }
    free_spares(a);
    *a = (kv_slots){0};
}

void *cs_kv_slot_w(kv_slots *a, size_t size, size_t i)
{
    kv_chunk **c = &a->chunks[i >> KV_CHUNK_SHIFT];
    if ((*c)->refs > 1) {
        /* shared with a pinned view: write a copy (cs_kv_slots_share
         * allocated a spare for every chunk it shared) */
        kv_spare sp = a->spare[--a->nspare];
        kv_chunk *copy = sp.chunk;
        memcpy(copy, *c, chunk_bytes(a->mask + 1, size));
        copy->refs = 1;
        copy->slab = sp.slab;
        (*c)->refs--;
        *c = copy;
    }
    return (*c)->slots + (i & (KV_CHUNK_SLOTS - 1)) * size;
}

size_t cs_kv_slots_probe(const kv_slots *a, size_t size, uint64_t hash, cs_slice key)
{
    size_t i = (size_t)hash & a->mask;
    for (;;) {
        const kv_slot *s = kv_slot_at(a, size, i);
        if (s->rec == NULL || (s->hash == hash && key_eq(s->rec, key)))
            return i;
        i = (i + 1) & a->mask;
    }
}

consort_err cs_kv_slots_grown_cap(size_t cap, size_t size, size_t count, size_t extra,
                                  const char *what, size_t *out)
{
    CS_ENSURE(extra <= SIZE_MAX / 8 - count, CONSORT_E_NOMEM, "%s: %zu more keys", what, extra);
    size_t need = count + extra;
    *out = cap;
    if (need <= cap / 4 * 3)
        return CONSORT_OK;
    size_t ncap = cap > 0 ? cap : MIN_CAP;
    while (need > ncap / 4 * 3) {
        CS_ENSURE(ncap <= SIZE_MAX / 2 / size, CONSORT_E_NOMEM, "%s: %zu keys", what, need);
        ncap *= 2;
    }
    *out = ncap;
    return CONSORT_OK;
}

size_t cs_kv_slots_bytes(size_t cap, size_t size)
{
    return slab_bytes(nchunks(cap), chunk_bytes(cap, size));
}

consort_err cs_kv_slots_alloc(kv_slots *a, size_t size, size_t cap, const char *what)
{
    size_t n = nchunks(cap), bytes = chunk_bytes(cap, size);
    kv_slots fresh = {.mask = cap - 1};
    fresh.chunks = cs_calloc(n, sizeof *fresh.chunks);
    kv_slab *sl = slab_new(n, bytes);
    if (fresh.chunks == NULL || sl == NULL) {
        cs_free(fresh.chunks);
        if (sl != NULL)
            slab_put(sl, n);
        return cs_fail(CONSORT_E_NOMEM, "%s of %zu slots", what, cap);
    }
    for (size_t k = 0; k < n; k++) {
        fresh.chunks[k] = (kv_chunk *)(void *)(sl->mem + k * bytes);
        *fresh.chunks[k] = (kv_chunk){.refs = 1, .slab = sl};
    }
    *a = fresh;
    return CONSORT_OK;
}

void cs_kv_slots_insert(kv_slots *a, size_t size, const kv_slot *s)
{
    size_t j = (size_t)s->hash & a->mask;
    while (kv_slot_at(a, size, j)->rec != NULL)
        j = (j + 1) & a->mask;
    memcpy(cs_kv_slot_w(a, size, j), s, size);
}

consort_err cs_kv_slots_reserve(kv_slots *a, size_t size, size_t count, size_t extra,
                                const char *what)
{
    size_t cap = kv_slots_cap(a), ncap;
    CS_TRY(cs_kv_slots_grown_cap(cap, size, count, extra, what, &ncap));
    if (ncap == cap)
        return CONSORT_OK;
    kv_slots grown;
    CS_TRY(cs_kv_slots_alloc(&grown, size, ncap, what));
    for (size_t i = 0; i < cap; i++) {
        const kv_slot *s = kv_slot_at(a, size, i);
        if (s->rec != NULL)
            cs_kv_slots_insert(&grown, size, s);
    }
    /* views keep the chunks they share; the new array shares none */
    cs_kv_slots_free(a);
    *a = grown;
    return CONSORT_OK;
}

void cs_kv_slots_shift_out(kv_slots *a, size_t size, size_t i)
{
    /* Backward-shift deletion: pull later members of the probe run into the
     * hole unless their home slot lies cyclically in (hole, current]. */
    size_t j = i;
    for (;;) {
        memset(cs_kv_slot_w(a, size, i), 0, size);
        for (;;) {
            j = (j + 1) & a->mask;
            const kv_slot *s = kv_slot_at(a, size, j);
            if (s->rec == NULL)
                return;
            size_t home = (size_t)s->hash & a->mask;
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        void *dst = cs_kv_slot_w(a, size, i);
        memcpy(dst, kv_slot_at(a, size, j), size);
        i = j;
    }
}

consort_err cs_kv_slots_share(kv_slots *a, size_t size, kv_chunk ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (a->chunks == NULL)
        return CONSORT_OK;
    size_t n = nchunks(a->mask + 1), fresh = 0;
    for (size_t k = 0; k < n; k++)
        fresh += a->chunks[k]->refs == 1 ? 1 : 0;
    size_t bytes = chunk_bytes(a->mask + 1, size);
    kv_chunk **held = cs_calloc(n, sizeof *held);
    kv_spare *spare = cs_realloc(a->spare, (a->nspare + fresh + 1) * sizeof *spare);
    if (spare != NULL)
        a->spare = spare;
    kv_slab *sl = fresh > 0 ? slab_new(fresh, bytes) : NULL;
    if (held == NULL || spare == NULL || (fresh > 0 && sl == NULL)) {
        cs_free(held);
        if (sl != NULL)
            slab_put(sl, fresh);
        return cs_fail(CONSORT_E_NOMEM, "KV view: room to copy %zu of %zu chunks", fresh, n);
    }
    if (sl != NULL) {
        for (size_t k = 0; k < fresh; k++)
            spare[a->nspare++] = (kv_spare){(kv_chunk *)(void *)(sl->mem + k * bytes), sl};
    }
    for (size_t k = 0; k < n; k++) {
        held[k] = a->chunks[k];
        held[k]->refs++;
    }
    *out = held;
    *n_out = n;
    return CONSORT_OK;
}

void cs_kv_slots_unshared(kv_slots *a)
{
    free_spares(a);
}
