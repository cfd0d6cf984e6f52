/*
 * A listener's gate (listen_gate.h): counts, caps, and refusals reported
 * without flooding the log.
 *
 * Reporting: a refusal or failed accept after a quiet spell is logged at
 * once and opens a window of CS_LISTEN_LOG_INTERVAL_MS; what happens in the
 * window is counted, and the timer at its end logs one summary line and
 * opens the next window, or, if nothing happened, ends the spell.
 */
#include "net/listen_gate.h"

#include "base/alloc.h"
#include "base/log.h"
#include "net/timer.h"

#include <inttypes.h>
#include <stdio.h>

/* What happened in the current window, not logged yet. */
typedef struct window {
    uint64_t refused_address, refused_total, accept_errors;
    int last_error; /* libuv error of the last failed accept */
    char last_peer[CS_NET_ADDRESS_MAX];
} window;

struct cs_listen_gate {
    cs_conn_table *table;
    cs_listener_stats stats; /* open is the table's total */
    int refs;
    cs_timer *timer; /* the window's end; NULL outside a spell or once closed */
    bool closed;
    uv_loop_t *loop;
    window w;
    char address[CS_NET_ADDRESS_MAX];
};

consort_err cs_listen_gate_new(uv_loop_t *loop, const char *address, cs_listen_gate **out)
{
    *out = NULL;
    cs_listen_gate *g = cs_calloc(1, sizeof *g);
    CS_ENSURE(g != NULL, CONSORT_E_NOMEM, "listener %s: out of memory", address);
    consort_err rc = cs_conn_table_new(&g->table);
    if (rc != CONSORT_OK) {
        cs_free(g);
        return rc;
    }
    g->loop = loop;
    g->refs = 1;
    snprintf(g->address, sizeof g->address, "%s", address);
    *out = g;
    return CONSORT_OK;
}

static void unref(cs_listen_gate *g)
{
    if (--g->refs > 0)
        return;
    cs_conn_table_free(g->table);
    cs_free(g);
}

static bool window_empty(const window *w)
{
    return w->refused_address + w->refused_total + w->accept_errors == 0;
}

static void log_summary(cs_listen_gate *g)
{
    const window *w = &g->w;
    const cs_conn_limits *lim = &g->stats.limits;
    char errors[160] = "";
    if (w->accept_errors > 0)
        snprintf(errors, sizeof errors, "; %" PRIu64 " accepts failed (last: %s)", w->accept_errors,
                 uv_strerror(w->last_error));
    cs_log_warn("net",
                "listener %s: refused %" PRIu64 " connections in the last %d s (%" PRIu64
                " over the cap of %zu per client address, %" PRIu64
                " over the cap of %zu in all; the last from %s; %zu open)%s",
                g->address, w->refused_address + w->refused_total, CS_LISTEN_LOG_INTERVAL_MS / 1000,
                w->refused_address, lim->max_per_address, w->refused_total, lim->max_total,
                w->last_peer[0] ? w->last_peer : "-", cs_conn_table_total(g->table), errors);
    g->w = (window){0};
}

static void window_end_cb(void *ctx)
{
    cs_listen_gate *g = ctx;
    if (window_empty(&g->w)) { /* quiet again: the next refusal is logged at once */
        cs_timer_free(g->timer);
        g->timer = NULL;
        return;
    }
    log_summary(g);
    cs_timer_start(g->timer, CS_LISTEN_LOG_INTERVAL_MS);
}

/* Counts the event in the window; the first of a spell is logged at once. */
static void report(cs_listen_gate *g, const char *what)
{
    if (g->closed || g->timer != NULL)
        return; /* counted in the window (or no longer reported) */
    cs_log_warn("net", "listener %s: %s; further refusals are summarised every %d s", g->address,
                what, CS_LISTEN_LOG_INTERVAL_MS / 1000);
    g->w = (window){0};
    if (cs_timer_new(g->loop, window_end_cb, g, &g->timer) != CONSORT_OK) {
        g->timer = NULL; /* no memory for a timer: the next one is logged at once too */
        return;
    }
    cs_timer_start(g->timer, CS_LISTEN_LOG_INTERVAL_MS);
}

void cs_listen_gate_close(cs_listen_gate *g)
{
    if (g->timer != NULL && !window_empty(&g->w))
        log_summary(g);
    cs_timer_free(g->timer);
    g->timer = NULL;
    g->closed = true;
    unref(g);
}

void cs_listen_gate_set_limits(cs_listen_gate *g, const cs_conn_limits *limits)
{
    g->stats.limits = *limits;
    cs_conn_table_set_limits(g->table, limits->max_total, limits->max_per_address);
}

void cs_listen_gate_stats(const cs_listen_gate *g, cs_listener_stats *out)
{
    *out = g->stats;
    out->open = cs_conn_table_total(g->table);
}

bool cs_listen_gate_admit(cs_listen_gate *g, const struct sockaddr *peer, const char *peer_text,
                          cs_conn_key *key)
{
    cs_conn_key_of(peer, key);
    cs_conn_verdict v = cs_conn_table_admit(g->table, key);
    if (v == CS_CONN_ADMITTED) {
        g->refs++;
        g->stats.accepted++;
        return true;
    }
    char what[256];
    if (v == CS_CONN_OVER_ADDRESS) {
        g->stats.refused_address++;
        g->w.refused_address++;
        snprintf(what, sizeof what,
                 "refused a connection from %s: its address holds %zu connections, the cap per "
                 "client address",
                 peer_text, cs_conn_table_count(g->table, key));
    } else {
        g->stats.refused_total++;
        g->w.refused_total++;
        snprintf(what, sizeof what, "refused a connection from %s: %s", peer_text,
                 v == CS_CONN_NO_MEMORY ? "no memory to count it" : "");
        if (v != CS_CONN_NO_MEMORY)
            snprintf(what, sizeof what,
                     "refused a connection from %s: %zu connections open, the cap in all",
                     peer_text, cs_conn_table_total(g->table));
    }
    snprintf(g->w.last_peer, sizeof g->w.last_peer, "%s", peer_text);
    report(g, what);
    return false;
}

void cs_listen_gate_release(cs_listen_gate *g, const cs_conn_key *key)
{
    cs_conn_table_release(g->table, key);
    unref(g);
}

void cs_listen_gate_accept_failed(cs_listen_gate *g, int uv_err)
{
    g->stats.accept_errors++;
    g->w.accept_errors++;
    g->w.last_error = uv_err;
    char what[160];
    snprintf(what, sizeof what, "accept failed: %s (%s)", uv_strerror(uv_err), uv_err_name(uv_err));
    report(g, what);
}
