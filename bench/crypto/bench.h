/*
 * bench_crypto: consort's crypto hot paths beside the raw OpenSSL rate of the
 * same primitive, measured in the same run (DESIGN.md principle 4).
 *
 * Every figure is operations per CPU-second of one thread (thread CPU
 * time, so that other processes on a shared machine do not distort it), the
 * best of BENCH_TRIALS trials; consort and OpenSSL trials alternate.
 */
#ifndef BENCH_CRYPTO_BENCH_H
#define BENCH_CRYPTO_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define BENCH_TRIALS 7
/* Seconds one calibrated trial runs for at least. */
#define BENCH_MIN_SECONDS 0.2

/* Performs `n` operations. */
typedef void (*bench_op)(void *ctx, uint64_t n);

double bench_now(void);
/* One trial of `op`, calibrated to run at least `seconds`: operations/s. */
double bench_rate(bench_op op, void *ctx, double seconds);

/* Measures `ours` and `raw` in alternating trials; best of BENCH_TRIALS each. */
void bench_pair(bench_op ours, void *ours_ctx, double *ours_rate, bench_op raw, void *raw_ctx,
                double *raw_rate);

void bench_table_header(void);
/* One table row: what consort did, its rate, the raw primitive and its rate,
 * and the ratio ours / raw. */
void bench_table_row(const char *what, double rate, const char *raw_what, double raw_rate);

/* Records a goal and prints nothing; bench_goals_print() lists them all. */
void bench_goal(const char *what, double value, double target, const char *unit);
/* Prints every goal with PASS/MISS; returns the number missed. */
int bench_goals_print(void);

/* Aborts the benchmark with a message (a failed operation is a bug). */
void bench_die(const char *what);

/* The parts of the run. */
void bench_merkle(void);
void bench_cose(void);
void bench_derive(void);

#endif
