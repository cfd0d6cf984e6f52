/*
 * The built-in endpoints (docs/http-api.md): /node/state, /node/network,
 * /node/quotes, /node/version, /node/metrics, /node/tx, /node/commit,
 * /node/overview and /app/receipt. Each answers at once from the node's state.
 */
#include "node/rpc_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#ifndef CONSORT_VERSION
#define CONSORT_VERSION "unknown"
#endif

#define TXID_PARAM     "transaction_id"
#define TXID_PARAM_MAX 64

static const cs_http_header json_type[] = {{"Content-Type", "application/json"}};
/* Prometheus text exposition format 0.0.4 */
static const cs_http_header metrics_type[] = {
    {"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};

static void respond_json(cs_rpc *rpc, cs_http_request *req, int status, const cs_buf *body)
{
    cs_rpc_respond(rpc, req, status, json_type, 1, cs_buf_slice(body));
}

/* Answers with the document a node function fills, or 500. */
static void serve_document(cs_rpc *rpc, cs_http_request *req,
                           consort_err (*fill)(cs_node *, cs_buf *), const char *what)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    consort_err rc = fill(rpc->node, &out);
    if (rc == CONSORT_OK)
        respond_json(rpc, req, 200, &out);
    else
        cs_rpc_respond_internal(rpc, req, rc, what);
    cs_buf_cleanup(&out);
}

/*
 * Reads ?transaction_id=<term>.<seqno> (DESIGN.md "Public contracts": both
 * decimal, >= 1). Returns false after answering 400 if it is absent or malformed.
 */
static bool txid_param(cs_rpc *rpc, cs_http_request *req, cs_txid *txid)
{
    cs_buf text;
    cs_buf_init(&text, TXID_PARAM_MAX);
    bool found = false;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_http_request_param(req, TXID_PARAM, &text, &found), out);
    if (!found)
        goto out;
    CS_TRY_GOTO(rc, cs_buf_append_u8(&text, 0), out);
    CS_TRY_GOTO(rc, cs_txid_parse((const char *)text.ptr, txid), out);
out:
    cs_buf_cleanup(&text);
    if (!found) {
        cs_rpc_respond_error(rpc, req, 400, "InvalidInput",
                             "query parameter ?%s=<term>.<seqno> is required", TXID_PARAM);
        return false;
    }
    if (rc != CONSORT_OK) {
        cs_rpc_respond_error(rpc, req, 400, "InvalidInput",
                             "%s must be <term>.<seqno>, both decimal and >= 1: %s", TXID_PARAM,
                             consort_errmsg());
        return false;
    }
    return true;
}

/* docs/consistency.md: 200 Committed; 202 with Retry-After for a txid that
 * may still commit (Pending, or Unknown here); 404 for one that never can. */
static void serve_tx(cs_rpc *rpc, cs_http_request *req)
{
    static const cs_http_header headers[] = {{"Content-Type", "application/json"},
                                             {"Retry-After", CS_RPC_RETRY_AFTER}};
    cs_txid txid;
    if (!txid_param(rpc, req, &txid))
        return;
    cs_tx_status status = cs_node_tx_status(rpc->node, txid);
    int code = status == CS_TX_COMMITTED ? 200 : status == CS_TX_INVALID ? 404 : 202;
    cs_buf out;
    cs_buf_init(&out, 0);
    consort_err rc =
        cs_buf_printf(&out, "{\"transaction_id\":\"%" PRIu64 ".%" PRIu64 "\",\"status\":\"%s\"}",
                      txid.term, txid.seqno, cs_tx_status_name(status));
    if (rc == CONSORT_OK)
        cs_rpc_respond(rpc, req, code, headers, code == 202 ? 2 : 1, cs_buf_slice(&out));
    else
        cs_rpc_respond_internal(rpc, req, rc, "transaction status");
    cs_buf_cleanup(&out);
}

static void serve_commit(cs_rpc *rpc, cs_http_request *req)
{
    cs_txid txid = cs_node_commit_txid(rpc->node);
    char body[96];
    int n = snprintf(body, sizeof body, "{\"transaction_id\":\"%" PRIu64 ".%" PRIu64 "\"}",
                     txid.term, txid.seqno);
    cs_rpc_respond(rpc, req, 200, json_type, 1, CS_SLICE(body, (size_t)n));
}

/* docs/consistency.md: 200 with the receipt; 202 with Retry-After while the
 * transaction may still commit or is not signed yet; 404 if it never can;
 * 410 if it is committed before this node's ledger starts. */
static void serve_receipt(cs_rpc *rpc, cs_http_request *req)
{
    static const cs_http_header retry = {"Retry-After", CS_RPC_RETRY_AFTER};
    cs_txid txid;
    if (!txid_param(rpc, req, &txid))
        return;
    char id[48];
    snprintf(id, sizeof id, "%" PRIu64 ".%" PRIu64, txid.term, txid.seqno);
    cs_buf out;
    cs_buf_init(&out, 0);
    consort_err rc = cs_node_receipt(rpc->node, txid, &out);
    if (rc == CONSORT_OK)
        respond_json(rpc, req, 200, &out);
    else if (rc == CONSORT_E_BUSY)
        cs_rpc_respond_error_with(rpc, req, 202, "TransactionPendingOrUnknown", &retry, 1,
                                  "transaction %s: %s", id, consort_errmsg());
    else if (rc == CONSORT_E_NOT_FOUND)
        cs_rpc_respond_error(rpc, req, 404, "TransactionInvalid", "transaction %s: %s", id,
                             consort_errmsg());
    else if (rc == CONSORT_E_STATE)
        cs_rpc_respond_error(rpc, req, 410, "NotInThisLedger", "transaction %s: %s", id,
                             consort_errmsg());
    else
        cs_rpc_respond_internal(rpc, req, rc, "receipt");
    cs_buf_cleanup(&out);
}

/* docs/operating.md "Connection limits": the client listener's caps and
 * counts, and the connections the HTTP deadlines ended. */
static consort_err connection_metrics(const cs_rpc *rpc, cs_buf *out)
{
    cs_listener_stats l = {0};
    cs_http_server_stats h = {0};
    if (rpc->listener != NULL)
        cs_listener_stats_get(rpc->listener, &l);
    if (rpc->http != NULL)
        cs_http_server_stats_get(rpc->http, &h);
    const char *id = cs_node_id(rpc->node);
    const struct {
        const char *name, *type, *label, *help;
        uint64_t v;
    } rows[] = {
        {"consort_rpc_connections_open", "gauge", "",
         "Client connections open (TLS handshakes and lingering closes included).", l.open},
        {"consort_rpc_connections_max", "gauge", "", "Cap on client connections in all.",
         l.limits.max_total},
        {"consort_rpc_connections_max_per_address", "gauge", "",
         "Cap on client connections from one client address.", l.limits.max_per_address},
        {"consort_rpc_connections_accepted_total", "counter", "", "Client connections accepted.",
         l.accepted},
        {"consort_rpc_connections_refused_total", "counter", "reason=\"per_address\"",
         "Client connections closed at accept, by the cap they were over.", l.refused_address},
        {"consort_rpc_connections_refused_total", NULL, "reason=\"total\"", NULL, l.refused_total},
        {"consort_rpc_accept_errors_total", "counter", "",
         "Failed accepts (e.g. the open-file limit reached).", l.accept_errors},
        {"consort_rpc_connection_timeouts_total", "counter", "deadline=\"header\"",
         "Client connections ended by a deadline: header section late (408), request late "
         "(408), idle.",
         h.header_timeouts},
        {"consort_rpc_connection_timeouts_total", NULL, "deadline=\"request\"", NULL,
         h.request_timeouts},
        {"consort_rpc_connection_timeouts_total", NULL, "deadline=\"idle\"", NULL, h.idle_timeouts},
        {"consort_rpc_turns_deferred_total", "counter", "",
         "Times a connection's ready requests waited for the next loop turn (the turn's "
         "request budget spent).",
         h.turns_deferred},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(rows); i++) {
        if (rows[i].type != NULL)
            CS_TRY(cs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", rows[i].name, rows[i].help,
                                 rows[i].name, rows[i].type));
        CS_TRY(cs_buf_printf(out, "%s{node=\"%s\"%s%s} %" PRIu64 "\n", rows[i].name, id,
                             rows[i].label[0] ? "," : "", rows[i].label, rows[i].v));
    }
    return CONSORT_OK;
}

static consort_err rpc_metrics(const cs_rpc *rpc, cs_buf *out)
{
    const cs_rpc_stats *s = &rpc->stats;
    const char *id = cs_node_id(rpc->node);
    CS_TRY(cs_buf_printf(out,
                         "# HELP consort_rpc_requests_total HTTP requests received.\n"
                         "# TYPE consort_rpc_requests_total counter\n"
                         "consort_rpc_requests_total{node=\"%s\"} %" PRIu64 "\n"
                         "# HELP consort_rpc_responses_total HTTP responses sent, by status "
                         "class.\n"
                         "# TYPE consort_rpc_responses_total counter\n",
                         id, s->requests));
    for (int c = 1; c <= 5; c++)
        CS_TRY(cs_buf_printf(
            out, "consort_rpc_responses_total{node=\"%s\",class=\"%dxx\"} %" PRIu64 "\n", id, c,
            s->responses[c]));
    const struct {
        const char *name, *help;
        uint64_t v;
    } rows[] = {
        {"consort_rpc_forwarded_total", "Requests forwarded to the leader.", s->forwarded},
        {"consort_rpc_forward_failures_total",
         "Requests that could not be forwarded or got no answer from the leader.",
         s->forward_failures},
        {"consort_rpc_writes_committed_total",
         "Application writes answered after commit by this node.", s->writes_committed},
        {"consort_rpc_egress_calls_total",
         "Outbound calls to other services sent by applications (consort_call).", s->egress_calls},
        {"consort_rpc_egress_connections_total",
         "TLS connections opened for outbound calls (the other calls reused an idle one).",
         s->egress_connections},
        {"consort_rpc_statements_total", "Handling statements signed (x-consort-attest answers).",
         s->statements},
        {"consort_rpc_statement_signatures_total",
         "Signatures made for handling statements: one per batch of answers in one loop turn.",
         s->statement_signatures},
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(rows); i++)
        CS_TRY(cs_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s{node=\"%s\"} %" PRIu64 "\n",
                             rows[i].name, rows[i].help, rows[i].name, rows[i].name, id,
                             rows[i].v));
    CS_TRY(connection_metrics(rpc, out));
    return cs_rpc_account_metrics(rpc, out);
}

static void serve_metrics(cs_rpc *rpc, cs_http_request *req)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_node_metrics_text(rpc->node, &out), failed);
    CS_TRY_GOTO(rc, rpc_metrics(rpc, &out), failed);
    cs_rpc_respond(rpc, req, 200, metrics_type, 1, cs_buf_slice(&out));
    cs_buf_cleanup(&out);
    return;
failed:
    cs_rpc_respond_internal(rpc, req, rc, "metrics");
    cs_buf_cleanup(&out);
}

static void serve_version(cs_rpc *rpc, cs_http_request *req)
{
    char body[160];
    int n = snprintf(body, sizeof body,
                     "{\"version\":\"%s\",\"app_abi_version\":%d,\"app_endpoints\":%zu}",
                     CONSORT_VERSION, CONSORT_APP_ABI_VERSION,
                     rpc->app != NULL ? cs_app_endpoint_count(rpc->app) : (size_t)0);
    cs_rpc_respond(rpc, req, 200, json_type, 1, CS_SLICE(body, (size_t)n));
}

void cs_rpc_builtin_run(cs_rpc *rpc, cs_rpc_builtin id, cs_http_request *req)
{
    switch (id) {
    case CS_RPC_NODE_STATE:
        serve_document(rpc, req, cs_node_state_json, "node state");
        return;
    case CS_RPC_NODE_NETWORK:
        serve_document(rpc, req, cs_node_network_json, "network");
        return;
    case CS_RPC_NODE_QUOTES:
        serve_document(rpc, req, cs_node_quotes_json, "quotes");
        return;
    case CS_RPC_NODE_VERSION:
        serve_version(rpc, req);
        return;
    case CS_RPC_NODE_METRICS:
        serve_metrics(rpc, req);
        return;
    case CS_RPC_NODE_TX:
        serve_tx(rpc, req);
        return;
    case CS_RPC_NODE_COMMIT:
        serve_commit(rpc, req);
        return;
    case CS_RPC_NODE_OVERVIEW:
        serve_document(rpc, req, cs_node_overview_json, "overview");
        return;
    case CS_RPC_APP_RECEIPT:
        serve_receipt(rpc, req);
        return;
    case CS_RPC_NODE_HEALTH:
    case CS_RPC_NODE_READY_APP:
    case CS_RPC_NODE_READY_GOV:
    case CS_RPC_NODE_API:
    case CS_RPC_APP_API:
        cs_rpc_observe_run(rpc, id, req);
        return;
    case CS_RPC_GOV_MEMBERS:
        serve_document(rpc, req, cs_node_members_json, "members");
        return;
    case CS_RPC_GOV_USERS:
        serve_document(rpc, req, cs_node_users_json, "users");
        return;
    case CS_RPC_GOV_PROPOSE:
    case CS_RPC_GOV_PROPOSALS:
    case CS_RPC_GOV_PROPOSAL:
    case CS_RPC_GOV_BALLOT:
    case CS_RPC_GOV_WITHDRAW:
    case CS_RPC_GOV_SERVICE:
    case CS_RPC_GOV_CONSTITUTION:
    case CS_RPC_GOV_CODE_TRANSPARENCY:
    case CS_RPC_GOV_RECOVERY:
    case CS_RPC_GOV_RECOVERY_SHARE:
    case CS_RPC_GOV_RECOVERY_SUBMIT:
        break; /* rpc_gov.c serves these (rpc.c dispatches them there) */
    }
    cs_rpc_respond_error(rpc, req, 500, "InternalError", "built-in endpoint %d unknown", (int)id);
}
