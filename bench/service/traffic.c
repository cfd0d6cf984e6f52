/*
 * The traffic of a phase: which record each request names, sending it on
 * a connection through the project's HTTP client, and counting each
 * completion. Closed loop: every completion sends the next request on the
 * same connection. A completion in the measured window is a success (2xx,
 * and a read found its key: latency recorded), a non-2xx response, a read
 * without the key, or a request that ended without a response; failures
 * outside the window are counted apart. Nothing is dropped.
 */
#include "phase_priv.h"

#include <stdarg.h>
#include <stdio.h>

static const cs_http_header JSON_HEADERS[] = {{"Content-Type", "application/json"}};

static uint64_t next_random(svc_phase *ph)
{
    /* xorshift64* (Vigna): plenty for spreading reads over the keys */
    ph->rng ^= ph->rng >> 12;
    ph->rng ^= ph->rng << 25;
    ph->rng ^= ph->rng >> 27;
    return ph->rng * 2685821657736338717ull;
}

void svc_phase_note_error(svc_phase *ph, const char *fmt, ...)
{
    if (ph->out->first_error[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ph->out->first_error, sizeof ph->out->first_error, fmt, ap);
    va_end(ap);
}

static bool may_issue(const svc_phase *ph, const svc_conn *c)
{
    if (ph->st != SVC_ST_WARMUP && ph->st != SVC_ST_MEASURE)
        return false;
    if (c->dead || c->http == NULL || !cs_http_client_is_open(c->http))
        return false;
    return ph->w != SVC_FILL || ph->fill_next < ph->p->keys;
}

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *resp);

/* Sends one request on `c`; false if the connection cannot take it. */
static bool issue(svc_phase *ph, svc_conn *c)
{
    uint64_t id;
    if (ph->w == SVC_FILL)
        id = ph->fill_next++;
    else if (ph->w == SVC_WRITE)
        id = ph->t->next_write_id++;
    else
        id = next_random(ph) % ph->p->keys;
    consort_err rc = svc_request_build(&ph->req, ph->t->system, ph->w, id, ph->p->value_bytes);
    if (rc != CONSORT_OK) {
        svc_phase_fail(ph, rc, consort_errmsg());
        return false;
    }
    svc_slot *s = c->free_slots;
    c->free_slots = s->next_free;
    s->start_ns = uv_hrtime();
    bool post = ph->req.body.len > 0;
    rc = cs_http_client_request(c->http, ph->req.method, ph->req.target, post ? JSON_HEADERS : NULL,
                                post ? 1 : 0, cs_buf_slice(&ph->req.body), on_response, s);
    if (rc != CONSORT_OK) {
        s->next_free = c->free_slots;
        c->free_slots = s;
        if (ph->w == SVC_FILL)
            ph->fill_next--; /* another connection writes this id */
        if (ph->st == SVC_ST_MEASURE && ph->w != SVC_FILL)
            ph->out->transport++;
        svc_phase_note_error(ph, "request not sent to %s: %s", c->address, consort_errmsg());
        return false;
    }
    c->inflight++;
    ph->inflight++;
    return true;
}

void svc_traffic_fill(svc_phase *ph, svc_conn *c)
{
    while (c->inflight < ph->p->depth && may_issue(ph, c))
        if (!issue(ph, c))
            break;
}

/* Whether a response is a success: 2xx, and a read found its key. */
static bool succeeded(const svc_phase *ph, consort_err err, const cs_http_response *resp)
{
    return err == CONSORT_OK && resp->status / 100 == 2 &&
           svc_response_found(ph->t->system, ph->w, resp->body);
}

static void describe_failure(svc_phase *ph, svc_conn *c, consort_err err, const char *msg,
                             const cs_http_response *resp)
{
    if (err != CONSORT_OK) {
        svc_phase_note_error(ph, "no response from %s: %s", c->address, msg);
        return;
    }
    char text[100];
    size_t n = resp->body.len < sizeof text - 1 ? resp->body.len : sizeof text - 1;
    for (size_t i = 0; i < n; i++)
        text[i] =
            resp->body.ptr[i] >= 0x20 && resp->body.ptr[i] < 0x7f ? (char)resp->body.ptr[i] : '.';
    text[n] = '\0';
    svc_phase_note_error(ph, "HTTP %d%s from %s: %s", resp->status,
                         resp->status / 100 == 2 ? " without the key" : "", c->address, text);
}

/* Counts a completion inside the measured window. */
static void count_response(svc_phase *ph, svc_conn *c, consort_err err, const char *msg,
                           const cs_http_response *resp, uint64_t latency_ns)
{
    svc_result *out = ph->out;
    if (succeeded(ph, err, resp)) {
        out->ok++;
        out->status_counts[2]++;
        cs_hist_record(&out->hist, latency_ns / 1000);
        return;
    }
    describe_failure(ph, c, err, msg, resp);
    if (err != CONSORT_OK) {
        out->transport++;
        return;
    }
    int cls = resp->status / 100;
    out->status_counts[cls >= 1 && cls <= 5 ? cls : 0]++;
    if (cls == 2)
        out->misses++;
    else
        out->errors++;
}

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    svc_slot *s = ctx;
    svc_conn *c = s->conn;
    svc_phase *ph = c->ph;
    uint64_t now = uv_hrtime();
    s->next_free = c->free_slots;
    c->free_slots = s;
    c->inflight--;
    ph->inflight--;
    if (ph->st == SVC_ST_DONE)
        return; /* the clients are being freed */
    if (ph->st == SVC_ST_MEASURE) {
        count_response(ph, c, err, msg, resp, now - s->start_ns);
    } else if (!succeeded(ph, err, resp)) { /* warm-up or drain: not in the rates */
        ph->out->outside++;
        describe_failure(ph, c, err, msg, resp);
    }
    if (ph->w == SVC_FILL && ++ph->fill_done == ph->p->keys) {
        svc_phase_finish(ph);
        return;
    }
    if (ph->st == SVC_ST_DRAIN && ph->inflight == 0) {
        svc_phase_finish(ph);
        return;
    }
    svc_traffic_fill(ph, c);
}
