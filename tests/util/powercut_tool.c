/*
 * powercut rollback JOURNAL DIR...: the power cut of tests/util/powercut.c,
 * run after the process was killed (SIGKILL) and before it restarts. Rolls
 * every file under the DIRs that has undo records in JOURNAL back to its
 * last durable content (records applied newest first), fsyncs it, removes
 * its records, prints one line per file and then
 * "powercut: rolled back N writes in M files (B bytes put back)".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "powercut.h"

/* ---------------------------------------------------------------- the tool */

typedef struct file_id {
    dev_t dev;
    ino_t ino;
    char *path;
} file_id;

static file_id *files;
static size_t nfiles, capfiles;

static int walk_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    if (nfiles == capfiles) {
        capfiles = capfiles ? capfiles * 2 : 256;
        files = realloc(files, capfiles * sizeof *files);
        if (files == NULL)
            abort();
    }
    files[nfiles++] = (file_id){st->st_dev, st->st_ino, strdup(path)};
    return 0;
}

static const char *find_path(uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < nfiles; i++)
        if ((uint64_t)files[i].dev == dev && (uint64_t)files[i].ino == ino)
            return files[i].path;
    return NULL;
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "powercut: %s %s: %s\n", what, path, strerror(errno));
    exit(2);
}

/* Applies the undo records of `log` to `path`, newest first. Returns the
 * number of records; adds the bytes put back to *bytes. */
static size_t roll_back(const char *log, const char *path, uint64_t *bytes)
{
    int lfd = open(log, O_RDONLY | O_CLOEXEC);
    if (lfd < 0)
        die("cannot open", log);
    struct stat lst;
    if (fstat(lfd, &lst) != 0)
        die("cannot stat", log);
    uint8_t *buf = malloc((size_t)lst.st_size + 1);
    if (buf == NULL || read(lfd, buf, (size_t)lst.st_size) != lst.st_size)
        die("cannot read", log);
    close(lfd);
    /* index the complete records (a record cut by the kill was never followed by its write) */
    size_t cap = 64, n = 0;
    size_t *at = malloc(cap * sizeof *at);
    for (size_t off = 0; off + sizeof(undo_hdr) <= (size_t)lst.st_size;) {
        undo_hdr h;
        memcpy(&h, buf + off, sizeof h);
        if (h.magic != UNDO_MAGIC) {
            fprintf(stderr, "powercut: %s: bad record at %zu\n", log, off);
            exit(2);
        }
        if (off + sizeof h + h.len > (size_t)lst.st_size)
            break;
        if (n == cap)
            at = realloc(at, (cap *= 2) * sizeof *at);
        at[n++] = off;
        off += sizeof h + h.len;
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        die("cannot open", path);
    for (size_t i = n; i-- > 0;) {
        undo_hdr h;
        memcpy(&h, buf + at[i], sizeof h);
        if (h.len > 0 && pwrite(fd, buf + at[i] + sizeof h, h.len, (off_t)h.off) != (ssize_t)h.len)
            die("cannot write", path);
        if (ftruncate(fd, (off_t)h.old_size) != 0)
            die("cannot truncate", path);
        *bytes += h.len;
    }
    if (fsync(fd) != 0)
        die("cannot fsync", path);
    close(fd);
    free(at);
    free(buf);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[1], "rollback") != 0) {
        fprintf(stderr, "usage: powercut rollback JOURNAL DIR...\n"
                        "  rolls every file under the DIRs back to its last durable content,\n"
                        "  from the undo records libpowercut.so kept in JOURNAL\n");
        return 2;
    }
    const char *jdir = argv[2];
    for (int i = 3; i < argc; i++)
        if (nftw(argv[i], walk_cb, 16, FTW_PHYS) != 0)
            die("cannot walk", argv[i]);
    DIR *d = opendir(jdir);
    if (d == NULL)
        die("cannot open", jdir);
    size_t writes = 0, nfiles_done = 0;
    uint64_t bytes = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        uint64_t dev, ino;
        char tail[8];
        if (sscanf(e->d_name, "%" SCNx64 "-%" SCNx64 ".%5s", &dev, &ino, tail) != 3 ||
            strcmp(tail, "undo") != 0)
            continue;
        const char *path = find_path(dev, ino);
        if (path == NULL)
            continue; /* another directory's file, or removed since */
        char log[PATH_MAX];
        snprintf(log, sizeof log, "%s/%s", jdir, e->d_name);
        struct stat before, after;
        if (stat(path, &before) != 0)
            die("cannot stat", path);
        size_t n = roll_back(log, path, &bytes);
        if (stat(path, &after) != 0)
            die("cannot stat", path);
        printf("powercut: %s: %zu writes undone, %" PRIu64 " bytes long, was %" PRIu64 "\n", path,
               n, (uint64_t)after.st_size, (uint64_t)before.st_size);
        writes += n;
        nfiles_done++;
        if (unlink(log) != 0)
            die("cannot remove", log);
    }
    closedir(d);
    printf("powercut: rolled back %zu writes in %zu files (%" PRIu64 " bytes put back)\n", writes,
           nfiles_done, bytes);
    return 0;
}
