/*
 * A raft log write that fails (consensus.c "a failed log write"): with a
 * server's data directory on a small tmpfs that is then filled, raft_uv
 * cannot prepare the next segment and the write of new entries fails with
 * ENOSPC. libraft 0.15 keeps entries whose write failed in its in-memory
 * log as if they were stored: a follower answers "rejected" and never
 * writes them again (it already holds them), and its disk layer counts
 * its next entries from the failed ones' index. Such a server can be
 * elected and then never commit. The chaos run of seed 1108279417 met it:
 * a follower whose writes failed on a full disk was elected leader two
 * seconds later and the service took no write for the rest of the run.
 * So the server is failed at the first failed write, and a restart
 * reloads its log from what is on disk.
 *
 * Needs root to mount the tmpfs (CI runs as root); skipped otherwise.
 */
#include "raft_failures.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

typedef struct disk_cluster {
    cl_cluster cl;
    char mnt[CL_MAX_NODES][300];
    bool mounted[CL_MAX_NODES];
} disk_cluster;

/* Three servers, each with its data directory on a 1 MiB tmpfs, 16 KiB
 * segments (raft_uv keeps two prepared ahead); NULL without mount(2). */
static disk_cluster *disk_cluster_new(void)
{
    disk_cluster *d = calloc(1, sizeof *d);
    assert_non_null(d);
    cl_cluster *cl = &d->cl;
    cl_init(cl, 3);
    cl->pre_vote = true; /* as consortd runs it */
    cl->on_failed = on_failed;
    cl->segment_size = 16 * 1024;
    cl->election_timeout_ms = 1000; /* one leader throughout */
    cl->heartbeat_timeout_ms = 50;
    memset(&seen, 0, sizeof seen);
    for (unsigned i = 0; i < 3; i++) {
        snprintf(d->mnt[i], sizeof d->mnt[i], "%s/small%u", cl->root, i + 1);
        assert_int_equal(mkdir(d->mnt[i], 0700), 0);
        d->mounted[i] = mount("tmpfs", d->mnt[i], "tmpfs", 0, "size=1m") == 0;
        if (!d->mounted[i])
            return d;
        snprintf(cl->nodes[i].dir, sizeof cl->nodes[i].dir, "%s/raft", d->mnt[i]);
    }
    return d;
}

static void disk_cluster_free(disk_cluster *d)
{
    for (unsigned i = 0; i < d->cl.n; i++)
        cl_stop(&d->cl, i);
    for (unsigned i = 0; i < d->cl.n; i++)
        if (d->mounted[i])
            assert_int_equal(umount(d->mnt[i]), 0);
    cl_cleanup(&d->cl);
    free(d);
}

static char *filler_path(disk_cluster *d, unsigned i)
{
    static char path[400];
    snprintf(path, sizeof path, "%s/filler", d->mnt[i]);
    return path;
}

/* Fills node i's tmpfs until no block is left. */
static void fill(disk_cluster *d, unsigned i)
{
    int fd = open(filler_path(d, i), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    static char block[4096];
    while (write(fd, block, sizeof block) == (ssize_t)sizeof block)
        ;
    struct statvfs st;
    assert_int_equal(fstatvfs(fd, &st), 0);
    assert_true(st.f_bavail == 0);
    close(fd);
}

/* Submits `n` entries of 1000 bytes from value `*next` on, to node l. */
static void submit(cl_cluster *cl, unsigned l, unsigned n, uint64_t *next, cl_tally *t)
{
    for (unsigned k = 0; k < n; k++)
        cst_ok(cl_submit(cl, l, (*next)++, 1000, t));
}

/* A server whose write of new entries fails is failed at once, told why
 * (no space), and only it; the others go on committing; started again
 * with room on its disk, it reloads its log and catches up. */
static void failed_write_fails_the_server(disk_cluster *d, bool leader)
{
    cl_cluster *cl = &d->cl;
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    unsigned f = leader ? (unsigned)l : ((unsigned)l + 1) % 3;
    uint64_t next = 1;
    cl_tally t = {0};
    submit(cl, (unsigned)l, 8, &next, &t);
    uint64_t want = 8;
    assert_true(cl_run_until(cl, 5000, cl_all_applied, &want));

    fill(d, f);
    /* past what the segment in use and the two prepared ahead hold */
    for (unsigned round = 0; round < 8 && seen.calls[f] == 0; round++) {
        submit(cl, (unsigned)l, 16, &next, &t);
        cl_run_for(cl, 200);
    }
    assert_true(cl_run_until(cl, 3000, failure_told, &f));
    assert_int_equal(seen.calls[f], 1);
    assert_int_equal(seen.err, CONSORT_E_NO_SPACE);
    assert_non_null(strstr(seen.msg, "storing entries"));
    assert_non_null(strstr(seen.msg, "no space left on device"));
    assert_non_null(strstr(seen.msg, "restart"));
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(seen.calls[i], i == f ? 1 : 0);

    /* what a node does with the failure: stop the server */
    cl_stop(cl, f);
    if (leader)
        assert_true(cl_wait_leader(cl, 8000, 1u << f) >= 0);
    l = cl_leader(cl);
    assert_true(l >= 0 && (unsigned)l != f);
    cl_tally after = {0};
    submit(cl, (unsigned)l, 4, &next, &after);
    cl_count_arg four = {&after, 4};
    assert_true(cl_run_until(cl, 5000, cl_tally_done, &four));
    assert_int_equal(after.ok, 4);

    /* room again: restarted, it reloads what it stored and catches up */
    assert_int_equal(unlink(filler_path(d, f)), 0);
    cl_start(cl, f, false);
    want = next - 1 - (t.failed + after.failed);
    assert_true(cl_run_until(cl, 8000, cl_all_applied, &want));
    assert_int_equal(seen.calls[f], 1);
}

static void run_case(bool leader)
{
    disk_cluster *d = disk_cluster_new();
    if (!d->mounted[0] || !d->mounted[1] || !d->mounted[2]) {
        disk_cluster_free(d);
        cst_skip("no tmpfs mounted for the full disk (needs root and mount(2))");
    }
    failed_write_fails_the_server(d, leader);
    disk_cluster_free(d);
}

static void follower_write_fails(void **state)
{
    (void)state;
    run_case(false);
}

static void leader_write_fails(void **state)
{
    (void)state;
    run_case(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follower_write_fails),
        cmocka_unit_test(leader_write_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
