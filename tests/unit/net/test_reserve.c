/*
 * Addresses bound at start (net/reserve.h): port 0 binds a free port once;
 * the port is held (a plain bind of it fails, a client is refused) until the
 * first listener on the bound address takes the socket over, which then
 * accepts connections on that very port; the host is kept as given; a
 * second reservation of an address, a full table and bad addresses fail
 * with their own errors; release closes what no listener took.
 */
#include "net_fixture.h"

#include "net/reserve.h"
#include "net/tcp.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned port_of(const char *address)
{
    const char *colon = strrchr(address, ':');
    assert_non_null(colon);
    return (unsigned)strtoul(colon + 1, NULL, 10);
}

/* errno of a plain bind (no SO_REUSEADDR) of 127.0.0.1:port; 0 if it bound. */
static int plain_bind_errno(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    close(fd);
    return err;
}

/* errno of a blocking connect to 127.0.0.1:port; 0 if it connected. */
static int connect_errno(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    close(fd);
    return err;
}

static void count_accept(void *ctx, cs_stream *s)
{
    (*(int *)ctx)++;
    cs_stream_close(s);
}

static bool accepted_one(void *ctx)
{
    return *(int *)ctx > 0;
}

static void reserve_then_listen_on_the_same_port(void **state)
{
    (void)state;
    char bound[CS_NET_ADDRESS_MAX];
    cst_ok(cs_net_reserve("127.0.0.1:0", bound));
    unsigned port = port_of(bound);
    assert_true(port > 0);
    char want[CS_NET_ADDRESS_MAX];
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    assert_string_equal(bound, want);
    /* held, not listening: another bind fails, a client is refused */
    assert_int_equal(plain_bind_errno(port), EADDRINUSE);
    assert_int_equal(connect_errno(port), ECONNREFUSED);
    cst_fails(cs_net_reserve(bound, want), CONSORT_E_IO);
    assert_non_null(strstr(consort_errmsg(), "reserved already"));

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int accepted = 0;
    cs_listener *l = NULL;
    cst_ok(cs_tcp_listen(&loop, bound, count_accept, &accepted, &l));
    assert_int_equal(cs_listener_port(l), port);
    assert_string_equal(cs_listener_address(l), bound);
    assert_int_equal(connect_errno(port), 0); /* the kernel queues it: the loop accepts below */
    cst_run_until(&loop, 5000, accepted_one, &accepted, "accepted on the reserved port");
    /* taken: nothing left to take or release */
    struct sockaddr_storage ss;
    cst_ok(cs_net_parse_address(bound, &ss));
    assert_int_equal(cs_net_reserved_take((const struct sockaddr *)&ss), -1);
    cs_listener_close(l);
    cst_loop_finish(&loop);
    assert_int_equal(plain_bind_errno(port), 0); /* the listener's close freed the port */
}

static void reserve_keeps_the_host_as_given(void **state)
{
    (void)state;
    char bound[CS_NET_ADDRESS_MAX];
    cst_ok(cs_net_reserve("localhost:0", bound));
    assert_int_equal(strncmp(bound, "localhost:", 10), 0);
    unsigned port = port_of(bound);
    assert_true(port > 0);
    /* a listener on the same socket address under its numeric name takes it too */
    char numeric[CS_NET_ADDRESS_MAX];
    snprintf(numeric, sizeof numeric, "127.0.0.1:%u", port);
    struct sockaddr_storage ss;
    cst_ok(cs_net_parse_address(numeric, &ss));
    int fd = cs_net_reserved_take((const struct sockaddr *)&ss);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(plain_bind_errno(port), 0);
}

static void release_closes_what_no_listener_took(void **state)
{
    (void)state;
    char bound[CS_NET_ADDRESS_MAX];
    cst_ok(cs_net_reserve("127.0.0.1:0", bound));
    unsigned port = port_of(bound);
    assert_int_equal(plain_bind_errno(port), EADDRINUSE);
    cs_net_reserved_release();
    assert_int_equal(plain_bind_errno(port), 0);
    struct sockaddr_storage ss;
    cst_ok(cs_net_parse_address(bound, &ss));
    assert_int_equal(cs_net_reserved_take((const struct sockaddr *)&ss), -1);
}

static void reserve_errors(void **state)
{
    (void)state;
    char bound[CS_NET_ADDRESS_MAX];
    cst_fails(cs_net_reserve("127.0.0.1", bound), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_net_reserve("example.org:0", bound), CONSORT_E_INVALID_ARGUMENT);
    /* the table holds CS_NET_RESERVED_MAX */
    for (int i = 0; i < CS_NET_RESERVED_MAX; i++)
        cst_ok(cs_net_reserve("127.0.0.1:0", bound));
    cst_fails(cs_net_reserve("127.0.0.1:0", bound), CONSORT_E_BUSY);
    cs_net_reserved_release();
    cst_ok(cs_net_reserve("127.0.0.1:0", bound)); /* released slots are used again */
    cs_net_reserved_release();
}

typedef struct holder {
    int fd;
    unsigned ms;
} holder;

static void *close_later(void *arg)
{
    holder *h = arg;
    struct timespec ts = {(time_t)(h->ms / 1000), (long)(h->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    close(h->fd);
    return NULL;
}

/* A listening socket on a free loopback port; the port in *port. */
static int listening(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A port a process that is exiting still holds (a restart right after kill -9:
 * its threads may still be closing its files) is waited for, a bounded time.
 * Regression: consortd restarted at once after kill -9 failed "bind: Address
 * already in use" (integration/test_code_id).
 */
static void reserve_waits_for_a_port_being_released(void **state)
{
    (void)state;
    unsigned port;
    holder h = {.fd = listening(&port), .ms = 300};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, close_later, &h), 0);
    char addr[CS_NET_ADDRESS_MAX], bound[CS_NET_ADDRESS_MAX];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    int64_t t0 = now_ms();
    cst_ok(cs_net_reserve(addr, bound));
    assert_true(now_ms() - t0 >= 250);
    assert_string_equal(bound, addr);
    assert_int_equal(pthread_join(t, NULL), 0);
    cs_net_reserved_release();
    /* held for longer than CS_NET_RESERVE_WAIT_MS: the error says so */
    int fd = listening(&port);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    t0 = now_ms();
    cst_fails(cs_net_reserve(addr, bound), CONSORT_E_IO);
    assert_true(now_ms() - t0 >= CS_NET_RESERVE_WAIT_MS - 100);
    assert_non_null(strstr(consort_errmsg(), "Address already in use"));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reserve_then_listen_on_the_same_port),
        cmocka_unit_test(reserve_keeps_the_host_as_given),
        cmocka_unit_test(release_closes_what_no_listener_took),
        cmocka_unit_test(reserve_errors),
        cmocka_unit_test(reserve_waits_for_a_port_being_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
