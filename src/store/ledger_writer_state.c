/*
 * The writer's view of the directory: recovery when it opens (docs/ledger.md
 * §5.2 "Torn frames": a torn last frame of the .open chunk is truncated away and
 * logged; anything else malformed is CORRUPT) and rollback (truncation after
 * a seqno, across chunk files: docs/ledger.md §5.3 "Rollback").
 */
#include "store/ledger_frames.h"
#include "store/ledger_writer.h"
#include "store/ledger_writer_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

/* Cuts dir/name to `len` bytes and fsyncs it. */
static consort_err cut_file(cs_ledger_writer *w, const char *name, uint64_t len)
{
    char path[PATH_MAX];
    CS_TRY(cs_path_join(path, sizeof path, w->dir, name));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return cs_fail(cs_errno_code(errno), "ledger: open %s: %s", path, strerror(errno));
    consort_err rc = CONSORT_OK;
    if (ftruncate(fd, (off_t)len) != 0)
        rc = cs_fail(CONSORT_E_IO, "ledger: truncate %s: %s", path, strerror(errno));
    else if (w->io.fsync_fn(w->io.ctx, fd) != 0)
        rc = cs_fail(CONSORT_E_IO, "ledger: fsync %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

/* Opens the .open chunk `c` for appending at its end. */
static consort_err reopen_chunk(cs_ledger_writer *w, const cs_ledger_chunk *c)
{
    char path[PATH_MAX];
    CS_TRY(cs_path_join(path, sizeof path, w->dir, c->name));
    w->fd = open(path, O_RDWR | O_CLOEXEC);
    if (w->fd < 0)
        return cs_fail(cs_errno_code(errno), "ledger: open %s: %s", path, strerror(errno));
    off_t end = lseek(w->fd, 0, SEEK_END);
    if (end < 0)
        return cs_fail(CONSORT_E_IO, "ledger: seek %s: %s", path, strerror(errno));
    w->chunk_first = c->first;
    w->file_len = (uint64_t)end;
    return CONSORT_OK;
}

/* Reads the tail of the ledger: last seqno and term, torn frame. */
static consort_err read_tail(cs_ledger_writer *w, cs_ledger_reader *r)
{
    cs_ledger_record rec;
    bool done = false, any = false;
    for (;;) {
        CS_TRY(cs_ledger_reader_next(r, &rec, &done));
        if (done)
            break;
        w->last_seqno = rec.entry.seqno;
        w->last_term = rec.entry.term;
        any = true;
    }
    size_t count;
    const cs_ledger_chunk *chunks = cs_ledger_reader_chunk_list(r, &count);
    if (count == 0)
        return CONSORT_OK;
    const cs_ledger_chunk *last = &chunks[count - 1];
    if (!any)
        w->last_seqno = last->first - 1; /* only an empty .open chunk */
    if (last->committed)
        return CONSORT_OK;
    uint64_t torn_at, torn = cs_ledger_reader_torn_bytes(r, &torn_at);
    if (torn > 0) {
        cs_log_warn("ledger",
                    "%s/%s: torn final frame of %" PRIu64 " bytes at offset %" PRIu64
                    " (crash mid-write), truncated",
                    w->dir, last->name, torn, torn_at);
        CS_TRY(cut_file(w, last->name, torn_at));
    }
    return reopen_chunk(w, last);
}

consort_err cs_ledger_writer_load(cs_ledger_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    w->dir_dirty = false;
    w->closing = false; /* a full .open chunk closes at its next signature entry */
    w->close_out = false;
    w->sig_waiting = false;
    w->unsynced = false; /* what is loaded is what the files hold */
    w->gen++;
    cs_buf_reset(&w->pending);
    w->last_seqno = w->start_seqno - 1;
    w->last_term = 0;
    /* the last chunk, and the one before it (the term before an empty .open
     * chunk, and the check that the .open chunk starts where it ends) */
    cs_ledger_reader *r;
    CS_TRY(cs_ledger_reader_open_tail(w->dir, 2, &r));
    consort_err rc = read_tail(w, r);
    cs_ledger_reader_free(r);
    w->file_seqno = w->last_seqno;
    w->file_term = w->last_term;
    return rc;
}

/* ---- truncation ---- */

/* Drops the pending frames after `seqno` (>= file_seqno); sets last_term. */
static consort_err trim_pending(cs_ledger_writer *w, uint64_t seqno)
{
    uint64_t term = w->file_term;
    size_t off = 0;
    while (off < w->pending.len) {
        cs_cursor c;
        cs_ledger_entry e;
        uint32_t len;
        cs_slice bytes;
        cs_cursor_init(&c, CS_SLICE(w->pending.ptr + off, w->pending.len - off));
        CS_TRY(cs_cursor_read_be32(&c, &len));
        CS_TRY(cs_cursor_read_slice(&c, len, &bytes));
        CS_TRY(cs_ledger_entry_decode(bytes, &e));
        if (e.seqno > seqno)
            break;
        term = e.term;
        off += 4 + (size_t)len;
    }
    w->pending.len = off;
    w->last_seqno = seqno;
    w->last_term = term;
    return CONSORT_OK;
}

/* Offset just after entry `seqno` in chunk `c`. */
static consort_err end_of_entry(const cs_ledger_writer *w, const cs_ledger_chunk *c, uint64_t seqno,
                                uint64_t *end)
{
    cs_ledger_frames fr;
    CS_TRY(cs_ledger_frames_open(&fr, w->dir, c->name));
    consort_err rc;
    for (;;) {
        cs_slice bytes;
        cs_ledger_frame_status st;
        cs_ledger_entry e;
        if ((rc = cs_ledger_frames_next(&fr, &bytes, &st)) != CONSORT_OK)
            break;
        if (st != CS_LEDGER_FRAME_OK) {
            rc = cs_fail(CONSORT_E_CORRUPT, "%s: no entry %" PRIu64, c->name, seqno);
            break;
        }
        if ((rc = cs_ledger_entry_decode(bytes, &e)) != CONSORT_OK) {
            rc = cs_err_context(CONSORT_E_CORRUPT, "%s offset %" PRIu64, c->name, fr.frame_offset);
            break;
        }
        if (e.seqno == seqno) {
            *end = fr.offset;
            break;
        }
    }
    cs_ledger_frames_close(&fr);
    return rc;
}

/* Removes every entry after `seqno` from the files: later chunks are deleted
 * from the last one back (a crash leaves a prefix of the ledger), the chunk
 * holding `seqno` is cut after it and reopened as .open if it was committed
 * and no longer ends at its name's last seqno. */
static consort_err cut_files(cs_ledger_writer *w, uint64_t seqno)
{
    cs_ledger_chunk *chunks;
    size_t count;
    CS_TRY(cs_ledger_chunks_list(w->dir, &chunks, &count));
    consort_err rc = CONSORT_OK;
    if (count > 0 && seqno + 1 < chunks[0].first)
        rc = cs_fail(CONSORT_E_INVALID_ARGUMENT,
                     "ledger truncate: seqno %" PRIu64 " is before the first entry %" PRIu64, seqno,
                     chunks[0].first);
    bool renamed = false;
    size_t i = count;
    while (rc == CONSORT_OK && i > 0 && chunks[i - 1].first > seqno) {
        char path[PATH_MAX];
        rc = cs_path_join(path, sizeof path, w->dir, chunks[--i].name);
        if (rc == CONSORT_OK && unlink(path) != 0 && errno != ENOENT)
            rc = cs_fail(CONSORT_E_IO, "ledger: remove %s: %s", path, strerror(errno));
    }
    cs_ledger_chunk *c = i > 0 ? &chunks[i - 1] : NULL;
    if (rc == CONSORT_OK && c != NULL && !(c->committed && c->last == seqno)) {
        uint64_t end = 0;
        rc = end_of_entry(w, c, seqno, &end);
        if (rc == CONSORT_OK)
            rc = cut_file(w, c->name, end);
        if (rc == CONSORT_OK && c->committed) {
            char from[PATH_MAX], to[PATH_MAX];
            cs_ledger_chunk open_chunk = {.first = c->first};
            cs_ledger_chunk_format_name(&open_chunk);
            rc = cs_path_join(from, sizeof from, w->dir, c->name);
            if (rc == CONSORT_OK)
                rc = cs_path_join(to, sizeof to, w->dir, open_chunk.name);
            if (rc == CONSORT_OK && rename(from, to) != 0)
                rc =
                    cs_fail(CONSORT_E_IO, "ledger: rename %s to %s: %s", from, to, strerror(errno));
            renamed = rc == CONSORT_OK;
        }
    }
    cs_free(chunks);
    if (rc == CONSORT_OK && (i < count || renamed))
        rc = cs_ledger_writer_sync_dir(w);
    return rc;
}

consort_err cs_ledger_writer_truncate(cs_ledger_writer *w, uint64_t seqno)
{
    CS_ENSURE(!w->broken, CONSORT_E_STATE, "ledger writer broken by an earlier I/O error");
    CS_ENSURE(seqno <= w->last_seqno, CONSORT_E_INVALID_ARGUMENT,
              "ledger truncate: seqno %" PRIu64 " is beyond the last entry %" PRIu64, seqno,
              w->last_seqno);
    /* the ticket would rename the chunk even if the cut made it .open again */
    CS_ENSURE(!w->close_out, CONSORT_E_BUSY,
              "ledger truncate: a ticket is closing the .open chunk (end it first)");
    if (seqno >= w->file_seqno)
        return trim_pending(w, seqno);
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    cs_buf_reset(&w->pending);
    consort_err rc = cut_files(w, seqno);
    if (rc == CONSORT_OK)
        rc = cs_ledger_writer_load(w);
    if (rc != CONSORT_OK) {
        w->broken = true;
        return cs_err_context(rc, "ledger truncate to %" PRIu64, seqno);
    }
    cs_log_info("ledger", "%s: truncated after seqno %" PRIu64, w->dir, seqno);
    return CONSORT_OK;
}
