/*
 * Pausing and resuming reads (src/net/stream.h "Flow control") on the
 * in-process network's streams (loopnet_stream.c): the same contract as
 * TCP and TLS (tests/unit/net/pause_fixture.h), over a socketpair.
 */
#include "../net/pause_fixture.h"

#include "consensus/loopnet_priv.h"

#include <sys/socket.h>

static void make_pair(uv_loop_t *loop, cs_loopnet **net, cst_pause *p)
{
    memset(p, 0, sizeof *p);
    p->loop = loop;
    cst_ok(cs_loopnet_new(loop, net));
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    cs_stream *w, *r;
    cst_ok(cs_loopnet_stream_new(*net, fds[0], 1, 2, "node2", &w));
    cst_ok(cs_loopnet_stream_new(*net, fds[1], 2, 1, "node1", &r));
    cst_pause_attach_w(p, w);
    cst_pause_attach_r(p, r);
}

static bool net_idle(void *ctx)
{
    return cs_loopnet_busy(ctx) == 0;
}

static void finish(uv_loop_t *loop, cs_loopnet *net)
{
    cst_run_until(loop, 5000, net_idle, net, "every stream closed");
    cs_loopnet_free(net);
    cst_loop_finish(loop);
}

static void test_pause_resume(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cs_loopnet *net;
    cst_pause p;
    make_pair(&loop, &net, &p);
    cst_pause_check(&p);
    finish(&loop, net);
}

static void test_close_while_paused(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cs_loopnet *net;
    cst_pause p;
    make_pair(&loop, &net, &p);
    cst_pause_check_close_while_paused(&p);
    finish(&loop, net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_close_while_paused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
