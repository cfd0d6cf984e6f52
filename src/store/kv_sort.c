/* Records sorted by key (cs_kv_recs_sort): the order of snapshots, committed
 * views and write sets.
 *
 * A snapshot sorts every record of a map, and comparing two records through
 * their pointers reads both keys: a cache miss each, ~20 times per record
 * (n log n), most of a large snapshot's encoding (a million keys: ~1 s of a
 * 1.7 s encode). Large arrays are therefore sorted on a copy that carries,
 * beside each record, eight of its key's bytes: those just past the prefix
 * that every key of the array shares (so "records/2026/17" is told apart by
 * "17"), big-endian, zero-padded past the key's end. An in-place radix sort
 * (MSD, one byte a level, "American flag" sort) orders the copy by those
 * bytes; records whose eight bytes are equal are then ordered by their whole
 * keys (cs_kv_bytes_cmp), which also settles a key that ends where another
 * has zero bytes. The order is exactly cs_kv_bytes_cmp's: for keys with the
 * shared prefix, the first differing byte within the eight decides both
 * orders alike, and a key that ends first pads with zero, which is never
 * greater than the other key's byte there. */
#include "base/alloc.h"
#include "store/kv_priv.h"

#include <stdlib.h>
#include <string.h>

/* below this many records, qsort on the keys themselves */
#define RADIX_MIN 64

typedef struct {
    uint64_t bits; /* eight key bytes past the shared prefix, big-endian */
    kv_rec *rec;
} keyed;

static int rec_ptr_cmp(const void *a, const void *b)
{
    const kv_rec *ra = *(const kv_rec *const *)a;
    const kv_rec *rb = *(const kv_rec *const *)b;
    return cs_kv_bytes_cmp(kv_rec_key(ra), kv_rec_key(rb));
}

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->bits != y->bits)
        return x->bits < y->bits ? -1 : 1;
    return cs_kv_bytes_cmp(kv_rec_key(x->rec), kv_rec_key(y->rec));
}

/* The length of the prefix every record's key shares. */
static size_t shared_prefix(kv_rec *const *recs, size_t n)
{
    cs_slice first = kv_rec_key(recs[0]);
    size_t len = first.len;
    for (size_t i = 1; i < n && len > 0; i++) {
        cs_slice k = kv_rec_key(recs[i]);
        size_t m = k.len < len ? k.len : len;
        size_t j = 0;
        while (j < m && k.ptr[j] == first.ptr[j])
            j++;
        len = j;
    }
    return len;
}

static uint64_t bits_at(const kv_rec *r, size_t off)
{
    cs_slice k = kv_rec_key(r);
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (off + i < k.len ? k.ptr[off + i] : 0);
    return v;
}

/* Orders a[0..n) by bits (from byte `level`, 0 the most significant) and
 * then by whole keys. */
static void flag_sort(keyed *a, size_t n, unsigned level)
{
    if (n < RADIX_MIN || level == 8) {
        qsort(a, n, sizeof *a, keyed_cmp);
        return;
    }
    unsigned shift = 56 - 8 * level;
    size_t count[256] = {0};
    for (size_t i = 0; i < n; i++)
        count[(a[i].bits >> shift) & 0xff]++;
    size_t head[256], tail[256], at = 0;
    for (unsigned b = 0; b < 256; b++) {
        head[b] = at;
        at += count[b];
        tail[b] = at;
    }
    if (count[(a[0].bits >> shift) & 0xff] == n) { /* one bucket: next byte */
        flag_sort(a, n, level + 1);
        return;
    }
    /* each element swapped straight into its bucket's next free place */
    for (unsigned b = 0; b < 256; b++) {
        while (head[b] < tail[b]) {
            keyed v = a[head[b]];
            unsigned d = (unsigned)(v.bits >> shift) & 0xff;
            while (d != b) {
                keyed t = a[head[d]];
                a[head[d]++] = v;
                v = t;
                d = (unsigned)(v.bits >> shift) & 0xff;
            }
            a[head[b]++] = v;
        }
    }
    size_t from = 0;
    for (unsigned b = 0; b < 256; b++) {
        if (count[b] > 1)
            flag_sort(a + from, count[b], level + 1);
        from += count[b];
    }
}

void cs_kv_recs_sort(kv_rec **recs, size_t n)
{
    if (n < 2)
        return;
    /* pages of their own (a million records: 16 MB), not libc's heap: freeing
     * a block this large from the heap would raise libc's thresholds for
     * mapping and trimming, and later blocks of a few MB would then stay
     * resident in the heap (8 B a key more at 1M keys, bench_scale); fresh
     * ones, not a region a growing table announced */
    const size_t size = n * sizeof(keyed);
    keyed *a = n >= RADIX_MIN && n <= SIZE_MAX / sizeof(keyed) ? cs_alloc_fresh_pages(size) : NULL;
    if (a == NULL) { /* small, or no memory for the copy: the plain sort */
        qsort(recs, n, sizeof *recs, rec_ptr_cmp);
        return;
    }
    size_t off = shared_prefix(recs, n);
    for (size_t i = 0; i < n; i++)
        a[i] = (keyed){bits_at(recs[i], off), recs[i]};
    flag_sort(a, n, 0);
    for (size_t i = 0; i < n; i++)
        recs[i] = a[i].rec;
    cs_free_zeroed_pages(a, size);
}
