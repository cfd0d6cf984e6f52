/*
 * `consort sandbox`: starts a local N-node service (sandbox.h) and keeps it
 * running in the foreground until SIGINT or SIGTERM, then stops its nodes.
 */
#include "cli.h"
#include "cli_opts.h"
#include "sandbox.h"

#include "base/alloc.h"
#include "base/file.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS           250
#define STOP_TIMEOUT_MS   15000
#define DEFAULT_NODES     3
#define DEFAULT_TIMEOUT_S 60

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_sandbox = {
    .name = "sandbox",
    .summary = "run a local N-node service for development and tests",
    .usage = "usage: consort sandbox --workspace DIR [--nodes N] [--platform virtual|tpm]\n"
             "           [--app PATH] [--consortd PATH] [--timeout SECONDS]\n"
             "           [--node-option NAME=VALUE]... [--sample composed] [--background]\n"
             "\n"
             "Starts N consortd processes on 127.0.0.1 (free ports), each on its own\n"
             "platform as if on its own host: node 0 creates the service, trusting the\n"
             "code id of consortd + the application module; the others join it one by\n"
             "one by attesting to it. Writes into DIR (which must be empty or missing):\n"
             "  service_cert.pem                 the service certificate (clients pin it)\n"
             "  user0_cert.pem, user0_privk.pem  a registered user (TLS client certificate)\n"
             "  member<m>_cert.pem, member<m>_privk.pem  the members (m = 0, 1, 2), who\n"
             "                                   open the service through governance\n"
             "  member<m>_enc_pubk.pem, member<m>_enc_privk.pem  their encryption keys\n"
             "  sandbox.pid                      the sandbox's pid\n"
             "  nodes.json                       [{node_id, rpc_address, pid, running, role,\n"
             "                                     data_dir, node_address, config, log}]\n"
             "  node<i>/                         node i: node.json (its configuration),\n"
             "                                   data/, platform/, consortd.log\n"
             "Prints one line 'READY <rpc address>' on standard output when the service\n"
             "accepts writes, then stays in the foreground (or, with --background, returns\n"
             "and runs on in the background); SIGINT (Ctrl-C), SIGTERM or `consort sandbox\n"
             "stop` stops every node; the exit status is 0 only if every node then exits\n"
             "with 0.\n"
             "If the sandbox dies, its nodes get SIGTERM.\n"
             "The virtual platform is INSECURE (software-signed reports): development only.\n"
             "\n"
             "options:\n"
             "  --workspace DIR    where the service's files go (required)\n"
             "  --nodes N          number of nodes, 1 to 15 (default 3)\n"
             "  --platform NAME    virtual (default), or tpm: each node attests with its own\n"
             "                     swtpm process (started and stopped by the sandbox)\n"
             "  --app PATH         application module (default: the logging sample of\n"
             "                     this build, ../samples/logging.so next to consort)\n"
             "  --consortd PATH    node binary (default: consortd next to consort)\n"
             "  --timeout SECONDS  how long one node may take to start or join (default 60)\n"
             "  --sample composed  two services instead of one (docs/e2e.md \"The composed\n"
             "                     sample\"): storage (samples/composed/storage.so) in\n"
             "                     DIR/storage and records (records.so, which calls\n"
             "                     storage) in DIR/records, N nodes each, wired through\n"
             "                     their governance; READY names a records node\n"
             "  --background       return once the service is READY (printing what the\n"
             "                     sandbox printed until then) and keep it running in the\n"
             "                     background, its messages in DIR/sandbox.log; `consort\n"
             "                     sandbox stop --workspace DIR` stops it\n"
             "  --node-option NAME=VALUE  adds a member to every node's configuration\n"
             "                     (docs/operating.md), VALUE as JSON if it parses, else as a\n"
             "                     string; e.g. --node-option ledger_chunk_bytes=65536\n"
             "\n"
             "While it runs, `consort sandbox add-node --workspace DIR` adds a node,\n"
             "`consort sandbox kill --workspace DIR --node I` crashes node I and\n"
             "`consort sandbox restart --workspace DIR --node I` starts it again;\n"
             "nodes.json follows (pid, \"running\", \"role\": leader, follower, stopped).\n"
             "\n"
             "example:\n"
             "  consort sandbox --nodes 3 --workspace /tmp/sandbox\n"
             "  consort sandbox --nodes 3 --workspace /tmp/sandbox --background\n",
    .run = run,
};

enum {
    OPT_NODES = 1,
    OPT_WORKSPACE,
    OPT_PLATFORM,
    OPT_APP,
    OPT_CONSORTD,
    OPT_TIMEOUT,
    OPT_NODE_OPTION,
    OPT_SAMPLE,
    OPT_BACKGROUND
};

static const struct option options[] = {
    {"nodes", required_argument, NULL, OPT_NODES},
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"app", required_argument, NULL, OPT_APP},
    {"consortd", required_argument, NULL, OPT_CONSORTD},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"node-option", required_argument, NULL, OPT_NODE_OPTION},
    {"sample", required_argument, NULL, OPT_SAMPLE},
    {"background", no_argument, NULL, OPT_BACKGROUND},
    {NULL, 0, NULL, 0},
};

typedef struct sandbox_args {
    const char *workspace;
    const char *app;
    const char *consortd;
    bool composed;   /* --sample composed */
    bool background; /* --background */
} sandbox_args;

/* Every child, nodes first (a node's TPM must outlive it). */
static size_t all_procs(cs_sbx *sbx, cs_sbx_proc **procs)
{
    size_t n = 0;
    for (int i = 0; i < sbx->count; i++)
        procs[n++] = &sbx->nodes[i].proc;
    for (int i = 0; i < sbx->count; i++)
        procs[n++] = &sbx->nodes[i].tpm;
    return n;
}

/* Stops every child; false if one did not exit cleanly (status 0) when asked to. */
static bool stop_everything(cs_sbx *sbx)
{
    cs_sbx_proc *procs[2 * CS_SBX_MAX_NODES];
    size_t n = all_procs(sbx, procs);
    size_t unclean = cs_sbx_stop_all(procs, (size_t)sbx->count, STOP_TIMEOUT_MS);
    unclean += cs_sbx_stop_all(procs + sbx->count, n - (size_t)sbx->count, STOP_TIMEOUT_MS);
    for (int i = 0; i < sbx->count; i++)
        cs_sbx_release_ports(sbx->nodes[i].tpm_port_fds);
    return unclean == 0;
}

/* Waits until node i answers GET /node/state with PartOfNetwork. */
static consort_err wait_open(cs_sbx *sbx, cs_sbx_node *n, cs_sbx_client **client)
{
    char why[512] = "it has not answered yet";
    time_t deadline = time(NULL) + (time_t)sbx->startup_timeout_s;
    for (;;) {
        CS_ENSURE(!cs_sbx_stop_requested(), CONSORT_E_STATE, "stopped while %s was starting",
                  n->name);
        if (!cs_sbx_alive(&n->proc))
            return cs_sbx_died(&n->proc, n->log_path);
        if (*client == NULL && cs_file_exists(sbx->service_cert))
            CS_TRY(cs_sbx_client_new(sbx->service_cert, sbx->user_cert, sbx->user_key, client));
        bool open = false;
        if (*client != NULL)
            CS_TRY(cs_sbx_node_open(*client, n->rpc_address, &open, why, sizeof why));
        if (open)
            return cs_sbx_read_node_id(n);
        if (time(NULL) > deadline) {
            cs_sbx_print_log_tail(n->log_path, 15);
            return cs_fail(CONSORT_E_TIMEOUT, "%s is not part of the network after %u s: %s",
                           n->name, sbx->startup_timeout_s, why);
        }
        cs_sbx_sleep_ms(POLL_MS);
    }
}

static consort_err start_node(cs_sbx *sbx, int i, cs_sbx_client **client)
{
    cs_sbx_node *n = &sbx->nodes[i];
    if (sbx->platform == CS_PLATFORM_TPM)
        CS_TRY(cs_sbx_tpm_start(sbx, n));
    CS_TRY(cs_sbx_write_config(sbx, i));
    char *const argv[] = {n->consortd, (char *)"--config", n->config_path, NULL};
    struct stat st;
    off_t log_start = stat(n->log_path, &st) == 0 ? st.st_size : 0;
    CS_TRY(cs_sbx_spawn(&n->proc, argv, n->log_path));
    n->last_pid = n->proc.pid;
    CS_TRY(cs_sbx_wait_bound(n, log_start, sbx->startup_timeout_s));
    /* the configuration names the bound ports from now on: a restart listens there again */
    CS_TRY(cs_sbx_write_config(sbx, i));
    fprintf(stderr, "consort sandbox: %s %s (pid %d, rpc %s, log %s)\n", n->name,
            i == 0 ? "starts the service" : "joins it", (int)n->proc.pid, n->rpc_address,
            n->log_path);
    CS_TRY(cs_sbx_write_nodes_json(sbx));
    CS_TRY(wait_open(sbx, n, client));
    fprintf(stderr, "consort sandbox: %s (node id %s) is part of the network\n", n->name,
            n->node_id);
    return cs_sbx_write_nodes_json(sbx);
}

/* The service accepts writes once node 0 lists every node as Trusted. */
static consort_err wait_all_trusted(cs_sbx *sbx, cs_sbx_client *client)
{
    time_t deadline = time(NULL) + (time_t)sbx->startup_timeout_s;
    size_t trusted = 0;
    for (;;) {
        CS_ENSURE(!cs_sbx_stop_requested(), CONSORT_E_STATE, "stopped");
        consort_err rc = cs_sbx_trusted_nodes(client, sbx->nodes[0].rpc_address, &trusted);
        if (rc == CONSORT_OK && trusted >= (size_t)sbx->count)
            return CONSORT_OK;
        if (time(NULL) > deadline)
            return cs_fail(CONSORT_E_TIMEOUT, "GET /node/network lists %zu trusted nodes of %d",
                           trusted, sbx->count);
        cs_sbx_sleep_ms(POLL_MS);
    }
}

static void print_guide(const cs_sbx *sbx, const cs_sbx_app *app, bool background)
{
    const char *ws = sbx->workspace;
    fprintf(stderr,
            "\nconsort sandbox: the service is ready (%d node%s, %s platform%s).\n"
            "  service certificate (pin it): %s\n"
            "  user0 (TLS client):  %s/user0_cert.pem  %s/user0_privk.pem\n"
            "  member0:             %s/member0_cert.pem  %s/member0_privk.pem\n"
            "  nodes, pids, logs:   %s\n",
            sbx->count, sbx->count == 1 ? "" : "s", cs_platform_name(sbx->platform),
            sbx->platform == CS_PLATFORM_VIRTUAL ? ", INSECURE: development only" : "",
            sbx->service_cert, ws, ws, ws, ws, sbx->nodes_json);
    cs_sbx_app_print(app, sbx, stderr);
    fprintf(stderr,
            "(from a source tree: scripts/sandbox-https %s GET /node/network)\n"
            "crash and restart node I: consort sandbox kill|restart --workspace %s --node I\n",
            ws, ws);
    if (!background)
        fprintf(stderr,
                "Ctrl-C (SIGINT), SIGTERM or `consort sandbox stop --workspace %s` stops "
                "the service.\n",
                ws);
}

/* ---- `consort sandbox add-node` requests (cmd_sandbox_add.c) ---- */

/* Reads a request file: {"app", "consortd" (absolute paths or ""), "timeout_s"}. */
static consort_err read_request(const char *path, cs_sbx_node *n, uint32_t *timeout_s)
{
    cs_buf text;
    cs_buf_init(&text, 64 << 10);
    consort_err rc = cs_file_read(path, &text);
    json_t *doc = rc == CONSORT_OK ? json_loadb((const char *)text.ptr, text.len, 0, NULL) : NULL;
    cs_buf_cleanup(&text);
    CS_TRY(rc);
    const char *app = json_string_value(json_object_get(doc, "app"));
    const char *consortd = json_string_value(json_object_get(doc, "consortd"));
    json_int_t t = json_integer_value(json_object_get(doc, "timeout_s"));
    if (app == NULL || consortd == NULL || t <= 0 || t > 3600) {
        json_decref(doc);
        return cs_fail(CONSORT_E_MALFORMED, "%s: not an add-node request", path);
    }
    snprintf(n->app, sizeof n->app, "%s", app);
    snprintf(n->consortd, sizeof n->consortd, "%s", consortd);
    *timeout_s = (uint32_t)t;
    json_decref(doc);
    return CONSORT_OK;
}

/* The last line of a node's log that says its join was refused ("" if none). */
static void last_refusal(const char *log_path, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL) {
        const char *r = strstr(line, ": refused: ");
        if (r == NULL)
            continue;
        line[strcspn(line, "\n")] = '\0';
        const char *msg = strstr(line, "join via");
        snprintf(out, n, "%.1000s", msg != NULL ? msg : line);
    }
    fclose(f);
}

/* Starts the node a request asks for; its answer (JSON) into `answer`. */
static void add_node(cs_sbx *sbx, const char *request, cs_sbx_client **client, json_t **answer)
{
    consort_err rc = CONSORT_OK;
    if (sbx->platform != CS_PLATFORM_VIRTUAL)
        rc = cs_fail(CONSORT_E_UNSUPPORTED, "add-node supports the virtual platform only");
    else if (sbx->count >= CS_SBX_MAX_NODES)
        rc = cs_fail(CONSORT_E_TOO_LARGE, "the sandbox has %d nodes, its most", sbx->count);
    int i = sbx->count;
    cs_sbx_node *n = &sbx->nodes[i];
    uint32_t timeout_s = 0, saved = sbx->startup_timeout_s;
    if (rc == CONSORT_OK) {
        memset(n, 0, sizeof *n);
        n->tpm_port_fds[0] = n->tpm_port_fds[1] = -1;
        rc = read_request(request, n, &timeout_s);
    }
    if (rc == CONSORT_OK)
        rc = cs_sbx_prepare_node(sbx, i);
    if (rc == CONSORT_OK) {
        sbx->count++;
        sbx->startup_timeout_s = timeout_s;
        rc = start_node(sbx, i, client);
        sbx->startup_timeout_s = saved;
        if (rc != CONSORT_OK) { /* it could not join: stop it, keep its log */
            char why[CS_ERRMSG_MAX];
            snprintf(why, sizeof why, "%s", consort_errmsg());
            cs_sbx_proc *p = &n->proc;
            (void)cs_sbx_stop_all(&p, 1, STOP_TIMEOUT_MS);
            sbx->count--;
            if (cs_sbx_write_nodes_json(sbx) != CONSORT_OK)
                cs_err_clear();
            char line[1100];
            last_refusal(n->log_path, line, sizeof line);
            rc = cs_fail(rc, "%s did not join: %s%s%s (log %s)", n->name, why,
                         line[0] != '\0' ? "; its log says: " : "", line, n->log_path);
        }
    }
    if (rc == CONSORT_OK && cs_sbx_refresh_roles(sbx, client))
        rc = cs_sbx_write_nodes_json(sbx);
    if (rc == CONSORT_OK)
        *answer = json_pack("{s:i, s:s, s:s, s:s}", "node", i, "node_id", n->node_id, "rpc_address",
                            n->rpc_address, "log", n->log_path);
    else
        *answer = json_pack("{s:s}", "error", consort_errmsg());
}

static void serve_requests(cs_sbx *sbx, cs_sbx_client **client)
{
    char dir[CS_SBX_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/requests", sbx->workspace);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char request[CS_SBX_PATH_MAX + 300], answer_path[CS_SBX_PATH_MAX + 300];
    bool found = false;
    while (!found && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 8 && strcmp(e->d_name + len - 8, ".request") == 0) {
            snprintf(request, sizeof request, "%s/%s", dir, e->d_name);
            snprintf(answer_path, sizeof answer_path, "%s/%.*s.answer", dir, (int)(len - 8),
                     e->d_name);
            found = true;
        }
    }
    closedir(d);
    if (!found)
        return;
    json_t *answer = NULL;
    cs_buf text;
    cs_buf_init(&text, 64 << 10);
    json_t *req = cs_file_read(request, &text) == CONSORT_OK
                      ? json_loadb((const char *)text.ptr, text.len, 0, NULL)
                      : NULL;
    cs_buf_cleanup(&text);
    cs_err_clear();
    const char *op = json_string_value(json_object_get(req, "op"));
    if (op != NULL && strcmp(op, "stop") == 0) {
        fprintf(stderr, "consort sandbox: asked to stop (consort sandbox stop)\n");
        answer = json_pack("{s:I}", "pid", (json_int_t)getpid());
        cs_sbx_request_stop();
    } else if (op != NULL && strcmp(op, "add") != 0)
        cs_sbx_node_op(sbx, req, client, &answer);
    else
        add_node(sbx, request, client, &answer);
    json_decref(req);
    (void)unlink(request);
    char *out = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
    json_decref(answer);
    if (out == NULL || cs_file_write_atomic(answer_path, cs_slice_str(out), 0644) != CONSORT_OK)
        fprintf(stderr, "consort sandbox: cannot answer %s\n", request);
    free(out);
}

/* Foreground until SIGINT/SIGTERM; reports nodes that die meanwhile and
 * serves add-node requests. */
static void serve(cs_sbx *const *sbxs, size_t n)
{
    cs_sbx_client *clients[2] = {NULL, NULL};
    while (!cs_sbx_stop_requested()) {
        for (size_t k = 0; k < n; k++) {
            cs_sbx *sbx = sbxs[k];
            bool changed = false;
            for (int i = 0; i < sbx->count; i++) {
                bool was = sbx->nodes[i].proc.pid != 0;
                changed |= was && !cs_sbx_alive(&sbx->nodes[i].proc);
                (void)cs_sbx_alive(&sbx->nodes[i].tpm);
            }
            /* nodes.json says who runs and who leads: roles are asked for when a node
             * dies (and after each kill, restart or add-node), not on a timer, so the
             * sandbox sends the nodes no requests of its own while nothing happens */
            if (changed)
                (void)cs_sbx_refresh_roles(sbx, &clients[k]);
            if (changed && cs_sbx_write_nodes_json(sbx) != CONSORT_OK) {
                fprintf(stderr, "consort sandbox: %s\n", consort_errmsg());
                cs_err_clear();
            }
            serve_requests(sbx, &clients[k]);
        }
        cs_sbx_sleep_ms(500);
    }
    for (size_t k = 0; k < n; k++)
        cs_sbx_client_free(clients[k]);
    fprintf(stderr, "consort sandbox: stopping the nodes\n");
}

static consort_err start_service(cs_sbx *sbx, const sandbox_args *a, cs_sbx_app *app)
{
    CS_TRY(cs_sbx_signals_install());
    CS_TRY(cs_sbx_find_binaries(sbx, a->consortd, a->app));
    /* for the banner only: a module that cannot load fails in node 0, with its log */
    if (cs_sbx_app_list(app, sbx->app) != CONSORT_OK)
        fprintf(stderr, "consort sandbox: cannot list the application's endpoints: %s\n",
                app->error);
    CS_TRY(cs_sbx_prepare(sbx, a->workspace));
    char pid_path[CS_SBX_PATH_MAX + 16], pid_text[24];
    snprintf(pid_path, sizeof pid_path, "%s/sandbox.pid", sbx->workspace);
    snprintf(pid_text, sizeof pid_text, "%d\n", (int)getpid());
    CS_TRY(cs_file_write_atomic(pid_path, cs_slice_str(pid_text), 0644));
    if (sbx->platform == CS_PLATFORM_VIRTUAL)
        fprintf(stderr, "WARNING: the virtual platform is INSECURE and for development only.\n");
    cs_sbx_client *client = NULL;
    consort_err rc = CONSORT_OK;
    for (int i = 0; i < sbx->count && rc == CONSORT_OK; i++) {
        rc = start_node(sbx, i, &client);
        if (rc == CONSORT_OK && i == 0)
            rc = cs_sbx_open_service(sbx, client);
    }
    if (rc == CONSORT_OK)
        rc = wait_all_trusted(sbx, client);
    cs_sbx_client_free(client);
    return rc;
}

static int parse(int argc, char **argv, cs_sbx *sbx, sandbox_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_sandbox;
    uint32_t nodes = DEFAULT_NODES;
    sbx->startup_timeout_s = DEFAULT_TIMEOUT_S;
    sbx->platform = CS_PLATFORM_VIRTUAL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        if (c == OPT_NODES) {
            if (!cs_cli_parse_u32(verb, "--nodes", arg, &nodes))
                return CS_EXIT_USAGE;
        } else if (c == OPT_WORKSPACE) {
            a->workspace = arg;
        } else if (c == OPT_PLATFORM) {
            if (cs_platform_parse(arg, &sbx->platform) != CONSORT_OK ||
                (sbx->platform != CS_PLATFORM_VIRTUAL && sbx->platform != CS_PLATFORM_TPM))
                return cs_cli_usage_error(verb, "--platform: '%s', expected virtual or tpm", arg);
        } else if (c == OPT_APP) {
            a->app = arg;
        } else if (c == OPT_CONSORTD) {
            a->consortd = arg;
        } else if (c == OPT_NODE_OPTION) {
            if (strchr(arg, '=') == NULL || arg[0] == '=')
                return cs_cli_usage_error(verb, "--node-option '%s': expected NAME=VALUE", arg);
            if (sbx->extra_count == CS_SBX_MAX_EXTRA)
                return cs_cli_usage_error(verb, "--node-option: at most %d", CS_SBX_MAX_EXTRA);
            sbx->extra[sbx->extra_count++] = arg;
        } else if (c == OPT_SAMPLE) {
            if (strcmp(arg, "composed") != 0)
                return cs_cli_usage_error(verb, "--sample: '%s', expected composed", arg);
            a->composed = true;
        } else if (c == OPT_TIMEOUT) {
            if (!cs_cli_parse_u32(verb, "--timeout", arg, &sbx->startup_timeout_s))
                return CS_EXIT_USAGE;
        } else if (c == OPT_BACKGROUND) {
            a->background = true;
        } else {
            return CS_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    if (a->workspace == NULL)
        return cs_cli_usage_error(verb, "--workspace DIR is required");
    if (a->composed && a->app != NULL)
        return cs_cli_usage_error(verb, "--sample composed runs its own modules: no --app");
    if (nodes < 1 || nodes > CS_SBX_MAX_NODES)
        return cs_cli_usage_error(verb, "--nodes: %u, expected 1 to %d", nodes, CS_SBX_MAX_NODES);
    if (sbx->startup_timeout_s == 0)
        return cs_cli_usage_error(verb, "--timeout: must be at least 1 second");
    sbx->count = (int)nodes;
    return CS_EXIT_OK;
}

/* --sample composed: storage in DIR/storage, records in DIR/records. */
static consort_err start_composed(cs_sbx *back, cs_sbx *front, const sandbox_args *a,
                                  cs_sbx_app *app)
{
    char dir[CS_SBX_PATH_MAX + 16], back_app[CS_SBX_PATH_MAX], front_app[CS_SBX_PATH_MAX];
    CS_TRY(cs_sbx_sample_module("composed/storage.so", back_app));
    CS_TRY(cs_sbx_sample_module("composed/records.so", front_app));
    CS_TRY(cs_mkdir_p(a->workspace, 0755));
    sandbox_args b = *a;
    snprintf(dir, sizeof dir, "%s/storage", a->workspace);
    b.workspace = dir;
    b.app = back_app;
    fprintf(stderr, "consort sandbox: the storage service (back-end), in %s\n", dir);
    CS_TRY_CTX(start_service(back, &b, app), "the storage service");
    cs_sbx_app_cleanup(app);
    cs_sbx_app_init(app);
    snprintf(dir, sizeof dir, "%s/records", a->workspace);
    b.app = front_app;
    fprintf(stderr, "consort sandbox: the records service (front-end), in %s\n", dir);
    CS_TRY_CTX(start_service(front, &b, app), "the records service");
    return cs_sbx_composed_wire(back, front);
}

static int run(int argc, char **argv)
{
    cs_sbx *sbx = cs_malloc(sizeof *sbx);
    cs_sbx *front = cs_malloc(sizeof *front);
    if (sbx == NULL || front == NULL) {
        cs_free(sbx);
        cs_free(front);
        return cs_cli_fail(&cs_cmd_sandbox, cs_fail(CONSORT_E_NOMEM, "out of memory"));
    }
    cs_sbx_init(sbx);
    cs_sbx_init(front);
    sandbox_args a = {0};
    int code = parse(argc, argv, sbx, &a);
    if (code != CS_EXIT_OK) {
        cs_free(sbx);
        cs_free(front);
        return code;
    }
    if (a.background) {
        bool child = false;
        consort_err brc = cs_sbx_background_start(&child, &code);
        if (brc != CONSORT_OK || !child) {
            cs_free(sbx);
            cs_free(front);
            return brc != CONSORT_OK ? cs_cli_fail(&cs_cmd_sandbox, brc) : code;
        }
    }
    /* the same options for the second service; its own state */
    front->count = sbx->count;
    front->platform = sbx->platform;
    front->startup_timeout_s = sbx->startup_timeout_s;
    memcpy(front->extra, sbx->extra, sizeof front->extra);
    front->extra_count = sbx->extra_count;
    cs_sbx_app app;
    cs_sbx_app_init(&app);
    consort_err rc =
        a.composed ? start_composed(sbx, front, &a, &app) : start_service(sbx, &a, &app);
    cs_sbx *const all[2] = {sbx, front};
    size_t running = a.composed ? 2 : 1;
    for (size_t k = 0; k < running && rc == CONSORT_OK; k++) { /* nodes.json: roles too */
        cs_sbx_client *client = NULL;
        (void)cs_sbx_refresh_roles(all[k], &client);
        cs_sbx_client_free(client);
        rc = cs_sbx_write_nodes_json(all[k]);
    }
    if (rc == CONSORT_OK) {
        const cs_sbx *entry = a.composed ? front : sbx;
        printf("READY %s\n", entry->nodes[0].rpc_address);
        fflush(stdout);
        if (a.composed)
            fprintf(stderr,
                    "\nconsort sandbox: two services, wired (docs/e2e.md \"The composed "
                    "sample\"):\n  storage (back-end): %s\n  records (front-end, calls "
                    "storage): %s\n",
                    sbx->workspace, front->workspace);
        print_guide(entry, &app, a.background);
        if (a.background)
            cs_sbx_background_detach(a.workspace, entry->workspace);
        serve(all, running);
    }
    cs_sbx_app_cleanup(&app);
    if (rc != CONSORT_OK)
        code = cs_cli_fail(&cs_cmd_sandbox, rc);
    bool clean = true;
    for (size_t k = running; k-- > 0;)
        clean = stop_everything(all[k]) && clean;
    if (!clean && code == CS_EXIT_OK)
        code = CS_EXIT_REJECTED; /* a node did not shut down cleanly: say so in the status */
    cs_free(sbx);
    cs_free(front);
    return code;
}
