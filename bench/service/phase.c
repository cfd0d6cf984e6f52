/*
 * One phase: N connections (TLS or plain TCP, round-robin over the
 * target's addresses) on a fresh libuv loop, each keeping `depth` requests
 * in flight through the project's HTTP/1.1 client (src/net/http_client.h:
 * keep-alive, pipelined, responses matched in order). Closed loop: every
 * response sends the next request on its connection.
 *
 *   CONNECTING  every connection set up (TLS handshake done) or the phase
 *               fails (15 s)
 *   WARMUP      load runs, nothing is counted (warmup_s)
 *   MEASURE     completions are counted; latency = response callback time
 *               minus the time the request was handed to the client
 *   DRAIN       no new requests; wait (30 s at most) for those in flight
 *   DONE        clients freed; the loop runs until every stream has closed
 *
 * SVC_FILL instead writes ids 0 .. keys-1 once and counts everything.
 * The requests themselves and their counting are in traffic.c.
 */
#include "phase_priv.h"

#include "base/alloc.h"
#include "net/tcp.h"
#include "net/tls_stream.h"

#include <stdio.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 15000
#define DRAIN_TIMEOUT_MS   30000
#define FILL_TIMEOUT_MS    600000

void svc_phase_fail(svc_phase *ph, consort_err rc, const char *what)
{
    if (ph->rc == CONSORT_OK) {
        ph->rc = rc;
        snprintf(ph->why, sizeof ph->why, "%s", what);
    }
    svc_phase_finish(ph);
}

static void begin_measure(svc_phase *ph);
static void end_measure(svc_phase *ph);

static void on_timer(uv_timer_t *timer)
{
    svc_phase *ph = timer->data;
    switch (ph->st) {
    case SVC_ST_CONNECTING: {
        char what[128];
        snprintf(what, sizeof what, "%u of %u connections set up after %d ms", ph->connected,
                 ph->p->connections, CONNECT_TIMEOUT_MS);
        svc_phase_fail(ph, CONSORT_E_TIMEOUT, what);
        break;
    }
    case SVC_ST_WARMUP:
        begin_measure(ph);
        break;
    case SVC_ST_MEASURE:
        if (ph->w == SVC_FILL)
            svc_phase_fail(ph, CONSORT_E_TIMEOUT, "fill did not finish in time");
        else
            end_measure(ph);
        break;
    case SVC_ST_DRAIN:
        svc_phase_finish(ph);
        break;
    case SVC_ST_DONE:
        break;
    }
}

static void begin_measure(svc_phase *ph)
{
    ph->st = SVC_ST_MEASURE;
    ph->t0_ns = uv_hrtime();
    svc_cpu_sample(ph->t->pids, ph->t->pid_count, &ph->cpu0);
    uint64_t ms = ph->w == SVC_FILL ? FILL_TIMEOUT_MS : (uint64_t)(ph->p->seconds * 1000.0);
    uv_timer_start(&ph->timer, on_timer, ms, 0);
}

/* Closes the measured window: its length and the CPU used in it. */
static void record_window(svc_phase *ph)
{
    uint64_t t1 = uv_hrtime();
    svc_cpu cpu1;
    svc_cpu_sample(ph->t->pids, ph->t->pid_count, &cpu1);
    svc_result *out = ph->out;
    out->seconds = (double)(t1 - ph->t0_ns) * 1e-9;
    out->cpu.self_s = cpu1.self_s - ph->cpu0.self_s;
    out->cpu.servers_s = cpu1.servers_s - ph->cpu0.servers_s;
    out->cpu.servers_ok = cpu1.servers_ok && ph->cpu0.servers_ok;
    out->cpu.busy_s = cpu1.busy_s - ph->cpu0.busy_s;
    out->cpu.total_s = cpu1.total_s - ph->cpu0.total_s;
}

static void end_measure(svc_phase *ph)
{
    record_window(ph);
    ph->st = SVC_ST_DRAIN;
    if (ph->inflight == 0)
        svc_phase_finish(ph);
    else
        uv_timer_start(&ph->timer, on_timer, DRAIN_TIMEOUT_MS, 0);
}

static void start_load(svc_phase *ph)
{
    if (ph->w == SVC_FILL || ph->p->warmup_s <= 0) {
        begin_measure(ph);
    } else {
        ph->st = SVC_ST_WARMUP;
        uv_timer_start(&ph->timer, on_timer, (uint64_t)(ph->p->warmup_s * 1000.0), 0);
    }
    for (unsigned i = 0; i < ph->p->connections && ph->st != SVC_ST_DONE; i++)
        svc_traffic_fill(ph, &ph->conns[i]);
}

static void on_conn_closed(void *ctx, consort_err reason, const char *msg)
{
    svc_conn *c = ctx;
    svc_phase *ph = c->ph;
    c->dead = true;
    ph->alive--;
    if (ph->st == SVC_ST_DONE)
        return;
    if (ph->st == SVC_ST_WARMUP || ph->st == SVC_ST_MEASURE)
        ph->out->conns_lost++;
    svc_phase_note_error(ph, "connection to %s ended: %s", c->address,
                         reason != CONSORT_OK ? msg : "closed by the server");
    if (ph->alive == 0 && ph->st != SVC_ST_DRAIN) {
        if (ph->st == SVC_ST_MEASURE && ph->w != SVC_FILL)
            end_measure(ph); /* report what was measured */
        else
            svc_phase_fail(ph, CONSORT_E_IO, ph->out->first_error);
    } else if (ph->alive == 0) {
        svc_phase_finish(ph);
    }
}

static void on_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    svc_conn *c = ctx;
    svc_phase *ph = c->ph;
    if (ph->st != SVC_ST_CONNECTING) {
        if (s != NULL)
            cs_stream_close(s);
        return;
    }
    if (err != CONSORT_OK) {
        char what[CS_ERRMSG_MAX];
        snprintf(what, sizeof what, "connecting to %s: %s", c->address, msg);
        svc_phase_fail(ph, err, what);
        return;
    }
    const cs_http_client_params params = {.on_close = on_conn_closed, .ctx = c};
    if (cs_http_client_new(s, &params, &c->http) != CONSORT_OK) {
        svc_phase_fail(ph, CONSORT_E_NOMEM, consort_errmsg());
        return;
    }
    ph->alive++;
    if (++ph->connected == ph->p->connections)
        start_load(ph);
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
}

void svc_phase_finish(svc_phase *ph)
{
    if (ph->st == SVC_ST_DONE)
        return;
    if (ph->st == SVC_ST_MEASURE && ph->w == SVC_FILL)
        record_window(ph); /* the fill's time */
    ph->st = SVC_ST_DONE;
    uv_timer_stop(&ph->timer);
    for (unsigned i = 0; i < ph->p->connections; i++) {
        cs_http_client *h = ph->conns[i].http;
        ph->conns[i].http = NULL;
        cs_http_client_free(h);
    }
    if (!uv_is_closing((uv_handle_t *)&ph->timer))
        uv_close((uv_handle_t *)&ph->timer, on_timer_closed);
}

static consort_err start_connections(svc_phase *ph)
{
    for (unsigned i = 0; i < ph->p->connections; i++) {
        svc_conn *c = &ph->conns[i];
        c->ph = ph;
        c->address = ph->t->addresses[i % ph->t->address_count];
        for (unsigned k = 0; k < ph->p->depth; k++) {
            svc_slot *s = &ph->slots[(size_t)i * ph->p->depth + k];
            s->conn = c;
            s->next_free = c->free_slots;
            c->free_slots = s;
        }
        consort_err rc = ph->t->tls != NULL
                             ? cs_tls_connect(&ph->loop, c->address, ph->t->tls, on_connect, c)
                             : cs_tcp_connect(&ph->loop, c->address, on_connect, c);
        if (rc != CONSORT_OK)
            return cs_err_context(rc, "connecting to %s", c->address);
    }
    return CONSORT_OK;
}

consort_err svc_phase_run(svc_target *t, svc_workload w, const svc_params *p, svc_result *out)
{
    CS_ENSURE(p->connections >= 1 && p->depth >= 1 && t->address_count >= 1 &&
                  (w == SVC_WRITE || p->keys >= 1),
              CONSORT_E_INVALID_ARGUMENT, "phase: no connections, depth, addresses or keys");
    memset(out, 0, sizeof *out);
    svc_phase *ph = cs_calloc(1, sizeof *ph);
    CS_ENSURE(ph != NULL, CONSORT_E_NOMEM, "phase: out of memory");
    ph->t = t;
    ph->w = w;
    ph->p = p;
    ph->out = out;
    ph->rng = p->seed != 0 ? p->seed : 0x9e3779b97f4a7c15ull;
    svc_request_init(&ph->req);
    ph->conns = cs_calloc(p->connections, sizeof *ph->conns);
    ph->slots = cs_calloc((size_t)p->connections * p->depth, sizeof *ph->slots);
    consort_err rc = CONSORT_OK;
    CS_ENSURE_GOTO(rc, ph->conns != NULL && ph->slots != NULL, out_free, CONSORT_E_NOMEM,
                   "phase: out of memory");
    int uerr = uv_loop_init(&ph->loop);
    CS_ENSURE_GOTO(rc, uerr == 0, out_free, CONSORT_E_IO, "uv_loop_init: %s", uv_strerror(uerr));
    uv_timer_init(&ph->loop, &ph->timer);
    ph->timer.data = ph;
    ph->st = SVC_ST_CONNECTING;
    uv_timer_start(&ph->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
    rc = start_connections(ph);
    if (rc != CONSORT_OK)
        svc_phase_fail(ph, rc, consort_errmsg());
    uv_run(&ph->loop, UV_RUN_DEFAULT);
    uerr = uv_loop_close(&ph->loop);
    if (ph->rc != CONSORT_OK)
        rc = cs_fail(ph->rc, "%s %s: %s", t->name, svc_workload_name(w), ph->why);
    else if (uerr != 0)
        rc = cs_fail(CONSORT_E_STATE, "%s %s: handles left open on the loop", t->name,
                     svc_workload_name(w));
out_free:
    svc_request_cleanup(&ph->req);
    cs_free(ph->slots);
    cs_free(ph->conns);
    cs_free(ph);
    return rc;
}
