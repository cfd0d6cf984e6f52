/*
 * bench_receipt (built by `make bench`; run by scripts/bench-receipt.sh,
 * which starts a 3-node `consort sandbox` with the logging sample): how
 * long after a write is acknowledged its receipt can be fetched (issue
 * "Performance", item 3), at the service's maximum write rate and at half
 * of it, in one run.
 *
 * Phase "max": `--connections` clients write private records with one
 * request in flight each (closed loop) for `--seconds`: the maximum rate.
 * Phase "half": the same clients, paced (open loop, a timer every ms) to
 * half that rate. In both, every `--probe-every`-th acknowledged write is
 * followed: a separate connection asks GET /app/receipt for it every ms
 * (one request in flight, the oldest waiting write first) until 200. A
 * write's receipt latency = when its receipt came - when its write was
 * acknowledged, so it includes up to one polling interval and one round
 * trip. The signature entries the service made in a phase come from
 * /node/metrics (consort_signatures_total) and the nodes' CPU from /proc
 * (--pids).
 *
 * Goal (issue "Performance"): receipt p99 within 20 ms of the write's
 * acknowledgement at half the maximum throughput.
 *
 * Usage: bench_receipt --address ADDR --ca service_cert.pem --cert user0_cert.pem
 *                      --key user0_privk.pem [--connections 32] [--seconds 8]
 *                      [--probe-every 50] [--pids PID,PID...]
 * Exit status: 0 when both phases ran (whatever the goal), 1 otherwise,
 * 2 for a usage error.
 */
#include "../bench_client.h"
#include "base/alloc.h"
#include "crypto/key.h"
#include "crypto/x509.h"
#include "net/http_client.h"
#include "net/tls_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define MAX_CONNS   256
#define MAX_PROBES  (1 << 16)
#define MAX_PIDS    BENCH_MAX_PIDS
#define GOAL_P99_MS 20.0

typedef struct bench bench;

typedef struct writer {
    bench *b;
    cs_http_client *client;
    bool busy;
} writer;

typedef struct probe {
    char txid[48];
    uint64_t acked_at; /* uv_hrtime */
} probe;

struct bench {
    uv_loop_t *loop;
    const char *address;
    cs_tls_config *tls;
    unsigned n_conns, connected, failed;
    writer w[MAX_CONNS];
    cs_http_client *prober;
    bool prober_busy;
    /* the phase */
    bool paced;
    double rate;    /* paced: writes/s */
    uint64_t start; /* ns */
    uint64_t end;
    uint64_t sent, acked, errors, next_id;
    unsigned probe_every;
    probe *probes; /* acknowledged writes waiting for their receipt */
    size_t probes_head, probes_tail;
    uint32_t *lat_us; /* receipt latencies */
    size_t n_lat;
    char error[256];
};

static uint64_t id_base;

static void send_write(writer *w);
static void send_probe(bench *b);

static void on_write(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    writer *w = ctx;
    bench *b = w->b;
    w->busy = false;
    if (err != CONSORT_OK || r->status != 200) {
        b->errors++;
        if (b->error[0] == '\0')
            snprintf(b->error, sizeof b->error, "%s",
                     err != CONSORT_OK ? msg : "a write answered other than 200");
        if (err != CONSORT_OK)
            return;
    } else {
        b->acked++;
        const char *txid = cs_http_response_header(r, "x-consort-txid");
        if (txid != NULL && b->acked % b->probe_every == 0 &&
            b->probes_tail - b->probes_head < MAX_PROBES) {
            probe *p = &b->probes[b->probes_tail++ % MAX_PROBES];
            snprintf(p->txid, sizeof p->txid, "%s", txid);
            p->acked_at = uv_hrtime();
        }
    }
    if (!b->paced && uv_hrtime() < b->end)
        send_write(w);
}

static void send_write(writer *w)
{
    bench *b = w->b;
    char body[96];
    int n = snprintf(body, sizeof body, "{\"id\": %llu, \"msg\": \"a private record of 32 B.\"}",
                     (unsigned long long)(id_base + b->next_id++));
    static const cs_http_header h[1] = {{"Content-Type", "application/json"}};
    w->busy = true;
    b->sent++;
    if (cs_http_client_request(w->client, "POST", "/app/log/private", h, 1,
                               CS_SLICE(body, (size_t)n), on_write, w) != CONSORT_OK) {
        w->busy = false;
        b->errors++;
    }
}

static void on_receipt(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    bench *b = ctx;
    b->prober_busy = false;
    if (err != CONSORT_OK) {
        snprintf(b->error, sizeof b->error, "receipt: %s", msg);
        b->errors++;
        return;
    }
    if (r->status == 200) {
        probe *p = &b->probes[b->probes_head++ % MAX_PROBES];
        b->lat_us[b->n_lat++] = (uint32_t)((uv_hrtime() - p->acked_at) / 1000);
    } else if (r->status != 202) {
        b->errors++;
        snprintf(b->error, sizeof b->error, "receipt of %s: status %d: %.*s",
                 b->probes[b->probes_head % MAX_PROBES].txid, r->status,
                 (int)(r->body.len < 200 ? r->body.len : 200), (const char *)r->body.ptr);
        b->probes_head++; /* never coming */
    }
}

static void send_probe(bench *b)
{
    if (b->prober_busy || b->probes_head == b->probes_tail || b->n_lat >= MAX_PROBES)
        return;
    char target[96];
    snprintf(target, sizeof target, "/app/receipt?transaction_id=%s",
             b->probes[b->probes_head % MAX_PROBES].txid);
    b->prober_busy = true;
    if (cs_http_client_request(b->prober, "GET", target, NULL, 0, CS_SLICE_EMPTY, on_receipt, b) !=
        CONSORT_OK) {
        b->prober_busy = false;
        b->errors++;
    }
}

/* Every ms: the paced writes that are due, and the next receipt poll. */
static void on_tick(uv_timer_t *t)
{
    bench *b = t->data;
    uint64_t now = uv_hrtime();
    if (b->paced && now < b->end) {
        uint64_t due = (uint64_t)((double)(now - b->start) * 1e-9 * b->rate);
        for (unsigned i = 0; i < b->n_conns && b->sent < due; i++)
            if (!b->w[i].busy)
                send_write(&b->w[i]);
    }
    send_probe(b);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return a < c ? -1 : a > c;
}

static int pids[MAX_PIDS];
static size_t n_pids;

static double nodes_cpu(void)
{
    double total = 0;
    for (size_t i = 0; i < n_pids; i++)
        total += bench_proc_cpu(pids[i]);
    return total;
}

typedef struct metrics_read {
    bool done;
    double signatures;
} metrics_read;

static void on_metrics(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    (void)msg;
    metrics_read *m = ctx;
    m->done = true;
    m->signatures = -1;
    if (err != CONSORT_OK || r->status != 200)
        return;
    /* consort_signatures_total{node="..."} N */
    const char *name = "\nconsort_signatures_total{";
    char *text = cs_calloc(1, r->body.len + 2);
    if (text == NULL)
        return;
    text[0] = '\n';
    memcpy(text + 1, r->body.ptr, r->body.len);
    const char *p = strstr(text, name);
    if (p != NULL && (p = strchr(p, '}')) != NULL)
        m->signatures = strtod(p + 1, NULL);
    cs_free(text);
}

/* The leader's count of signature entries (any node's: they apply the same). */
static double signatures(bench *b)
{
    metrics_read m = {0};
    if (cs_http_client_request(b->prober, "GET", "/node/metrics", NULL, 0, CS_SLICE_EMPTY,
                               on_metrics, &m) != CONSORT_OK)
        return -1;
    while (!m.done)
        uv_run(b->loop, UV_RUN_ONCE);
    return m.signatures;
}

typedef struct result {
    double rate, p50_ms, p99_ms, max_ms, sigs_per_s, cpu_per_s;
    size_t samples;
} result;

/* One phase: writes (closed loop, or paced at `rate`) for `seconds`, then
 * the receipts still waiting, for at most 5 s more. */
static result run_phase(bench *b, bool paced, double rate, double seconds)
{
    b->paced = paced;
    b->rate = rate;
    b->sent = b->acked = 0;
    b->probes_head = b->probes_tail = 0;
    b->n_lat = 0;
    double sig0 = signatures(b), cpu0 = nodes_cpu();
    uv_timer_t tick;
    uv_timer_init(b->loop, &tick);
    tick.data = b;
    b->start = uv_hrtime();
    b->end = b->start + (uint64_t)(seconds * 1e9);
    uv_timer_start(&tick, on_tick, 1, 1);
    if (!paced)
        for (unsigned i = 0; i < b->n_conns; i++)
            send_write(&b->w[i]);
    for (;;) {
        bool busy = false;
        for (unsigned i = 0; i < b->n_conns; i++)
            busy = busy || b->w[i].busy;
        uint64_t now = uv_hrtime();
        bool probing = b->probes_head != b->probes_tail && now < b->end + 5000000000ull;
        if (!busy && now >= b->end && !probing && !b->prober_busy)
            break;
        uv_run(b->loop, UV_RUN_ONCE);
    }
    double elapsed = (double)(b->end - b->start) * 1e-9;
    double cpu1 = nodes_cpu(), sig1 = signatures(b);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(b->loop, UV_RUN_NOWAIT);
    result r = {.rate = (double)b->acked / elapsed, .samples = b->n_lat};
    qsort(b->lat_us, b->n_lat, sizeof b->lat_us[0], cmp_u32);
    if (b->n_lat > 0) {
        r.p50_ms = b->lat_us[b->n_lat / 2] / 1000.0;
        r.p99_ms = b->lat_us[(b->n_lat * 99) / 100] / 1000.0;
        r.max_ms = b->lat_us[b->n_lat - 1] / 1000.0;
    }
    r.sigs_per_s = sig0 >= 0 && sig1 >= 0 ? (sig1 - sig0) / elapsed : -1;
    r.cpu_per_s = n_pids > 0 ? (cpu1 - cpu0) / elapsed : 0;
    return r;
}

static void print_result(const char *what, const result *r)
{
    printf("%-5s %8.0f writes/s  receipt after ack: p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms "
           "(%zu receipts)  signature entries %5.1f/s",
           what, r->rate, r->p50_ms, r->p99_ms, r->max_ms, r->samples, r->sigs_per_s);
    if (r->cpu_per_s > 0)
        printf("  nodes' CPU %.2f cores", r->cpu_per_s);
    printf("\n");
}

static cs_http_client *connect_one(bench *b)
{
    cs_http_client *c = bench_connect(b->loop, b->address, b->tls, b->error, sizeof b->error);
    if (c == NULL)
        b->failed++;
    else
        b->connected++;
    return c;
}

int main(int argc, char **argv)
{
    const char *ca = NULL, *cert = NULL, *key = NULL;
    bench *b = cs_calloc(1, sizeof *b);
    if (b == NULL)
        return 1;
    b->n_conns = 32;
    /* one prober, one request in flight: at 12,000 writes/s every 10th
     * write was more receipts than it could follow (its own queue, not
     * the service, then made the latency) */
    b->probe_every = 50;
    double seconds = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--address") == 0)
            b->address = v;
        else if (strcmp(o, "--ca") == 0)
            ca = v;
        else if (strcmp(o, "--cert") == 0)
            cert = v;
        else if (strcmp(o, "--key") == 0)
            key = v;
        else if (strcmp(o, "--connections") == 0)
            b->n_conns = (unsigned)atoi(v);
        else if (strcmp(o, "--seconds") == 0)
            seconds = atof(v);
        else if (strcmp(o, "--probe-every") == 0)
            b->probe_every = (unsigned)atoi(v);
        else if (strcmp(o, "--pids") == 0)
            n_pids = bench_parse_pids(v, pids);
        else {
            fprintf(stderr, "bench_receipt: unknown option %s\n", o);
            return 2;
        }
    }
    if (b->address == NULL || ca == NULL || cert == NULL || key == NULL || b->n_conns == 0 ||
        b->n_conns > MAX_CONNS || seconds <= 0 || b->probe_every == 0) {
        fprintf(stderr, "usage: bench_receipt --address ADDR --ca PEM --cert PEM --key PEM "
                        "[--connections N<=256] [--seconds S] [--probe-every K] "
                        "[--pids PID,...]\n");
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    b->loop = &loop;
    cs_x509 *root = NULL, *c = NULL;
    cs_key *k = NULL;
    cs_tls_pinned pinned;
    if (bench_tls_client(ca, cert, key, &root, &c, &k, &pinned, &b->tls) != CONSORT_OK) {
        fprintf(stderr, "bench_receipt: %s\n", consort_errmsg());
        return 1;
    }
    b->probes = cs_calloc(MAX_PROBES, sizeof *b->probes);
    b->lat_us = cs_calloc(MAX_PROBES, sizeof *b->lat_us);
    for (unsigned i = 0; i < b->n_conns; i++) {
        b->w[i] = (writer){.b = b, .client = connect_one(b)};
        if (b->w[i].client == NULL) {
            fprintf(stderr, "bench_receipt: connect: %s\n", b->error);
            return 1;
        }
    }
    b->prober = connect_one(b);
    if (b->prober == NULL || b->probes == NULL || b->lat_us == NULL) {
        fprintf(stderr, "bench_receipt: connect: %s\n", b->error);
        return 1;
    }
    id_base = (uint64_t)uv_hrtime();
    printf("bench_receipt: %u writers, %.0f s per phase, a receipt followed for every %u-th "
           "acknowledged write, polled every ms\n",
           b->n_conns, seconds, b->probe_every);
    result max = run_phase(b, false, 0, seconds);
    print_result("max", &max);
    result half = run_phase(b, true, max.rate / 2, seconds);
    print_result("half", &half);
    int status = max.samples == 0 || half.samples == 0 || b->errors > 0 ? 1 : 0;
    if (b->errors > 0)
        printf("errors: %llu (first: %s)\n", (unsigned long long)b->errors, b->error);
    if (status == 0)
        printf("receipt p99 at half the maximum throughput: %.2f ms (goal <= %.0f ms): %s\n",
               half.p99_ms, GOAL_P99_MS, half.p99_ms <= GOAL_P99_MS ? "PASS" : "MISS");
    for (unsigned i = 0; i < b->n_conns; i++)
        cs_http_client_free(b->w[i].client);
    cs_http_client_free(b->prober);
    uv_run(&loop, UV_RUN_NOWAIT);
    cs_tls_config_free(b->tls);
    cs_x509_free(root);
    cs_x509_free(c);
    cs_key_free(k);
    cs_free(b->probes);
    cs_free(b->lat_us);
    cs_free(b);
    return status;
}
