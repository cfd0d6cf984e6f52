/* What the `consort gov` verbs share (cli_gov.h). */
#include "cli_gov.h"

#include "base/file.h"
#include "crypto/hash.h"
#include "net/net.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URL_SCHEME     "https://"
#define NODE_JSON_MAX  ((size_t)64 << 10)
#define NODES_JSON_MAX ((size_t)256 << 10)
#define ERROR_BODY_MAX 300 /* bytes of a non-JSON error answer quoted */

/* "https://HOST:PORT" or ".../" -> "HOST:PORT" in out[n]; false if it is not that. */
static bool url_address(const char *url, char *out, size_t n)
{
    size_t scheme = strlen(URL_SCHEME);
    if (strncmp(url, URL_SCHEME, scheme) != 0)
        return false;
    const char *host = url + scheme;
    size_t len = strlen(host);
    if (len > 0 && host[len - 1] == '/')
        len--;
    if (len == 0 || len >= n || memchr(host, '/', len) != NULL)
        return false;
    memcpy(out, host, len);
    out[len] = '\0';
    struct sockaddr_storage sa;
    bool ok = cs_net_parse_address(out, &sa) == CONSORT_OK;
    cs_err_clear();
    return ok;
}

/* "member" followed by a decimal number. */
static bool is_member_name(const char *as)
{
    if (strncmp(as, "member", 6) != 0 || as[6] == '\0' || strlen(as) > 16)
        return false;
    for (const char *p = as + 6; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

int cs_cli_gov_opt(const cs_cli_verb *verb, cs_cli_gov_opts *o, int c, const char *arg)
{
    switch (c) {
    case CS_CLI_GOV_OPT_NODE:
        o->node = arg;
        return 1;
    case CS_CLI_GOV_OPT_SERVICE_CERT:
        o->service_cert = arg;
        return 1;
    case CS_CLI_GOV_OPT_WORKSPACE:
        o->workspace = arg;
        return 1;
    case CS_CLI_GOV_OPT_TIMEOUT:
        if (!cs_cli_parse_u32(verb, "--timeout", arg, &o->timeout_s))
            return -1;
        if (o->timeout_s == 0 || o->timeout_s > 3600) {
            cs_cli_usage_error(verb, "--timeout: %u is not from 1 to 3600 seconds", o->timeout_s);
            return -1;
        }
        return 1;
    case CS_CLI_GOV_OPT_MEMBER_CERT:
        o->member_cert = arg;
        return 1;
    case CS_CLI_GOV_OPT_MEMBER_KEY:
        o->member_key = arg;
        return 1;
    case CS_CLI_GOV_OPT_AS:
        o->as = arg;
        return 1;
    default:
        return 0;
    }
}

int cs_cli_gov_opts_check(const cs_cli_verb *verb, const cs_cli_gov_opts *o, unsigned need)
{
    char address[CS_CLI_HTTPS_ADDRESS_MAX];
    if (o->node != NULL && !url_address(o->node, address, sizeof address))
        return cs_cli_usage_error(verb,
                                  "--node '%s' is not https://HOST:PORT (HOST an IP address, "
                                  "[IPv6] or localhost)",
                                  o->node);
    if ((need & CS_CLI_GOV_NEED_NODE) != 0 && o->workspace == NULL) {
        if (o->node == NULL)
            return cs_cli_usage_error(verb, "which node? give --node https://HOST:PORT (or "
                                            "--workspace DIR of a sandbox)");
        if (o->service_cert == NULL)
            return cs_cli_usage_error(verb, "--service-cert PEM is required with --node (the "
                                            "node's certificate is checked against it)");
    }
    if (o->as != NULL) {
        if (o->workspace == NULL)
            return cs_cli_usage_error(verb, "--as %s needs --workspace DIR", o->as);
        if (!is_member_name(o->as))
            return cs_cli_usage_error(verb, "--as '%s': expected memberN (member0, member1, ...)",
                                      o->as);
        if (o->member_cert != NULL || o->member_key != NULL)
            return cs_cli_usage_error(verb, "--as, or --member-cert and --member-key: not both");
    }
    if (o->member_key != NULL && o->member_cert == NULL)
        return cs_cli_usage_error(verb, "--member-key needs --member-cert");
    if (o->member_cert != NULL && o->member_key == NULL && (need & CS_CLI_GOV_CERT_ONLY) == 0)
        return cs_cli_usage_error(verb, "--member-cert needs --member-key");
    if ((need & CS_CLI_GOV_NEED_MEMBER) != 0 && o->as == NULL && o->member_cert == NULL)
        return cs_cli_usage_error(verb, "who signs? give --member-cert PEM and --member-key PEM "
                                        "(or --workspace DIR --as memberN)");
    return CS_EXIT_OK;
}

/* "DIR/name" into out[n]. */
static consort_err in_dir(char *out, size_t n, const char *dir, const char *name)
{
    int len = snprintf(out, n, "%s/%s", dir, name);
    CS_ENSURE(len >= 0 && (size_t)len < n, CONSORT_E_INVALID_ARGUMENT, "path too long: %s/%s", dir,
              name);
    return CONSORT_OK;
}

/* The JSON document in file `path` (at most `max` bytes) into *out; the caller decrefs it. */
static consort_err load_json(const char *path, size_t max, json_t **out)
{
    cs_buf text;
    cs_buf_init(&text, max);
    consort_err rc = cs_file_read(path, &text);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&text);
        return rc;
    }
    json_error_t jerr;
    *out = json_loadb((const char *)text.ptr, text.len, 0, &jerr);
    cs_buf_cleanup(&text);
    CS_ENSURE(*out != NULL, CONSORT_E_MALFORMED, "%s: %s (line %d)", path, jerr.text, jerr.line);
    return CONSORT_OK;
}

/* Appends `rpc` (from `what` of file `path`) to the nodes to try, if it is HOST:PORT. */
static consort_err add_node(cs_cli_gov_session *s, const char *path, const char *what,
                            const char *rpc)
{
    CS_ENSURE(rpc != NULL, CONSORT_E_MALFORMED, "%s: %s has no \"rpc_address\" string", path, what);
    CS_ENSURE(s->node_count < CS_CLI_GOV_NODES_MAX, CONSORT_E_MALFORMED, "%s: more than %d nodes",
              path, CS_CLI_GOV_NODES_MAX);
    struct sockaddr_storage sa;
    CS_ENSURE(strlen(rpc) < CS_CLI_HTTPS_ADDRESS_MAX &&
                  cs_net_parse_address(rpc, &sa) == CONSORT_OK,
              CONSORT_E_MALFORMED, "%s: %s: rpc_address '%.80s' is not HOST:PORT", path, what, rpc);
    snprintf(s->address[s->node_count++], CS_CLI_HTTPS_ADDRESS_MAX, "%s", rpc);
    return CONSORT_OK;
}

/* The rpc_address of node 0 of a sandbox workspace (its node0/node.json). */
static consort_err workspace_node0(const char *dir, cs_cli_gov_session *s)
{
    char path[PATH_MAX];
    CS_TRY(in_dir(path, sizeof path, dir, "node0/node.json"));
    json_t *doc = NULL;
    consort_err rc = load_json(path, NODE_JSON_MAX, &doc);
    if (rc != CONSORT_OK)
        return cs_err_context(rc, "workspace %s (is it a consort sandbox workspace?)", dir);
    rc = add_node(s, path, "node 0", json_string_value(json_object_get(doc, "rpc_address")));
    json_decref(doc);
    return rc;
}

/*
 * The nodes of a sandbox workspace: the rpc_address of each node its
 * nodes.json lists, in order (node 0 first, then those add-node added), or
 * node 0's alone if there is no nodes.json.
 */
static consort_err workspace_nodes(const char *dir, cs_cli_gov_session *s)
{
    char path[PATH_MAX];
    CS_TRY(in_dir(path, sizeof path, dir, "nodes.json"));
    json_t *list = NULL;
    consort_err rc = load_json(path, NODES_JSON_MAX, &list);
    if (rc == CONSORT_E_NOT_FOUND) {
        cs_err_clear();
        return workspace_node0(dir, s);
    }
    CS_TRY(rc);
    if (!json_is_array(list) || json_array_size(list) == 0)
        rc = cs_fail(CONSORT_E_MALFORMED, "%s: not a list of nodes", path);
    for (size_t i = 0; rc == CONSORT_OK && i < json_array_size(list); i++) {
        char what[32];
        snprintf(what, sizeof what, "node [%zu]", i);
        json_t *node = json_array_get(list, i);
        rc = add_node(s, path, what, json_string_value(json_object_get(node, "rpc_address")));
    }
    json_decref(list);
    CS_TRY(rc);
    snprintf(s->nodes_file, sizeof s->nodes_file, "%s", path);
    return CONSORT_OK;
}

static consort_err load_member(const char *cert, const char *key, cs_cli_gov_session *s)
{
    CS_TRY(cs_x509_load_file(cert, &s->member_cert));
    if (key == NULL)
        return cs_gov_member_id(s->member_cert, s->member_id);
    CS_TRY(cs_key_load_pem_file(key, &s->member_key));
    CS_ENSURE(cs_key_has_private(s->member_key), CONSORT_E_INVALID_ARGUMENT,
              "%s holds no private key", key);
    /* the same check as cs_gov_request_sign's, before anything is sent (TLS) */
    cs_key *cert_key = NULL;
    uint8_t want[CS_SHA256_LEN], have[CS_SHA256_LEN];
    CS_TRY(cs_x509_public_key(s->member_cert, &cert_key));
    consort_err rc = cs_key_id(cert_key, want);
    cs_key_free(cert_key);
    CS_TRY(rc);
    CS_TRY(cs_key_id(s->member_key, have));
    CS_ENSURE(memcmp(want, have, sizeof want) == 0, CONSORT_E_BAD_CERTIFICATE,
              "%s is not the certificate of the key in %s", cert, key);
    return cs_gov_member_id(s->member_cert, s->member_id);
}

consort_err cs_cli_gov_session_open(const cs_cli_gov_opts *o, unsigned need, cs_cli_gov_session *s)
{
    memset(s, 0, sizeof *s);
    s->timeout_ms = (o->timeout_s != 0 ? o->timeout_s : CS_CLI_GOV_DEFAULT_TIMEOUT_S) * 1000u;
    char path[PATH_MAX], key[PATH_MAX];
    if (o->node != NULL) {
        if (!url_address(o->node, s->address[0], sizeof s->address[0]))
            return cs_fail(CONSORT_E_INVALID_ARGUMENT, "--node '%s' is not https://HOST:PORT",
                           o->node);
        s->node_count = 1;
    } else if (o->workspace != NULL && (need & CS_CLI_GOV_NEED_NODE) != 0) {
        CS_TRY(workspace_nodes(o->workspace, s));
    }
    const char *service = o->service_cert;
    if (service == NULL && o->workspace != NULL && (need & CS_CLI_GOV_NEED_NODE) != 0) {
        CS_TRY(in_dir(path, sizeof path, o->workspace, "service_cert.pem"));
        service = path;
    }
    if (service != NULL)
        CS_TRY_CTX(cs_x509_load_file(service, &s->service_cert), "the service certificate");
    if (o->member_cert != NULL)
        return load_member(o->member_cert, o->member_key, s);
    if (o->as != NULL) {
        char name[64];
        snprintf(name, sizeof name, "%s_cert.pem", o->as);
        CS_TRY(in_dir(path, sizeof path, o->workspace, name));
        snprintf(name, sizeof name, "%s_privk.pem", o->as);
        CS_TRY(in_dir(key, sizeof key, o->workspace, name));
        CS_TRY_CTX(load_member(path, key, s), "--as %s", o->as);
    }
    return CONSORT_OK;
}

void cs_cli_gov_session_close(cs_cli_gov_session *s)
{
    cs_x509_free(s->service_cert);
    cs_x509_free(s->member_cert);
    cs_key_free(s->member_key);
    memset(s, 0, sizeof *s);
}

consort_err cs_cli_gov_sign(const cs_cli_gov_session *s, cs_gov_msg_type type,
                            const char *proposal_id, cs_slice payload, uint64_t created_at,
                            cs_buf *out)
{
    CS_ENSURE(s->member_key != NULL, CONSORT_E_INVALID_ARGUMENT, "signing needs a member");
    if (created_at == 0)
        created_at = (uint64_t)time(NULL);
    return cs_gov_request_sign(s->member_key, s->member_cert, type, created_at, proposal_id,
                               payload, out);
}

consort_err cs_cli_gov_endpoint(cs_gov_msg_type type, const char *proposal_id, char *path, size_t n)
{
    int len;
    switch (type) {
    case CS_GOV_MSG_PROPOSAL:
        len = snprintf(path, n, "/gov/proposals");
        break;
    case CS_GOV_MSG_BALLOT:
        len = snprintf(path, n, "/gov/proposals/%s/ballots", proposal_id);
        break;
    case CS_GOV_MSG_WITHDRAWAL:
        len = snprintf(path, n, "/gov/proposals/%s/withdraw", proposal_id);
        break;
    default:
        return cs_fail(CONSORT_E_UNSUPPORTED, "a %s request has no endpoint in this version",
                       cs_gov_msg_type_name(type));
    }
    CS_ENSURE(len >= 0 && (size_t)len < n, CONSORT_E_INVALID_ARGUMENT, "endpoint path too long");
    return CONSORT_OK;
}

/* Prints `text` on stdout: indented if it is JSON, else as it is (ending in a newline). */
static void print_answer(cs_slice text)
{
    json_t *doc = json_loadb((const char *)text.ptr, text.len, JSON_DECODE_ANY, NULL);
    char *pretty = doc != NULL
                       ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
                       : NULL;
    json_decref(doc);
    if (pretty != NULL) {
        printf("%s\n", pretty);
        free(pretty);
        return;
    }
    fwrite(text.ptr, 1, text.len, stdout);
    if (text.len > 0 && text.ptr[text.len - 1] != '\n')
        putchar('\n');
}

/* Prints a node's refusal; returns CS_EXIT_REJECTED. */
static int print_refusal(const cs_cli_verb *verb, int status, cs_slice body)
{
    json_t *doc = json_loadb((const char *)body.ptr, body.len, 0, NULL);
    json_t *err = json_object_get(doc, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *message = json_string_value(json_object_get(err, "message"));
    if (code != NULL) {
        fprintf(stderr, "consort %s: %s: %s\n", verb->name, code, message ? message : "");
    } else {
        size_t len = body.len;
        while (len > 0 && (body.ptr[len - 1] == '\n' || body.ptr[len - 1] == '\r'))
            len--;
        fprintf(stderr, "consort %s: HTTP %d%s%.*s\n", verb->name, status, len > 0 ? ": " : "",
                (int)(len > ERROR_BODY_MAX ? ERROR_BODY_MAX : len), (const char *)body.ptr);
    }
    json_decref(doc);
    return CS_EXIT_REJECTED;
}

/* Milliseconds on a monotonic clock. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Why each node of a nodes.json did not take the connection, in the order tried. */
typedef struct tried_nodes {
    char why[CS_CLI_GOV_NODES_MAX][CS_ERRMSG_MAX];
    size_t count;
} tried_nodes;

/* Prints that no node of s->nodes_file accepted a connection, and why each did not. */
static int print_unreachable(const cs_cli_verb *verb, const cs_cli_gov_session *s,
                             const tried_nodes *t)
{
    fprintf(stderr, "consort %s: io: no node of %s accepted a connection; tried in its order:\n",
            verb->name, s->nodes_file);
    for (size_t i = 0; i < t->count; i++)
        fprintf(stderr, "  %s\n", t->why[i]);
    return CS_EXIT_REJECTED;
}

/*
 * Sends `req` to the session's nodes in order until one accepts the TCP
 * connection (cli_gov.h cs_cli_gov_exchange): the result of that one, or of
 * the last. Fills `t` with why each node skipped failed.
 */
static consort_err send_first(const cs_cli_gov_session *s, cs_cli_https_request *req,
                              cs_cli_https_response *resp, tried_nodes *t)
{
    uint64_t now = now_ms(), deadline = now + s->timeout_ms;
    consort_err rc = CONSORT_OK;
    for (size_t i = 0; i < s->node_count; i++, now = now_ms()) {
        if (now >= deadline) {
            rc = cs_fail(CONSORT_E_TIMEOUT, "%s: not tried: the %u ms of --timeout ran out",
                         s->address[i], s->timeout_ms);
        } else {
            bool last = i + 1 == s->node_count;
            req->address = s->address[i];
            req->timeout_ms = (uint32_t)(deadline - now);
            req->connect_timeout_ms = last ? 0 : CS_CLI_GOV_CONNECT_TIMEOUT_MS;
            rc = cs_cli_https_send(req, resp);
            if (rc == CONSORT_OK || resp->connected)
                return rc; /* it may have the request: final (never sent on) */
        }
        snprintf(t->why[t->count++], sizeof t->why[0], "%s", consort_errmsg());
    }
    return rc;
}

int cs_cli_gov_exchange(const cs_cli_verb *verb, const cs_cli_gov_session *s, const char *method,
                        const char *path, cs_slice cose)
{
    cs_cli_https_request req = {
        .method = method,
        .path = path,
        .content_type = cose.len > 0 ? "application/cose" : NULL,
        .body = cose,
        .service_cert = s->service_cert,
        .client_cert = s->member_key != NULL ? s->member_cert : NULL,
        .client_key = s->member_key,
    };
    if (s->node_count == 0)
        return cs_cli_fail(
            verb, cs_fail(CONSORT_E_INVALID_ARGUMENT, "no node to send %s %s to", method, path));
    tried_nodes tried = {.count = 0};
    cs_cli_https_response resp;
    cs_cli_https_response_init(&resp);
    consort_err rc = send_first(s, &req, &resp, &tried);
    int code;
    if (rc != CONSORT_OK && !resp.connected && s->nodes_file[0] != '\0')
        code = print_unreachable(verb, s, &tried);
    else if (rc != CONSORT_OK)
        code = cs_cli_fail(verb, rc);
    else if (resp.status < 200 || resp.status > 299)
        code = print_refusal(verb, resp.status, cs_buf_slice(&resp.body));
    else {
        print_answer(cs_buf_slice(&resp.body));
        code = CS_EXIT_OK;
    }
    cs_cli_https_response_cleanup(&resp);
    return code;
}

bool cs_cli_gov_check_id(const cs_cli_verb *verb, const char *id)
{
    size_t len = strlen(id);
    bool ok = len == CS_GOV_ID_HEX_LEN;
    for (size_t i = 0; ok && i < len; i++)
        ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (!ok)
        cs_cli_usage_error(verb, "'%s' is not a proposal id (%d lower-case hex digits)", id,
                           CS_GOV_ID_HEX_LEN);
    return ok;
}
