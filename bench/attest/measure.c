/*
 * Timing and small helpers for bench_attest: calibrated trials on the
 * thread's CPU clock, failure handling, test data.
 */
#include "attbench.h"

#include "base/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double ab_min_seconds = AB_MIN_SECONDS;

static double cpu_now(void)
{
    struct timespec ts;
    /* The CPU time of this thread: a rate per core that other processes on
     * a shared machine cannot lower by preempting a trial. */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double ab_rate(ab_op op, void *ctx)
{
    uint64_t n = 1;
    for (;;) {
        double t0 = cpu_now();
        op(ctx, n);
        double dt = cpu_now() - t0;
        if (dt >= ab_min_seconds)
            return (double)n / dt;
        /* Grow towards 1.25 x the target duration, at most 16-fold per step. */
        double want = dt > 0 ? (double)n * ab_min_seconds * 1.25 / dt : (double)n * 16;
        if (want > (double)n * 16)
            want = (double)n * 16;
        uint64_t next = (uint64_t)want;
        n = next > n ? next : n + 1;
    }
}

void ab_die(const char *what)
{
    fprintf(stderr, "bench_attest: %s\n", what);
    exit(1);
}

void ab_check(consort_err rc, const char *what)
{
    if (rc == CONSORT_OK)
        return;
    fprintf(stderr, "bench_attest: %s: %s (%s)\n", what, consort_err_name(rc), consort_errmsg());
    exit(1);
}

const char *ab_testdata_dir(void)
{
    static char dir[1024];
    const char *env = getenv("CONSORT_TESTDATA");
    if (env != NULL && env[0] != '\0')
        return env;
    /* CMake compiles this file by its absolute path: <source>/bench/attest/measure.c. */
    const char *file = __FILE__;
    const char *cut = strstr(file, "bench/attest/measure.c");
    if (cut == NULL || file[0] != '/')
        ab_die("set CONSORT_TESTDATA to the shared test data directory");
    snprintf(dir, sizeof dir, "%.*s../shared/testdata", (int)(cut - file), file);
    return dir;
}

void ab_read(const char *rel, cs_buf *out)
{
    char path[1280];
    snprintf(path, sizeof path, "%s/%s", ab_testdata_dir(), rel);
    cs_buf_init(out, 0);
    ab_check(cs_file_read(path, out), path);
}

void ab_case_init(ab_case *c, const char *platform)
{
    memset(c, 0, sizeof *c);
    c->platform = platform;
    cs_evidence_init(&c->ev);
    cs_blob_list_init(&c->anchors);
    ab_raw_init(&c->raw);
}

void ab_case_cleanup(ab_case *c)
{
    cs_evidence_cleanup(&c->ev);
    cs_blob_list_cleanup(&c->anchors);
    ab_raw_cleanup(&c->raw);
    if (c->custom_free != NULL)
        c->custom_free(c->custom);
    memset(c, 0, sizeof *c);
}
