/* The load of `consort bench` (cli_load.h). */
#include "cli_load.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "net/http_client.h"
#include "net/tls_stream.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define TICK_MS      1
#define GRACE_MS     2000 /* for connects still pending when the load failed */
#define PLACEHOLDER  "{n}"
#define N_DIGITS_MAX 20 /* of a uint64_t */
#define BODY_EXCERPT 120

typedef enum load_state {
    ST_CONNECTING,
    ST_WARMUP,
    ST_MEASURE,
    ST_DRAIN,
    ST_DONE,
} load_state;

typedef struct load_conn {
    struct load_run *run;
    cs_http_client *http;
    const char *address;
    unsigned inflight;
    bool dead;
} load_conn;

/* A request in flight: where it went, when it was sent (or due), which phase counts it. */
typedef struct load_req {
    load_conn *conn;
    uint64_t start_ns;
    bool measured;
    struct load_req *next_free;
} load_req;

typedef struct load_run {
    uv_loop_t loop;
    uv_timer_t phase; /* the deadline of the current state */
    uv_timer_t tick;  /* open loop: the pacing */
    const cs_cli_load_params *p;
    cs_cli_load_result *out;
    cs_tls_config *tls; /* a reference of our own */
    load_conn *conns;
    load_req *reqs, *free_reqs;
    unsigned depth; /* requests in flight per connection */
    unsigned connecting, connected, alive, rr;
    uint64_t inflight;
    load_state st;
    bool quiet; /* failed or stopped: answers still arriving are not counted */
    bool seen_2xx;
    uint64_t load_start_ns, measure_start_ns, measure_end_ns, last_answer_ns;
    uint64_t issued, k_measure, k_end; /* open loop: request k is due at start + k / rate */
    consort_err rc;                    /* why the load could not run */
    char why[CS_ERRMSG_MAX];
    cs_buf target, body;
} load_run;

static void note_error(load_run *run, const char *fmt, ...) CS_PRINTF(2, 3);
static void note_error(load_run *run, const char *fmt, ...)
{
    if (run->out->first_error[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->out->first_error, sizeof run->out->first_error, fmt, ap);
    va_end(ap);
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Ends the load: frees every client (their pending callbacks run now) and closes the timers. */
static void finish(load_run *run)
{
    if (run->st == ST_DONE)
        return;
    run->st = ST_DONE;
    uv_timer_stop(&run->phase);
    uv_timer_stop(&run->tick);
    for (unsigned i = 0; i < run->p->connections; i++) {
        cs_http_client *h = run->conns[i].http;
        run->conns[i].http = NULL;
        cs_http_client_free(h);
    }
    uv_close((uv_handle_t *)&run->phase, on_handle_closed);
    uv_close((uv_handle_t *)&run->tick, on_handle_closed);
}

/* The load could not run: `rc` and why (the first reason wins). */
static void fail(load_run *run, consort_err rc, const char *why)
{
    if (run->rc == CONSORT_OK) {
        run->rc = rc;
        snprintf(run->why, sizeof run->why, "%s", why);
    }
    run->quiet = true;
    finish(run);
}

/* `tmpl` with every {n} replaced by `n`, into `out`. */
static consort_err expand(const char *tmpl, uint64_t n, cs_buf *out)
{
    cs_buf_reset(out);
    for (const char *p = tmpl;;) {
        const char *at = strstr(p, PLACEHOLDER);
        if (at == NULL)
            return cs_buf_append(out, p, strlen(p));
        CS_TRY(cs_buf_append(out, p, (size_t)(at - p)));
        CS_TRY(cs_buf_printf(out, "%" PRIu64, n));
        p = at + strlen(PLACEHOLDER);
    }
}

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *resp);

/* Sends the next request on `c`, due at `start_ns`; false if it could not be sent. */
static bool issue(load_run *run, load_conn *c, uint64_t start_ns, bool measured)
{
    const cs_cli_load_params *p = run->p;
    uint64_t n = run->out->next_n;
    consort_err rc = expand(p->target, n, &run->target);
    if (rc == CONSORT_OK && p->body != NULL)
        rc = expand(p->body, n, &run->body);
    if (rc == CONSORT_OK) {
        rc = cs_buf_append_u8(&run->target, 0);
        run->target.len--; /* NUL-terminated for the client */
    }
    if (rc != CONSORT_OK) {
        fail(run, rc, consort_errmsg()); /* synchronous */
        return false;
    }
    load_req *r = run->free_reqs;
    const cs_http_header ctype[] = {{"Content-Type", p->content_type}};
    bool has_body = run->body.len > 0;
    rc = cs_http_client_request(c->http, p->method, (const char *)run->target.ptr,
                                has_body ? ctype : NULL, has_body ? 1 : 0, cs_buf_slice(&run->body),
                                on_response, r);
    if (rc != CONSORT_OK) {
        note_error(run, "request not sent to %s: %s", c->address, consort_errmsg());
        return false;
    }
    run->free_reqs = r->next_free;
    *r = (load_req){.conn = c, .start_ns = start_ns, .measured = measured};
    run->out->next_n++;
    (measured ? &run->out->measured : &run->out->warmup)->sent++;
    c->inflight++;
    run->inflight++;
    return true;
}

static bool can_take(const load_run *run, const load_conn *c)
{
    return !c->dead && c->http != NULL && c->inflight < run->depth &&
           cs_http_client_is_open(c->http);
}

static bool loading(const load_run *run)
{
    return run->st == ST_WARMUP || run->st == ST_MEASURE;
}

/* Closed loop: a request on `c` if it has none in flight. */
static void closed_loop_send(load_run *run, load_conn *c)
{
    if (run->p->rate == 0 && loading(run) && can_take(run, c))
        (void)issue(run, c, uv_hrtime(), run->st == ST_MEASURE);
}

/* Open loop: the next connection, round-robin, that can take a request, or NULL. */
static load_conn *next_conn(load_run *run)
{
    for (unsigned i = 0; i < run->p->connections; i++) {
        load_conn *c = &run->conns[run->rr];
        run->rr = (run->rr + 1) % run->p->connections;
        if (can_take(run, c))
            return c;
    }
    return NULL;
}

/* Open loop: sends every request due by now (all of the window's at its end) that
 * a connection can take; the rest stay due (their latency counts from when they were). */
static void send_due(load_run *run, bool window_over)
{
    if (!loading(run))
        return;
    double elapsed = (double)(uv_hrtime() - run->load_start_ns) * 1e-9;
    uint64_t due = (uint64_t)(run->p->rate * elapsed) + 1;
    if (due > run->k_end || window_over)
        due = run->k_end;
    while (run->issued < due && run->st != ST_DONE) {
        load_conn *c = next_conn(run);
        if (c == NULL)
            break;
        uint64_t at = run->load_start_ns + (uint64_t)((double)run->issued * 1e9 / run->p->rate);
        if (!issue(run, c, at, run->issued >= run->k_measure))
            break;
        run->issued++;
    }
}

static void on_tick(uv_timer_t *t)
{
    send_due(t->data, false);
}

static void on_phase_timer(uv_timer_t *t);

static void begin_measure(load_run *run)
{
    uv_update_time(&run->loop); /* the timer counts from now, not from the loop's last wake-up */
    run->st = ST_MEASURE;
    run->measure_start_ns = uv_hrtime();
    uv_timer_start(&run->phase, on_phase_timer, run->p->measure_ms, 0);
}

static void end_measure(load_run *run)
{
    if (run->p->rate > 0) {
        send_due(run, true); /* the last due requests, if a connection takes them */
        uv_timer_stop(&run->tick);
        uint64_t from = run->issued > run->k_measure ? run->issued : run->k_measure;
        run->out->unsent = run->k_end > from ? run->k_end - from : 0;
    }
    if (run->st == ST_DONE)
        return;
    run->measure_end_ns = uv_hrtime();
    run->st = ST_DRAIN;
    if (run->inflight == 0)
        finish(run);
    else
        uv_timer_start(&run->phase, on_phase_timer, run->p->drain_ms, 0);
}

static void on_phase_timer(uv_timer_t *t)
{
    load_run *run = t->data;
    char why[CS_ERRMSG_MAX];
    switch (run->st) {
    case ST_CONNECTING:
        snprintf(why, sizeof why, "%u of %u connections set up in %u ms", run->connected,
                 run->p->connections, run->p->connect_ms);
        fail(run, CONSORT_E_TIMEOUT, why);
        break;
    case ST_WARMUP:
        begin_measure(run);
        break;
    case ST_MEASURE:
        end_measure(run);
        break;
    case ST_DRAIN:
        note_error(run, "%" PRIu64 " requests had no answer %u ms after the end", run->inflight,
                   run->p->drain_ms);
        finish(run); /* they count as transport errors */
        break;
    case ST_DONE:
        break;
    }
}

static void start_load(load_run *run)
{
    const cs_cli_load_params *p = run->p;
    uv_update_time(&run->loop); /* the handshakes took time since the loop woke */
    run->load_start_ns = uv_hrtime();
    if (p->rate > 0) {
        run->k_measure = (uint64_t)(p->rate * p->warmup_ms / 1000.0);
        run->k_end = (uint64_t)(p->rate * (p->warmup_ms + p->measure_ms) / 1000.0);
        uv_timer_start(&run->tick, on_tick, 0, TICK_MS);
    }
    if (p->warmup_ms > 0) {
        run->st = ST_WARMUP;
        uv_timer_start(&run->phase, on_phase_timer, p->warmup_ms, 0);
    } else {
        begin_measure(run);
    }
    for (unsigned i = 0; i < p->connections && run->st != ST_DONE; i++)
        closed_loop_send(run, &run->conns[i]);
}

/* Counts a completion in the phase its request belongs to. */
static void count(load_run *run, const load_req *r, consort_err err, const char *msg,
                  const cs_http_response *resp, uint64_t now)
{
    cs_cli_load_result *out = run->out;
    cs_cli_load_counts *k = r->measured ? &out->measured : &out->warmup;
    if (err != CONSORT_OK) {
        k->transport++;
        note_error(run, "no answer from %s: %s", r->conn->address, msg);
        return;
    }
    k->answered++;
    int cls = resp->status / 100;
    k->status[cls >= 1 && cls <= 5 ? cls : 0]++;
    if (r->measured) {
        cs_hist_record(&out->latency, (now - r->start_ns) / 1000);
        run->last_answer_ns = now;
    }
    if (cls == 2) {
        run->seen_2xx = true;
        return;
    }
    char text[BODY_EXCERPT + 1];
    size_t n = resp->body.len < BODY_EXCERPT ? resp->body.len : BODY_EXCERPT;
    for (size_t i = 0; i < n; i++)
        text[i] =
            resp->body.ptr[i] >= 0x20 && resp->body.ptr[i] < 0x7f ? (char)resp->body.ptr[i] : '.';
    text[n] = '\0';
    note_error(run, "HTTP %d from %s: %s", resp->status, r->conn->address, text);
    if (resp->status == 404 && !run->seen_2xx) {
        out->not_found = true;
        run->quiet = true;
        finish(run);
    }
}

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    load_req *r = ctx;
    load_conn *c = r->conn;
    load_run *run = c->run;
    uint64_t now = uv_hrtime();
    c->inflight--;
    run->inflight--;
    if (!run->quiet)
        count(run, r, err, msg, resp, now);
    r->next_free = run->free_reqs;
    run->free_reqs = r;
    if (run->st == ST_DRAIN && run->inflight == 0)
        finish(run);
    else
        closed_loop_send(run, c);
}

static void on_conn_closed(void *ctx, consort_err reason, const char *msg)
{
    load_conn *c = ctx;
    load_run *run = c->run;
    c->dead = true;
    run->alive--;
    if (run->st == ST_DONE)
        return;
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "connection to %s ended: %s", c->address,
             reason != CONSORT_OK ? msg : "closed by the service");
    if (run->st == ST_CONNECTING) {
        fail(run, reason != CONSORT_OK ? reason : CONSORT_E_IO, why);
        return;
    }
    run->out->conns_lost++;
    note_error(run, "%s", why);
    if (run->alive == 0 && loading(run))
        end_measure(run); /* report what was measured */
}

static void on_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    load_conn *c = ctx;
    load_run *run = c->run;
    run->connecting--;
    if (run->st != ST_CONNECTING) {
        if (s != NULL)
            cs_stream_close(s);
        return;
    }
    char why[CS_ERRMSG_MAX];
    if (err != CONSORT_OK) {
        snprintf(why, sizeof why, "connecting to %s: %s", c->address, msg);
        fail(run, err, why);
        return;
    }
    const cs_http_client_params params = {.on_close = on_conn_closed, .ctx = c};
    if (cs_http_client_new(s, &params, &c->http) != CONSORT_OK) {
        fail(run, CONSORT_E_NOMEM, consort_errmsg()); /* synchronous */
        return;
    }
    run->alive++;
    if (++run->connected == run->p->connections)
        start_load(run);
}

/* The longest a template gets once every {n} is replaced. */
static size_t expanded_max(const char *tmpl)
{
    size_t len = 0;
    for (const char *p = tmpl; (p = strstr(p, PLACEHOLDER)) != NULL; p += strlen(PLACEHOLDER))
        len += N_DIGITS_MAX;
    return len + strlen(tmpl);
}

static consort_err check_params(const cs_cli_load_params *p)
{
    CS_ENSURE(p->address_count >= 1 && p->connections >= 1 && p->measure_ms >= 1 &&
                  p->tls != NULL && p->rate >= 0,
              CONSORT_E_INVALID_ARGUMENT, "load: no address, connection, time or TLS");
    CS_ENSURE(expanded_max(p->target) < CS_CLI_LOAD_TARGET_MAX, CONSORT_E_INVALID_ARGUMENT,
              "the target is longer than %u bytes", CS_CLI_LOAD_TARGET_MAX - 1);
    CS_ENSURE(p->body == NULL || expanded_max(p->body) <= CS_CLI_LOAD_BODY_MAX,
              CONSORT_E_INVALID_ARGUMENT, "the body is longer than %u bytes", CS_CLI_LOAD_BODY_MAX);
    return CONSORT_OK;
}

/*
 * Runs the loop until the load is over. If it failed while connections were
 * still being set up, those get GRACE_MS to end (a refused one ends at
 * once); false if one is still pending then: it is abandoned with the loop
 * (cli_load.h).
 */
static bool run_loop(load_run *run)
{
    uint64_t deadline = 0;
    for (;;) {
        bool stuck = run->st == ST_DONE && run->connecting > 0;
        if (stuck && deadline == 0)
            deadline = uv_hrtime() + (uint64_t)GRACE_MS * 1000000u;
        if (stuck && uv_hrtime() >= deadline)
            return false;
        if (uv_run(&run->loop, stuck ? UV_RUN_NOWAIT : UV_RUN_ONCE) == 0)
            return true;
        if (stuck) {
            const struct timespec ts = {0, 2 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

static consort_err start(load_run *run)
{
    const cs_cli_load_params *p = run->p;
    int uerr = uv_loop_init(&run->loop);
    CS_ENSURE(uerr == 0, CONSORT_E_IO, "uv_loop_init: %s", uv_strerror(uerr));
    uv_timer_init(&run->loop, &run->phase);
    uv_timer_init(&run->loop, &run->tick);
    run->phase.data = run;
    run->tick.data = run;
    run->st = ST_CONNECTING;
    uv_timer_start(&run->phase, on_phase_timer, p->connect_ms, 0);
    for (unsigned i = 0; i < p->connections; i++) {
        load_conn *c = &run->conns[i];
        c->run = run;
        c->address = p->addresses[i % p->address_count];
        consort_err rc = cs_tls_connect(&run->loop, c->address, run->tls, on_connect, c);
        if (rc != CONSORT_OK) {
            char why[CS_ERRMSG_MAX];
            snprintf(why, sizeof why, "connecting to %s: %s", c->address, consort_errmsg());
            fail(run, rc, why);
            break;
        }
        run->connecting++;
    }
    return CONSORT_OK;
}

consort_err cs_cli_load_run(const cs_cli_load_params *p, cs_cli_load_result *out)
{
    memset(out, 0, sizeof *out);
    out->next_n = p->first_n;
    CS_TRY(check_params(p));
    load_run *run = cs_calloc(1, sizeof *run);
    CS_ENSURE(run != NULL, CONSORT_E_NOMEM, "load: out of memory");
    run->p = p;
    run->out = out;
    run->depth = p->rate > 0 ? CS_CLI_LOAD_PIPELINE : 1;
    cs_buf_init(&run->target, CS_CLI_LOAD_TARGET_MAX);
    cs_buf_init(&run->body, CS_CLI_LOAD_BODY_MAX);
    run->conns = cs_calloc(p->connections, sizeof *run->conns);
    run->reqs = cs_calloc((size_t)p->connections * run->depth, sizeof *run->reqs);
    consort_err rc = CONSORT_OK;
    CS_ENSURE_GOTO(rc, run->conns != NULL && run->reqs != NULL, out_free, CONSORT_E_NOMEM,
                   "load: out of memory for %u connections", p->connections);
    for (size_t i = 0; i < (size_t)p->connections * run->depth; i++) {
        run->reqs[i].next_free = run->free_reqs;
        run->free_reqs = &run->reqs[i];
    }
    run->tls = cs_tls_config_ref(p->tls);
    CS_TRY_GOTO(rc, start(run), out_free);
    if (!run_loop(run))
        return cs_fail(run->rc, "%s", run->why); /* abandoned with its loop */
    uint64_t end =
        run->last_answer_ns > run->measure_end_ns ? run->last_answer_ns : run->measure_end_ns;
    if (run->measure_start_ns != 0 && end > run->measure_start_ns)
        out->seconds = (double)(end - run->measure_start_ns) * 1e-9;
    if (uv_loop_close(&run->loop) != 0 && run->rc == CONSORT_OK)
        rc = cs_fail(CONSORT_E_STATE, "load: handles left open on the loop");
    if (run->rc != CONSORT_OK)
        rc = cs_fail(run->rc, "%s", run->why);
out_free:
    cs_tls_config_free(run->tls);
    cs_buf_cleanup(&run->target);
    cs_buf_cleanup(&run->body);
    cs_free(run->reqs);
    cs_free(run->conns);
    cs_free(run);
    return rc;
}
