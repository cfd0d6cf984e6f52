/*
 * Fuzz target: the node's sealed state as it reads it back at a start
 * (src/node/vault_seal.c node_vault_load over node_seal.h's store,
 * vault_recover.c).
 *
 * Input: byte 0 even: the rest is the vault's plaintext (the store's
 * payload), decoded with node_vault_decode (so the CBOR decoding, the keys,
 * certificates, ledger secret, high-water mark, genesis inputs and previous
 * identities are reached: what a store holds once it opened); odd: the rest
 * is the store file as the host hands it over (data_dir/sealed/store.bin:
 * the sealed blob, its header, the anchor binding), opened through
 * node_seal_open_dir with the fixed keys of fuzz_vault.h.
 *
 * Checks beyond "no crash, no leak, no out-of-bounds access": a vault that
 * loads is consistent (node id and raft id of its key), and it seals again
 * to bytes that load to the same vault (node id, raft id, high-water mark,
 * ledger secret, genesis inputs, identities).
 *
 * Seeds (corpus/sealed) are written by seedgen_fuzz from real vaults.
 */
#include "fuzz_scratch.h"
#include "seedgen/fuzz_fixed.h"

#include "base/file.h"
#include "fuzz_vault.h"
#include "node/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_store(const char *dir, cs_slice bytes)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sealed", dir);
    if (cs_mkdir_p(path, 0700) != CONSORT_OK)
        abort();
    snprintf(path, sizeof path, "%s/sealed/store.bin", dir);
    if (cs_file_write_atomic(path, bytes, 0600) != CONSORT_OK)
        abort();
}

/* Moves the scratch anchor (a fresh file at 0) to the value the store says
 * it is bound to, when that is small, so that genuine stores open and the
 * vault inside is reached (the anchor comparison itself is fuzzed too:
 * every other value). */
static void align_anchor(const char *dir, cs_slice store)
{
    cs_seal_header h;
    if (cs_seal_peek(store, &h) != CONSORT_OK || !h.has_counter ||
        strcmp(h.counter_name, CS_SEALSTORE_ANCHOR_COUNTER) != 0 || h.counter_value > 16) {
        cs_err_clear();
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/anchor", dir);
    cs_anchor *a;
    uint64_t v = 0;
    if (cs_anchor_file_open(path, &a) != CONSORT_OK)
        abort();
    while (v < h.counter_value)
        if (cs_anchor_increment(a, &v) != CONSORT_OK)
            abort();
    cs_anchor_free(a);
}

static void check_identity(const node_vault *v)
{
    if (node_vault_key(v) == NULL || node_vault_self_cert(v) == NULL ||
        strlen(node_vault_node_id(v)) != NODE_VAULT_ID_LEN || node_vault_raft_id(v) == 0)
        abort(); /* loaded without its identity */
    uint64_t raft_id;
    if (node_raft_id_of(node_vault_node_id(v), &raft_id) != CONSORT_OK ||
        raft_id != node_vault_raft_id(v))
        abort();
}

static void same(const node_vault *a, const node_vault *b)
{
    cs_ledger_identity ia[NODE_VAULT_PREV_MAX + 1], ib[NODE_VAULT_PREV_MAX + 1];
    size_t na = node_vault_identities(a, ia), nb = node_vault_identities(b, ib);
    const uint8_t *sa = node_vault_secret(a), *sb = node_vault_secret(b);
    if (strcmp(node_vault_node_id(a), node_vault_node_id(b)) != 0 ||
        node_vault_raft_id(a) != node_vault_raft_id(b) || node_vault_hwm(a) != node_vault_hwm(b) ||
        (sa == NULL) != (sb == NULL) || (sa != NULL && memcmp(sa, sb, 32) != 0) ||
        !cs_slice_eq(node_vault_genesis(a), node_vault_genesis(b)) || na != nb ||
        (node_vault_service_cert(a) == NULL) != (node_vault_service_cert(b) == NULL) ||
        (node_vault_node_cert(a) == NULL) != (node_vault_node_cert(b) == NULL) ||
        (node_vault_recovering(a) == NULL) != (node_vault_recovering(b) == NULL))
        abort(); /* sealed again, it is another vault */
    for (size_t i = 0; i < na; i++)
        if (ia[i].last_seqno != ib[i].last_seqno)
            abort();
}

/* The vault decoded from `payload`, or NULL. */
static node_vault *decoded(const char *dir, cs_slice payload)
{
    node_vault *v;
    if (node_vault_new(dir, &v) != CONSORT_OK)
        abort();
    if (node_vault_decode(v, payload) == CONSORT_OK)
        return v;
    if (getenv("FUZZ_VERBOSE") != NULL) /* seed writing: what the bytes did */
        fprintf(stderr, "decode: %s\n", consort_errmsg());
    node_vault_free(v);
    return NULL;
}

/* `v` encoded again decodes to the same vault. */
static void round_trip(const char *dir, const node_vault *v)
{
    cs_buf again;
    cs_buf_init(&again, 0);
    if (node_vault_encode(v, &again) != CONSORT_OK)
        abort(); /* what loaded must seal again */
    node_vault *w = decoded(dir, cs_buf_slice(&again));
    if (w == NULL)
        abort();
    same(v, w);
    node_vault_free(w);
    cs_buf_cleanup(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (64 << 10))
        return 0;
    const char *dir = fuzz_scratch_dir("fuzz_sealed");
    cs_slice in = CS_SLICE(data + 1, size - 1);
    if (!(data[0] & 1)) {
        node_vault *v = decoded(dir, in);
        if (v != NULL) {
            check_identity(v);
            round_trip(dir, v);
        }
        node_vault_free(v);
        return 0;
    }
    fuzz_scratch_clear(1);
    write_store(dir, in);
    align_anchor(dir, in);
    node_seal *ns = fuzz_seal_try(dir);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "store: %s\n", ns != NULL ? "opened" : consort_errmsg());
    if (ns != NULL) {
        node_vault *v;
        if (node_vault_new(dir, &v) != CONSORT_OK)
            abort();
        node_vault_set_seal(v, ns);
        if (node_vault_load(v) == CONSORT_OK) {
            check_identity(v);
            if (node_vault_save(v) != CONSORT_OK)
                abort(); /* what opened must seal again */
            node_vault *w;
            if (node_vault_new(dir, &w) != CONSORT_OK)
                abort();
            node_vault_set_seal(w, ns);
            if (node_vault_load(w) != CONSORT_OK)
                abort();
            same(v, w);
            node_vault_free(w);
        }
        node_vault_free(v);
    }
    node_seal_free(ns);
    cs_err_clear();
    return 0;
}
