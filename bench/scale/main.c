/*
 * bench_scale (built by `make bench`; driven by scripts/bench-scale.sh,
 * which starts the sandboxes, restarts and adds nodes, reads memory and
 * logs, and prints the tables): the client side of the cost-curve
 * benchmark (issue "Performance", item 4). Each run does one thing and
 * prints `key=value` lines for the driver:
 *
 *   fill   --count N [--start S] [--batch K] [--value V]
 *          POST /app/fill (bench/scale_app) with K keys of V bytes per
 *          request until keys S .. S+N-1 exist: keys/s, the first txid.
 *   write  --seconds T | --tx N  [--value V] [--keys N | --start S]
 *          POST /app/put?id=I with a V-byte body, closed loop: one request
 *          in flight per connection; ids random below --keys (overwrites:
 *          the store keeps its size) or new from --start: writes/s, MB/s,
 *          latency p50/p99/max, the first and last txid.
 *   wait   --seqno X [--timeout T]
 *          polls GET /node/commit of --address every 5 ms (connecting again
 *          while the node is down) until its commit seqno >= X: the time.
 *   counters --seconds T [--batch K<=256]
 *          POST /app/sealing/counter?name=wC&count=K to the service-scope
 *          sealing sample (samples/sealing, sealing_service.so), closed
 *          loop, connection C incrementing its own K counters per request
 *          (one transaction): increments/s, latency p50/p99/max.
 *   commit the commit seqno of --address.
 *   ready  [--timeout T]
 *          POST /app/put?id=0 to --address every 50 ms (connecting again
 *          while it is down) until one answers 200: the service has a
 *          leader and takes writes again (after its nodes restarted).
 *   receipt --txid T [--times R]
 *          GET /app/receipt?transaction_id=T R times: the time of each.
 *
 * During fill and write, --probe ADDR,ADDR,... are polled with GET
 * /node/commit every 5 ms (one request in flight per node, on its own
 * connection), and for --linger S seconds after the last write: the
 * longest answer per node is the client-observed loop
 * stall ("stall_max_ms"), an upper bound on the node's own loop lag (it
 * includes this client's scheduling on a loaded machine).
 *
 * --acks FILE (fill, write): "seqno unix_ms" for every acknowledged write,
 * to date the snapshots the nodes log.
 *
 * Common options: --address ADDR --ca service_cert.pem --cert user0_cert.pem
 * --key user0_privk.pem [--connections 32]. Exit status: 0 when the run did
 * what it was asked without an error answer, 1 otherwise, 2 for usage.
 */
#include "../bench_client.h"
#include "base/alloc.h"
#include "net/http_client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define MAX_CONNS   512
#define MAX_PROBES  16
#define MAX_LAT     ((size_t)1 << 24)
#define PROBE_MS    5
#define FILL_MAX_KB 4096

typedef struct bench bench;

typedef struct writer {
    bench *b;
    cs_http_client *client;
    bool busy;
    uint64_t sent_at;
} writer;

typedef struct prober {
    bench *b;
    const char *address;
    cs_http_client *client;
    bool busy;
    uint64_t sent_at, max_ns, n;
    double max_at; /* unix ms when the longest answer was asked for */
} prober;

struct bench {
    uv_loop_t *loop;
    const char *address;
    cs_tls_config *tls;
    const char *mode;
    unsigned n_conns;
    writer w[MAX_CONNS];
    prober p[MAX_PROBES];
    size_t n_probes;
    /* the work */
    uint64_t start, count, batch, value, keys, tx_target;
    double seconds, linger;
    uint64_t next, acked, errors, t0, t_end, bytes;
    uint8_t *body;
    uint32_t *lat_us;
    size_t n_lat;
    char first_txid[48], last_txid[48], error[256];
    uint64_t rng;
    FILE *acks; /* --acks: "seqno unix_ms" per acknowledged write */
};

static uint64_t rnd(bench *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

static void note_error(bench *b, const char *what)
{
    b->errors++;
    if (b->error[0] == '\0')
        snprintf(b->error, sizeof b->error, "%s", what);
}

static bool more_work(const bench *b)
{
    if (strcmp(b->mode, "fill") == 0)
        return b->next < b->start + b->count;
    if (b->tx_target > 0)
        return b->next < b->tx_target;
    return uv_hrtime() < b->t_end;
}

static void send_one(writer *w);

static void on_write(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    writer *w = ctx;
    bench *b = w->b;
    w->busy = false;
    if (err != CONSORT_OK) {
        note_error(b, msg);
        return; /* the connection is gone */
    }
    if (r->status != 200) {
        char what[192];
        snprintf(what, sizeof what, "status %d: %.*s", r->status,
                 (int)(r->body.len > 120 ? 120 : r->body.len), (const char *)r->body.ptr);
        note_error(b, what);
    } else {
        b->acked++;
        const char *txid = cs_http_response_header(r, "x-consort-txid");
        if (txid != NULL) {
            if (b->first_txid[0] == '\0')
                snprintf(b->first_txid, sizeof b->first_txid, "%s", txid);
            snprintf(b->last_txid, sizeof b->last_txid, "%s", txid);
            const char *dot = strchr(txid, '.');
            if (b->acks != NULL && dot != NULL) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                fprintf(b->acks, "%s %.1f\n", dot + 1,
                        (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
            }
        }
        if (b->n_lat < MAX_LAT)
            b->lat_us[b->n_lat++] = (uint32_t)((uv_hrtime() - w->sent_at) / 1000);
    }
    if (more_work(b))
        send_one(w);
}

static void send_one(writer *w)
{
    bench *b = w->b;
    char target[128];
    cs_slice body = CS_SLICE_EMPTY;
    if (strcmp(b->mode, "fill") == 0) {
        uint64_t k = b->start + b->count - b->next;
        if (k > b->batch)
            k = b->batch;
        snprintf(target, sizeof target,
                 "/app/fill?start=%" PRIu64 "&count=%" PRIu64 "&size=%" PRIu64, b->next, k,
                 b->value);
        b->next += k;
        b->bytes += k * b->value;
    } else if (strcmp(b->mode, "counters") == 0) {
        /* the service-scope sealing sample: each connection its own counters
         * (no two transactions conflict), --batch of them per request */
        snprintf(target, sizeof target, "/app/sealing/counter?name=w%u&count=%" PRIu64,
                 (unsigned)(w - b->w), b->batch);
        b->next++;
    } else {
        uint64_t id = b->keys > 0 ? rnd(b) % b->keys : b->start + b->next;
        b->next++;
        snprintf(target, sizeof target, "/app/put?id=%" PRIu64, id);
        body = CS_SLICE(b->body, (size_t)b->value);
        b->bytes += b->value;
    }
    static const cs_http_header h[1] = {{"Content-Type", "application/octet-stream"}};
    w->busy = true;
    w->sent_at = uv_hrtime();
    if (cs_http_client_request(w->client, "POST", target, h, 1, body, on_write, w) != CONSORT_OK) {
        w->busy = false;
        note_error(b, "request refused by the client (connection closed?)");
    }
}

/* ---- the loop-stall probe ---- */

static double unix_ms_ago(uint64_t ns_ago)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6 - (double)ns_ago / 1e6;
}

static void on_probe(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    (void)msg;
    (void)r;
    prober *p = ctx;
    p->busy = false;
    if (err != CONSORT_OK)
        return;
    uint64_t took = uv_hrtime() - p->sent_at;
    if (took > p->max_ns) {
        p->max_ns = took;
        p->max_at = unix_ms_ago(took);
    }
    p->n++;
}

static void on_probe_tick(uv_timer_t *t)
{
    bench *b = t->data;
    uint64_t now = uv_hrtime();
    for (size_t i = 0; i < b->n_probes; i++) {
        prober *p = &b->p[i];
        if (p->client == NULL)
            continue;
        if (p->busy) { /* still waiting: what it has waited so far counts already */
            if (now - p->sent_at > p->max_ns) {
                p->max_ns = now - p->sent_at;
                p->max_at = unix_ms_ago(p->max_ns);
            }
            continue;
        }
        p->busy = true;
        p->sent_at = now;
        if (cs_http_client_request(p->client, "GET", "/node/commit", NULL, 0, CS_SLICE_EMPTY,
                                   on_probe, p) != CONSORT_OK)
            p->busy = false;
    }
}

/* ---- /node/commit ---- */

typedef struct commit_read {
    bool done;
    int status;
    uint64_t seqno;
} commit_read;

static void on_commit(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    (void)msg;
    commit_read *c = ctx;
    c->done = true;
    if (err != CONSORT_OK)
        return;
    c->status = r->status;
    /* {"transaction_id":"T.S",...} */
    char text[256];
    size_t n = r->body.len < sizeof text - 1 ? r->body.len : sizeof text - 1;
    memcpy(text, r->body.ptr, n);
    text[n] = '\0';
    const char *p = strstr(text, "\"transaction_id\":\"");
    if (p != NULL && (p = strchr(p + 18, '.')) != NULL)
        c->seqno = strtoull(p + 1, NULL, 10);
}

/* The commit seqno of the node `client` talks to; false if it did not answer 200. */
static bool read_commit(bench *b, cs_http_client *client, uint64_t *seqno)
{
    commit_read c = {0};
    if (cs_http_client_request(client, "GET", "/node/commit", NULL, 0, CS_SLICE_EMPTY, on_commit,
                               &c) != CONSORT_OK)
        return false;
    while (!c.done)
        uv_run(b->loop, UV_RUN_ONCE);
    *seqno = c.seqno;
    return c.status == 200;
}

static void on_slept(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void sleep_ms(bench *b, unsigned ms)
{
    bool done = false;
    uv_timer_t t;
    uv_timer_init(b->loop, &t);
    t.data = &done;
    uv_timer_start(&t, on_slept, ms, 0);
    while (!done)
        uv_run(b->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(b->loop, UV_RUN_NOWAIT);
}

static int run_wait(bench *b, uint64_t seqno, double timeout_s)
{
    uint64_t t0 = uv_hrtime(), deadline = t0 + (uint64_t)(timeout_s * 1e9), have = 0;
    cs_http_client *c = NULL;
    char why[256] = "";
    while (uv_hrtime() < deadline) {
        if (c == NULL || !cs_http_client_is_open(c)) {
            cs_http_client_free(c);
            c = bench_connect(b->loop, b->address, b->tls, why, sizeof why);
        }
        if (c != NULL && read_commit(b, c, &have) && have >= seqno) {
            printf("wait_ms=%.1f\ncommit_seqno=%" PRIu64 "\n", (double)(uv_hrtime() - t0) / 1e6,
                   have);
            cs_http_client_free(c);
            return 0;
        }
        sleep_ms(b, PROBE_MS);
    }
    cs_http_client_free(c);
    printf("wait_ms=-1\ncommit_seqno=%" PRIu64 "\nerror=not at seqno %" PRIu64
           " after %.0f s (%s)\n",
           have, seqno, timeout_s, why[0] != '\0' ? why : "answering");
    return 1;
}

typedef struct put_read {
    bool done;
    int status;
} put_read;

static void on_put(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    (void)msg;
    put_read *x = ctx;
    x->done = true;
    x->status = err == CONSORT_OK ? r->status : -1;
}

static int run_ready(bench *b, double timeout_s)
{
    uint64_t t0 = uv_hrtime(), deadline = t0 + (uint64_t)(timeout_s * 1e9);
    cs_http_client *c = NULL;
    char why[256] = "";
    int status = 0;
    while (uv_hrtime() < deadline) {
        if (c == NULL || !cs_http_client_is_open(c)) {
            cs_http_client_free(c);
            c = bench_connect(b->loop, b->address, b->tls, why, sizeof why);
        }
        put_read x = {0};
        if (c != NULL && cs_http_client_request(c, "POST", "/app/put?id=0", NULL, 0,
                                                CS_SLICE_LIT("ready"), on_put, &x) == CONSORT_OK) {
            while (!x.done)
                uv_run(b->loop, UV_RUN_ONCE);
            status = x.status;
            if (status == 200) {
                printf("ready_ms=%.1f\n", (double)(uv_hrtime() - t0) / 1e6);
                cs_http_client_free(c);
                return 0;
            }
        }
        sleep_ms(b, 50);
    }
    cs_http_client_free(c);
    printf("ready_ms=-1\nerror=no write accepted by %s in %.0f s (last status %d%s%s)\n",
           b->address, timeout_s, status, why[0] != '\0' ? "; " : "", why);
    return 1;
}

typedef struct receipt_read {
    bool done;
    int status;
} receipt_read;

static void on_receipt(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    (void)msg;
    receipt_read *x = ctx;
    x->done = true;
    x->status = err == CONSORT_OK ? r->status : -1;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    return a < c ? -1 : a > c;
}

static int run_receipt(bench *b, const char *txid, unsigned times)
{
    char why[256] = "", target[128];
    cs_http_client *c = bench_connect(b->loop, b->address, b->tls, why, sizeof why);
    if (c == NULL) {
        printf("error=connect: %s\n", why);
        return 1;
    }
    snprintf(target, sizeof target, "/app/receipt?transaction_id=%s", txid);
    uint32_t us[64];
    unsigned n = 0;
    int status = 0;
    for (; n < times && n < 64; n++) {
        receipt_read x = {0};
        uint64_t t0 = uv_hrtime();
        if (cs_http_client_request(c, "GET", target, NULL, 0, CS_SLICE_EMPTY, on_receipt, &x) !=
            CONSORT_OK)
            break;
        while (!x.done)
            uv_run(b->loop, UV_RUN_ONCE);
        us[n] = (uint32_t)((uv_hrtime() - t0) / 1000);
        status = x.status;
        if (status != 200)
            break;
    }
    cs_http_client_free(c);
    if (status != 200 || n == 0) {
        printf("error=GET %s answered %d\n", target, status);
        return 1;
    }
    printf("receipt_first_ms=%.2f\n", us[0] / 1000.0);
    qsort(us, n, sizeof us[0], cmp_u32);
    printf("receipt_median_ms=%.2f\nreceipt_max_ms=%.2f\nreceipt_lookups=%u\n", us[n / 2] / 1000.0,
           us[n - 1] / 1000.0, n);
    return 0;
}

/* fill or write: the connections, the probes, the closed loop, the summary. */
static int run_load(bench *b, const char *probes)
{
    char why[256] = "";
    for (unsigned i = 0; i < b->n_conns; i++) {
        b->w[i] =
            (writer){.b = b, .client = bench_connect(b->loop, b->address, b->tls, why, sizeof why)};
        if (b->w[i].client == NULL) {
            printf("error=connect %s: %s\n", b->address, why);
            return 1;
        }
    }
    char *list = probes != NULL ? strdup(probes) : NULL, *save = NULL;
    for (char *a = list != NULL ? strtok_r(list, ",", &save) : NULL;
         a != NULL && b->n_probes < MAX_PROBES; a = strtok_r(NULL, ",", &save)) {
        prober *p = &b->p[b->n_probes++];
        *p = (prober){
            .b = b, .address = a, .client = bench_connect(b->loop, a, b->tls, why, sizeof why)};
        if (p->client == NULL) {
            printf("error=probe connect %s: %s\n", a, why);
            return 1;
        }
    }
    uv_timer_t tick;
    uv_timer_init(b->loop, &tick);
    tick.data = b;
    uv_timer_start(&tick, on_probe_tick, PROBE_MS, PROBE_MS);
    b->next = strcmp(b->mode, "fill") == 0 ? b->start : 0;
    b->t0 = uv_hrtime();
    b->t_end = b->t0 + (uint64_t)(b->seconds * 1e9);
    for (unsigned i = 0; i < b->n_conns && more_work(b); i++)
        send_one(&b->w[i]);
    for (;;) {
        bool busy = false;
        for (unsigned i = 0; i < b->n_conns; i++)
            busy = busy || b->w[i].busy;
        if (!busy)
            break;
        uv_run(b->loop, UV_RUN_ONCE);
    }
    double elapsed = (double)(uv_hrtime() - b->t0) / 1e9;
    /* --linger: the probes go on after the last write, when an idle leader
     * takes the snapshots it deferred while writes were pending */
    if (b->linger > 0 && b->n_probes > 0)
        sleep_ms(b, (unsigned)(b->linger * 1000));
    uv_timer_stop(&tick);
    uv_close((uv_handle_t *)&tick, NULL);
    qsort(b->lat_us, b->n_lat, sizeof b->lat_us[0], cmp_u32);
    printf("elapsed_s=%.3f\nrequests=%" PRIu64 "\nerrors=%" PRIu64 "\n", elapsed, b->acked,
           b->errors);
    printf("requests_per_s=%.1f\n", (double)b->acked / elapsed);
    if (strcmp(b->mode, "fill") == 0)
        printf("keys_per_s=%.1f\n", (double)(b->next - b->start) / elapsed);
    if (strcmp(b->mode, "counters") == 0)
        printf("increments_per_s=%.1f\n", (double)b->acked * (double)b->batch / elapsed);
    printf("mb_per_s=%.2f\n", (double)b->bytes / elapsed / 1e6);
    if (b->n_lat > 0)
        printf("p50_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\n", b->lat_us[b->n_lat / 2] / 1000.0,
               b->lat_us[(b->n_lat * 99) / 100] / 1000.0, b->lat_us[b->n_lat - 1] / 1000.0);
    printf("first_txid=%s\nlast_txid=%s\n", b->first_txid, b->last_txid);
    double stall = 0;
    for (size_t i = 0; i < b->n_probes; i++) {
        double ms = (double)b->p[i].max_ns / 1e6;
        time_t at = (time_t)(b->p[i].max_at / 1e3);
        struct tm tm;
        gmtime_r(&at, &tm);
        printf("stall_ms[%s]=%.1f (%" PRIu64 " probes; the longest asked at "
               "%02d:%02d:%02d.%03dZ)\n",
               b->p[i].address, ms, b->p[i].n, tm.tm_hour, tm.tm_min, tm.tm_sec,
               (int)((uint64_t)b->p[i].max_at % 1000));
        if (ms > stall)
            stall = ms;
    }
    printf("stall_max_ms=%.1f\n", stall);
    if (b->errors > 0)
        printf("error=%s\n", b->error);
    for (unsigned i = 0; i < b->n_conns; i++)
        cs_http_client_free(b->w[i].client);
    for (size_t i = 0; i < b->n_probes; i++)
        cs_http_client_free(b->p[i].client);
    uv_run(b->loop, UV_RUN_NOWAIT);
    free(list);
    return b->errors > 0 || b->acked == 0 ? 1 : 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_scale fill|write|counters|wait|commit|receipt|ready --address ADDR --ca "
            "PEM --cert PEM "
            "--key PEM\n"
            "         [--connections N<=512] [--probe ADDR,...] [--count N] [--start S] "
            "[--batch K<=4096]\n"
            "         [--value BYTES] [--seconds T] [--tx N] [--keys N] [--seqno X] "
            "[--timeout T]\n"
            "         [--txid T] [--times R] [--acks FILE] [--linger S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    bench *b = cs_calloc(1, sizeof *b);
    if (b == NULL)
        return 1;
    b->mode = argv[1];
    b->n_conns = 32;
    b->batch = 256;
    b->value = 64;
    b->seconds = 5;
    b->rng = 0x2545F4914F6CDD1Dull;
    const char *ca = NULL, *cert = NULL, *key = NULL, *probes = NULL, *txid = NULL;
    uint64_t seqno = 0;
    double timeout = 120;
    unsigned times = 10;
    for (int i = 2; i + 1 < argc; i += 2) {
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
        else if (strcmp(o, "--probe") == 0)
            probes = v;
        else if (strcmp(o, "--count") == 0)
            b->count = strtoull(v, NULL, 10);
        else if (strcmp(o, "--start") == 0)
            b->start = strtoull(v, NULL, 10);
        else if (strcmp(o, "--batch") == 0)
            b->batch = strtoull(v, NULL, 10);
        else if (strcmp(o, "--value") == 0)
            b->value = strtoull(v, NULL, 10);
        else if (strcmp(o, "--seconds") == 0)
            b->seconds = atof(v);
        else if (strcmp(o, "--linger") == 0)
            b->linger = atof(v);
        else if (strcmp(o, "--tx") == 0)
            b->tx_target = strtoull(v, NULL, 10);
        else if (strcmp(o, "--keys") == 0)
            b->keys = strtoull(v, NULL, 10);
        else if (strcmp(o, "--seqno") == 0)
            seqno = strtoull(v, NULL, 10);
        else if (strcmp(o, "--timeout") == 0)
            timeout = atof(v);
        else if (strcmp(o, "--txid") == 0)
            txid = v;
        else if (strcmp(o, "--times") == 0)
            times = (unsigned)atoi(v);
        else if (strcmp(o, "--acks") == 0) {
            b->acks = fopen(v, "w");
            if (b->acks == NULL) {
                fprintf(stderr, "bench_scale: --acks %s: cannot create\n", v);
                return 1;
            }
        } else {
            fprintf(stderr, "bench_scale: unknown option %s\n", o);
            return usage();
        }
    }
    bool fill = strcmp(b->mode, "fill") == 0, counters = strcmp(b->mode, "counters") == 0;
    bool write = strcmp(b->mode, "write") == 0 || counters;
    if (b->address == NULL || ca == NULL || cert == NULL || key == NULL || b->n_conns == 0 ||
        b->n_conns > MAX_CONNS || (fill && (b->count == 0 || b->batch == 0 || b->batch > 4096)) ||
        (counters && (b->batch == 0 || b->batch > 256)) || b->value == 0 ||
        b->value > ((uint64_t)1 << 20) || b->seconds <= 0 ||
        (strcmp(b->mode, "receipt") == 0 && txid == NULL) ||
        (strcmp(b->mode, "wait") == 0 && seqno == 0) ||
        (!fill && !write && strcmp(b->mode, "wait") != 0 && strcmp(b->mode, "commit") != 0 &&
         strcmp(b->mode, "receipt") != 0 && strcmp(b->mode, "ready") != 0))
        return usage();
    if (fill && b->batch * b->value > ((uint64_t)FILL_MAX_KB << 10))
        b->batch = ((uint64_t)FILL_MAX_KB << 10) / b->value;
    uv_loop_t loop;
    uv_loop_init(&loop);
    b->loop = &loop;
    cs_x509 *root = NULL, *c = NULL;
    cs_key *k = NULL;
    cs_tls_pinned pinned;
    if (bench_tls_client(ca, cert, key, &root, &c, &k, &pinned, &b->tls) != CONSORT_OK) {
        fprintf(stderr, "bench_scale: %s\n", consort_errmsg());
        return 1;
    }
    int status;
    if (fill || write) {
        b->lat_us = cs_calloc(MAX_LAT, sizeof *b->lat_us);
        b->body = cs_calloc(1, (size_t)b->value);
        if (b->lat_us == NULL || b->body == NULL)
            return 1;
        for (uint64_t i = 0; i < b->value; i++)
            b->body[i] = (uint8_t)rnd(b);
        status = run_load(b, probes);
    } else if (strcmp(b->mode, "wait") == 0) {
        status = run_wait(b, seqno, timeout);
    } else if (strcmp(b->mode, "receipt") == 0) {
        status = run_receipt(b, txid, times);
    } else if (strcmp(b->mode, "ready") == 0) {
        status = run_ready(b, timeout);
    } else {
        char why[256] = "";
        uint64_t s = 0;
        cs_http_client *cl = bench_connect(b->loop, b->address, b->tls, why, sizeof why);
        status = cl != NULL && read_commit(b, cl, &s) ? 0 : 1;
        if (status == 0)
            printf("commit_seqno=%" PRIu64 "\n", s);
        else
            printf("error=commit of %s: %s\n", b->address, why[0] ? why : "no answer");
        cs_http_client_free(cl);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    fflush(stdout);
    if (b->acks != NULL)
        fclose(b->acks);
    cs_tls_config_free(b->tls);
    cs_x509_free(root);
    cs_x509_free(c);
    cs_key_free(k);
    cs_free(b->lat_us);
    cs_free(b->body);
    cs_free(b);
    return status;
}
