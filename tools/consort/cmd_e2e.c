/*
 * `consort e2e verify`: a handling statement held against the request sent,
 * the response received and a policy (src/e2e/statement.h, docs/e2e.md).
 */
#include "cli.h"
#include "cli_opts.h"

#include "base/alloc.h"
#include "base/file.h"
#include "e2e/statement.h"

#include <consort/client.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY   ((size_t)64 << 20)
#define MAX_POLICY ((size_t)1 << 20)

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_e2e_verify = {
    .name = "e2e verify",
    .summary = "check a handling statement against the request, the response and a policy",
    .usage = "usage: consort e2e verify --service-cert FILE --nonce HEX --method M --target T\n"
             "           [--request-body FILE] --status N [--response-body FILE] [--policy FILE]\n"
             "           STATEMENT\n"
             "\n"
             "STATEMENT is the x-consort-handling-statement header of an answer (base64) or the\n"
             "COSE_Sign1 itself. Checks that the service pinned by --service-cert signed it,\n"
             "that it answers this request (the nonce sent as x-consort-attest), that it is about\n"
             "this request (method, target as sent, body) and this response (status, body), and\n"
             "that every code id the service trusted meets the policy, a JSON file:\n"
             "  {\"code_ids\": [hex, ...],          every trusted code id must be one of these\n"
             "   \"issuers\": [PEM or path, ...],   each needs a code certificate by one of them\n"
             "   \"claims\": [\"tested\", \"compliance=HIPAA\", ...]}   making these claims\n"
             "(claims need issuers). Then every service it called, recursively: the callee's\n"
             "statement nested in it, signed by that service, bound to this request, about the\n"
             "call and answer the caller recorded, its code ids under the same policy.\n"
             "Prints what was verified as JSON (\"hops\": each callee). The library call is\n"
             "consort_e2e_verify (include/consort/client.h). Exit status 0 if it holds, 1 if\n"
             "not, 2 for a usage error.\n",
    .run = run,
};

enum {
    OPT_SERVICE_CERT = 1,
    OPT_NONCE,
    OPT_METHOD,
    OPT_TARGET,
    OPT_REQUEST_BODY,
    OPT_STATUS,
    OPT_RESPONSE_BODY,
    OPT_POLICY,
};

static const struct option options[] = {
    {"service-cert", required_argument, NULL, OPT_SERVICE_CERT},
    {"nonce", required_argument, NULL, OPT_NONCE},
    {"method", required_argument, NULL, OPT_METHOD},
    {"target", required_argument, NULL, OPT_TARGET},
    {"request-body", required_argument, NULL, OPT_REQUEST_BODY},
    {"status", required_argument, NULL, OPT_STATUS},
    {"response-body", required_argument, NULL, OPT_RESPONSE_BODY},
    {"policy", required_argument, NULL, OPT_POLICY},
    {NULL, 0, NULL, 0},
};

typedef struct args {
    const char *service_cert, *nonce, *method, *target, *request_body, *status, *response_body;
    const char *policy, *statement;
} args;

/* The --policy file as the library reads policies (consort_e2e_verify):
 * each issuer that is a path replaced by its PEM text. */
static consort_err load_policy(const char *path, char **out)
{
    *out = NULL;
    if (path == NULL)
        return CONSORT_OK;
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        consort_err rc = cs_fail(CONSORT_E_MALFORMED, "--policy %s: %s", path,
                                 doc == NULL ? jerr.text : "not a JSON object");
        json_decref(doc);
        return rc;
    }
    consort_err rc = CONSORT_OK;
    json_t *iss = json_object_get(doc, "issuers");
    for (size_t i = 0; rc == CONSORT_OK && i < json_array_size(iss); i++) {
        const char *text = json_string_value(json_array_get(iss, i));
        if (text == NULL || strncmp(text, "-----BEGIN", 10) == 0)
            continue; /* the library names a bad entry */
        cs_buf pem;
        cs_buf_init(&pem, MAX_POLICY);
        rc = cs_file_read(text, &pem);
        if (rc == CONSORT_OK)
            rc = json_array_set_new(iss, i, json_stringn((const char *)pem.ptr, pem.len)) == 0
                     ? CONSORT_OK
                     : cs_fail(CONSORT_E_MALFORMED, "issuers[%zu]: %s is not text", i, text);
        else
            rc = cs_err_context(rc, "issuers[%zu]", i);
        cs_buf_cleanup(&pem);
    }
    if (rc == CONSORT_OK && (*out = json_dumps(doc, JSON_COMPACT)) == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "policy");
    json_decref(doc);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "--policy %s", path);
}

typedef struct inputs {
    cs_buf cert, stmt, req_body, resp_body;
    char *policy;
    char report[64 << 10];
} inputs;

static consort_err verify(const args *a, inputs *in)
{
    CS_TRY_CTX(cs_file_read(a->service_cert, &in->cert), "--service-cert");
    CS_TRY(cs_file_read(a->statement, &in->stmt));
    if (a->request_body != NULL)
        CS_TRY_CTX(cs_file_read(a->request_body, &in->req_body), "--request-body");
    if (a->response_body != NULL)
        CS_TRY_CTX(cs_file_read(a->response_body, &in->resp_body), "--response-body");
    CS_TRY(load_policy(a->policy, &in->policy));
    const consort_e2e_exchange x = {.nonce_hex = a->nonce,
                                    .method = a->method,
                                    .target = a->target,
                                    .request_body = in->req_body.ptr,
                                    .request_len = in->req_body.len,
                                    .status = atoi(a->status),
                                    .response_body = in->resp_body.ptr,
                                    .response_len = in->resp_body.len};
    CS_TRY(consort_e2e_verify((const char *)in->stmt.ptr, in->stmt.len, (const char *)in->cert.ptr,
                              in->cert.len, &x, in->policy,
                              in->policy != NULL ? strlen(in->policy) : 0, in->report,
                              sizeof in->report, NULL, 0));
    printf("%s\n", in->report);
    return CONSORT_OK;
}

static int run(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_e2e_verify;
    args a = {0};
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_SERVICE_CERT:
            a.service_cert = arg;
            break;
        case OPT_NONCE:
            a.nonce = arg;
            break;
        case OPT_METHOD:
            a.method = arg;
            break;
        case OPT_TARGET:
            a.target = arg;
            break;
        case OPT_REQUEST_BODY:
            a.request_body = arg;
            break;
        case OPT_STATUS:
            a.status = arg;
            break;
        case OPT_RESPONSE_BODY:
            a.response_body = arg;
            break;
        case OPT_POLICY:
            a.policy = arg;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc)
        return cs_cli_usage_error(verb, "expected one STATEMENT file");
    a.statement = argv[optind];
    if (a.service_cert == NULL || a.nonce == NULL || a.method == NULL || a.target == NULL ||
        a.status == NULL)
        return cs_cli_usage_error(verb,
                                  "--service-cert, --nonce, --method, --target and --status are "
                                  "required");
    char *end = NULL;
    long status = strtol(a.status, &end, 10);
    if (*a.status == '\0' || *end != '\0' || status < 100 || status > 599)
        return cs_cli_usage_error(verb, "--status '%s': expected 100..599", a.status);
    inputs *in = cs_calloc(1, sizeof *in);
    if (in == NULL)
        return cs_cli_fail(verb, cs_fail(CONSORT_E_NOMEM, "inputs"));
    cs_buf_init(&in->cert, MAX_POLICY);
    cs_buf_init(&in->stmt, CS_E2E_MAX * 2);
    cs_buf_init(&in->req_body, MAX_BODY);
    cs_buf_init(&in->resp_body, MAX_BODY);
    consort_err rc = verify(&a, in);
    cs_buf_cleanup(&in->cert);
    cs_buf_cleanup(&in->stmt);
    cs_buf_cleanup(&in->req_body);
    cs_buf_cleanup(&in->resp_body);
    free(in->policy);
    cs_free(in);
    return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(verb, rc);
}
