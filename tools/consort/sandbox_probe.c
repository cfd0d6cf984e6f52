/*
 * HTTPS requests from the sandbox to its nodes (sandbox.h): TLS 1.3 with
 * the pinned service certificate as the only root and user0's certificate
 * as the client certificate, one request per connection (cli_https.h).
 */
#include "sandbox.h"

#include "cli_https.h"

#include "base/alloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX ((size_t)1 << 20)

struct cs_sbx_client {
    cs_key *key;
    cs_x509 *cert;
    cs_x509 *service;
};

consort_err cs_sbx_get(cs_sbx_client *c, const char *address, const char *path, uint32_t timeout_ms,
                       int *status, cs_buf *body)
{
    return cs_sbx_request(c, address, "GET", path, NULL, CS_SLICE_EMPTY, timeout_ms, status, body);
}

consort_err cs_sbx_request(cs_sbx_client *c, const char *address, const char *method,
                           const char *path, const char *content_type, cs_slice request_body,
                           uint32_t timeout_ms, int *status, cs_buf *body)
{
    const cs_cli_https_request req = {.address = address,
                                      .method = method,
                                      .path = path,
                                      .content_type = content_type,
                                      .body = request_body,
                                      .service_cert = c->service,
                                      .client_cert = c->cert,
                                      .client_key = c->key,
                                      .timeout_ms = timeout_ms,
                                      .max_body = BODY_MAX};
    cs_cli_https_response resp;
    cs_cli_https_response_init(&resp);
    consort_err rc = cs_cli_https_send(&req, &resp);
    if (rc == CONSORT_OK) {
        *status = resp.status;
        rc = cs_buf_append_slice(body, cs_buf_slice(&resp.body));
    }
    cs_cli_https_response_cleanup(&resp);
    return rc;
}

consort_err cs_sbx_client_new(const char *service_cert, const char *user_cert, const char *user_key,
                              cs_sbx_client **out)
{
    cs_sbx_client *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "sandbox client: out of memory");
    consort_err rc;
    CS_TRY_GOTO(rc, cs_x509_load_file(service_cert, &c->service), fail);
    CS_TRY_GOTO(rc, cs_x509_load_file(user_cert, &c->cert), fail);
    CS_TRY_GOTO(rc, cs_key_load_pem_file(user_key, &c->key), fail);
    *out = c;
    return CONSORT_OK;
fail:
    cs_sbx_client_free(c);
    return rc;
}

void cs_sbx_client_free(cs_sbx_client *c)
{
    if (c == NULL)
        return;
    cs_key_free(c->key);
    cs_x509_free(c->cert);
    cs_x509_free(c->service);
    cs_free(c);
}

/* GET `path` and parse a 200 answer as a JSON object (*doc; caller decrefs). */
static consort_err get_json(cs_sbx_client *c, const char *address, const char *path, json_t **doc)
{
    cs_buf body;
    cs_buf_init(&body, BODY_MAX);
    int status = 0;
    consort_err rc = cs_sbx_get(c, address, path, 3000, &status, &body);
    if (rc == CONSORT_OK && status != 200)
        rc = cs_fail(CONSORT_E_STATE, "GET %s: HTTP %d: %.*s", path, status,
                     (int)(body.len > 200 ? 200 : body.len), (const char *)body.ptr);
    if (rc == CONSORT_OK) {
        json_error_t jerr;
        *doc = json_loadb((const char *)body.ptr, body.len, 0, &jerr);
        if (*doc == NULL || !json_is_object(*doc)) {
            json_decref(*doc);
            *doc = NULL;
            rc = cs_fail(CONSORT_E_MALFORMED, "GET %s: not a JSON object: %s", path, jerr.text);
        }
    }
    cs_buf_cleanup(&body);
    return rc;
}

consort_err cs_sbx_node_open(cs_sbx_client *c, const char *address, bool *open, char *why,
                             size_t why_len)
{
    json_t *doc = NULL;
    *open = false;
    consort_err rc = get_json(c, address, "/node/state", &doc);
    if (rc != CONSORT_OK) {
        snprintf(why, why_len, "%s", consort_errmsg());
        return CONSORT_OK; /* not answering yet is not an error of the sandbox */
    }
    const char *state = json_string_value(json_object_get(doc, "state"));
    *open = state != NULL && strcmp(state, "PartOfNetwork") == 0;
    snprintf(why, why_len, "GET /node/state says state %s", state ? state : "(missing)");
    json_decref(doc);
    return CONSORT_OK;
}

consort_err cs_sbx_trusted_nodes(cs_sbx_client *c, const char *address, size_t *count)
{
    json_t *doc = NULL;
    CS_TRY(get_json(c, address, "/node/network", &doc));
    json_t *nodes = json_object_get(doc, "nodes");
    size_t index;
    json_t *node;
    *count = 0;
    json_array_foreach(nodes, index, node)
    {
        const char *status = json_string_value(json_object_get(node, "status"));
        if (status != NULL && strcmp(status, "Trusted") == 0)
            (*count)++;
    }
    json_decref(doc);
    return CONSORT_OK;
}

consort_err cs_sbx_node_state(cs_sbx_client *c, const char *address, uint32_t timeout_ms,
                              cs_sbx_state *out)
{
    memset(out, 0, sizeof *out);
    cs_buf body;
    cs_buf_init(&body, BODY_MAX);
    int status = 0;
    consort_err rc = cs_sbx_get(c, address, "/node/state", timeout_ms, &status, &body);
    json_t *doc = NULL;
    if (rc == CONSORT_OK && status != 200)
        rc = cs_fail(CONSORT_E_STATE, "GET /node/state: HTTP %d", status);
    if (rc == CONSORT_OK) {
        doc = json_loadb((const char *)body.ptr, body.len, 0, NULL);
        if (!json_is_object(doc))
            rc = cs_fail(CONSORT_E_MALFORMED, "GET /node/state: not a JSON object");
    }
    cs_buf_cleanup(&body);
    if (rc != CONSORT_OK) {
        json_decref(doc);
        return rc;
    }
    const char *s = json_string_value(json_object_get(doc, "state"));
    snprintf(out->state, sizeof out->state, "%s", s != NULL ? s : "");
    s = json_string_value(json_object_get(doc, "raft_state"));
    snprintf(out->raft_state, sizeof out->raft_state, "%s", s != NULL ? s : "");
    out->is_leader = json_is_true(json_object_get(doc, "is_leader"));
    s = json_string_value(json_object_get(doc, "leader_rpc_address"));
    snprintf(out->leader, sizeof out->leader, "%s", s != NULL ? s : "");
    s = json_string_value(json_object_get(doc, "last_committed_txid"));
    const char *dot = s != NULL ? strchr(s, '.') : NULL;
    out->committed = dot != NULL ? strtoull(dot + 1, NULL, 10) : 0;
    json_decref(doc);
    return CONSORT_OK;
}
