/*
 * Fuzz target: the node's sealed state as it reads it back at a start
 * (src/node/vault_seal.c node_vault_load, vault_recover.c): the file
 * data_dir/sealed/sealed.bin of a scratch data directory, opened with
 * node_vault_load.
 *
 * Input: byte 0 = 0: the rest is a plaintext, which the target seals with
 * FUZZ_SEAL_KEY first (so the CBOR decoding, the keys, certificates,
 * ledger secret, high-water mark, genesis inputs and previous identities
 * are reached: what a sealed file holds once the AEAD opened); byte 0 = 1:
 * the rest is the whole file as the host hands it over (magic, nonce, tag).
 *
 * Checks beyond "no crash, no leak, no out-of-bounds access": a file that
 * loads is a consistent vault (node id and raft id of its key, a secret
 * only with a service certificate ... as node_vault_* report them), and it
 * seals again to a file that loads to the same vault (node id, raft id,
 * high-water mark, ledger secret, genesis inputs, identities).
 *
 * Seeds (corpus/sealed) are written by seedgen_fuzz from real vaults.
 */
#include "fuzz_scratch.h"
#include "seedgen/fuzz_fixed.h"

#include "base/file.h"
#include "crypto/aead.h"
#include "node/vault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_file(const char *dir, cs_slice bytes)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sealed", dir);
    if (cs_mkdir_p(path, 0700) != CONSORT_OK)
        abort();
    snprintf(path, sizeof path, "%s/sealed/sealed.bin", dir);
    if (cs_file_write_atomic(path, bytes, 0600) != CONSORT_OK)
        abort();
}

static node_vault *load(const char *dir, consort_err *rc)
{
    node_vault *v;
    if (node_vault_new(dir, &v) != CONSORT_OK)
        abort();
    node_vault_set_seal_key(v, FUZZ_SEAL_KEY);
    *rc = node_vault_load(v);
    return v;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (64 << 10))
        return 0;
    const char *dir = fuzz_scratch_dir("fuzz_sealed");
    cs_slice in = CS_SLICE(data + 1, size - 1);
    cs_buf file;
    cs_buf_init(&file, 0);
    if (data[0] & 1) {
        write_file(dir, in);
    } else {
        static const uint8_t nonce[CS_AEAD_NONCE_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        if (cs_buf_append(&file, "CSSEAL02", 8) != CONSORT_OK ||
            cs_buf_append(&file, nonce, sizeof nonce) != CONSORT_OK ||
            cs_aead_seal(FUZZ_SEAL_KEY, nonce, CS_SLICE_LIT("CSSEAL02"), in, &file) != CONSORT_OK)
            abort();
        write_file(dir, cs_buf_slice(&file));
    }
    consort_err rc;
    node_vault *v = load(dir, &rc);
    if (getenv("FUZZ_VERBOSE") != NULL) /* seed writing: what the file did */
        fprintf(stderr, "load: %s\n", rc == CONSORT_OK ? "ok" : consort_errmsg());
    if (rc == CONSORT_OK) {
        if (node_vault_key(v) == NULL || node_vault_self_cert(v) == NULL ||
            strlen(node_vault_node_id(v)) != NODE_VAULT_ID_LEN || node_vault_raft_id(v) == 0)
            abort(); /* loaded without its identity */
        uint64_t raft_id;
        if (node_raft_id_of(node_vault_node_id(v), &raft_id) != CONSORT_OK ||
            raft_id != node_vault_raft_id(v))
            abort();
        if (node_vault_save(v) != CONSORT_OK)
            abort(); /* what loaded must seal again */
        consort_err rc2;
        node_vault *w = load(dir, &rc2);
        if (rc2 != CONSORT_OK)
            abort();
        same(v, w);
        node_vault_free(w);
    }
    node_vault_free(v);
    cs_buf_cleanup(&file);
    return 0;
}
