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

/* Removes what `drop` says of the directory's entries. */
static void remove_where(const node_replica *r,
                         bool (*drop)(const char *name, uint64_t keep_a, uint64_t keep_b),
                         uint64_t keep_a, uint64_t keep_b)
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
        if (unlink(path) != 0 && errno != ENOENT)
            cs_log_warn(REPLICA_LOG, "node %s: removing %s: %s", r->opts.node_id, path,
                        strerror(errno));
    }
    closedir(d);
}

/* An older copy than `latest` that is not the one the ledger starts after. */
static bool superseded(const char *name, uint64_t latest, uint64_t ledger_base)
{
    uint64_t s = copy_seqno(name, "bin");
    return s != 0 && s < latest && s != ledger_base;
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
    remove_where(r, superseded, seqno, r->ledger_first - 1);
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
    remove_where(r, unfinished, 0, 0);
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
