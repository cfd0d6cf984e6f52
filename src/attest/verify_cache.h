/*
 * A cache of verified endorsements: lets a verifier reuse the result of the
 * expensive, evidence-independent part of a verification (certificate
 * chains, CRLs, signed collateral) across many pieces of evidence, so that
 * per evidence only the report/quote signature, parsing and comparisons
 * remain. A verifier uses the cache given in cs_verify_opts.cache.
 *
 * Safety rule. An entry is found only when all three hold:
 *   1. same bytes: its key is SHA-256 over a domain string (platform and
 *      format version) and, length-prefixed, every input the cached result
 *      depends on: the endorsement blobs, the caller's trust anchors, and
 *      anything the verifier takes from the evidence itself (the PCK chain
 *      inside a DCAP quote, the SNP signing-key kind, the virtual platform
 *      key id);
 *   2. same policy-relevant inputs: pinned roots are compiled in, and every
 *      opts field other than `now` that a verifier reads is part of the key;
 *   3. same time-dependent outcome: the entry carries a window, the
 *      intersection over every certificate, CRL and collateral document the
 *      verification looked at of the interval around the verification time
 *      in which that object's validity state (not yet valid / valid /
 *      expired) does not change. `now` must lie inside it. The boundary
 *      seconds themselves are never inside, so it does not matter whether
 *      a check treats notAfter as inclusive (RFC 5280 §4.1.2.5) or
 *      exclusive (OpenSSL's X509_cmp_time).
 * With these, every check the cached part made comes out the same at `now`,
 * so a verifier that uses an entry returns what it would return without it.
 * Verifiers store only results of verifications that succeeded.
 *
 * Ownership and threads: the cache owns its values and frees them with the
 * function given to cs_verify_cache_put. A value returned by
 * cs_verify_cache_get is borrowed until the next put, clear or free on the
 * same cache. A cache is not thread-safe: use one per thread (consort
 * verifies on the node's event loop) or serialise calls.
 */
#ifndef CS_ATTEST_VERIFY_CACHE_H
#define CS_ATTEST_VERIFY_CACHE_H

#include "attest/evidence.h"
#include "crypto/hash.h"
#include "crypto/x509.h"

typedef struct cs_verify_cache cs_verify_cache;

#define CS_VERIFY_CACHE_MAX_ENTRIES 4096
/* A sensible size for a node: one entry per distinct endorsement set it sees. */
#define CS_VERIFY_CACHE_DEFAULT_ENTRIES 64

/* A new, empty cache of at most `capacity` entries (1..CS_VERIFY_CACHE_MAX_ENTRIES);
 * the least recently used entry is evicted to make room. Errors: INVALID_ARGUMENT, NOMEM. */
CS_MUST_CHECK consort_err cs_verify_cache_new(size_t capacity, cs_verify_cache **out);
/* Frees every entry and the cache; NULL is a no-op. */
void cs_verify_cache_free(cs_verify_cache *c);
/* Drops every entry (e.g. after the trust configuration changed). */
void cs_verify_cache_clear(cs_verify_cache *c);

typedef struct cs_verify_cache_stats {
    uint64_t hits;    /* lookups that returned an entry */
    uint64_t misses;  /* lookups that found no entry for the key */
    uint64_t outside; /* lookups whose entry's window did not contain `now` */
    uint64_t stores;
    uint64_t evictions;
    size_t entries; /* entries held now */
} cs_verify_cache_stats;

void cs_verify_cache_stats_get(const cs_verify_cache *c, cs_verify_cache_stats *out);

/* ---- validity windows ---- */

/* A closed interval of seconds since the epoch; empty when not_before > not_after. */
typedef struct cs_validity {
    int64_t not_before;
    int64_t not_after;
} cs_validity;

/* The whole time line. */
void cs_validity_init(cs_validity *w);
bool cs_validity_contains(const cs_validity *w, int64_t t);
/*
 * Narrows `w` by one object valid over [from, until] as checked at time
 * `at`, to the interval around `at` in which the object's state stays what
 * it was at `at` (boundary seconds excluded, see the safety rule above).
 */
void cs_validity_add(cs_validity *w, int64_t at, int64_t from, int64_t until);
/* cs_validity_add with a certificate's notBefore/notAfter. */
CS_MUST_CHECK consort_err cs_validity_add_cert(cs_validity *w, int64_t at, const cs_x509 *cert);
CS_MUST_CHECK consort_err cs_validity_add_certs(cs_validity *w, int64_t at, cs_x509 *const *certs,
                                                size_t n);
/* A CRL's thisUpdate/nextUpdate (no nextUpdate: valid from thisUpdate on). */
CS_MUST_CHECK consort_err cs_validity_add_crl(cs_validity *w, int64_t at, const cs_x509_crl *crl);

/* ---- keys ---- */

typedef struct cs_verify_cache_keyer {
    cs_hash_ctx h;
} cs_verify_cache_keyer;

/* Starts a key in `domain` (e.g. "consort/verify-cache/snp/v1"). */
CS_MUST_CHECK consort_err cs_verify_cache_key_init(cs_verify_cache_keyer *k, const char *domain);
/* Adds one length-prefixed part. */
void cs_verify_cache_key_add(cs_verify_cache_keyer *k, cs_slice part);
void cs_verify_cache_key_add_u64(cs_verify_cache_keyer *k, uint64_t v);
/* Adds the count, then every blob length-prefixed; NULL adds an empty list. */
void cs_verify_cache_key_add_blobs(cs_verify_cache_keyer *k, const cs_blob_list *l);
void cs_verify_cache_key_final(cs_verify_cache_keyer *k, uint8_t key[CS_SHA256_LEN]);

/* ---- entries (for verifiers) ---- */

/*
 * The value stored under `key` if its window contains `now`, else NULL.
 * An entry whose window lies wholly before `now` is dropped; one whose
 * window begins after `now` (a verification at an earlier time) is kept.
 */
void *cs_verify_cache_get(cs_verify_cache *c, const uint8_t key[CS_SHA256_LEN], int64_t now);

/*
 * Stores `value` under `key` for window `w`, replacing any entry with the
 * same key (and evicting the least recently used one when full). The cache
 * owns `value` from then on; an empty window stores nothing and frees it at
 * once. INVALID_ARGUMENT if `value` or `free_value` is NULL.
 */
CS_MUST_CHECK consort_err cs_verify_cache_put(cs_verify_cache *c, const uint8_t key[CS_SHA256_LEN],
                                              const cs_validity *w, void *value,
                                              void (*free_value)(void *value));

#endif
