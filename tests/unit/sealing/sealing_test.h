/* Helpers of the sealing tests: temporary directories and fixed code ids. */
#ifndef CONSORT_TEST_SEALING_H
#define CONSORT_TEST_SEALING_H

#include "testutil.h"

#include "sealing/seal.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int st_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

/* A fresh directory /tmp/consort-seal-XXXXXX in `out` (64 bytes). */
static inline void st_tmpdir(char *out)
{
    snprintf(out, 64, "/tmp/consort-seal-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static inline void st_rmdir(const char *dir)
{
    nftw(dir, st_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Code id number n: 32 bytes of n. */
static inline cs_code_id st_code(uint8_t n)
{
    cs_code_id id;
    memset(id.b, n, sizeof id.b);
    return id;
}

static inline void st_copy_file(const char *from, const char *to)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_file(from, &b);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.ptr, 1, b.len, f), b.len);
    fclose(f);
    cs_buf_cleanup(&b);
}

#endif
