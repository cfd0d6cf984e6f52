/* A latency histogram (hist.h). */
#include "base/hist.h"

#include <string.h>

void cs_hist_reset(cs_hist *h)
{
    memset(h, 0, sizeof *h);
}

static unsigned msb(uint64_t v)
{
    return 63u - (unsigned)__builtin_clzll(v);
}

size_t cs_hist_index(uint64_t us)
{
    if (us >= CS_HIST_MAX_US)
        us = CS_HIST_MAX_US - 1;
    if (us < 2 * CS_HIST_SUB)
        return (size_t)us;
    unsigned shift = msb(us) - CS_HIST_SUB_BITS; /* >= 1: us >> shift is in [SUB, 2 SUB) */
    return 2 * CS_HIST_SUB + (size_t)(shift - 1) * CS_HIST_SUB +
           (size_t)((us >> shift) - CS_HIST_SUB);
}

uint64_t cs_hist_bucket_high(size_t idx)
{
    if (idx < 2 * CS_HIST_SUB)
        return idx;
    size_t rest = idx - 2 * CS_HIST_SUB;
    unsigned shift = (unsigned)(rest / CS_HIST_SUB) + 1;
    uint64_t mantissa = CS_HIST_SUB + rest % CS_HIST_SUB;
    return ((mantissa + 1) << shift) - 1;
}

void cs_hist_record(cs_hist *h, uint64_t us)
{
    h->counts[cs_hist_index(us)]++;
    h->total++;
    if (us > h->max_us)
        h->max_us = us;
}

void cs_hist_merge(cs_hist *dst, const cs_hist *src)
{
    for (size_t i = 0; i < CS_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

uint64_t cs_hist_quantile(const cs_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    /* the rank of the value: ceil(q * total), at least 1 */
    double want = q * (double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < CS_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t high = cs_hist_bucket_high(i);
            return high < h->max_us ? high : h->max_us;
        }
    }
    return h->max_us;
}
