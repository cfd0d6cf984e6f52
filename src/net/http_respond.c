/*
 * Answering requests (http_server.h): the handler's response is
 * serialised into its request, which then waits in its connection's queue
 * until every request before it has been answered (http_server.c flushes).
 */
#include "net/http_conn.h"

#include "base/log.h"

consort_err cs_http_respond(cs_http_request *req, int status, const cs_http_header *headers,
                            size_t count, cs_slice body)
{
    cs_http_req *r = (cs_http_req *)req;
    http_conn *c = r->conn;
    if (c->s == NULL) { /* the connection is gone: nobody to answer */
        cs_http_req_free(r);
        cs_http_conn_unref(c);
        return CONSORT_OK;
    }
    bool close = r->close_after || c->srv == NULL;
    consort_err rc =
        cs_http_write_response(&r->response, status, headers, count, body, close, r->head);
    if (rc != CONSORT_OK) {
        cs_log_warn("net", "HTTP %s: bad response to %s %s: %s", c->peer, r->method, r->path,
                    consort_errmsg());
        cs_buf_reset(&r->response);
        cs_buf msg;
        cs_buf_init(&msg, 0);
        consort_err rc2 = cs_http_error_body(&msg, "InternalError",
                                             "the handler's response "
                                             "was invalid");
        static const cs_http_header json[] = {{"Content-Type", "application/json"}};
        if (rc2 == CONSORT_OK)
            rc2 = cs_http_write_response(&r->response, 500, json, 1, cs_buf_slice(&msg), true,
                                         r->head);
        cs_buf_cleanup(&msg);
        close = true;
        if (rc2 != CONSORT_OK)
            cs_buf_reset(&r->response); /* nothing to send: the close says it */
    }
    r->responded = true;
    r->close_after = close;
    cs_http_conn_flush(c);
    return rc;
}

consort_err cs_http_respond_error(cs_http_request *req, int status, const char *code,
                                  const char *message)
{
    cs_buf body;
    cs_buf_init(&body, 0);
    consort_err rc = cs_http_error_body(&body, code, message);
    static const cs_http_header json[] = {{"Content-Type", "application/json"}};
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&body);
        consort_err sent = cs_http_respond(req, 500, NULL, 0, CS_SLICE_EMPTY);
        return sent != CONSORT_OK ? sent : rc;
    }
    rc = cs_http_respond(req, status, json, 1, cs_buf_slice(&body));
    cs_buf_cleanup(&body);
    return rc;
}

bool cs_http_request_connected(const cs_http_request *req)
{
    const cs_http_req *r = (const cs_http_req *)req;
    return r->conn != NULL && r->conn->s != NULL;
}

const struct cs_x509 *cs_http_request_peer_cert(const cs_http_request *req)
{
    const cs_http_req *r = (const cs_http_req *)req;
    return r->conn != NULL && r->conn->s != NULL ? cs_stream_peer_cert(r->conn->s) : NULL;
}

const char *cs_http_request_peer_address(const cs_http_request *req)
{
    const cs_http_req *r = (const cs_http_req *)req;
    return r->conn != NULL ? r->conn->peer : "";
}
