/*
 * Shared by the benchmarks that drive a running service over HTTPS
 * (bench/e2e, bench/receipt, bench/scale): a pinned TLS client presenting a
 * user's certificate, a blocking connect, the --pids list, and a process's
 * CPU time from /proc.
 * Header-only (static inline): each benchmark is its own program.
 */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include "crypto/key.h"
#include "crypto/x509.h"
#include "net/http_client.h"
#include "net/tls_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define BENCH_MAX_PIDS 16

/* A TLS client configuration pinning the service certificate in `ca` and
 * presenting `cert`/`key`. The loaded objects and `pinned` must outlive
 * the configuration. */
static inline consort_err bench_tls_client(const char *ca, const char *cert, const char *key,
                                           cs_x509 **root, cs_x509 **c, cs_key **k,
                                           cs_tls_pinned *pinned, cs_tls_config **out)
{
    CS_TRY_CTX(cs_x509_load_file(ca, root), "%s", ca);
    CS_TRY_CTX(cs_x509_load_file(cert, c), "%s", cert);
    CS_TRY_CTX(cs_key_load_pem_file(key, k), "%s", key);
    *pinned = (cs_tls_pinned){.roots = root, .root_count = 1};
    const cs_tls_params p = {.role = CS_TLS_CLIENT,
                             .key = *k,
                             .cert = *c,
                             .verify = cs_tls_verify_pinned,
                             .verify_ctx = pinned};
    return cs_tls_config_new(&p, out);
}

typedef struct bench_conn_slot {
    cs_http_client *client;
    bool done;
    char why[256];
} bench_conn_slot;

static inline void bench_slot_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    bench_conn_slot *c = ctx;
    c->done = true;
    if (err != CONSORT_OK) {
        snprintf(c->why, sizeof c->why, "%s", msg);
        return;
    }
    const cs_http_client_params p = {0};
    if (cs_http_client_new(s, &p, &c->client) != CONSORT_OK)
        snprintf(c->why, sizeof c->why, "%s", consort_errmsg());
}

/* An HTTP client over a TLS connection to `address`, running `loop` until
 * it is up; NULL with the reason in `why` otherwise. */
static inline cs_http_client *bench_connect(uv_loop_t *loop, const char *address,
                                            cs_tls_config *tls, char *why, size_t n)
{
    bench_conn_slot c = {0};
    if (cs_tls_connect(loop, address, tls, bench_slot_connected, &c) != CONSORT_OK) {
        snprintf(why, n, "%s", consort_errmsg());
        return NULL;
    }
    while (!c.done)
        uv_run(loop, UV_RUN_ONCE);
    if (c.client == NULL)
        snprintf(why, n, "%s", c.why);
    return c.client;
}

/* "PID,PID,..." into `pids` (at most BENCH_MAX_PIDS); returns how many. */
static inline size_t bench_parse_pids(const char *v, int pids[BENCH_MAX_PIDS])
{
    size_t n = 0;
    for (char *q = (char *)v; *q != '\0' && n < BENCH_MAX_PIDS;) {
        pids[n++] = (int)strtol(q, &q, 10);
        if (*q != ',')
            break;
        q++;
    }
    return n;
}

/* utime + stime of process `pid` in seconds, from /proc/PID/stat (0 if it is gone). */
static inline double bench_proc_cpu(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the command may contain spaces */
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

#endif
