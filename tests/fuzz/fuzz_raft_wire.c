/*
 * Fuzz target: the node-to-node channel after the attested hello. On a raft
 * channel every byte a peer sends passes the Raft wire validator
 * (src/consensus/raft_wire.c) before libraft reads it; the join control
 * channel is fuzz_join's.
 *
 * Input: byte 0 picks the limits (bit 0: small ones, so that the caps are
 * reached with small inputs) and the size of the pieces the stream
 * delivers (1 << (bits 1-3)); the rest is the peer's byte stream.
 *
 * Checks beyond "no crash, no out-of-bounds access": the outcome does not
 * depend on how the stream is cut (fed whole, then in pieces, the result
 * and the number of messages are the same); an error is TOO_LARGE or
 * MALFORMED, the same whichever way the stream is cut, and sticks: every
 * later call fails; the message count never decreases.
 *
 * Seeds (corpus/raft_wire): messages of every type encoded as libraft 0.15
 * encodes them (uv_encoding.c, as test_raft_wire.c does), alone and as one
 * stream, and streams cut inside a message.
 */
#include "consensus/raft_wire.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const cs_raft_wire_limits SMALL = {
    .max_entries = 4, .max_entry = 64, .max_append = 128, .max_snapshot = 256};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const cs_raft_wire_limits *lim = (data[0] & 1) ? &SMALL : NULL;
    size_t piece = (size_t)1 << ((data[0] >> 1) & 7);
    cs_slice in = CS_SLICE(data + 1, size - 1);

    cs_raft_wire whole;
    cs_raft_wire_init(&whole, lim);
    consort_err rc_whole = cs_raft_wire_feed(&whole, in);

    cs_raft_wire w;
    cs_raft_wire_init(&w, lim);
    consort_err rc = CONSORT_OK; /* the first error */
    uint64_t seen = 0;
    for (size_t at = 0; at < in.len; at += piece) {
        size_t n = in.len - at < piece ? in.len - at : piece;
        consort_err r = cs_raft_wire_feed(&w, CS_SLICE(in.ptr + at, n));
        if (rc != CONSORT_OK && r == CONSORT_OK)
            abort(); /* refused, then let through */
        if (r != CONSORT_OK && r != CONSORT_E_TOO_LARGE && r != CONSORT_E_MALFORMED)
            abort();
        if (w.messages < seen)
            abort();
        seen = w.messages;
        if (rc == CONSORT_OK)
            rc = r;
    }
    if (rc != rc_whole || (rc == CONSORT_OK && w.messages != whole.messages))
        abort(); /* the verdict depends on how the stream was cut */
    if (rc != CONSORT_OK && cs_raft_wire_feed(&w, CS_SLICE_LIT("x")) == CONSORT_OK)
        abort();
    return 0;
}
