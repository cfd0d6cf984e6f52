/*
 * `consort sandbox kill` and `consort sandbox restart`: ask a running sandbox
 * to crash one of its nodes or to start it again (sandbox_ops.c does it, in
 * the sandbox, which owns the node processes and nodes.json).
 */
#include "cli.h"
#include "cli_opts.h"
#include "sandbox.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ANSWER_MAX ((size_t)64 << 10)

static int run_kill(int argc, char **argv);
static int run_restart(int argc, char **argv);
static int run_stop(int argc, char **argv);

const cs_cli_verb cs_cmd_sandbox_kill = {
    .name = "sandbox kill",
    .summary = "crash a node of a running sandbox (SIGKILL)",
    .usage =
        "usage: consort sandbox kill --workspace DIR --node N [--no-wait] [--timeout SECONDS]\n"
        "\n"
        "Asks the sandbox running in DIR to kill node N with SIGKILL: a crash, with\n"
        "no chance to shut down cleanly. Then, unless --no-wait, waits until the\n"
        "nodes still running agree on a leader (a new one if N led), so that a write\n"
        "sent to any of them right after is answered. nodes.json says that N is no\n"
        "longer running (\"running\": false, \"role\": \"stopped\"); `consort sandbox\n"
        "restart` starts it again. Prints {\"node\", \"pid\", \"leader\" (the index of\n"
        "the leader, or null with --no-wait)} as JSON.\n"
        "Exit status 1 if N is not running, or if no leader emerged in time (a\n"
        "majority of the nodes may be down: the service cannot commit then).\n"
        "\n"
        "options:\n"
        "  --workspace DIR    the running sandbox's workspace (required)\n"
        "  --node N           the node's index in nodes.json (required)\n"
        "  --no-wait          return once the node is dead\n"
        "  --timeout SECONDS  how long to wait for a leader (default 30)\n"
        "\n"
        "example:\n"
        "  consort sandbox kill --workspace /tmp/svc --node 0\n",
    .run = run_kill,
};

const cs_cli_verb cs_cmd_sandbox_restart = {
    .name = "sandbox restart",
    .summary = "start a stopped node of a running sandbox again",
    .usage = "usage: consort sandbox restart --workspace DIR --node N [--timeout SECONDS]\n"
             "\n"
             "Asks the sandbox running in DIR to start node N again from its\n"
             "configuration (DIR/node<N>/node.json) and data directory: it unseals its\n"
             "state, replays its ledger and rejoins the service at the same addresses.\n"
             "The sandbox owns the new process (it stops it with the others) and records\n"
             "its pid in nodes.json. Waits until the node is part of the network and has\n"
             "committed everything the others had committed when it started, then\n"
             "prints {\"node\", \"pid\", \"rpc_address\", \"role\", \"committed_seqno\"} as JSON.\n"
             "Exit status 1 if N is running, or does not come back in time (the end of\n"
             "its log says why).\n"
             "\n"
             "options:\n"
             "  --workspace DIR    the running sandbox's workspace (required)\n"
             "  --node N           the node's index in nodes.json (required)\n"
             "  --timeout SECONDS  how long it may take to come back (default 60)\n"
             "\n"
             "example:\n"
             "  consort sandbox restart --workspace /tmp/svc --node 0\n",
    .run = run_restart,
};

const cs_cli_verb cs_cmd_sandbox_stop = {
    .name = "sandbox stop",
    .summary = "stop a running sandbox and its nodes",
    .usage = "usage: consort sandbox stop --workspace DIR [--timeout SECONDS]\n"
             "\n"
             "Asks the sandbox running in DIR (in the foreground or with --background)\n"
             "to stop, as SIGTERM would: it stops every node it runs (SIGTERM, SIGKILL\n"
             "after 15 s) and exits. Returns once the sandbox process is gone, printing\n"
             "{\"pid\": its pid, \"stopped\": true}. Exit status 1 if no sandbox answers,\n"
             "or if it is still running after --timeout seconds (default 60).\n"
             "\n"
             "example:\n"
             "  consort sandbox stop --workspace /tmp/svc\n",
    .run = run_stop,
};

enum { OPT_WORKSPACE = 1, OPT_NODE, OPT_TIMEOUT, OPT_NO_WAIT };

static const struct option kill_options[] = {
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"node", required_argument, NULL, OPT_NODE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"no-wait", no_argument, NULL, OPT_NO_WAIT},
    {NULL, 0, NULL, 0},
};

static const struct option restart_options[] = {
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"node", required_argument, NULL, OPT_NODE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

static const struct option stop_options[] = {
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* The stop request is answered at once; then the sandbox stops its nodes. */
static int wait_stopped(const cs_cli_verb *verb, cs_slice answer, uint32_t timeout_s)
{
    json_t *doc = json_loadb((const char *)answer.ptr, answer.len, 0, NULL);
    json_int_t pid = json_integer_value(json_object_get(doc, "pid"));
    json_decref(doc);
    if (pid <= 0)
        return cs_sbx_print_answer(verb->name, answer);
    for (uint32_t waited = 0; cs_sbx_process_running((pid_t)pid); waited += 200) {
        if (waited >= timeout_s * 1000u) {
            fprintf(stderr, "consort %s: the sandbox (pid %lld) still runs after %u s\n",
                    verb->name, (long long)pid, timeout_s);
            return CS_EXIT_REJECTED;
        }
        usleep(200 * 1000);
    }
    printf("{\"pid\":%lld,\"stopped\":true}\n", (long long)pid);
    return CS_EXIT_OK;
}

static int run_op(const cs_cli_verb *verb, const struct option *opts, const char *op,
                  uint32_t timeout_s, int argc, char **argv)
{
    const char *ws = NULL;
    uint32_t node = 0;
    bool have_node = false, wait = true, started = false;
    const char *arg;
    for (int c; (c = cs_cli_next_opt(verb, argc, argv, opts, &started, &arg)) != CS_CLI_OPT_END;) {
        if (c == OPT_WORKSPACE) {
            ws = arg;
        } else if (c == OPT_NODE) {
            if (!cs_cli_parse_u32(verb, "--node", arg, &node))
                return CS_EXIT_USAGE;
            have_node = true;
        } else if (c == OPT_TIMEOUT) {
            if (!cs_cli_parse_u32(verb, "--timeout", arg, &timeout_s))
                return CS_EXIT_USAGE;
        } else if (c == OPT_NO_WAIT) {
            wait = false;
        } else {
            return CS_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    if (ws == NULL)
        return cs_cli_usage_error(verb, "--workspace DIR is required");
    bool stop = strcmp(op, "stop") == 0;
    if (!have_node && !stop)
        return cs_cli_usage_error(verb, "--node N is required");
    if (node >= CS_SBX_MAX_NODES)
        return cs_cli_usage_error(verb, "--node %u: a sandbox has at most %d nodes (0..%d)", node,
                                  CS_SBX_MAX_NODES, CS_SBX_MAX_NODES - 1);
    if (timeout_s == 0 || timeout_s > 3600)
        return cs_cli_usage_error(verb, "--timeout: 1 to 3600 seconds");
    json_t *req = json_pack("{s:s, s:I, s:I, s:b}", "op", op, "node", (json_int_t)node, "timeout_s",
                            (json_int_t)timeout_s, "wait", wait);
    if (req == NULL)
        return cs_cli_fail(verb, cs_fail(CONSORT_E_NOMEM, "out of memory"));
    cs_buf answer;
    cs_buf_init(&answer, ANSWER_MAX);
    /* the sandbox answers within timeout_s of picking the request up; it may be
     * busy with another one first */
    consort_err rc = cs_sbx_ask(ws, op, req, timeout_s + 60, &answer);
    json_decref(req);
    int code = rc != CONSORT_OK ? cs_cli_fail(verb, rc)
               : stop           ? wait_stopped(verb, cs_buf_slice(&answer), timeout_s)
                                : cs_sbx_print_answer(verb->name, cs_buf_slice(&answer));
    cs_buf_cleanup(&answer);
    return code;
}

static int run_kill(int argc, char **argv)
{
    return run_op(&cs_cmd_sandbox_kill, kill_options, "kill", 30, argc, argv);
}

static int run_stop(int argc, char **argv)
{
    return run_op(&cs_cmd_sandbox_stop, stop_options, "stop", 60, argc, argv);
}

static int run_restart(int argc, char **argv)
{
    return run_op(&cs_cmd_sandbox_restart, restart_options, "restart", 60, argc, argv);
}
