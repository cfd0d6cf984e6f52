/*
 * A latency histogram in microseconds, in the manner of HdrHistogram:
 * values below 2 * CS_HIST_SUB (256 us) have a bucket each; above, every
 * power of two [2^k, 2^(k+1)) is split into CS_HIST_SUB (128) equal
 * buckets, so a reported value is at most 1/128 (0.8%) above the true one.
 * Quantiles are reported as the upper end of their bucket (never
 * optimistic), and never above the largest value recorded. Values of
 * CS_HIST_MAX_US and more are counted in the last bucket (max_us keeps the
 * true largest value). Fixed size (~30 KiB), no allocation: embed it.
 *
 * Used by `consort bench` (tools/consort/cmd_bench*.c) and bench/service.
 */
#ifndef CS_BASE_HIST_H
#define CS_BASE_HIST_H

#include <stddef.h>
#include <stdint.h>

#define CS_HIST_SUB_BITS 7
#define CS_HIST_SUB      (1u << CS_HIST_SUB_BITS)
#define CS_HIST_MAX_US   ((uint64_t)1 << 36) /* ~19 hours */
#define CS_HIST_BUCKETS  (2 * CS_HIST_SUB + (36 - CS_HIST_SUB_BITS) * CS_HIST_SUB)

typedef struct cs_hist {
    uint64_t counts[CS_HIST_BUCKETS];
    uint64_t total;
    uint64_t max_us;
} cs_hist;

/* Empties `h`. */
void cs_hist_reset(cs_hist *h);
/* Counts one value. */
void cs_hist_record(cs_hist *h, uint64_t us);
/* Adds every count of `src` to `dst`. */
void cs_hist_merge(cs_hist *dst, const cs_hist *src);
/*
 * The smallest recorded value v such that a fraction >= q (0 < q <= 1) of
 * the values are <= v, reported as the upper end of its bucket but at most
 * max_us (0 when empty).
 */
uint64_t cs_hist_quantile(const cs_hist *h, double q);
/* The bucket of a value, and the largest value in a bucket (for tests). */
size_t cs_hist_index(uint64_t us);
uint64_t cs_hist_bucket_high(size_t idx);

#endif
