/*
 * Frames of one chunk file, for ledger_reader.c and ledger_writer*.c only
 * (not part of the ledger API).
 *
 * A chunk file is a sequence of frames, each be32 length || entry bytes,
 * with CS_LEDGER_ENTRY_MIN <= length <= CS_LEDGER_ENTRY_MAX (docs/ledger.md
 * 5.1). A frame that runs past the end of the file (its length field
 * incomplete, or fewer entry bytes than it announces, which must then be a
 * prefix of a version 2 entry of that length: docs/ledger.md 5.2) is
 * "torn": what a crash in the middle of an append leaves. Whether that is
 * acceptable is the caller's decision (only at the end of the .open chunk).
 */
#ifndef CS_STORE_LEDGER_FRAMES_H
#define CS_STORE_LEDGER_FRAMES_H

#include "store/ledger.h"

#include <limits.h>
#include <stdio.h>

#define CS_LEDGER_FRAME_HEADER 4

typedef enum cs_ledger_frame_status {
    CS_LEDGER_FRAME_OK,   /* an entry was read */
    CS_LEDGER_FRAME_END,  /* the file ended exactly after the last frame */
    CS_LEDGER_FRAME_TORN, /* the last frame is incomplete (see torn_offset) */
} cs_ledger_frame_status;

typedef struct cs_ledger_frames {
    FILE *f;
    char path[PATH_MAX];
    uint64_t size;         /* file size when opened */
    uint64_t offset;       /* of the next frame */
    uint64_t frame_offset; /* of the frame last returned (or found torn) */
    cs_buf entry;          /* the last entry read */
} cs_ledger_frames;

/* Opens dir/name for reading. NOT_FOUND, IO. */
CS_MUST_CHECK consort_err cs_ledger_frames_open(cs_ledger_frames *fr, const char *dir,
                                                const char *name);
void cs_ledger_frames_close(cs_ledger_frames *fr);

/*
 * Reads the next frame. On CS_LEDGER_FRAME_OK `*entry` borrows the entry
 * bytes (valid until the next call) and fr->frame_offset is its frame's
 * offset; on TORN, fr->frame_offset is where the torn frame starts.
 * CONSORT_E_CORRUPT for a length outside [ENTRY_MIN, ENTRY_MAX] or a frame
 * running past the end whose bytes cannot be a prefix of an entry of its
 * length (message "offset <o>: ..."), CONSORT_E_IO, CONSORT_E_NOMEM.
 */
CS_MUST_CHECK consort_err cs_ledger_frames_next(cs_ledger_frames *fr, cs_slice *entry,
                                                cs_ledger_frame_status *status);

/*
 * A reader (ledger.h) over only the last `last_chunks` chunks of `dir`, with
 * the same checks (the first of them sets the expected seqno). The writer
 * uses it to recover the tail of a ledger without reading all of it.
 */
CS_MUST_CHECK consort_err cs_ledger_reader_open_tail(const char *dir, size_t last_chunks,
                                                     cs_ledger_reader **out);
/* The reader's chunk list (every chunk of the directory, sorted). */
const cs_ledger_chunk *cs_ledger_reader_chunk_list(const cs_ledger_reader *r, size_t *count);

#endif
