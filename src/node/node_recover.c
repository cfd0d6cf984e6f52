/*
 * Recovery (docs/security.md "Restart"): the KV store, the Merkle tree and
 * the indexes are rebuilt from the node's own ledger, and nothing the host
 * wrote is trusted without authentication:
 *
 *   - every entry is authenticated with the ledger secret (its tag over
 *     the whole entry and its commit evidence, store/ledger.h
 *     cs_ledger_entry_open): a forged, altered, stripped or re-ordered
 *     entry stops the node with an error naming the entry and its file;
 *   - every signature entry must sign the root of the entries before it,
 *     the store's state after them and their terms (node_check_signature);
 *   - entries after the last signature entry (the unsigned tail) are
 *     authenticated but NOT applied: they are cut from the ledger, and
 *     come back only through consensus (raft's log or snapshot), i.e.
 *     once the service confirms them;
 *   - the ledger must reach the sealed high-water mark (node_seal.c): one
 *     that ends below it was rolled back.
 *
 * Then consensus starts and raft's replay skips what the ledger holds.
 * A ledger that starts after seqno 1 (the node was given a snapshot) is
 * preceded by the snapshot saved in snapshots/ at that point.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

consort_err node_state_digest(const cs_node *n, const cs_kv_store *kv,
                              uint8_t out[CS_KV_STATE_DIGEST_LEN])
{
    /* keyed, so that no one without the secret can test guesses of private
     * values against a signed state (docs/ledger.md 4) */
    static const char label[] = "consort state digest v2";
    uint8_t info[sizeof label - 1 + CS_KV_STATE_DIGEST_LEN];
    memcpy(info, label, sizeof label - 1);
    cs_kv_state_digest(kv, info + sizeof label - 1);
    return cs_hkdf_sha256(CS_SLICE(n->ledger_secret, CS_LEDGER_SECRET_LEN), CS_SLICE_EMPTY,
                          CS_SLICE(info, sizeof info), out, CS_KV_STATE_DIGEST_LEN);
}

consort_err node_check_signature(cs_node *n, const cs_ledger_entry *e, const cs_merkle_tree *t,
                                 const uint8_t state[CS_KV_STATE_DIGEST_LEN], const node_index *x)
{
    const unsigned long long seqno = (unsigned long long)e->seqno;
    cs_ledger_sig sig;
    CS_TRY_CTX(cs_ledger_sig_parse(e, &sig), "signature entry %llu", seqno);
    uint8_t root[CS_MERKLE_HASH_LEN], terms[CS_LEDGER_DIGEST_LEN];
    CS_TRY(cs_merkle_root_at(t, sig.tree_size, root));
    /* docs/ledger.md 4: the root of the tree of the tree_size leaves before it */
    CS_ENSURE(cs_ct_equal(CS_SLICE(root, sizeof root), sig.root), CONSORT_E_BAD_PROOF,
              "signature entry %llu: signed root does not match the ledger's first %llu entries",
              seqno, (unsigned long long)sig.tree_size);
    /* ... the store those entries leave (every node must agree, or one diverged) */
    CS_ENSURE(cs_ct_equal(CS_SLICE(state, CS_KV_STATE_DIGEST_LEN), sig.state), CONSORT_E_BAD_PROOF,
              "signature entry %llu: the store after entry %llu is not the state it signs", seqno,
              (unsigned long long)sig.tree_size);
    /* ... and their terms */
    CS_TRY(node_index_terms_digest(x, sig.tree_size, sig.tree_size, 0, terms));
    CS_ENSURE(cs_ct_equal(CS_SLICE(terms, sizeof terms), sig.terms), CONSORT_E_BAD_PROOF,
              "signature entry %llu: the terms of entries 1..%llu are not the ones it signs", seqno,
              (unsigned long long)sig.tree_size);
    CS_TRY_CTX(cs_ledger_sig_verify(&sig, n->service_cert, (int64_t)time(NULL), NULL),
               "signature entry %llu", seqno);
    return CONSORT_OK;
}

consort_err node_apply_entry_state(cs_node *n, const cs_ledger_entry *e)
{
    CS_ENSURE(n->has_secret, CONSORT_E_STATE, "no ledger secret");
    CS_ENSURE(e->seqno == cs_kv_last_seqno(n->kv) + 1, CONSORT_E_STATE,
              "entry %llu does not follow the store's %llu", (unsigned long long)e->seqno,
              (unsigned long long)cs_kv_last_seqno(n->kv));
    cs_buf priv;
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    consort_err rc = cs_ledger_entry_open(e, &n->keys, &priv);
    if (rc == CONSORT_OK && e->kind == CS_LEDGER_KIND_SIGNATURE) {
        uint8_t state[CS_KV_STATE_DIGEST_LEN];
        rc = node_state_digest(n, n->kv, state);
        if (rc == CONSORT_OK)
            rc = node_check_signature(n, e, n->tree, state, &n->idx);
    }
    if (rc == CONSORT_OK)
        rc = cs_kv_apply(n->kv, e->seqno, e->public_ws, cs_buf_slice(&priv));
    cs_buf_cleanup(&priv);
    CS_TRY_CTX(rc, "entry %llu", (unsigned long long)e->seqno);
    uint8_t leaf[CS_MERKLE_HASH_LEN];
    cs_ledger_leaf_hash(e, leaf);
    rc = cs_merkle_append_hash(n->tree, leaf);
    if (rc != CONSORT_OK) {
        if (cs_kv_rollback(n->kv, e->seqno - 1) != CONSORT_OK)
            node_fail(n, CONSORT_E_STATE, "store rollback");
        return rc;
    }
    return CONSORT_OK;
}

consort_err node_note_applied(cs_node *n, const cs_ledger_entry *e)
{
    bool sig = e->kind == CS_LEDGER_KIND_SIGNATURE;
    CS_TRY(node_index_add(&n->idx, e->seqno, e->term, sig, e->raw.len, n->cfg.chunk_size));
    if (sig) {
        CS_TRY(cs_buf_set(&n->last_sig, e->raw));
        n->applied_sig = e->seqno;
        if (e->seqno > n->last_sig_seqno)
            n->last_sig_seqno = e->seqno;
        n->m.signatures++;
        /* undo data is kept back to the last signature entry: snapshots
         * encode the store as of that point (node_snapshot_make.c) */
        cs_kv_compact(n->kv, e->seqno);
    }
    n->applied = e->seqno;
    n->applied_term = e->term;
    n->m.entries_applied++;
    if (sig && n->genesis.len > 0 && node_genesis_signed(n, e->seqno) != CONSORT_OK)
        cs_log_error(NODE_LOG, "node %s: sealing after genesis: %s (retried at the next signature)",
                     n->node_id, consort_errmsg());
    if (e->kind == CS_LEDGER_KIND_INTERNAL) {
        node_platform_refresh_policy(n);
        node_check_open(n);
    }
    return CONSORT_OK;
}

consort_err node_open_ledger(cs_node *n, uint64_t start)
{
    cs_ledger_writer_free(n->ledger);
    n->ledger = NULL;
    const cs_ledger_writer_opts o = {.chunk_size = (size_t)n->cfg.chunk_size, .start_seqno = start};
    CS_TRY_CTX(cs_ledger_writer_open(n->ledger_dir, &o, &n->ledger), "ledger %s", n->ledger_dir);
    return CONSORT_OK;
}

/* The chunks of the ledger on disk (none: *count 0). */
static consort_err ledger_chunks(cs_node *n, cs_ledger_chunk **chunks, size_t *count)
{
    *chunks = NULL;
    *count = 0;
    consort_err rc = cs_ledger_chunks_list(n->ledger_dir, chunks, count);
    return rc == CONSORT_E_NOT_FOUND ? CONSORT_OK : rc;
}

/*
 * The seqno of the last signature entry in the .open chunk `name`, from the
 * frame headers alone (0 if it holds none). Nothing here is trusted: the
 * replay authenticates every entry, this only says where the tail starts.
 */
static consort_err open_chunk_last_sig(cs_node *n, const char *name, uint64_t *out)
{
    char path[CS_NODE_PATH_MAX + CS_LEDGER_NAME_MAX + 2];
    CS_TRY(cs_path_join(path, sizeof path, n->ledger_dir, name));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CS_ENSURE(fd >= 0, cs_errno_code(errno), "%s: %s", path, strerror(errno));
    *out = 0;
    uint64_t off = 0;
    for (;;) {
        uint8_t h[4 + 24]; /* frame length, then magic .. seqno */
        if (pread(fd, h, sizeof h, (off_t)off) != (ssize_t)sizeof h)
            break;
        uint64_t len = (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 8 | h[3];
        if (len < CS_LEDGER_ENTRY_MIN || len > CS_LEDGER_ENTRY_MAX)
            break; /* the replay reports it */
        uint64_t seqno = 0;
        for (int i = 0; i < 8; i++)
            seqno = seqno << 8 | h[4 + 16 + i];
        if (h[4 + 5] == CS_LEDGER_KIND_SIGNATURE)
            *out = seqno;
        off += 4 + len;
    }
    close(fd);
    return CONSORT_OK;
}

/* Where the unsigned tail starts: entries after *last_sig are not replayed. */
static consort_err find_last_sig(cs_node *n, uint64_t base, uint64_t *last_sig)
{
    cs_ledger_chunk *chunks;
    size_t count;
    CS_TRY(ledger_chunks(n, &chunks, &count));
    *last_sig = base; /* the snapshot's signature entry (0: none) */
    consort_err rc = CONSORT_OK;
    if (count > 0) {
        const cs_ledger_chunk *last = &chunks[count - 1];
        if (last->committed) /* a committed chunk ends with a signature entry */
            *last_sig = last->last;
        else {
            uint64_t in_open = 0;
            rc = open_chunk_last_sig(n, last->name, &in_open);
            if (in_open != 0)
                *last_sig = in_open;
            else if (count > 1)
                *last_sig = chunks[count - 2].last;
        }
    }
    cs_free(chunks);
    return rc;
}

/* Authenticates an entry of the unsigned tail without applying it. */
static consort_err check_tail_entry(cs_node *n, const cs_ledger_entry *e)
{
    cs_buf priv;
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    consort_err rc = cs_ledger_entry_open(e, &n->keys, &priv);
    cs_buf_cleanup(&priv);
    return rc;
}

static consort_err replay(cs_node *n, uint64_t last_sig, uint64_t *tail)
{
    cs_ledger_reader *r;
    CS_TRY_CTX(cs_ledger_reader_open(n->ledger_dir, &r), "ledger %s", n->ledger_dir);
    consort_err rc = CONSORT_OK;
    uint64_t count = 0, expect = n->applied + 1;
    *tail = 0;
    for (;;) {
        cs_ledger_record rec;
        bool done = false;
        rc = cs_ledger_reader_next(r, &rec, &done);
        if (rc != CONSORT_OK || done)
            break;
        const cs_ledger_entry *e = &rec.entry;
        if (e->seqno != expect) {
            rc = cs_fail(CONSORT_E_CORRUPT, "%s offset %llu: entry %llu where %llu was expected",
                         rec.file, (unsigned long long)rec.offset, (unsigned long long)e->seqno,
                         (unsigned long long)expect);
            break;
        }
        expect++;
        if (e->seqno > last_sig) {
            rc = check_tail_entry(n, e);
            (*tail)++;
        } else {
            rc = node_apply_entry_state(n, e);
            if (rc == CONSORT_OK)
                rc = node_note_applied(n, e);
            count++;
        }
        if (rc == CONSORT_E_BAD_TAG || rc == CONSORT_E_BAD_PROOF)
            rc = cs_err_context(CONSORT_E_CORRUPT,
                                "ledger %s offset %llu: entry %llu is not authentic (forged, "
                                "altered or not this service's)",
                                rec.file, (unsigned long long)rec.offset,
                                (unsigned long long)e->seqno);
        else if (rc != CONSORT_OK)
            rc = cs_err_context(rc == CONSORT_E_NOMEM ? rc : CONSORT_E_CORRUPT,
                                "ledger %s offset %llu: entry %llu", rec.file,
                                (unsigned long long)rec.offset, (unsigned long long)e->seqno);
        if (rc != CONSORT_OK)
            break;
    }
    cs_ledger_reader_free(r);
    CS_TRY(rc);
    if (count > 0)
        cs_log_info(NODE_LOG, "node %s: recovered %llu entries from the ledger (last seqno %llu)",
                    n->node_id, (unsigned long long)count, (unsigned long long)n->applied);
    return CONSORT_OK;
}

consort_err node_recover(cs_node *n)
{
    CS_TRY(cs_mkdir_p(n->ledger_dir, 0700));
    CS_TRY(cs_mkdir_p(n->snapshot_dir, 0700));
    cs_ledger_chunk *chunks;
    size_t count;
    CS_TRY(ledger_chunks(n, &chunks, &count));
    uint64_t first = count > 0 ? chunks[0].first : 0;
    cs_free(chunks);
    uint64_t snap = 0;
    if (first != 1) {
        /* the ledger starts after a snapshot (or is empty: maybe one was installed) */
        consort_err rc = node_snapshot_load_latest(n, &snap);
        if (rc == CONSORT_E_NOT_FOUND && first == 0)
            snap = 0;
        else
            CS_TRY_CTX(rc, "ledger starting at seqno %llu", (unsigned long long)first);
        CS_ENSURE(first == 0 || first == n->applied + 1, CONSORT_E_CORRUPT,
                  "ledger starts at seqno %llu but the latest snapshot reaches %llu",
                  (unsigned long long)first, (unsigned long long)n->applied);
    }
    if (snap == 0)
        node_index_reset(&n->idx, 1);
    CS_TRY(node_open_ledger(n, n->applied + 1));
    uint64_t last_sig = 0, tail = 0;
    CS_TRY(find_last_sig(n, n->applied_sig, &last_sig));
    CS_TRY(replay(n, last_sig, &tail));
    CS_ENSURE(n->applied_sig >= n->hwm, CONSORT_E_CORRUPT,
              "the ledger's last signature entry is %llu, below the sealed high-water mark "
              "%llu: the ledger was rolled back or truncated",
              (unsigned long long)n->applied_sig, (unsigned long long)n->hwm);
    if (tail > 0) {
        cs_log_warn(NODE_LOG,
                    "node %s: %llu ledger entries after the last signature entry %llu are not "
                    "applied: they come back once the service confirms them",
                    n->node_id, (unsigned long long)tail, (unsigned long long)n->applied);
        CS_TRY_CTX(cs_ledger_writer_truncate(n->ledger, n->applied), "cutting the unsigned tail");
    }
    uint64_t last = cs_ledger_writer_last_seqno(n->ledger);
    CS_ENSURE(last == 0 || last == n->applied, CONSORT_E_CORRUPT,
              "ledger writer ends at %llu, reader at %llu", (unsigned long long)last,
              (unsigned long long)n->applied);
    n->next_seqno = n->applied + 1;
    node_platform_refresh_policy(n);
    return CONSORT_OK;
}
