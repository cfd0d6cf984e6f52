/*
 * consortd: one node of a consort service (node.md "Process model";
 * docs/operating.md).
 *
 *   consortd --config node.json
 *
 * One libuv loop runs the node (src/node/node.h) and its HTTPS endpoints
 * (src/node/rpc.h). Logs go to stderr (level from CONSORT_LOG). Prints
 * "consortd: node <id> open at <rpc_address>" once it serves requests.
 * Exit status: 0 after SIGTERM/SIGINT and a clean stop; 1 on a fatal error
 * (bad configuration, start failure, or the node failing later), with the
 * reason logged; 2 for a usage error.
 */
#include "base/log.h"
#include "node/node.h"
#include "node/rpc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define WATCH_MS 100

typedef struct daemon {
    uv_loop_t *loop;
    cs_node_config cfg;
    cs_node *node;
    cs_rpc *rpc;
    uv_signal_t sigterm, sigint;
    uv_timer_t watch;
    bool announced, stopping;
    int status;
} daemon_t;

static void handles_close(daemon_t *d)
{
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->watch, NULL);
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
    uv_timer_stop(&d->watch);
    cs_rpc_stop(d->rpc, rpc_stopped, d);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    daemon_t *d = h->data;
    cs_log_info("consortd", "signal %d: stopping", signum);
    shutdown_daemon(d, 0);
}

static void watch_cb(uv_timer_t *t)
{
    daemon_t *d = t->data;
    if (strcmp(cs_node_state_name(d->node), "Failed") == 0) {
        cs_log_error("consortd", "node %s failed; exiting", cs_node_id(d->node));
        shutdown_daemon(d, 1);
        return;
    }
    if (!d->announced && cs_node_is_open(d->node) && d->rpc != NULL &&
        cs_rpc_address(d->rpc)[0] != '\0') {
        d->announced = true;
        printf("consortd: node %s open at %s\n", cs_node_id(d->node), cs_rpc_address(d->rpc));
        fflush(stdout);
    }
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: consortd --config FILE\n"
               "Runs one node of a consort service (see docs/operating.md).\n");
    return status;
}

static int run(daemon_t *d)
{
    if (cs_node_new(d->loop, &d->cfg, &d->node) != CONSORT_OK) {
        cs_log_error("consortd", "%s", consort_errmsg());
        return 1;
    }
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_timer_init(d->loop, &d->watch);
    d->sigterm.data = d->sigint.data = d->watch.data = d;
    uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&d->sigint, signal_cb, SIGINT);
    uv_timer_start(&d->watch, watch_cb, WATCH_MS, WATCH_MS);
    if (cs_node_start(d->node) != CONSORT_OK) {
        cs_log_error("consortd", "start failed: %s", consort_errmsg());
        d->stopping = true;
        d->status = 1;
        uv_timer_stop(&d->watch);
        cs_node_stop(d->node, node_stopped, d);
    } else if (cs_rpc_start(d->loop, d->node, &d->cfg, &d->rpc) != CONSORT_OK) {
        cs_log_error("consortd", "HTTP endpoints: %s", consort_errmsg());
        d->rpc = NULL;
        shutdown_daemon(d, 1);
    }
    uv_run(d->loop, UV_RUN_DEFAULT);
    cs_node_free(d->node);
    return d->status;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
        else
            return usage(stderr, 2);
    }
    if (config == NULL)
        return usage(stderr, 2);
    signal(SIGPIPE, SIG_IGN);
    /* tss2 (platform tpm) logs to stderr on its own; consort's errors carry the
     * TPM's reason already. An explicit TSS2_LOG from the user wins. */
    setenv("TSS2_LOG", "all+none", 0);
    static daemon_t d;
    d.loop = uv_default_loop();
    if (cs_node_config_load(config, &d.cfg) != CONSORT_OK) {
        cs_log_error("consortd", "%s", consort_errmsg());
        return 1;
    }
    int status = run(&d);
    uv_loop_close(d.loop);
    return status;
}
