/*
 * `consort gov list`, `show`, `members`, `service` and `constitution`: the
 * governance state as a node answers it (docs/governance.md "The governance
 * API"), printed as it came (JSON indented). Nothing is signed: these are
 * plain GETs over TLS pinned to the service certificate.
 */
#include "cli_gov.h"

#include <stdio.h>

static int run_list(int argc, char **argv);
static int run_show(int argc, char **argv);
static int run_members(int argc, char **argv);
static int run_service(int argc, char **argv);
static int run_constitution(int argc, char **argv);

#define GET_USAGE_TAIL                                                                             \
    "Exit status 0 with the answer on standard output, 1 if the node refused\n"                    \
    "('consort gov ...: CODE: message') or could not be reached, 2 for a usage error.\n"           \
    "\n"                                                                                           \
    "options:\n" CS_CLI_GOV_NODE_USAGE "  --member-cert PEM, --member-key PEM, --as memberN\n"     \
    "                            a TLS client certificate to present (optional)\n"

const cs_cli_verb cs_cmd_gov_list = {
    .name = "gov list",
    .summary = "list the proposals and their states",
    .usage = "usage: consort gov list (--node URL --service-cert PEM | --workspace DIR)\n"
             "\n"
             "Prints GET /gov/proposals: each proposal's id, proposer, state and number of\n"
             "ballots.\n" GET_USAGE_TAIL "\n"
             "example:\n"
             "  consort gov list --workspace /tmp/sandbox\n",
    .run = run_list,
};

const cs_cli_verb cs_cmd_gov_show = {
    .name = "gov show",
    .summary = "show one proposal, its ballots and its state",
    .usage = "usage: consort gov show ID (--node URL --service-cert PEM | --workspace DIR)\n"
             "\n"
             "Prints GET /gov/proposals/ID: the proposal, its proposer, state, ballots and,\n"
             "for a failed one, why it failed.\n" GET_USAGE_TAIL "\n"
             "example:\n"
             "  consort gov show 5f1c...0a9e --node https://127.0.0.1:8000 \\\n"
             "      --service-cert service_cert.pem\n",
    .run = run_show,
};

const cs_cli_verb cs_cmd_gov_members = {
    .name = "gov members",
    .summary = "list the members (ids and certificates)",
    .usage = "usage: consort gov members (--node URL --service-cert PEM | --workspace DIR)\n"
             "\n"
             "Prints GET /gov/members: each member's id (SHA-256 of its certificate's DER,\n"
             "the kid of its signed requests) and certificate.\n" GET_USAGE_TAIL "\n"
             "example:\n"
             "  consort gov members --workspace /tmp/sandbox\n",
    .run = run_members,
};

const cs_cli_verb cs_cmd_gov_service = {
    .name = "gov service",
    .summary = "show the service: status, code ids, nodes, settings",
    .usage = "usage: consort gov service (--node URL --service-cert PEM | --workspace DIR)\n"
             "\n"
             "Prints GET /gov/service: the service status, its certificate, the\n"
             "constitution's digest, the request window, the recovery threshold, the\n"
             "members, the trusted code ids and the nodes.\n" GET_USAGE_TAIL "\n"
             "example:\n"
             "  consort gov service --workspace /tmp/sandbox\n",
    .run = run_service,
};

const cs_cli_verb cs_cmd_gov_constitution = {
    .name = "gov constitution",
    .summary = "print the constitution (Lua)",
    .usage = "usage: consort gov constitution (--node URL --service-cert PEM | --workspace DIR)\n"
             "\n"
             "Prints GET /gov/constitution: the Lua script that decides every proposal\n"
             "(docs/governance.md \"The constitution\").\n" GET_USAGE_TAIL "\n"
             "example:\n"
             "  consort gov constitution --workspace /tmp/sandbox > constitution.lua\n",
    .run = run_constitution,
};

static const struct option options[] = {
    CS_CLI_GOV_NODE_OPTIONS,
    CS_CLI_GOV_MEMBER_OPTIONS,
    {NULL, 0, NULL, 0},
};

/*
 * Parses the options and the operand (`want_id`: exactly one proposal id,
 * else none) and GETs `path`, or `path`/ID.
 */
static int get(const cs_cli_verb *verb, int argc, char **argv, bool want_id, const char *path)
{
    cs_cli_gov_opts conn = {0};
    bool started = false;
    const char *arg;
    for (int c; (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;)
        if (c == CS_CLI_OPT_ERROR || cs_cli_gov_opt(verb, &conn, c, arg) <= 0)
            return CS_EXIT_USAGE;
    const char *id = NULL;
    if (want_id) {
        if (optind >= argc)
            return cs_cli_usage_error(verb, "the proposal ID is missing");
        id = argv[optind++];
        if (!cs_cli_gov_check_id(verb, id))
            return CS_EXIT_USAGE;
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    int code = cs_cli_gov_opts_check(verb, &conn, CS_CLI_GOV_NEED_NODE);
    if (code != CS_EXIT_OK)
        return code;
    char target[128];
    snprintf(target, sizeof target, "%s%s%s", path, id != NULL ? "/" : "", id != NULL ? id : "");
    cs_cli_gov_session s;
    consort_err rc = cs_cli_gov_session_open(&conn, CS_CLI_GOV_NEED_NODE, &s);
    code = rc == CONSORT_OK ? cs_cli_gov_exchange(verb, &s, "GET", target, CS_SLICE_EMPTY)
                            : cs_cli_fail(verb, rc);
    cs_cli_gov_session_close(&s);
    return code;
}

static int run_list(int argc, char **argv)
{
    return get(&cs_cmd_gov_list, argc, argv, false, "/gov/proposals");
}

static int run_show(int argc, char **argv)
{
    return get(&cs_cmd_gov_show, argc, argv, true, "/gov/proposals");
}

static int run_members(int argc, char **argv)
{
    return get(&cs_cmd_gov_members, argc, argv, false, "/gov/members");
}

static int run_service(int argc, char **argv)
{
    return get(&cs_cmd_gov_service, argc, argv, false, "/gov/service");
}

static int run_constitution(int argc, char **argv)
{
    return get(&cs_cmd_gov_constitution, argc, argv, false, "/gov/constitution");
}
