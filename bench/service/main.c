/*
 * bench_service (built by `make bench`; run by scripts/bench-service.sh,
 * which starts the services): committed writes and reads against a 3-node
 * consort sandbox and a 3-member etcd cluster, in the same run, with the
 * same generator and parameters, and the ratios against the goals.
 *
 * Usage: bench_service [--etcd ADDR,...] [--etcd-ca PEM --etcd-cert PEM --etcd-key PEM]
 *                      [--etcd-pids PID,...]
 *                      [--consort ADDR,... --consort-ca service_cert.pem
 *                       --consort-cert user0_cert.pem --consort-key user0_privk.pem]
 *                      [--consort-pids PID,...]
 *                      [--connections 64] [--depth 4] [--seconds 10] [--warmup 2]
 *                      [--keys 10000] [--value-bytes 64] [--rounds 2] [--no-linearizable]
 *
 * Order: both systems are filled with ids 0 .. keys-1, then each round runs
 * write, read and (etcd) linearizable read, the two systems back to back
 * for each workload, the first system alternating between rounds. Exit
 * status: 0 when every phase ran (whatever the goals), 1 when a phase could
 * not run, 2 for a usage error.
 */
#include "svcbench.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/key.h"
#include "crypto/x509.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tls_files {
    const char *ca, *cert, *key;
} tls_files;

/* What a TLS client configuration borrows; released after it. */
typedef struct tls_holder {
    cs_key *key;
    cs_x509 *cert;
    cs_x509 **roots;
    size_t root_count;
    cs_tls_pinned pinned;
} tls_holder;

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_service [--etcd ADDR,...] [--etcd-ca PEM --etcd-cert PEM --etcd-key "
            "PEM] [--etcd-pids PID,...]\n"
            "                     [--consort ADDR,... --consort-ca PEM --consort-cert PEM "
            "--consort-key PEM] [--consort-pids PID,...]\n"
            "                     [--connections N] [--depth D] [--seconds S] [--warmup S] "
            "[--keys K]\n"
            "                     [--value-bytes B] [--rounds R] [--no-linearizable]\n"
            "scripts/bench-service.sh starts etcd and a consort sandbox and runs this.\n");
}

static consort_err tls_client(const tls_files *f, tls_holder *h, cs_tls_config **out)
{
    *out = NULL;
    CS_ENSURE(f->ca != NULL, CONSORT_E_USAGE, "TLS needs a CA file (the pinned root)");
    CS_ENSURE((f->cert == NULL) == (f->key == NULL), CONSORT_E_USAGE,
              "a client certificate needs its key, and the other way round");
    cs_buf pem;
    cs_buf_init(&pem, (size_t)1 << 20);
    consort_err rc = cs_file_read(f->ca, &pem);
    if (rc == CONSORT_OK)
        rc = cs_x509_parse_all(cs_buf_slice(&pem), &h->roots, &h->root_count);
    cs_buf_cleanup(&pem);
    CS_TRY_CTX(rc, "%s", f->ca);
    CS_ENSURE(h->root_count > 0, CONSORT_E_MALFORMED, "%s: no certificate", f->ca);
    if (f->cert != NULL) {
        CS_TRY_CTX(cs_x509_load_file(f->cert, &h->cert), "%s", f->cert);
        CS_TRY_CTX(cs_key_load_pem_file(f->key, &h->key), "%s", f->key);
    }
    h->pinned = (cs_tls_pinned){.roots = h->roots, .root_count = h->root_count};
    const cs_tls_params params = {
        .role = CS_TLS_CLIENT,
        .key = h->key,
        .cert = h->cert,
        .verify = cs_tls_verify_pinned,
        .verify_ctx = &h->pinned,
    };
    return cs_tls_config_new(&params, out);
}

static void tls_holder_cleanup(tls_holder *h)
{
    cs_x509_list_free(h->roots, h->root_count);
    cs_x509_free(h->cert);
    cs_key_free(h->key);
    memset(h, 0, sizeof *h);
}

static consort_err parse_addresses(const char *list, svc_target *t)
{
    const char *p = list;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        CS_ENSURE(n > 0 && n < 64 && t->address_count < SVC_MAX_ADDRESSES, CONSORT_E_USAGE,
                  "address list '%s': empty, too long or more than %d entries", list,
                  SVC_MAX_ADDRESSES);
        t->addresses[t->address_count] = cs_strndup(p, n);
        CS_ENSURE(t->addresses[t->address_count] != NULL, CONSORT_E_NOMEM, "out of memory");
        t->address_count++;
        p += n;
        if (*p == ',')
            p++;
    }
    return CONSORT_OK;
}

static consort_err parse_pids(const char *list, svc_target *t)
{
    const char *p = list;
    while (*p != '\0') {
        char *end;
        long v = strtol(p, &end, 10);
        CS_ENSURE(end != p && v > 0 && (*end == ',' || *end == '\0') && t->pid_count < SVC_MAX_PIDS,
                  CONSORT_E_USAGE, "pid list '%s' is not a list of up to %d pids", list,
                  SVC_MAX_PIDS);
        t->pids[t->pid_count++] = (pid_t)v;
        p = *end == ',' ? end + 1 : end;
    }
    return CONSORT_OK;
}

static bool number(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

typedef struct options {
    svc_params p;
    unsigned rounds;
    bool linearizable;
    const char *addrs[2], *pids[2];
    tls_files tls[2];
} options;

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.p = {.connections = 64,
                         .depth = 4,
                         .warmup_s = 2,
                         .seconds = 10,
                         .keys = 10000,
                         .value_bytes = 64,
                         .seed = 1},
                   .rounds = 2,
                   .linearizable = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d = 0;
        const char **str = NULL;
        for (int s = 0; s < 2; s++) {
            const char *pre = s == SVC_ETCD ? "--etcd" : "--consort";
            size_t n = strlen(pre);
            if (strncmp(a, pre, n) != 0)
                continue;
            if (a[n] == '\0')
                str = &o->addrs[s];
            else if (strcmp(a + n, "-pids") == 0)
                str = &o->pids[s];
            else if (strcmp(a + n, "-ca") == 0)
                str = &o->tls[s].ca;
            else if (strcmp(a + n, "-cert") == 0)
                str = &o->tls[s].cert;
            else if (strcmp(a + n, "-key") == 0)
                str = &o->tls[s].key;
        }
        if (strcmp(a, "--no-linearizable") == 0) {
            o->linearizable = false;
            continue;
        }
        if (v == NULL)
            return 2;
        i++;
        if (str != NULL)
            *str = v;
        else if (strcmp(a, "--connections") == 0 && number(v, 1, 4096, &d))
            o->p.connections = (unsigned)d;
        else if (strcmp(a, "--depth") == 0 && number(v, 1, 64, &d))
            o->p.depth = (unsigned)d;
        else if (strcmp(a, "--seconds") == 0 && number(v, 0.1, 3600, &d))
            o->p.seconds = d;
        else if (strcmp(a, "--warmup") == 0 && number(v, 0, 3600, &d))
            o->p.warmup_s = d;
        else if (strcmp(a, "--keys") == 0 && number(v, 1, 1e8, &d))
            o->p.keys = (uint64_t)d;
        else if (strcmp(a, "--value-bytes") == 0 && number(v, 1, 16384, &d))
            o->p.value_bytes = (size_t)d;
        else if (strcmp(a, "--rounds") == 0 && number(v, 1, SVC_MAX_ROUNDS, &d))
            o->rounds = (unsigned)d;
        else
            return 2;
    }
    if (o->addrs[SVC_ETCD] == NULL && o->addrs[SVC_CONSORT] == NULL)
        return 2;
    return 0;
}

static consort_err setup_target(const options *o, svc_system s, svc_target *t, tls_holder *h)
{
    t->system = s;
    t->name = s == SVC_ETCD ? "etcd" : "consort";
    t->next_write_id = o->p.keys;
    CS_TRY(parse_addresses(o->addrs[s], t));
    if (o->pids[s] != NULL)
        CS_TRY(parse_pids(o->pids[s], t));
    if (o->tls[s].ca != NULL || s == SVC_CONSORT) /* consort speaks TLS only */
        CS_TRY_CTX(tls_client(&o->tls[s], h, &t->tls), "%s TLS", t->name);
    return CONSORT_OK;
}

static svc_target targets[2];
static tls_holder holders[2];
static svc_pool pool;
static svc_result result;

/* Runs one phase, prints it and pools it; false if it could not run. */
static bool run(svc_system s, svc_workload w, unsigned round, const options *o)
{
    consort_err rc = svc_phase_run(&targets[s], w, &o->p, &result);
    if (rc != CONSORT_OK) {
        printf("%-5u %-8s %-18s could not run: %s\n", round, targets[s].name, svc_workload_name(w),
               consort_errmsg());
        fflush(stdout);
        return false;
    }
    svc_report_phase(&targets[s], w, round, &o->p, &result);
    if (w != SVC_FILL)
        svc_pool_add(&pool, s, w, &result);
    return true;
}

/* One round: each workload on both systems back to back; the system that
 * goes first alternates between rounds. */
static int run_round(unsigned round, const options *o, const bool present[2])
{
    static const svc_workload order[] = {SVC_WRITE, SVC_READ, SVC_READ_LIN};
    int status = 0;
    for (size_t k = 0; k < CS_ARRAY_LEN(order); k++) {
        for (int j = 0; j < 2; j++) {
            svc_system s = (svc_system)(round % 2 == 1 ? j : 1 - j);
            bool lin = order[k] == SVC_READ_LIN;
            if (!present[s] || (lin && (s != SVC_ETCD || !o->linearizable)))
                continue;
            if (!run(s, order[k], round, o))
                status = 1;
        }
    }
    return status;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    bool present[2] = {o.addrs[SVC_ETCD] != NULL, o.addrs[SVC_CONSORT] != NULL};
    int status = 0;
    for (int s = 0; s < 2; s++) {
        if (present[s] && setup_target(&o, (svc_system)s, &targets[s], &holders[s]) != CONSORT_OK) {
            fprintf(stderr, "bench_service: %s\n", consort_errmsg());
            status = 2;
        }
    }
    if (status == 0) {
        svc_report_header(&o.p);
        for (int s = 0; s < 2; s++) {
            if (present[s] && !run((svc_system)s, SVC_FILL, 0, &o)) {
                present[s] = false; /* nothing to read: leave it out */
                status = 1;
            }
        }
        for (unsigned r = 1; r <= o.rounds; r++)
            if (run_round(r, &o, present) != 0)
                status = 1;
        (void)svc_report_compare(&pool);
    }
    for (int s = 0; s < 2; s++) {
        cs_tls_config_free(targets[s].tls);
        tls_holder_cleanup(&holders[s]);
        for (size_t i = 0; i < targets[s].address_count; i++)
            cs_free(targets[s].addresses[i]);
    }
    return status;
}
