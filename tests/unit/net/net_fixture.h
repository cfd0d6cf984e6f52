/*
 * Shared by the net tests: running a libuv loop with a deadline, checking
 * that every handle was closed, and a small PKI (CA, server, client).
 * Header-only (static inline) because each test file is its own program.
 */
#ifndef CST_NET_FIXTURE_H
#define CST_NET_FIXTURE_H

#include "testutil.h"

#include "base/alloc.h"
#include "crypto/tls.h"
#include "crypto/x509.h"
#include "net/net.h"

#include <string.h>
#include <time.h>
#include <uv.h>

typedef bool (*cst_cond_fn)(void *ctx);

static inline void cst_deadline_cb(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs `loop` until cond(ctx) holds; fails the test after `ms` milliseconds. */
static inline void cst_run_until(uv_loop_t *loop, unsigned ms, cst_cond_fn cond, void *ctx,
                                 const char *what)
{
    bool expired = false;
    uv_timer_t deadline;
    assert_int_equal(uv_timer_init(loop, &deadline), 0);
    deadline.data = &expired;
    uv_update_time(loop); /* from now, not from when the loop last ran */
    assert_int_equal(uv_timer_start(&deadline, cst_deadline_cb, ms, 0), 0);
    while (!cond(ctx) && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    if (expired && !cond(ctx))
        fail_msg("timed out after %u ms waiting for: %s", ms, what);
}

static inline bool cst_flag_set(void *ctx)
{
    return *(bool *)ctx;
}

static inline bool cst_loop_idle(void *ctx)
{
    return !uv_loop_alive(ctx);
}

static inline void cst_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    print_error("handle still open: type %s, active %d\n", uv_handle_type_name(h->type),
                uv_is_active(h));
}

/* Runs the loop until nothing is left and closes it: every handle must be closed. */
static inline void cst_loop_finish(uv_loop_t *loop)
{
    bool expired = false;
    uv_timer_t deadline;
    assert_int_equal(uv_timer_init(loop, &deadline), 0);
    deadline.data = &expired;
    uv_update_time(loop);
    assert_int_equal(uv_timer_start(&deadline, cst_deadline_cb, 10000, 0), 0);
    uv_unref((uv_handle_t *)&deadline);
    while (uv_loop_alive(loop) && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    if (uv_loop_close(loop) != 0) {
        uv_walk(loop, cst_walk_cb, NULL);
        fail_msg("the loop still has open handles");
    }
}

/* A little PKI: a CA, and leaf certificates issued by it. */
typedef struct cst_pki {
    cs_key *ca_key;
    cs_x509 *ca;
    int64_t now;
} cst_pki;

static inline void cst_pki_init(cst_pki *p, const char *cn)
{
    p->now = (int64_t)time(NULL);
    cst_ok(cs_key_generate(CS_CURVE_P256, &p->ca_key));
    const cs_x509_params params = {
        .subject_cn = cn, .not_before = p->now - 3600, .not_after = p->now + 86400, .is_ca = true};
    cst_ok(cs_x509_create(&params, p->ca_key, p->ca_key, NULL, &p->ca));
}

static inline void cst_pki_cleanup(cst_pki *p)
{
    cs_x509_free(p->ca);
    cs_key_free(p->ca_key);
}

/* A fresh key and a certificate for it issued by the CA, valid [nb, na] relative to now. */
static inline void cst_pki_issue(const cst_pki *p, const char *cn, int64_t nb, int64_t na,
                                 cs_key **key, cs_x509 **cert)
{
    cst_ok(cs_key_generate(CS_CURVE_P256, key));
    static const char *const ips[] = {"127.0.0.1", NULL};
    const cs_x509_params params = {
        .subject_cn = cn, .not_before = p->now + nb, .not_after = p->now + na, .ips = ips};
    cst_ok(cs_x509_create(&params, *key, p->ca_key, p->ca, cert));
}

/* A self-signed certificate for `key` (as a node's identity before it is trusted). */
static inline void cst_self_signed(const cs_key *key, const char *cn, cs_x509 **cert)
{
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params params = {
        .subject_cn = cn, .not_before = now - 60, .not_after = now + 86400};
    cst_ok(cs_x509_create(&params, key, key, NULL, cert));
}

#endif
