/*
 * Connection counts per client address (conn_limit.h): an open-addressing
 * hash table with linear probing, at most half full, entries removed by
 * shifting their cluster back (no tombstones, so probes stay short however
 * many addresses come and go).
 */
#include "net/conn_limit.h"

#include "base/alloc.h"
#include "crypto/rand.h"

#include <netinet/in.h>
#include <string.h>

#define MIN_SLOTS 64

typedef struct slot {
    cs_conn_key key;
    uint32_t count; /* 0: the slot is empty */
} slot;

struct cs_conn_table {
    slot *slots;
    size_t mask; /* slots - 1, a power of two minus one */
    size_t used; /* slots with a count */
    size_t total;
    size_t max_total, max_per_address;
    uint64_t secret;
};

/* A keyed mix: the finaliser of MurmurHash3 (a bijection) over the key
 * xor'ed with the table's secret. */
static size_t hash(const cs_conn_table *t, const cs_conn_key *k)
{
    uint64_t x = 0;
    memcpy(&x, k->bytes, sizeof k->bytes);
    x ^= t->secret ^ ((uint64_t)k->len << 59);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (size_t)x;
}

static bool same(const cs_conn_key *a, const cs_conn_key *b)
{
    return a->len == b->len && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

/* The slot holding `k`, or the empty slot where it would go. */
static size_t find(const cs_conn_table *t, const cs_conn_key *k)
{
    size_t i = hash(t, k) & t->mask;
    while (t->slots[i].count != 0 && !same(&t->slots[i].key, k))
        i = (i + 1) & t->mask;
    return i;
}

static consort_err grow(cs_conn_table *t)
{
    size_t n = (t->mask + 1) * 2;
    slot *old = t->slots;
    size_t old_n = t->mask + 1;
    t->slots = cs_calloc(n, sizeof *t->slots);
    if (t->slots == NULL) {
        t->slots = old;
        return cs_fail(CONSORT_E_NOMEM, "connection table: out of memory for %zu slots", n);
    }
    t->mask = n - 1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].count != 0)
            t->slots[find(t, &old[i].key)] = old[i];
    cs_free(old);
    return CONSORT_OK;
}

consort_err cs_conn_table_new(cs_conn_table **out)
{
    *out = NULL;
    cs_conn_table *t = cs_calloc(1, sizeof *t);
    CS_ENSURE(t != NULL, CONSORT_E_NOMEM, "connection table: out of memory");
    t->slots = cs_calloc(MIN_SLOTS, sizeof *t->slots);
    t->mask = MIN_SLOTS - 1;
    consort_err rc = t->slots != NULL ? cs_random(&t->secret, sizeof t->secret)
                                      : cs_fail(CONSORT_E_NOMEM, "connection table: out of memory");
    if (rc != CONSORT_OK) {
        cs_conn_table_free(t);
        return rc;
    }
    *out = t;
    return CONSORT_OK;
}

void cs_conn_table_free(cs_conn_table *t)
{
    if (t == NULL)
        return;
    cs_free(t->slots);
    cs_free(t);
}

void cs_conn_table_set_limits(cs_conn_table *t, size_t max_total, size_t max_per_address)
{
    t->max_total = max_total;
    t->max_per_address = max_per_address;
}

void cs_conn_key_of(const struct sockaddr *sa, cs_conn_key *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        out->len = 4;
        memcpy(out->bytes, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            out->len = 4;
            memcpy(out->bytes, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            out->len = 8;
            memcpy(out->bytes, in6->sin6_addr.s6_addr, 8);
        }
    }
}

cs_conn_verdict cs_conn_table_admit(cs_conn_table *t, const cs_conn_key *key)
{
    if (t->max_total != 0 && t->total >= t->max_total)
        return CS_CONN_OVER_TOTAL;
    size_t i = find(t, key);
    if (t->slots[i].count == 0) {
        if (2 * (t->used + 1) > t->mask + 1) {
            if (grow(t) != CONSORT_OK)
                return CS_CONN_NO_MEMORY;
            i = find(t, key);
        }
        t->slots[i].key = *key;
        t->used++;
    } else if (t->max_per_address != 0 && t->slots[i].count >= t->max_per_address) {
        return CS_CONN_OVER_ADDRESS;
    }
    t->slots[i].count++;
    t->total++;
    return CS_CONN_ADMITTED;
}

/* Empties slot `i` and moves back the entries after it whose probe passed it
 * (Knuth, TAOCP vol. 3, 6.4 Algorithm R). */
static void remove_slot(cs_conn_table *t, size_t i)
{
    size_t j = i;
    for (;;) {
        t->slots[i].count = 0;
        for (;;) {
            j = (j + 1) & t->mask;
            if (t->slots[j].count == 0)
                return;
            size_t home = hash(t, &t->slots[j].key) & t->mask;
            /* j stays if its home lies cyclically in (i, j] */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

void cs_conn_table_release(cs_conn_table *t, const cs_conn_key *key)
{
    size_t i = find(t, key);
    if (t->slots[i].count == 0)
        return; /* never admitted: nothing to forget */
    t->total--;
    if (--t->slots[i].count == 0) {
        remove_slot(t, i);
        t->used--;
    }
}

size_t cs_conn_table_total(const cs_conn_table *t)
{
    return t->total;
}

size_t cs_conn_table_count(const cs_conn_table *t, const cs_conn_key *key)
{
    return t->slots[find(t, key)].count;
}
