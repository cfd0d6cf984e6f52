/*
 * The envelope around every entry consort submits to raft.
 *
 * libraft's uv wire format sends AppendEntries payloads unpadded but decodes
 * them assuming every entry is padded to a multiple of 8 bytes (the segment
 * file format; libraft uv_encoding.c uvDecodeEntriesBatch), so entries of
 * other lengths arrive shifted on followers. consort therefore never hands
 * raft a payload whose length is not a multiple of 8:
 *
 *   offset  size  field
 *   0       1     version = 1
 *   1       3     reserved, zero
 *   4       4     data length L, big-endian (1 .. CS_RAFT_ENTRY_DATA_MAX)
 *   8       L     data (what the FSM's apply receives)
 *   8+L     P     zero padding, P = the least value making 8+L+P a multiple of 8
 *
 * The decoder accepts exactly this (every other length, version, reserved or
 * padding byte is an error), so a shifted or corrupted entry never reaches
 * the FSM as if it were valid.
 */
#ifndef CS_CONSENSUS_ENTRY_H
#define CS_CONSENSUS_ENTRY_H

#include "base/buf.h"

#include <raft.h>

#define CS_RAFT_ENTRY_VERSION  1
#define CS_RAFT_ENTRY_HEADER   8
#define CS_RAFT_ENTRY_DATA_MAX ((size_t)64 << 20)

/* Bytes of the envelope around `data_len` bytes of data. */
size_t cs_raft_entry_size(size_t data_len);

/* Encodes `data` into a new raft_malloc'd buffer (*out; the caller owns it
 * until raft_apply takes it). Errors: INVALID_ARGUMENT (empty or larger than
 * CS_RAFT_ENTRY_DATA_MAX), NOMEM. */
CS_MUST_CHECK consort_err cs_raft_entry_encode(cs_slice data, struct raft_buffer *out);

/* Checks an envelope and borrows its data. Errors: TRUNCATED, MALFORMED,
 * UNSUPPORTED (version), TOO_LARGE, TRAILING_DATA. */
CS_MUST_CHECK consort_err cs_raft_entry_decode(cs_slice payload, cs_slice *data);

#endif
