#include "consensus/fsm.h"

#include "base/alloc.h"
#include "base/log.h"
#include "consensus/entry.h"

#include <stddef.h>

#define LOG_MOD "raft"

/*
 * The log entry whose payload raft is applying. libraft passes only the
 * payload to raft_fsm->apply; the entry it belongs to is found in the
 * in-memory log (raft.h: a circular buffer whose used slots are [front,
 * back), holding indexes offset+1 onwards). replicationApply() applies index
 * last_applied + 1 and passes &entry->buf, so the lookup is confirmed by
 * pointer identity: a mismatch is reported, never guessed around.
 */
static const struct raft_entry *entry_at(const struct raft_log *l, uint64_t index)
{
    if (l->size == 0 || l->entries == NULL)
        return NULL;
    size_t n = l->back >= l->front ? l->back - l->front : l->size - l->front + l->back;
    if (index <= l->offset || index - l->offset > n)
        return NULL;
    size_t pos = (l->front + (size_t)(index - 1 - l->offset)) % l->size;
    return &l->entries[pos];
}

/* For log lines: the server's id, 0 when not bound yet. */
static unsigned long long server_id(const cs_fsm_adapter *a)
{
    return a->raft != NULL ? (unsigned long long)a->raft->id : 0;
}

static int adapter_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
    cs_fsm_adapter *a = rf->data;
    *result = NULL;
    if (a->failed != CONSORT_OK || a->raft == NULL)
        return RAFT_IOERR; /* a failed replica stays stopped */
    uint64_t index = a->raft->last_applied + 1;
    const struct raft_entry *e = entry_at(&a->raft->log, index);
    if (e == NULL || &e->buf != buf) {
        a->failed = CONSORT_E_STATE;
        cs_log_error(LOG_MOD, "raft %llu: cannot locate entry %llu being applied",
                     (unsigned long long)a->raft->id, (unsigned long long)index);
        return RAFT_IOERR;
    }
    cs_fsm_entry entry = {.index = index, .term = e->term};
    consort_err rc = cs_raft_entry_decode(CS_SLICE(buf->base, buf->len), &entry.data);
    if (rc == CONSORT_OK)
        rc = a->fsm.apply(a->fsm.ctx, &entry, result);
    else
        rc = cs_err_context(rc == CONSORT_E_NOMEM ? rc : CONSORT_E_CORRUPT, "entry %llu",
                            (unsigned long long)index);
    if (rc != CONSORT_OK) {
        a->failed = rc;
        cs_log_error(LOG_MOD, "raft %llu: applying entry %llu (term %llu) failed: %s",
                     (unsigned long long)a->raft->id, (unsigned long long)index,
                     (unsigned long long)e->term, consort_errmsg());
        return rc == CONSORT_E_NOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    a->applied++;
    return 0;
}

static int adapter_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    cs_fsm_adapter *a = rf->data;
    cs_buf out;
    cs_buf_init_secret(&out, CS_FSM_SNAPSHOT_MAX);
    consort_err rc = a->fsm.snapshot(a->fsm.ctx, &out);
    if (rc == CONSORT_OK && out.len == 0)
        rc = cs_fail(CONSORT_E_STATE, "FSM produced an empty snapshot");
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&out);
        if (rc == CONSORT_E_BUSY)
            return RAFT_BUSY;
        cs_log_warn(LOG_MOD, "raft %llu: snapshot failed: %s", server_id(a), consort_errmsg());
        return rc == CONSORT_E_NOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    struct raft_buffer *arr = cs_malloc(sizeof *arr);
    if (arr == NULL) {
        cs_buf_cleanup(&out);
        return RAFT_NOMEM;
    }
    /* Ownership of out's memory moves to arr[0]; snapshot_finalize frees it. */
    arr[0].base = out.ptr;
    arr[0].len = out.len;
    *bufs = arr;
    *n_bufs = 1;
    return 0;
}

/* fsm version 2: raft gives the buffers back here once they are stored. */
static int adapter_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[],
                                     unsigned *n_bufs)
{
    (void)rf;
    if (*bufs != NULL) {
        for (unsigned i = 0; i < *n_bufs; i++) {
            cs_wipe((*bufs)[i].base, (*bufs)[i].len);
            cs_free((*bufs)[i].base);
        }
        cs_free(*bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int adapter_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
    cs_fsm_adapter *a = rf->data;
    consort_err rc = a->fsm.restore(a->fsm.ctx, CS_SLICE(buf->base, buf->len));
    if (rc != CONSORT_OK) {
        /* On failure raft keeps ownership of buf and frees it. */
        cs_log_error(LOG_MOD, "raft %llu: restoring a snapshot of %zu bytes failed: %s",
                     server_id(a), buf->len, consort_errmsg());
        return rc == CONSORT_E_NOMEM ? RAFT_NOMEM : RAFT_MALFORMED;
    }
    /* On success the buffer is ours (libraft snapshotRestore). */
    cs_wipe(buf->base, buf->len);
    raft_free(buf->base);
    buf->base = NULL;
    buf->len = 0;
    a->restored++;
    return 0;
}

consort_err cs_fsm_adapter_init(cs_fsm_adapter *a, const cs_fsm *fsm, const struct raft *raft)
{
    CS_ENSURE(fsm != NULL && fsm->apply != NULL && fsm->snapshot != NULL && fsm->restore != NULL,
              CONSORT_E_INVALID_ARGUMENT, "FSM: apply, snapshot and restore are required");
    *a = (cs_fsm_adapter){0};
    a->fsm = *fsm;
    a->raft = raft;
    a->raft_fsm.version = 2;
    a->raft_fsm.data = a;
    a->raft_fsm.apply = adapter_apply;
    a->raft_fsm.snapshot = adapter_snapshot;
    a->raft_fsm.restore = adapter_restore;
    a->raft_fsm.snapshot_finalize = adapter_snapshot_finalize;
    a->raft_fsm.snapshot_async = NULL;
    return CONSORT_OK;
}

void cs_fsm_adapter_bind(cs_fsm_adapter *a, const struct raft *raft)
{
    a->raft = raft;
}
