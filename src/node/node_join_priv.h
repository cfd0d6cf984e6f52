/*
 * Shared by the two sides of the join protocol (node_join.c: the joiner;
 * node_join_admit.c: the target and leader). Message framing and strict
 * reading of the CBOR maps described in node_join.c.
 */
#ifndef CS_NODE_NODE_JOIN_PRIV_H
#define CS_NODE_NODE_JOIN_PRIV_H

#include "base/cbor.h"
#include "node/node_priv.h"

/* A join message holds one evidence envelope, keys and certificates. */
#define NODE_MSG_MAX ((size_t)CS_EVIDENCE_MAX_BYTES + (64 << 10))

/* Starts a frame (4 length bytes, then a map of `pairs` with "type" first). */
CS_MUST_CHECK consort_err node_msg_frame_begin(cs_buf *b, size_t pairs, const char *type);
/* Fills in the length of the frame that starts at offset 0 of `b`. */
void node_msg_frame_end(cs_buf *b);
/* Accumulates `data`; once a whole frame is in, copies its body to `msg`. */
CS_MUST_CHECK consort_err node_msg_take(cs_buf *in, cs_slice data, cs_buf *msg, bool *complete);
CS_MUST_CHECK consort_err node_msg_open(cs_slice msg, cs_cbor_reader *r, uint64_t *pairs,
                                        char type[16]);
CS_MUST_CHECK consort_err node_msg_key(cs_cbor_reader *r, const char *want);
CS_MUST_CHECK consort_err node_msg_text(cs_cbor_reader *r, const char *name, char *out, size_t n);

/* Joiner: checks and takes the welcome (after "type"), seals, starts raft. */
CS_MUST_CHECK consort_err node_join_welcome(cs_node *n, cs_cbor_reader *r, uint64_t pairs);

#endif
