/*
 * Merkle tree rates (src/crypto/merkle.h) beside raw SHA-256 of a 65-byte
 * input (0x01 || left || right: one interior node), which is the primitive a
 * tree is made of. A ratio of 1.0 means one node hash per operation.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_*: OpenSSL's fastest path, as consort uses */
#include "bench.h"

#include "crypto/merkle.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TREE_LEAVES 1000000u
#define PROOF_POOL  4096u

typedef uint8_t hash_t[CS_MERKLE_HASH_LEN];

static hash_t *leaf_hashes; /* TREE_LEAVES precomputed leaf hashes */
static volatile uint8_t sink;

static uint64_t next_index(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return (*state >> 17) % TREE_LEAVES;
}

/* ---- raw OpenSSL ---- */

static void raw_sha256_65(void *ctx, uint64_t n)
{
    (void)ctx;
    uint8_t in[65] = {0x01};
    for (uint64_t i = 0; i < n; i++) {
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, in, sizeof in);
        SHA256_Final(in + 1, &c); /* chain, so nothing can be skipped */
    }
    sink = in[1];
}

/* ---- consort ---- */

static void append_hashes(void *ctx, uint64_t n)
{
    (void)ctx;
    cs_merkle_tree *t;
    if (cs_merkle_new(&t) != CONSORT_OK)
        bench_die("cs_merkle_new");
    for (uint64_t i = 0; i < n; i++) {
        if (cs_merkle_append_hash(t, leaf_hashes[i % TREE_LEAVES]) != CONSORT_OK)
            bench_die("cs_merkle_append_hash");
    }
    sink = (uint8_t)cs_merkle_size(t);
    cs_merkle_free(t);
}

static void append_entries(void *ctx, uint64_t n)
{
    (void)ctx;
    cs_merkle_tree *t;
    if (cs_merkle_new(&t) != CONSORT_OK)
        bench_die("cs_merkle_new");
    uint8_t entry[96]; /* write-set digest || commit evidence digest || claims */
    memset(entry, 0xa5, sizeof entry);
    for (uint64_t i = 0; i < n; i++) {
        memcpy(entry, &i, sizeof i);
        if (cs_merkle_append(t, CS_SLICE(entry, sizeof entry)) != CONSORT_OK)
            bench_die("cs_merkle_append");
    }
    sink = (uint8_t)cs_merkle_size(t);
    cs_merkle_free(t);
}

typedef struct proof_ctx {
    cs_merkle_tree *tree;
    hash_t root;
    cs_merkle_proof *pool; /* PROOF_POOL proofs of the leaves in `index` */
    uint64_t *index;
    uint64_t rng;
} proof_ctx;

static void gen_proofs(void *ctx, uint64_t n)
{
    proof_ctx *p = ctx;
    cs_merkle_proof proof;
    for (uint64_t i = 0; i < n; i++) {
        if (cs_merkle_inclusion_proof(p->tree, next_index(&p->rng), TREE_LEAVES, &proof) !=
            CONSORT_OK)
            bench_die("cs_merkle_inclusion_proof");
    }
    sink = proof.hash[0][0];
}

static void verify_proofs(void *ctx, uint64_t n)
{
    proof_ctx *p = ctx;
    for (uint64_t i = 0; i < n; i++) {
        const cs_merkle_proof *proof = &p->pool[i % PROOF_POOL];
        uint64_t index = p->index[i % PROOF_POOL];
        cs_slice path[CS_MERKLE_PROOF_MAX];
        size_t len = cs_merkle_proof_slices(proof, path);
        if (cs_merkle_verify_inclusion(CS_SLICE(leaf_hashes[index], 32), index, TREE_LEAVES, path,
                                       len, CS_SLICE(p->root, 32)) != CONSORT_OK)
            bench_die("cs_merkle_verify_inclusion");
    }
}

void bench_merkle(void)
{
    leaf_hashes = malloc(TREE_LEAVES * sizeof *leaf_hashes);
    if (leaf_hashes == NULL)
        bench_die("malloc");
    for (uint64_t i = 0; i < TREE_LEAVES; i++)
        cs_merkle_leaf_hash(CS_SLICE(&i, sizeof i), leaf_hashes[i]);

    double ours, raw;
    bench_pair(append_hashes, NULL, &ours, raw_sha256_65, NULL, &raw);
    bench_table_row("Merkle append, leaf hash given", ours, "SHA-256, 65-byte input", raw);
    bench_goal("Merkle append (leaf hash given), leaves/s", ours, 1e6, "leaves/s");
    bench_pair(append_entries, NULL, &ours, raw_sha256_65, NULL, &raw);
    bench_table_row("Merkle append, 96-byte leaf entry", ours, "SHA-256, 65-byte input", raw);

    proof_ctx p = {.rng = 42};
    p.pool = malloc(PROOF_POOL * sizeof *p.pool);
    p.index = malloc(PROOF_POOL * sizeof *p.index);
    if (p.pool == NULL || p.index == NULL || cs_merkle_new(&p.tree) != CONSORT_OK)
        bench_die("allocation");
    for (uint64_t i = 0; i < TREE_LEAVES; i++) {
        if (cs_merkle_append_hash(p.tree, leaf_hashes[i]) != CONSORT_OK)
            bench_die("cs_merkle_append_hash");
    }
    cs_merkle_root(p.tree, p.root);
    for (uint64_t i = 0; i < PROOF_POOL; i++) {
        p.index[i] = next_index(&p.rng);
        if (cs_merkle_inclusion_proof(p.tree, p.index[i], TREE_LEAVES, &p.pool[i]) != CONSORT_OK)
            bench_die("cs_merkle_inclusion_proof");
    }
    bench_pair(gen_proofs, &p, &ours, raw_sha256_65, NULL, &raw);
    bench_table_row("inclusion proof generated, 1M-leaf tree", ours, "SHA-256, 65-byte input", raw);
    bench_pair(verify_proofs, &p, &ours, raw_sha256_65, NULL, &raw);
    bench_table_row("inclusion proof verified, 1M-leaf tree", ours, "SHA-256, 65-byte input", raw);
    printf("%-44s %13.2f bytes/leaf (%zu bytes for %u leaves)\n", "Merkle tree memory",
           (double)cs_merkle_memory(p.tree) / TREE_LEAVES, cs_merkle_memory(p.tree), TREE_LEAVES);
    cs_merkle_free(p.tree);
    free(p.pool);
    free(p.index);
    free(leaf_hashes);
}
