/*
 * Reading a ledger directory back in the ledger tests (cmocka): whether a
 * file is there, its size, and that the directory holds exactly a
 * fixture's first entries. Header-only, like ledger_fixture.h (include it
 * first).
 */
#ifndef CONSORT_TEST_LEDGER_DIR_CHECK_H
#define CONSORT_TEST_LEDGER_DIR_CHECK_H

#include "base/file.h"

#include <stdio.h>
#include <sys/stat.h>

static inline bool ldc_exists(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return cs_file_exists(path);
}

static inline uint64_t ldc_file_size(const char *dir, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* Reads the whole directory (a valid chunk list: at most one .open chunk,
 * the last); asserts it holds exactly the first `n` entries of `l`, byte
 * for byte. Returns the number of chunks. */
static inline size_t ldc_expect_entries(const char *dir, const lfx_ledger *l, uint64_t n)
{
    cs_ledger_reader *r;
    cst_ok(cs_ledger_reader_open(dir, &r));
    uint64_t seen = 0;
    for (;;) {
        cs_ledger_record rec;
        bool done;
        cst_ok(cs_ledger_reader_next(r, &rec, &done));
        if (done)
            break;
        seen++;
        assert_true(seen <= n);
        assert_int_equal(rec.entry.seqno, seen);
        assert_true(cs_slice_eq(rec.entry.raw, cs_buf_slice(&l->entries[seen - 1])));
    }
    assert_int_equal(seen, n);
    size_t chunks = cs_ledger_reader_chunks(r);
    cs_ledger_reader_free(r);
    return chunks;
}

#endif
