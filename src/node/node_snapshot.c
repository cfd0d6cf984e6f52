/*
 * Snapshots (docs/security.md "Snapshots"): the replicated state at a
 * checkpoint, for raft (log compaction, catching up a node that is far
 * behind) and for the node's own restart when its ledger starts after
 * seqno 1.
 *
 * A snapshot's checkpoint is a signature entry S, and everything in it is
 * bound to what that entry signs, so a snapshot is checked in full before
 * anything is replaced:
 *   - the Merkle leaves of entries 1..S (32 bytes each): their tree's root
 *     at S - 1 is the root S signs, and leaf S is S's own;
 *   - the store as of S: its state digest (docs/kv.md) is the one S signs;
 *   - the term runs of entries 1..S: their digest is the one S signs;
 *   - the signature entry itself (authenticated, both signatures verified,
 *     the certificate issued by this service);
 *   - the committed entries S+1..X after it (the "tail": raft snapshots at
 *     its own last applied index X, which is rarely a signature entry),
 *     each authenticated and applied on top, like any committed entry.
 *
 * Bytes: "CSSNAP02" || nonce (12) || AES-256-GCM(key = HKDF-SHA256(ikm =
 * ledger secret, salt = "", info = "consort snapshot v2"), aad = magic)
 * over the CBOR map (text keys, this order)
 *   {"seqno": S, "term": u, "terms": [* [first_seqno, term]],
 *    "leaves": bstr (32 * S), "sig": bstr (entry S), "kv": bstr (store at S),
 *    "tail": [* bstr (entries S+1 .. X)]}
 * Private maps are inside in clear, hence the encryption: only trusted
 * nodes hold the ledger secret. Saved copies: snapshots/snapshot_<S>.bin.
 *
 * Installing is atomic: the new store, tree and indexes are built and
 * checked aside; the snapshot copy and the new ledger (holding the tail)
 * are written and made durable aside; only then the ledger directories
 * are renamed and the node's state swapped. A failure before the swap
 * leaves the node exactly as it was.
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

consort_err node_snapshot_key(const cs_node *n, uint8_t key[32])
{
    return cs_ledger_keys_derive(&n->keys, NODE_SNAP_INFO, key);
}

/* A decoded snapshot; slices borrow from the plaintext. */
typedef struct snap {
    uint64_t seqno, term;
    cs_slice terms_raw, leaves, sig, kv, tail_raw;
} snap;

/* What a snapshot rebuilds, aside from the node's own state. */
typedef struct staged {
    cs_merkle_tree *tree;
    node_index idx;
    cs_kv_store *kv;
    uint64_t applied, applied_term, applied_sig;
    cs_slice last_sig; /* borrowed from the plaintext */
    uint64_t tail_count;
} staged;

static void staged_cleanup(staged *st)
{
    cs_merkle_free(st->tree);
    node_index_cleanup(&st->idx);
    cs_kv_store_free(st->kv);
    memset(st, 0, sizeof *st);
}

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
    CS_ENSURE(pairs == 7, CONSORT_E_MALFORMED, "snapshot: %llu members, expected 7",
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
    CS_TRY(expect_key(&r, "tail"));
    CS_TRY(cs_cbor_read_raw(&r, &s->tail_raw));
    CS_TRY(cs_cbor_expect_end(&r));
    CS_ENSURE(s->seqno >= 1 && s->seqno <= SIZE_MAX / CS_MERKLE_HASH_LEN &&
                  s->leaves.len == (size_t)s->seqno * CS_MERKLE_HASH_LEN,
              CONSORT_E_MALFORMED, "snapshot: %zu bytes of leaves for seqno %llu", s->leaves.len,
              (unsigned long long)s->seqno);
    return CONSORT_OK;
}

/* Term runs into a fresh index (base seqno + 1), strictly increasing, the
 * first at seqno 1. */
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
        CS_ENSURE(first > prev_first && term > prev_term && first <= seqno && (i > 0 || first == 1),
                  CONSORT_E_MALFORMED, "snapshot: term run %llu (%llu from %llu) out of order",
                  (unsigned long long)i, (unsigned long long)term, (unsigned long long)first);
        CS_TRY(node_index_add_term(x, first, term));
        prev_first = first;
        prev_term = term;
    }
    return cs_cbor_expect_end(&r);
}

/*
 * The checkpoint: tree, term runs and store rebuilt aside and checked
 * against the signature entry S that the snapshot carries.
 */
static consort_err stage_checkpoint(cs_node *n, const snap *s, staged *st)
{
    const unsigned long long seqno = (unsigned long long)s->seqno;
    CS_TRY(cs_merkle_new(&st->tree));
    for (uint64_t i = 0; i < s->seqno; i++)
        CS_TRY(cs_merkle_append_hash(st->tree, s->leaves.ptr + i * CS_MERKLE_HASH_LEN));
    node_index_reset(&st->idx, s->seqno + 1);
    CS_TRY(decode_terms(s->terms_raw, s->seqno, &st->idx));
    CS_ENSURE(node_index_term(&st->idx, s->seqno) == s->term, CONSORT_E_MALFORMED,
              "snapshot at %llu: its term runs do not give its term %llu", seqno,
              (unsigned long long)s->term);

    cs_ledger_entry e;
    CS_TRY_CTX(cs_ledger_entry_decode(s->sig, &e), "snapshot: signature entry");
    CS_ENSURE(e.kind == CS_LEDGER_KIND_SIGNATURE && e.seqno == s->seqno && e.term == s->term,
              CONSORT_E_MALFORMED,
              "snapshot at %llu (term %llu): its checkpoint is a %s entry %llu of term %llu", seqno,
              (unsigned long long)s->term, cs_ledger_kind_name(e.kind), (unsigned long long)e.seqno,
              (unsigned long long)e.term);
    cs_buf none;
    cs_buf_init_secret(&none, 16);
    consort_err rc = cs_ledger_entry_open(&e, &n->keys, &none);
    cs_buf_cleanup(&none);
    CS_TRY_CTX(rc, "snapshot: signature entry %llu", seqno);
    uint8_t leaf[CS_MERKLE_HASH_LEN], stored[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(&e, leaf);
    CS_TRY(cs_merkle_leaf(st->tree, s->seqno - 1, stored));
    CS_ENSURE(cs_ct_equal(CS_SLICE(leaf, 32), CS_SLICE(stored, 32)), CONSORT_E_BAD_PROOF,
              "snapshot: leaf %llu is not its signature entry", seqno);

    CS_TRY(cs_kv_store_new(NULL, &st->kv));
    CS_TRY(cs_kv_store_exclude_from_digest(st->kv, CS_SLICE_LIT(CS_LEDGER_SIG_MAP)));
    CS_TRY_CTX(cs_kv_restore(st->kv, s->kv), "snapshot at %llu: store", seqno);
    CS_ENSURE(cs_kv_last_seqno(st->kv) == s->seqno, CONSORT_E_MALFORMED,
              "snapshot: store at seqno %llu, snapshot at %llu",
              (unsigned long long)cs_kv_last_seqno(st->kv), seqno);
    /* the signature entry writes only the excluded map: the digest of the
     * store at S is the digest after entries 1 .. S - 1 that S signs */
    uint8_t state[CS_KV_STATE_DIGEST_LEN];
    CS_TRY(node_state_digest(n, st->kv, state));
    CS_TRY_CTX(node_check_signature(n, &e, st->tree, state, &st->idx), "snapshot at %llu", seqno);
    st->applied = st->applied_sig = s->seqno;
    st->applied_term = s->term;
    st->last_sig = s->sig;
    return CONSORT_OK;
}

/* Visits the tail's entries in order; `fn` gets each decoded one. */
typedef consort_err (*tail_fn)(cs_node *n, staged *st, const cs_ledger_entry *e, void *ctx);

static consort_err each_tail_entry(cs_node *n, const snap *s, staged *st, tail_fn fn, void *ctx)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, s->tail_raw);
    uint64_t count;
    CS_TRY(cs_cbor_read_array(&r, &count));
    uint64_t prev_term = s->term;
    for (uint64_t i = 0; i < count; i++) {
        cs_slice raw;
        cs_ledger_entry e;
        CS_TRY(cs_cbor_read_bytes(&r, &raw));
        CS_TRY_CTX(cs_ledger_entry_decode(raw, &e), "snapshot tail entry %llu",
                   (unsigned long long)i);
        CS_ENSURE(e.seqno == s->seqno + 1 + i && e.term >= prev_term, CONSORT_E_MALFORMED,
                  "snapshot tail: entry %llu of term %llu where %llu (term >= %llu) was expected",
                  (unsigned long long)e.seqno, (unsigned long long)e.term,
                  (unsigned long long)(s->seqno + 1 + i), (unsigned long long)prev_term);
        prev_term = e.term;
        CS_TRY(fn(n, st, &e, ctx));
    }
    return cs_cbor_expect_end(&r);
}

/* Full install: a tail entry applied to the staged state, like a follower
 * applies a committed entry. */
static consort_err stage_tail_entry(cs_node *n, staged *st, const cs_ledger_entry *e, void *ctx)
{
    (void)ctx;
    cs_buf priv;
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    consort_err rc = cs_ledger_entry_open(e, &n->keys, &priv);
    if (rc == CONSORT_OK && e->kind == CS_LEDGER_KIND_SIGNATURE) {
        uint8_t state[CS_KV_STATE_DIGEST_LEN];
        rc = node_state_digest(n, st->kv, state);
        if (rc == CONSORT_OK)
            rc = node_check_signature(n, e, st->tree, state, &st->idx);
    }
    if (rc == CONSORT_OK)
        rc = cs_kv_apply(st->kv, e->seqno, e->public_ws, cs_buf_slice(&priv));
    cs_buf_cleanup(&priv);
    CS_TRY_CTX(rc, "snapshot tail entry %llu", (unsigned long long)e->seqno);
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(e, leaf);
    CS_TRY(cs_merkle_append_hash(st->tree, leaf));
    bool sig = e->kind == CS_LEDGER_KIND_SIGNATURE;
    CS_TRY(node_index_add(&st->idx, e->seqno, e->term, sig, e->raw.len, n->cfg.chunk_size));
    if (sig) {
        st->applied_sig = e->seqno;
        st->last_sig = e->raw;
        cs_kv_compact(st->kv, e->seqno);
    }
    st->applied = e->seqno;
    st->applied_term = e->term;
    st->tail_count++;
    return CONSORT_OK;
}

/* ---- the node ahead of the checkpoint: agree, then catch up from the tail ---- */

static consort_err catch_up_entry(cs_node *n, staged *st, const cs_ledger_entry *e, void *ctx)
{
    (void)st;
    (void)ctx;
    if (e->seqno <= n->applied) { /* we hold it: it must be ours */
        uint8_t leaf[CS_MERKLE_HASH_LEN], held[CS_MERKLE_HASH_LEN];
        cs_ledger_leaf_hash(e, leaf);
        CS_TRY(cs_merkle_leaf(n->tree, e->seqno - 1, held));
        CS_ENSURE(cs_ct_equal(CS_SLICE(leaf, 32), CS_SLICE(held, 32)), CONSORT_E_BAD_PROOF,
                  "snapshot tail entry %llu disagrees with the ledger",
                  (unsigned long long)e->seqno);
        return CONSORT_OK;
    }
    CS_TRY(node_apply_entry_state(n, e));
    consort_err rc = cs_ledger_writer_append(n->ledger, e->raw);
    if (rc == CONSORT_OK)
        rc = node_note_applied(n, e);
    if (rc != CONSORT_OK) {
        /* the store and tree hold it but the ledger does not: roll back */
        if (cs_kv_rollback(n->kv, e->seqno - 1) != CONSORT_OK ||
            cs_merkle_truncate(n->tree, e->seqno - 1) != CONSORT_OK)
            node_fail(n, CONSORT_E_STATE, "rollback after a failed snapshot tail entry");
    }
    return rc;
}

static consort_err install_ahead(cs_node *n, const snap *s, staged *st)
{
    uint8_t ours[CS_MERKLE_HASH_LEN], theirs[CS_MERKLE_HASH_LEN];
    CS_TRY(cs_merkle_root_at(n->tree, s->seqno, ours));
    cs_merkle_root(st->tree, theirs);
    CS_ENSURE(cs_ct_equal(CS_SLICE(ours, 32), CS_SLICE(theirs, 32)), CONSORT_E_BAD_PROOF,
              "snapshot at %llu disagrees with the ledger", (unsigned long long)s->seqno);
    uint64_t before = n->applied;
    CS_TRY(each_tail_entry(n, s, st, catch_up_entry, NULL));
    if (n->applied > before)
        cs_log_info(NODE_LOG, "node %s: caught up from snapshot %llu to seqno %llu", n->node_id,
                    (unsigned long long)s->seqno, (unsigned long long)n->applied);
    return CONSORT_OK;
}

/* ---- full install: durable aside, then renamed, then swapped ---- */

static consort_err save_copy(cs_node *n, uint64_t seqno, cs_slice data)
{
    char name[64], path[CS_NODE_PATH_MAX + 64];
    snprintf(name, sizeof name, "snapshot_%llu.bin", (unsigned long long)seqno);
    CS_TRY(cs_path_join(path, sizeof path, n->snapshot_dir, name));
    return cs_file_write_atomic(path, data, 0600);
}

typedef struct tail_writer {
    cs_ledger_writer *w;
} tail_writer;

static consort_err write_tail_entry(cs_node *n, staged *st, const cs_ledger_entry *e, void *ctx)
{
    (void)n;
    (void)st;
    tail_writer *tw = ctx;
    return cs_ledger_writer_append(tw->w, e->raw);
}

static consort_err remove_dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return CONSORT_OK;
    struct dirent *de;
    consort_err rc = CONSORT_OK;
    while ((de = readdir(d)) != NULL && rc == CONSORT_OK) {
        char path[CS_NODE_PATH_MAX + 300];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = cs_path_join(path, sizeof path, dir, de->d_name);
        if (rc == CONSORT_OK && remove(path) != 0)
            rc = cs_fail(CONSORT_E_IO, "removing %s", path);
    }
    closedir(d);
    if (rc == CONSORT_OK && remove(dir) != 0)
        rc = cs_fail(CONSORT_E_IO, "removing %s", dir);
    return rc;
}

/* The new ledger (the tail's entries, from S + 1) written and synced in
 * <ledger_dir>.next. */
static consort_err prepare_ledger(cs_node *n, const snap *s, staged *st, char *next, size_t len)
{
    int w = snprintf(next, len, "%s.next", n->ledger_dir);
    CS_ENSURE(w > 0 && (size_t)w < len, CONSORT_E_INVALID_ARGUMENT, "ledger path too long");
    CS_TRY(remove_dir_files(next)); /* a leftover of an interrupted install */
    CS_TRY(cs_mkdir_p(next, 0700));
    const cs_ledger_writer_opts o = {.chunk_size = (size_t)n->cfg.chunk_size,
                                     .start_seqno = s->seqno + 1};
    tail_writer tw = {0};
    CS_TRY_CTX(cs_ledger_writer_open(next, &o, &tw.w), "ledger %s", next);
    consort_err rc = each_tail_entry(n, s, st, write_tail_entry, &tw);
    if (rc == CONSORT_OK)
        rc = cs_ledger_writer_sync(tw.w);
    cs_ledger_writer_free(tw.w);
    return rc;
}

/* The swap on disk: the old ledger kept aside (ledger.replaced-<S>) for
 * audits, the new one in its place. */
static consort_err swap_ledger_dirs(cs_node *n, uint64_t seqno, const char *next)
{
    char aside[CS_NODE_PATH_MAX + 64];
    snprintf(aside, sizeof aside, "%s.replaced-%llu", n->ledger_dir, (unsigned long long)seqno);
    cs_ledger_writer_free(n->ledger);
    n->ledger = NULL;
    bool moved = false;
    if (cs_file_exists(n->ledger_dir)) {
        if (cs_file_exists(aside))
            CS_TRY(remove_dir_files(aside));
        CS_ENSURE(rename(n->ledger_dir, aside) == 0, CONSORT_E_IO, "moving %s aside",
                  n->ledger_dir);
        moved = true;
    }
    if (rename(next, n->ledger_dir) != 0) {
        consort_err rc = cs_fail(CONSORT_E_IO, "renaming %s to %s", next, n->ledger_dir);
        if (moved && rename(aside, n->ledger_dir) != 0)
            node_fail(n, CONSORT_E_IO, "restoring the ledger after a failed snapshot install");
        return rc;
    }
    return CONSORT_OK;
}

static void swap_state(cs_node *n, staged *st)
{
    cs_merkle_free(n->tree);
    n->tree = st->tree;
    st->tree = NULL;
    node_index_cleanup(&n->idx);
    n->idx = st->idx;
    memset(&st->idx, 0, sizeof st->idx);
    cs_kv_store_free(n->kv);
    n->kv = st->kv;
    st->kv = NULL;
    n->applied = st->applied;
    n->applied_term = st->applied_term;
    n->applied_sig = st->applied_sig;
    n->last_sig_seqno = st->applied_sig;
    n->next_seqno = st->applied + 1;
}

static consort_err install_full(cs_node *n, const snap *s, staged *st, cs_slice data,
                                bool from_disk)
{
    cs_buf last_sig;
    cs_buf_init(&last_sig, CS_LEDGER_ENTRY_MAX);
    char next[CS_NODE_PATH_MAX + 16];
    consort_err rc = CONSORT_OK;
    if (!from_disk) /* from disk: the ledger after the copy holds the tail */
        rc = each_tail_entry(n, s, st, stage_tail_entry, NULL);
    if (rc == CONSORT_OK)
        rc = cs_buf_set(&last_sig, st->last_sig);
    if (rc == CONSORT_OK && !from_disk)
        rc = save_copy(n, s->seqno, data);
    if (rc == CONSORT_OK && !from_disk)
        rc = prepare_ledger(n, s, st, next, sizeof next);
    if (rc == CONSORT_OK && !from_disk) {
        rc = swap_ledger_dirs(n, s->seqno, next);
        if (rc == CONSORT_OK) { /* the directory changed: nothing to go back to */
            rc = node_open_ledger(n, s->seqno + 1);
            if (rc != CONSORT_OK)
                node_fail(n, rc, "opening the ledger after a snapshot install");
        } else if (n->ledger == NULL && node_open_ledger(n, n->applied + 1) != CONSORT_OK) {
            node_fail(n, rc, "reopening the ledger after a failed snapshot install");
        }
    }
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&last_sig);
        return rc;
    }
    swap_state(n, st);
    cs_buf_move(&n->last_sig, &last_sig);
    n->m.snapshots_restored++;
    node_platform_refresh_policy(n);
    node_check_open(n);
    cs_log_info(NODE_LOG,
                "node %s: installed snapshot at signature entry %llu (+%llu entries, at %llu)",
                n->node_id, (unsigned long long)s->seqno, (unsigned long long)st->tail_count,
                (unsigned long long)n->applied);
    if (!from_disk && node_seal_hwm(n, s->seqno) != CONSORT_OK)
        cs_log_warn(NODE_LOG, "node %s: sealing the high-water mark: %s", n->node_id,
                    consort_errmsg());
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
              "snapshot: bad magic (not a version 2 snapshot)");
    CS_TRY_CTX(cs_cursor_read_slice(&c, CS_AEAD_NONCE_LEN, &nonce), "snapshot");
    uint8_t key[32];
    CS_TRY(node_snapshot_key(n, key));
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_FSM_SNAPSHOT_MAX);
    consort_err rc =
        cs_aead_open(key, nonce.ptr, CS_SLICE_LIT(NODE_SNAP_MAGIC), cs_cursor_rest(&c), &plain);
    cs_wipe(key, sizeof key);
    snap s = {0};
    staged st = {0};
    if (rc == CONSORT_OK)
        rc = decode_plain(cs_buf_slice(&plain), &s);
    if (rc == CONSORT_OK)
        rc = stage_checkpoint(n, &s, &st);
    if (rc == CONSORT_OK && n->applied >= s.seqno && !from_disk)
        rc = install_ahead(n, &s, &st);
    else if (rc == CONSORT_OK)
        rc = install_full(n, &s, &st, data, from_disk);
    staged_cleanup(&st);
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
    CS_ENSURE(n->applied == best, CONSORT_E_CORRUPT, "%s holds the checkpoint of seqno %llu", path,
              (unsigned long long)n->applied);
    *seqno = best;
    return CONSORT_OK;
}
