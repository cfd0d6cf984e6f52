/*
 * The writer's state, shared by ledger_writer.c (append, sync, chunk close)
 * and ledger_writer_state.c (recovery on open, truncation). Not part of the
 * ledger API.
 *
 * Invariants: the files hold every entry up to file_seqno; `pending` holds
 * whole frames for file_seqno + 1 .. last_seqno, to be written at the end of
 * the .open chunk (fd, file_len bytes long). fd is -1 when no chunk is open
 * (empty ledger, or right after a chunk was closed); the next flush creates
 * ledger_<file_seqno + 1>.open.
 *
 * Closing (defer_sync only): the .open chunk is full and ends with a
 * signature entry (file_seqno); its close (fsync, rename to .committed,
 * directory fsync) is owed to the next sync, which a ticket may run on
 * another thread. Until it is done nothing is written: `pending` keeps the
 * entries after it, so the directory never holds two .open chunks.
 */
#ifndef CS_STORE_LEDGER_WRITER_PRIV_H
#define CS_STORE_LEDGER_WRITER_PRIV_H

#include "store/ledger.h"
#include "store/ledger_writer.h"

#include <limits.h>

/* Frames are written once this many bytes are buffered. */
#define CS_LEDGER_FLUSH_AT ((size_t)64 << 10)
/* While a chunk's close is owed, entries wait in memory up to this many
 * bytes; one more and the writer finishes the close on its own thread. */
#define CS_LEDGER_WAIT_MAX ((size_t)8 << 20)

struct cs_ledger_writer {
    char dir[PATH_MAX];
    cs_ledger_io io;
    size_t chunk_size;
    uint64_t start_seqno;
    int fd;
    uint64_t chunk_first; /* first seqno of the .open chunk */
    uint64_t file_len;    /* bytes written to the .open chunk */
    bool dir_dirty;       /* the .open chunk was created: fsync the directory */
    cs_buf pending;
    uint64_t file_seqno, file_term; /* last entry in the files (0, 0: none) */
    uint64_t last_seqno, last_term; /* last accepted entry */
    bool broken;
    bool defer_sync;  /* opts.defer_sync */
    bool unsynced;    /* a signature entry was accepted since the last fsync */
    uint64_t gen;     /* counts signature entries left unsynced and chunk changes
                       * (cs_ledger_sync: a sync begun before may not clear them) */
    bool closing;     /* the .open chunk owes its close (above) */
    bool close_out;   /* a ticket for a close is out, until its _end */
    bool sig_waiting; /* a signature entry waits in `pending` (accepted while closing) */
};

/*
 * Reads the directory's state into `w` (closing any fd first): the last
 * chunk is scanned; a torn final frame of the .open chunk is truncated away
 * and logged. Called by open and after a truncation.
 */
CS_MUST_CHECK consort_err cs_ledger_writer_load(cs_ledger_writer *w);

/* fsync of the ledger directory (through the io seam). */
CS_MUST_CHECK consort_err cs_ledger_writer_sync_dir(cs_ledger_writer *w);

#endif
