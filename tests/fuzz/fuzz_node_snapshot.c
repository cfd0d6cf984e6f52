/*
 * Fuzz target: a node snapshot as a node that joined (or fell behind)
 * receives it (src/node/replica_snapshot.c node_replica_snapshot_install,
 * replica_snapcheck.c): decoded and checked in full against the signature
 * entry inside it (the Merkle tree's peaks, store, terms, the signature
 * itself, the tail entries), then installed, by a replica of its own in a scratch data
 * directory that holds the service's ledger secret and certificate.
 * fuzz_node_input reaches only the plaintext decoder; fuzz_kv_snapshot only
 * the store inside.
 *
 * Input: [ledger secret, 32][be16 n][service certificate, n bytes DER]
 * [snapshot plaintext]. The target seals the plaintext as the leader would
 * ("CSSNAP03" || nonce || AES-GCM under the key derived from the secret),
 * so mutations reach the checks behind the AEAD. The replica installs it
 * once into its empty state, and, if that succeeded, once more (now at or
 * ahead of the checkpoint: the "agree, then catch up from the tail" path);
 * then the same again sealed as format 2 ("CSSNAP02", every leaf where
 * format 3 has the peaks), which nodes still read from the version before.
 *
 * Checks beyond "no crash, no leak, no out-of-bounds access": a refused
 * snapshot leaves the replica as it was (empty at first: nothing applied,
 * no leaves, no store);
 * an installed one leaves it at a seqno >= its checkpoint, with a tree of
 * that many leaves and the store at that seqno, and installing it again
 * changes nothing.
 *
 * Seeds (corpus/node_snapshot) are written by seedgen_fuzz from a running
 * single-node service.
 */
#include "fuzz_scratch.h"

#include "crypto/aead.h"
#include "crypto/merkle.h"
#include "node/replica.h"
#include "store/kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As a leader of format 3, or of format 2 (the version before). */
static void seal(const uint8_t secret[32], cs_slice plain, bool format_2, cs_buf *out)
{
    cs_ledger_keys keys;
    cs_ledger_keys_init(&keys, secret);
    uint8_t key[32];
    static const uint8_t nonce[CS_AEAD_NONCE_LEN] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};
    const cs_slice magic = format_2 ? CS_SLICE_LIT("CSSNAP02") : CS_SLICE_LIT("CSSNAP03");
    cs_buf_reset(out);
    if (cs_ledger_keys_derive(&keys, format_2 ? "consort snapshot v2" : "consort snapshot v3",
                              key) != CONSORT_OK ||
        cs_buf_append_slice(out, magic) != CONSORT_OK ||
        cs_buf_append(out, nonce, sizeof nonce) != CONSORT_OK ||
        cs_aead_seal(key, nonce, magic, plain, out) != CONSORT_OK)
        abort();
    cs_ledger_keys_cleanup(&keys);
}

static void check_state(node_replica *r, uint64_t at_least)
{
    uint64_t applied = node_replica_applied(r);
    if (applied < at_least || cs_merkle_size(node_replica_tree(r)) != applied ||
        cs_kv_last_seqno(node_replica_kv(r)) != applied)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 34)
        return 0;
    size_t cert_len = (size_t)data[32] << 8 | data[33];
    if (cert_len > size - 34)
        return 0;
    cs_x509 *cert;
    if (cs_x509_from_der(CS_SLICE(data + 34, cert_len), &cert) != CONSORT_OK)
        return 0;
    cs_slice plain = CS_SLICE(data + 34 + cert_len, size - 34 - cert_len);
    cs_buf snap;
    cs_buf_init(&snap, 0);

    const char *dir = fuzz_scratch_dir("fuzz_node_snapshot");
    const node_replica_opts o = {.data_dir = dir, .chunk_size = 1 << 16, .node_id = "fuzz"};
    node_replica *r;
    if (node_replica_new(&o, &r) != CONSORT_OK)
        abort();
    node_replica_set_service(r, data, cert);
    if (node_replica_recover(r, 0) != CONSORT_OK)
        abort();
    /* the plaintext as format 3, then as format 2 (on what the first left) */
    for (int format_2 = 0; format_2 <= 1; format_2++) {
        seal(data, plain, format_2, &snap);
        const uint64_t before = node_replica_applied(r);
        consort_err rc = node_replica_snapshot_install(r, cs_buf_slice(&snap), false);
        if (getenv("FUZZ_VERBOSE") != NULL) /* seed writing: what the snapshot did */
            fprintf(stderr, "install (format %d): %s (applied %llu)\n", format_2 ? 2 : 3,
                    rc == CONSORT_OK ? "ok" : consort_errmsg(),
                    (unsigned long long)node_replica_applied(r));
        if (rc != CONSORT_OK) {
            check_state(r, before);
            if (node_replica_applied(r) != before)
                abort(); /* a refused snapshot changed the replica */
            continue;
        }
        uint64_t applied = node_replica_applied(r);
        check_state(r, 1);
        if (node_replica_snapshot_install(r, cs_buf_slice(&snap), false) != CONSORT_OK ||
            node_replica_applied(r) != applied)
            abort(); /* the same snapshot again: it agrees and changes nothing */
        check_state(r, applied);
    }
    node_replica_free(r);
    cs_x509_free(cert);
    cs_buf_cleanup(&snap);
    fuzz_scratch_clear(1);
    return 0;
}
