/*
 * Test helper: the plaintext of a format-2 snapshot (every leaf 1 .. S
 * under "leaves", where format 3 has "peaks"; src/node/replica_snapshot.c)
 * for a format-3 plaintext that `r` made, whose tree holds every leaf. As
 * the version before made them: a node of this version must still install
 * them. Leaf `altered` (1-based; 0: none) has a bit flipped. Returns the
 * checkpoint S. Shared by test_replica_snapshot.c and the fuzz seed
 * generator.
 */
#ifndef CONSORT_TEST_SNAP_FORMAT2_H
#define CONSORT_TEST_SNAP_FORMAT2_H

#include "testutil.h"

#include "base/cbor.h"
#include "node/replica_priv.h"

static inline uint64_t snap_plain_as_format_2(node_replica *r, cs_slice plain3, uint64_t altered,
                                              cs_buf *out)
{
    replica_snap d;
    cst_ok(replica_snap_decode(plain3, 3, &d));
    cs_buf_reset(out);
    cst_ok(cs_cbor_write_map(out, 7));
    cst_ok(cs_cbor_write_cstr(out, "seqno"));
    cst_ok(cs_cbor_write_uint(out, d.seqno));
    cst_ok(cs_cbor_write_cstr(out, "term"));
    cst_ok(cs_cbor_write_uint(out, d.term));
    cst_ok(cs_cbor_write_cstr(out, "terms"));
    cst_ok(cs_buf_append_slice(out, d.terms_raw));
    cst_ok(cs_cbor_write_cstr(out, "leaves"));
    cst_ok(cs_cbor_write_bytes_header(out, (size_t)d.seqno * CS_MERKLE_HASH_LEN));
    for (uint64_t i = 0; i < d.seqno; i++) {
        uint8_t leaf[CS_MERKLE_HASH_LEN];
        cst_ok(cs_merkle_leaf(node_replica_tree(r), i, leaf));
        if (i + 1 == altered)
            leaf[0] ^= 0x01;
        cst_ok(cs_buf_append(out, leaf, sizeof leaf));
    }
    cst_ok(cs_cbor_write_cstr(out, "sig"));
    cst_ok(cs_cbor_write_bytes(out, d.sig));
    cst_ok(cs_cbor_write_cstr(out, "kv"));
    cst_ok(cs_cbor_write_bytes(out, d.kv));
    cst_ok(cs_cbor_write_cstr(out, "tail"));
    cst_ok(cs_buf_append_slice(out, d.tail_raw));
    return d.seqno;
}

#endif
