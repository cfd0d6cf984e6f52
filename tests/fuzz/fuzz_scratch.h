/*
 * A scratch directory for fuzz targets that go through files (sealed state,
 * ledger chunks, snapshots): made once per process under /dev/shm (or /tmp),
 * emptied by the target after each input, and removed with everything in it
 * when the process exits.
 */
#ifndef CS_FUZZ_SCRATCH_H
#define CS_FUZZ_SCRATCH_H

#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_scratch_path[256];

static inline int fuzz_scratch_rm(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path); /* best effort */
    return 0;
}

/* Removes everything inside the scratch directory (keep_root) or all of it. */
static inline void fuzz_scratch_clear(int keep_root)
{
    if (fuzz_scratch_path[0] == '\0')
        return;
    nftw(fuzz_scratch_path, fuzz_scratch_rm, 16, FTW_DEPTH | FTW_PHYS);
    if (keep_root && mkdir(fuzz_scratch_path, 0700) != 0)
        abort();
}

static inline void fuzz_scratch_remove(void)
{
    fuzz_scratch_clear(0);
}

/* The directory, made on first use (name: a prefix such as "fuzz_sealed"). */
static inline const char *fuzz_scratch_dir(const char *name)
{
    if (fuzz_scratch_path[0] != '\0')
        return fuzz_scratch_path;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_scratch_path, sizeof fuzz_scratch_path, "%s/%s.XXXXXX", base, name);
    if (mkdtemp(fuzz_scratch_path) == NULL)
        abort();
    atexit(fuzz_scratch_remove);
    return fuzz_scratch_path;
}

#endif
