/*
 * The undo records of the power-cut layer (tests/util/powercut.c writes
 * them, tests/util/powercut_tool.c applies them): POWERCUT_JOURNAL/
 * <dev>-<ino>.undo holds, for one file, a sequence of records, each this
 * header and then `len` bytes: restoring it puts back those bytes at `off`
 * and the size `old_size` the file had before the write it precedes.
 */
#ifndef CONSORT_TEST_POWERCUT_H
#define CONSORT_TEST_POWERCUT_H

#include <stdint.h>

#define UNDO_MAGIC 0x50435554u /* "PCUT" */

typedef struct undo_hdr {
    uint32_t magic;
    uint32_t reserved;
    uint64_t old_size;
    uint64_t off;
    uint64_t len;
} undo_hdr;

#endif
