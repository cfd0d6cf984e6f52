/*
 * Latency histogram in microseconds, in the manner of HdrHistogram: values
 * below 2 * SVC_HIST_SUB (256 us) have a bucket each; above, every power of
 * two [2^k, 2^(k+1)) is split into SVC_HIST_SUB (128) equal buckets, so a
 * reported value is at most 1/128 (0.8%) above the true one. Quantiles are
 * reported as the upper end of their bucket (never optimistic).
 */
#include "svcbench.h"

#include <string.h>

void svc_hist_reset(svc_hist *h)
{
    memset(h, 0, sizeof *h);
}

static unsigned msb(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

size_t svc_hist_index(uint64_t us)
{
    if (us >= SVC_HIST_MAX_US)
        us = SVC_HIST_MAX_US - 1;
    if (us < 2 * SVC_HIST_SUB)
        return (size_t)us;
    unsigned shift = msb(us) - SVC_HIST_SUB_BITS; /* >= 1: us >> shift is in [SUB, 2 SUB) */
    return 2 * SVC_HIST_SUB + (size_t)(shift - 1) * SVC_HIST_SUB +
           (size_t)((us >> shift) - SVC_HIST_SUB);
}

uint64_t svc_hist_bucket_high(size_t idx)
{
    if (idx < 2 * SVC_HIST_SUB)
        return idx;
    size_t rest = idx - 2 * SVC_HIST_SUB;
    unsigned shift = (unsigned)(rest / SVC_HIST_SUB) + 1;
    uint64_t mantissa = SVC_HIST_SUB + rest % SVC_HIST_SUB;
    return ((mantissa + 1) << shift) - 1;
}

void svc_hist_record(svc_hist *h, uint64_t us)
{
    h->counts[svc_hist_index(us)]++;
    h->total++;
    if (us > h->max_us)
        h->max_us = us;
}

void svc_hist_merge(svc_hist *dst, const svc_hist *src)
{
    for (size_t i = 0; i < SVC_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

uint64_t svc_hist_quantile(const svc_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    /* the rank of the sample: ceil(q * total), at least 1 */
    double want = q * (double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < SVC_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t high = svc_hist_bucket_high(i);
            return high < h->max_us ? high : h->max_us;
        }
    }
    return h->max_us;
}
