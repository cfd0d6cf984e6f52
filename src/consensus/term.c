/*
 * A new term before raft starts (consensus.h cs_consensus_new_term).
 *
 * Why: a server that is the only voter of its configuration becomes leader
 * at start without an election (libraft 0.15, convertToCandidate: "fast-
 * forward to leader if we're the only voting server"), so it keeps the term
 * it had before the restart. A transaction id is <term>.<seqno>; an entry
 * the previous process created but never stored could then be followed by
 * a different entry with the same id, and a client told "outcome unknown"
 * for the first would later read "Committed" for the second. A new term at
 * every start of a lone voter keeps every (term, seqno) one entry's.
 *
 * How: libraft's uv backend keeps (term, vote) in two files, metadata1 and
 * metadata2, each le64 format (1) || le64 version || le64 term || le64
 * voted_for (32 bytes); the one with the higher version wins, and version v
 * lives in metadata1 if v is odd, metadata2 if even (libraft 0.15
 * src/uv_metadata.c). We write version + 1 with term + 1 and a vote for
 * ourselves, which is exactly what libraft itself writes when it starts an
 * election and votes for itself.
 */
#include "consensus/consensus.h"

#include "base/buf.h"
#include "base/file.h"

#include <stdio.h>
#include <string.h>

#define META_SIZE   32
#define META_FORMAT 1

typedef struct meta {
    uint64_t version, term, vote;
} meta;

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* metadata<n>: version 0 if absent or short (libraft ignores those too). */
static consort_err load_meta(const char *dir, int n, meta *m)
{
    memset(m, 0, sizeof *m);
    char path[4096];
    int w = snprintf(path, sizeof path, "%s/metadata%d", dir, n);
    CS_ENSURE(w > 0 && (size_t)w < sizeof path, CONSORT_E_INVALID_ARGUMENT, "path too long");
    if (!cs_file_exists(path))
        return CONSORT_OK;
    cs_buf b;
    cs_buf_init(&b, 4096);
    consort_err rc = cs_file_read(path, &b);
    if (rc == CONSORT_OK && b.len == META_SIZE) {
        if (le64(b.ptr) != META_FORMAT)
            rc = cs_fail(CONSORT_E_CORRUPT, "%s: raft metadata format %llu, expected %d", path,
                         (unsigned long long)le64(b.ptr), META_FORMAT);
        else
            *m = (meta){
                .version = le64(b.ptr + 8), .term = le64(b.ptr + 16), .vote = le64(b.ptr + 24)};
    } else if (rc == CONSORT_OK && b.len > META_SIZE) {
        rc = cs_fail(CONSORT_E_CORRUPT, "%s: raft metadata of %zu bytes", path, b.len);
    }
    cs_buf_cleanup(&b);
    return rc;
}

consort_err cs_consensus_new_term(const char *data_dir, uint64_t self_id, uint64_t *term)
{
    meta m1, m2;
    CS_TRY(load_meta(data_dir, 1, &m1));
    CS_TRY(load_meta(data_dir, 2, &m2));
    const meta *cur = m1.version >= m2.version ? &m1 : &m2;
    CS_ENSURE(cur->version > 0, CONSORT_E_STATE, "%s: no raft metadata yet", data_dir);
    meta next = {.version = cur->version + 1, .term = cur->term + 1, .vote = self_id};
    uint8_t content[META_SIZE];
    put_le64(content, META_FORMAT);
    put_le64(content + 8, next.version);
    put_le64(content + 16, next.term);
    put_le64(content + 24, next.vote);
    char path[4096];
    int w = snprintf(path, sizeof path, "%s/metadata%d", data_dir, next.version % 2 == 1 ? 1 : 2);
    CS_ENSURE(w > 0 && (size_t)w < sizeof path, CONSORT_E_INVALID_ARGUMENT, "path too long");
    CS_TRY_CTX(cs_file_write_atomic(path, CS_SLICE(content, sizeof content), 0600),
               "raft metadata");
    *term = next.term;
    return CONSORT_OK;
}
