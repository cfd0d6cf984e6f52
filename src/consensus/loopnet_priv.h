/* Insides of the in-process network (loopnet.c, loopnet_stream.c). */
#ifndef CS_CONSENSUS_LOOPNET_PRIV_H
#define CS_CONSENSUS_LOOPNET_PRIV_H

#include "consensus/loopnet.h"

typedef struct loop_stream loop_stream;

typedef struct loop_node {
    cs_loopnet *net; /* back pointer: a node is its connector's ctx */
    unsigned slot;
    bool used;
    bool attached;
    uint64_t id;
    char address[256];
    cs_loopnet_accept_fn accept;
    void *accept_ctx;
} loop_node;

struct cs_loopnet {
    uv_loop_t *loop;
    loop_node nodes[CS_LOOPNET_MAX_NODES];
    bool blocked[CS_LOOPNET_MAX_NODES][CS_LOOPNET_MAX_NODES];
    loop_stream *streams; /* every open stream end */
    unsigned pending;     /* connections being set up */
    uint8_t scratch[64 << 10];
};

/*
 * Wraps connected socket `fd` (ownership taken, closed on failure) as a
 * stream between servers `local_id` and `remote_id`.
 */
CS_MUST_CHECK consort_err cs_loopnet_stream_new(cs_loopnet *n, int fd, uint64_t local_id,
                                                uint64_t remote_id, const char *remote_address,
                                                cs_stream **out);

/* Closes, without flushing, every stream between servers a and b (b == 0:
 * between a and anybody). */
void cs_loopnet_cut(cs_loopnet *n, uint64_t a, uint64_t b);

#endif
