/*
 * Snapshots (docs/security.md "Snapshots"): the replicated state at a
 * checkpoint, for raft (log compaction, catching up a node that is far
 * behind) and for the node's own restart when its ledger starts after
 * seqno 1.
 *
 * A snapshot's checkpoint is a signature entry S, and everything in it is
 * bound to what that entry signs, so a snapshot is checked in full before
 * anything is replaced:
 *   - the Merkle tree of entries 1..S-1 as its peaks (RFC 9162 §2.1.1: the
 *     complete subtrees MTH(D[0:S-1]) splits into, one per set bit of
 *     S - 1, at most 64 hashes whatever the ledger's length): their root
 *     is the root S signs; the installer appends S's own leaf. The node
 *     then holds the leaves from S on, so it serves receipts for entries
 *     after S only (replica_receipt.c says so to a client);
 *   - the store as of S: its state digest (docs/kv.md) is the one S signs;
 *   - the term runs of entries 1..S: their digest is the one S signs;
 *   - the signature entry itself (authenticated, both signatures verified,
 *     the certificate issued by this service);
 *   - the committed entries S+1..X after it (the "tail": raft snapshots at
 *     its own last applied index X, which is rarely a signature entry),
 *     each authenticated and applied on top, like any committed entry.
 *
 * Bytes: "CSSNAP03" || nonce (12) || AES-256-GCM(key = HKDF-SHA256(ikm =
 * ledger secret, salt = "", info = "consort snapshot v3"), aad = magic)
 * over the CBOR map (text keys, this order)
 *   {"seqno": S, "term": u, "terms": [* [first_seqno, term]],
 *    "peaks": bstr (32 * popcount(S - 1), largest subtree first),
 *    "sig": bstr (entry S), "kv": bstr (store at S),
 *    "tail": [* bstr (entries S+1 .. X)]}
 * Private maps are inside in clear, hence the encryption: only trusted
 * nodes hold the ledger secret. Saved copies: snapshots/snapshot_<S>.bin.
 * Format 2 ("CSSNAP02", info "consort snapshot v2", "leaves": bstr
 * (32 * S) where 3 has "peaks") is still read, so that a node of this
 * version can join from a leader of the version before; it is checked the
 * same way, its leaf S against the signature entry.
 *
 * A node already at or past the checkpoint (raft restoring, at start, the
 * snapshot a restart began from, or a late one) keeps its own store: the
 * snapshot's signature entry is authenticated, its tree must have the
 * node's root at S, and its tail is checked against (or applied after)
 * the node's entries; its store is not rebuilt.
 *
 * Installing is atomic: the new store, tree and indexes are built and
 * checked aside; the snapshot copy and the new ledger (holding the tail)
 * are written and made durable aside; only then the ledger directories
 * are renamed and the node's state swapped. A failure before the swap
 * leaves the node exactly as it was.
 *
 * This file installs snapshots; replica_snapcheck.c decodes and checks
 * them, replica_snapmake.c makes them (off the loop thread).
 */
#include "node/replica_priv.h"
#include "store/ledger_writer.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <dirent.h>
#include <uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the node ahead of the checkpoint: agree, then catch up from the tail ---- */

static consort_err catch_up_entry(node_replica *r, replica_staged *st, const cs_ledger_entry *e,
                                  void *ctx)
{
    (void)st;
    (void)ctx;
    if (e->seqno <= r->applied) { /* we hold it: it must be ours */
        bool same;
        CS_TRY(replica_leaf_matches(r, e, &same));
        CS_ENSURE(same, CONSORT_E_BAD_PROOF, "snapshot tail entry %llu disagrees with the ledger",
                  (unsigned long long)e->seqno);
        return CONSORT_OK;
    }
    return node_replica_apply(r, e); /* like any committed entry */
}

/* The node keeps its own store (it holds the state at the checkpoint and
 * after): only the snapshot's tree (its signature entry authenticated) is
 * checked against the node's, and its tail walked. Its store is never
 * rebuilt: that was most of a restart at a large store, where raft
 * restores the snapshot the restart began from. */
static consort_err install_ahead(node_replica *r, const replica_snap *s)
{
    cs_ledger_entry e;
    CS_TRY(replica_snap_sig(&r->keys, s, &e));
    cs_merkle_tree *tree;
    CS_TRY(replica_snap_tree(s, &e, &tree));
    uint8_t ours[CS_MERKLE_HASH_LEN], theirs[CS_MERKLE_HASH_LEN];
    cs_merkle_root(tree, theirs);
    cs_merkle_free(tree);
    CS_TRY(cs_merkle_root_at(r->tree, s->seqno, ours));
    CS_ENSURE(cs_ct_equal(CS_SLICE(ours, 32), CS_SLICE(theirs, 32)), CONSORT_E_BAD_PROOF,
              "snapshot at %llu disagrees with the ledger", (unsigned long long)s->seqno);
    uint64_t before = r->applied;
    CS_TRY(replica_each_tail_entry(r, s, NULL, catch_up_entry, NULL)); /* to the node itself */
    if (r->applied > before)
        cs_log_info(REPLICA_LOG, "node %s: caught up from snapshot %llu to seqno %llu",
                    r->opts.node_id, (unsigned long long)s->seqno, (unsigned long long)r->applied);
    return CONSORT_OK;
}

/* ---- full install: durable aside, then renamed, then swapped ---- */

static consort_err save_copy(node_replica *r, uint64_t seqno, cs_slice data)
{
    char path[REPLICA_COPY_PATH_MAX];
    CS_TRY(replica_copy_path(r->snapshot_dir, seqno, "bin", path));
    return cs_file_write_atomic(path, data, 0600);
}

typedef struct tail_writer {
    cs_ledger_writer *w;
} tail_writer;

static consort_err write_tail_entry(node_replica *r, replica_staged *st, const cs_ledger_entry *e,
                                    void *ctx)
{
    (void)r;
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
    while ((de = readdir(d)) != NULL) {
        char path[CS_NODE_PATH_MAX + 300];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        CS_TRY_GOTO(rc, cs_path_join(path, sizeof path, dir, de->d_name), out);
        if (remove(path) != 0) {
            rc = cs_fail(CONSORT_E_IO, "removing %s", path);
            goto out;
        }
    }
out:
    closedir(d);
    CS_TRY(rc);
    CS_ENSURE(remove(dir) == 0, CONSORT_E_IO, "removing %s", dir);
    return CONSORT_OK;
}

/* The new ledger (the tail's entries, from S + 1) written and synced in
 * <ledger_dir>.next. */
static consort_err prepare_ledger(node_replica *r, const replica_snap *s, replica_staged *st,
                                  char *next, size_t len)
{
    int w = snprintf(next, len, "%s.next", r->ledger_dir);
    CS_ENSURE(w > 0 && (size_t)w < len, CONSORT_E_INVALID_ARGUMENT, "ledger path too long");
    CS_TRY(remove_dir_files(next)); /* a leftover of an interrupted install */
    CS_TRY(cs_mkdir_p(next, 0700));
    const cs_ledger_writer_opts o = {.chunk_size = (size_t)r->opts.chunk_size,
                                     .start_seqno = s->seqno + 1};
    tail_writer tw = {0};
    CS_TRY_CTX(cs_ledger_writer_open(next, &o, &tw.w), "ledger %s", next);
    consort_err rc;
    CS_TRY_GOTO(rc, replica_each_tail_entry(r, s, st, write_tail_entry, &tw), out);
    CS_TRY_GOTO(rc, cs_ledger_writer_sync(tw.w), out);
out:
    cs_ledger_writer_free(tw.w);
    return rc;
}

/* The swap on disk: the old ledger kept aside (ledger.replaced-<S>) for
 * audits, the new one in its place. */
static consort_err swap_ledger_dirs(node_replica *r, uint64_t seqno, const char *next)
{
    char aside[CS_NODE_PATH_MAX + 64];
    snprintf(aside, sizeof aside, "%s.replaced-%llu", r->ledger_dir, (unsigned long long)seqno);
    replica_sync_detach(r);
    cs_ledger_writer_free(r->ledger);
    r->ledger = NULL;
    bool moved = false;
    if (cs_file_exists(r->ledger_dir)) {
        if (cs_file_exists(aside))
            CS_TRY(remove_dir_files(aside));
        CS_ENSURE(rename(r->ledger_dir, aside) == 0, CONSORT_E_IO, "moving %s aside",
                  r->ledger_dir);
        moved = true;
    }
    if (rename(next, r->ledger_dir) != 0) {
        consort_err rc = cs_fail(CONSORT_E_IO, "renaming %s to %s", next, r->ledger_dir);
        if (moved && rename(aside, r->ledger_dir) != 0)
            replica_fatal(r, "restoring the ledger after a failed snapshot install");
        return rc;
    }
    return CONSORT_OK;
}

static void swap_state(node_replica *r, replica_staged *st)
{
    replica_rebuild_detach(r); /* it was for the tree and index replaced here */
    cs_merkle_free(r->tree);
    r->tree = st->tree;
    st->tree = NULL;
    replica_index_cleanup(&r->idx);
    r->idx = st->idx;
    memset(&st->idx, 0, sizeof st->idx);
    cs_kv_store_free(r->kv);
    r->kv = st->kv;
    st->kv = NULL;
    r->applied = st->applied;
    r->applied_term = st->applied_term;
    r->applied_sig = st->applied_sig;
}

/* The tail applied, the copy saved and the new ledger put in place; the
 * replica's state is untouched if this fails. */
static consort_err install_files(node_replica *r, const replica_snap *s, replica_staged *st,
                                 cs_slice data)
{
    char next[CS_NODE_PATH_MAX + 16];
    CS_TRY(replica_each_tail_entry(r, s, st, replica_stage_tail_entry, NULL));
    CS_TRY(save_copy(r, s->seqno, data));
    CS_TRY(prepare_ledger(r, s, st, next, sizeof next));
    consort_err rc = swap_ledger_dirs(r, s->seqno, next);
    if (rc != CONSORT_OK) {
        if (r->ledger == NULL && replica_open_ledger(r, r->applied + 1) != CONSORT_OK)
            replica_fatal(r, "reopening the ledger after a failed snapshot install");
        return rc;
    }
    /* the directory changed: nothing to go back to */
    rc = replica_open_ledger(r, s->seqno + 1);
    if (rc != CONSORT_OK)
        replica_fatal(r, "opening the ledger after a snapshot install");
    return rc;
}

/* From disk (a restart), the ledger after the copy already holds the tail. */
static consort_err install_full(node_replica *r, const replica_snap *s, replica_staged *st,
                                cs_slice data, bool from_disk)
{
    cs_buf last_sig;
    cs_buf_init(&last_sig, CS_LEDGER_ENTRY_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_buf_set(&last_sig, st->last_sig), fail);
    if (!from_disk)
        CS_TRY_GOTO(rc, install_files(r, s, st, data), fail);
    swap_state(r, st);
    if (!from_disk)
        r->ledger_first = s->seqno + 1;
    cs_buf_move(&r->last_sig, &last_sig);
    r->stats.snapshots_restored++;
    r->stats.entry_bytes_since_snapshot = 0;
    r->stats.entries_since_snapshot = 0;
    r->stats.last_snapshot_ns = uv_hrtime();
    if (r->ev.installed != NULL)
        r->ev.installed(r->ev.ctx, s->seqno);
    cs_log_info(REPLICA_LOG,
                "node %s: installed snapshot at signature entry %llu (+%llu entries, at %llu)",
                r->opts.node_id, (unsigned long long)s->seqno, (unsigned long long)st->tail_count,
                (unsigned long long)r->applied);
    if (!from_disk && r->ev.durable != NULL)
        r->ev.durable(r->ev.ctx, s->seqno);
    return CONSORT_OK;
fail:
    cs_buf_cleanup(&last_sig);
    return rc;
}

consort_err node_replica_snapshot_install(node_replica *r, cs_slice data, bool from_disk)
{
    CS_ENSURE(r->has_service, CONSORT_E_STATE, "snapshot: no ledger secret");
    cs_buf plain;
    cs_buf_init_secret(&plain, CS_FSM_SNAPSHOT_MAX);
    replica_snap s = {0};
    replica_staged st = {0};
    consort_err rc;
    CS_TRY_GOTO(rc, replica_snap_open(&r->keys, data, &plain, &s), out);
    if (r->applied >= s.seqno && !from_disk) {
        rc = install_ahead(r, &s);
        goto out;
    }
    CS_TRY_GOTO(rc, replica_stage_checkpoint(r, &s, &st), out);
    rc = install_full(r, &s, &st, data, from_disk);
out:
    replica_staged_cleanup(&st);
    cs_buf_cleanup(&plain);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "snapshot");
}

consort_err replica_snapshot_load(node_replica *r, uint64_t seqno)
{
    char path[REPLICA_COPY_PATH_MAX];
    CS_TRY(replica_copy_path(r->snapshot_dir, seqno, "bin", path));
    cs_buf data;
    cs_buf_init(&data, CS_FSM_SNAPSHOT_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_file_read(path, &data), out);
    CS_TRY_GOTO(rc, node_replica_snapshot_install(r, cs_buf_slice(&data), true), out);
out:
    cs_buf_cleanup(&data);
    CS_TRY_CTX(rc, "%s", path);
    CS_ENSURE(r->applied == seqno, CONSORT_E_CORRUPT, "%s holds the checkpoint of seqno %llu", path,
              (unsigned long long)r->applied);
    return CONSORT_OK;
}
