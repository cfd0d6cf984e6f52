/*
 * The snapshot copies a node keeps in snapshots/ (docs/operating.md
 * "Start, join, restart"), so that a restart reads the latest one and the
 * ledger after it instead of the whole ledger:
 *
 *   snapshot_<S>.bin   a snapshot at signature entry S that raft stored:
 *                      one this node made, or one it installed (its
 *                      ledger then starts at S + 1);
 *   snapshot_<S>.part  one this node made that raft has not stored yet.
 *
 * A copy the node made becomes a .bin only once raft has stored the same
 * snapshot (consensus/fsm.h snapshot_end), so the snapshot raft restores at
 * start is never older than the copy the node restarted from. Kept: the
 * latest copy, and the one the ledger starts after; older ones are
 * removed as each new one is kept. Nothing here is trusted: a copy is
 * authenticated and checked in full when it is installed.
 */
#include "node/replica_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The seqno of a copy named `name` with suffix `ext` (0: not one). */
static uint64_t copy_seqno(const char *name, const char *ext)
{
    if (strncmp(name, "snapshot_", 9) != 0)
        return 0;
    const char *p = name + 9;
    uint64_t v = 0;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (digits == 0 || *p != '.' || strcmp(p + 1, ext) != 0)
        return 0;
    return v;
}

consort_err replica_copy_path(const char *dir, uint64_t seqno, const char *ext,
                              char out[REPLICA_COPY_PATH_MAX])
{
    char name[64];
    snprintf(name, sizeof name, "snapshot_%llu.%s", (unsigned long long)seqno, ext);
    return cs_path_join(out, REPLICA_COPY_PATH_MAX, dir, name);
}

consort_err replica_copy_write_part(const char *dir, uint64_t seqno, cs_slice data)
{
    char path[REPLICA_COPY_PATH_MAX];
    CS_TRY(replica_copy_path(dir, seqno, "part", path));
    return cs_file_write_atomic(path, data, 0600);
}

/* Calls `each` for the directory's entries that `drop` names, until it
 * returns false. */
static void select_where(const node_replica *r,
                         bool (*drop)(const char *name, uint64_t keep_a, uint64_t keep_b),
                         uint64_t keep_a, uint64_t keep_b,
                         bool (*each)(void *ctx, const char *path), void *ctx)
{
    DIR *d = opendir(r->snapshot_dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[CS_NODE_PATH_MAX + 300];
        if (!drop(de->d_name, keep_a, keep_b) ||
            cs_path_join(path, sizeof path, r->snapshot_dir, de->d_name) != CONSORT_OK)
            continue;
        if (!each(ctx, path))
            break;
    }
    closedir(d);
}

static bool remove_now(void *ctx, const char *path)
{
    const node_replica *r = ctx;
    if (unlink(path) != 0 && errno != ENOENT)
        cs_log_warn(REPLICA_LOG, "node %s: removing %s: %s", r->opts.node_id, path,
                    strerror(errno));
    return true;
}

static bool remove_counted(void *ctx, const char *path)
{
    node_replica *r = ctx;
    if (unlink(path) == 0 || errno == ENOENT)
        r->stats.copies_removed++;
    else
        cs_log_warn(REPLICA_LOG, "node %s: removing %s: %s", r->opts.node_id, path,
                    strerror(errno));
    return true;
}

/* An older copy than `latest` that is not the one the ledger starts after. */
static bool superseded(const char *name, uint64_t latest, uint64_t ledger_base)
{
    uint64_t s = copy_seqno(name, "bin");
    return s != 0 && s < latest && s != ledger_base;
}

/*
 * Superseded copies removed on the threadpool: a copy is the whole state
 * (hundreds of MB at millions of keys), and where the file system discards
 * freed blocks, unlink waits for the device (30-50 ms at 1M keys, on a
 * node's loop). One removal at a time; copies left while one runs are
 * superseded still at the next snapshot, which removes them.
 */
#define COPY_RM_MAX 8

typedef struct replica_copy_rm {
    uv_work_t work;
    node_replica *r; /* NULL once the replica is freed */
    size_t n, removed;
    int err; /* the first failure's errno (0: none) */
    char node_id[64];
    char failed[REPLICA_COPY_PATH_MAX];
    char paths[COPY_RM_MAX][REPLICA_COPY_PATH_MAX];
} replica_copy_rm;

static bool gather(void *ctx, const char *path)
{
    replica_copy_rm *j = ctx;
    size_t len = strlen(path);
    if (len >= REPLICA_COPY_PATH_MAX)
        return true; /* not a name replica_copy_path makes: left alone */
    memcpy(j->paths[j->n++], path, len + 1);
    return j->n < COPY_RM_MAX;
}

static void rm_work(uv_work_t *w)
{
    replica_copy_rm *j = w->data;
    for (size_t i = 0; i < j->n; i++) {
        if (unlink(j->paths[i]) == 0 || errno == ENOENT) {
            j->removed++;
        } else if (j->err == 0) {
            j->err = errno;
            snprintf(j->failed, sizeof j->failed, "%s", j->paths[i]);
        }
    }
}

static void rm_done(uv_work_t *w, int status)
{
    (void)status;
    replica_copy_rm *j = w->data;
    if (j->err != 0)
        cs_log_warn(REPLICA_LOG, "node %s: removing %s: %s", j->node_id, j->failed,
                    strerror(j->err));
    if (j->r != NULL) {
        j->r->copy_rm = NULL;
        j->r->stats.copies_removed += j->removed;
    }
    cs_free(j);
}

static void remove_superseded(node_replica *r, uint64_t latest, uint64_t ledger_base)
{
    if (r->copy_rm != NULL)
        return; /* the next snapshot's */
    replica_copy_rm *j = r->opts.loop != NULL ? cs_calloc(1, sizeof *j) : NULL;
    if (j == NULL) {
        select_where(r, superseded, latest, ledger_base, remove_counted, r);
        return;
    }
    select_where(r, superseded, latest, ledger_base, gather, j);
    if (j->n == 0) {
        cs_free(j);
        return;
    }
    j->r = r;
    snprintf(j->node_id, sizeof j->node_id, "%s", r->opts.node_id);
    j->work.data = j;
    if (uv_queue_work(r->opts.loop, &j->work, rm_work, rm_done) != 0) {
        rm_work(&j->work);
        rm_done(&j->work, 0);
        return;
    }
    r->copy_rm = j;
}

void replica_copy_detach(node_replica *r)
{
    if (r->copy_rm != NULL)
        r->copy_rm->r = NULL;
    r->copy_rm = NULL;
}

bool node_replica_copies_settled(const node_replica *r)
{
    return r->copy_rm == NULL;
}

void replica_copy_settle(node_replica *r, uint64_t seqno, bool keep)
{
    char part[REPLICA_COPY_PATH_MAX], bin[REPLICA_COPY_PATH_MAX];
    if (replica_copy_path(r->snapshot_dir, seqno, "part", part) != CONSORT_OK ||
        replica_copy_path(r->snapshot_dir, seqno, "bin", bin) != CONSORT_OK)
        return;
    if (!keep) {
        unlink(part);
        return;
    }
    if (rename(part, bin) != 0) {
        cs_log_warn(REPLICA_LOG, "node %s: keeping the snapshot copy %s: %s", r->opts.node_id, bin,
                    strerror(errno));
        unlink(part);
        return;
    }
    remove_superseded(r, seqno, r->ledger_first - 1);
}

/* A copy not stored by raft, or a temporary file of one being written. */
static bool unfinished(const char *name, uint64_t a, uint64_t b)
{
    (void)a;
    (void)b;
    return copy_seqno(name, "part") != 0 ||
           (strncmp(name, "snapshot_", 9) == 0 && strstr(name, ".tmp.") != NULL);
}

void replica_copy_clean(node_replica *r)
{
    select_where(r, unfinished, 0, 0, remove_now, r);
}

consort_err replica_copy_latest(const node_replica *r, uint64_t lo, uint64_t hi, uint64_t *out)
{
    DIR *d = opendir(r->snapshot_dir);
    CS_ENSURE(d != NULL, CONSORT_E_NOT_FOUND, "no snapshot directory %s", r->snapshot_dir);
    uint64_t best = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t s = copy_seqno(de->d_name, "bin");
        if (s >= lo && s <= hi && s > best)
            best = s;
    }
    closedir(d);
    CS_ENSURE(best > 0, CONSORT_E_NOT_FOUND, "no snapshot in %s between %llu and %llu",
              r->snapshot_dir, (unsigned long long)lo, (unsigned long long)hi);
    *out = best;
    return CONSORT_OK;
}
