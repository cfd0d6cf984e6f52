/*
 * `consort gov sign` and `gov submit`: a signed governance request made
 * offline into a file (an air-gapped member key), and sent later by anyone
 * to the endpoint its own header names (docs/governance.md "Signed
 * requests"). `submit --dry-run` decodes and checks a file without sending.
 */
#include "cli_gov.h"

#include "base/file.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run_sign(int argc, char **argv);
static int run_submit(int argc, char **argv);

const cs_cli_verb cs_cmd_gov_sign = {
    .name = "gov sign",
    .summary = "sign a governance request into a file, offline",
    .usage = "usage: consort gov sign --type proposal|ballot|withdrawal --out FILE\n"
             "           [--proposal-id ID] [--vote accept|reject] [PROPOSAL|-]\n"
             "           (--member-cert PEM --member-key PEM | --workspace DIR --as memberN)\n"
             "\n"
             "Signs a governance request (COSE_Sign1, docs/governance.md \"Signed\n"
             "requests\") as the member, without any network, and writes it to FILE\n"
             "(\"-\": standard output). `consort gov submit FILE` sends it later.\n"
             "  proposal    the proposal JSON from PROPOSAL (\"-\": standard input) or\n"
             "              from --action/--arg; no --proposal-id\n"
             "  ballot      {\"vote\": true|false} from --vote, for --proposal-id ID\n"
             "  withdrawal  an empty payload, for --proposal-id ID\n"
             "The node accepts it only within its request window (5 minutes by default)\n"
             "of the creation time, and only once.\n"
             "Exit status 0 if written, 1 if it could not be signed, 2 for a usage error.\n"
             "\n"
             "options:\n"
             "  --type TYPE               proposal, ballot or withdrawal\n"
             "  --out FILE                where the signed request goes\n"
             "  --proposal-id ID          the proposal a ballot or withdrawal is about\n"
             "  --vote accept|reject      the ballot's vote\n"
             "  --created-at SECONDS      the creation time, in seconds since 1970 (default:\n"
             "                            now)\n" CS_CLI_GOV_MEMBER_USAGE
             "  --workspace DIR           a `consort sandbox` workspace, for "
             "--as\n" CS_CLI_GOV_ACTION_USAGE "\n"
             "examples:\n"
             "  consort gov sign --type ballot --proposal-id 5f1c...0a9e --vote accept \\\n"
             "      --member-cert m_cert.pem --member-key m_privk.pem --out ballot.cose\n"
             "  consort gov sign --type proposal proposal.json --out proposal.cose \\\n"
             "      --workspace /tmp/sandbox --as member0\n",
    .run = run_sign,
};

const cs_cli_verb cs_cmd_gov_submit = {
    .name = "gov submit",
    .summary = "send a signed governance request from a file",
    .usage = "usage: consort gov submit FILE|- (--node URL --service-cert PEM | --workspace DIR)\n"
             "       consort gov submit FILE|- --dry-run [--member-cert PEM | --workspace DIR\n"
             "           --as memberN]\n"
             "\n"
             "Sends the signed request in FILE (from `consort gov sign`; \"-\": standard\n"
             "input) as it is to the endpoint its header names: a proposal to\n"
             "POST /gov/proposals, a ballot to /gov/proposals/ID/ballots, a withdrawal to\n"
             "/gov/proposals/ID/withdraw. Prints the node's answer.\n"
             "With --dry-run it sends nothing: it decodes the request and prints its type,\n"
             "member id, creation time, proposal id, endpoint and payload; given the\n"
             "member's certificate it also checks the signature.\n"
             "Exit status 0 if the node took it (or it decodes), 1 if it was refused, does\n"
             "not decode or verify, or the node could not be reached; 2 for a usage error.\n"
             "\n"
             "options:\n"
             "  --dry-run                 decode and check, do not send\n" CS_CLI_GOV_NODE_USAGE
                 CS_CLI_GOV_MEMBER_USAGE "\n"
             "examples:\n"
             "  consort gov submit ballot.cose --node https://127.0.0.1:8000 \\\n"
             "      --service-cert service_cert.pem\n"
             "  consort gov submit ballot.cose --dry-run --member-cert m_cert.pem\n",
    .run = run_submit,
};

enum { OPT_TYPE = 1, OPT_OUT, OPT_PROPOSAL_ID, OPT_VOTE, OPT_CREATED_AT, OPT_DRY_RUN };

static const struct option sign_options[] = {
    {"type", required_argument, NULL, OPT_TYPE},
    {"out", required_argument, NULL, OPT_OUT},
    {"proposal-id", required_argument, NULL, OPT_PROPOSAL_ID},
    {"vote", required_argument, NULL, OPT_VOTE},
    {"created-at", required_argument, NULL, OPT_CREATED_AT},
    {"workspace", required_argument, NULL, CS_CLI_GOV_OPT_WORKSPACE},
    CS_CLI_GOV_MEMBER_OPTIONS,
    CS_CLI_GOV_ACTION_OPTIONS,
    {NULL, 0, NULL, 0},
};

static const struct option submit_options[] = {
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    CS_CLI_GOV_NODE_OPTIONS,
    CS_CLI_GOV_MEMBER_OPTIONS,
    {NULL, 0, NULL, 0},
};

typedef struct sign_args {
    cs_cli_gov_opts conn;
    cs_cli_gov_actions actions;
    cs_gov_msg_type type;
    const char *out;
    const char *proposal_id;
    const char *vote;
    uint64_t created_at; /* 0: now */
    const char *input;
} sign_args;

static int parse_type(const cs_cli_verb *verb, const char *s, cs_gov_msg_type *out)
{
    static const cs_gov_msg_type types[] = {CS_GOV_MSG_PROPOSAL, CS_GOV_MSG_BALLOT,
                                            CS_GOV_MSG_WITHDRAWAL};
    for (size_t i = 0; i < CS_ARRAY_LEN(types); i++) {
        if (strcmp(s, cs_gov_msg_type_name(types[i])) == 0) {
            *out = types[i];
            return CS_EXIT_OK;
        }
    }
    return cs_cli_usage_error(verb, "--type '%s': expected proposal, ballot or withdrawal", s);
}

static int parse_created_at(const cs_cli_verb *verb, const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || v == 0 || v > INT64_MAX)
        return cs_cli_usage_error(verb, "--created-at '%s': expected seconds since 1970", s);
    *out = (uint64_t)v;
    return CS_EXIT_OK;
}

/* Every option's value, then whether they fit the type. */
static int parse_sign(int argc, char **argv, sign_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_gov_sign;
    const char *type = NULL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, sign_options, &started, &arg)) != CS_CLI_OPT_END;) {
        int code = CS_EXIT_OK;
        int taken = c == CS_CLI_OPT_ERROR ? -1 : cs_cli_gov_opt(verb, &a->conn, c, arg);
        if (taken == 0)
            taken = cs_cli_gov_action_opt(verb, &a->actions, c, arg);
        if (taken < 0)
            return CS_EXIT_USAGE;
        if (taken > 0)
            continue;
        if (c == OPT_TYPE)
            type = arg;
        else if (c == OPT_OUT)
            a->out = arg;
        else if (c == OPT_PROPOSAL_ID)
            a->proposal_id = arg;
        else if (c == OPT_VOTE)
            a->vote = arg;
        else if (c == OPT_CREATED_AT)
            code = parse_created_at(verb, arg, &a->created_at);
        if (code != CS_EXIT_OK)
            return code;
    }
    if (optind + 1 < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind + 1]);
    a->input = optind < argc ? argv[optind] : NULL;
    if (type == NULL)
        return cs_cli_usage_error(verb, "--type proposal|ballot|withdrawal is required");
    int code = parse_type(verb, type, &a->type);
    if (code != CS_EXIT_OK)
        return code;
    if (a->out == NULL)
        return cs_cli_usage_error(verb, "--out FILE is required");
    bool proposal = a->type == CS_GOV_MSG_PROPOSAL;
    if (proposal && a->proposal_id != NULL)
        return cs_cli_usage_error(verb,
                                  "a proposal takes no --proposal-id (the node gives it one)");
    if (!proposal && a->proposal_id == NULL)
        return cs_cli_usage_error(verb, "a %s needs --proposal-id ID", type);
    if (a->proposal_id != NULL && !cs_cli_gov_check_id(verb, a->proposal_id))
        return CS_EXIT_USAGE;
    if (a->type == CS_GOV_MSG_BALLOT && a->vote == NULL)
        return cs_cli_usage_error(verb, "a ballot needs --vote accept|reject");
    if (a->vote != NULL && a->type != CS_GOV_MSG_BALLOT)
        return cs_cli_usage_error(verb, "--vote is for a ballot, not a %s", type);
    if (a->vote != NULL && strcmp(a->vote, "accept") != 0 && strcmp(a->vote, "reject") != 0)
        return cs_cli_usage_error(verb, "--vote '%s': expected accept or reject", a->vote);
    if (proposal && (a->input == NULL) == (a->actions.count == 0))
        return cs_cli_usage_error(verb, "a proposal comes from PROPOSAL, - or --action NAME "
                                        "(one of them)");
    if (!proposal && (a->input != NULL || a->actions.count > 0))
        return cs_cli_usage_error(verb, "a %s takes no PROPOSAL, --action or --arg", type);
    return cs_cli_gov_opts_check(verb, &a->conn, CS_CLI_GOV_NEED_MEMBER);
}

/* The payload of the request `a` describes, into `out`. */
static consort_err payload(const sign_args *a, cs_buf *out)
{
    if (a->type == CS_GOV_MSG_PROPOSAL)
        return cs_cli_gov_proposal(a->input, &a->actions, out);
    if (a->type == CS_GOV_MSG_BALLOT)
        return cs_buf_printf(out, "{\"vote\":%s}",
                             strcmp(a->vote, "accept") == 0 ? "true" : "false");
    return CONSORT_OK; /* a withdrawal's payload is empty */
}

static consort_err sign(const sign_args *a)
{
    cs_cli_gov_session s;
    cs_buf body, cose;
    cs_buf_init(&body, CS_GOV_REQUEST_MAX);
    cs_buf_init(&cose, CS_GOV_REQUEST_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_cli_gov_session_open(&a->conn, CS_CLI_GOV_NEED_MEMBER, &s), done);
    CS_TRY_GOTO(rc, payload(a, &body), done);
    CS_TRY_GOTO(
        rc, cs_cli_gov_sign(&s, a->type, a->proposal_id, cs_buf_slice(&body), a->created_at, &cose),
        done);
    if (strcmp(a->out, "-") == 0) {
        CS_ENSURE_GOTO(rc, fwrite(cose.ptr, 1, cose.len, stdout) == cose.len && fflush(stdout) == 0,
                       done, CONSORT_E_IO, "writing to standard output failed");
    } else {
        CS_TRY_CTX_GOTO(rc, cs_file_write_atomic(a->out, cs_buf_slice(&cose), 0644), done, "%s",
                        a->out);
        printf("signed a %s as member %s into %s (%zu bytes)\n", cs_gov_msg_type_name(a->type),
               s.member_id, a->out, cose.len);
    }
done:
    cs_buf_cleanup(&cose);
    cs_buf_cleanup(&body);
    cs_cli_gov_session_close(&s);
    return rc;
}

static int run_sign(int argc, char **argv)
{
    sign_args a = {0};
    int code = parse_sign(argc, argv, &a);
    if (code != CS_EXIT_OK)
        return code;
    consort_err rc = sign(&a);
    return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(&cs_cmd_gov_sign, rc);
}

/* The member lookup for --dry-run: the one certificate given (its id was compared). */
static consort_err lookup_given(void *ctx, const char *member_id, cs_x509 **cert)
{
    const cs_cli_gov_session *s = ctx;
    (void)member_id;
    *cert = cs_x509_ref(s->member_cert);
    return CONSORT_OK;
}

/* --dry-run: what the request says, and whether the member's certificate verifies it. */
static consort_err describe(const cs_gov_request *req, const cs_cli_gov_session *s)
{
    char when[21], path[128];
    cs_time_format_rfc3339((int64_t)req->created_at, when);
    printf("type: %s\n", cs_gov_msg_type_name(req->type));
    printf("member_id: %s\n", req->member_id);
    printf("alg: %s\n", cs_cose_alg_name(req->alg));
    printf("created_at: %" PRIu64 " (%s)\n", req->created_at, when);
    if (req->has_proposal_id)
        printf("proposal_id: %s\n", req->proposal_id);
    if (cs_cli_gov_endpoint(req->type, req->proposal_id, path, sizeof path) == CONSORT_OK)
        printf("endpoint: POST %s\n", path);
    else
        printf("endpoint: none (%s)\n", consort_errmsg());
    size_t len = req->payload.len; /* without the file's final newline */
    while (len > 0 && (req->payload.ptr[len - 1] == '\n' || req->payload.ptr[len - 1] == '\r'))
        len--;
    printf("payload: %.*s\n", (int)len, (const char *)req->payload.ptr);
    if (s->member_cert == NULL)
        return CONSORT_OK;
    CS_ENSURE(strcmp(req->member_id, s->member_id) == 0, CONSORT_E_POLICY,
              "the request is signed by member %s, not by %s (the certificate given)",
              req->member_id, s->member_id);
    /* created_at is now, with no window: only the member and the signature count */
    CS_TRY_CTX(
        cs_gov_request_verify(req, lookup_given, (void *)s, (int64_t)req->created_at, 0, NULL),
        "the signature");
    printf("signature: verifies under the certificate of member %s\n", s->member_id);
    return CONSORT_OK;
}

static int run_submit(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_gov_submit;
    cs_cli_gov_opts conn = {0};
    bool dry_run = false, started = false;
    const char *arg;
    for (int c; (c = cs_cli_next_opt(verb, argc, argv, submit_options, &started, &arg)) !=
                CS_CLI_OPT_END;) {
        if (c == OPT_DRY_RUN)
            dry_run = true;
        else if (c == CS_CLI_OPT_ERROR || cs_cli_gov_opt(verb, &conn, c, arg) <= 0)
            return CS_EXIT_USAGE;
    }
    if (optind >= argc)
        return cs_cli_usage_error(verb, "the FILE holding the signed request is missing");
    if (optind + 1 < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind + 1]);
    const char *file = argv[optind];
    int code =
        cs_cli_gov_opts_check(verb, &conn, dry_run ? CS_CLI_GOV_CERT_ONLY : CS_CLI_GOV_NEED_NODE);
    if (code != CS_EXIT_OK)
        return code;

    cs_buf bytes;
    cs_buf_init(&bytes, CS_GOV_REQUEST_MAX);
    cs_cli_gov_session s = {0};
    cs_gov_request req;
    char path[128];
    consort_err rc;
    CS_TRY_CTX_GOTO(rc, cs_cli_read_input(file, &bytes), done, "%s", file);
    CS_TRY_CTX_GOTO(rc, cs_gov_request_decode(cs_buf_slice(&bytes), &req), done, "%s", file);
    CS_TRY_GOTO(
        rc,
        cs_cli_gov_session_open(&conn, dry_run ? CS_CLI_GOV_CERT_ONLY : CS_CLI_GOV_NEED_NODE, &s),
        done);
    if (dry_run) {
        rc = describe(&req, &s);
    } else {
        rc = cs_cli_gov_endpoint(req.type, req.proposal_id, path, sizeof path);
        if (rc == CONSORT_OK)
            code = cs_cli_gov_exchange(verb, &s, "POST", path, cs_buf_slice(&bytes));
    }
done:
    cs_cli_gov_session_close(&s);
    cs_buf_cleanup(&bytes);
    return rc == CONSORT_OK ? code : cs_cli_fail(verb, rc);
}
