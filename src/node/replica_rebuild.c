/*
 * Reading back the ledger before a restart's snapshot (replica_priv.h
 * replica_rebuild_start; docs/operating.md "Start, join, restart").
 *
 * A node that restarts from its own snapshot copy at signature entry S
 * serves at once from the snapshot plus the ledger after it, but holds
 * the Merkle tree only as the peaks of entries 1 .. S-1, so it cannot yet
 * prove an older transaction's receipt. A threadpool worker reads entries
 * F .. S from the ledger files (F is 1, or for a node that joined from a
 * snapshot at F - 1, the first entry after it: that snapshot's saved copy
 * gives the tree of entries 1 .. F - 1 as its peaks and its checkpoint's
 * leaf), authenticates each with the ledger secret (the tag over the
 * whole entry), and builds their tree and ledger positions aside. It
 * reads only the committed chunks before the one holding S, which are
 * never written again: the restart itself read and authenticated that
 * chunk's entries up to S (a .open chunk is renamed when its close comes,
 * maybe while the worker runs). Back on the loop, the tree's peaks must be
 * the snapshot's (cs_merkle_fill_base: the root S signs, checked when the
 * copy was installed), so every leaf is bound to what the service signed;
 * only then are they put in place, in a few pointer moves. An entry that
 * is not authentic, a gap, or a root that disagrees stop the node, as
 * they would have stopped a restart that replayed the whole ledger.
 *
 * The worker owns copies of what it needs (directory, secret, chunk size)
 * and never reads the replica. A snapshot installed meanwhile, or the
 * replica freed, lets the work go (it stops at its next entry and frees
 * itself).
 */
#include "node/replica_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

typedef struct replica_rebuild {
    uv_work_t work;
    node_replica *r; /* NULL: let go */
    atomic_bool stop;
    uint64_t first; /* the ledger's first entry: 1, or after the copy `base` */
    uint64_t upto;
    uint64_t chunk_size;
    char dir[CS_NODE_PATH_MAX];
    char base[REPLICA_COPY_PATH_MAX]; /* the copy at first - 1 (first > 1) */
    uint8_t secret[CS_LEDGER_SECRET_LEN];
    replica_early early; /* entries early.first .. upto, read by the restart */
    uint64_t began;      /* uv_hrtime */
    /* the worker's results */
    cs_merkle_tree *tree; /* leaves of entries 1 .. upto - 1, held from first - 1 */
    replica_index idx;    /* entries first .. upto */
    consort_err rc;
    char why[CS_ERRMSG_MAX];
} replica_rebuild;

void replica_early_cleanup(replica_early *x)
{
    cs_free(x->items);
    memset(x, 0, sizeof *x);
}

static void rebuild_free(replica_rebuild *j)
{
    cs_wipe(j->secret, sizeof j->secret);
    replica_early_cleanup(&j->early);
    cs_merkle_free(j->tree);
    replica_index_cleanup(&j->idx);
    cs_free(j);
}

/* Entry `seqno`'s leaf (only those before upto: the tree has upto - 1)
 * and its position. */
static consort_err add(replica_rebuild *j, uint64_t seqno, const replica_early_entry *it)
{
    if (seqno < j->upto)
        CS_TRY(cs_merkle_append_hash(j->tree, it->leaf));
    return replica_index_add(&j->idx, seqno, it->term, it->signature, it->len, j->chunk_size);
}

consort_err replica_entry_authentic(const cs_ledger_entry *e, cs_ledger_keys *keys, cs_buf *scratch)
{
    cs_buf_reset(scratch); /* cs_ledger_entry_open appends */
    return cs_ledger_entry_open(e, keys, scratch);
}

static consort_err read_entry(replica_rebuild *j, cs_ledger_keys *keys, cs_buf *priv,
                              const cs_ledger_record *rec)
{
    const cs_ledger_entry *e = &rec->entry;
    const uint64_t want = j->idx.base + j->idx.offset_count;
    CS_ENSURE(e->seqno == want, CONSORT_E_CORRUPT, "entry %llu where %llu was expected",
              (unsigned long long)e->seqno, (unsigned long long)want);
    consort_err rc = replica_entry_authentic(e, keys, priv);
    CS_ENSURE(rc != CONSORT_E_BAD_TAG && rc != CONSORT_E_BAD_PROOF, CONSORT_E_CORRUPT,
              "entry %llu is not authentic (forged, altered or not this service's)",
              (unsigned long long)e->seqno);
    CS_TRY(rc);
    replica_early_entry it = {.term = e->term,
                              .len = (uint32_t)e->raw.len,
                              .signature = e->kind == CS_LEDGER_KIND_SIGNATURE};
    cs_ledger_leaf_hash(e, it.leaf);
    return add(j, e->seqno, &it);
}

/* The tree of entries 1 .. first - 1 from the snapshot copy the ledger
 * starts after (its peaks, then its checkpoint's leaf). */
static consort_err tree_of_base(replica_rebuild *j, cs_ledger_keys *keys)
{
    cs_buf data, plain;
    cs_buf_init(&data, CS_FSM_SNAPSHOT_MAX);
    cs_buf_init_secret(&plain, CS_FSM_SNAPSHOT_MAX);
    replica_snap s = {0};
    consort_err rc;
    CS_TRY_GOTO(rc, cs_file_read(j->base, &data), out);
    CS_TRY_GOTO(rc, replica_snap_open(keys, cs_buf_slice(&data), &plain, &s), out);
    CS_ENSURE_GOTO(rc, s.seqno == j->first - 1, out, CONSORT_E_CORRUPT,
                   "it holds the checkpoint of seqno %llu", (unsigned long long)s.seqno);
    cs_ledger_entry sig;
    CS_TRY_GOTO(rc, replica_snap_sig(keys, &s, &sig), out);
    rc = replica_snap_tree(&s, &sig, &j->tree);
out:
    cs_buf_cleanup(&data);
    cs_buf_cleanup(&plain);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "%s", j->base);
}

/* Threadpool: entries first .. upto, authenticated, as a tree and an index. */
static consort_err read_back(replica_rebuild *j)
{
    cs_ledger_keys keys;
    cs_ledger_keys_init(&keys, j->secret);
    replica_index_reset(&j->idx, j->first);
    cs_buf priv;
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    cs_ledger_reader *rd = NULL;
    consort_err rc;
    if (j->first > 1)
        CS_TRY_GOTO(rc, tree_of_base(j, &keys), out);
    else
        CS_TRY_GOTO(rc, cs_merkle_new(&j->tree), out);
    CS_TRY_CTX_GOTO(rc, cs_ledger_reader_open(j->dir, &rd), out, "ledger %s", j->dir);
    /* the committed chunks before the one the restart read */
    while (j->idx.base + j->idx.offset_count < j->early.first) {
        CS_ENSURE_GOTO(rc, !atomic_load(&j->stop), out, CONSORT_E_STATE, "let go");
        cs_ledger_record rec;
        bool done = false;
        CS_TRY_GOTO(rc, cs_ledger_reader_next(rd, &rec, &done), out);
        CS_ENSURE_GOTO(rc, !done, out, CONSORT_E_CORRUPT, "the ledger ends at %llu",
                       (unsigned long long)(j->idx.base + j->idx.offset_count - 1));
        rc = read_entry(j, &keys, &priv, &rec);
        if (rc != CONSORT_OK) {
            rc = cs_err_context(rc, "%s offset %llu", rec.file, (unsigned long long)rec.offset);
            goto out;
        }
    }
    for (size_t i = 0; i < j->early.count; i++)
        CS_TRY_GOTO(rc, add(j, j->early.first + i, &j->early.items[i]), out);
out:
    cs_ledger_reader_free(rd);
    cs_buf_cleanup(&priv);
    cs_ledger_keys_cleanup(&keys);
    return rc;
}

static void rebuild_work(uv_work_t *w)
{
    replica_rebuild *j = w->data;
    j->rc = read_back(j);
    if (j->rc != CONSORT_OK)
        snprintf(j->why, sizeof j->why, "%s", consort_errmsg());
}

/* Loop: the leaves and positions put in place, or the node stopped. */
static void rebuild_finish(node_replica *r, replica_rebuild *j)
{
    r->rebuild = NULL;
    consort_err rc = j->rc;
    if (rc == CONSORT_OK) {
        rc = cs_merkle_fill_base(r->tree, j->tree);
        if (rc == CONSORT_OK)
            j->tree = NULL; /* consumed */
        else if (rc == CONSORT_E_BAD_PROOF)
            snprintf(j->why, sizeof j->why,
                     "their root is not the one the snapshot copy's signature entry signs");
        else
            snprintf(j->why, sizeof j->why, "%s", consort_errmsg());
    }
    if (rc == CONSORT_OK) {
        rc = replica_index_prepend(&r->idx, &j->idx);
        if (rc != CONSORT_OK)
            snprintf(j->why, sizeof j->why, "%s", consort_errmsg());
    }
    if (rc != CONSORT_OK) {
        cs_log_error(REPLICA_LOG, "node %s: reading back ledger entries %llu .. %llu: %s",
                     r->opts.node_id, (unsigned long long)j->first, (unsigned long long)j->upto,
                     j->why);
        rebuild_free(j);
        if (r->ev.fatal != NULL) /* replica.h events.fatal */
            r->ev.fatal(r->ev.ctx, "the ledger before its snapshot copy does not check");
        return;
    }
    r->rebuilding_upto = 0;
    cs_log_info(REPLICA_LOG,
                "node %s: read back ledger entries %llu .. %llu in %.1f s: receipts for them are "
                "served again",
                r->opts.node_id, (unsigned long long)j->first, (unsigned long long)j->upto,
                (double)(uv_hrtime() - j->began) / 1e9);
    rebuild_free(j);
}

static void rebuild_done(uv_work_t *w, int status)
{
    replica_rebuild *j = w->data;
    if (j->r == NULL) {
        rebuild_free(j);
        return;
    }
    if (status != 0) {
        j->rc = CONSORT_E_STATE;
        snprintf(j->why, sizeof j->why, "the work was cancelled: %s", uv_strerror(status));
    }
    rebuild_finish(j->r, j);
}

consort_err replica_rebuild_start(node_replica *r, uint64_t upto, replica_early *early)
{
    replica_early mine = *early;
    memset(early, 0, sizeof *early);
    if (r->rebuild != NULL || cs_merkle_first_held(r->tree) != upto - 1 ||
        r->idx.base != upto + 1 || mine.count == 0 || mine.first + mine.count - 1 != upto ||
        r->ledger_first < 1 || r->ledger_first > mine.first) {
        replica_early_cleanup(&mine);
        return cs_fail(CONSORT_E_STATE,
                       "reading back the ledger to %llu: the tree starts at %llu, the index at "
                       "%llu",
                       (unsigned long long)upto, (unsigned long long)cs_merkle_first_held(r->tree),
                       (unsigned long long)r->idx.base);
    }
    replica_rebuild *j = cs_calloc(1, sizeof *j);
    if (j == NULL) {
        replica_early_cleanup(&mine);
        return cs_fail(CONSORT_E_NOMEM, "reading back the ledger");
    }
    j->early = mine;
    j->work.data = j;
    j->r = r;
    atomic_init(&j->stop, false);
    j->first = r->ledger_first;
    j->upto = upto;
    j->chunk_size = r->opts.chunk_size;
    snprintf(j->dir, sizeof j->dir, "%s", r->ledger_dir);
    consort_err rc = j->first > 1 ? replica_copy_path(r->snapshot_dir, j->first - 1, "bin", j->base)
                                  : CONSORT_OK;
    if (rc != CONSORT_OK) {
        rebuild_free(j);
        return cs_err_context(rc, "reading back the ledger");
    }
    memcpy(j->secret, r->secret, sizeof j->secret);
    j->began = uv_hrtime();
    r->rebuild = j;
    r->rebuilding_upto = upto;
    cs_log_info(REPLICA_LOG,
                "node %s: restarted from its snapshot copy at %llu; reading back the ledger "
                "before it",
                r->opts.node_id, (unsigned long long)upto);
    if (r->opts.loop == NULL ||
        uv_queue_work(r->opts.loop, &j->work, rebuild_work, rebuild_done) != 0) {
        rebuild_work(&j->work); /* no threadpool: here */
        rebuild_finish(r, j);
    }
    return CONSORT_OK;
}

void replica_rebuild_detach(node_replica *r)
{
    replica_rebuild *j = r->rebuild;
    if (j == NULL)
        return;
    r->rebuild = NULL;
    r->rebuilding_upto = 0;
    j->r = NULL;
    atomic_store(&j->stop, true); /* it frees itself when done */
}
