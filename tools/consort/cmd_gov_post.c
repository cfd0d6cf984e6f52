/*
 * `consort gov propose`, `gov vote` and `gov withdraw`: a member's signed
 * request (gov/request.h), created now and sent at once to its endpoint
 * (docs/governance.md "The governance API"); the node's answer is printed.
 */
#include "cli_gov.h"

#include <string.h>

static int run_propose(int argc, char **argv);
static int run_vote(int argc, char **argv);
static int run_withdraw(int argc, char **argv);

const cs_cli_verb cs_cmd_gov_propose = {
    .name = "gov propose",
    .summary = "sign a proposal and submit it",
    .usage =
        "usage: consort gov propose FILE|- (--node URL --service-cert PEM | --workspace DIR)\n"
        "           (--member-cert PEM --member-key PEM | --as memberN)\n"
        "       consort gov propose --action NAME [--arg KEY=VALUE]... [--action ...] ...\n"
        "\n"
        "Signs the proposal in FILE (\"-\": standard input) as the member, created now,\n"
        "and sends it to POST /gov/proposals. FILE must hold a JSON object with an\n"
        "\"actions\" array, {\"actions\": [{\"name\": ..., \"args\": {...}}, ...]}; it is\n"
        "signed as it is. With --action instead, the proposal is written from the\n"
        "options. Prints the node's answer: the proposal's id and state (Open,\n"
        "Accepted, ...). A refusal is printed as 'consort gov propose: CODE: message'.\n"
        "Exit status 0 if the node took it, 1 if it refused or could not be reached,\n"
        "2 for a usage error.\n"
        "\n"
        "options:\n" CS_CLI_GOV_NODE_USAGE CS_CLI_GOV_MEMBER_USAGE CS_CLI_GOV_ACTION_USAGE "\n"
        "examples:\n"
        "  consort gov propose proposal.json --node https://127.0.0.1:8000 \\\n"
        "      --service-cert service_cert.pem --member-cert m_cert.pem --member-key m_privk.pem\n"
        "  consort gov propose --workspace /tmp/sandbox --as member0 \\\n"
        "      --action set_member --arg cert=@member1_cert.pem\n",
    .run = run_propose,
};

const cs_cli_verb cs_cmd_gov_vote = {
    .name = "gov vote",
    .summary = "vote for or against a proposal",
    .usage =
        "usage: consort gov vote ID --accept|--reject\n"
        "           (--node URL --service-cert PEM | --workspace DIR)\n"
        "           (--member-cert PEM --member-key PEM | --as memberN)\n"
        "\n"
        "Signs a ballot {\"vote\": true} (--accept) or {\"vote\": false} (--reject) for\n"
        "proposal ID (64 hex digits) as the member and sends it to\n"
        "POST /gov/proposals/ID/ballots. Prints the node's answer: the proposal's\n"
        "state after the ballot (Accepted once the constitution says so).\n"
        "A member's second ballot replaces its first.\n"
        "Exit status 0 if the node took it, 1 if it refused or could not be reached,\n"
        "2 for a usage error.\n"
        "\n"
        "options:\n"
        "  --accept                  vote for\n"
        "  --reject                  vote against\n" CS_CLI_GOV_NODE_USAGE CS_CLI_GOV_MEMBER_USAGE
        "\n"
        "example:\n"
        "  consort gov vote 5f1c...0a9e --accept --workspace /tmp/sandbox --as member1\n",
    .run = run_vote,
};

const cs_cli_verb cs_cmd_gov_withdraw = {
    .name = "gov withdraw",
    .summary = "withdraw an open proposal (its proposer only)",
    .usage = "usage: consort gov withdraw ID (--node URL --service-cert PEM | --workspace DIR)\n"
             "           (--member-cert PEM --member-key PEM | --as memberN)\n"
             "\n"
             "Signs a withdrawal of proposal ID (64 hex digits) as the member and sends it\n"
             "to POST /gov/proposals/ID/withdraw. Only the proposer may withdraw, and only\n"
             "an open proposal. Prints the node's answer (state Withdrawn).\n"
             "Exit status 0 if the node took it, 1 if it refused or could not be reached,\n"
             "2 for a usage error.\n"
             "\n"
             "options:\n" CS_CLI_GOV_NODE_USAGE CS_CLI_GOV_MEMBER_USAGE "\n"
             "example:\n"
             "  consort gov withdraw 5f1c...0a9e --workspace /tmp/sandbox --as member0\n",
    .run = run_withdraw,
};

enum { OPT_ACCEPT = 1, OPT_REJECT };

static const struct option propose_options[] = {
    CS_CLI_GOV_NODE_OPTIONS,
    CS_CLI_GOV_MEMBER_OPTIONS,
    CS_CLI_GOV_ACTION_OPTIONS,
    {NULL, 0, NULL, 0},
};

static const struct option vote_options[] = {
    {"accept", no_argument, NULL, OPT_ACCEPT},
    {"reject", no_argument, NULL, OPT_REJECT},
    CS_CLI_GOV_NODE_OPTIONS,
    CS_CLI_GOV_MEMBER_OPTIONS,
    {NULL, 0, NULL, 0},
};

static const struct option withdraw_options[] = {
    CS_CLI_GOV_NODE_OPTIONS,
    CS_CLI_GOV_MEMBER_OPTIONS,
    {NULL, 0, NULL, 0},
};

/* What the three verbs parse. */
typedef struct post_args {
    cs_cli_gov_opts conn;
    cs_cli_gov_actions actions; /* propose */
    int vote;                   /* vote: OPT_ACCEPT or OPT_REJECT, 0 if neither */
    const char *operand;        /* propose: FILE; vote, withdraw: ID */
} post_args;

/* Parses argv with `opts`; CS_EXIT_OK or the usage exit code (after its message). */
static int parse(const cs_cli_verb *verb, const struct option *opts, int argc, char **argv,
                 post_args *a)
{
    bool started = false;
    const char *arg;
    for (int c; (c = cs_cli_next_opt(verb, argc, argv, opts, &started, &arg)) != CS_CLI_OPT_END;) {
        int taken = cs_cli_gov_opt(verb, &a->conn, c, arg);
        if (taken == 0)
            taken = cs_cli_gov_action_opt(verb, &a->actions, c, arg);
        if (taken < 0 || c == CS_CLI_OPT_ERROR)
            return CS_EXIT_USAGE;
        if (taken > 0)
            continue;
        if (a->vote != 0 && a->vote != c)
            return cs_cli_usage_error(verb, "--accept or --reject: not both");
        a->vote = c;
    }
    if (optind + 1 < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind + 1]);
    a->operand = optind < argc ? argv[optind] : NULL;
    return cs_cli_gov_opts_check(verb, &a->conn, CS_CLI_GOV_NEED_NODE | CS_CLI_GOV_NEED_MEMBER);
}

/* Signs `payload` as a request of `type` and sends it to its endpoint. */
static int sign_and_send(const cs_cli_verb *verb, const cs_cli_gov_opts *conn, cs_gov_msg_type type,
                         const char *proposal_id, cs_slice payload)
{
    cs_cli_gov_session s;
    cs_buf cose;
    cs_buf_init(&cose, CS_GOV_REQUEST_MAX);
    char path[128];
    consort_err rc =
        cs_cli_gov_session_open(conn, CS_CLI_GOV_NEED_NODE | CS_CLI_GOV_NEED_MEMBER, &s);
    if (rc == CONSORT_OK)
        rc = cs_cli_gov_sign(&s, type, proposal_id, payload, 0, &cose);
    if (rc == CONSORT_OK)
        rc = cs_cli_gov_endpoint(type, proposal_id, path, sizeof path);
    int code = rc == CONSORT_OK ? cs_cli_gov_exchange(verb, &s, "POST", path, cs_buf_slice(&cose))
                                : cs_cli_fail(verb, rc);
    cs_buf_cleanup(&cose);
    cs_cli_gov_session_close(&s);
    return code;
}

static int run_propose(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_gov_propose;
    post_args a = {0};
    int code = parse(verb, propose_options, argc, argv, &a);
    if (code != CS_EXIT_OK)
        return code;
    if (a.operand == NULL && a.actions.count == 0)
        return cs_cli_usage_error(verb, "the proposal is missing: give FILE, - or --action NAME");
    if (a.operand != NULL && a.actions.count > 0)
        return cs_cli_usage_error(verb, "FILE or --action: not both");
    cs_buf proposal;
    cs_buf_init(&proposal, CS_GOV_REQUEST_MAX);
    consort_err rc = cs_cli_gov_proposal(a.operand, &a.actions, &proposal);
    code = rc == CONSORT_OK
               ? sign_and_send(verb, &a.conn, CS_GOV_MSG_PROPOSAL, NULL, cs_buf_slice(&proposal))
               : cs_cli_fail(verb, rc);
    cs_buf_cleanup(&proposal);
    return code;
}

static int run_vote(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_gov_vote;
    post_args a = {0};
    int code = parse(verb, vote_options, argc, argv, &a);
    if (code != CS_EXIT_OK)
        return code;
    if (a.operand == NULL)
        return cs_cli_usage_error(verb, "the proposal ID is missing");
    if (!cs_cli_gov_check_id(verb, a.operand))
        return CS_EXIT_USAGE;
    if (a.vote == 0)
        return cs_cli_usage_error(verb, "--accept or --reject is required");
    const char *ballot = a.vote == OPT_ACCEPT ? "{\"vote\":true}" : "{\"vote\":false}";
    return sign_and_send(verb, &a.conn, CS_GOV_MSG_BALLOT, a.operand, cs_slice_str(ballot));
}

static int run_withdraw(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_gov_withdraw;
    post_args a = {0};
    int code = parse(verb, withdraw_options, argc, argv, &a);
    if (code != CS_EXIT_OK)
        return code;
    if (a.operand == NULL)
        return cs_cli_usage_error(verb, "the proposal ID is missing");
    if (!cs_cli_gov_check_id(verb, a.operand))
        return CS_EXIT_USAGE;
    return sign_and_send(verb, &a.conn, CS_GOV_MSG_WITHDRAWAL, a.operand, CS_SLICE_EMPTY);
}
