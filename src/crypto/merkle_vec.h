/*
 * Private to the Merkle tree (merkle.c): a growable array of 32-byte hashes
 * kept in fixed chunks of CS_MERKLE_VEC_CHUNK hashes, so that it never holds
 * more than one partly used chunk (no doubling slack, no copying on growth).
 *
 * Growth is split in two so that a multi-level append can reserve everything
 * first and then write without any failure point: cs_merkle_vec_reserve1()
 * may allocate and fail; cs_merkle_vec_push() cannot fail.
 */
#ifndef CS_CRYPTO_MERKLE_VEC_H
#define CS_CRYPTO_MERKLE_VEC_H

#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

#define CS_MERKLE_VEC_CHUNK 512u /* hashes per chunk: 16 KiB */

typedef uint8_t cs_merkle_hash_t[32];

typedef struct cs_merkle_vec {
    cs_merkle_hash_t **chunks; /* owned; chunks[0..nchunks) are owned */
    size_t nchunks;            /* chunks allocated */
    size_t table_cap;          /* capacity of `chunks` */
    uint64_t len;              /* hashes stored, counting those skipped */
    uint64_t skip;             /* chunks not held at the start: chunks[k] is chunk skip + k */
} cs_merkle_vec;

void cs_merkle_vec_init(cs_merkle_vec *v);
/* An empty vector that counts `len` hashes it does not hold: indexes below
 * `len` are never read (a tree that starts from its peaks, merkle.c); the
 * chunk holding index `len` is allocated if `len` is inside it. NOMEM. */
CS_MUST_CHECK consort_err cs_merkle_vec_init_at(cs_merkle_vec *v, uint64_t len);
/* Frees every chunk and the table; leaves an empty vector. */
void cs_merkle_vec_cleanup(cs_merkle_vec *v);
/* Makes room for one more hash. CONSORT_E_NOMEM; the contents are unchanged
 * either way. */
CS_MUST_CHECK consort_err cs_merkle_vec_reserve1(cs_merkle_vec *v);
/* Appends a hash; the caller has reserved room with cs_merkle_vec_reserve1. */
void cs_merkle_vec_push(cs_merkle_vec *v, const uint8_t hash[32]);
/* The hash at `i` (< len, and held), borrowed. */
static inline const uint8_t *cs_merkle_vec_at(const cs_merkle_vec *v, uint64_t i)
{
    return v->chunks[i / CS_MERKLE_VEC_CHUNK - v->skip][i % CS_MERKLE_VEC_CHUNK];
}
/* The run of hashes starting at `i` (< len), contiguous up to the end of
 * its chunk: a run of 2^k hashes starting at a multiple of 2^k (2^k <= the
 * chunk size) never crosses a chunk. Borrowed. */
static inline const uint8_t *cs_merkle_vec_run(const cs_merkle_vec *v, uint64_t i)
{
    return cs_merkle_vec_at(v, i);
}
/* Shrinks to `len` (<= current len, and not below what init_at skipped)
 * hashes and frees the chunks no longer used. */
void cs_merkle_vec_truncate(cs_merkle_vec *v, uint64_t len);
/*
 * Filling in what init_at skipped (cs_merkle_fill_base), in two steps like
 * growth: cs_merkle_vec_reserve_front() allocates the chunk table `v` needs
 * once it also holds the chunks of `front` it skips (*table is NULL when
 * there are none) and may fail (NOMEM; free a table not used with
 * cs_free); cs_merkle_vec_fill_front() cannot fail.
 */
CS_MUST_CHECK consort_err cs_merkle_vec_reserve_front(const cs_merkle_vec *v,
                                                      const cs_merkle_vec *front,
                                                      cs_merkle_hash_t ***table);
/* Makes `v` hold `front`'s hashes below its own: `front` holds exactly the
 * hashes that `v` was made to count without holding (init_at's `len`) from
 * `front_first` on (0, or front's own init_at `len`: it skips no more
 * chunks than v), and `table` is what cs_merkle_vec_reserve_front gave.
 * Moves front's chunks that `v` skips into the table, copies front's
 * hashes in v's first held chunk into it (the rest of that chunk stays
 * v's), and frees what is left of `front`, leaving it empty; v then skips
 * what front skipped. */
void cs_merkle_vec_fill_front(cs_merkle_vec *v, cs_merkle_vec *front, uint64_t front_first,
                              cs_merkle_hash_t **table);
/* Bytes allocated (chunks and table). */
size_t cs_merkle_vec_bytes(const cs_merkle_vec *v);

#endif
