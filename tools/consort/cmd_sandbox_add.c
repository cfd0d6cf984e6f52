/*
 * `consort sandbox add-node`: asks a running sandbox to start one more node
 * (sandbox.h "DIR/requests/"). The request is a file the sandbox picks up;
 * it starts the node as it started the others (a host was prepared for it
 * at the sandbox's start) and writes its answer next to the request.
 */
#include "cli.h"
#include "cli_opts.h"
#include "sandbox.h"

#include "base/file.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX ((size_t)64 << 10)

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_sandbox_add_node = {
    .name = "sandbox add-node",
    .summary = "add a node to a running sandbox",
    .usage =
        "usage: consort sandbox add-node --workspace DIR [--app PATH] [--consortd PATH]\n"
        "           [--timeout SECONDS]\n"
        "\n"
        "Asks the sandbox running in DIR to start one more node, which joins the\n"
        "service like the others (on a host of its own, prepared at the sandbox's\n"
        "start). With --app or --consortd the node runs that module or binary, so it\n"
        "has another code id: the members must have trusted it first (add_code_id,\n"
        "docs/rolling-updates.md; `consort code id` computes it). Prints the new\n"
        "node's index, id and address as JSON once it is part of the network; if it\n"
        "cannot join (its code is not trusted, deprecated or retired) the sandbox\n"
        "stops it and this command fails with the end of the node's log, which says\n"
        "why.\n"
        "\n"
        "options:\n"
        "  --workspace DIR    the running sandbox's workspace (required)\n"
        "  --app PATH         application module (default: the sandbox's)\n"
        "  --consortd PATH    node binary (default: the sandbox's)\n"
        "  --timeout SECONDS  how long the node may take to join (default 60)\n"
        "\n"
        "example:\n"
        "  consort sandbox add-node --workspace /tmp/sandbox --app build/samples/logging_v2.so\n",
    .run = run,
};

enum { OPT_WORKSPACE = 1, OPT_APP, OPT_CONSORTD, OPT_TIMEOUT };

static const struct option options[] = {
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"app", required_argument, NULL, OPT_APP},
    {"consortd", required_argument, NULL, OPT_CONSORTD},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* `path` made absolute (it must exist), into out. */
static consort_err absolute(const char *what, const char *path, char out[PATH_MAX])
{
    CS_ENSURE(realpath(path, out) != NULL, CONSORT_E_NOT_FOUND, "%s %s: not found", what, path);
    return CONSORT_OK;
}

static consort_err request(const char *ws, const char *app, const char *consortd,
                           uint32_t timeout_s, cs_buf *answer)
{
    char app_abs[PATH_MAX] = "", consortd_abs[PATH_MAX] = "";
    if (app != NULL)
        CS_TRY(absolute("--app", app, app_abs));
    if (consortd != NULL)
        CS_TRY(absolute("--consortd", consortd, consortd_abs));
    json_t *req = json_pack("{s:s, s:s, s:s, s:I}", "op", "add", "app", app_abs, "consortd",
                            consortd_abs, "timeout_s", (json_int_t)timeout_s);
    CS_ENSURE(req != NULL, CONSORT_E_NOMEM, "the request");
    consort_err rc = cs_sbx_ask(ws, "add", req, timeout_s + 30, answer);
    json_decref(req);
    return rc;
}

static int run(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_sandbox_add_node;
    const char *ws = NULL, *app = NULL, *consortd = NULL;
    uint32_t timeout_s = 60;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        if (c == OPT_WORKSPACE)
            ws = arg;
        else if (c == OPT_APP)
            app = arg;
        else if (c == OPT_CONSORTD)
            consortd = arg;
        else if (c == OPT_TIMEOUT) {
            if (!cs_cli_parse_u32(verb, "--timeout", arg, &timeout_s))
                return CS_EXIT_USAGE;
        } else
            return CS_EXIT_USAGE;
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    if (ws == NULL)
        return cs_cli_usage_error(verb, "--workspace DIR is required");
    if (timeout_s == 0)
        return cs_cli_usage_error(verb, "--timeout: must be at least 1 second");
    cs_buf answer;
    cs_buf_init(&answer, ANSWER_MAX);
    consort_err rc = request(ws, app, consortd, timeout_s, &answer);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&answer);
        return cs_cli_fail(verb, rc);
    }
    int code = cs_sbx_print_answer(verb->name, cs_buf_slice(&answer));
    cs_buf_cleanup(&answer);
    return code;
}
