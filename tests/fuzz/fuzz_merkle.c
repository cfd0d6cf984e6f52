/*
 * Fuzz target for the RFC 9162 proof verifiers (src/crypto/merkle.h).
 *
 * Input: a serialized proof request, big-endian, read through a cursor:
 *   u8  flags        bit 0: also run the tree round trip below
 *   u64 a, u64 b     (index, size) for inclusion; (size1, size2) for consistency
 *   u8  count        number of hashes that follow (at most CS_MERKLE_PROOF_MAX + 2)
 *   count x { u8 len (<= 64); len bytes }
 *                    hash 0: leaf hash / root1; hash 1: root / root2; the rest: the path
 * Nothing may follow. Both verifiers run on every well-formed request and must
 * never crash. With flag bit 0 a small tree is built from (a, b) and its own
 * proofs must verify (a crash-free differential check of generator and verifier).
 */
#include "base/buf.h"
#include "crypto/merkle.h"

#include <stdint.h>
#include <stdlib.h>

#define MAX_HASHES   (CS_MERKLE_PROOF_MAX + 2)
#define MAX_HASH_LEN 64

static void round_trip(uint64_t a, uint64_t b)
{
    uint64_t n = a % 300 + 1;
    cs_merkle_tree *t;
    if (cs_merkle_new(&t) != CONSORT_OK)
        return;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t data[16] = {0};
        for (int k = 0; k < 8; k++) {
            data[k] = (uint8_t)(i >> (8 * k));
            data[8 + k] = (uint8_t)(b >> (8 * k));
        }
        if (cs_merkle_append(t, CS_SLICE(data, sizeof data)) != CONSORT_OK)
            abort();
    }
    uint64_t index = b % n;
    uint64_t size1 = b % n + 1;
    uint8_t root[CS_MERKLE_HASH_LEN], old[CS_MERKLE_HASH_LEN], leaf[CS_MERKLE_HASH_LEN];
    cs_merkle_proof p;
    cs_slice path[CS_MERKLE_PROOF_MAX];
    cs_merkle_root(t, root);
    if (cs_merkle_leaf(t, index, leaf) != CONSORT_OK ||
        cs_merkle_inclusion_proof(t, index, n, &p) != CONSORT_OK)
        abort();
    size_t len = cs_merkle_proof_slices(&p, path);
    if (cs_merkle_verify_inclusion(CS_SLICE(leaf, 32), index, n, path, len, CS_SLICE(root, 32)) !=
        CONSORT_OK)
        abort();
    if (cs_merkle_root_at(t, size1, old) != CONSORT_OK ||
        cs_merkle_consistency_proof(t, size1, n, &p) != CONSORT_OK)
        abort();
    len = cs_merkle_proof_slices(&p, path);
    if (cs_merkle_verify_consistency(size1, n, CS_SLICE(old, 32), CS_SLICE(root, 32), path, len) !=
        CONSORT_OK)
        abort();
    cs_merkle_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_cursor c;
    cs_cursor_init(&c, CS_SLICE(data, size));
    uint8_t flags, count;
    uint64_t a, b;
    if (cs_cursor_read_u8(&c, &flags) != CONSORT_OK || cs_cursor_read_be64(&c, &a) != CONSORT_OK ||
        cs_cursor_read_be64(&c, &b) != CONSORT_OK || cs_cursor_read_u8(&c, &count) != CONSORT_OK ||
        count > MAX_HASHES)
        return 0;
    cs_slice h[MAX_HASHES];
    for (size_t i = 0; i < count; i++) {
        uint8_t len;
        if (cs_cursor_read_u8(&c, &len) != CONSORT_OK || len > MAX_HASH_LEN ||
            cs_cursor_read_slice(&c, len, &h[i]) != CONSORT_OK)
            return 0;
    }
    if (cs_cursor_expect_end(&c) != CONSORT_OK)
        return 0;
    cs_slice first = count > 0 ? h[0] : CS_SLICE_EMPTY;
    cs_slice second = count > 1 ? h[1] : CS_SLICE_EMPTY;
    const cs_slice *path = count > 2 ? &h[2] : NULL;
    size_t path_len = count > 2 ? (size_t)count - 2 : 0;

    uint8_t root[CS_MERKLE_HASH_LEN];
    consort_err inc = cs_merkle_verify_inclusion(first, a, b, path, path_len, second);
    consort_err from = cs_merkle_root_from_inclusion(first, a, b, path, path_len, root);
    /* The two inclusion entry points agree: a verified proof computes the root. */
    if (inc == CONSORT_OK && (from != CONSORT_OK || !cs_slice_eq(CS_SLICE(root, 32), second)))
        abort();
    consort_err con = cs_merkle_verify_consistency(a, b, first, second, path, path_len);
    /* Sizes the verifiers call impossible are rejected as such. */
    if ((a >= b && inc != CONSORT_E_INVALID_ARGUMENT) ||
        ((a == 0 || a > b) && con != CONSORT_E_INVALID_ARGUMENT))
        abort();
    if (flags & 1)
        round_trip(a, b);
    return 0;
}
