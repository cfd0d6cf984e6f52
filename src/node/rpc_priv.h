/*
 * Private to src/node/rpc*.c: the rpc object, shared by the server and
 * dispatch (rpc.c), the built-in endpoints (rpc_builtin.c), application
 * endpoints (rpc_app.c), forwarding to the leader (rpc_forward.c), and
 * answers and consistency headers (rpc_respond.c, which the others call
 * and which calls none of them).
 */
#ifndef CS_NODE_RPC_PRIV_H
#define CS_NODE_RPC_PRIV_H

#include "e2e/statement.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/tls_stream.h"
#include "node/rpc.h"
#include "node/rpc_route.h"

/* The header a follower adds when it forwards a request: the caller's
 * certificate fingerprint (64 hex), or CS_RPC_NO_CALLER. The leader trusts
 * it only from a certificate that cs_node_is_service_node_cert accepts. */
#define CS_RPC_FORWARDED_HEADER "x-consort-forwarded-caller"
#define CS_RPC_NO_CALLER        "none"
#define CS_RPC_TXID_HEADER      "x-consort-txid"
/* Seconds a client is asked to wait when no leader is known (RFC 9110 §10.2.3). */
#define CS_RPC_RETRY_AFTER "1"
/* docs/consistency.md: a read with x-consort-min-txid, or a linearizable one,
 * waits at most this long before it is answered 503 (ms). */
#define CS_RPC_MIN_TXID_HEADER "x-consort-min-txid"
#define CS_RPC_READ_HEADER     "x-consort-read"
#define CS_RPC_READ_WAIT_MS    2000
/* A follower relays the leader's answer to a forwarded write once it has
 * applied the transaction itself (read-your-writes), waiting at most this
 * long (ms); then it relays anyway (the write is committed). */
#define CS_RPC_FORWARD_APPLY_WAIT_MS 5000
/* docs/operating.md "Connection limits": descriptors client connections may
 * never take (the ledger, Raft's log and snapshots, node channels, the
 * forwarder, the loop's own), and the fewest a node needs left for clients. */
#define CS_RPC_FD_RESERVE     256
#define CS_RPC_MIN_CLIENT_FDS 64

typedef struct rpc_write rpc_write;
typedef struct rpc_gov_write rpc_gov_write;

/* A request still executing on this node (a write, or a read that waits),
 * linked in the rpc's list so that stopping the rpc can detach it: its
 * completion then answers without touching the rpc (rpc is NULL). */
typedef struct rpc_inflight {
    cs_rpc *rpc;
    struct rpc_inflight *prev, *next;
} rpc_inflight;
typedef struct rpc_forwarder rpc_forwarder;
typedef struct rpc_stmt rpc_stmt;   /* an answer waiting for its statement's signature */
typedef struct rpc_codes rpc_codes; /* the trusted code ids, kept for statements */
/* Headers of an answer that waits for its statement (rpc_statement.c). */
#define CS_RPC_STMT_MAX_HEADERS 16
typedef struct rpc_egress_pool rpc_egress_pool;

/* Counters served by /node/metrics (besides the node's). */
typedef struct cs_rpc_stats {
    uint64_t requests;
    uint64_t responses[6]; /* by status class: [1] 1xx ... [5] 5xx */
    uint64_t forwarded;
    uint64_t forward_failures;
    uint64_t writes_committed;
    uint64_t egress_calls;         /* outbound calls sent (app.h consort_call) */
    uint64_t egress_connections;   /* TLS connections opened for them (the rest reused one) */
    uint64_t statements;           /* handling statements signed */
    uint64_t statement_signatures; /* signatures made for them (one per batch) */
} cs_rpc_stats;

/* Answers by route and status class, and the commit latency of writes
 * (rpc_account.c, docs/observability.md): plain counters, updated per
 * answer; the text for /node/metrics is made only when it is scraped. */
#define CS_RPC_LATENCY_BUCKETS 12
typedef struct rpc_observe {
    size_t routes;    /* cs_rpc_route_count() + the application's endpoints */
    uint64_t *status; /* (routes + 1) x 5: [route * 5 + class - 1]; route `routes`: none */
    uint64_t commit_le[CS_RPC_LATENCY_BUCKETS + 1]; /* per bucket (not cumulative); last: +Inf */
    uint64_t commit_count;
    uint64_t commit_sum_ns;
} rpc_observe;

struct cs_rpc {
    uv_loop_t *loop;
    cs_node *node;
    const cs_node_config *cfg;
    consort_app *app; /* NULL: no application module */
    cs_tls_config *tls;
    cs_listener *listener;
    cs_http_server *http;
    bool listening;
    bool watching;   /* a node watcher: listening starts once the certificate exists */
    cs_defer *defer; /* the stop and listen callbacks, from the loop */
    cs_defer_item stop_item;
    cs_defer_item listen_item;
    bool listen_done; /* listening started or failed: listen_rc says which */
    consort_err listen_rc;
    char listen_msg[256];
    cs_rpc_listen_fn listen_fn;
    void *listen_ctx;
    rpc_forwarder *fwd;
    rpc_egress_pool *egress; /* idle connections for outbound calls (rpc_egress.c) */
    rpc_inflight *inflight;  /* requests executing on this node (writes, waiting reads) */
    rpc_stmt *stmts;         /* answers waiting for their statements' signature, in order */
    rpc_stmt **stmts_tail;
    rpc_codes *codes;         /* rpc_statement.c (NULL until the first statement) */
    cs_defer_item stmts_item; /* signs them at the end of the loop's turn */
    cs_rpc_stats stats;
    rpc_observe obs;
    char address[CS_NET_ADDRESS_MAX];
    void (*stop_cb)(void *ctx);
    void *stop_ctx;
};

/* Who is calling: the client's certificate fingerprint, or the one a
 * service node forwarded. */
typedef struct rpc_caller {
    bool has_cert;
    uint8_t fp[32];
    bool forwarded; /* the request came from a follower */
} rpc_caller;

/* ---- answering (rpc_respond.c): every answer goes through these, for the counters ---- */
void cs_rpc_respond(cs_rpc *rpc, cs_http_request *req, int status, const cs_http_header *headers,
                    size_t count, cs_slice body);
void cs_rpc_respond_error(cs_rpc *rpc, cs_http_request *req, int status, const char *code,
                          const char *fmt, ...) CS_PRINTF(5, 6);
/* The same with extra headers (Allow, Retry-After, x-consort-txid). */
#define CS_RPC_MAX_EXTRA_HEADERS 4
void cs_rpc_respond_error_with(cs_rpc *rpc, cs_http_request *req, int status, const char *code,
                               const cs_http_header *extra, size_t extra_count, const char *fmt,
                               ...) CS_PRINTF(7, 8);
/* 503 with Retry-After. */
void cs_rpc_respond_unavailable(cs_rpc *rpc, cs_http_request *req, const char *fmt, ...)
    CS_PRINTF(3, 4);
/* 500 naming consort_errmsg(). */
void cs_rpc_respond_internal(cs_rpc *rpc, cs_http_request *req, consort_err rc, const char *what);

/* ---- requests in flight (rpc_respond.c) ---- */
void cs_rpc_inflight_add(cs_rpc *rpc, rpc_inflight *f);
/* Unlinks `f` (a no-op once detached). */
void cs_rpc_inflight_remove(rpc_inflight *f);
/* At stop: every request in flight is detached (its rpc becomes NULL). */
void cs_rpc_inflight_detach(cs_rpc *rpc);

/* ---- read consistency headers (rpc_respond.c) ---- */
/* True if the request asks for a linearizable read (x-consort-read: linearizable). */
bool cs_rpc_wants_linearizable(const cs_http_request *req);
/* The x-consort-min-txid of the request (zero if absent). Returns false after
 * answering 400 when it is malformed. */
bool cs_rpc_min_txid(cs_rpc *rpc, cs_http_request *req, cs_txid *out);
/* x-consort-read: "committed" (the default) or "linearizable"; false after
 * answering 400 for any other value. */
bool cs_rpc_read_mode(cs_rpc *rpc, cs_http_request *req, bool *linearizable);
/* True after answering 412 TransactionInvalid if `min` (x-consort-min-txid,
 * applied here) is a transaction that can never commit: its seqno belongs
 * to another term. */
bool cs_rpc_min_txid_invalid(cs_rpc *rpc, cs_http_request *req, cs_txid min);

/* ---- built-in endpoints (rpc_builtin.c) ---- */
void cs_rpc_builtin_run(cs_rpc *rpc, cs_rpc_builtin id, cs_http_request *req);

/* ---- the web console's files (rpc_console.c): route->asset ---- */
void cs_rpc_console_run(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req);

/* ---- accounting of answers (rpc_account.c) ---- */
/* Allocates the per-route counters (NOMEM); cleanup frees them. */
CS_MUST_CHECK consort_err cs_rpc_account_init(cs_rpc *rpc);
void cs_rpc_account_cleanup(cs_rpc *rpc);
/* Counts the answer `status` to `req` by its route (req->tag: route index + 1,
 * 0: none) and writes the request log line if info is enabled. */
void cs_rpc_account_answer(cs_rpc *rpc, const cs_http_request *req, int status,
                           const cs_http_header *headers, size_t count);
/* A write `req` asked for committed: its latency from receipt goes into
 * the histogram. */
void cs_rpc_account_commit(cs_rpc *rpc, const cs_http_request *req);
/* Appends the per-route answers and the commit latency histogram. */
CS_MUST_CHECK consort_err cs_rpc_account_metrics(const cs_rpc *rpc, cs_buf *out);

/* ---- health, readiness, API documents (rpc_observe.c) ---- */
/* GET /node/health, /node/ready/app, /node/ready/gov, /node/api, /app/api. */
void cs_rpc_observe_run(cs_rpc *rpc, cs_rpc_builtin id, cs_http_request *req);

/* ---- application endpoints (rpc_app.c) ---- */
/* Runs a read-only endpoint here, or a read-write one here if leader (else forwards). */
void cs_rpc_app_run(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req,
                    const rpc_caller *caller);

/* ---- governance endpoints (rpc_gov.c) ---- */
void cs_rpc_gov_run(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req,
                    const rpc_caller *caller);

/* ---- recovery endpoints (rpc_recovery.c) ---- */
void cs_rpc_recovery_run(cs_rpc *rpc, const cs_rpc_route *route, cs_http_request *req);

/* ---- forwarding (rpc_forward.c) ---- */
CS_MUST_CHECK consort_err cs_rpc_forwarder_new(cs_rpc *rpc, rpc_forwarder **out);
/* Forwards `req` to the leader and relays its answer (or answers 503). */
void cs_rpc_forward(cs_rpc *rpc, cs_http_request *req, const rpc_caller *caller);
/* Closes the connection to the leader; queued requests are answered 503. */
void cs_rpc_forwarder_free(rpc_forwarder *fwd);

/* ---- outbound calls (rpc_egress.c; app.h consort_call) ---- */
/* Connections kept open between calls, per (address, service certificate):
 * a call takes an idle one rather than making a TLS handshake. */
CS_MUST_CHECK consort_err cs_rpc_egress_pool_new(rpc_egress_pool **out);
/* Closes every idle connection; NULL is a no-op. */
void cs_rpc_egress_pool_free(rpc_egress_pool *p);
/* An open idle connection to `address` verified against the service
 * certificate of SHA-256 `fp`, idle for less than 20 s, or NULL (closed or
 * stale ones found on the way are closed). */
cs_http_client *cs_rpc_egress_pool_take(rpc_egress_pool *p, const char *address,
                                        const uint8_t fp[32]);
/* The stored binding `value` of egress name `name` (gov_egress.c), parsed
 * once and remembered: its address, and a new reference to its service
 * certificate (cs_x509_free it). CORRUPT, NOMEM. */
CS_MUST_CHECK consort_err cs_rpc_egress_binding(rpc_egress_pool *p, const char *name,
                                                cs_slice value, char address[128], cs_x509 **cert);
/* Keeps `client` for the next call, or closes it (the pool is full, or the
 * connection is closing or busy). */
void cs_rpc_egress_pool_put(rpc_egress_pool *p, cs_http_client *client, const char *address,
                            const uint8_t fp[32]);

typedef struct rpc_egress_group {
    size_t outstanding;
    void (*done)(void *ctx);
    void *ctx;
    cs_defer_item item;
    /* `done` fires from this timer, on the loop's next turn: never from
     * inside a connection's callback, whose connection may go back to the
     * pool and be taken by the handler's next run (created by the first
     * cs_rpc_egress_start; cs_rpc_egress_group_cleanup frees it) */
    struct cs_timer *timer;
} rpc_egress_group;
/* Releases what cs_rpc_egress_start kept in `g` (its timer); the callback
 * does not run afterwards. A zeroed group is a no-op. */
void cs_rpc_egress_group_cleanup(rpc_egress_group *g);
/*
 * Makes every call of `calls` not started yet (for the client request
 * `req`: its x-consort-attest nonce, if any, asks each callee for a
 * statement). `done(ctx)` runs once, later, from the loop, when each of
 * them is answered or failed (cs_app_call_answer / _fail).
 */
void cs_rpc_egress_start(cs_rpc *rpc, rpc_egress_group *g, cs_app_calls *calls,
                         const cs_http_request *req, void (*done)(void *ctx), void *ctx);

/* cs_rpc_respond for a request that asked for a handling statement
 * (x-consort-attest): the answer carries the service's signed statement
 * (rpc_statement.c, docs/e2e.md), or none if it cannot be made (logged).
 * The answer goes out once the statement is signed, with the others
 * answered in the same turn of the loop (one signature for all). */
CS_MUST_CHECK consort_err cs_rpc_respond_with_statement(cs_rpc *rpc, cs_http_request *req,
                                                        int status, const cs_http_header *headers,
                                                        size_t count, cs_slice body,
                                                        const cs_app_calls *calls);
/* Signs and sends every answer that waits for its statement, now (at stop). */
void cs_rpc_statements_flush(cs_rpc *rpc);
/* Frees what statements kept (the code ids read); at the rpc's end. */
void cs_rpc_statements_cleanup(cs_rpc *rpc);
/* The client's policy for a summary statement (x-consort-attest-policy:
 * base64 of its JSON, docs/e2e.md "Summary statements"), parsed into `doc`
 * (*present false, doc untouched, without the header). INVALID_ARGUMENT /
 * MALFORMED naming the problem. Free doc with cs_e2e_policy_doc_cleanup. */
CS_MUST_CHECK consort_err cs_rpc_attest_policy(const cs_http_request *req, cs_e2e_policy_doc *doc,
                                               bool *present);

/* cs_rpc_respond for an answer whose handler made outbound calls (`calls`,
 * NULL: none): a handling statement, if asked for, names them. */
void cs_rpc_respond_calls(cs_rpc *rpc, cs_http_request *req, int status,
                          const cs_http_header *headers, size_t count, cs_slice body,
                          const cs_app_calls *calls);

#endif
