/*
 * Recovery (replica.h node_replica_recover; docs/operating.md "Start, join, restart"):
 * the store, the Merkle tree and the index are rebuilt from the node's own
 * ledger, and nothing the host wrote is trusted without authentication:
 *
 *   - every entry is authenticated with the ledger secret (its tag over
 *     the whole entry and its commit evidence): a forged, altered,
 *     stripped or re-ordered entry stops the node with an error naming the
 *     entry and its file;
 *   - every signature entry must sign the root of the entries before it,
 *     the store's state after them and their terms;
 *   - entries after the last signature entry (the unsigned tail) are
 *     authenticated but NOT applied: they are cut from the ledger, and come
 *     back only through consensus (raft's log or snapshot), i.e. once the
 *     service confirms them;
 *   - the ledger must reach the sealed high-water mark: one that ends below
 *     it was rolled back.
 *
 * A ledger that starts after seqno 1 (the node was given a snapshot) is
 * preceded by the snapshot saved in snapshots/ at that point. A restart
 * starts from the latest copy of a snapshot the node made
 * (replica_copies.c) after its ledger's first entry that the ledger's
 * signed part reaches, if one installs: only the entries after its
 * checkpoint S are replayed (the ones before in the chunk holding S are
 * looked at to continue the index's mirror of the chunk, and S must be the
 * copy's entry), and the entries from the ledger's first to S are read
 * back afterwards, off the loop (replica_rebuild.c). Otherwise the ledger
 * is replayed from its start (after the snapshot it starts after).
 */
#include "node/replica_priv.h"
#include "store/ledger_frames.h"
#include "store/ledger_writer.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* The chunks of the ledger on disk (none: *count 0). */
static consort_err ledger_chunks(node_replica *r, cs_ledger_chunk **chunks, size_t *count)
{
    *chunks = NULL;
    *count = 0;
    consort_err rc = cs_ledger_chunks_list(r->ledger_dir, chunks, count);
    return rc == CONSORT_E_NOT_FOUND ? CONSORT_OK : rc;
}

/*
 * The seqno of the last signature entry in the .open chunk `name`, from the
 * frame headers alone (0 if it holds none). Nothing here is trusted: the
 * replay authenticates every entry, this only says where the tail starts.
 */
static consort_err open_chunk_last_sig(node_replica *r, const char *name, uint64_t *out)
{
    char path[CS_NODE_PATH_MAX + CS_LEDGER_NAME_MAX + 2];
    CS_TRY(cs_path_join(path, sizeof path, r->ledger_dir, name));
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
static consort_err find_last_sig(node_replica *r, uint64_t base, uint64_t *last_sig)
{
    cs_ledger_chunk *chunks;
    size_t count;
    CS_TRY(ledger_chunks(r, &chunks, &count));
    *last_sig = base; /* the snapshot's signature entry (0: none) */
    consort_err rc = CONSORT_OK;
    if (count > 0) {
        const cs_ledger_chunk *last = &chunks[count - 1];
        if (last->committed) /* a committed chunk ends with a signature entry */
            *last_sig = last->last;
        else {
            uint64_t in_open = 0;
            rc = open_chunk_last_sig(r, last->name, &in_open);
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
static consort_err check_tail_entry(node_replica *r, const cs_ledger_entry *e)
{
    cs_buf priv;
    cs_buf_init_secret(&priv, CS_LEDGER_WS_MAX);
    consort_err rc = replica_entry_authentic(e, &r->keys, &priv);
    cs_buf_cleanup(&priv);
    return rc;
}

/* An entry up to the last signature: applied like a committed one. */
static consort_err apply_signed(node_replica *r, const cs_ledger_entry *e)
{
    CS_TRY(replica_apply_state(r, e));
    return replica_note_applied(r, e);
}

/* Where the replay of a restart from the node's own snapshot at `resume`
 * starts: entries up to it are only looked at, to mirror the chunk it
 * ends (replica_index.c) and check the checkpoint entry is the
 * snapshot's. */
typedef struct resume_point {
    uint64_t seqno;       /* 0: the replay applies every entry */
    uint64_t chunk_first; /* the chunk being read */
    const char *file;     /* its name, while the reader lives */
    uint64_t chunk_bytes; /* after the entry looked at last */
    uint64_t next;        /* the entry expected next (0: any, none read yet) */
    bool closing, seen, mirrored;
    replica_early early; /* the chunk's entries up to the checkpoint */
} resume_point;

/* Authenticates an entry before the checkpoint in its chunk, and keeps
 * what the read-back needs of it. */
static consort_err keep_early(node_replica *r, resume_point *p, const cs_ledger_entry *e)
{
    CS_TRY(check_tail_entry(r, e));
    replica_early *x = &p->early;
    if (x->count == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 256;
        replica_early_entry *n = cs_realloc(x->items, cap * sizeof *n);
        CS_ENSURE(n != NULL, CONSORT_E_NOMEM, "restart: %zu entries", cap);
        x->items = n;
        x->cap = cap;
    }
    replica_early_entry *it = &x->items[x->count++];
    it->term = e->term;
    it->len = (uint32_t)e->raw.len;
    it->signature = e->kind == CS_LEDGER_KIND_SIGNATURE;
    cs_ledger_leaf_hash(e, it->leaf);
    return CONSORT_OK;
}

static consort_err look_at(node_replica *r, resume_point *p, const cs_ledger_record *rec)
{
    const cs_ledger_entry *e = &rec->entry;
    CS_ENSURE(p->next == 0 || e->seqno == p->next, CONSORT_E_CORRUPT,
              "%s offset %llu: entry %llu where %llu was expected", rec->file,
              (unsigned long long)rec->offset, (unsigned long long)e->seqno,
              (unsigned long long)p->next);
    p->next = e->seqno + 1;
    if (p->file == NULL || strcmp(p->file, rec->file) != 0) {
        p->file = rec->file;
        p->chunk_first = e->seqno;
        p->early.first = e->seqno;
        p->early.count = 0;
    }
    p->chunk_bytes = rec->offset + 4 + e->raw.len;
    p->closing = e->kind == CS_LEDGER_KIND_SIGNATURE && p->chunk_bytes >= r->opts.chunk_size;
    CS_TRY(keep_early(r, p, e));
    if (e->seqno < p->seqno)
        return CONSORT_OK;
    p->seen = true;
    bool same;
    CS_TRY(replica_leaf_matches(r, e, &same));
    CS_ENSURE(same, CONSORT_E_BAD_PROOF, "entry %llu is not the one the snapshot copy checkpoints",
              (unsigned long long)e->seqno);
    return CONSORT_OK;
}

/* The first entry after the checkpoint: the index continues its chunk. */
static consort_err mirror(node_replica *r, resume_point *p, const char *file)
{
    if (p->seqno == 0 || p->mirrored)
        return CONSORT_OK;
    p->mirrored = true;
    CS_ENSURE(p->seen, CONSORT_E_CORRUPT,
              "the ledger does not hold entry %llu, the snapshot copy's checkpoint",
              (unsigned long long)p->seqno);
    const bool same_chunk = file == NULL || (p->file != NULL && strcmp(p->file, file) == 0);
    return replica_index_resume(&r->idx, p->chunk_first, p->chunk_bytes, p->closing || !same_chunk);
}

static consort_err replay(node_replica *r, uint64_t last_sig, resume_point *from, uint64_t *tail)
{
    cs_ledger_reader *rd;
    consort_err rc = CONSORT_OK;
    if (from->seqno == 0) {
        CS_TRY_CTX(cs_ledger_reader_open(r->ledger_dir, &rd), "ledger %s", r->ledger_dir);
    } else {
        /* the chunks from the one holding the checkpoint */
        cs_ledger_chunk *chunks;
        size_t count;
        CS_TRY(ledger_chunks(r, &chunks, &count));
        size_t k = 0;
        while (k + 1 < count && chunks[k + 1].first <= from->seqno)
            k++;
        cs_free(chunks);
        CS_TRY_CTX(cs_ledger_reader_open_tail(r->ledger_dir, count - k, &rd), "ledger %s",
                   r->ledger_dir);
    }
    uint64_t count = 0, expect = r->applied + 1;
    *tail = 0;
    for (;;) {
        cs_ledger_record rec;
        bool done = false;
        rc = cs_ledger_reader_next(rd, &rec, &done);
        if (rc != CONSORT_OK || done)
            break;
        const cs_ledger_entry *e = &rec.entry;
        if (e->seqno <= from->seqno && !from->mirrored) {
            rc = look_at(r, from, &rec);
            if (rc == CONSORT_OK)
                continue;
        } else if (e->seqno != expect) {
            rc = cs_fail(CONSORT_E_CORRUPT, "%s offset %llu: entry %llu where %llu was expected",
                         rec.file, (unsigned long long)rec.offset, (unsigned long long)e->seqno,
                         (unsigned long long)expect);
            break;
        } else {
            expect++;
            rc = mirror(r, from, rec.file);
            if (rc == CONSORT_OK && e->seqno > last_sig) {
                rc = check_tail_entry(r, e);
                (*tail)++;
            } else if (rc == CONSORT_OK) {
                rc = apply_signed(r, e);
                count++;
            }
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
    if (rc == CONSORT_OK)
        rc = mirror(r, from, NULL);
    cs_ledger_reader_free(rd);
    CS_TRY(rc);
    if (count > 0)
        cs_log_info(REPLICA_LOG,
                    "node %s: recovered %llu entries from the ledger (last seqno %llu)",
                    r->opts.node_id, (unsigned long long)count, (unsigned long long)r->applied);
    return CONSORT_OK;
}

/* The checkpoint to start from: the latest copy this node made after the
 * ledger's first entry that the ledger's signed part reaches, if one
 * installs; else for a ledger after seqno 1 the copy it starts after (it
 * must exist), for one from seqno 1 none (0: replay it all). */
static consort_err load_checkpoint(node_replica *r, uint64_t first, uint64_t *snap)
{
    *snap = 0;
    uint64_t base = 0; /* the copy the ledger starts after: a read-back needs it too */
    if (first == 0) {  /* no ledger yet: maybe a snapshot was installed */
        consort_err rc = replica_copy_latest(r, 1, UINT64_MAX, &base);
        if (rc == CONSORT_E_NOT_FOUND)
            return CONSORT_OK;
        CS_TRY(rc);
    } else if (first > 1) {
        CS_TRY_CTX(replica_copy_latest(r, first - 1, first - 1, &base),
                   "ledger starting at seqno %llu", (unsigned long long)first);
    }
    uint64_t last_sig = 0, s = 0;
    if (first >= 1) {
        CS_TRY(find_last_sig(r, 0, &last_sig));
        if (last_sig > first && replica_copy_latest(r, first + 1, last_sig, &s) == CONSORT_OK) {
            consort_err rc = replica_snapshot_load(r, s);
            if (rc == CONSORT_OK) {
                *snap = s;
                return CONSORT_OK;
            }
            /* nothing was installed: the ledger is replayed from its start */
            cs_log_warn(REPLICA_LOG, "node %s: not restarting from its snapshot copy: %s",
                        r->opts.node_id, consort_errmsg());
        }
    }
    if (base == 0)
        return CONSORT_OK; /* a ledger from seqno 1, replayed whole */
    CS_TRY_CTX(replica_snapshot_load(r, base), "ledger starting at seqno %llu",
               (unsigned long long)first);
    *snap = base;
    return CONSORT_OK;
}

/* From the checkpoint on: the ledger replayed (from `from`'s checkpoint, or
 * all of it), checked against the mark, its unsigned tail cut. */
static consort_err replay_from(node_replica *r, uint64_t hwm, resume_point *from)
{
    CS_TRY(replica_open_ledger(r, r->applied + 1));
    uint64_t last_sig = 0, tail = 0;
    CS_TRY(find_last_sig(r, r->applied_sig, &last_sig));
    CS_TRY(replay(r, last_sig, from, &tail));
    CS_ENSURE(r->applied_sig >= hwm, CONSORT_E_CORRUPT,
              "the ledger's last signature entry is %llu, below the sealed high-water mark "
              "%llu: the ledger was rolled back or truncated",
              (unsigned long long)r->applied_sig, (unsigned long long)hwm);
    if (tail > 0) {
        cs_log_warn(REPLICA_LOG,
                    "node %s: %llu ledger entries after the last signature entry %llu are not "
                    "applied: they come back once the service confirms them",
                    r->opts.node_id, (unsigned long long)tail, (unsigned long long)r->applied);
        CS_TRY_CTX(cs_ledger_writer_truncate(r->ledger, r->applied), "cutting the unsigned tail");
    }
    uint64_t last = cs_ledger_writer_last_seqno(r->ledger);
    CS_ENSURE(last == 0 || last == r->applied, CONSORT_E_CORRUPT,
              "ledger writer ends at %llu, reader at %llu", (unsigned long long)last,
              (unsigned long long)r->applied);
    return CONSORT_OK;
}

consort_err node_replica_recover(node_replica *r, uint64_t hwm)
{
    CS_TRY(cs_mkdir_p(r->ledger_dir, 0700));
    CS_TRY(cs_mkdir_p(r->snapshot_dir, 0700));
    replica_copy_clean(r);
    cs_ledger_chunk *chunks;
    size_t count;
    CS_TRY(ledger_chunks(r, &chunks, &count));
    uint64_t first = count > 0 ? chunks[0].first : 0;
    cs_free(chunks);
    uint64_t snap = 0;
    CS_TRY(load_checkpoint(r, first, &snap));
    if (snap == 0)
        replica_index_reset(&r->idx, 1);
    r->ledger_first = first != 0 ? first : r->applied + 1;
    /* a restart from a copy after the ledger's first entry: the ledger
     * before it is read back later */
    resume_point from = {.seqno = first != 0 && snap > first ? snap : 0};
    consort_err rc = replay_from(r, hwm, &from);
    if (rc == CONSORT_OK && from.seqno != 0)
        rc = replica_rebuild_start(r, from.seqno, &from.early);
    replica_early_cleanup(&from.early);
    return rc;
}
