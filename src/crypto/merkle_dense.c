/* Small RFC 9162 trees with every level kept (merkle.h cs_merkle_dense). */
#include "crypto/merkle.h"

#include "base/alloc.h"

#include <string.h>

consort_err cs_merkle_dense_build(const cs_slice *data, size_t n, cs_merkle_dense *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(n >= 1 && n <= ((size_t)1 << 32), CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree of %zu leaves, expected 1 to 2^32", n);
    /* n + ceil(n/2) + ceil(n/4) + ... < 2n + levels */
    out->h = cs_malloc((2 * n + CS_MERKLE_PROOF_MAX) * sizeof *out->h);
    CS_ENSURE(out->h != NULL, CONSORT_E_NOMEM, "Merkle tree of %zu leaves: out of memory", n);
    for (size_t i = 0; i < n; i++)
        cs_merkle_leaf_hash(data[i], out->h[i]);
    out->len[0] = n;
    out->levels = 1;
    while (out->len[out->levels - 1] > 1) {
        const size_t below = out->off[out->levels - 1], m = out->len[out->levels - 1];
        const size_t here = below + m;
        for (size_t i = 0; i + 1 < m; i += 2)
            cs_merkle_node_hash(out->h[below + i], out->h[below + i + 1], out->h[here + i / 2]);
        if (m % 2 == 1) /* moves up unchanged */
            memcpy(out->h[here + m / 2], out->h[below + m - 1], CS_MERKLE_HASH_LEN);
        out->off[out->levels] = here;
        out->len[out->levels] = (m + 1) / 2;
        out->levels++;
    }
    return CONSORT_OK;
}

const uint8_t *cs_merkle_dense_root(const cs_merkle_dense *t)
{
    return t->h[t->off[t->levels - 1]];
}

void cs_merkle_dense_proof(const cs_merkle_dense *t, size_t index, cs_merkle_proof *out)
{
    out->len = 0;
    /* bottom up: the RFC lists the deepest hash first */
    for (size_t l = 0; l + 1 < t->levels; l++, index /= 2) {
        const size_t sibling = index ^ 1;
        if (sibling < t->len[l]) /* else this node moved up alone */
            memcpy(out->hash[out->len++], t->h[t->off[l] + sibling], CS_MERKLE_HASH_LEN);
    }
}

void cs_merkle_dense_free(cs_merkle_dense *t)
{
    cs_free(t->h);
    memset(t, 0, sizeof *t);
}
