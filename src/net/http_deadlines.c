/*
 * The HTTP server's deadlines (http_server.c "Deadlines"): one timer per
 * connection, armed for the nearest deadline of its state; a request that
 * is not complete in time is answered 408 and the connection closed; an
 * idle connection, or one that does not read its answers, is closed.
 */
#include "net/http_conn.h"

#include "base/log.h"
#include "net/timer.h"

#include <stdio.h>

/* How long a connection may wait for a request's first byte: idle_timeout_ms,
 * or header_timeout_ms if shorter for a new connection, which is expected to
 * send its request at once. */
static uint64_t idle_wait(const http_conn *c)
{
    const cs_http_server_params *p = &c->srv->params;
    if (c->fresh && p->header_timeout_ms < p->idle_timeout_ms)
        return p->header_timeout_ms;
    return p->idle_timeout_ms;
}

/* Arms the timer for the nearest deadline of the connection's state, or stops it. */
void cs_http_conn_rearm(http_conn *c)
{
    if (c->deadline == NULL)
        return;
    if (c->srv == NULL || c->closing || c->timed_out) {
        cs_timer_stop(c->deadline);
        return;
    }
    const cs_http_server_params *p = &c->srv->params;
    uint64_t now = uv_now(c->srv->loop);
    uint64_t due;
    if (c->output_blocked) { /* the client must read its answers within the idle wait */
        c->idle = false;
        due = c->blocked_since + p->idle_timeout_ms;
    } else if (c->in_request) {
        c->idle = false;
        due = c->req_start + p->request_timeout_ms;
        if (!c->headers_done && c->req_start + p->header_timeout_ms < due)
            due = c->req_start + p->header_timeout_ms;
    } else if (c->outstanding == 0 && c->pending.len == 0) {
        if (!c->idle) {
            c->idle = true;
            c->idle_since = now;
        }
        due = c->idle_since + idle_wait(c);
    } else { /* handlers are working on its requests */
        c->idle = false;
        cs_timer_stop(c->deadline);
        return;
    }
    cs_timer_start(c->deadline, due > now ? due - now : 0);
}

void cs_http_conn_deadline_cb(void *ctx)
{
    http_conn *c = ctx;
    if (c->srv == NULL || c->closing || c->timed_out)
        return;
    const cs_http_server_params *p = &c->srv->params;
    uint64_t now = uv_now(c->srv->loop);
    char msg[160];
    if (c->in_request && !c->headers_done && now >= c->req_start + p->header_timeout_ms) {
        c->srv->stats.header_timeouts++;
        snprintf(msg, sizeof msg, "the request header section was not complete within %llu ms",
                 (unsigned long long)p->header_timeout_ms);
    } else if (c->in_request && now >= c->req_start + p->request_timeout_ms) {
        c->srv->stats.request_timeouts++;
        snprintf(msg, sizeof msg, "the request was not complete within %llu ms",
                 (unsigned long long)p->request_timeout_ms);
    } else if (c->output_blocked && now >= c->blocked_since + p->idle_timeout_ms) {
        c->srv->stats.idle_timeouts++;
        cs_log_debug("net", "HTTP %s: did not read its answers for %llu ms, closing", c->peer,
                     (unsigned long long)p->idle_timeout_ms);
        cs_http_conn_close(c);
        return;
    } else if (!c->in_request && c->idle && now >= c->idle_since + idle_wait(c)) {
        c->srv->stats.idle_timeouts++;
        cs_log_debug("net", "HTTP %s: idle for %llu ms, closing", c->peer,
                     (unsigned long long)idle_wait(c));
        cs_http_conn_close(c);
        return;
    } else {
        cs_http_conn_rearm(c);
        return;
    }
    /* RFC 9110 §15.5.9: 408, then close; debug level, as a flood of these must not flood the log */
    c->timed_out = true;
    cs_http_conn_queue_error(c, 408, msg, CS_LOG_DEBUG);
}
