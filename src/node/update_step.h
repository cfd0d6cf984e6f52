/*
 * The ledger transaction of one rolling-update step (node_update.c): the
 * update's record gets its new state and progress, and an evicted node's
 * record (and, when the update is done, the predecessor's code id) becomes
 * Retired. A node_exec_write transaction function.
 */
#ifndef CS_NODE_UPDATE_STEP_H
#define CS_NODE_UPDATE_STEP_H

#include "node/node.h"
#include "store/kv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct node_update_step {
    const char *successor;   /* the update's record */
    const char *state;       /* its new state */
    size_t need;             /* MIXED, BLOCKED */
    bool deprecate;          /* set deprecated and deprecated_at */
    int64_t now;             /* seconds */
    const char *evict;       /* node id to retire, or NULL */
    const char *retire_code; /* code id to retire (DONE), or NULL */
} node_update_step;

/* ctx: a const node_update_step *. */
CS_MUST_CHECK consort_err node_update_step_tx(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out);

#endif
