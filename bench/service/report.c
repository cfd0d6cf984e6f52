/*
 * Output: one line per phase as it finishes, then the comparison of the
 * pooled rounds against the goals of the issue "Performance":
 *   write throughput        consort >= 3 x etcd
 *   read throughput         consort >= 10 x etcd (serializable reads: both
 *                           are served by the local member from its state)
 *   p99 write latency       consort <= 0.5 x etcd
 * A goal counts as met only when neither side had a failed request in the
 * phases it compares; failures are always printed.
 */
#include "svcbench.h"

#include <stdio.h>
#include <string.h>

#define WRITE_GOAL   3.0
#define READ_GOAL    10.0
#define LATENCY_GOAL 0.5 /* consort's p99 write latency / etcd's */

static uint64_t failures(const svc_result *r)
{
    return r->errors + r->misses + r->transport;
}

/* No failed request and no lost connection, in or around the window. */
static bool clean(const svc_result *r)
{
    return failures(r) == 0 && r->outside == 0 && r->conns_lost == 0;
}

static double rate(const svc_result *r)
{
    return r->seconds > 0 ? (double)r->ok / r->seconds : 0;
}

/* CPU seconds of the server processes per completed request, or < 0 if unknown. */
static double server_cpu_per_op(const svc_result *r)
{
    uint64_t done = r->ok + r->errors + r->misses;
    return r->cpu.servers_ok && done > 0 ? r->cpu.servers_s / (double)done : -1;
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

void svc_report_header(const svc_params *p)
{
    printf("closed loop: %u connections x pipeline depth %u per phase, %.0f s warm-up, "
           "%.0f s measured; %zu-byte values; reads over %llu pre-filled keys\n",
           p->connections, p->depth, p->warmup_s, p->seconds, p->value_bytes,
           (unsigned long long)p->keys);
    printf("latency: request handed to the HTTP client -> response parsed (us histogram, "
           "<= 0.8%% bucket error)\n");
    printf("gen cpu: this generator's CPU, %% of one core; srv cpu/op: CPU of the 3 server "
           "processes per request;\nbusy: whole machine, %% of all cores; other: busy minus "
           "generator and servers (other processes on the machine)\n\n");
    printf("%-5s %-8s %-18s %8s %9s %8s %8s %8s %8s %7s %7s %10s %5s %5s\n", "round", "system",
           "workload", "ops", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
           "gen cpu", "srv cpu/op", "busy", "other");
}

void svc_report_phase(const svc_target *t, svc_workload w, unsigned round, const svc_params *p,
                      const svc_result *r)
{
    (void)p;
    char srv[24] = "-";
    if (server_cpu_per_op(r) >= 0)
        snprintf(srv, sizeof srv, "%.0f us", server_cpu_per_op(r) * 1e6);
    char busy[16] = "-", other[16] = "-";
    if (r->cpu.total_s > 0) {
        snprintf(busy, sizeof busy, "%.0f%%", 100.0 * r->cpu.busy_s / r->cpu.total_s);
        if (r->cpu.servers_ok) {
            double rest = r->cpu.busy_s - r->cpu.self_s - r->cpu.servers_s;
            snprintf(other, sizeof other, "%.0f%%", 100.0 * (rest > 0 ? rest : 0) / r->cpu.total_s);
        }
    }
    char gen[16] = "-";
    if (r->seconds > 0)
        snprintf(gen, sizeof gen, "%.0f%%", 100.0 * r->cpu.self_s / r->seconds);
    char rnd[8];
    snprintf(rnd, sizeof rnd, "%u", round);
    if (w == SVC_FILL) {
        printf("%-5s %-8s %-18s %8llu %9.0f %8s %8s %8s %8s %7llu %7s %10s %5s %5s\n", "-", t->name,
               svc_workload_name(w), (unsigned long long)r->ok, rate(r), "-", "-", "-", "-",
               (unsigned long long)failures(r), gen, srv, busy, other);
    } else {
        printf("%-5s %-8s %-18s %8llu %9.0f %8.2f %8.2f %8.2f %8.2f %7llu %7s %10s %5s %5s\n", rnd,
               t->name, svc_workload_name(w), (unsigned long long)r->ok, rate(r),
               ms(cs_hist_quantile(&r->hist, 0.50)), ms(cs_hist_quantile(&r->hist, 0.99)),
               ms(cs_hist_quantile(&r->hist, 0.999)), ms(r->hist.max_us),
               (unsigned long long)failures(r), gen, srv, busy, other);
    }
    if (!clean(r)) {
        printf("      ^ FAILURES: %llu non-2xx (4xx %llu, 5xx %llu), %llu reads without the key, "
               "%llu without a response; %llu more in warm-up/drain; %u connections lost\n",
               (unsigned long long)r->errors, (unsigned long long)r->status_counts[4],
               (unsigned long long)r->status_counts[5], (unsigned long long)r->misses,
               (unsigned long long)r->transport, (unsigned long long)r->outside, r->conns_lost);
        printf("        first: %s\n", r->first_error);
    }
    fflush(stdout);
}

void svc_pool_add(svc_pool *all, svc_system s, svc_workload w, const svc_result *r)
{
    svc_result *pool = &all->r[s][w];
    bool first = !all->ran[s][w];
    all->ran[s][w] = true;
    pool->cpu.servers_ok = r->cpu.servers_ok && (first || pool->cpu.servers_ok);
    cs_hist_merge(&pool->hist, &r->hist);
    pool->ok += r->ok;
    pool->errors += r->errors;
    pool->misses += r->misses;
    pool->transport += r->transport;
    pool->outside += r->outside;
    for (size_t i = 0; i < CS_ARRAY_LEN(pool->status_counts); i++)
        pool->status_counts[i] += r->status_counts[i];
    pool->conns_lost += r->conns_lost;
    pool->seconds += r->seconds;
    pool->cpu.self_s += r->cpu.self_s;
    pool->cpu.servers_s += r->cpu.servers_s;
    pool->cpu.busy_s += r->cpu.busy_s;
    pool->cpu.total_s += r->cpu.total_s;
    if (pool->first_error[0] == '\0')
        memcpy(pool->first_error, r->first_error, sizeof pool->first_error);
}

static void summary(const char *name, const svc_result *r)
{
    char srv[24] = "-";
    if (server_cpu_per_op(r) >= 0)
        snprintf(srv, sizeof srv, "%.0f us", server_cpu_per_op(r) * 1e6);
    printf("  %-27s %6.0f ops/s  p50 %7.2f  p99 %7.2f  p99.9 %7.2f ms  srv cpu/op %7s  "
           "failed %llu%s\n",
           name, rate(r), ms(cs_hist_quantile(&r->hist, 0.50)),
           ms(cs_hist_quantile(&r->hist, 0.99)), ms(cs_hist_quantile(&r->hist, 0.999)), srv,
           (unsigned long long)failures(r),
           clean(r) ? "" : " (+ failures around the window or lost connections)");
}

/* Information beside a goal: server CPU per request, etcd / consort. */
static void cpu_ratio(const char *what, const svc_result *c, const svc_result *e)
{
    double cc = server_cpu_per_op(c), ce = server_cpu_per_op(e);
    if (cc > 0 && ce > 0)
        printf("  (information: server CPU per %s, etcd / consort = %.2fx; less sensitive to "
               "other load than throughput)\n",
               what, ce / cc);
}

/* Prints one goal line; returns 1 if missed or not measurable. */
static unsigned goal(const char *what, double value, bool higher_is_better, double target,
                     const char *unit, bool clean_run)
{
    bool met = clean_run && (higher_is_better ? value >= target : value <= target);
    printf("  %-44s %7.2f%s  (target %s %.2f%s)  %s%s\n", what, value, unit,
           higher_is_better ? ">=" : "<=", target, unit, met ? "PASS" : "MISS",
           clean_run ? "" : " (failures in the compared phases)");
    return met ? 0 : 1;
}

unsigned svc_report_compare(const svc_pool *pool)
{
    const svc_result(*pooled)[SVC_WORKLOADS] = pool->r;
    const bool(*ran)[SVC_WORKLOADS] = pool->ran;
    printf("\nall rounds pooled (throughput = successful requests / measured seconds; "
           "percentiles over every sample)\n");
    static const struct {
        svc_system s;
        svc_workload w;
        const char *name;
    } rows[] = {
        {SVC_CONSORT, SVC_WRITE, "consort write (committed)"},
        {SVC_ETCD, SVC_WRITE, "etcd put (committed)"},
        {SVC_CONSORT, SVC_READ, "consort read (local)"},
        {SVC_ETCD, SVC_READ, "etcd range (serializable)"},
        {SVC_ETCD, SVC_READ_LIN, "etcd range (linearizable)"},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(rows); i++) {
        if (ran[rows[i].s][rows[i].w])
            summary(rows[i].name, &pooled[rows[i].s][rows[i].w]);
        else
            printf("  %-30s not measured\n", rows[i].name);
    }
    printf("\ngoals (consort / etcd, same run, same machine, same generator and parameters)\n");
    const svc_result *cw = &pooled[SVC_CONSORT][SVC_WRITE], *ew = &pooled[SVC_ETCD][SVC_WRITE];
    const svc_result *cr = &pooled[SVC_CONSORT][SVC_READ], *er = &pooled[SVC_ETCD][SVC_READ];
    unsigned missed = 0;
    if (ran[SVC_CONSORT][SVC_WRITE] && ran[SVC_ETCD][SVC_WRITE] && rate(ew) > 0) {
        bool both = clean(cw) && clean(ew);
        missed += goal("write throughput, consort / etcd", rate(cw) / rate(ew), true, WRITE_GOAL,
                       "x", both);
        double p99c = ms(cs_hist_quantile(&cw->hist, 0.99));
        double p99e = ms(cs_hist_quantile(&ew->hist, 0.99));
        char what[96];
        snprintf(what, sizeof what, "p99 write latency, consort (0.5 x etcd's %.2f ms)", p99e);
        missed += goal(what, p99c, false, LATENCY_GOAL * p99e, " ms", both);
        cpu_ratio("write", cw, ew);
    } else {
        printf("  write goals: not measured (both systems are needed)\n");
        missed += 2;
    }
    if (ran[SVC_CONSORT][SVC_READ] && ran[SVC_ETCD][SVC_READ] && rate(er) > 0) {
        bool both = clean(cr) && clean(er);
        missed += goal("read throughput, consort / etcd serializable", rate(cr) / rate(er), true,
                       READ_GOAL, "x", both);
        cpu_ratio("read", cr, er);
        const svc_result *el = &pooled[SVC_ETCD][SVC_READ_LIN];
        if (ran[SVC_ETCD][SVC_READ_LIN] && rate(el) > 0)
            printf("  (information: consort reads / etcd linearizable reads = %.2fx)\n",
                   rate(cr) / rate(el));
    } else {
        printf("  read goal: not measured (both systems are needed)\n");
        missed += 1;
    }
    printf("%u of 3 goals met\n", 3 - missed);
    return missed;
}
