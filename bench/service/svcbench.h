/*
 * bench_service: a closed-loop HTTP load generator (TLS, keep-alive, N
 * connections x pipeline depth) that measures committed writes and reads
 * against a 3-node consort sandbox and, in the same run with the same
 * parameters, against a 3-member etcd cluster through etcd's JSON gateway.
 * scripts/bench-service.sh starts both services and calls this program.
 *
 * Pieces:
 *   request.c  what a request looks like for each system and workload, and
 *              what counts as a success
 *   phase.c    one measured phase on its own libuv loop: connect, warm up,
 *              measure for a fixed time, drain, close (phase_priv.h)
 *   traffic.c  the closed loop: sending requests, counting completions
 *   sysstat.c  CPU time of this process, of the servers' processes and of
 *              the whole machine
 *   report.c   the per-phase table and the comparison with the goals
 *   main.c     options, TLS configurations, the order of the phases
 *
 * Everything runs on one thread (one libuv loop per phase).
 */
#ifndef BENCH_SERVICE_SVCBENCH_H
#define BENCH_SERVICE_SVCBENCH_H

#include "base/buf.h"
#include "base/hist.h" /* latency histogram: <= 0.8% relative error */
#include "crypto/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SVC_MAX_ADDRESSES 8
#define SVC_MAX_PIDS      8
#define SVC_MAX_ROUNDS    10

typedef enum svc_system {
    SVC_ETCD = 0,
    SVC_CONSORT = 1,
} svc_system;

typedef enum svc_workload {
    SVC_FILL = 0,     /* write ids 0 .. keys-1 once (count-bounded, not measured) */
    SVC_WRITE = 1,    /* committed writes of new ids */
    SVC_READ = 2,     /* local reads of committed state (etcd: serializable) */
    SVC_READ_LIN = 3, /* etcd only: linearizable reads (information) */
    SVC_WORKLOADS = 4,
} svc_workload;

const char *svc_workload_name(svc_workload w);

/* ---- CPU accounting ---- */

typedef struct svc_cpu {
    double self_s;    /* user + system time of this process */
    double servers_s; /* user + system time of the server processes (all threads) */
    double busy_s;    /* non-idle time of the whole machine, summed over CPUs */
    double total_s;   /* all time of the whole machine, summed over CPUs */
    bool servers_ok;  /* every server pid could be read */
} svc_cpu;

void svc_cpu_sample(const pid_t *pids, size_t pid_count, svc_cpu *out);

/* ---- one system under test ---- */

typedef struct svc_target {
    svc_system system;
    const char *name;                   /* "etcd", "consort" */
    char *addresses[SVC_MAX_ADDRESSES]; /* "127.0.0.1:2379"; connections round-robin */
    size_t address_count;
    cs_tls_config *tls; /* NULL: plain TCP */
    pid_t pids[SVC_MAX_PIDS];
    size_t pid_count;
    uint64_t next_write_id; /* ids >= keys are fresh keys for the write workload */
} svc_target;

typedef struct svc_params {
    unsigned connections; /* per phase, spread over the target's addresses */
    unsigned depth;       /* requests in flight per connection (pipelining) */
    double warmup_s;      /* not measured */
    double seconds;       /* measured */
    uint64_t keys;        /* ids 0 .. keys-1 are filled before reads */
    size_t value_bytes;   /* the message / value: printable ASCII */
    uint64_t seed;
} svc_params;

typedef struct svc_result {
    cs_hist hist;              /* latency of the successful requests completed in the window */
    uint64_t ok;               /* 2xx (and, for reads, the key was found) in the window */
    uint64_t errors;           /* non-2xx responses in the window */
    uint64_t misses;           /* etcd reads answered 200 without the key (counted as errors too) */
    uint64_t transport;        /* requests that ended without a response (connection lost) */
    uint64_t outside;          /* failures during warm-up or drain (not in the counts above) */
    uint64_t status_counts[6]; /* by class: [1]=1xx .. [5]=5xx, [0]=other */
    char first_error[160];     /* the first failure's description, "" if none */
    unsigned conns_lost;       /* connections that ended during warm-up or measurement */
    double seconds;            /* measured wall time */
    svc_cpu cpu;               /* deltas over the measured window */
} svc_result;

/*
 * Runs one phase of `w` against `t` with `p` and fills `out`. SVC_FILL
 * writes ids 0 .. p->keys-1 and measures the time it took. Returns an error
 * only when the phase could not run (a connection could not be set up, or
 * every connection died): failed requests in a phase that ran are counted in
 * `out`, never hidden.
 */
CS_MUST_CHECK consort_err svc_phase_run(svc_target *t, svc_workload w, const svc_params *p,
                                        svc_result *out);

/* ---- requests ---- */

typedef struct svc_request {
    const char *method;
    char target[64];
    cs_buf body; /* reused between requests */
} svc_request;

void svc_request_init(svc_request *r);
void svc_request_cleanup(svc_request *r);
/* Builds the request of workload `w` for record `id` of `system`. */
CS_MUST_CHECK consort_err svc_request_build(svc_request *r, svc_system system, svc_workload w,
                                            uint64_t id, size_t value_bytes);
/* Whether a 2xx response body answers a read of an existing key (etcd
 * answers 200 with no "kvs" member for a missing key). */
bool svc_response_found(svc_system system, svc_workload w, cs_slice body);

/* ---- report ---- */

void svc_report_header(const svc_params *p);
void svc_report_phase(const svc_target *t, svc_workload w, unsigned round, const svc_params *p,
                      const svc_result *r);
/* Every round's results of each system and workload, pooled. */
typedef struct svc_pool {
    svc_result r[2][SVC_WORKLOADS]; /* [system][workload] */
    bool ran[2][SVC_WORKLOADS];     /* at least one phase ran */
} svc_pool;

/* Adds `r` into the pool (histograms merged, counts and times summed). */
void svc_pool_add(svc_pool *pool, svc_system s, svc_workload w, const svc_result *r);
/*
 * Prints the pooled results (all rounds) and the goals: write throughput
 * >= 2x etcd, read throughput >= 3x etcd's serializable reads, p99 write
 * latency <= etcd's. A workload that did not run on both systems is
 * reported as not measured. Returns the number of goals missed (or not
 * measured).
 */
unsigned svc_report_compare(const svc_pool *pool);

#endif
