#include "crypto/merkle_vec.h"

#include "base/alloc.h"

#include <string.h>

#define CHUNK_BYTES (CS_MERKLE_VEC_CHUNK * sizeof(cs_merkle_hash_t))

void cs_merkle_vec_init(cs_merkle_vec *v)
{
    *v = (cs_merkle_vec){NULL, 0, 0, 0, 0};
}

consort_err cs_merkle_vec_init_at(cs_merkle_vec *v, uint64_t len)
{
    cs_merkle_vec_init(v);
    v->skip = len / CS_MERKLE_VEC_CHUNK;
    v->len = v->skip * CS_MERKLE_VEC_CHUNK;
    if (len > v->len) {
        CS_TRY(cs_merkle_vec_reserve1(v));
        v->len = len;
    }
    return CONSORT_OK;
}

void cs_merkle_vec_cleanup(cs_merkle_vec *v)
{
    for (size_t i = 0; i < v->nchunks; i++)
        cs_free(v->chunks[i]);
    cs_free(v->chunks);
    cs_merkle_vec_init(v);
}

consort_err cs_merkle_vec_reserve1(cs_merkle_vec *v)
{
    if (v->len / CS_MERKLE_VEC_CHUNK - v->skip < v->nchunks) /* no product: len nears 2^64 */
        return CONSORT_OK;
    if (v->nchunks == v->table_cap) {
        size_t cap = v->table_cap == 0 ? 8 : v->table_cap * 2;
        CS_ENSURE(cap <= SIZE_MAX / sizeof *v->chunks, CONSORT_E_NOMEM,
                  "Merkle tree: chunk table of %zu entries is too large", cap);
        cs_merkle_hash_t **table = cs_realloc(v->chunks, cap * sizeof *table);
        CS_ENSURE(table != NULL, CONSORT_E_NOMEM,
                  "Merkle tree: cannot grow the chunk table to %zu entries", cap);
        v->chunks = table;
        v->table_cap = cap;
    }
    cs_merkle_hash_t *chunk = cs_malloc(CHUNK_BYTES);
    CS_ENSURE(chunk != NULL, CONSORT_E_NOMEM,
              "Merkle tree: cannot allocate %zu bytes for hashes %llu..", (size_t)CHUNK_BYTES,
              (unsigned long long)v->len);
    v->chunks[v->nchunks++] = chunk;
    return CONSORT_OK;
}

void cs_merkle_vec_push(cs_merkle_vec *v, const uint8_t hash[32])
{
    uint64_t i = v->len++;
    memcpy(v->chunks[i / CS_MERKLE_VEC_CHUNK - v->skip][i % CS_MERKLE_VEC_CHUNK], hash,
           sizeof(cs_merkle_hash_t));
}

void cs_merkle_vec_truncate(cs_merkle_vec *v, uint64_t len)
{
    if (len >= v->len)
        return;
    v->len = len;
    size_t keep = (size_t)(len / CS_MERKLE_VEC_CHUNK + (len % CS_MERKLE_VEC_CHUNK != 0) - v->skip);
    while (v->nchunks > keep)
        cs_free(v->chunks[--v->nchunks]);
}

/* The capacity appends grow a table to for `n` chunks: 8, doubled. */
static size_t table_cap_for(size_t n)
{
    size_t cap = 8;
    while (cap < n)
        cap *= 2;
    return cap;
}

consort_err cs_merkle_vec_reserve_front(const cs_merkle_vec *v, const cs_merkle_vec *front,
                                        cs_merkle_hash_t ***table)
{
    *table = NULL;
    if (v->skip == front->skip)
        return CONSORT_OK;
    const uint64_t moved = v->skip - front->skip;
    CS_ENSURE(moved <= (SIZE_MAX / sizeof **table / 2 - v->nchunks), CONSORT_E_NOMEM,
              "Merkle tree: chunk table of %llu entries is too large",
              (unsigned long long)moved + v->nchunks);
    size_t cap = table_cap_for((size_t)moved + v->nchunks);
    *table = cs_malloc(cap * sizeof **table);
    CS_ENSURE(*table != NULL, CONSORT_E_NOMEM,
              "Merkle tree: cannot allocate a chunk table of %zu entries", cap);
    return CONSORT_OK;
}

void cs_merkle_vec_fill_front(cs_merkle_vec *v, cs_merkle_vec *front, uint64_t front_first,
                              cs_merkle_hash_t **table)
{
    const size_t moved = (size_t)(v->skip - front->skip);
    /* front's last chunk is v's first held one when front->len is inside it:
     * init_at allocated it for the hashes from front->len on; front holds
     * those of it from front_first on */
    const size_t part = (size_t)(front->len % CS_MERKLE_VEC_CHUNK);
    const uint64_t chunk_start = v->skip * CS_MERKLE_VEC_CHUNK;
    const size_t from = front_first > chunk_start ? (size_t)(front_first % CS_MERKLE_VEC_CHUNK) : 0;
    if (part > from)
        memcpy(v->chunks[0][from], front->chunks[moved][from],
               (part - from) * sizeof(cs_merkle_hash_t));
    if (table != NULL) {
        memcpy(table, front->chunks, moved * sizeof *table);
        if (v->nchunks != 0)
            memcpy(table + moved, v->chunks, v->nchunks * sizeof *table);
        cs_free(v->chunks);
        v->chunks = table;
        v->nchunks += moved;
        v->table_cap = table_cap_for(v->nchunks);
        v->skip = front->skip;
    }
    for (size_t k = moved; k < front->nchunks; k++)
        cs_free(front->chunks[k]);
    cs_free(front->chunks);
    cs_merkle_vec_init(front);
}

size_t cs_merkle_vec_bytes(const cs_merkle_vec *v)
{
    return v->nchunks * CHUNK_BYTES + v->table_cap * sizeof *v->chunks;
}
