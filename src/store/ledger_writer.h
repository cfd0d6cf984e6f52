/*
 * The ledger's writer (docs/ledger.md §5 "Chunk files"): the files of one
 * node's ledger directory, appended to by the node that owns them. The
 * entry format, chunk names, reader and verifier are in store/ledger.h.
 */
#ifndef CS_STORE_LEDGER_WRITER_H
#define CS_STORE_LEDGER_WRITER_H

#include "store/ledger.h"

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

/* ---- the writer (ledger_writer.c, ledger_writer_state.c) ---- */

/* The file operations the writer uses: a seam so tests can inject failures
 * (pwrite semantics; -1 with errno on failure). NULL members use the OS. */
typedef struct cs_ledger_io {
    ssize_t (*pwrite_fn)(void *ctx, int fd, const void *buf, size_t n, off_t off);
    int (*fsync_fn)(void *ctx, int fd);
    void *ctx;
} cs_ledger_io;

typedef struct cs_ledger_writer_opts {
    size_t chunk_size;      /* 0: CS_LEDGER_CHUNK_SIZE_DEFAULT */
    uint64_t start_seqno;   /* seqno of the first entry of an empty ledger (0: 1) */
    const cs_ledger_io *io; /* NULL: the OS */
    /* Signature entries write their frames but leave the fsync of the .open
     * chunk to cs_ledger_writer_sync, which the owner then calls within its
     * own bound (the node: ledger_sync_ms, docs/ledger.md §5.1). So does a
     * signature entry that fills the chunk: its close (fsync, rename,
     * directory fsync) is owed to the next sync (cs_ledger_writer_closing),
     * and the entries after it wait in memory until that close is done. */
    bool defer_sync;
} cs_ledger_writer_opts;

typedef struct cs_ledger_writer cs_ledger_writer;

/*
 * Opens (creating it if needed) the ledger directory `dir` for appending.
 * Recovery: a torn final frame of the .open chunk (a crash mid-write) is
 * truncated away and logged; the last chunk is read to learn the last seqno
 * and term. CORRUPT (file, offset, seqno) for anything else malformed in
 * the last chunk or the names; IO, NOMEM.
 */
CS_MUST_CHECK consort_err cs_ledger_writer_open(const char *dir, const cs_ledger_writer_opts *opts,
                                                cs_ledger_writer **out);
/* Flushes buffered frames (without fsync, errors logged) and frees; NULL is a no-op. */
void cs_ledger_writer_free(cs_ledger_writer *w);

/*
 * Appends one entry (decoded first: it must be a valid entry with seqno =
 * last + 1 and a term no smaller than the last, else INVALID_ARGUMENT).
 * Frames are buffered and written in batches; a signature entry makes the
 * files durable (docs/ledger.md §5.1: fsynced at every signature entry): the
 * buffered frames are written and the .open chunk fsynced, or, if it now
 * holds chunk_size bytes or more, closed: fsynced, renamed to .committed
 * and the directory fsynced. Returns CONSORT_OK iff the entry was accepted.
 * CONSORT_E_NO_SPACE: the entry was not accepted and the files hold exactly
 * the frames written before (a partial frame is cut off); the writer stays
 * usable. Any other I/O error (fsync, rename) leaves the writer broken:
 * later calls fail with CONSORT_E_STATE until it is reopened. With
 * opts.defer_sync, a signature entry is written but not fsynced, and a
 * chunk it fills is not closed yet: cs_ledger_writer_unsynced says so until
 * cs_ledger_writer_sync (or a ticket) makes it good.
 */
CS_MUST_CHECK consort_err cs_ledger_writer_append(cs_ledger_writer *w, cs_slice entry);
/* Whether a signature entry was accepted since the files were last made
 * durable (only ever true with opts.defer_sync). */
bool cs_ledger_writer_unsynced(const cs_ledger_writer *w);
/* Whether a full chunk owes its close (opts.defer_sync): until it is done,
 * accepted entries wait in memory. */
bool cs_ledger_writer_closing(const cs_ledger_writer *w);
/* Copies into `out` the entry `seqno` while it waits in the writer's memory
 * (accepted, its frame not yet written to a file: a chunk's close is owed,
 * or the frames are batched). NOT_FOUND if it is not there (it is in the
 * files, or was never accepted); CORRUPT if the waiting frames disagree with
 * the seqnos accepted. The owner's thread. */
CS_MUST_CHECK consort_err cs_ledger_writer_read_waiting(const cs_ledger_writer *w, uint64_t seqno,
                                                        cs_buf *out);
/* Closes a chunk that owes its close, writes buffered frames and fsyncs the
 * .open chunk (and the directory once after creating it): every accepted
 * entry is then durable. NO_SPACE as for append (the frames stay buffered). */
CS_MUST_CHECK consort_err cs_ledger_writer_sync(cs_ledger_writer *w);
/*
 * The same sync in three steps, so that the fsyncs run on another thread
 * while the owner goes on appending (the node: its loop never waits for the
 * disk; a ledger fsync queued behind a large snapshot's writes took 100-160
 * ms). _begin (owner) writes the buffered frames and takes its own
 * descriptor of the .open chunk; _run (any thread) fsyncs it, and the
 * directory if the chunk is new; _end (owner) closes the descriptor and
 * says what came of it. Success clears cs_ledger_writer_unsynced only if no
 * signature entry was accepted and no chunk changed since _begin (those owe
 * a sync of their own); a failed fsync breaks the writer, as in
 * cs_ledger_writer_sync. Every _begin that succeeded needs its _end (a
 * ticket with fd -1 had nothing to sync).
 *
 * _begin makes every accepted entry part of the sync: a chunk that owes its
 * close (cs_ledger_writer_closing) is closed first, on the calling thread.
 * cs_ledger_writer_owed_begin instead takes a ticket for what the writer
 * owes next, so that the owner's thread waits for a close no more than for
 * a sync: _run then fsyncs the full chunk, renames it to .committed and
 * fsyncs the directory; the entries waiting behind it are written by the
 * owner after _end and owe the next sync (unsynced stays set if one of them
 * is a signature entry). One ticket at a time holds a close: _begin,
 * cs_ledger_writer_sync or a second owed_begin meanwhile finish the close
 * on the calling thread (the ticket's rename then finds it done).
 * Truncation waits (BUSY) while a ticket holds a close.
 */
typedef struct cs_ledger_sync {
    int fd;   /* own descriptor of the .open chunk, -1: nothing to sync */
    bool dir; /* the directory too (the chunk was created since its last sync) */
    char dir_path[PATH_MAX];
    uint64_t closes;     /* first seqno of the chunk this ticket closes (0: none) */
    char from[PATH_MAX]; /* ... its .open name */
    char to[PATH_MAX];   /* ... and its .committed name */
    cs_ledger_io io;
    uint64_t gen;       /* the writer's generation at _begin */
    int err;            /* errno of a failed fsync (0: none) */
    const char *failed; /* what that fsync was of */
} cs_ledger_sync;
CS_MUST_CHECK consort_err cs_ledger_writer_sync_begin(cs_ledger_writer *w, cs_ledger_sync *t);
CS_MUST_CHECK consort_err cs_ledger_writer_owed_begin(cs_ledger_writer *w, cs_ledger_sync *t);
void cs_ledger_sync_run(cs_ledger_sync *t);
CS_MUST_CHECK consort_err cs_ledger_writer_sync_end(cs_ledger_writer *w, cs_ledger_sync *t);
/* A ticket whose writer went (freed or replaced) or whose fsyncs never
 * ran: closes its descriptor and says nothing about any writer. */
void cs_ledger_sync_abandon(cs_ledger_sync *t);
/*
 * Rollback: removes every entry with a seqno greater than `seqno` (buffered
 * or in files, across chunks: later chunk files are deleted from the last
 * one back, the chunk holding `seqno` is cut after it and, if it was
 * committed and no longer ends at its name's last seqno, becomes the .open
 * chunk again). `seqno` may be start - 1 (empty ledger). INVALID_ARGUMENT
 * if `seqno` is beyond the last entry; BUSY while a ticket holds a chunk's
 * close (until its _end); IO; CORRUPT.
 */
CS_MUST_CHECK consort_err cs_ledger_writer_truncate(cs_ledger_writer *w, uint64_t seqno);
/* The last accepted entry (0 when empty) and its term. */
uint64_t cs_ledger_writer_last_seqno(const cs_ledger_writer *w);
uint64_t cs_ledger_writer_last_term(const cs_ledger_writer *w);

#endif
