/*
 * Reading every entry of a ledger directory in seqno order, with the
 * structural checks of docs/ledger.md §5 "Chunk files" and §6 "Verifying a
 * ledger" (see ledger.h). The first
 * problem ends the reading with CONSORT_E_CORRUPT, its message naming the
 * file, the frame offset and the seqno ("where").
 */
#include "store/ledger.h"
#include "store/ledger_frames.h"

#include "base/alloc.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>

struct cs_ledger_reader {
    char dir[PATH_MAX];
    cs_ledger_chunk *chunks;
    size_t count;
    size_t idx;    /* current chunk */
    bool in_chunk; /* frames is open on chunks[idx] */
    cs_ledger_frames frames;
    uint64_t expect;      /* seqno of the next entry */
    uint64_t in_this;     /* entries read from the current chunk */
    uint64_t last_offset; /* frame offset of the last entry returned */
    uint64_t last_term;
    cs_ledger_kind last_kind;
    size_t opened;
    bool failed;
    /* where the reader is, and the torn tail */
    const char *where_file;
    uint64_t where_offset;
    uint64_t torn_bytes;
    uint64_t torn_offset;
};

consort_err cs_ledger_reader_open(const char *dir, cs_ledger_reader **out)
{
    return cs_ledger_reader_open_tail(dir, SIZE_MAX, out);
}

consort_err cs_ledger_reader_open_tail(const char *dir, size_t last_chunks, cs_ledger_reader **out)
{
    cs_ledger_reader *r = cs_calloc(1, sizeof *r);
    CS_ENSURE(r != NULL, CONSORT_E_NOMEM, "ledger reader: out of memory");
    if (strlen(dir) >= sizeof r->dir) {
        cs_free(r);
        return cs_fail(CONSORT_E_INVALID_ARGUMENT, "ledger directory path too long");
    }
    strcpy(r->dir, dir);
    consort_err rc = cs_ledger_chunks_list(dir, &r->chunks, &r->count);
    if (rc != CONSORT_OK) {
        cs_free(r);
        return rc;
    }
    r->idx = r->count > last_chunks ? r->count - last_chunks : 0;
    r->expect = r->idx < r->count ? r->chunks[r->idx].first : 1;
    r->where_file = r->idx < r->count ? r->chunks[r->idx].name : "";
    *out = r;
    return CONSORT_OK;
}

void cs_ledger_reader_free(cs_ledger_reader *r)
{
    if (r == NULL)
        return;
    if (r->in_chunk)
        cs_ledger_frames_close(&r->frames);
    cs_free(r->chunks);
    cs_free(r);
}

void cs_ledger_reader_where(const cs_ledger_reader *r, const char **file, uint64_t *offset,
                            uint64_t *seqno)
{
    *file = r->where_file;
    *offset = r->where_offset;
    *seqno = r->expect;
}

uint64_t cs_ledger_reader_torn_bytes(const cs_ledger_reader *r, uint64_t *offset)
{
    if (offset != NULL)
        *offset = r->torn_offset;
    return r->torn_bytes;
}

const cs_ledger_chunk *cs_ledger_reader_chunk_list(const cs_ledger_reader *r, size_t *count)
{
    *count = r->count;
    return r->chunks;
}

size_t cs_ledger_reader_chunks(const cs_ledger_reader *r)
{
    return r->opened;
}

/* Marks the reader failed and returns CORRUPT (or `code` for I/O and memory)
 * with "<file> offset <o> seqno <s>: " in front of the current message. */
static consort_err fail_here(cs_ledger_reader *r, consort_err code)
{
    r->failed = true;
    if (code != CONSORT_E_IO && code != CONSORT_E_NOMEM)
        code = CONSORT_E_CORRUPT;
    return cs_err_context(code, "%s offset %" PRIu64 " seqno %" PRIu64, r->where_file,
                          r->where_offset, r->expect);
}

static consort_err open_chunk(cs_ledger_reader *r)
{
    const cs_ledger_chunk *c = &r->chunks[r->idx];
    r->where_file = c->name;
    r->where_offset = 0;
    if (c->first != r->expect) {
        cs_fail(CONSORT_E_CORRUPT,
                "chunk starts at seqno %" PRIu64 ", expected %" PRIu64
                " (a chunk is missing, renamed or out of order)",
                c->first, r->expect);
        return fail_here(r, CONSORT_E_CORRUPT);
    }
    consort_err rc = cs_ledger_frames_open(&r->frames, r->dir, c->name);
    if (rc != CONSORT_OK)
        return fail_here(r, rc);
    r->in_chunk = true;
    r->in_this = 0;
    r->opened++;
    return CONSORT_OK;
}

/* At the end of a chunk: a committed chunk is non-empty, ends with a
 * signature entry and with its name's last seqno (docs/ledger.md §5.1). */
static consort_err close_chunk(cs_ledger_reader *r)
{
    const cs_ledger_chunk *c = &r->chunks[r->idx];
    cs_ledger_frames_close(&r->frames);
    r->in_chunk = false;
    r->idx++;
    if (!c->committed)
        return CONSORT_OK;
    consort_err rc = CONSORT_OK;
    if (r->in_this == 0)
        rc = cs_fail(CONSORT_E_CORRUPT, "committed chunk holds no entries");
    else if (r->expect - 1 != c->last)
        rc = cs_fail(CONSORT_E_CORRUPT,
                     "committed chunk ends at seqno %" PRIu64 ", its name says %" PRIu64,
                     r->expect - 1, c->last);
    else if (r->last_kind != CS_LEDGER_KIND_SIGNATURE)
        rc = cs_fail(CONSORT_E_CORRUPT,
                     "committed chunk ends with a %s entry, not a signature entry",
                     cs_ledger_kind_name(r->last_kind));
    if (rc != CONSORT_OK) {
        /* name the last entry of the chunk */
        r->where_file = c->name;
        r->where_offset = r->last_offset;
        r->expect -= r->in_this > 0;
        return fail_here(r, rc);
    }
    return CONSORT_OK;
}

static consort_err check_entry(cs_ledger_reader *r, cs_slice bytes, cs_ledger_entry *e)
{
    const cs_ledger_chunk *c = &r->chunks[r->idx];
    CS_TRY(cs_ledger_entry_decode(bytes, e));
    CS_ENSURE(e->seqno == r->expect, CONSORT_E_CORRUPT,
              "entry has seqno %" PRIu64 " (entries missing, reordered or duplicated)", e->seqno);
    CS_ENSURE(!c->committed || e->seqno <= c->last, CONSORT_E_CORRUPT,
              "entry lies beyond the chunk's last seqno %" PRIu64, c->last);
    CS_ENSURE(e->term >= r->last_term, CONSORT_E_CORRUPT,
              "term %" PRIu64 " is lower than the previous entry's term %" PRIu64, e->term,
              r->last_term);
    return CONSORT_OK;
}

consort_err cs_ledger_reader_next(cs_ledger_reader *r, cs_ledger_record *rec, bool *done)
{
    *done = false;
    CS_ENSURE(!r->failed, CONSORT_E_STATE, "ledger reader: already failed");
    for (;;) {
        if (!r->in_chunk) {
            if (r->idx == r->count) {
                *done = true;
                return CONSORT_OK;
            }
            CS_TRY(open_chunk(r));
        }
        const cs_ledger_chunk *c = &r->chunks[r->idx];
        cs_slice bytes;
        cs_ledger_frame_status st;
        consort_err rc = cs_ledger_frames_next(&r->frames, &bytes, &st);
        r->where_offset = r->frames.frame_offset;
        if (rc != CONSORT_OK)
            return fail_here(r, rc);
        if (st == CS_LEDGER_FRAME_TORN && c->committed) {
            cs_fail(CONSORT_E_CORRUPT, "truncated frame (%" PRIu64 " bytes left)",
                    r->frames.size - r->frames.frame_offset);
            return fail_here(r, CONSORT_E_CORRUPT);
        }
        if (st == CS_LEDGER_FRAME_TORN) {
            /* a crash mid-append: recovery truncates it (docs/ledger.md §5.2) */
            r->torn_offset = r->frames.frame_offset;
            r->torn_bytes = r->frames.size - r->frames.frame_offset;
        }
        if (st != CS_LEDGER_FRAME_OK) {
            CS_TRY(close_chunk(r));
            continue;
        }
        if ((rc = check_entry(r, bytes, &rec->entry)) != CONSORT_OK)
            return fail_here(r, rc);
        rec->file = c->name;
        rec->offset = r->frames.frame_offset;
        r->last_offset = rec->offset;
        r->in_this++;
        r->expect++;
        r->last_term = rec->entry.term;
        r->last_kind = rec->entry.kind;
        return CONSORT_OK;
    }
}
