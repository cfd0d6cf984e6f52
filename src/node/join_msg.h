/*
 * The join protocol's messages: the contract between a joining node
 * (joiner.h) and the node it attests to (admit.h). One request and one
 * answer per attested control channel (hello raft id 0), each a frame:
 * be32 length || CBOR map with text keys, "type" first:
 *
 *   joiner -> target  {"type": "join", "node_address": t, "rpc_address": t,
 *                      "evidence": bstr (envelope binding the joiner's key,
 *                      empty nonce; kept as its quote)}
 *   target -> joiner  {"type": "redirect", "node_address": t}   not the leader
 *                     {"type": "error", "message": t}           refused, or later
 *                     {"type": "welcome", "service_key": bstr (PEM),
 *                      "service_cert": bstr (DER), "node_cert": bstr (DER),
 *                      "ledger_secret": bstr 32}
 *
 * Decoding is strict (exact members, in order, no trailing bytes) and
 * bounded (JOIN_MSG_MAX).
 */
#ifndef CS_NODE_JOIN_MSG_H
#define CS_NODE_JOIN_MSG_H

#include "attest/evidence.h"
#include "node/node.h"

/* A join message holds one evidence envelope, keys and certificates. */
#define JOIN_MSG_MAX ((size_t)CS_EVIDENCE_MAX_BYTES + (64 << 10))

typedef enum join_msg_type {
    JOIN_MSG_JOIN = 1,
    JOIN_MSG_REDIRECT,
    JOIN_MSG_ERROR,
    JOIN_MSG_WELCOME,
} join_msg_type;

/* A decoded message; slices borrow from the message bytes. */
typedef struct join_msg {
    join_msg_type type;
    char node_address[CS_NODE_ADDR_MAX]; /* join, redirect */
    char rpc_address[CS_NODE_ADDR_MAX];  /* join */
    cs_slice evidence;                   /* join */
    char message[256];                   /* error */
    cs_slice service_key;                /* welcome: PEM */
    cs_slice service_cert;               /* welcome: DER */
    cs_slice node_cert;                  /* welcome: DER */
    cs_slice ledger_secret;              /* welcome */
} join_msg;

/* Appends the frame of `m` (its type's members only) to `out`. */
CS_MUST_CHECK consort_err join_msg_encode(const join_msg *m, cs_buf *out);
/* Decodes one message body (without the frame's length). MALFORMED naming
 * what was wrong. */
CS_MUST_CHECK consort_err join_msg_decode(cs_slice body, join_msg *out);

/* Accumulates `data` in `in`; once a whole frame is there, its body is
 * copied to `body` and *complete set. TOO_LARGE beyond JOIN_MSG_MAX,
 * TRAILING_DATA for bytes after the one frame. */
CS_MUST_CHECK consort_err join_msg_take(cs_buf *in, cs_slice data, cs_buf *body, bool *complete);

#endif
