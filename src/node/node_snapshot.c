/*
 * Snapshots (node.md "Snapshots"): the whole replicated state at a seqno,
 * for raft (log compaction, catching up a node that is far behind) and for
 * the node's own restart when its ledger starts after seqno 1.
 *
 * Choice (node.md leaves it open): a snapshot carries the Merkle tree's
 * leaf hashes (32 bytes per entry), so a node restored from it rebuilds the
 * exact tree without the old ledger files, and the last signature entry,
 * which must sign the root of the tree at its position: a node refuses a
 * snapshot whose leaves do not produce the root signed there under a node
 * certificate of this service.
 *
 * Bytes: "CSSNAP01" || nonce (12) || AES-256-GCM(key = HKDF-SHA256(ikm =
 * ledger secret, salt = "", info = "consort snapshot v1"), aad = magic)
 * over the CBOR map (text keys, this order)
 *   {"seqno": u, "term": u, "terms": [* [first_seqno, term]],
 *    "leaves": bstr (32 * seqno), "sig": bstr (signature entry), "kv": bstr}
 * Private maps are inside in clear, hence the encryption: only trusted
 * nodes hold the ledger secret. Saved copies: snapshots/snapshot_<seqno>.bin.
 *
 * This file checks and installs snapshots; node_snapshot_make.c makes them
 * (off the loop thread).
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

consort_err node_snapshot_key(const cs_node *n, uint8_t key[32])
{
    return cs_hkdf_sha256(CS_SLICE(n->ledger_secret, CS_LEDGER_SECRET_LEN), CS_SLICE_EMPTY,
                          CS_SLICE_LIT(NODE_SNAP_INFO), key, 32);
}

/* A decoded snapshot; slices borrow from the plaintext. */
typedef struct snap {
    uint64_t seqno, term;
    cs_slice terms_raw, leaves, sig, kv;
} snap;

static consort_err expect_key(cs_cbor_reader *r, const char *want)
{
    cs_slice k;
    CS_TRY(cs_cbor_read_text(r, &k));
    CS_ENSURE(cs_slice_eq(k, cs_slice_str(want)), CONSORT_E_MALFORMED,
              "snapshot: member \"%.*s\" where \"%s\" was expected", (int)k.len,
              (const char *)k.ptr, want);
    return CONSORT_OK;
}

static consort_err decode_plain(cs_slice p, snap *s)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, p);
    uint64_t pairs;
    CS_TRY(cs_cbor_read_map(&r, &pairs));
    CS_ENSURE(pairs == 6, CONSORT_E_MALFORMED, "snapshot: %llu members, expected 6",
              (unsigned long long)pairs);
    CS_TRY(expect_key(&r, "seqno"));
    CS_TRY(cs_cbor_read_uint(&r, &s->seqno));
    CS_TRY(expect_key(&r, "term"));
    CS_TRY(cs_cbor_read_uint(&r, &s->term));
    CS_TRY(expect_key(&r, "terms"));
    CS_TRY(cs_cbor_read_raw(&r, &s->terms_raw));
    CS_TRY(expect_key(&r, "leaves"));
    CS_TRY(cs_cbor_read_bytes(&r, &s->leaves));
    CS_TRY(expect_key(&r, "sig"));
    CS_TRY(cs_cbor_read_bytes(&r, &s->sig));
    CS_TRY(expect_key(&r, "kv"));
    CS_TRY(cs_cbor_read_bytes(&r, &s->kv));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_ENSURE(s->seqno >= 1 && s->seqno <= SIZE_MAX / CS_MERKLE_HASH_LEN &&
                  s->leaves.len == (size_t)s->seqno * CS_MERKLE_HASH_LEN,
              CONSORT_E_MALFORMED, "snapshot: %zu bytes of leaves for seqno %llu", s->leaves.len,
              (unsigned long long)s->seqno);
    return CONSORT_OK;
}

/* Term runs into a fresh index (base seqno + 1), strictly increasing. */
static consort_err decode_terms(cs_slice raw, uint64_t seqno, node_index *x)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, raw);
    uint64_t count;
    CS_TRY(cs_cbor_read_array(&r, &count));
    uint64_t prev_first = 0, prev_term = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t pair, first, term;
        CS_TRY(cs_cbor_read_array(&r, &pair));
        CS_ENSURE(pair == 2, CONSORT_E_MALFORMED, "snapshot: term run of %llu items",
                  (unsigned long long)pair);
        CS_TRY(cs_cbor_read_uint(&r, &first));
        CS_TRY(cs_cbor_read_uint(&r, &term));
        CS_ENSURE(first > prev_first && term > prev_term && first <= seqno, CONSORT_E_MALFORMED,
                  "snapshot: term run %llu (%llu from %llu) out of order", (unsigned long long)i,
                  (unsigned long long)term, (unsigned long long)first);
        CS_TRY(node_index_add_term(x, first, term));
        prev_first = first;
        prev_term = term;
    }
    return cs_cbor_expect_end(&r);
}

/* node.md: refuse a snapshot whose root at its last signature is not the signed one. */
static consort_err check_tree(cs_node *n, const snap *s, cs_merkle_tree *t, uint64_t *sig_seqno)
{
    cs_ledger_entry e;
    CS_TRY_CTX(cs_ledger_entry_decode(s->sig, &e), "snapshot: signature entry");
    cs_ledger_sig sig;
    CS_TRY_CTX(cs_ledger_sig_parse(&e, &sig), "snapshot: signature entry");
    CS_ENSURE(sig.seqno <= s->seqno, CONSORT_E_MALFORMED,
              "snapshot at %llu: signature entry %llu is after it", (unsigned long long)s->seqno,
              (unsigned long long)sig.seqno);
    uint8_t leaf[CS_MERKLE_HASH_LEN], stored[CS_MERKLE_HASH_LEN], root[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(&e, leaf);
    CS_TRY(cs_merkle_leaf(t, sig.seqno - 1, stored));
    CS_ENSURE(cs_ct_equal(CS_SLICE(leaf, 32), CS_SLICE(stored, 32)), CONSORT_E_BAD_PROOF,
              "snapshot: leaf %llu is not its signature entry", (unsigned long long)sig.seqno);
    CS_TRY(cs_merkle_root_at(t, sig.tree_size, root));
    CS_ENSURE(cs_ct_equal(CS_SLICE(root, 32), sig.root), CONSORT_E_BAD_PROOF,
              "snapshot at %llu: its leaves do not give the root signed by signature entry %llu",
              (unsigned long long)s->seqno, (unsigned long long)sig.seqno);
    CS_TRY_CTX(cs_ledger_sig_verify(&sig, n->service_cert, (int64_t)time(NULL), NULL),
               "snapshot: signature entry %llu", (unsigned long long)sig.seqno);
    *sig_seqno = sig.seqno;
    return CONSORT_OK;
}

static consort_err save_copy(cs_node *n, uint64_t seqno, cs_slice data)
{
    char name[64], path[CS_NODE_PATH_MAX + 64];
    snprintf(name, sizeof name, "snapshot_%llu.bin", (unsigned long long)seqno);
    CS_TRY(cs_path_join(path, sizeof path, n->snapshot_dir, name));
    return cs_file_write_atomic(path, data, 0600);
}

/* The old ledger is kept aside (ledger.replaced-<seqno>) for audits. */
static consort_err restart_ledger(cs_node *n, uint64_t seqno)
{
    cs_ledger_writer_free(n->ledger);
    n->ledger = NULL;
    char aside[CS_NODE_PATH_MAX + 64];
    snprintf(aside, sizeof aside, "%s.replaced-%llu", n->ledger_dir, (unsigned long long)seqno);
    if (cs_file_exists(n->ledger_dir) && rename(n->ledger_dir, aside) != 0)
        return cs_fail(CONSORT_E_IO, "moving %s aside", n->ledger_dir);
    CS_TRY(cs_mkdir_p(n->ledger_dir, 0700));
    return node_open_ledger(n, seqno + 1);
}

static consort_err install(cs_node *n, const snap *s, cs_slice data, bool from_disk)
{
    cs_merkle_tree *t = NULL;
    node_index x = {0};
    uint64_t sig_seqno = 0;
    CS_TRY(cs_merkle_new(&t));
    consort_err rc = CONSORT_OK;
    for (uint64_t i = 0; i < s->seqno && rc == CONSORT_OK; i++)
        rc = cs_merkle_append_hash(t, s->leaves.ptr + i * CS_MERKLE_HASH_LEN);
    if (rc == CONSORT_OK && n->applied >= s->seqno) {
        /* we are ahead (our own snapshot, replayed by raft at start): it must agree */
        uint8_t a[32], b[32];
        rc = cs_merkle_root_at(n->tree, s->seqno, a);
        cs_merkle_root(t, b);
        if (rc == CONSORT_OK && !cs_ct_equal(CS_SLICE(a, 32), CS_SLICE(b, 32)))
            rc = cs_fail(CONSORT_E_BAD_PROOF, "snapshot at %llu disagrees with the ledger",
                         (unsigned long long)s->seqno);
        cs_merkle_free(t);
        return rc;
    }
    if (rc == CONSORT_OK)
        rc = check_tree(n, s, t, &sig_seqno);
    node_index_reset(&x, s->seqno + 1);
    if (rc == CONSORT_OK)
        rc = decode_terms(s->terms_raw, s->seqno, &x);
    if (rc == CONSORT_OK)
        rc = cs_kv_restore(n->kv, s->kv);
    if (rc == CONSORT_OK && cs_kv_last_seqno(n->kv) != s->seqno)
        rc = cs_fail(CONSORT_E_CORRUPT, "snapshot: store at seqno %llu, snapshot at %llu",
                     (unsigned long long)cs_kv_last_seqno(n->kv), (unsigned long long)s->seqno);
    if (rc == CONSORT_OK && !from_disk)
        rc = save_copy(n, s->seqno, data);
    if (rc == CONSORT_OK && !from_disk)
        rc = restart_ledger(n, s->seqno);
    if (rc == CONSORT_OK)
        rc = cs_buf_set(&n->last_sig, s->sig);
    if (rc != CONSORT_OK) {
        cs_merkle_free(t);
        node_index_cleanup(&x);
        return rc;
    }
    cs_merkle_free(n->tree);
    n->tree = t;
    node_index_cleanup(&n->idx);
    n->idx = x;
    n->applied = s->seqno;
    n->applied_term = s->term;
    n->next_seqno = s->seqno + 1;
    n->last_sig_seqno = sig_seqno;
    n->m.snapshots_restored++;
    node_platform_refresh_policy(n);
    node_check_open(n);
    cs_log_info(NODE_LOG, "node %s: installed snapshot at seqno %llu (signed root at %llu)",
                n->node_id, (unsigned long long)s->seqno, (unsigned long long)sig_seqno);
    return CONSORT_OK;
}

consort_err node_snapshot_install(cs_node *n, cs_slice data, bool from_disk)
{
    CS_ENSURE(n->has_secret, CONSORT_E_STATE, "snapshot: no ledger secret");
    cs_cursor c;
    cs_cursor_init(&c, data);
    cs_slice magic, nonce;
    CS_TRY_CTX(cs_cursor_read_slice(&c, 8, &magic), "snapshot");
    CS_ENSURE(cs_slice_eq(magic, CS_SLICE_LIT(NODE_SNAP_MAGIC)), CONSORT_E_MALFORMED,
              "snapshot: bad magic");
    CS_TRY_CTX(cs_cursor_read_slice(&c, CS_AEAD_NONCE_LEN, &nonce), "snapshot");
    uint8_t key[32];
    CS_TRY(node_snapshot_key(n, key));
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_FSM_SNAPSHOT_MAX);
    consort_err rc =
        cs_aead_open(key, nonce.ptr, CS_SLICE_LIT(NODE_SNAP_MAGIC), cs_cursor_rest(&c), &plain);
    cs_wipe(key, sizeof key);
    snap s = {0};
    if (rc == CONSORT_OK)
        rc = decode_plain(cs_buf_slice(&plain), &s);
    if (rc == CONSORT_OK)
        rc = install(n, &s, data, from_disk);
    cs_buf_cleanup(&plain);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "snapshot");
}

consort_err node_snapshot_load_latest(cs_node *n, uint64_t *seqno)
{
    DIR *d = opendir(n->snapshot_dir);
    CS_ENSURE(d != NULL, CONSORT_E_NOT_FOUND, "no snapshot directory %s", n->snapshot_dir);
    uint64_t best = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long v;
        char tail[8];
        if (sscanf(de->d_name, "snapshot_%llu.%7s", &v, tail) == 2 && strcmp(tail, "bin") == 0 &&
            v > best)
            best = v;
    }
    closedir(d);
    CS_ENSURE(best > 0, CONSORT_E_NOT_FOUND, "no snapshot in %s", n->snapshot_dir);
    char name[64], path[CS_NODE_PATH_MAX + 64];
    snprintf(name, sizeof name, "snapshot_%llu.bin", (unsigned long long)best);
    CS_TRY(cs_path_join(path, sizeof path, n->snapshot_dir, name));
    cs_buf data;
    cs_buf_init(&data, CS_FSM_SNAPSHOT_MAX);
    consort_err rc = cs_file_read(path, &data);
    if (rc == CONSORT_OK)
        rc = node_snapshot_install(n, cs_buf_slice(&data), true);
    cs_buf_cleanup(&data);
    CS_TRY_CTX(rc, "%s", path);
    *seqno = best;
    return CONSORT_OK;
}
