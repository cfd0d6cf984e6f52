/*
 * `consort bench`: a short load against a running service, with its
 * throughput and latency percentiles (docs/operating.md "Measuring a
 * deployment"). The options and the report are here; the load itself is
 * cli_load.c, the node and service certificate a workspace names are
 * resolved as the gov verbs do (cli_gov.h).
 */
#include "cli.h"
#include "cli_bench_report.h"
#include "cli_gov.h"
#include "cli_https.h"
#include "cli_load.h"
#include "cli_opts.h"

#include "base/alloc.h"
#include "net/http.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define DEFAULT_CONNECTIONS 32
#define MAX_CONNECTIONS     1024
#define DEFAULT_SECONDS     5.0
#define MAX_SECONDS         600.0
#define DEFAULT_WARMUP      1.0
#define MAX_WARMUP          60.0
#define MAX_RATE            200000.0
#define FDS_BESIDES         64 /* open files besides the connections */
#define CONNECT_MS          10000
#define DRAIN_MS            10000
#define DEFAULT_METHOD      "POST"
#define DEFAULT_PATH        "/app/log/private"
#define DEFAULT_BODY        "{\"id\": {n}, \"msg\": \"consort bench\"}"
#define DEFAULT_CTYPE       "application/json"

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_bench = {
    .name = "bench",
    .summary = "put a short load on a running service: throughput and latency percentiles",
    .usage =
        "usage: consort bench (--workspace DIR | --node https://HOST:PORT --service-cert PEM)\n"
        "           [--cert PEM --key PEM] [--connections N] [--seconds S] [--warmup S]\n"
        "           [--rate R] [--method M] [--path P] [--body B] [--content-type T]\n"
        "           [--first N] [--json]\n"
        "\n"
        "Opens N TLS connections to the service (spread over its nodes) and sends\n"
        "requests for S seconds after S seconds of warm-up that are not measured,\n"
        "then prints the requests sent, the answers by status class, the transport\n"
        "errors (requests that got no answer), the throughput (2xx answers per\n"
        "second) and the latency percentiles of the answers (p50, p90, p99, p99.9,\n"
        "max; exact to 0.8%). Closed loop by default: one request in flight per\n"
        "connection, the next sent when its answer is in. With --rate, open loop:\n"
        "R requests per second in all whatever the answers, each one's latency\n"
        "counted from when it was due. Every {n} in the path and the body is\n"
        "replaced by a counter unique within the run (from --first), so that\n"
        "writes do not collide. The defaults write records to the logging sample\n"
        "(POST /app/log/private {\"id\": {n}, \"msg\": \"consort bench\"}); for another\n"
        "application give its endpoint. If a 404 comes before any 2xx, the run\n"
        "stops at once (the path is not the application's).\n"
        "Exit status 0 if the load ran and every answer was 2xx, 1 if not (the\n"
        "first error on stderr), 2 for a usage error.\n"
        "\n"
        "options:\n"
        "  --workspace DIR           a `consort sandbox` workspace: every node of\n"
        "                            DIR/nodes.json (connections round-robin), its\n"
        "                            service certificate and user0's certificate\n"
        "  --node https://HOST:PORT  the one node to load (HOST: an IP address, [IPv6]\n"
        "                            or localhost)\n"
        "  --service-cert PEM        the service certificate, the only one trusted\n"
        "  --cert PEM, --key PEM     the TLS client certificate (a user's) and its key\n"
        "  --connections N           1 to 1024 (default 32; each takes an open file)\n"
        "  --seconds S               measured time, 0.1 to 600 (default 5)\n"
        "  --warmup S                load before, not measured, 0 to 60 (default 1)\n"
        "  --rate R                  open loop: R requests per second in all, 1 to\n"
        "                            200000 (at most 32 in flight per connection)\n"
        "  --method M                default POST\n"
        "  --path P                  the request target, may hold {n} (default\n"
        "                            /app/log/private)\n"
        "  --body B                  may hold {n}; \"\" for none (default: the record\n"
        "                            above if neither --method nor --path is given,\n"
        "                            else none)\n"
        "  --content-type T          of the body (default application/json)\n"
        "  --first N                 the first value of {n} (default 0)\n"
        "  --json                    print the report as one JSON object\n"
        "\n"
        "example:\n"
        "  consort bench --workspace /tmp/sandbox --connections 64 --seconds 10\n"
        "  consort bench --workspace /tmp/sandbox --rate 2000 --method GET \\\n"
        "      --path '/app/log/private?id={n}' --first 0\n",
    .run = run,
};

enum {
    OPT_CERT = 1,
    OPT_KEY,
    OPT_CONNECTIONS,
    OPT_SECONDS,
    OPT_WARMUP,
    OPT_RATE,
    OPT_METHOD,
    OPT_PATH,
    OPT_BODY,
    OPT_CTYPE,
    OPT_FIRST,
    OPT_JSON,
};

static const struct option options[] = {
    {"workspace", required_argument, NULL, CS_CLI_GOV_OPT_WORKSPACE},
    {"node", required_argument, NULL, CS_CLI_GOV_OPT_NODE},
    {"service-cert", required_argument, NULL, CS_CLI_GOV_OPT_SERVICE_CERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"seconds", required_argument, NULL, OPT_SECONDS},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"rate", required_argument, NULL, OPT_RATE},
    {"method", required_argument, NULL, OPT_METHOD},
    {"path", required_argument, NULL, OPT_PATH},
    {"body", required_argument, NULL, OPT_BODY},
    {"content-type", required_argument, NULL, OPT_CTYPE},
    {"first", required_argument, NULL, OPT_FIRST},
    {"json", no_argument, NULL, OPT_JSON},
    {NULL, 0, NULL, 0},
};

typedef struct bench_args {
    cs_cli_gov_opts target; /* --workspace, --node, --service-cert */
    const char *cert, *key;
    uint32_t connections;
    double seconds, warmup, rate;
    const char *method, *path, *body, *content_type;
    uint64_t first;
    bool json;
} bench_args;

/* A decimal number of `what` from lo to hi into *out; else a usage error. */
static bool parse_number(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || !isfinite(v) || v < lo ||
        v > hi) {
        cs_cli_usage_error(&cs_cmd_bench, "%s: '%s' is not a number from %g to %g", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0) {
        cs_cli_usage_error(&cs_cmd_bench, "%s: '%s' is not a number from 0 to %" PRIu64, opt, s,
                           UINT64_MAX);
        return false;
    }
    *out = v;
    return true;
}

/* What the HTTP client will send (net/http.h), as a usage error if not. */
static int check_request(const cs_cli_verb *verb, const char *opt, const char *method,
                         const char *target)
{
    if (cs_http_check_request_line(method, target) != CONSORT_OK)
        return cs_cli_usage_error(verb, "%s: %s", opt, consort_errmsg());
    return CS_EXIT_OK;
}

static int take_option(bench_args *a, int c, const char *arg)
{
    const cs_cli_verb *verb = &cs_cmd_bench;
    switch (c) {
    case OPT_CERT:
        a->cert = arg;
        return CS_EXIT_OK;
    case OPT_KEY:
        a->key = arg;
        return CS_EXIT_OK;
    case OPT_CONNECTIONS:
        if (!cs_cli_parse_u32(verb, "--connections", arg, &a->connections))
            return CS_EXIT_USAGE;
        if (a->connections < 1 || a->connections > MAX_CONNECTIONS)
            return cs_cli_usage_error(verb, "--connections: %u is not from 1 to %d", a->connections,
                                      MAX_CONNECTIONS);
        return CS_EXIT_OK;
    case OPT_SECONDS:
        return parse_number("--seconds", arg, 0.1, MAX_SECONDS, &a->seconds) ? CS_EXIT_OK
                                                                             : CS_EXIT_USAGE;
    case OPT_WARMUP:
        return parse_number("--warmup", arg, 0, MAX_WARMUP, &a->warmup) ? CS_EXIT_OK
                                                                        : CS_EXIT_USAGE;
    case OPT_RATE:
        return parse_number("--rate", arg, 1, MAX_RATE, &a->rate) ? CS_EXIT_OK : CS_EXIT_USAGE;
    case OPT_METHOD:
        a->method = arg;
        return check_request(verb, "--method", arg, "/");
    case OPT_PATH:
        a->path = arg;
        if (arg[0] != '/')
            return cs_cli_usage_error(verb, "--path '%s': expected /... (origin form)", arg);
        return check_request(verb, "--path", "GET", arg);
    case OPT_BODY:
        a->body = arg;
        return CS_EXIT_OK;
    case OPT_CTYPE:
        a->content_type = arg;
        if (cs_http_check_header(&(cs_http_header){"Content-Type", arg}) != CONSORT_OK)
            return cs_cli_usage_error(verb, "--content-type: %s", consort_errmsg());
        return CS_EXIT_OK;
    case OPT_FIRST:
        return parse_u64("--first", arg, &a->first) ? CS_EXIT_OK : CS_EXIT_USAGE;
    case OPT_JSON:
        a->json = true;
        return CS_EXIT_OK;
    default:
        return CS_EXIT_USAGE;
    }
}

static int parse(int argc, char **argv, bench_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_bench;
    *a = (bench_args){.connections = DEFAULT_CONNECTIONS,
                      .seconds = DEFAULT_SECONDS,
                      .warmup = DEFAULT_WARMUP,
                      .content_type = DEFAULT_CTYPE};
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        int taken = cs_cli_gov_opt(verb, &a->target, c, arg);
        if (taken < 0)
            return CS_EXIT_USAGE;
        if (taken > 0)
            continue;
        int code = take_option(a, c, arg);
        if (code != CS_EXIT_OK)
            return code;
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    int code = cs_cli_gov_opts_check(verb, &a->target, CS_CLI_GOV_NEED_NODE);
    if (code != CS_EXIT_OK)
        return code;
    if ((a->cert == NULL) != (a->key == NULL))
        return cs_cli_usage_error(verb, "--cert and --key go together");
    if (a->body == NULL && a->method == NULL && a->path == NULL)
        a->body = DEFAULT_BODY;
    if (a->method == NULL)
        a->method = DEFAULT_METHOD;
    if (a->path == NULL)
        a->path = DEFAULT_PATH;
    return CS_EXIT_OK;
}

/* Raises the soft limit of open files to what `connections` need, if it can. */
static consort_err ensure_open_files(unsigned connections)
{
    rlim_t need = (rlim_t)connections + FDS_BESIDES;
    struct rlimit rl;
    CS_ENSURE(getrlimit(RLIMIT_NOFILE, &rl) == 0, CONSORT_E_IO, "getrlimit: %s", strerror(errno));
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
            rl.rlim_cur = need;
            CS_ENSURE(setrlimit(RLIMIT_NOFILE, &rl) == 0, CONSORT_E_IO,
                      "raising the open-file limit to %llu: %s", (unsigned long long)need,
                      strerror(errno));
        } else {
            return cs_fail(CONSORT_E_INVALID_ARGUMENT,
                           "--connections %u needs %llu open files, but this process may have "
                           "at most %llu (ulimit -n): give fewer connections or raise the limit",
                           connections, (unsigned long long)need, (unsigned long long)rl.rlim_max);
        }
    }
    return CONSORT_OK;
}

/* What the target options resolve to. */
typedef struct bench_target {
    cs_cli_gov_session s;
    cs_x509 *cert;
    cs_key *key;
    cs_tls_pinned pin;
    cs_tls_config *tls;
} bench_target;

static consort_err open_target(const bench_args *a, bench_target *t)
{
    CS_TRY(cs_cli_gov_session_open(&a->target, CS_CLI_GOV_NEED_NODE, &t->s));
    char cert[PATH_MAX], key[PATH_MAX];
    const char *cert_path = a->cert, *key_path = a->key;
    if (cert_path == NULL && a->target.workspace != NULL) {
        snprintf(cert, sizeof cert, "%s/user0_cert.pem", a->target.workspace);
        snprintf(key, sizeof key, "%s/user0_privk.pem", a->target.workspace);
        cert_path = cert;
        key_path = key;
    }
    if (cert_path != NULL) {
        CS_TRY_CTX(cs_x509_load_file(cert_path, &t->cert), "the client certificate");
        CS_TRY_CTX(cs_key_load_pem_file(key_path, &t->key), "the client key");
    }
    return cs_cli_https_tls_config(&t->s.service_cert, t->cert, t->key, &t->pin, &t->tls);
}

static void close_target(bench_target *t)
{
    cs_tls_config_free(t->tls);
    cs_x509_free(t->cert);
    cs_key_free(t->key);
    cs_cli_gov_session_close(&t->s);
}

static int run(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_bench;
    bench_args a;
    int code = parse(argc, argv, &a);
    if (code != CS_EXIT_OK)
        return code;
    consort_err rc = ensure_open_files(a.connections);
    if (rc != CONSORT_OK)
        return cs_cli_fail(verb, rc);
    signal(SIGPIPE, SIG_IGN); /* a node that closes a connection is counted, not fatal */
    bench_target t;
    memset(&t, 0, sizeof t);
    cs_cli_load_result *r = cs_calloc(1, sizeof *r);
    rc = r != NULL ? open_target(&a, &t) : cs_fail(CONSORT_E_NOMEM, "out of memory");
    if (rc == CONSORT_OK) {
        const char *addresses[CS_CLI_GOV_NODES_MAX];
        for (size_t i = 0; i < t.s.node_count; i++)
            addresses[i] = t.s.address[i];
        const cs_cli_load_params p = {
            .addresses = addresses,
            .address_count = t.s.node_count,
            .tls = t.tls,
            .connections = a.connections,
            .warmup_ms = (uint32_t)(a.warmup * 1000 + 0.5),
            .measure_ms = (uint32_t)(a.seconds * 1000 + 0.5),
            .rate = a.rate,
            .method = a.method,
            .target = a.path,
            .body = a.body != NULL && a.body[0] != '\0' ? a.body : NULL,
            .content_type = a.content_type,
            .first_n = a.first,
            .connect_ms = CONNECT_MS,
            .drain_ms = DRAIN_MS,
        };
        rc = cs_cli_load_run(&p, r);
    }
    if (rc == CONSORT_OK) {
        const cs_cli_bench_setup setup = {.method = a.method,
                                          .path = a.path,
                                          .nodes =
                                              (const char(*)[CS_CLI_HTTPS_ADDRESS_MAX])t.s.address,
                                          .node_count = t.s.node_count,
                                          .connections = a.connections,
                                          .rate = a.rate,
                                          .warmup = a.warmup,
                                          .first = a.first,
                                          .json = a.json};
        code = cs_cli_bench_report(verb, &setup, r);
    } else {
        code = cs_cli_fail(verb, rc);
    }
    close_target(&t);
    cs_free(r);
    return code;
}
