/*
 * libuv's thread pool in the background (net/background.h): every pool
 * thread runs at CS_BACKGROUND_NICE while the caller keeps its priority;
 * a pool that other work started first, at the caller's priority, is
 * reported, not claimed. The allocator's worker (base/alloc.h) is not a
 * background thread: it holds locks a loop waits for. Each test runs in a
 * process of its own (the pool is process-wide), selected by argv[1].
 */
#include "base/alloc.h"
#include "base/thread.h"
#include "net/background.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#define WORKS 16

typedef struct job {
    uv_work_t w;
    int nice;
    long tid;
} job;

static void job_work(uv_work_t *w)
{
    job *j = (job *)w;
    usleep(2000); /* keep a thread busy, so the others take work too */
    j->nice = cs_thread_nice();
    j->tid = (long)syscall(SYS_gettid);
}

static void job_done(uv_work_t *w, int status)
{
    (void)w;
    assert_int_equal(status, 0);
}

/* Runs WORKS jobs on the pool and returns how many distinct threads ran
 * them; every job's nice value is in nice[]. */
static unsigned run_jobs(int nice[WORKS])
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    job jobs[WORKS];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < WORKS; i++)
        assert_int_equal(uv_queue_work(&loop, &jobs[i].w, job_work, job_done), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    unsigned threads = 0;
    for (int i = 0; i < WORKS; i++) {
        nice[i] = jobs[i].nice;
        bool again = false;
        for (int k = 0; k < i; k++)
            again = again || jobs[k].tid == jobs[i].tid;
        threads += !again;
    }
    return threads;
}

static void pool_threads_run_in_the_background(void **state)
{
    (void)state;
    int before = cs_thread_nice();
    assert_true(before < CS_BACKGROUND_NICE); /* else the test shows nothing */
    cst_ok(cs_uv_pool_background());
    assert_int_equal(cs_thread_nice(), before); /* the caller keeps its own */
    int nice[WORKS];
    unsigned threads = run_jobs(nice);
    assert_true(threads >= 2);
    for (int i = 0; i < WORKS; i++)
        assert_int_equal(nice[i], CS_BACKGROUND_NICE);
    /* a second call finds the pool in the background already */
    cst_ok(cs_uv_pool_background());
}

/* A pool some work started first keeps the priority of the thread that
 * started it: the call reports that instead of claiming the background. */
static void a_pool_started_first_is_reported(void **state)
{
    (void)state;
    int nice[WORKS];
    (void)run_jobs(nice);
    for (int i = 0; i < WORKS; i++)
        assert_int_equal(nice[i], cs_thread_nice());
    cst_fails(cs_uv_pool_background(), CONSORT_E_STATE);
}

/* The nice value of the thread named `name` in this process (-100: none). */
static int named_thread_nice(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int nice = -100;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && nice == -100) {
        if (e->d_name[0] == '.')
            continue;
        char path[512], comm[64] = {0};
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        bool same = fgets(comm, sizeof comm, f) != NULL && strncmp(comm, name, strlen(name)) == 0 &&
                    comm[strlen(name)] == '\n';
        fclose(f);
        if (!same)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        f = fopen(path, "r");
        assert_non_null(f);
        char stat[1024] = {0};
        assert_non_null(fgets(stat, sizeof stat, f));
        fclose(f);
        /* after "(comm) ": state is field 3, nice field 19 */
        const char *p = strrchr(stat, ')');
        assert_non_null(p);
        int field = 2;
        for (p++; *p != '\0' && field < 19; p++)
            if (*p == ' ')
                field++;
        nice = atoi(p);
    }
    closedir(d);
    return nice;
}

static void trim_work(uv_work_t *w)
{
    (void)w;
    cs_alloc_trim_soon(); /* from a background thread */
}

/* As consortd does: the worker started from the main thread, then the
 * pool; a pool thread's request (a freed block, a trim) then finds the
 * worker at the main thread's priority, where a worker it started itself
 * would inherit the background's. */
static void the_allocator_worker_keeps_the_loops_priority(void **state)
{
    (void)state;
    int nice = cs_thread_nice();
    assert_true(nice < CS_BACKGROUND_NICE);
    assert_true(cs_alloc_worker_start());
    cst_ok(cs_uv_pool_background());
    uint64_t trims = cs_alloc_trims();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_work_t w;
    assert_int_equal(uv_queue_work(&loop, &w, trim_work, job_done), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    for (int i = 0; i < 500 && cs_alloc_trims() == trims; i++)
        usleep(10000);
    assert_true(cs_alloc_trims() > trims);
    assert_int_equal(named_thread_nice(CS_ALLOC_WORKER_NAME), nice);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest pool[] = {cmocka_unit_test(pool_threads_run_in_the_background)};
    const struct CMUnitTest first[] = {cmocka_unit_test(a_pool_started_first_is_reported)};
    const struct CMUnitTest alloc[] = {
        cmocka_unit_test(the_allocator_worker_keeps_the_loops_priority)};
    if (argc > 1 && strcmp(argv[1], "first") == 0)
        return cmocka_run_group_tests(first, NULL, NULL);
    if (argc > 1 && strcmp(argv[1], "alloc") == 0)
        return cmocka_run_group_tests(alloc, NULL, NULL);
    if (argc > 1)
        return 2;
    /* each case in a process of its own */
    const char *cases[] = {"first", "alloc"};
    for (size_t i = 0; i < 2; i++) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "'%s' %s", argv[0], cases[i]);
        if (system(cmd) != 0)
            return 1;
    }
    return cmocka_run_group_tests(pool, NULL, NULL);
}
