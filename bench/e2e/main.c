/*
 * bench_e2e (built by `make bench`; run by scripts/bench-e2e.sh, which
 * starts `consort sandbox --sample composed`): the cost of handling
 * statements on a composed chain. Writes through the records front-end,
 * each of which calls the storage back-end (docs/e2e.md), in two phases of
 * the same run with the same generator: without statements, and with
 * x-consort-attest on every request (so each answer carries records'
 * statement nesting storage's, and records checks storage's). The phases
 * alternate their order between rounds; the result is the ratio of
 * throughputs, against the goal of at most 10% cost (issue "End-to-end
 * attestation", item 10).
 *
 * Usage: bench_e2e --address ADDR --ca service_cert.pem --cert user0_cert.pem
 *                  --key user0_privk.pem [--connections 16] [--seconds 8]
 *                  [--warmup 1] [--rounds 3] [--keys 10000]
 * Writes go to ids 0 .. keys-1 in turn, first filled by plain writes that are
 * not measured (as bench_service does): the stores stay at that size, so
 * their snapshots cost alike in every phase. `--keys 0` writes a new id
 * every time instead, and the stores grow through the run (each service's
 * snapshots then grow with it and fall in whichever phase is running).
 * Exit status: 0 when every phase ran (whatever the goal), 1 otherwise,
 * 2 for a usage error.
 */
#include "../bench_client.h"
#include "base/alloc.h"
#include "base/file.h"
#include "crypto/key.h"
#include "crypto/rand.h"
#include "crypto/x509.h"
#include "net/http_client.h"
#include "net/tls_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define MAX_CONNS   256
#define MAX_PIDS    BENCH_MAX_PIDS
#define MAX_SAMPLES (1 << 20)
#define GOAL        0.90 /* attested throughput / plain throughput */

typedef struct phase phase;

typedef struct conn {
    phase *ph;
    cs_http_client *client;
    uint64_t sent_at; /* uv_hrtime of the request in flight */
    bool busy;
} conn;

struct phase {
    uv_loop_t *loop;
    cs_tls_config *tls;
    const char *address;
    bool attest;
    unsigned n_conns, connected, failed;
    conn conns[MAX_CONNS];
    uint64_t start, measure_from, end; /* ns */
    uint64_t ok, errors, next_id;
    uint64_t fill; /* > 0: write this many ids (no time limit, not measured) */
    uint32_t *lat_us;
    size_t n_lat;
    bool stopping;
    /* servers_cpu() when measuring started and ended, per --pids process */
    double cpu_from[MAX_PIDS], cpu_to[MAX_PIDS];
    bool cpu_done;
    char error[256];
};

static uint64_t id_base;
static uint64_t keys = 10000; /* --keys: 0 = a new id for every write */
static uint64_t key_cursor;   /* the next of ids 0 .. keys-1 */

static void send_one(conn *c);

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    conn *c = ctx;
    phase *ph = c->ph;
    c->busy = false;
    uint64_t now = uv_hrtime();
    if (err != CONSORT_OK || r->status != 200 ||
        (ph->attest && cs_http_response_header(r, "x-consort-handling-statement") == NULL)) {
        ph->errors++;
        if (ph->error[0] == '\0')
            snprintf(ph->error, sizeof ph->error, "%s",
                     err != CONSORT_OK  ? msg
                     : r->status != 200 ? "a status other than 200"
                                        : "an attested answer without a statement");
        if (err != CONSORT_OK)
            return; /* the connection is gone */
    } else if (now >= ph->measure_from && now < ph->end) {
        ph->ok++;
        if (ph->n_lat < MAX_SAMPLES)
            ph->lat_us[ph->n_lat++] = (uint32_t)((now - c->sent_at) / 1000);
    }
    if (now < ph->end && !ph->stopping)
        send_one(c);
}

static void send_one(conn *c)
{
    phase *ph = c->ph;
    if (ph->fill > 0 && ph->next_id >= ph->fill)
        return;
    char body[160], nonce[33];
    const uint64_t id = keys > 0 ? key_cursor++ % keys : id_base + ph->next_id;
    ph->next_id++;
    int n = snprintf(body, sizeof body, "{\"id\": %llu, \"record\": \"a record of 32 bytes....\"}",
                     (unsigned long long)id);
    uint8_t raw[16];
    if (cs_random(raw, sizeof raw) != CONSORT_OK)
        abort();
    cs_hex_encode(CS_SLICE(raw, sizeof raw), nonce);
    const cs_http_header h[2] = {{"Content-Type", "application/json"}, {"x-consort-attest", nonce}};
    c->sent_at = uv_hrtime();
    c->busy = true;
    if (cs_http_client_request(c->client, "POST", "/app/records", h, ph->attest ? 2 : 1,
                               CS_SLICE(body, (size_t)n), on_response, c) != CONSORT_OK) {
        c->busy = false;
        ph->errors++;
    }
}

static void on_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    conn *c = ctx;
    phase *ph = c->ph;
    if (err != CONSORT_OK) {
        ph->failed++;
        snprintf(ph->error, sizeof ph->error, "connect: %s", msg);
        return;
    }
    const cs_http_client_params p = {.limits = {.max_header_bytes = (size_t)2 << 20}};
    if (cs_http_client_new(s, &p, &c->client) != CONSORT_OK) {
        ph->failed++;
        return;
    }
    ph->connected++;
}

static bool all_connected(phase *ph)
{
    return ph->connected + ph->failed >= ph->n_conns;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the services' CPU, from /proc (--pids) ---- */

static int pids[MAX_PIDS];
static size_t n_pids;

/* utime + stime of each --pids process, in seconds (0 for one that is gone). */
static void servers_cpu(double out[MAX_PIDS])
{
    for (size_t i = 0; i < n_pids; i++)
        out[i] = bench_proc_cpu(pids[i]);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* One phase: connect, load for warmup + seconds, close. */
static bool run_phase(phase *ph, double warmup, double seconds)
{
    for (unsigned i = 0; i < ph->n_conns; i++) {
        ph->conns[i] = (conn){.ph = ph};
        if (cs_tls_connect(ph->loop, ph->address, ph->tls, on_connect, &ph->conns[i]) !=
            CONSORT_OK) {
            fprintf(stderr, "bench_e2e: connect: %s\n", consort_errmsg());
            return false;
        }
    }
    while (!all_connected(ph))
        uv_run(ph->loop, UV_RUN_ONCE);
    if (ph->failed > 0) {
        fprintf(stderr, "bench_e2e: %u connections failed: %s\n", ph->failed, ph->error);
        return false;
    }
    ph->start = uv_hrtime();
    ph->measure_from = ph->start + (uint64_t)(warmup * 1e9);
    bool sampled = false;
    ph->end = ph->measure_from + (uint64_t)(seconds * 1e9);
    for (unsigned i = 0; i < ph->n_conns; i++)
        send_one(&ph->conns[i]);
    /* block in the loop (a client that spins takes a core from the
     * services it measures); the tick wakes it to notice the end */
    uv_timer_t tick;
    uv_timer_init(ph->loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    for (;;) {
        bool busy = false;
        for (unsigned i = 0; i < ph->n_conns; i++)
            busy = busy || ph->conns[i].busy;
        uint64_t now = uv_hrtime();
        if (!sampled && now >= ph->measure_from) { /* the services' CPU over the measured part */
            servers_cpu(ph->cpu_from);
            sampled = true;
        }
        if (!ph->cpu_done && now >= ph->end) {
            servers_cpu(ph->cpu_to);
            ph->cpu_done = true;
        }
        /* after the samples: a phase whose writes all ended by its end
         * would otherwise stop without its closing CPU sample */
        if (!busy && (now >= ph->end || (ph->fill > 0 && ph->next_id >= ph->fill)))
            break;
        uv_run(ph->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    ph->stopping = true;
    for (unsigned i = 0; i < ph->n_conns; i++)
        cs_http_client_free(ph->conns[i].client);
    uv_run(ph->loop, UV_RUN_NOWAIT);
    return true;
}

/* Writes ids 0 .. keys-1 once, plainly, before anything is measured. */
static int fill_ids(uv_loop_t *loop, cs_tls_config *tls, const char *address, unsigned conns)
{
    phase *ph = cs_calloc(1, sizeof *ph);
    if (ph == NULL)
        return 1;
    *ph = (phase){.loop = loop, .tls = tls, .address = address, .n_conns = conns, .fill = keys};
    ph->lat_us = cs_calloc(MAX_SAMPLES, sizeof *ph->lat_us);
    const uint64_t t0 = uv_hrtime();
    bool ok = run_phase(ph, 0, 3600) && ph->errors == 0;
    if (ok)
        printf("filled ids 0 .. %llu in %.1f s\n", (unsigned long long)keys - 1,
               (double)(uv_hrtime() - t0) / 1e9);
    else
        fprintf(stderr, "bench_e2e: filling the ids failed: %s\n", ph->error);
    cs_free(ph->lat_us);
    cs_free(ph);
    return ok ? 0 : 1;
}

typedef struct result {
    double rate, p50_ms, p99_ms;
    double cpu_us;                /* the services' CPU per write (--pids), 0 without */
    double cpu_us_each[MAX_PIDS]; /* ... per process */
    uint64_t errors;
} result;

static result summarize(phase *ph, double seconds)
{
    qsort(ph->lat_us, ph->n_lat, sizeof ph->lat_us[0], cmp_u32);
    result r = {.rate = (double)ph->ok / seconds, .errors = ph->errors};
    for (size_t i = 0; ph->cpu_done && ph->ok > 0 && i < n_pids; i++) {
        r.cpu_us_each[i] = (ph->cpu_to[i] - ph->cpu_from[i]) * 1e6 / (double)ph->ok;
        r.cpu_us += r.cpu_us_each[i];
    }
    if (ph->n_lat > 0) {
        r.p50_ms = ph->lat_us[ph->n_lat / 2] / 1000.0;
        r.p99_ms = ph->lat_us[(ph->n_lat * 99) / 100] / 1000.0;
    }
    return r;
}

int main(int argc, char **argv)
{
    const char *address = NULL, *ca = NULL, *cert = NULL, *key = NULL;
    unsigned conns = 16, rounds = 3;
    double seconds = 8, warmup = 1;
    bool keys_ok = true; /* --keys: 0 to 100,000,000 */
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--address") == 0)
            address = v;
        else if (strcmp(o, "--ca") == 0)
            ca = v;
        else if (strcmp(o, "--cert") == 0)
            cert = v;
        else if (strcmp(o, "--key") == 0)
            key = v;
        else if (strcmp(o, "--connections") == 0)
            conns = (unsigned)atoi(v);
        else if (strcmp(o, "--seconds") == 0)
            seconds = atof(v);
        else if (strcmp(o, "--warmup") == 0)
            warmup = atof(v);
        else if (strcmp(o, "--keys") == 0) {
            char *end;
            keys = strtoull(v, &end, 10);
            keys_ok = *v >= '0' && *v <= '9' && *end == '\0' && keys <= 100000000;
        } else if (strcmp(o, "--rounds") == 0)
            rounds = (unsigned)atoi(v);
        else if (strcmp(o, "--pids") == 0)
            n_pids = bench_parse_pids(v, pids);
    }
    if (address == NULL || ca == NULL || cert == NULL || key == NULL || conns == 0 ||
        conns > MAX_CONNS || seconds <= 0 || warmup < 0 || rounds == 0 || !keys_ok) {
        fprintf(stderr, "usage: bench_e2e --address ADDR --ca PEM --cert PEM --key PEM "
                        "[--connections N<=256] [--seconds S] [--warmup S] [--rounds R] "
                        "[--keys K] [--pids PID,PID...]\n");
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    cs_x509 *root = NULL, *c = NULL;
    cs_key *k = NULL;
    cs_tls_pinned pinned;
    cs_tls_config *tls = NULL;
    if (bench_tls_client(ca, cert, key, &root, &c, &k, &pinned, &tls) != CONSORT_OK) {
        fprintf(stderr, "bench_e2e: %s\n", consort_errmsg());
        return 1;
    }
    id_base = (uint64_t)uv_hrtime(); /* ids no earlier run used */
    printf("bench_e2e: %u connections, 1 request in flight each, %.0f s per phase after %.0f s "
           "warmup, %u rounds; POST /app/records on records -> storage; ",
           conns, seconds, warmup, rounds);
    if (keys > 0)
        printf("ids 0 .. %llu in turn\n", (unsigned long long)keys - 1);
    else
        printf("a new id every write (the stores grow)\n");
    if (keys > 0 && fill_ids(&loop, tls, address, conns) != 0)
        return 1;
    double sum[2] = {0, 0}, cpu_sum[2] = {0, 0};
    unsigned cpu_rounds[2] = {0, 0}; /* phases with a CPU measurement */
    int status = 0;
    for (unsigned round = 0; round < rounds && status == 0; round++) {
        for (unsigned j = 0; j < 2 && status == 0; j++) {
            bool attest = (j + round) % 2 == 1; /* the order alternates */
            phase *ph = cs_calloc(1, sizeof *ph);
            ph->lat_us = cs_calloc(MAX_SAMPLES, sizeof *ph->lat_us);
            ph->loop = &loop;
            ph->tls = tls;
            ph->address = address;
            ph->attest = attest;
            ph->n_conns = conns;
            ph->next_id = ((uint64_t)round * 2 + j) << 32;
            if (!run_phase(ph, warmup, seconds))
                status = 1;
            result r = summarize(ph, seconds);
            char cpu[160] = "";
            if (r.cpu_us > 0) {
                int w = snprintf(cpu, sizeof cpu, "  services' CPU %5.0f us/write (", r.cpu_us);
                for (size_t i = 0; i < n_pids && w > 0 && (size_t)w < sizeof cpu; i++)
                    w += snprintf(cpu + w, sizeof cpu - (size_t)w, "%s%.0f", i ? " + " : "",
                                  r.cpu_us_each[i]);
                if (w > 0 && (size_t)w < sizeof cpu - 1)
                    snprintf(cpu + w, sizeof cpu - (size_t)w, ")");
            }
            printf("round %u %-9s %8.0f writes/s  p50 %6.2f ms  p99 %6.2f ms%s  errors %llu%s%s\n",
                   round + 1, attest ? "attested" : "plain", r.rate, r.p50_ms, r.p99_ms, cpu,
                   (unsigned long long)r.errors, ph->error[0] ? "  first: " : "", ph->error);
            cpu_sum[attest] += r.cpu_us;
            cpu_rounds[attest] += r.cpu_us > 0;
            if (r.errors > 0 || r.rate == 0)
                status = 1;
            sum[attest] += r.rate;
            cs_free(ph->lat_us);
            cs_free(ph);
        }
    }
    if (status == 0) {
        double ratio = sum[1] / sum[0];
        printf("attested / plain throughput: %.3f (goal >= %.2f, i.e. at most %.0f%% cost): %s\n",
               ratio, GOAL, (1 - GOAL) * 100, ratio >= GOAL ? "PASS" : "MISS");
        if (cpu_rounds[0] > 0 && cpu_rounds[1] > 0) {
            const double a = cpu_sum[1] / cpu_rounds[1], p = cpu_sum[0] / cpu_rounds[0];
            printf("services' CPU per write, attested / plain: %.3f (%.0f / %.0f us)\n", a / p, a,
                   p);
        }
    }
    cs_tls_config_free(tls);
    cs_x509_free(root);
    cs_x509_free(c);
    cs_key_free(k);
    uv_run(&loop, UV_RUN_NOWAIT);
    return status;
}
