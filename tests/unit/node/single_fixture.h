/*
 * One in-process node on its own loop, started fresh for each test
 * (test_node_single.c, test_node_ledger_sync.c), and waiting for a receipt.
 */
#ifndef CST_SINGLE_FIXTURE_H
#define CST_SINGLE_FIXTURE_H

#include "node_fixture.h"

#include <stdlib.h>

typedef struct fixture {
    uv_loop_t loop;
    tn_env env;
    tnode node;
} fixture;

static inline int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    tn_env_init(&f->env);
    tn_config(&f->env, &f->node, 0, NULL);
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    fixture *f = *state;
    tn_stop_and_close_loop(&f->loop, &f->node);
    tn_env_cleanup(&f->env);
    free(f);
    return 0;
}

typedef struct receipt_wait {
    cs_node *n;
    cs_txid txid;
    cs_buf json;
} receipt_wait;

static inline bool receipt_ready(void *ctx)
{
    receipt_wait *r = ctx;
    cs_buf_reset(&r->json);
    return cs_node_receipt(r->n, r->txid, &r->json) == CONSORT_OK;
}

#endif
