/*
 * Making snapshots (format: replica_snapshot.c). libraft calls
 * node_replica_snapshot_begin on the loop, _seal on its threadpool and _end
 * on the loop again (consensus/fsm.h, "Asynchronous
 * snapshots").
 */
#include "node/replica_priv.h"
#include "store/ledger_writer.h"

#include "base/alloc.h"
#include "base/cbor.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <stdio.h>
#include <uv.h>
#include <string.h>

/* The term runs of entries 1 .. seqno. */
static consort_err write_terms(const replica_index *x, uint64_t seqno, cs_buf *p)
{
    size_t count = 0;
    while (count < x->term_count && x->terms[count].first_seqno <= seqno)
        count++;
    CS_TRY(cs_cbor_write_array(p, count));
    for (size_t i = 0; i < count; i++) {
        CS_TRY(cs_cbor_write_array(p, 2));
        CS_TRY(cs_cbor_write_uint(p, x->terms[i].first_seqno));
        CS_TRY(cs_cbor_write_uint(p, x->terms[i].term));
    }
    return CONSORT_OK;
}

/* The committed entries after the checkpoint, from the (synced) ledger. */
static consort_err write_tail(const node_replica *r, uint64_t from, uint64_t to, cs_buf *p)
{
    CS_TRY(cs_cbor_write_array(p, (size_t)(to - from + 1)));
    cs_buf entry;
    cs_buf_init(&entry, CS_LEDGER_ENTRY_MAX);
    consort_err rc = CONSORT_OK;
    for (uint64_t seqno = from; seqno <= to; seqno++) {
        CS_TRY_GOTO(rc, replica_index_read_entry(&r->idx, r->ledger_dir, seqno, &entry), done);
        CS_TRY_GOTO(rc, cs_cbor_write_bytes(p, cs_buf_slice(&entry)), done);
    }
done:
    cs_buf_cleanup(&entry);
    return rc;
}

/* The snapshot's plaintext (replica_snapshot.c) up to its store: checkpoint
 * `sig` (the last signature entry applied), its term, the terms, the peaks
 * of the tree of the entries before it (the tree `sig` signs), the
 * signature entry (`last_sig`). Reads the tree: on the loop, or frozen. */
static consort_err encode_head(const node_replica *r, uint64_t sig, cs_slice last_sig, cs_buf *p)
{
    uint8_t peaks[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN];
    size_t n;
    CS_TRY(cs_merkle_peaks(r->tree, sig - 1, peaks[0], &n));
    CS_TRY(cs_cbor_write_map(p, 7));
    CS_TRY(cs_cbor_write_cstr(p, "seqno"));
    CS_TRY(cs_cbor_write_uint(p, sig));
    CS_TRY(cs_cbor_write_cstr(p, "term"));
    CS_TRY(cs_cbor_write_uint(p, replica_index_term(&r->idx, sig)));
    CS_TRY(cs_cbor_write_cstr(p, "terms"));
    CS_TRY(write_terms(&r->idx, sig, p));
    CS_TRY(cs_cbor_write_cstr(p, "peaks"));
    CS_TRY(cs_cbor_write_bytes(p, CS_SLICE(peaks[0], n * CS_MERKLE_HASH_LEN)));
    CS_TRY(cs_cbor_write_cstr(p, "sig"));
    return cs_cbor_write_bytes(p, last_sig);
}

/* The store part: "kv" and the encoded store (`pin`: from that view, else
 * the replica's store as of `sig`). */
static consort_err encode_kv(const node_replica *r, cs_kv_pinned *pin, uint64_t sig, cs_buf *p)
{
    cs_buf kv;
    cs_buf_init_secret(&kv, CS_FSM_SNAPSHOT_MAX);
    consort_err rc =
        pin != NULL ? cs_kv_pinned_encode(pin, &kv) : cs_kv_snapshot_at(r->kv, sig, &kv);
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_cstr(p, "kv");
    if (rc == CONSORT_OK)
        rc = cs_cbor_write_bytes(p, cs_buf_slice(&kv));
    cs_buf_cleanup(&kv);
    return rc;
}

/* The last part: "tail" and the committed entries sig + 1 .. applied. */
static consort_err encode_tail(const node_replica *r, uint64_t sig, uint64_t applied, cs_buf *p)
{
    CS_TRY(cs_cbor_write_cstr(p, "tail"));
    return write_tail(r, sig + 1, applied, p);
}

/* The whole plaintext, from the replica's state as it is. */
static consort_err encode_plain(const node_replica *r, uint64_t sig, uint64_t applied, cs_buf *p)
{
    CS_TRY(encode_head(r, sig, cs_buf_slice(&r->last_sig), p));
    CS_TRY(encode_kv(r, NULL, sig, p));
    return encode_tail(r, sig, applied, p);
}

/*
 * One snapshot being made (consensus/fsm.h "Asynchronous snapshots"). A
 * leader may execute writes at any time, so its job takes on the loop what
 * the worker cannot read while writes go on: the ledger fsync, the head
 * (the tree's peaks, at most 64 hashes), the tail
 * entries and a pinned view of its store (store/kv.h cs_kv_pin_at:
 * a reference per hash-table chunk, O(chunks), no record touched); the
 * worker encodes the store from the view and seals it all, so the loop
 * never encodes a whole store. Any other node changes its store, tree, indexes and ledger
 * only by applying committed entries, which the consensus adapter defers
 * while the job is `frozen`: the worker then reads them directly (ledger
 * fsync, encoding and sealing all off the loop). Raft does not install a
 * snapshot while it takes one.
 *
 * The checkpoint is the last signature entry applied (seqno `sig`): the
 * store is encoded as of it (cs_kv_snapshot_at, from the undo data kept
 * back to it, so a leader's pending writes are left out too), and the
 * committed entries after it, up to `seqno`, travel as the tail.
 */
typedef struct snap_job {
    node_replica *r;
    bool frozen;
    uint64_t seqno;     /* the last applied entry */
    uint64_t sig;       /* the checkpoint: the last signature entry applied */
    uint64_t log_bytes; /* entry bytes applied since the previous snapshot, at begin */
    uint8_t key[32];
    cs_buf plain;                  /* not frozen: the head, encoded on the loop */
    cs_kv_pinned *pin;             /* not frozen: the store as of `sig` */
    cs_buf tail;                   /* not frozen: "tail", encoded on the loop */
    size_t out_len;                /* bytes produced */
    double loop_ms, pin_ms;        /* not frozen: job_begin's time on the loop, the view's share */
    cs_ledger_sync sync;           /* not frozen: the ledger's fsync, run by the worker */
    cs_ledger_writer *sync_writer; /* whose: its end is owed to that writer only */
    bool synced;                   /* not frozen: sync begun, its end owed */
    char why[CS_ERRMSG_MAX];       /* the worker's error message */
    bool copy;                     /* save a copy for restarts (replica_copies.c) */
    bool copied;                   /* the worker saved it as .part */
    char copy_dir[CS_NODE_PATH_MAX];
    char copy_why[CS_ERRMSG_MAX]; /* why it could not */
} snap_job;

static void job_free(snap_job *j)
{
    if (j == NULL)
        return;
    cs_wipe(j->key, sizeof j->key);
    cs_buf_cleanup(&j->plain);
    cs_buf_cleanup(&j->tail);
    cs_kv_pinned_free(j->pin); /* on the loop: job_end or job_begin */
    if (j->synced)
        cs_ledger_sync_abandon(&j->sync); /* begun but not ended (job_begin failed) */
    cs_free(j);
}

/* Loop: the checks, the key, and for an unfrozen job the ledger fsync and
 * the plaintext. */
static consort_err job_begin(node_replica *r, bool may_freeze, bool leader, bool leader_busy,
                             snap_job **out)
{
    CS_ENSURE(r->applied_sig > 0, CONSORT_E_BUSY, "snapshot: no signature entry applied yet");
    /* A leader encodes on the loop (its store changes under writes at any
     * time): only when no write is pending, so that a busy leader never
     * stalls its writes for a snapshot; followers do it off the loop. */
    CS_ENSURE(!leader || (!leader_busy && cs_kv_last_seqno(r->kv) == r->applied), CONSORT_E_BUSY,
              "snapshot: the leader has uncommitted entries pending");
    snap_job *j = cs_calloc(1, sizeof *j);
    CS_ENSURE(j != NULL, CONSORT_E_NOMEM, "snapshot job");
    j->r = r;
    j->frozen = may_freeze && !leader;
    j->seqno = r->applied;
    j->sig = r->applied_sig;
    j->log_bytes = r->stats.entry_bytes_since_snapshot;
    cs_buf_init_secret(&j->plain, CS_FSM_SNAPSHOT_MAX);
    cs_buf_init_secret(&j->tail, CS_FSM_SNAPSHOT_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_ledger_keys_derive(&r->keys, REPLICA_SNAP_INFO, j->key), fail);
    r->snapshot_frozen = j->frozen; /* until job_end (replica_sync.c keeps off the ledger) */
    if (!j->frozen) {
        uint64_t t0 = uv_hrtime();
        /* the frames written now, their fsync on the worker */
        CS_TRY_CTX_GOTO(rc, cs_ledger_writer_sync_begin(r->ledger, &j->sync), fail, "ledger sync");
        j->synced = true;
        j->sync_writer = r->ledger;
        CS_TRY_GOTO(rc, encode_head(r, j->sig, cs_buf_slice(&r->last_sig), &j->plain), fail);
        uint64_t t1 = uv_hrtime();
        CS_TRY_GOTO(rc, cs_kv_pin_at(r->kv, j->sig, &j->pin), fail);
        uint64_t t2 = uv_hrtime();
        CS_TRY_GOTO(rc, encode_tail(r, j->sig, j->seqno, &j->tail), fail);
        j->loop_ms = (double)(uv_hrtime() - t0) / 1e6;
        j->pin_ms = (double)(t2 - t1) / 1e6;
    }
    *out = j;
    return CONSORT_OK;
fail:
    r->snapshot_frozen = false;
    job_free(j);
    return cs_err_context(rc, "snapshot");
}

/* Any thread (fsm.h snapshot_make): the job, and n's state only if frozen.
 * The ledger is durable up to the snapshot's seqno before the bytes exist. */
static consort_err job_make(snap_job *j, cs_buf *out)
{
    consort_err rc;
    if (j->frozen) {
        CS_TRY_CTX_GOTO(rc, cs_ledger_writer_sync(j->r->ledger), done, "ledger sync");
        CS_TRY_GOTO(rc, encode_plain(j->r, j->sig, j->seqno, &j->plain), done);
    } else {
        /* the view and the parts made on the loop: the replica not read */
        cs_ledger_sync_run(&j->sync);
        CS_ENSURE_GOTO(rc, j->sync.err == 0, done, cs_errno_code(j->sync.err),
                       "ledger sync: fsync of %s: %s", j->sync.failed, strerror(j->sync.err));
        CS_TRY_GOTO(rc, encode_kv(NULL, j->pin, j->sig, &j->plain), done);
        CS_TRY_GOTO(rc, cs_buf_append_slice(&j->plain, cs_buf_slice(&j->tail)), done);
    }
    uint8_t nonce[CS_AEAD_NONCE_LEN];
    CS_TRY_GOTO(rc, cs_random(nonce, sizeof nonce), done);
    CS_TRY_GOTO(rc, cs_buf_append(out, REPLICA_SNAP_MAGIC, 8), done);
    CS_TRY_GOTO(rc, cs_buf_append(out, nonce, sizeof nonce), done);
    rc =
        cs_aead_seal(j->key, nonce, CS_SLICE_LIT(REPLICA_SNAP_MAGIC), cs_buf_slice(&j->plain), out);
    if (rc == CONSORT_OK && j->copy) {
        j->copied = replica_copy_write_part(j->copy_dir, j->sig, cs_buf_slice(out)) == CONSORT_OK;
        if (!j->copied)
            snprintf(j->copy_why, sizeof j->copy_why, "%s", consort_errmsg());
    }
done:
    cs_buf_cleanup(&j->plain); /* wiped: it is secret */
    if (rc != CONSORT_OK) {
        rc = cs_err_context(rc, "snapshot at %llu", (unsigned long long)j->seqno);
        snprintf(j->why, sizeof j->why, "%s", consort_errmsg());
        return rc;
    }
    j->out_len = out->len;
    return CONSORT_OK;
}

/* Loop: counts and logs the outcome, frees the job. */
static void job_end(node_replica *r, snap_job *j, consort_err rc)
{
    r->snapshot_frozen = false;
    replica_sync_thaw(r);
    if (j->synced) {
        /* a failed fsync breaks the writer (the worker then made nothing);
         * the writer replaced meanwhile (a restore) is not this one's */
        j->synced = false;
        consort_err s = CONSORT_OK;
        if (r->ledger != NULL && j->sync_writer == r->ledger)
            s = cs_ledger_writer_sync_end(r->ledger, &j->sync);
        else
            cs_ledger_sync_abandon(&j->sync);
        if (s != CONSORT_OK && rc == CONSORT_OK)
            rc = s;
        if (s != CONSORT_OK)
            replica_fatal(r, "ledger fsync failed");
    }
    if (rc == CONSORT_OK) {
        r->stats.snapshots_taken++;
        r->stats.last_snapshot_bytes = j->out_len;
        r->stats.last_snapshot_log_bytes = j->log_bytes;
        r->stats.entry_bytes_since_snapshot = 0;
        r->stats.entries_since_snapshot = 0;
        r->stats.last_snapshot_ns = uv_hrtime();
        cs_log_info(REPLICA_LOG,
                    "node %s: snapshot at seqno %llu (checkpoint %llu, %zu bytes; %s %.1f ms on "
                    "the loop, %.1f ms of it pinning the store's view)",
                    r->opts.node_id, (unsigned long long)j->seqno, (unsigned long long)j->sig,
                    j->out_len, j->frozen ? "frozen, off the loop:" : "begun in", j->loop_ms,
                    j->pin_ms);
        /* the ledger was synced up to the checkpoint before the snapshot was made */
        if (r->ev.durable != NULL)
            r->ev.durable(r->ev.ctx, j->sig);
    } else if (j->why[0] != '\0') {
        cs_log_warn(REPLICA_LOG, "node %s: %s", r->opts.node_id, j->why);
    }
    if (j->copied)
        replica_copy_settle(r, j->sig, rc == CONSORT_OK);
    else if (j->copy_why[0] != '\0')
        cs_log_warn(REPLICA_LOG, "node %s: no copy of the snapshot at %llu for restarts: %s",
                    r->opts.node_id, (unsigned long long)j->sig, j->copy_why);
    job_free(j);
}

consort_err node_replica_snapshot_begin(node_replica *r, bool leader, bool leader_busy, void **job,
                                        bool *defer)
{
    snap_job *j;
    CS_TRY(job_begin(r, true, leader, leader_busy, &j));
    /* raft stores this one: a copy is kept once it has (job_end) */
    j->copy = true;
    snprintf(j->copy_dir, sizeof j->copy_dir, "%s", r->snapshot_dir);
    *job = j;
    *defer = j->frozen;
    return CONSORT_OK;
}

consort_err node_replica_snapshot_seal(void *job, cs_buf *out)
{
    return job_make(job, out);
}

void node_replica_snapshot_end(node_replica *r, void *job, consort_err rc)
{
    job_end(r, job, rc);
}

consort_err node_replica_snapshot_make(node_replica *r, cs_buf *out)
{
    snap_job *j;
    CS_TRY(job_begin(r, false, false, false, &j));
    consort_err rc = job_make(j, out);
    job_end(r, j, rc);
    return rc;
}
