/*
 * The HTTP server's deadlines (http_server.h), on real sockets with short
 * timeouts: a client sending a byte now and then is answered 408 at the
 * header deadline, or at the request deadline once its headers are in;
 * bytes never restart a deadline; a keep-alive connection is closed when it
 * has waited idle_timeout_ms for its next request, not before; a handler
 * working on a request is never cut; each ending is counted.
 */
#include "http_fixture.h"

#define HEADER_MS  200
#define REQUEST_MS 600
#define IDLE_MS    400
#define STEP_MS    40 /* a trickling client sends a byte this often */
/* How much later than its deadline a cut may come. Client and server share
 * one loop: when the process is descheduled (a loaded 2-core machine),
 * every timer is late, the server's too. A deadline that bytes restarted
 * would come far later still: the tests also count the bytes sent. */
#define SLACK_MS 1000

static const cs_http_server_params short_deadlines = {
    .header_timeout_ms = HEADER_MS, .request_timeout_ms = REQUEST_MS, .idle_timeout_ms = IDLE_MS};

/*
 * For the tests where a client must be served: deadlines far above what
 * the client needs. With the short ones, a stall of 80 ms cut a client that
 * was in time (1 run in 3 with two copies running): after a stall, the
 * client's timer and the server's deadline fire in the same pass of the
 * loop, before the server reads what the client just wrote.
 */
#define ROOMY_HEADER_MS  2000
#define ROOMY_REQUEST_MS 4000
#define ROOMY_IDLE_MS    2000
static const cs_http_server_params roomy_deadlines = {.header_timeout_ms = ROOMY_HEADER_MS,
                                                      .request_timeout_ms = ROOMY_REQUEST_MS,
                                                      .idle_timeout_ms = ROOMY_IDLE_MS};

/* A client that sends `prefix` at once, then `drip` one byte every STEP_MS,
 * then `then` (if any) in one go, and records when the server answered and
 * when it closed. */
typedef struct slow {
    cst_http *h;
    cs_stream *s;
    uv_timer_t timer;
    const char *prefix, *drip, *then;
    size_t dripped;
    cs_buf got;
    uint64_t start, first_byte, closed_at;
    bool closed, timer_closed;
} slow;

static void slow_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    slow *c = ctx;
    if (c->got.len == 0)
        c->first_byte = uv_now(&c->h->loop);
    cst_ok(cs_buf_append_slice(&c->got, data));
}

static void timer_closed_cb(uv_handle_t *h)
{
    ((slow *)h->data)->timer_closed = true;
}

static void slow_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    (void)msg;
    slow *c = ctx;
    c->closed = true;
    c->closed_at = uv_now(&c->h->loop);
    c->s = NULL;
    uv_close((uv_handle_t *)&c->timer, timer_closed_cb);
}

static void drip_cb(uv_timer_t *t)
{
    slow *c = t->data;
    if (c->s == NULL)
        return;
    if (c->drip[c->dripped] != '\0') {
        if (cs_stream_write(c->s, CS_SLICE(c->drip + c->dripped, 1)) == CONSORT_OK)
            c->dripped++;
        return;
    }
    if (c->then != NULL && cs_stream_write(c->s, cs_slice_str(c->then)) == CONSORT_OK)
        c->then = NULL;
}

static void slow_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    slow *c = ctx;
    cst_cb_ok(err, msg);
    c->s = s;
    const cs_stream_cbs cbs = {.on_data = slow_data, .on_close = slow_close};
    cs_stream_set_cbs(s, &cbs, c);
    c->start = uv_now(&c->h->loop);
    if (c->prefix[0] != '\0')
        cst_ok(cs_stream_write(s, cs_slice_str(c->prefix)));
    assert_int_equal(uv_timer_start(&c->timer, drip_cb, STEP_MS, STEP_MS), 0);
}

static bool slow_done(void *ctx)
{
    slow *c = ctx;
    return c->closed && c->timer_closed;
}

/* Runs a slow client to the server's close; the reply is NUL-terminated. */
static void run_slow(cst_http *h, slow *c, const char *prefix, const char *drip, const char *then)
{
    memset(c, 0, sizeof *c);
    c->h = h;
    c->prefix = prefix;
    c->drip = drip;
    c->then = then;
    cs_buf_init(&c->got, 0);
    assert_int_equal(uv_timer_init(&h->loop, &c->timer), 0);
    c->timer.data = c;
    cst_ok(cs_tcp_connect(&h->loop, h->addr, slow_connect, c));
    cst_run_until(&h->loop, 10000, slow_done, c, "the server to close the slow client");
    cst_ok(cs_buf_append_u8(&c->got, 0));
}

static void assert_cut_at(uint64_t elapsed, uint64_t deadline)
{
    if (elapsed + 5 < deadline || elapsed > deadline + SLACK_MS)
        fail_msg("cut after %llu ms, the deadline is %llu ms", (unsigned long long)elapsed,
                 (unsigned long long)deadline);
}

static cs_http_server_stats stats_of(const cst_http *h)
{
    cs_http_server_stats st;
    cs_http_server_stats_get(h->server, &st);
    return st;
}

/* One byte of a header section every 40 ms: 408 at 200 ms, then closed. */
static void slow_headers_get_408(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, short_deadlines);
    slow c;
    run_slow(&h, &c, "GET /x HTTP/1.1\r\n",
             "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             NULL);
    const char *got = (const char *)c.got.ptr;
    assert_non_null(strstr(got, "HTTP/1.1 408 Request Timeout\r\n"));
    assert_non_null(strstr(got, "Connection: close\r\n"));
    assert_non_null(strstr(got, "\"code\":\"RequestTimeout\""));
    assert_non_null(strstr(got, "header section was not complete within 200 ms"));
    assert_cut_at(c.first_byte - c.start, HEADER_MS);
    /* the header section was far from complete (78 bytes): a deadline that
     * bytes restarted would have waited for all of them */
    assert_true(c.dripped < 40);
    assert_int_equal(h.requests_seen, 0);
    assert_int_equal(stats_of(&h).header_timeouts, 1);
    cs_buf_cleanup(&c.got);
    cst_http_stop(&h);
}

/* The headers at once, the body a byte every 40 ms: 408 at 600 ms. */
static void slow_body_gets_408(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, short_deadlines);
    slow c;
    run_slow(&h, &c, "POST /x HTTP/1.1\r\nContent-Length: 64\r\n\r\n",
             "0123456789012345678901234567890123456789012345678901234567890123", NULL);
    assert_non_null(strstr((const char *)c.got.ptr, "HTTP/1.1 408 Request Timeout\r\n"));
    assert_non_null(strstr((const char *)c.got.ptr, "request was not complete within 600 ms"));
    assert_cut_at(c.first_byte - c.start, REQUEST_MS);
    assert_true(c.dripped < 48); /* of 64: bytes did not restart it */
    assert_int_equal(h.requests_seen, 0);
    cs_http_server_stats st = stats_of(&h);
    assert_int_equal(st.request_timeouts, 1);
    assert_int_equal(st.header_timeouts, 0);
    cs_buf_cleanup(&c.got);
    cst_http_stop(&h);
}

/* A slow client inside both deadlines is served: bytes that trickle do not
 * count against it (that the deadlines are not early is checked above: no
 * cut before its deadline). */
static void slow_but_in_time_is_served(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, roomy_deadlines);
    slow c;
    /* 3 header bytes (120 ms) then the rest of the headers; the body drips 8 bytes (~320 ms) */
    run_slow(&h, &c, "POST /in-time HTTP/1.1\r\nContent-Length: 8\r\nX", "abc",
             ": y\r\nConnection: close\r\n\r\n01234567");
    assert_non_null(strstr((const char *)c.got.ptr, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr((const char *)c.got.ptr, "POST /in-time  01234567"));
    assert_int_equal(h.requests_seen, 1);
    cs_http_server_stats st = stats_of(&h);
    assert_int_equal(st.header_timeouts + st.request_timeouts, 0);
    cs_buf_cleanup(&c.got);
    cst_http_stop(&h);
}

/* Answered, then silent: closed at the idle deadline after the answer, without a 408. */
static void idle_after_answer_closed(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, short_deadlines);
    slow c;
    run_slow(&h, &c, "GET /one HTTP/1.1\r\n\r\n", "", NULL);
    const char *got = (const char *)c.got.ptr;
    assert_non_null(strstr(got, "HTTP/1.1 200 OK\r\n"));
    assert_null(strstr(got, "408"));
    assert_cut_at(c.closed_at - c.first_byte, IDLE_MS);
    cs_http_server_stats st = stats_of(&h);
    assert_int_equal(st.idle_timeouts, 1);
    assert_int_equal(st.header_timeouts + st.request_timeouts, 0);
    cs_buf_cleanup(&c.got);
    cst_http_stop(&h);
}

/* A new connection that sends nothing: closed at the header deadline (shorter
 * than idle), silently. */
static void silent_new_connection_closed(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, short_deadlines);
    slow c;
    run_slow(&h, &c, "", "", NULL);
    assert_int_equal(c.got.len, 1); /* our NUL: nothing was sent */
    assert_cut_at(c.closed_at - c.start, HEADER_MS);
    assert_int_equal(stats_of(&h).idle_timeouts, 1);
    cs_buf_cleanup(&c.got);
    cst_http_stop(&h);
}

/* ---- keep-alive: requests every 150 ms for 1.5 s are all served (idle 2 s:
 * with 400 ms, a stall of 250 ms cut it, as above) ---- */

typedef struct keeper {
    cst_http *h;
    cs_stream *s;
    uv_timer_t timer;
    int sent, answered;
    bool closed, timer_closed;
} keeper;

static void keeper_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    keeper *k = ctx;
    for (size_t i = 0; i + 4 < data.len; i++) /* each answer is one short segment here */
        if (memcmp(data.ptr + i, "HTTP", 4) == 0)
            k->answered++;
}

static void keeper_timer_closed(uv_handle_t *h)
{
    ((keeper *)h->data)->timer_closed = true;
}

static void keeper_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    (void)msg;
    keeper *k = ctx;
    k->closed = true;
    k->s = NULL;
    if (!uv_is_closing((uv_handle_t *)&k->timer))
        uv_close((uv_handle_t *)&k->timer, keeper_timer_closed);
}

static void keeper_tick(uv_timer_t *t)
{
    keeper *k = t->data;
    if (k->s == NULL)
        return;
    if (k->sent == 10) {
        uv_close((uv_handle_t *)&k->timer, keeper_timer_closed);
        cs_stream_close(k->s);
        return;
    }
    cst_ok(cs_stream_write(k->s, CS_SLICE_LIT("GET /k HTTP/1.1\r\n\r\n")));
    k->sent++;
}

static void keeper_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    keeper *k = ctx;
    cst_cb_ok(err, msg);
    k->s = s;
    const cs_stream_cbs cbs = {.on_data = keeper_data, .on_close = keeper_close};
    cs_stream_set_cbs(s, &cbs, k);
    assert_int_equal(uv_timer_start(&k->timer, keeper_tick, 1, 150), 0);
}

static bool keeper_done(void *ctx)
{
    keeper *k = ctx;
    return k->closed && k->timer_closed;
}

static void keepalive_with_pauses_not_cut(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, roomy_deadlines);
    keeper k = {.h = &h};
    assert_int_equal(uv_timer_init(&h.loop, &k.timer), 0);
    k.timer.data = &k;
    cst_ok(cs_tcp_connect(&h.loop, h.addr, keeper_connect, &k));
    cst_run_until(&h.loop, 10000, keeper_done, &k, "ten requests");
    assert_int_equal(k.sent, 10);
    assert_int_equal(k.answered, 10);
    cs_http_server_stats st = stats_of(&h);
    assert_int_equal(st.idle_timeouts + st.header_timeouts + st.request_timeouts, 0);
    cst_http_stop(&h);
}

/* ---- a handler working longer than every deadline: nothing is cut ---- */

static void answer_held_cb(uv_timer_t *t)
{
    cst_http *h = t->data;
    assert_int_equal(h->held_count, 1);
    cst_http_echo(h->held[0]);
    uv_close((uv_handle_t *)t, NULL);
}

static void slow_handler_not_cut(void **state)
{
    (void)state;
    cst_http h;
    cst_http_start(&h, short_deadlines);
    h.hold = true;
    uv_timer_t answer;
    assert_int_equal(uv_timer_init(&h.loop, &answer), 0);
    answer.data = &h;
    assert_int_equal(uv_timer_start(&answer, answer_held_cb, 3 * REQUEST_MS, 0), 0);
    slow c;
    run_slow(&h, &c, "GET /held HTTP/1.1\r\n\r\n", "", NULL);
    assert_non_null(strstr((const char *)c.got.ptr, "HTTP/1.1 200 OK\r\n"));
    assert_true(c.first_byte - c.start >= 3 * REQUEST_MS - 5);
    /* then the idle wait starts from the answer */
    assert_cut_at(c.closed_at - c.first_byte, IDLE_MS);
    cs_http_server_stats st = stats_of(&h);
    assert_int_equal(st.header_timeouts + st.request_timeouts, 0);
    assert_int_equal(st.idle_timeouts, 1);
    cs_buf_cleanup(&c.got);
    cst_http_stop(&h);
}

static bool wall_300ms_passed(void *ctx)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const struct timespec *t0 = ctx;
    return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000 >= 300;
}

/* cst_run_until's deadline counts from the call, not from when the loop
 * last ran (a stale clock made deadlines expire early after work done
 * without the loop). */
static void fixture_deadline_counts_from_now(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* the loop's clock is read here... */
    struct timespec busy = {0, 900 * 1000 * 1000}, t0;
    nanosleep(&busy, NULL); /* ...then work without the loop */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cst_run_until(&loop, 1000, wall_300ms_passed, &t0, "300 ms of a 1000 ms deadline");
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_deadline_counts_from_now),
        cmocka_unit_test(slow_headers_get_408),
        cmocka_unit_test(slow_body_gets_408),
        cmocka_unit_test(slow_but_in_time_is_served),
        cmocka_unit_test(idle_after_answer_closed),
        cmocka_unit_test(silent_new_connection_closed),
        cmocka_unit_test(keepalive_with_pauses_not_cut),
        cmocka_unit_test(slow_handler_not_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
