/*
 * Accounting of answers (rpc_priv.h, docs/observability.md): every answer
 * counted by its registered route and status class, the commit latency of
 * writes in a histogram, and the request log line. Plain increments per
 * answer; nothing is formatted for the log unless info is enabled, and
 * nothing for the metrics until they are scraped. The bottom of the rpc
 * files with rpc_respond.c, which calls it: it calls none of them.
 */
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

/* Upper bounds of the commit latency buckets, in seconds (Prometheus "le"). */
static const double commit_bounds[CS_RPC_LATENCY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

consort_err cs_rpc_account_init(cs_rpc *rpc)
{
    rpc_observe *o = &rpc->obs;
    o->routes = cs_rpc_route_count() + (rpc->app != NULL ? cs_app_endpoint_count(rpc->app) : 0);
    o->status = cs_calloc((o->routes + 1) * 5, sizeof *o->status);
    CS_ENSURE(o->status != NULL, CONSORT_E_NOMEM, "rpc: out of memory");
    return CONSORT_OK;
}

void cs_rpc_account_cleanup(cs_rpc *rpc)
{
    cs_free(rpc->obs.status);
    rpc->obs.status = NULL;
}

/* The method and path template of route `i` (< routes). */
static void route_name(const cs_rpc *rpc, size_t i, const char **method, const char **path)
{
    if (i < cs_rpc_route_count()) {
        const cs_rpc_route_info *r = cs_rpc_route_at(i);
        *method = r->method;
        *path = r->path;
        return;
    }
    const cs_app_endpoint *ep = cs_app_endpoint_at(rpc->app, i - cs_rpc_route_count());
    *method = ep->method;
    *path = ep->path;
}

void cs_rpc_account_answer(cs_rpc *rpc, const cs_http_request *req, int status,
                           const cs_http_header *headers, size_t count)
{
    const rpc_observe *o = &rpc->obs;
    size_t route = req->tag > 0 && req->tag <= o->routes ? req->tag - 1 : o->routes;
    if (o->status != NULL && status >= 100 && status <= 599 && status / 100 >= 1)
        o->status[route * 5 + (size_t)(status / 100) - 1]++;
    if (!CS_LOG_ENABLED(CS_LOG_INFO))
        return; /* nothing formatted below info */
    const char *method = req->method, *tmpl = "";
    if (route < o->routes)
        route_name(rpc, route, &method, &tmpl);
    const char *txid = cs_http_header_find(headers, count, CS_RPC_TXID_HEADER);
    char path[257]; /* the client's: capped */
    snprintf(path, sizeof path, "%s", req->path);
    const cs_log_field fields[] = {
        {"method", req->method, 0},
        {"path", path, 0},
        {"route", tmpl, 0},
        {"status", NULL, status},
        {"latency_ms", NULL, (double)(uv_hrtime() - req->received_ns) / 1e6},
        {"txid", txid, 0},
    };
    cs_log_fields(CS_LOG_INFO, "http", fields, txid != NULL ? 6 : 5, "request");
}

void cs_rpc_account_commit(cs_rpc *rpc, const cs_http_request *req)
{
    rpc_observe *o = &rpc->obs;
    uint64_t ns = uv_hrtime() - req->received_ns;
    size_t b = 0;
    while (b < CS_RPC_LATENCY_BUCKETS && (double)ns > commit_bounds[b] * 1e9)
        b++;
    o->commit_le[b]++;
    o->commit_count++;
    o->commit_sum_ns += ns;
}

consort_err cs_rpc_account_metrics(const cs_rpc *rpc, cs_buf *out)
{
    const rpc_observe *o = &rpc->obs;
    const char *id = cs_node_id(rpc->node);
    CS_TRY(cs_buf_printf(out, "# HELP consort_rpc_route_responses_total HTTP responses by "
                              "registered route (method, path template) and status class; "
                              "route \"\" for requests that matched none.\n"
                              "# TYPE consort_rpc_route_responses_total counter\n"));
    for (size_t r = 0; o->status != NULL && r <= o->routes; r++) {
        const char *method = "", *path = "";
        if (r < o->routes)
            route_name(rpc, r, &method, &path);
        for (int c = 1; c <= 5; c++) {
            uint64_t v = o->status[r * 5 + (size_t)c - 1];
            if (v != 0) /* series appear with their first answer */
                CS_TRY(cs_buf_printf(out,
                                     "consort_rpc_route_responses_total{node=\"%s\",method=\"%s\","
                                     "route=\"%s\",class=\"%dxx\"} %" PRIu64 "\n",
                                     id, method, path, c, v));
        }
    }
    CS_TRY(cs_buf_printf(out, "# HELP consort_rpc_write_commit_seconds Time from a write "
                              "request's arrival to its committed answer, on the node that "
                              "ran it.\n# TYPE consort_rpc_write_commit_seconds histogram\n"));
    uint64_t cumulative = 0;
    for (size_t b = 0; b < CS_RPC_LATENCY_BUCKETS; b++) {
        cumulative += o->commit_le[b];
        CS_TRY(cs_buf_printf(out,
                             "consort_rpc_write_commit_seconds_bucket{node=\"%s\",le=\"%g\"} "
                             "%" PRIu64 "\n",
                             id, commit_bounds[b], cumulative));
    }
    return cs_buf_printf(out,
                         "consort_rpc_write_commit_seconds_bucket{node=\"%s\",le=\"+Inf\"} %" PRIu64
                         "\nconsort_rpc_write_commit_seconds_sum{node=\"%s\"} %.9f\n"
                         "consort_rpc_write_commit_seconds_count{node=\"%s\"} %" PRIu64 "\n",
                         id, o->commit_count, id, (double)o->commit_sum_ns / 1e9, id,
                         o->commit_count);
}
