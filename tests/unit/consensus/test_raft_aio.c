/*
 * libraft's AIO contexts destroyed off the caller's thread
 * (consensus/raft_aio.h): the interposed syscall() passes every other call
 * through with its result and errno, hands io_destroy to its thread once
 * installed (the context really goes), and binds libraft's own calls: real
 * servers closing segments of their log destroy their contexts there.
 */
#include "fsm_async_util.h"

#include "consensus/raft_aio.h"

#include <errno.h>
#include <linux/aio_abi.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static aio_context_t new_context(void)
{
    aio_context_t ctx = 0;
    assert_int_equal(syscall(SYS_io_setup, 8, &ctx), 0);
    assert_true(ctx != 0);
    return ctx;
}

/* Whether ctx still exists: io_getevents on a destroyed one fails EINVAL. */
static bool context_alive(aio_context_t ctx)
{
    struct io_event ev;
    struct timespec zero = {0, 0};
    errno = 0;
    long rc = syscall(SYS_io_getevents, ctx, 0, 1, &ev, &zero);
    if (rc == 0)
        return true;
    assert_int_equal(rc, -1);
    assert_int_equal(errno, EINVAL);
    return false;
}

static void wait_destroyed(uint64_t want)
{
    for (int i = 0; i < 3000 && cs_raft_aio_stats_get().destroyed < want; i++)
        usleep(1000);
    assert_true(cs_raft_aio_stats_get().destroyed >= want);
}

/* Not installed: calls pass through, results and errno intact, and an
 * io_destroy happens on the caller's thread before it returns. */
static void calls_pass_through(void **state)
{
    (void)state;
    assert_int_equal(syscall(SYS_getpid), getpid());
    assert_int_equal(syscall(SYS_gettid), gettid());
    errno = 0;
    assert_int_equal(syscall(SYS_close, -1), -1);
    assert_int_equal(errno, EBADF);
    /* six arguments, the sixth on the stack: a file's second page mapped */
    const long page = sysconf(_SC_PAGESIZE);
    int fd = memfd_create("raft_aio", 0);
    assert_true(fd >= 0);
    unsigned char *bytes = calloc(2, (size_t)page);
    assert_non_null(bytes);
    memset(bytes + page, 0x6b, (size_t)page);
    assert_int_equal(write(fd, bytes, 2 * (size_t)page), 2 * page);
    long m = syscall(SYS_mmap, NULL, page, PROT_READ, MAP_SHARED, fd, page);
    assert_true(m != -1);
    assert_int_equal(((const unsigned char *)m)[0], 0x6b);
    assert_int_equal(munmap((void *)m, (size_t)page), 0);
    free(bytes);
    close(fd);
    cs_raft_aio_stats before = cs_raft_aio_stats_get();
    aio_context_t ctx = new_context();
    assert_true(context_alive(ctx));
    assert_int_equal(syscall(SYS_io_destroy, ctx), 0);
    assert_false(context_alive(ctx));
    cs_raft_aio_stats after = cs_raft_aio_stats_get();
    assert_int_equal(after.inline_, before.inline_ + 1);
    assert_int_equal(after.deferred, before.deferred);
}

/* Installed: io_destroy returns at once and the thread destroys the
 * context; uninstalling waits for the queue. */
static void io_destroy_goes_to_the_thread(void **state)
{
    (void)state;
    assert_true(cs_raft_aio_install());
    cs_raft_aio_stats before = cs_raft_aio_stats_get();
    aio_context_t ctx[3];
    for (int i = 0; i < 3; i++)
        ctx[i] = new_context();
    for (int i = 0; i < 3; i++)
        assert_int_equal(syscall(SYS_io_destroy, ctx[i]), 0);
    cs_raft_aio_uninstall();
    cs_raft_aio_stats after = cs_raft_aio_stats_get();
    assert_int_equal(after.deferred, before.deferred + 3);
    assert_int_equal(after.destroyed, before.destroyed + 3);
    assert_int_equal(after.inline_, before.inline_);
    assert_true(after.worker_tid != 0 && after.worker_tid != gettid());
    for (int i = 0; i < 3; i++)
        assert_false(context_alive(ctx[i]));
    /* uninstalled: the caller's again */
    aio_context_t c = new_context();
    assert_int_equal(syscall(SYS_io_destroy, c), 0);
    assert_false(context_alive(c));
    assert_int_equal(cs_raft_aio_stats_get().inline_, after.inline_ + 1);
}

#define ENTRY_SIZE 20000
#define ENTRIES    40

/* libraft binds to the interposed syscall(): three servers with segments
 * of 64 KiB close a segment every few entries, and their contexts go to the
 * thread. */
static void libraft_segments_close_off_the_loop(void **state)
{
    (void)state;
    assert_true(cs_raft_aio_install());
    cs_raft_aio_stats before = cs_raft_aio_stats_get();
    cl_cluster *cl = cl_new(3);
    cl->segment_size = (size_t)64 << 10;
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);
    cl_write_large(cl, l, ENTRY_SIZE, ENTRIES, NULL);
    uint64_t want = ENTRIES;
    assert_true(cl_run_until(cl, 10000, cl_all_applied, &want));
    cs_raft_aio_stats mid = cs_raft_aio_stats_get();
    /* 800 KB of entries through segments of 64 KiB on each of three servers */
    assert_true(mid.deferred - before.deferred >= 3 * 8);
    assert_int_equal(mid.inline_, before.inline_);
    wait_destroyed(mid.deferred);
    cl_free(cl);
    cs_raft_aio_uninstall();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(calls_pass_through),
        cmocka_unit_test(io_destroy_goes_to_the_thread),
        cmocka_unit_test(libraft_segments_close_off_the_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
