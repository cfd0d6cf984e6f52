/*
 * A validator of libraft's uv wire format (libraft 0.15 src/uv_encoding.c,
 * src/uv_recv.c), run on every byte a peer sends before raft reads it.
 *
 * libraft trusts what a peer announces: it allocates the header length of
 * each message's preamble, then the payload length that the header adds up
 * (every entry's length, or a snapshot's), and decodes headers without
 * checking them against their length (a short RequestVote is read past its
 * end; an InstallSnapshot with an empty configuration fails an assertion).
 * The validator follows the stream message by message and refuses the
 * first message that libraft would mis-handle or that exceeds a limit, on
 * the bytes that announce it, so the bytes that would make libraft
 * allocate never reach it.
 *
 * Wire format (all integers little-endian):
 *   preamble  u64 type (1..6, RAFT_IO_*), u64 header length H
 *   header    H bytes, by type:
 *     RequestVote           32 (v1) or >= 40 bytes, at most 64
 *     RequestVoteResult     16 (v1) or >= 24 bytes, at most 64
 *     AppendEntriesResult   >= 24 bytes, at most 64
 *     TimeoutNow            >= 24 bytes, at most 64
 *     AppendEntries         u64 term, prev index, prev term, commit,
 *                           u64 n, n x {u64 term, u8 type (1..3), 3 unused,
 *                           u32 length}; H = 40 + 16 n, or 48 + 16 n (libraft
 *                           0.15 counts a leader id it does not send: 8 bytes
 *                           of slack after the entries)
 *     InstallSnapshot       u64 term, last index, last term, conf index,
 *                           u64 C, C bytes of configuration, u64 data length;
 *                           H = 48 + C, or 56 + C (the same slack)
 *   payload   AppendEntries: the entries' data, their lengths summed (each a
 *             multiple of 8: libraft's decoder assumes that padding);
 *             InstallSnapshot: the data length.
 *   configuration: u8 format 1, u64 n (1..CS_RAFT_WIRE_SERVERS_MAX), n x {u64
 *             id != 0, address (1..255 printable bytes, NUL-terminated), u8
 *             role 0..2}, then zero padding to a multiple of 8.
 *
 * The validator allocates nothing and holds a few hundred bytes of state.
 */
#ifndef CS_CONSENSUS_RAFT_WIRE_H
#define CS_CONSENSUS_RAFT_WIRE_H

#include "base/buf.h"

#include <stdint.h>

/* Entries in one AppendEntries (its header is 40 + 16 bytes per entry). */
#define CS_RAFT_WIRE_ENTRIES_MAX ((uint64_t)1 << 22)
/* Bytes of one entry: consort's envelope (entry.h) around the largest entry
 * it submits (CS_RAFT_ENTRY_DATA_MAX = 64 MiB). */
#define CS_RAFT_WIRE_ENTRY_MAX (((uint64_t)64 << 20) + 8)
/* Payload bytes of one AppendEntries. libraft 0.15 sends a lagging follower
 * its leader's whole log tail in one message, so this bounds how far a
 * follower may fall behind between two snapshots. */
#define CS_RAFT_WIRE_APPEND_MAX ((uint64_t)4 << 30)
/* Bytes of one snapshot (InstallSnapshot data; libraft holds it in memory). */
#define CS_RAFT_WIRE_SNAPSHOT_MAX ((uint64_t)4 << 30)
/* Bytes of the configuration in an InstallSnapshot, and its servers. */
#define CS_RAFT_WIRE_CONF_MAX    ((uint64_t)64 << 10)
#define CS_RAFT_WIRE_SERVERS_MAX 256
/* Header of a message of a fixed layout (libraft's are 16..40 bytes). */
#define CS_RAFT_WIRE_FIXED_MAX 64

typedef struct cs_raft_wire_limits {
    uint64_t max_entries;  /* 0: CS_RAFT_WIRE_ENTRIES_MAX */
    uint64_t max_entry;    /* 0: CS_RAFT_WIRE_ENTRY_MAX */
    uint64_t max_append;   /* 0: CS_RAFT_WIRE_APPEND_MAX */
    uint64_t max_snapshot; /* 0: CS_RAFT_WIRE_SNAPSHOT_MAX */
} cs_raft_wire_limits;

/* The validator's state for one stream (embed it; no cleanup needed). */
typedef struct cs_raft_wire {
    cs_raft_wire_limits lim;
    int phase;            /* preamble, header fields, skipping, payload */
    uint64_t type;        /* of the message being read */
    uint64_t header_len;  /* H */
    uint64_t header_left; /* header bytes not yet read */
    uint64_t skip;        /* bytes to pass unparsed */
    uint64_t count;       /* entries or servers still to read */
    uint64_t payload;     /* payload bytes announced so far / still to come */
    uint64_t conf_left;   /* configuration bytes not yet read */
    int step;             /* field within the header */
    int after;            /* the step that follows a skip */
    uint8_t acc[8];       /* a field being assembled */
    size_t acc_len, acc_need;
    size_t addr_len;   /* address bytes so far (server in a configuration) */
    uint64_t messages; /* complete messages seen */
} cs_raft_wire;

/* Starts a stream's validation; `lim` may be NULL (the defaults). */
void cs_raft_wire_init(cs_raft_wire *w, const cs_raft_wire_limits *lim);

/*
 * Checks the next bytes of the stream. CONSORT_OK: every byte so far is a
 * valid prefix of a message stream, and may go to raft. Otherwise the
 * stream must be closed without passing `data` on: CONSORT_E_TOO_LARGE
 * (a length or a count over its limit) or CONSORT_E_MALFORMED (anything
 * else), with a message naming the message type, the field and its value.
 * After an error every further call fails the same way.
 */
CS_MUST_CHECK consort_err cs_raft_wire_feed(cs_raft_wire *w, cs_slice data);

#endif
