/*
 * Listener caps (net.h cs_listener_set_limits) on real sockets: clients from
 * 127.0.0.x source addresses, the per-address and total caps at and beyond
 * their value, slots freed when a connection's socket closes, the caps
 * applied before a TLS handshake starts, failed accepts (EMFILE) counted,
 * and refusals logged once per spell plus one summary, never per connection.
 */
#include "net_fixture.h"

#include "net/tcp.h"
#include "net/tls_stream.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_CLIENTS 64

/* A raw libuv client bound to a chosen source address; sees the server's close. */
typedef struct client {
    uv_tcp_t tcp;
    uv_connect_t req;
    bool connected, closed_by_server, handle_closed;
    struct world *w;
} client;

typedef struct world {
    uv_loop_t loop;
    cs_listener *listener;
    char addr[64];
    cs_stream *accepted[MAX_CLIENTS];
    size_t accepted_count;
    size_t server_closed; /* accepted streams whose on_close ran */
    client clients[MAX_CLIENTS];
    size_t client_count;
} world;

static void srv_close_cb(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    (void)msg;
    world *w = ctx;
    w->server_closed++;
    for (size_t i = 0; i < w->accepted_count; i++)
        if (w->accepted[i] == s)
            w->accepted[i] = NULL;
}

static void srv_data_cb(void *ctx, cs_stream *s, cs_slice data)
{
    (void)ctx;
    (void)s;
    (void)data;
}

static void on_accept(void *ctx, cs_stream *s)
{
    world *w = ctx;
    assert_true(w->accepted_count < MAX_CLIENTS);
    w->accepted[w->accepted_count++] = s;
    const cs_stream_cbs cbs = {.on_data = srv_data_cb, .on_close = srv_close_cb};
    cs_stream_set_cbs(s, &cbs, w);
}

static void client_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    (void)h;
    (void)n;
    static char b[256];
    *buf = uv_buf_init(b, sizeof b);
}

static void client_handle_closed(uv_handle_t *h)
{
    ((client *)h->data)->handle_closed = true;
}

static void client_read(uv_stream_t *h, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    client *c = h->data;
    if (n < 0) { /* EOF or reset: the server closed it */
        c->closed_by_server = true;
        uv_close((uv_handle_t *)&c->tcp, client_handle_closed);
    }
}

static void client_connected(uv_connect_t *req, int status)
{
    client *c = req->data;
    if (status != 0) {
        c->closed_by_server = true;
        uv_close((uv_handle_t *)&c->tcp, client_handle_closed);
        return;
    }
    c->connected = true;
    assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, client_alloc, client_read), 0);
}

/* Connects a client from `source` (e.g. "127.0.0.2"). */
static client *connect_from(world *w, const char *source)
{
    assert_true(w->client_count < MAX_CLIENTS);
    client *c = &w->clients[w->client_count++];
    memset(c, 0, sizeof *c);
    c->w = w;
    assert_int_equal(uv_tcp_init(&w->loop, &c->tcp), 0);
    c->tcp.data = c;
    c->req.data = c;
    struct sockaddr_in src, dst;
    assert_int_equal(uv_ip4_addr(source, 0, &src), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", cs_listener_port(w->listener), &dst), 0);
    assert_int_equal(uv_tcp_bind(&c->tcp, (const struct sockaddr *)&src, 0), 0);
    assert_int_equal(
        uv_tcp_connect(&c->req, &c->tcp, (const struct sockaddr *)&dst, client_connected), 0);
    return c;
}

typedef struct settle_args {
    world *w;
    size_t accepted, refused; /* wanted: accepted streams, clients closed by the server */
} settle_args;

static size_t refused_clients(const world *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->client_count; i++)
        n += w->clients[i].closed_by_server;
    return n;
}

static bool settled(void *ctx)
{
    settle_args *a = ctx;
    return a->w->accepted_count == a->accepted && refused_clients(a->w) == a->refused;
}

static void run_until_settled(world *w, size_t accepted, size_t refused)
{
    settle_args a = {w, accepted, refused};
    cst_run_until(&w->loop, 5000, settled, &a, "the listener to accept and refuse");
}

static void world_start(world *w, const cs_conn_limits *limits)
{
    memset(w, 0, sizeof *w);
    assert_int_equal(uv_loop_init(&w->loop), 0);
    cst_ok(cs_tcp_listen(&w->loop, "127.0.0.1:0", on_accept, w, &w->listener));
    if (limits != NULL)
        cs_listener_set_limits(w->listener, limits);
}

static void close_clients(world *w)
{
    for (size_t i = 0; i < w->client_count; i++)
        if (!uv_is_closing((uv_handle_t *)&w->clients[i].tcp))
            uv_close((uv_handle_t *)&w->clients[i].tcp, client_handle_closed);
}

static void world_finish(world *w)
{
    close_clients(w);
    for (size_t i = 0; i < w->accepted_count; i++)
        if (w->accepted[i] != NULL)
            cs_stream_close(w->accepted[i]);
    cs_listener_close(w->listener);
    cst_loop_finish(&w->loop);
}

static size_t count_lines(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void per_address_and_total_caps(void **state)
{
    (void)state;
    world w;
    const cs_conn_limits limits = {.max_total = 4, .max_per_address = 2};
    world_start(&w, &limits);
    cst_log_capture_start();
    /* 127.0.0.1: two at the cap, the third beyond it is closed at accept */
    for (int i = 0; i < 3; i++)
        connect_from(&w, "127.0.0.1");
    run_until_settled(&w, 2, 1);
    cs_listener_stats st;
    cs_listener_stats_get(w.listener, &st);
    assert_int_equal(st.open, 2);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.refused_address, 1);
    assert_int_equal(st.refused_total, 0);
    assert_int_equal(st.limits.max_total, 4);
    /* another address is served: up to the total cap */
    connect_from(&w, "127.0.0.2");
    connect_from(&w, "127.0.0.2");
    run_until_settled(&w, 4, 1);
    /* beyond the total cap, every address is refused, again and again */
    for (int i = 0; i < 20; i++)
        connect_from(&w, "127.0.0.3");
    run_until_settled(&w, 4, 21);
    cs_listener_stats_get(w.listener, &st);
    assert_int_equal(st.open, 4);
    assert_int_equal(st.refused_total, 20);
    /* one refusal line for the spell so far, none per connection */
    assert_int_equal(count_lines(cst_log_captured(), "refused a connection from 127.0.0.1:"), 1);
    assert_int_equal(count_lines(cst_log_captured(), "listener 127.0.0.1:"), 1);

    /* a connection closes: its slot is free once its socket is closed */
    cs_stream_close(w.accepted[0]);
    client *first = &w.clients[0];
    cst_run_until(&w.loop, 5000, cst_flag_set, &first->closed_by_server, "the client to see FIN");
    cst_run_until(&w.loop, 5000, cst_flag_set, &w.server_closed, "the server socket closed");
    cs_listener_stats_get(w.listener, &st);
    assert_int_equal(st.open, 3);
    connect_from(&w, "127.0.0.3");
    run_until_settled(&w, 5, 22);
    cs_listener_stats_get(w.listener, &st);
    assert_int_equal(st.open, 4);
    assert_int_equal(st.accepted, 5);

    /* closing the listener logs the summary of the spell: one line for the 20 */
    close_clients(&w);
    cs_listener *l = w.listener;
    w.listener = NULL;
    cs_listener_close(l);
    const char *log = cst_log_captured();
    assert_int_equal(count_lines(log, "listener 127.0.0.1:"), 2);
    assert_non_null(strstr(log, "refused 20 connections in the last 10 s (0 over the cap of 2 per "
                                "client address, 20 over the cap of 4 in all"));
    /* accepted streams outlive their listener; closing them releases the gate */
    for (size_t i = 0; i < w.accepted_count; i++)
        if (w.accepted[i] != NULL)
            cs_stream_close(w.accepted[i]);
    cst_log_capture_stop();
    cst_loop_finish(&w.loop);
}

/* Without caps nothing is refused; the counts still hold. */
static void no_caps(void **state)
{
    (void)state;
    world w;
    world_start(&w, NULL);
    for (int i = 0; i < 10; i++)
        connect_from(&w, "127.0.0.1");
    run_until_settled(&w, 10, 0);
    cs_listener_stats st;
    cs_listener_stats_get(w.listener, &st);
    assert_int_equal(st.open, 10);
    assert_int_equal(st.refused_address + st.refused_total, 0);
    world_finish(&w);
}

/* ---- TLS: a refused connection never starts a handshake ---- */

typedef struct tls_world {
    int delivered;
} tls_world;

static void tls_accept(void *ctx, cs_stream *s)
{
    ((tls_world *)ctx)->delivered++;
    cs_stream_close(s);
}

static void tls_connected(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    (void)msg;
    int *outcome = ctx;
    *outcome = err == CONSORT_OK ? 1 : 2;
    if (s != NULL)
        cs_stream_close(s);
}

static bool both_done(void *ctx)
{
    int *o = ctx;
    return o[0] != 0 && o[1] != 0;
}

static void tls_listener_caps(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cst_pki pki;
    cst_pki_init(&pki, "test CA");
    cs_key *key;
    cs_x509 *cert;
    cst_pki_issue(&pki, "server", -60, 3600, &key, &cert);
    const cs_tls_params sp = {.role = CS_TLS_SERVER, .key = key, .cert = cert};
    cs_x509 *const roots[] = {pki.ca};
    cs_tls_pinned pin = {.roots = roots, .root_count = 1};
    const cs_tls_params cp = {
        .role = CS_TLS_CLIENT, .verify = cs_tls_verify_pinned, .verify_ctx = &pin};
    cs_tls_config *scfg, *ccfg;
    cst_ok(cs_tls_config_new(&sp, &scfg));
    cst_ok(cs_tls_config_new(&cp, &ccfg));
    tls_world tw = {0};
    cs_listener *l;
    cst_ok(cs_tls_listen(&loop, "127.0.0.1:0", scfg, tls_accept, &tw, &l));
    cs_listener_set_limits(l, &(cs_conn_limits){.max_total = 1, .max_per_address = 1});
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cs_listener_port(l));
    /* the first client takes the only slot (its handshake runs until it is closed) */
    int outcome[2] = {0, 0};
    cst_ok(cs_tls_connect(&loop, addr, ccfg, tls_connected, &outcome[0]));
    cst_run_until(&loop, 5000, cst_flag_set, &outcome[0], "the first handshake");
    assert_int_equal(outcome[0], 1);
    /* the second is closed at accept: its handshake fails, the server saw nothing */
    cst_ok(cs_tls_connect(&loop, addr, ccfg, tls_connected, &outcome[1]));
    cst_run_until(&loop, 5000, both_done, outcome, "the second handshake to fail");
    assert_int_equal(outcome[1], 2);
    cs_listener_stats st;
    cs_listener_stats_get(l, &st);
    assert_true(st.refused_total + st.refused_address == 1);
    assert_int_equal(st.accepted, 1);
    assert_true(tw.delivered <= 1);
    cs_listener_close(l);
    cs_tls_config_free(scfg);
    cs_tls_config_free(ccfg);
    cs_x509_free(cert);
    cs_key_free(key);
    cst_pki_cleanup(&pki);
    cst_loop_finish(&loop);
}

/* ---- out of descriptors: the listener survives ---- */

static size_t open_fds(void)
{
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory itself */
}

static bool all_clients_closed(void *ctx)
{
    world *w = ctx;
    return refused_clients(w) == w->client_count;
}

/*
 * With no descriptor left, accept() fails (EMFILE); libuv then drops the
 * waiting connections through a descriptor it keeps in reserve, and reports
 * a failure (counted in accept_errors, logged like refusals) only if it
 * cannot. Either way nothing is delivered, the clients see their connections
 * close, and the listener accepts again once descriptors are free.
 */
static void out_of_descriptors(void **state)
{
    (void)state;
    world w;
    world_start(&w, NULL);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    cst_log_capture_start();
    /* fill the descriptor table, then free just enough for the clients' sockets:
     * the listener has none left to accept with */
    struct rlimit low = {.rlim_cur = open_fds() + 64, .rlim_max = saved.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fillers[80];
    size_t nfill = 0;
    while (nfill < 80 && (fillers[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        nfill++;
    assert_true(nfill > 5 && nfill < 80);
    for (int i = 0; i < 5; i++)
        close(fillers[--nfill]);
    for (int i = 0; i < 5; i++)
        connect_from(&w, "127.0.0.1");
    cst_run_until(&w.loop, 5000, all_clients_closed, &w, "the connections to be dropped");
    while (nfill > 0)
        close(fillers[--nfill]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_int_equal(w.accepted_count, 0);
    cs_listener_stats st;
    cs_listener_stats_get(w.listener, &st);
    assert_int_equal(st.open, 0);
    assert_true(count_lines(cst_log_captured(), "accept failed") <= 1);
    cst_log_capture_stop();
    /* descriptors are back: served again */
    connect_from(&w, "127.0.0.1");
    run_until_settled(&w, 1, 5);
    world_finish(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_address_and_total_caps),
        cmocka_unit_test(no_caps),
        cmocka_unit_test(tls_listener_caps),
        cmocka_unit_test(out_of_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
