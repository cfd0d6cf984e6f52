/*
 * The verified-endorsement cache (verify_cache.h): a small table of entries
 * looked up by a 32-byte key, least recently used evicted first. Capacities
 * are small (one entry per distinct endorsement set a node sees), so a
 * linear scan is both simplest and fast enough.
 */
#include "attest/verify_cache.h"

#include "base/alloc.h"
#include "crypto/rand.h"

#include <string.h>

typedef struct cache_entry {
    uint8_t key[CS_SHA256_LEN];
    cs_validity window;
    void *value; /* NULL: the slot is free */
    void (*free_value)(void *value);
    uint64_t last_used;
} cache_entry;

struct cs_verify_cache {
    cache_entry *entries;
    size_t capacity;
    uint64_t clock; /* ticks on every hit and store, for LRU */
    cs_verify_cache_stats stats;
};

consort_err cs_verify_cache_new(size_t capacity, cs_verify_cache **out)
{
    *out = NULL;
    CS_ENSURE(capacity >= 1 && capacity <= CS_VERIFY_CACHE_MAX_ENTRIES, CONSORT_E_INVALID_ARGUMENT,
              "verify cache: capacity %zu, expected 1..%d", capacity, CS_VERIFY_CACHE_MAX_ENTRIES);
    cs_verify_cache *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "verify cache: out of memory");
    c->entries = cs_calloc(capacity, sizeof *c->entries);
    if (c->entries == NULL) {
        cs_free(c);
        return cs_fail(CONSORT_E_NOMEM, "verify cache: out of memory for %zu entries", capacity);
    }
    c->capacity = capacity;
    *out = c;
    return CONSORT_OK;
}

static void entry_drop(cs_verify_cache *c, cache_entry *e)
{
    if (e->value == NULL)
        return;
    e->free_value(e->value);
    memset(e, 0, sizeof *e);
    c->stats.entries--;
}

void cs_verify_cache_clear(cs_verify_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->capacity; i++)
        entry_drop(c, &c->entries[i]);
}

void cs_verify_cache_free(cs_verify_cache *c)
{
    if (c == NULL)
        return;
    cs_verify_cache_clear(c);
    cs_free(c->entries);
    cs_free(c);
}

void cs_verify_cache_stats_get(const cs_verify_cache *c, cs_verify_cache_stats *out)
{
    *out = c->stats;
}

/* ---- windows ---- */

void cs_validity_init(cs_validity *w)
{
    w->not_before = INT64_MIN;
    w->not_after = INT64_MAX;
}

bool cs_validity_contains(const cs_validity *w, int64_t t)
{
    return w->not_before <= t && t <= w->not_after;
}

static void narrow(cs_validity *w, int64_t lo, int64_t hi)
{
    if (lo > w->not_before)
        w->not_before = lo;
    if (hi < w->not_after)
        w->not_after = hi;
}

void cs_validity_add(cs_validity *w, int64_t at, int64_t from, int64_t until)
{
    if (from > until) { /* never valid, whatever the time: no constraint */
        return;
    }
    if (at < from) /* not yet valid, and stays so before `from` */
        narrow(w, INT64_MIN, from - 1);
    else if (at > until) /* expired for good */
        narrow(w, until + 1, INT64_MAX);
    else if (at == from || at == until) /* on a boundary second: nothing is stable */
        narrow(w, INT64_MAX, INT64_MIN);
    else /* valid: stays so strictly inside (from, until) */
        narrow(w, from + 1, until - 1);
}

consort_err cs_validity_add_cert(cs_validity *w, int64_t at, const cs_x509 *cert)
{
    int64_t from, until;
    CS_TRY(cs_x509_validity(cert, &from, &until));
    cs_validity_add(w, at, from, until);
    return CONSORT_OK;
}

consort_err cs_validity_add_certs(cs_validity *w, int64_t at, cs_x509 *const *certs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CS_TRY(cs_validity_add_cert(w, at, certs[i]));
    return CONSORT_OK;
}

consort_err cs_validity_add_crl(cs_validity *w, int64_t at, const cs_x509_crl *crl)
{
    int64_t this_update, next_update;
    CS_TRY(cs_x509_crl_validity(crl, &this_update, &next_update));
    /* RFC 5280 §5.1.2.5: without nextUpdate the CRL never goes stale. */
    cs_validity_add(w, at, this_update, next_update == 0 ? INT64_MAX : next_update);
    return CONSORT_OK;
}

/* ---- keys ---- */

consort_err cs_verify_cache_key_init(cs_verify_cache_keyer *k, const char *domain)
{
    CS_TRY(cs_hash_init(&k->h, CS_HASH_SHA256));
    cs_verify_cache_key_add(k, cs_slice_str(domain));
    return CONSORT_OK;
}

void cs_verify_cache_key_add_u64(cs_verify_cache_keyer *k, uint64_t v)
{
    uint8_t be[8];
    for (size_t i = 0; i < 8; i++)
        be[i] = (uint8_t)(v >> (56 - 8 * i));
    cs_hash_update(&k->h, CS_SLICE(be, sizeof be));
}

void cs_verify_cache_key_add(cs_verify_cache_keyer *k, cs_slice part)
{
    /* The length prefix keeps ("ab", "c") and ("a", "bc") apart. */
    cs_verify_cache_key_add_u64(k, part.len);
    cs_hash_update(&k->h, part);
}

void cs_verify_cache_key_add_blobs(cs_verify_cache_keyer *k, const cs_blob_list *l)
{
    size_t n = l == NULL ? 0 : l->count;
    cs_verify_cache_key_add_u64(k, n);
    for (size_t i = 0; i < n; i++)
        cs_verify_cache_key_add(k, cs_buf_slice(&l->items[i]));
}

void cs_verify_cache_key_final(cs_verify_cache_keyer *k, uint8_t key[CS_SHA256_LEN])
{
    cs_hash_final(&k->h, key);
}

/* ---- entries ---- */

static cache_entry *find(cs_verify_cache *c, const uint8_t key[CS_SHA256_LEN])
{
    for (size_t i = 0; i < c->capacity; i++) {
        cache_entry *e = &c->entries[i];
        if (e->value != NULL &&
            cs_ct_equal(CS_SLICE(e->key, CS_SHA256_LEN), CS_SLICE(key, CS_SHA256_LEN)))
            return e;
    }
    return NULL;
}

void *cs_verify_cache_get(cs_verify_cache *c, const uint8_t key[CS_SHA256_LEN], int64_t now)
{
    cache_entry *e = find(c, key);
    if (e == NULL) {
        c->stats.misses++;
        return NULL;
    }
    if (!cs_validity_contains(&e->window, now)) {
        c->stats.outside++;
        if (now > e->window.not_after)
            entry_drop(c, e); /* it can never be used again at a later time */
        return NULL;
    }
    c->stats.hits++;
    e->last_used = ++c->clock;
    return e->value;
}

/* A free slot, or the least recently used one emptied. */
static cache_entry *slot_for(cs_verify_cache *c)
{
    cache_entry *lru = &c->entries[0];
    for (size_t i = 0; i < c->capacity; i++) {
        cache_entry *e = &c->entries[i];
        if (e->value == NULL)
            return e;
        if (e->last_used < lru->last_used)
            lru = e;
    }
    entry_drop(c, lru);
    c->stats.evictions++;
    return lru;
}

consort_err cs_verify_cache_put(cs_verify_cache *c, const uint8_t key[CS_SHA256_LEN],
                                const cs_validity *w, void *value, void (*free_value)(void *value))
{
    CS_ENSURE(value != NULL && free_value != NULL, CONSORT_E_INVALID_ARGUMENT,
              "verify cache: a value and its free function are required");
    if (w->not_before > w->not_after) {
        free_value(value); /* nothing about it is stable: never reusable */
        return CONSORT_OK;
    }
    cache_entry *e = find(c, key);
    if (e != NULL)
        entry_drop(c, e);
    else
        e = slot_for(c);
    memcpy(e->key, key, CS_SHA256_LEN);
    e->window = *w;
    e->value = value;
    e->free_value = free_value;
    e->last_used = ++c->clock;
    c->stats.entries++;
    c->stats.stores++;
    return CONSORT_OK;
}
