/*
 * The node's parsers of untrusted or operator-supplied bytes: the first
 * byte picks one, the rest is its input.
 *   0: the JSON configuration (cs_node_config_parse)
 *   1: a node record from public:consort.nodes (node_record_decode),
 *      re-encoded and decoded again: the round trip must be exact
 *   2: a join-protocol frame (join_msg_take + join_msg_decode): a message
 *      that decodes encodes again and decodes to the same type
 *   3: a snapshot's plaintext (replica_snap_decode; the AEAD layer in front
 *      of it is the crypto layer's), of format 3 or 2 (bit 2 of the first
 *      byte): what decodes holds the tree's peaks (one hash per set bit of
 *      seqno - 1), or for format 2 a leaf per entry up to its seqno
 */
#include "node/join_msg.h"
#include "node/replica_priv.h"
#include "node/service_maps.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void record(cs_slice in)
{
    node_record r, r2;
    node_record_init(&r);
    node_record_init(&r2);
    if (node_record_decode(in, &r) == CONSORT_OK) {
        cs_buf out;
        cs_buf_init(&out, 0);
        if (node_record_encode(&r, &out) != CONSORT_OK ||
            node_record_decode(cs_buf_slice(&out), &r2) != CONSORT_OK ||
            !cs_slice_eq(cs_buf_slice(&out), in))
            abort(); /* a record that decodes re-encodes to exactly its bytes */
        cs_buf_cleanup(&out);
    }
    node_record_cleanup(&r);
    node_record_cleanup(&r2);
}

static void frame(cs_slice in)
{
    cs_buf acc, body, again;
    cs_buf_init(&acc, JOIN_MSG_MAX + 4);
    cs_buf_init(&body, JOIN_MSG_MAX);
    cs_buf_init(&again, JOIN_MSG_MAX + 4);
    bool complete = false;
    static join_msg m, m2;
    if (join_msg_take(&acc, in, &body, &complete) == CONSORT_OK && complete &&
        join_msg_decode(cs_buf_slice(&body), &m) == CONSORT_OK) {
        if (join_msg_encode(&m, &again) != CONSORT_OK || again.len < 4 ||
            join_msg_decode(CS_SLICE(again.ptr + 4, again.len - 4), &m2) != CONSORT_OK ||
            m2.type != m.type)
            abort();
    }
    cs_buf_cleanup(&acc);
    cs_buf_cleanup(&body);
    cs_buf_cleanup(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    cs_slice in = CS_SLICE(data + 1, size - 1);
    switch (data[0] % 4) {
    case 0: {
        static cs_node_config cfg;
        if (cs_node_config_parse(in, &cfg) == CONSORT_OK &&
            (cfg.data_dir[0] == '\0' || cfg.rpc_address[0] == '\0'))
            abort(); /* required members were checked */
        break;
    }
    case 1:
        record(in);
        break;
    case 3: {
        replica_snap snap;
        const unsigned format = (data[0] & 4) != 0 ? 2 : 3; /* both formats are read */
        if (replica_snap_decode(in, format, &snap) != CONSORT_OK)
            break;
        if (snap.seqno == 0 ||
            snap.peaks.len !=
                (format == 2 ? snap.seqno : (uint64_t)__builtin_popcountll(snap.seqno - 1)) *
                    CS_MERKLE_HASH_LEN)
            abort();
        break;
    }
    default:
        frame(in);
        break;
    }
    return 0;
}
