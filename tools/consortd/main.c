/*
 * consortd: one node of a consort service (docs/operating.md, "Process
 * model" in particular).
 *
 *   consortd --config node.json
 *   consortd --code-id [--config node.json | [--app PATH] [--platform virtual|tpm] [--tcti CONF]]
 *   consortd --config node.json --migrate STEP [IN [OUT]]
 *
 * With --code-id it loads the module, warms up and measures exactly as a
 * starting node does (src/node/node_code.h), prints the hex code id on
 * stdout and exits 0: a code id v2 names the process, libraries included,
 * so only this binary, run with the same environment, can predict it.
 * With --migrate it runs one step of the migration protocol on the stopped
 * node's sealed store (src/node/node_migrate.h, docs/migration.md) and
 * exits: `consort migrate` drives the steps.
 *
 * One libuv loop runs the node (src/node/node.h) and its HTTPS endpoints
 * (src/node/rpc.h). Logs go to stderr (level from CONSORT_LOG, format from
 * CONSORT_LOG_FORMAT: text or json; docs/observability.md); SIGUSR1 makes
 * them one level more verbose, SIGUSR2 one level less, at runtime. Prints
 * "consortd: bound rpc_address <a> node_address <b>" first, once both
 * addresses are bound (port 0 picks a free port: these are the ports it got),
 * and "consortd: node <id> open at <rpc_address>" once it serves requests,
 * each a line on stdout timestamped and formatted like the log's.
 * Exit status: 0 after SIGTERM/SIGINT and a clean stop; 1 on a fatal error
 * (bad configuration, start failure, or the node failing later), with the
 * reason logged; 2 for a usage error.
 */
#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "consensus/raft_aio.h"
#include "consensus/raft_heap.h"
#include "net/background.h"
#include "net/reserve.h"
#include "node/node.h"
#include "node/node_code.h"
#include "node/node_migrate.h"
#include "node/rpc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

typedef struct daemon {
    uv_loop_t *loop;
    cs_node_config cfg;
    cs_node *node;
    cs_rpc *rpc;
    uv_signal_t sigterm, sigint, sigusr1, sigusr2;
    bool watching, listening, announced, stopping;
    int status;
} daemon_t;

static void node_event(void *ctx, const cs_node_event *ev);

static void handles_close(daemon_t *d)
{
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigusr1, NULL);
    uv_close((uv_handle_t *)&d->sigusr2, NULL);
}

static void node_stopped(void *ctx)
{
    daemon_t *d = ctx;
    handles_close(d);
}

static void rpc_stopped(void *ctx)
{
    daemon_t *d = ctx;
    d->rpc = NULL;
    cs_node_stop(d->node, node_stopped, d);
}

static void shutdown_daemon(daemon_t *d, int status)
{
    if (d->stopping)
        return;
    d->stopping = true;
    d->status = status;
    /* a stopping node's raft destroys its AIO contexts itself, before the
     * process exits (consensus/raft_aio.h) */
    cs_raft_aio_uninstall();
    if (d->watching)
        cs_node_unwatch(d->node, node_event, d);
    d->watching = false;
    if (d->rpc != NULL)
        cs_rpc_stop(d->rpc, rpc_stopped, d);
    else
        cs_node_stop(d->node, node_stopped, d);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    daemon_t *d = h->data;
    cs_log_info("consortd", "signal %d: stopping", signum);
    shutdown_daemon(d, 0);
}

/* SIGUSR1: log one level more verbose; SIGUSR2: one level less. */
static void level_cb(uv_signal_t *h, int signum)
{
    (void)h;
    (void)cs_log_step_level(signum == SIGUSR1);
}

/* "open at" once the node serves requests and the server listens. */
static void announce(daemon_t *d)
{
    if (d->announced || d->stopping || !d->listening || !cs_node_is_open(d->node))
        return;
    d->announced = true;
    const cs_log_field f[] = {{"node_id", cs_node_id(d->node), 0},
                              {"rpc_address", cs_rpc_address(d->rpc), 0}};
    cs_log_stdout("consortd", f, 2, "consortd: node %s open at %s", cs_node_id(d->node),
                  cs_rpc_address(d->rpc));
}

static void node_event(void *ctx, const cs_node_event *ev)
{
    daemon_t *d = ctx;
    if (ev->state == CS_NODE_FAILED) {
        cs_log_error("consortd", "node %s failed: %s; exiting", cs_node_id(d->node), ev->reason);
        shutdown_daemon(d, 1);
        return;
    }
    if (ev->state == CS_NODE_RETIRED) { /* evicted or removed by the members: done */
        cs_log_info("consortd", "node %s was removed from the service; exiting",
                    cs_node_id(d->node));
        shutdown_daemon(d, 0);
        return;
    }
    announce(d);
}

static void rpc_listening(void *ctx, consort_err rc, const char *message)
{
    daemon_t *d = ctx;
    if (rc != CONSORT_OK) {
        cs_log_error("consortd", "HTTP endpoints: %s; exiting", message);
        shutdown_daemon(d, 1);
        return;
    }
    d->listening = true;
    announce(d);
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: consortd --config FILE\n"
               "       consortd --code-id [--config FILE | [--app PATH] [--platform virtual|tpm]\n"
               "                          [--tcti CONF]]\n"
               "       consortd --config FILE --migrate STEP [IN [OUT]]\n"
               "       consortd --version\n"
               "Runs one node of a consort service (see docs/operating.md).\n"
               "--code-id prints the code id a node started with that configuration (or that\n"
               "module, platform and TPM TCTI) reports, measured the same way, and exits.\n"
               "--migrate runs one step of a migration of the stopped node's sealed state\n"
               "(status, nonce, offer, answer, accept, confirm, finish; `consort migrate`\n"
               "drives them: docs/migration.md) and exits.\n");
    return status;
}

/* What --code-id measures: a configuration file, or the pieces of one. */
typedef struct code_id_args {
    const char *config;
    const char *app;
    const char *platform;
    const char *tcti;
} code_id_args;

static int code_id_usage(const char *why)
{
    fprintf(stderr, "consortd --code-id: %s\n", why);
    return usage(stderr, 2);
}

static int print_code_id(const code_id_args *a)
{
    static cs_node_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (a->config != NULL) {
        if (a->app != NULL || a->platform != NULL || a->tcti != NULL)
            return code_id_usage("--config already says --app, --platform and --tcti");
        if (cs_node_config_load(a->config, &cfg) != CONSORT_OK) {
            cs_log_error("consortd", "%s", consort_errmsg());
            return 1;
        }
    } else {
        cfg.platform = CS_PLATFORM_VIRTUAL;
        if (a->platform != NULL &&
            (cs_platform_parse(a->platform, &cfg.platform) != CONSORT_OK ||
             (cfg.platform != CS_PLATFORM_VIRTUAL && cfg.platform != CS_PLATFORM_TPM)))
            return code_id_usage("--platform: expected virtual or tpm");
        if (cfg.platform == CS_PLATFORM_TPM && a->tcti == NULL)
            return code_id_usage("--platform tpm needs --tcti CONF (the node's \"tpm_tcti\")");
        if (a->app != NULL && strlen(a->app) >= sizeof cfg.app_path)
            return code_id_usage("--app: path too long");
        if (a->tcti != NULL && strlen(a->tcti) >= sizeof cfg.tpm_tcti)
            return code_id_usage("--tcti: too long");
        snprintf(cfg.app_path, sizeof cfg.app_path, "%s", a->app != NULL ? a->app : "");
        snprintf(cfg.tpm_tcti, sizeof cfg.tpm_tcti, "%s", a->tcti != NULL ? a->tcti : "");
    }
    cs_node_code *code = NULL;
    if (cs_node_code_measure(&cfg, &code) != CONSORT_OK) {
        cs_log_error("consortd", "code id: %s", consort_errmsg());
        return 1;
    }
    char hex[2 * CS_CODE_ID_LEN + 1];
    cs_hex_encode(CS_SLICE(cs_node_code_id(code), CS_CODE_ID_LEN), hex);
    printf("%s\n", hex);
    fflush(stdout);
    cs_node_code_free(code);
    return 0;
}

/* The node cannot go on in this process (node.h cs_node_set_fatal): exit
 * now, before libraft acts on its broken state; the other nodes carry on
 * and a restart recovers this one from its ledger and raft log. */
static void node_fatal(void *ctx, const char *why)
{
    (void)ctx;
    cs_log_error("consortd", "stopping at once: %s", why);
    fflush(stdout);
    _exit(1);
}

/*
 * Raises the soft open-file limit to the hard one (docs/operating.md
 * "Connection limits"): the default soft limit (often 1024) is far below what
 * a node serving thousands of clients needs, and the node caps client
 * connections at this limit minus a reserve for its own files and channels.
 */
static void raise_open_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    /* an unlimited hard limit still stops at the kernel's fs.nr_open (1 << 20 by default) */
    rlim_t target = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= target)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        cs_log_warn("consortd", "cannot raise the open-file limit from %llu to %llu: %s",
                    (unsigned long long)was, (unsigned long long)target, strerror(errno));
        return;
    }
    cs_log_info("consortd", "open-file limit raised from %llu to %llu", (unsigned long long)was,
                (unsigned long long)target);
}

/* True if `address` names port 0 (a malformed address is the node's to report). */
static bool picks_port(const char *address)
{
    struct sockaddr_storage ss;
    if (cs_net_parse_address(address, &ss) != CONSORT_OK)
        return false;
    return (ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port) == 0;
}

/*
 * Binds rpc_address and node_address once, before the node starts, and
 * says which ports it got (docs/operating.md "Ports"); the listeners take
 * these sockets over later (net/reserve.h). The service records a node's
 * addresses when it starts or joins, so a restarted node should listen where
 * it did: port 0 on a restart (the data directory holds sealed state) is
 * warned about, not refused (the host decides where its processes listen).
 * False (logged) on failure.
 */
static bool bind_addresses(cs_node_config *cfg)
{
    char sealed[sizeof cfg->data_dir + 16];
    bool restart = cs_path_join(sealed, sizeof sealed, cfg->data_dir, "sealed") == CONSORT_OK &&
                   cs_file_exists(sealed);
    char *const addresses[2] = {cfg->rpc_address, cfg->node_address};
    const char *const names[2] = {"rpc_address", "node_address"};
    for (int i = 0; i < 2; i++) {
        if (restart && picks_port(addresses[i]))
            cs_log_warn("consortd",
                        "config: \"%s\" %s picks a new port, but %s holds this node's state: "
                        "the service knows the node at the port of its first start (its first "
                        "\"consortd: bound\" line), so peers and redirected clients look for it "
                        "there; name that port",
                        names[i], addresses[i], cfg->data_dir);
        char bound[CS_NET_ADDRESS_MAX];
        if (cs_net_reserve(addresses[i], bound) != CONSORT_OK) {
            cs_log_error("consortd", "config: \"%s\": %s", names[i], consort_errmsg());
            return false;
        }
        snprintf(addresses[i], CS_NODE_ADDR_MAX, "%s", bound);
    }
    const cs_log_field f[] = {{"rpc_address", cfg->rpc_address, 0},
                              {"node_address", cfg->node_address, 0}};
    cs_log_stdout("consortd", f, 2, "consortd: bound rpc_address %s node_address %s",
                  cfg->rpc_address, cfg->node_address);
    return true;
}

/* Watches, starts the node and its endpoints; false (logged) on failure. */
static bool start_node(daemon_t *d)
{
    if (cs_node_watch(d->node, node_event, d) != CONSORT_OK) {
        cs_log_error("consortd", "%s", consort_errmsg());
        return false;
    }
    d->watching = true;
    if (cs_node_start(d->node) != CONSORT_OK) {
        cs_log_error("consortd", "start failed: %s", consort_errmsg());
        return false;
    }
    if (cs_rpc_start(d->loop, d->node, &d->cfg, &d->rpc) != CONSORT_OK) {
        cs_log_error("consortd", "HTTP endpoints: %s", consort_errmsg());
        d->rpc = NULL;
        return false;
    }
    cs_rpc_on_listen(d->rpc, rpc_listening, d);
    return true;
}

static int run(daemon_t *d)
{
    if (cs_node_new(d->loop, &d->cfg, &d->node) != CONSORT_OK) {
        cs_log_error("consortd", "%s", consort_errmsg());
        return 1;
    }
    cs_node_set_fatal(d->node, node_fatal, d);
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    d->sigterm.data = d->sigint.data = d;
    uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&d->sigint, signal_cb, SIGINT);
    uv_signal_init(d->loop, &d->sigusr1);
    uv_signal_init(d->loop, &d->sigusr2);
    uv_signal_start(&d->sigusr1, level_cb, SIGUSR1);
    uv_signal_start(&d->sigusr2, level_cb, SIGUSR2);
    if (!start_node(d))
        shutdown_daemon(d, 1);
    uv_run(d->loop, UV_RUN_DEFAULT);
    cs_node_free(d->node);
    return d->status;
}

int main(int argc, char **argv)
{
    code_id_args ca = {0};
    bool code_id = false;
    const char *migrate[3] = {NULL, NULL, NULL}; /* step, in, out */
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--config") == 0 && next != NULL)
            ca.config = argv[++i];
        else if (strcmp(argv[i], "--migrate") == 0 && next != NULL) {
            migrate[0] = argv[++i];
            for (int k = 1; k < 3 && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0; k++)
                migrate[k] = argv[++i];
        } else if (strcmp(argv[i], "--code-id") == 0)
            code_id = true;
        else if (strcmp(argv[i], "--app") == 0 && next != NULL)
            ca.app = argv[++i];
        else if (strcmp(argv[i], "--platform") == 0 && next != NULL)
            ca.platform = argv[++i];
        else if (strcmp(argv[i], "--tcti") == 0 && next != NULL)
            ca.tcti = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
        else if (strcmp(argv[i], "--version") == 0)
            return printf("consortd %s (application ABI %d)\n", CONSORT_VERSION,
                          CONSORT_APP_ABI_VERSION) < 0;
        else
            return usage(stderr, 2);
    }
    if (!code_id && (ca.config == NULL || ca.app != NULL || ca.platform != NULL || ca.tcti != NULL))
        return usage(stderr, 2);
    const char *config = ca.config;
    signal(SIGPIPE, SIG_IGN);
    /* tss2 (platform tpm) logs to stderr on its own; consort's errors carry the
     * TPM's reason already. An explicit TSS2_LOG from the user wins. */
    setenv("TSS2_LOG", "all+none", 0);
    if (code_id)
        return print_code_id(&ca);
    /* before libraft allocates anything: its log's large blocks mapped on
     * their own, given back when a snapshot truncates it (raft_heap.h) */
    cs_raft_heap_install();
    /* libraft's AIO contexts destroyed by a thread of their own, not on the
     * loop (raft_aio.h); started here for the loop's priority */
    if (!cs_raft_aio_install())
        fprintf(stderr, "consortd: warning: io_destroy stays on the loop (no thread)\n");
    /* the allocator's worker at the loop's priority (started from here:
     * threads inherit their creator's), then libuv's pool (snapshots,
     * sealing, file writes) below it; best effort, a node runs without */
    (void)cs_alloc_worker_start();
    if (cs_uv_pool_background() != CONSORT_OK)
        fprintf(stderr, "consortd: warning: %s\n", consort_errmsg());
    if (migrate[0] != NULL) {
        if (code_id || ca.app != NULL || ca.platform != NULL || ca.tcti != NULL)
            return usage(stderr, 2);
        return cs_node_migrate_main(config, migrate[0], migrate[1], migrate[2]);
    }
    raise_open_file_limit();
    static daemon_t d;
    d.loop = uv_default_loop();
    if (cs_node_config_load(config, &d.cfg) != CONSORT_OK) {
        cs_log_error("consortd", "%s", consort_errmsg());
        return 1;
    }
    if (!bind_addresses(&d.cfg))
        return 1;
    int status = run(&d);
    cs_net_reserved_release();
    uv_loop_close(d.loop);
    return status;
}
