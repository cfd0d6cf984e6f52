/*
 * For the in-process end-to-end tests of the HTTP API: a consort service of
 * one or more nodes on loopback (virtual platform, logging sample), each
 * with its rpc server, and an HTTPS client (src/net's HTTP client over
 * cs_tls_connect) presenting a user's, a member's, a stranger's or no
 * certificate. Header-only (static inline): each test file is its own program.
 */
#ifndef CST_RPC_FIXTURE_H
#define CST_RPC_FIXTURE_H

#include "app_fixture.h"
#include "../net/net_fixture.h"

#include "attest/virtual.h"
#include "base/file.h"
#include "net/http_client.h"
#include "net/reserve.h"
#include "net/tls_stream.h"
#include "node/rpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#define CST_MAX_NODES 3

/* A port on 127.0.0.1 bound now and held until a listener of this process takes it
 * (net/reserve.h): never released for someone else to take first. */
static inline unsigned cst_reserved_port(void)
{
    char a[CS_NET_ADDRESS_MAX];
    cst_ok(cs_net_reserve("127.0.0.1:0", a));
    return (unsigned)strtoul(strrchr(a, ':') + 1, NULL, 10);
}

typedef struct cst_ident {
    cs_key *key;
    cs_x509 *cert;
    uint8_t fp[32];
    char pem_path[256];
} cst_ident;

typedef struct cst_svc {
    uv_loop_t loop;
    char dir[64];
    size_t count;
    cs_node_config cfg[CST_MAX_NODES];
    cs_node *node[CST_MAX_NODES];
    cs_rpc *rpc[CST_MAX_NODES];
    cst_ident user, member, stranger;
    cs_x509 *service_cert;
    bool closed; /* the service waits for its members to open it */
} cst_svc;

static inline void cst_ident_make(cst_svc *s, cst_ident *id, const char *name)
{
    cst_ok(cs_key_generate(CS_CURVE_P256, &id->key));
    cst_self_signed(id->key, name, &id->cert);
    cst_ok(cs_x509_fingerprint(id->cert, id->fp));
    snprintf(id->pem_path, sizeof id->pem_path, "%s/%s_cert.pem", s->dir, name);
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(id->cert, &pem));
    cst_write_file(id->pem_path, cs_buf_slice(&pem));
    cs_buf_cleanup(&pem);
}

static inline void cst_ident_free(cst_ident *id)
{
    cs_key_free(id->key);
    cs_x509_free(id->cert);
}

/* Fills node i's configuration: its own platform directory and ports. */
static inline void cst_svc_config(cst_svc *s, size_t i)
{
    cs_node_config *c = &s->cfg[i];
    memset(c, 0, sizeof *c);
    c->platform = CS_PLATFORM_VIRTUAL;
    /* one "host" for every node: they share the virtual platform (its
     * certificate is then every node's trust anchor) */
    snprintf(c->platform_dir, sizeof c->platform_dir, "%s/platform", s->dir);
    snprintf(c->data_dir, sizeof c->data_dir, "%s/node%zu", s->dir, i);
    snprintf(c->rpc_address, sizeof c->rpc_address, "127.0.0.1:%u", cst_reserved_port());
    snprintf(c->node_address, sizeof c->node_address, "127.0.0.1:%u", cst_reserved_port());
    snprintf(c->app_path, sizeof c->app_path, "%s", cst_logging_module());
    c->sig_interval_ms = 20;
    c->sig_interval_tx = 100;
    if (i == 0) {
        cs_virtual_platform *p;
        cst_ok(cs_virtual_platform_init(c->platform_dir, false, &p));
        cs_virtual_platform_free(p);
        c->mode = CS_NODE_START;
        snprintf(c->users[0], sizeof c->users[0], "%s", s->user.pem_path);
        c->user_count = 1;
        snprintf(c->members[0], sizeof c->members[0], "%s", s->member.pem_path);
        c->member_count = 1;
        snprintf(c->service_cert_out, sizeof c->service_cert_out, "%s/service_cert.pem", s->dir);
        c->open_at_genesis = !s->closed;
    } else {
        c->mode = CS_NODE_JOIN;
        snprintf(c->join_target, sizeof c->join_target, "%s", s->cfg[0].node_address);
        snprintf(c->service_cert_path, sizeof c->service_cert_path, "%s/service_cert.pem", s->dir);
    }
}

typedef struct cst_wait_node {
    cst_svc *s;
    size_t i;
} cst_wait_node;

static inline bool cst_node_serving(void *ctx)
{
    cst_wait_node *w = ctx;
    cs_node *n = w->s->node[w->i];
    bool ready = cs_node_is_open(n) && (w->i > 0 || cs_node_is_leader(n));
    return ready && w->s->rpc[w->i] != NULL && cs_rpc_address(w->s->rpc[w->i])[0] != '\0';
}

/* Starts node i (the first starts the service, the others join) and its rpc. */
static inline void cst_svc_add(cst_svc *s)
{
    size_t i = s->count++;
    cst_svc_config(s, i);
    cst_ok(cs_node_new(&s->loop, &s->cfg[i], &s->node[i]));
    cst_ok(cs_node_start(s->node[i]));
    cst_ok(cs_rpc_start(&s->loop, s->node[i], &s->cfg[i], &s->rpc[i]));
    cst_wait_node w = {s, i};
    cst_run_until(&s->loop, 60000, cst_node_serving, &w, "the node to serve HTTPS");
    if (i == 0)
        cst_ok(cs_x509_load_file(s->cfg[0].service_cert_out, &s->service_cert));
}

/* Starts a service of `nodes` nodes; `closed`: its members must open it. */
static inline void cst_svc_start_closed(cst_svc *s, size_t nodes, bool closed)
{
    memset(s, 0, sizeof *s);
    s->closed = closed;
    snprintf(s->dir, sizeof s->dir, "/tmp/cst_rpc_XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    assert_int_equal(uv_loop_init(&s->loop), 0);
    cst_ident_make(s, &s->user, "user0");
    cst_ident_make(s, &s->member, "member0");
    cst_ident_make(s, &s->stranger, "stranger");
    for (size_t i = 0; i < nodes; i++)
        cst_svc_add(s);
}

static inline void cst_svc_start(cst_svc *s, size_t nodes)
{
    cst_svc_start_closed(s, nodes, false);
}

static inline void cst_count_cb(void *ctx)
{
    (*(int *)ctx)++;
}

static inline bool cst_all_stopped(void *ctx)
{
    int *p = ctx;
    return p[0] == p[1];
}

/* Stops node i and its rpc (the node is freed; its slot stays empty). */
static inline void cst_svc_stop_node(cst_svc *s, size_t i)
{
    if (s->node[i] == NULL)
        return;
    int counts[2] = {0, 1}; /* stopped, expected */
    if (s->rpc[i] != NULL)
        cs_rpc_stop(s->rpc[i], NULL, NULL);
    s->rpc[i] = NULL;
    cs_node_stop(s->node[i], cst_count_cb, &counts[0]);
    cst_run_until(&s->loop, 30000, cst_all_stopped, counts, "the node to stop");
    cs_node_free(s->node[i]);
    s->node[i] = NULL;
}

static inline void cst_svc_stop(cst_svc *s)
{
    for (size_t i = s->count; i-- > 0;)
        cst_svc_stop_node(s, i);
    cst_loop_finish(&s->loop);
    cst_ident_free(&s->user);
    cst_ident_free(&s->member);
    cst_ident_free(&s->stranger);
    cs_x509_free(s->service_cert);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    assert_int_equal(system(cmd), 0);
}

/* Runs the loop for `ms` milliseconds. */
static inline void cst_loop_sleep(uv_loop_t *loop, unsigned ms)
{
    bool expired = false;
    uv_timer_t t;
    assert_int_equal(uv_timer_init(loop, &t), 0);
    t.data = &expired;
    uv_update_time(loop); /* from now, not from when the loop last ran */
    assert_int_equal(uv_timer_start(&t, cst_deadline_cb, ms, 0), 0);
    while (!expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* ---- an HTTPS client ---- */

typedef struct cst_client {
    cst_svc *s;
    cs_tls_config *tls;
    cs_tls_pinned pinned;
    cs_http_client *http;
    bool connected;
    consort_err err;
    char msg[CS_ERRMSG_MAX]; /* the connect callback's message */
} cst_client;

static inline void cst_client_connected(void *ctx, cs_stream *st, consort_err err, const char *msg)
{
    cst_client *c = ctx;
    cst_cb_msg(err, msg);
    c->connected = true;
    c->err = err;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    if (err == CONSORT_OK) {
        const cs_http_client_params p = {0};
        cst_ok(cs_http_client_new(st, &p, &c->http));
    }
}

static inline bool cst_client_done(void *ctx)
{
    return ((cst_client *)ctx)->connected;
}

/* Connects to node i presenting `cert` (NULL: none) and pinning the service. */
static inline void cst_client_open_as(cst_svc *s, size_t i, const cs_key *key, const cs_x509 *cert,
                                      cst_client *c)
{
    memset(c, 0, sizeof *c);
    c->s = s;
    c->pinned = (cs_tls_pinned){.roots = &s->service_cert, .root_count = 1};
    const cs_tls_params p = {.role = CS_TLS_CLIENT,
                             .key = key,
                             .cert = cert,
                             .verify = cs_tls_verify_pinned,
                             .verify_ctx = &c->pinned};
    cst_ok(cs_tls_config_new(&p, &c->tls));
    cst_ok(cs_tls_connect(&s->loop, cs_rpc_address(s->rpc[i]), c->tls, cst_client_connected, c));
    cst_run_until(&s->loop, 10000, cst_client_done, c, "the TLS connection");
    cst_cb_ok(c->err, c->msg);
}

/* Connects to node i, presenting `id`'s certificate (NULL: none), pinning the service. */
static inline void cst_client_open(cst_svc *s, size_t i, const cst_ident *id, cst_client *c)
{
    cst_client_open_as(s, i, id != NULL ? id->key : NULL, id != NULL ? id->cert : NULL, c);
}

static inline void cst_client_close(cst_client *c)
{
    cs_http_client_free(c->http);
    cs_tls_config_free(c->tls);
}

typedef struct cst_resp {
    bool done;
    consort_err err;
    char msg[CS_ERRMSG_MAX]; /* the completion's message ("" on success) */
    int status;
    cs_buf body; /* NUL-terminated */
    char txid[64], allow[128], retry[16], ctype[128];
} cst_resp;

static inline void cst_copy_header(const cs_http_response *r, const char *name, char *out, size_t n)
{
    const char *v = cs_http_response_header(r, name);
    snprintf(out, n, "%s", v != NULL ? v : "");
}

static inline void cst_resp_cb(void *ctx, consort_err err, const char *msg,
                               const cs_http_response *r)
{
    cst_resp *out = ctx;
    cst_cb_msg(err, msg);
    out->done = true;
    out->err = err;
    snprintf(out->msg, sizeof out->msg, "%s", msg);
    if (err != CONSORT_OK)
        return;
    out->status = r->status;
    cst_ok(cs_buf_append_slice(&out->body, r->body));
    cst_ok(cs_buf_append_u8(&out->body, 0));
    out->body.len--;
    cst_copy_header(r, "x-consort-txid", out->txid, sizeof out->txid);
    cst_copy_header(r, "allow", out->allow, sizeof out->allow);
    cst_copy_header(r, "retry-after", out->retry, sizeof out->retry);
    cst_copy_header(r, "content-type", out->ctype, sizeof out->ctype);
}

static inline bool cst_resp_done(void *ctx)
{
    return ((cst_resp *)ctx)->done;
}

/* Sends one request with a binary body and waits for its answer. */
static inline void cst_send_bytes(cst_client *c, const char *method, const char *target,
                                  const cs_http_header *headers, size_t count, cs_slice body,
                                  cst_resp *out)
{
    memset(out, 0, sizeof *out);
    cs_buf_init(&out->body, 0);
    cst_ok(cs_http_client_request(c->http, method, target, headers, count, body, cst_resp_cb, out));
    cst_run_until(&c->s->loop, 30000, cst_resp_done, out, target);
}

/* Sends one request and waits for its answer (cst_resp_cleanup afterwards). */
static inline void cst_send(cst_client *c, const char *method, const char *target,
                            const cs_http_header *headers, size_t count, const char *body,
                            cst_resp *out)
{
    cst_send_bytes(c, method, target, headers, count,
                   body != NULL ? cs_slice_str(body) : CS_SLICE_EMPTY, out);
}

static inline void cst_resp_cleanup(cst_resp *r)
{
    cs_buf_cleanup(&r->body);
}

/* Asserts a JSON error body with `code` and returns its message (static storage). */
static inline const char *cst_resp_error(const cst_resp *r, const char *code)
{
    cst_call c;
    memset(&c, 0, sizeof c);
    c.resp.body = r->body;
    return cst_error_message(&c, code);
}

#endif
