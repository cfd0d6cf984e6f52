/*
 * In-process nodes for the node tests: a temporary directory with one
 * virtual platform shared by every node (one "host"), configurations on
 * free loopback ports, start/stop helpers that run the loop, and a
 * transaction function writing one private and one public record.
 */
#ifndef CST_NODE_FIXTURE_H
#define CST_NODE_FIXTURE_H

#include "testutil.h"

#include "attest/virtual.h"
#include "base/file.h"
#include "net/reserve.h"
#include "node/node.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

typedef bool (*tn_cond_fn)(void *ctx);

static inline void tn_deadline_cb(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop until cond(ctx) or `ms` pass; fails the test on time-out. */
static inline void tn_run_until(uv_loop_t *loop, unsigned ms, tn_cond_fn cond, void *ctx,
                                const char *what)
{
    bool expired = false;
    uv_timer_t deadline;
    assert_int_equal(uv_timer_init(loop, &deadline), 0);
    deadline.data = &expired;
    uv_update_time(loop); /* from now, not from when the loop last ran */
    assert_int_equal(uv_timer_start(&deadline, tn_deadline_cb, ms, 0), 0);
    while (!cond(ctx) && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    if (!cond(ctx))
        fail_msg("timed out after %u ms waiting for: %s", ms, what);
}

static inline bool tn_false(void *ctx)
{
    (void)ctx;
    return false;
}

/* Runs the loop for `ms` milliseconds. */
static inline void tn_run_for(uv_loop_t *loop, unsigned ms)
{
    bool expired = false;
    uv_timer_t deadline;
    assert_int_equal(uv_timer_init(loop, &deadline), 0);
    deadline.data = &expired;
    uv_update_time(loop);
    assert_int_equal(uv_timer_start(&deadline, tn_deadline_cb, ms, 0), 0);
    while (!expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    (void)tn_false;
}

/* A loopback port bound now and held until a listener of this process takes it
 * (net/reserve.h): never released for someone else to take first. */
static inline unsigned tn_reserved_port(void)
{
    char a[CS_NET_ADDRESS_MAX];
    cst_ok(cs_net_reserve("127.0.0.1:0", a));
    return (unsigned)strtoul(strrchr(a, ':') + 1, NULL, 10);
}

typedef struct tn_env {
    char root[256];
    char platform[300];
    char service_cert[300];
} tn_env;

static inline void tn_env_init(tn_env *e)
{
    snprintf(e->root, sizeof e->root, "/tmp/consort-node-test-XXXXXX");
    assert_non_null(mkdtemp(e->root));
    snprintf(e->platform, sizeof e->platform, "%s/platform", e->root);
    snprintf(e->service_cert, sizeof e->service_cert, "%s/service_cert.pem", e->root);
    cs_virtual_platform *p;
    cst_ok(cs_virtual_platform_init(e->platform, false, &p));
    cs_virtual_platform_free(p);
}

static inline void tn_env_cleanup(tn_env *e)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->root);
    assert_int_equal(system(cmd), 0);
}

typedef struct tnode {
    cs_node_config cfg;
    cs_node *n;
    bool stopped;
} tnode;

/* Node `idx` of the environment: mode start if join_target is NULL. */
static inline void tn_config(const tn_env *e, tnode *t, int idx, const char *join_target)
{
    memset(t, 0, sizeof *t);
    cs_node_config *c = &t->cfg;
    char json[4096];
    char start_or_join[1024];
    if (join_target == NULL)
        snprintf(start_or_join, sizeof start_or_join,
                 "\"start\": {\"service_cert_out\": \"%s\", \"open_at_genesis\": true}",
                 e->service_cert);
    else
        snprintf(start_or_join, sizeof start_or_join,
                 "\"join\": {\"target\": \"%s\", \"service_cert\": \"%s\"}", join_target,
                 e->service_cert);
    snprintf(json, sizeof json,
             "{\"platform\": \"virtual\", \"platform_dir\": \"%s\","
             " \"rpc_address\": \"127.0.0.1:%u\", \"node_address\": \"127.0.0.1:%u\","
             " \"data_dir\": \"%s/node%d\", \"sig_interval_tx\": 5, \"sig_interval_ms\": 20,"
             " %s}",
             e->platform, tn_reserved_port(), tn_reserved_port(), e->root, idx, start_or_join);
    cst_ok(cs_node_config_parse(cs_slice_str(json), c));
}

static inline bool tn_is_open(void *ctx)
{
    return cs_node_is_open(((tnode *)ctx)->n);
}

static inline void tn_start(uv_loop_t *loop, tnode *t)
{
    cst_ok(cs_node_new(loop, &t->cfg, &t->n));
    cst_ok(cs_node_start(t->n));
    t->stopped = false;
    tn_run_until(loop, 20000, tn_is_open, t, "node open");
}

static inline void tn_stopped_cb(void *ctx)
{
    ((tnode *)ctx)->stopped = true;
}

static inline bool tn_is_stopped(void *ctx)
{
    return ((tnode *)ctx)->stopped;
}

static inline void tn_stop(uv_loop_t *loop, tnode *t)
{
    if (t->n == NULL)
        return;
    cs_node_stop(t->n, tn_stopped_cb, t);
    tn_run_until(loop, 20000, tn_is_stopped, t, "node stopped");
    cs_node_free(t->n);
    t->n = NULL;
}

/* Runs the loop until it holds nothing (no handle, no request) or `ms`
 * milliseconds passed; true if it holds nothing. */
static inline bool tn_drain(uv_loop_t *loop, unsigned ms)
{
    for (unsigned waited = 0; uv_loop_alive(loop) && waited < ms; waited++) {
        uv_run(loop, UV_RUN_NOWAIT);
        if (uv_loop_alive(loop))
            usleep(1000);
    }
    return !uv_loop_alive(loop);
}

/* Closes a loop whose nodes are stopped and freed: a test's teardown. The
 * work a node queued on the threadpool may outlive its stop (node.h): it
 * ends within TN_DRAIN_MS, then the loop must hold nothing. */
#define TN_DRAIN_MS 10000
static inline void tn_close_loop(uv_loop_t *loop)
{
    if (!tn_drain(loop, TN_DRAIN_MS)) {
        fprintf(stderr, "the loop still holds, %u ms after its nodes stopped:\n", TN_DRAIN_MS);
        uv_print_all_handles(loop, stderr);
    }
    assert_int_equal(uv_loop_close(loop), 0);
}

/* Stops the node and closes its loop. */
static inline void tn_stop_and_close_loop(uv_loop_t *loop, tnode *t)
{
    tn_stop(loop, t);
    tn_close_loop(loop);
}

/* Holds every thread of libuv's threadpool until tn_gate_open: work queued
 * meanwhile starts only then. */
typedef struct tn_gate {
    uv_work_t work[128];
    unsigned threads, done;
    uv_sem_t open;
} tn_gate;

static inline void tn_gate_work(uv_work_t *w)
{
    uv_sem_wait(&((tn_gate *)w->data)->open);
}

static inline void tn_gate_done(uv_work_t *w, int status)
{
    (void)status;
    ((tn_gate *)w->data)->done++;
}

static inline void tn_gate_hold(uv_loop_t *loop, tn_gate *g)
{
    const char *env = getenv("UV_THREADPOOL_SIZE");
    g->threads = env != NULL ? (unsigned)atoi(env) : 4; /* libuv's default */
    assert_true(g->threads >= 1 && g->threads <= 128);
    g->done = 0;
    assert_int_equal(uv_sem_init(&g->open, 0), 0);
    for (unsigned i = 0; i < g->threads; i++) {
        g->work[i].data = g;
        assert_int_equal(uv_queue_work(loop, &g->work[i], tn_gate_work, tn_gate_done), 0);
    }
}

/* Opens the gate; its own work ends before this returns. */
static inline void tn_gate_open(uv_loop_t *loop, tn_gate *g)
{
    for (unsigned i = 0; i < g->threads; i++)
        uv_sem_post(&g->open);
    while (g->done < g->threads)
        uv_run(loop, UV_RUN_ONCE);
    uv_sem_destroy(&g->open);
}

/* ---- a transaction writing records[key] = value and public:records[key] = value ---- */

typedef struct tn_write {
    char key[32];
    char value[24576]; /* up to 24,575 bytes (test_node_snapshot writes large entries) */
    bool done;
    consort_err rc;
    cs_txid txid;
    char message[256];
    bool no_commit;
} tn_write;

static inline consort_err tn_write_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    tn_write *w = ctx;
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT("records"), cs_slice_str(w->key), cs_slice_str(w->value)));
    CS_TRY(cs_kv_put(tx, CS_SLICE_LIT("public:records"), cs_slice_str(w->key),
                     cs_slice_str(w->value)));
    out->commit = !w->no_commit;
    return CONSORT_OK;
}

static inline void tn_write_done(void *ctx, const cs_node_result *res)
{
    tn_write *w = ctx;
    assert_false(w->done); /* exactly once */
    w->done = true;
    w->rc = res->rc;
    w->txid = res->txid;
    snprintf(w->message, sizeof w->message, "%s", res->message);
    /* the result carries its own error: a success says nothing more */
    if (res->rc == CONSORT_OK)
        assert_string_equal(res->message, "");
    else
        assert_true(res->message[0] != '\0');
}

static inline bool tn_write_is_done(void *ctx)
{
    return ((tn_write *)ctx)->done;
}

static inline bool tn_is_leader(void *ctx)
{
    return cs_node_is_leader(((tnode *)ctx)->n);
}

/* Writes key=value on `t` (waiting until it leads) and waits for the commit. */
static inline cs_txid tn_put(uv_loop_t *loop, tnode *t, const char *key, const char *value)
{
    tn_run_until(loop, 10000, tn_is_leader, t, "leader accepting writes");
    tn_write w = {0};
    snprintf(w.key, sizeof w.key, "%s", key);
    snprintf(w.value, sizeof w.value, "%s", value);
    cst_ok(cs_node_write(t->n, tn_write_fn, &w, tn_write_done, &w));
    tn_run_until(loop, 10000, tn_write_is_done, &w, "write committed");
    if (w.rc != CONSORT_OK)
        fail_msg("write %s failed: %s", key, consort_err_name(w.rc));
    assert_true(w.txid.seqno > 0);
    return w.txid;
}

typedef struct tn_read {
    const char *map;
    const char *key;
    char value[64];
    bool found;
} tn_read;

static inline consort_err tn_read_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    tn_read *r = ctx;
    (void)out;
    cs_slice v;
    CS_TRY(cs_kv_get(tx, cs_slice_str(r->map), cs_slice_str(r->key), &v, &r->found));
    if (r->found) {
        assert_true(v.len < sizeof r->value);
        memcpy(r->value, v.ptr, v.len);
        r->value[v.len] = '\0';
    }
    return CONSORT_OK;
}

/* The value of map[key] on `t` ("" when absent). */
static inline const char *tn_get(tnode *t, const char *map, const char *key, char out[64])
{
    tn_read r = {.map = map, .key = key};
    cst_ok(cs_node_read(t->n, tn_read_fn, &r));
    snprintf(out, 64, "%s", r.found ? r.value : "");
    return out;
}

#endif
