/*
 * bench_crypto (built by `make bench`): Merkle tree and COSE_Sign1 rates
 * beside raw OpenSSL, with the goals:
 *   - Merkle append >= 1,000,000 leaves/s on one core;
 *   - COSE_Sign1 sign and verify >= 90% of raw ECDSA (EVP_DigestSign /
 *     EVP_DigestVerify, same curve, hash and message size).
 * Prints a table and PASS/MISS per goal; exits 0 even when a goal is missed
 * (1 only if an operation fails), so that a run always records its numbers.
 */
#include "bench.h"

#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void)
{
    struct timespec ts;
    /* CPU time of this thread: the rate per core, and other processes on a
     * shared machine do not count against whichever trial they interrupt */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_rate(bench_op op, void *ctx, double seconds)
{
    uint64_t n = 1;
    for (;;) {
        double t0 = bench_now();
        op(ctx, n);
        double dt = bench_now() - t0;
        if (dt >= seconds)
            return (double)n / dt;
        /* aim 20% past the target from the rate seen so far */
        double want = dt > 0 ? (double)n * seconds * 1.2 / dt : (double)n * 16;
        uint64_t next = want > (double)n * 16 ? n * 16 : (uint64_t)want;
        n = next > n ? next : n * 2;
    }
}

void bench_pair(bench_op ours, void *ours_ctx, double *ours_rate, bench_op raw, void *raw_ctx,
                double *raw_rate)
{
    *ours_rate = 0;
    *raw_rate = 0;
    for (int i = 0; i < BENCH_TRIALS; i++) {
        double a = bench_rate(ours, ours_ctx, BENCH_MIN_SECONDS);
        double b = bench_rate(raw, raw_ctx, BENCH_MIN_SECONDS);
        if (a > *ours_rate)
            *ours_rate = a;
        if (b > *raw_rate)
            *raw_rate = b;
    }
}

void bench_table_header(void)
{
    printf("%-44s %13s   %-34s %13s %7s\n", "consort operation", "consort/s",
           "raw OpenSSL primitive", "OpenSSL/s", "ratio");
    printf("%.*s\n", 117,
           "-----------------------------------------------------------------------------------"
           "----------------------------------------------------------");
}

void bench_table_row(const char *what, double rate, const char *raw_what, double raw_rate)
{
    printf("%-44s %13.0f   %-34s %13.0f %7.3f\n", what, rate, raw_what, raw_rate,
           raw_rate > 0 ? rate / raw_rate : 0.0);
    fflush(stdout);
}

typedef struct goal {
    char what[96];
    double value;
    double target;
    char unit[16];
} goal;

static goal goals[16];
static int goal_count;

void bench_goal(const char *what, double value, double target, const char *unit)
{
    if (goal_count == (int)CS_ARRAY_LEN(goals))
        bench_die("too many goals");
    goal *g = &goals[goal_count++];
    snprintf(g->what, sizeof g->what, "%s", what);
    snprintf(g->unit, sizeof g->unit, "%s", unit);
    g->value = value;
    g->target = target;
}

int bench_goals_print(void)
{
    int missed = 0;
    printf("\ngoals\n");
    for (int i = 0; i < goal_count; i++) {
        const goal *g = &goals[i];
        bool pass = g->value >= g->target;
        missed += pass ? 0 : 1;
        if (strcmp(g->unit, "%") == 0)
            printf("  %-52s %9.1f%%  (target >= %.0f%%)  %s\n", g->what, g->value * 100,
                   g->target * 100, pass ? "PASS" : "MISS");
        else
            printf("  %-52s %10.0f  (target >= %.0f %s)  %s\n", g->what, g->value, g->target,
                   g->unit, pass ? "PASS" : "MISS");
    }
    return missed;
}

void bench_die(const char *what)
{
    fprintf(stderr, "bench_crypto: %s failed: %s\n", what, consort_errmsg());
    exit(1);
}

int main(int argc, char **argv)
{
    /* optional argument: "merkle", "cose" or "derive" runs only that part */
    const char *only = argc > 1 ? argv[1] : "";
    printf("bench_crypto: one thread, rates per CPU-second of that thread, best of %d trials "
           "of >= %.2f s, consort and OpenSSL alternating\n\n",
           BENCH_TRIALS, BENCH_MIN_SECONDS);
    bench_table_header();
    if (strcmp(only, "cose") != 0 && strcmp(only, "derive") != 0)
        bench_merkle();
    if (strcmp(only, "merkle") != 0 && strcmp(only, "derive") != 0)
        bench_cose();
    if (only[0] == '\0' || strcmp(only, "derive") == 0)
        bench_derive();
    int missed = bench_goals_print();
    printf("\n%d of %d goals met\n", goal_count - missed, goal_count);
    return 0;
}
