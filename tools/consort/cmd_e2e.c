/*
 * `consort e2e verify`: a handling statement held against the request sent,
 * the response received and a policy (src/e2e/statement.h, docs/e2e.md).
 */
#include "cli.h"
#include "cli_opts.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/b64.h"
#include "crypto/hash.h"
#include "e2e/statement.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY     ((size_t)64 << 20)
#define MAX_POLICY   ((size_t)1 << 20)
#define MAX_ISSUERS  8
#define MAX_CLAIMS   32
#define MAX_CODE_IDS 64

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
             "Prints what the statement says as JSON. Exit status 0 if it holds, 1 if not, 2 for\n"
             "a usage error.\n",
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

typedef struct policy_buf {
    uint8_t code_ids[MAX_CODE_IDS][32];
    cs_x509 *issuers[MAX_ISSUERS];
    char claims[MAX_CLAIMS][512];
    const char *claim_ptrs[MAX_CLAIMS];
    cs_e2e_policy p;
} policy_buf;

static consort_err load_issuer(const char *text, cs_x509 **out)
{
    if (strncmp(text, "-----BEGIN", 10) == 0)
        return cs_x509_from_pem(cs_slice_str(text), out);
    return cs_x509_load_file(text, out);
}

static consort_err load_policy(const char *path, policy_buf *pb)
{
    memset(pb, 0, sizeof *pb);
    if (path == NULL)
        return CONSORT_OK;
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    CS_ENSURE(json_is_object(doc), CONSORT_E_MALFORMED, "--policy %s: %s", path,
              doc == NULL ? jerr.text : "not a JSON object");
    consort_err rc = CONSORT_OK;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (rc == CONSORT_OK && strcmp(key, "code_ids") != 0 && strcmp(key, "issuers") != 0 &&
            strcmp(key, "claims") != 0)
            rc = cs_fail(CONSORT_E_MALFORMED, "--policy %s: unknown member \"%s\"", path, key);
    }
    json_t *ids = json_object_get(doc, "code_ids"), *iss = json_object_get(doc, "issuers"),
           *claims = json_object_get(doc, "claims");
    if (rc == CONSORT_OK &&
        ((ids != NULL && (!json_is_array(ids) || json_array_size(ids) > MAX_CODE_IDS)) ||
         (iss != NULL && (!json_is_array(iss) || json_array_size(iss) > MAX_ISSUERS)) ||
         (claims != NULL && (!json_is_array(claims) || json_array_size(claims) > MAX_CLAIMS))))
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "--policy %s: code_ids (<= %d), issuers (<= %d) and claims (<= %d) are "
                     "arrays",
                     path, MAX_CODE_IDS, MAX_ISSUERS, MAX_CLAIMS);
    for (size_t i = 0; rc == CONSORT_OK && i < json_array_size(ids); i++) {
        const char *hex = json_string_value(json_array_get(ids, i));
        if (hex == NULL || strlen(hex) != 64 ||
            cs_hex_decode(hex, pb->code_ids[i], 32) != CONSORT_OK)
            rc = cs_fail(CONSORT_E_MALFORMED, "--policy %s: code_ids[%zu] is not 64 hex digits",
                         path, i);
    }
    for (size_t i = 0; rc == CONSORT_OK && i < json_array_size(iss); i++) {
        const char *text = json_string_value(json_array_get(iss, i));
        rc = text != NULL ? load_issuer(text, &pb->issuers[i])
                          : cs_fail(CONSORT_E_MALFORMED, "issuers[%zu] is not a string", i);
        if (rc != CONSORT_OK)
            rc = cs_err_context(rc, "--policy %s: issuers[%zu]", path, i);
    }
    for (size_t i = 0; rc == CONSORT_OK && i < json_array_size(claims); i++) {
        const char *text = json_string_value(json_array_get(claims, i));
        if (text == NULL || strlen(text) >= sizeof pb->claims[0])
            rc = cs_fail(CONSORT_E_MALFORMED, "--policy %s: claims[%zu] is not a short string",
                         path, i);
        else
            pb->claim_ptrs[i] = strcpy(pb->claims[i], text);
    }
    pb->p = (cs_e2e_policy){.code_ids = (const uint8_t(*)[32])pb->code_ids,
                            .n_code_ids = json_array_size(ids),
                            .issuers = (const cs_x509 *const *)pb->issuers,
                            .n_issuers = json_array_size(iss),
                            .claims = pb->claim_ptrs,
                            .n_claims = json_array_size(claims)};
    json_decref(doc);
    return rc;
}

static json_t *codes_json(const cs_e2e_statement *s)
{
    json_t *codes = json_array();
    for (size_t i = 0; codes != NULL && i < s->n_codes; i++) {
        char hex[65];
        cs_hex_encode(CS_SLICE(s->codes[i].code_id, 32), hex);
        json_array_append_new(codes, json_pack("{s:s, s:b}", "code_id", hex, "certified",
                                               s->codes[i].certificate.len > 0));
    }
    return codes;
}

/* cs_e2e_hop_fn: each verified back-end statement, for the output. */
static void add_hop(void *ctx, unsigned depth, const cs_e2e_call *call,
                    const cs_e2e_statement *callee)
{
    uint8_t fp[32];
    char hex[65];
    cs_sha256(call->service_cert, fp);
    cs_hex_encode(CS_SLICE(fp, 32), hex);
    json_array_append_new(ctx, json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "depth",
                                         (json_int_t)depth, "service", call->service,
                                         "service_cert_sha256", hex, "node", callee->node,
                                         "written", callee->written, "code_ids",
                                         codes_json(callee)));
}

static void print_json(const cs_e2e_statement *s, json_t *hops)
{
    json_t *doc = json_pack("{s:s, s:s, s:o, s:I, s:s, s:O}", "node", s->node, "written",
                            s->written, "code_ids", codes_json(s), "calls", (json_int_t)s->n_calls,
                            "mode", "nested", "hops", hops);
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(doc);
}

static consort_err verify(const args *a, policy_buf *pb, cs_buf *stmt, cs_buf *req_body,
                          cs_buf *resp_body)
{
    cs_x509 *service = NULL;
    CS_TRY_CTX(cs_x509_load_file(a->service_cert, &service), "--service-cert %s", a->service_cert);
    cs_e2e_statement *s = cs_calloc(1, sizeof *s);
    cs_e2e_statement *sent = cs_calloc(1, sizeof *sent);
    json_t *hops = json_array();
    consort_err rc = s != NULL && sent != NULL ? CONSORT_OK : cs_fail(CONSORT_E_NOMEM, "statement");
    if (rc == CONSORT_OK)
        rc = load_policy(a->policy, pb);
    if (rc == CONSORT_OK)
        rc = cs_e2e_parse_nonce(a->nonce, sent);
    if (rc == CONSORT_OK)
        rc = cs_file_read(a->statement, stmt);
    while (rc == CONSORT_OK && stmt->len > 0 &&
           (stmt->ptr[stmt->len - 1] == '\n' || stmt->ptr[stmt->len - 1] == '\r'))
        stmt->len--;
    cs_buf raw;
    cs_buf_init(&raw, CS_E2E_MAX);
    if (rc == CONSORT_OK && stmt->len > 0 && stmt->ptr[0] != 0xd2) /* base64 (the header) */
        rc = cs_b64_decode(cs_buf_slice(stmt), &raw);
    else if (rc == CONSORT_OK)
        rc = cs_buf_append(&raw, stmt->ptr, stmt->len);
    if (rc == CONSORT_OK && a->request_body != NULL)
        rc = cs_file_read(a->request_body, req_body);
    if (rc == CONSORT_OK && a->response_body != NULL)
        rc = cs_file_read(a->response_body, resp_body);
    if (rc == CONSORT_OK)
        rc = cs_e2e_verify(cs_buf_slice(&raw), service, s);
    if (rc == CONSORT_OK) {
        const cs_e2e_expect e = {.nonce = sent->nonce,
                                 .nonce_len = sent->nonce_len,
                                 .method = a->method,
                                 .target = a->target,
                                 .request_body = cs_buf_slice(req_body),
                                 .status = atoi(a->status),
                                 .response_body = cs_buf_slice(resp_body)};
        rc = cs_e2e_check_hops(s, &e, &pb->p, add_hop, hops);
    }
    if (rc == CONSORT_OK)
        print_json(s, hops);
    json_decref(hops);
    cs_buf_cleanup(&raw);
    cs_free(s);
    cs_free(sent);
    cs_x509_free(service);
    return rc;
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
    policy_buf *pb = cs_calloc(1, sizeof *pb);
    if (pb == NULL)
        return cs_cli_fail(verb, cs_fail(CONSORT_E_NOMEM, "policy"));
    cs_buf stmt, req_body, resp_body;
    cs_buf_init(&stmt, CS_E2E_MAX * 2);
    cs_buf_init(&req_body, MAX_BODY);
    cs_buf_init(&resp_body, MAX_BODY);
    consort_err rc = verify(&a, pb, &stmt, &req_body, &resp_body);
    for (size_t i = 0; i < MAX_ISSUERS; i++)
        cs_x509_free(pb->issuers[i]);
    cs_free(pb);
    cs_buf_cleanup(&stmt);
    cs_buf_cleanup(&req_body);
    cs_buf_cleanup(&resp_body);
    return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(verb, rc);
}
