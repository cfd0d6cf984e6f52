/*
 * Appending to the ledger files (docs/ledger.md §5.1 "Frames and names"; contract in
 * ledger.h). Frames are buffered in memory and written at the end of the
 * .open chunk; nothing is fsynced per transaction (DESIGN.md "Performance
 * model": durability is batched at signature points and on sync()).
 */
#include "store/ledger_writer_priv.h"
#include "store/ledger_writer.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static ssize_t os_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    (void)ctx;
    return pwrite(fd, buf, n, off);
}

static int os_fsync(void *ctx, int fd)
{
    (void)ctx;
    return fsync(fd);
}

consort_err cs_ledger_writer_open(const char *dir, const cs_ledger_writer_opts *opts,
                                  cs_ledger_writer **out)
{
    cs_ledger_writer_opts defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    CS_ENSURE(strlen(dir) < PATH_MAX - CS_LEDGER_NAME_MAX - 1, CONSORT_E_INVALID_ARGUMENT,
              "ledger directory path too long");
    CS_TRY(cs_mkdir_p(dir, 0700));
    cs_ledger_writer *w = cs_calloc(1, sizeof *w);
    CS_ENSURE(w != NULL, CONSORT_E_NOMEM, "ledger writer: out of memory");
    strcpy(w->dir, dir);
    w->fd = -1;
    w->chunk_size = opts->chunk_size ? opts->chunk_size : CS_LEDGER_CHUNK_SIZE_DEFAULT;
    w->start_seqno = opts->start_seqno ? opts->start_seqno : 1;
    w->io.pwrite_fn = opts->io && opts->io->pwrite_fn ? opts->io->pwrite_fn : os_pwrite;
    w->io.fsync_fn = opts->io && opts->io->fsync_fn ? opts->io->fsync_fn : os_fsync;
    w->io.ctx = opts->io ? opts->io->ctx : NULL;
    w->defer_sync = opts->defer_sync;
    /* one maximal frame plus what may wait for a chunk's close */
    cs_buf_init(&w->pending, CS_LEDGER_ENTRY_MAX + 4 + CS_LEDGER_WAIT_MAX);
    consort_err rc = cs_ledger_writer_load(w);
    if (rc != CONSORT_OK) {
        cs_ledger_writer_free(w);
        return cs_err_context(rc, "ledger %s", dir);
    }
    *out = w;
    return CONSORT_OK;
}

static consort_err open_chunk(cs_ledger_writer *w, uint64_t seqno);

/* Writes every pending frame at file_len, creating the .open chunk first if
 * none is open. On failure the file is cut back to file_len (no partial
 * frame stays) and the frames stay pending. Never while closing. */
static consort_err flush(cs_ledger_writer *w)
{
    if (w->pending.len == 0)
        return CONSORT_OK;
    if (w->fd < 0)
        CS_TRY(open_chunk(w, w->file_seqno + 1));
    size_t done = 0;
    while (done < w->pending.len) {
        ssize_t n = w->io.pwrite_fn(w->io.ctx, w->fd, w->pending.ptr + done, w->pending.len - done,
                                    (off_t)(w->file_len + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        int err = n < 0 ? errno : EIO;
        if (ftruncate(w->fd, (off_t)w->file_len) != 0) {
            w->broken = true;
            return cs_fail(CONSORT_E_IO, "ledger: write failed (%s) and cutting back failed: %s",
                           strerror(err), strerror(errno));
        }
        return cs_fail(cs_errno_code(err), "ledger %s: writing %zu bytes at offset %" PRIu64 ": %s",
                       w->dir, w->pending.len, w->file_len, strerror(err));
    }
    w->file_len += w->pending.len;
    w->sig_waiting = false;
    w->file_seqno = w->last_seqno;
    w->file_term = w->last_term;
    cs_buf_reset(&w->pending);
    return CONSORT_OK;
}

static consort_err fsync_fd(cs_ledger_writer *w, int fd, const char *what)
{
    if (w->io.fsync_fn(w->io.ctx, fd) != 0) {
        w->broken = true; /* after a failed fsync the page cache state is unknown */
        return cs_fail(cs_errno_code(errno), "ledger %s: fsync of %s: %s", w->dir, what,
                       strerror(errno));
    }
    return CONSORT_OK;
}

/* fsync of directory `dir` through `io`: 0, or the errno of the open or
 * the fsync that failed (*opened says which). Any thread. */
static int fsync_dir(const cs_ledger_io *io, const char *dir, bool *opened)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *opened = dfd >= 0;
    if (dfd < 0)
        return errno != 0 ? errno : EIO;
    int err = io->fsync_fn(io->ctx, dfd) != 0 ? (errno != 0 ? errno : EIO) : 0;
    close(dfd);
    return err;
}

consort_err cs_ledger_writer_sync_dir(cs_ledger_writer *w)
{
    bool opened;
    int err = fsync_dir(&w->io, w->dir, &opened);
    if (err == 0)
        return CONSORT_OK;
    w->broken = true; /* after a failed fsync the page cache state is unknown */
    if (!opened)
        return cs_fail(CONSORT_E_IO, "ledger %s: open directory: %s", w->dir, strerror(err));
    return cs_fail(cs_errno_code(err), "ledger %s: fsync of the directory: %s", w->dir,
                   strerror(err));
}

/* The path of the .open chunk, or of its .committed name (ending at the last
 * entry in the files). */
static consort_err chunk_name(const cs_ledger_writer *w, bool committed, char *path, size_t n)
{
    cs_ledger_chunk c = {.first = w->chunk_first, .last = w->file_seqno, .committed = committed};
    cs_ledger_chunk_format_name(&c);
    return cs_path_join(path, n, w->dir, c.name);
}

/* fsync of the (flushed) .open chunk, and of the directory once after the
 * chunk was created. */
static consort_err sync_open_chunk(cs_ledger_writer *w)
{
    CS_TRY(fsync_fd(w, w->fd, "the open chunk"));
    w->unsynced = false;
    if (w->dir_dirty) {
        CS_TRY(cs_ledger_writer_sync_dir(w));
        w->dir_dirty = false;
    }
    return CONSORT_OK;
}

/* Creates ledger_<seqno>.open for the entry `seqno`. */
static consort_err open_chunk(cs_ledger_writer *w, uint64_t seqno)
{
    char path[PATH_MAX];
    w->chunk_first = seqno;
    CS_TRY(chunk_name(w, false, path, sizeof path));
    w->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0)
        return cs_fail(cs_errno_code(errno), "ledger: cannot create %s: %s", path, strerror(errno));
    w->file_len = 0;
    w->dir_dirty = true;
    return CONSORT_OK;
}

/* rename(2) of a chunk being closed: 0 or an errno. The owner and a ticket
 * may both finish one close (the owner's sync while the ticket runs): the
 * second to get there finds it done. */
static int rename_chunk(const char *from, const char *to)
{
    if (rename(from, to) == 0)
        return 0;
    int err = errno;
    return err == ENOENT && access(to, F_OK) == 0 ? 0 : err;
}

/* The state after the .open chunk (fd) was closed (by finish_close or a
 * ticket): the entries waiting in `pending` begin the next chunk. */
static void chunk_closed(cs_ledger_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    w->file_len = 0;
    w->closing = false;
    w->dir_dirty = false;
    w->gen++;
}

/* docs/ledger.md §5.1, closing a chunk on the owner's thread: fsync the
 * file, rename it to .committed, fsync the directory. */
static consort_err finish_close(cs_ledger_writer *w)
{
    char from[PATH_MAX], to[PATH_MAX];
    CS_TRY(chunk_name(w, false, from, sizeof from));
    CS_TRY(chunk_name(w, true, to, sizeof to));
    CS_TRY(fsync_fd(w, w->fd, "the open chunk"));
    int err = rename_chunk(from, to);
    if (err != 0) {
        w->broken = true;
        return cs_fail(CONSORT_E_IO, "ledger: rename %s to %s: %s", from, to, strerror(err));
    }
    CS_TRY(cs_ledger_writer_sync_dir(w));
    chunk_closed(w);
    cs_log_debug("ledger", "closed chunk %s", to);
    return CONSORT_OK;
}

static consort_err check_next(const cs_ledger_writer *w, const cs_ledger_entry *e)
{
    CS_ENSURE(e->seqno == w->last_seqno + 1, CONSORT_E_INVALID_ARGUMENT,
              "ledger append: seqno %" PRIu64 ", expected %" PRIu64, e->seqno, w->last_seqno + 1);
    CS_ENSURE(e->term >= w->last_term, CONSORT_E_INVALID_ARGUMENT,
              "ledger append: term %" PRIu64 " is lower than the last term %" PRIu64, e->term,
              w->last_term);
    return CONSORT_OK;
}

consort_err cs_ledger_writer_append(cs_ledger_writer *w, cs_slice entry)
{
    CS_ENSURE(!w->broken, CONSORT_E_STATE, "ledger writer broken by an earlier I/O error");
    cs_ledger_entry e;
    CS_TRY_CTX(cs_ledger_entry_decode(entry, &e), "ledger append");
    CS_TRY(check_next(w, &e));
    size_t frame_len = 4 + entry.len;
    /* while a chunk closes, entries wait here (a second .open chunk must
     * not exist before the rename), up to a bound */
    if (w->closing && w->pending.len + frame_len > CS_LEDGER_WAIT_MAX)
        CS_TRY(finish_close(w));
    if (!w->closing && w->pending.len > 0 && w->pending.len + frame_len > CS_LEDGER_FLUSH_AT)
        CS_TRY(flush(w));
    size_t mark = w->pending.len;
    consort_err rc = cs_buf_append_be32(&w->pending, (uint32_t)entry.len);
    if (rc == CONSORT_OK)
        rc = cs_buf_append_slice(&w->pending, entry);
    if (rc != CONSORT_OK) {
        w->pending.len = mark;
        return rc;
    }
    uint64_t prev_seqno = w->last_seqno, prev_term = w->last_term;
    w->last_seqno = e.seqno;
    w->last_term = e.term;
    /* docs/ledger.md §5.1: the ledger files are fsynced at every signature entry, and
     * a chunk is closed at the first signature entry after it passes
     * chunk_size bytes */
    if (e.kind != CS_LEDGER_KIND_SIGNATURE)
        return CONSORT_OK;
    if (w->closing) {
        w->unsynced = true; /* written once the close is done, and owes its sync */
        w->sig_waiting = true;
        w->gen++;
        return CONSORT_OK;
    }
    if ((rc = flush(w)) != CONSORT_OK) {
        /* not accepted: the entry leaves the buffer again */
        w->pending.len = mark;
        w->last_seqno = prev_seqno;
        w->last_term = prev_term;
        return rc;
    }
    if (w->file_len >= w->chunk_size) {
        w->closing = true;
        if (!w->defer_sync) {
            w->unsynced = false;
            return finish_close(w);
        }
        w->unsynced = true; /* the close is owed to cs_ledger_writer_sync or a ticket */
        w->gen++;
        return CONSORT_OK;
    }
    if (w->defer_sync) {
        w->unsynced = true; /* the owner calls cs_ledger_writer_sync */
        w->gen++;
        return CONSORT_OK;
    }
    return sync_open_chunk(w);
}

bool cs_ledger_writer_unsynced(const cs_ledger_writer *w)
{
    return w->unsynced;
}

consort_err cs_ledger_writer_read_waiting(const cs_ledger_writer *w, uint64_t seqno, cs_buf *out)
{
    CS_ENSURE(seqno > w->file_seqno && seqno <= w->last_seqno && w->pending.len > 0,
              CONSORT_E_NOT_FOUND, "entry %llu is not waiting in the ledger writer's memory",
              (unsigned long long)seqno);
    /* `pending` holds the frames (be32 length || entry) of file_seqno + 1 ..
     * last_seqno, in order */
    cs_cursor c;
    cs_cursor_init(&c, cs_buf_slice(&w->pending));
    cs_slice entry = CS_SLICE_EMPTY;
    for (uint64_t s = w->file_seqno + 1; s <= seqno; s++) {
        uint32_t len;
        CS_ENSURE(cs_cursor_read_be32(&c, &len) == CONSORT_OK &&
                      cs_cursor_read_slice(&c, len, &entry) == CONSORT_OK,
                  CONSORT_E_CORRUPT, "ledger writer: the waiting frames end before entry %llu",
                  (unsigned long long)s);
    }
    cs_ledger_entry e;
    CS_ENSURE(cs_ledger_entry_decode(entry, &e) == CONSORT_OK && e.seqno == seqno,
              CONSORT_E_CORRUPT, "ledger writer: the frame waiting for entry %llu is not it",
              (unsigned long long)seqno);
    return cs_buf_set(out, entry);
}

bool cs_ledger_writer_closing(const cs_ledger_writer *w)
{
    return w->closing;
}

consort_err cs_ledger_writer_sync(cs_ledger_writer *w)
{
    CS_ENSURE(!w->broken, CONSORT_E_STATE, "ledger writer broken by an earlier I/O error");
    if (w->closing)
        CS_TRY(finish_close(w));
    if (w->fd < 0 && w->pending.len == 0) {
        w->unsynced = false; /* closed chunks were synced when they were closed */
        return CONSORT_OK;
    }
    CS_TRY(flush(w));
    return sync_open_chunk(w);
}

/* The ticket's own descriptor of the .open chunk. */
static consort_err ticket_fd(cs_ledger_writer *w, cs_ledger_sync *t)
{
    t->fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
    CS_ENSURE(t->fd >= 0, cs_errno_code(errno), "ledger %s: dup of the open chunk: %s", w->dir,
              strerror(errno));
    snprintf(t->dir_path, sizeof t->dir_path, "%s", w->dir);
    return CONSORT_OK;
}

consort_err cs_ledger_writer_sync_begin(cs_ledger_writer *w, cs_ledger_sync *t)
{
    *t = (cs_ledger_sync){.fd = -1, .io = w->io, .gen = w->gen};
    CS_ENSURE(!w->broken, CONSORT_E_STATE, "ledger writer broken by an earlier I/O error");
    if (w->closing) {
        CS_TRY(finish_close(w)); /* what waits behind it is part of this sync */
        t->gen = w->gen;
    }
    if (w->fd < 0 && w->pending.len == 0)
        return CONSORT_OK; /* closed chunks were synced when they were closed */
    CS_TRY(flush(w));
    CS_TRY(ticket_fd(w, t));
    t->dir = w->dir_dirty;
    return CONSORT_OK;
}

consort_err cs_ledger_writer_owed_begin(cs_ledger_writer *w, cs_ledger_sync *t)
{
    if (!w->closing || w->close_out || w->broken)
        return cs_ledger_writer_sync_begin(w, t);
    /* the ticket closes the chunk; what waits behind it is owed next */
    *t = (cs_ledger_sync){.fd = -1, .io = w->io, .gen = w->gen};
    CS_TRY(chunk_name(w, false, t->from, sizeof t->from));
    CS_TRY(chunk_name(w, true, t->to, sizeof t->to));
    CS_TRY(ticket_fd(w, t));
    t->closes = w->chunk_first;
    t->dir = true;
    w->close_out = true;
    return CONSORT_OK;
}

void cs_ledger_sync_run(cs_ledger_sync *t)
{
    if (t->fd < 0 || t->err != 0)
        return;
    if (t->io.fsync_fn(t->io.ctx, t->fd) != 0) {
        t->err = errno != 0 ? errno : EIO;
        t->failed = "the open chunk";
        return;
    }
    if (t->closes != 0 && (t->err = rename_chunk(t->from, t->to)) != 0) {
        t->failed = "the chunk's rename to .committed";
        return;
    }
    bool opened;
    if (t->dir && (t->err = fsync_dir(&t->io, t->dir_path, &opened)) != 0)
        t->failed = "the directory";
}

void cs_ledger_sync_abandon(cs_ledger_sync *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

consort_err cs_ledger_writer_sync_end(cs_ledger_writer *w, cs_ledger_sync *t)
{
    cs_ledger_sync_abandon(t); /* the descriptor; the outcome follows */
    if (t->err != 0) {
        w->broken = true; /* after a failed fsync the page cache state is unknown */
        return cs_fail(cs_errno_code(t->err), "ledger %s: fsync of %s: %s", t->dir_path, t->failed,
                       strerror(t->err));
    }
    /* a close ticket does not cover the signature entries waiting behind it */
    if (w->gen == t->gen && !(t->closes != 0 && w->sig_waiting)) {
        w->unsynced = false;
        w->dir_dirty = w->dir_dirty && !t->dir;
    }
    if (t->closes != 0) {
        /* held until here even if the owner finished the close first: a
         * truncation meanwhile could make t->from an .open chunk again */
        w->close_out = false;
        if (w->closing && w->chunk_first == t->closes) {
            chunk_closed(w); /* the close this ticket made */
            cs_log_debug("ledger", "closed chunk %s", t->to);
        }
    }
    return CONSORT_OK;
}

uint64_t cs_ledger_writer_last_seqno(const cs_ledger_writer *w)
{
    return w->last_seqno;
}

uint64_t cs_ledger_writer_last_term(const cs_ledger_writer *w)
{
    return w->last_term;
}

void cs_ledger_writer_free(cs_ledger_writer *w)
{
    if (w == NULL)
        return;
    if (w->closing && !w->broken && finish_close(w) != CONSORT_OK)
        cs_log_warn("ledger", "%s: a full chunk not closed: %s", w->dir, consort_errmsg());
    if (!w->closing && !w->broken && w->pending.len > 0 && flush(w) != CONSORT_OK)
        cs_log_warn("ledger", "%s: buffered entries not written on close: %s", w->dir,
                    consort_errmsg());
    if (w->fd >= 0)
        close(w->fd);
    cs_buf_cleanup(&w->pending);
    cs_free(w);
}
