/*
 * powercut: a fault-injecting file layer for crash tests (issue 11,
 * "a missing fsync shows"). kill -9 keeps the page cache, so a crash test
 * that only kills a process cannot see a missing fsync. Two parts
 * (tests/CMakeLists.txt):
 *
 *   libpowercut.so  (this file) an LD_PRELOAD shim. For regular files opened for writing
 *                   under one of the directories of POWERCUT_DIR (a list
 *                   separated by ':'), every write that is not yet durable is
 *                   preceded by an undo record (the bytes and the size it
 *                   replaces) appended to POWERCUT_JOURNAL/<dev>-<ino>.undo.
 *                   fsync or fdatasync of the file (any descriptor of it:
 *                   a dup or a read-only one too) makes it durable: its
 *                   undo records are dropped. A write
 *                   through an O_DSYNC/O_SYNC descriptor, with RWF_DSYNC or
 *                   RWF_SYNC, is durable at once. Without both variables the
 *                   shim does nothing.
 *   powercut        (powercut_tool.c) the power cut, run after the process
 *                   was killed (SIGKILL) and before it is restarted:
 *                     powercut rollback JOURNAL DIR...
 *                   rolls every file under the DIRs back to its last durable
 *                   content (the undo records of powercut.h applied newest
 *                   first).
 *
 * What it covers (how consortd writes, checked against libraft 0.15 and
 * libuv 1.44 of Debian 12): open/openat/creat (and their 64 and _2 forms),
 * write, pwrite, writev, pwritev, pwritev2, ftruncate, truncate, fallocate,
 * posix_fallocate, fsync, fdatasync, syncfs, sync, close, and syscall(2) for
 * io_submit (libraft's segment writer submits IOCB_CMD_PWRITEV through
 * kernel AIO by syscall(), on descriptors it opened with O_DSYNC, possibly
 * with O_DIRECT: durable at once, as on a real disk) and for the write and
 * sync system calls. libuv 1.44 has no io_uring; libraft's synchronous
 * file operations (metadata, snapshots, truncation) go through libuv's
 * synchronous uv_fs_* calls, which call the libc functions above.
 *
 * What it does not model (each would be optimistic, i.e. could hide a bug):
 * directory entries (a create, rename or unlink counts as durable at once;
 * a file created and never fsynced comes back empty, not absent), stdio
 * (fwrite reaches write inside libc), writes through mmap, writes through
 * dup'd descriptors (an fsync through one counts), copy_file_range/
 * sendfile/splice, torn writes (a lost write is lost whole), sync_file_range (counts as nothing),
 * and an asynchronous IOCB_CMD_FSYNC counts as done when submitted. A durable write to a file that
 * also has writes pending counts as an fsync of that file (libraft never mixes the two on one
 * file).
 */
#undef _FORTIFY_SOURCE
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "powercut.h"

/* ---------------------------------------------------------------- the shim */

#define FD_MAX 65536

/* glibc's fortified entry points (no header declares them) */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

static void undo_path(const char *jdir, dev_t dev, ino_t ino, char *out, size_t n)
{
    snprintf(out, n, "%s/%" PRIx64 "-%" PRIx64 ".undo", jdir, (uint64_t)dev, (uint64_t)ino);
}

static unsigned char tracked[FD_MAX];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *journal; /* NULL: inert */
static char dirs[16][PATH_MAX];
static size_t ndirs;

#define REAL(ret, name, args)                                                                      \
    static ret(*real_##name) args;                                                                 \
    static void resolve_##name(void)                                                               \
    {                                                                                              \
        if (real_##name == NULL)                                                                   \
            *(void **)&real_##name = dlsym(RTLD_NEXT, #name);                                      \
    }

REAL(int, open, (const char *, int, ...))
REAL(int, open64, (const char *, int, ...))
REAL(int, openat, (int, const char *, int, ...))
REAL(int, openat64, (int, const char *, int, ...))
REAL(int, __open_2, (const char *, int))
REAL(int, __open64_2, (const char *, int))
REAL(int, __openat_2, (int, const char *, int))
REAL(int, __openat64_2, (int, const char *, int))
REAL(int, creat, (const char *, mode_t))
REAL(int, creat64, (const char *, mode_t))
REAL(int, close, (int))
REAL(ssize_t, write, (int, const void *, size_t))
REAL(ssize_t, pwrite, (int, const void *, size_t, off_t))
REAL(ssize_t, pwrite64, (int, const void *, size_t, off_t))
REAL(ssize_t, writev, (int, const struct iovec *, int))
REAL(ssize_t, pwritev, (int, const struct iovec *, int, off_t))
REAL(ssize_t, pwritev64, (int, const struct iovec *, int, off_t))
REAL(ssize_t, pwritev2, (int, const struct iovec *, int, off_t, int))
REAL(ssize_t, pwritev64v2, (int, const struct iovec *, int, off_t, int))
REAL(int, ftruncate, (int, off_t))
REAL(int, ftruncate64, (int, off_t))
REAL(int, truncate, (const char *, off_t))
REAL(int, truncate64, (const char *, off_t))
REAL(int, fallocate, (int, int, off_t, off_t))
REAL(int, fallocate64, (int, int, off_t, off_t))
REAL(int, posix_fallocate, (int, off_t, off_t))
REAL(int, posix_fallocate64, (int, off_t, off_t))
REAL(int, fsync, (int))
REAL(int, fdatasync, (int))
REAL(int, syncfs, (int))
REAL(void, sync, (void))
REAL(long, syscall, (long, ...))

__attribute__((constructor)) static void init(void)
{
    const char *j = getenv("POWERCUT_JOURNAL");
    const char *d = getenv("POWERCUT_DIR");
    if (j == NULL || d == NULL || *j == '\0' || *d == '\0')
        return;
    const char *p = d;
    while (*p != '\0' && ndirs < 16) {
        size_t n = strcspn(p, ":");
        if (n > 0 && n < PATH_MAX) {
            memcpy(dirs[ndirs], p, n);
            dirs[ndirs][n] = '\0';
            while (n > 1 && dirs[ndirs][n - 1] == '/')
                dirs[ndirs][--n] = '\0';
            ndirs++;
        }
        p += n + (p[n] == ':');
    }
    (void)mkdir(j, 0700);
    journal = j;
}

/* Is the (canonical) path under one of the directories? A directory is
 * canonicalised when asked, as it may be created after the process starts. */
static bool covered(const char *path)
{
    for (size_t i = 0; i < ndirs; i++) {
        char canon[PATH_MAX];
        const char *d = realpath(dirs[i], canon) != NULL ? canon : dirs[i];
        size_t n = strlen(d);
        if (strncmp(path, d, n) == 0 && (path[n] == '/' || path[n] == '\0'))
            return true;
    }
    return false;
}

static bool fd_covered(int fd)
{
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    return covered(path);
}

static void drop_undo(dev_t dev, ino_t ino)
{
    char p[PATH_MAX];
    undo_path(journal, dev, ino, p, sizeof p);
    (void)unlink(p);
}

/* Appends one undo record (the header and the bytes it keeps) in one write. */
static void append_undo(const struct stat *st, int fd, uint64_t off, uint64_t len)
{
    uint64_t old_size = (uint64_t)st->st_size;
    uint64_t keep = off >= old_size ? 0 : (len < old_size - off ? len : old_size - off);
    uint8_t *rec = malloc(sizeof(undo_hdr) + keep);
    if (rec == NULL)
        abort(); /* a test tool: losing a record would make the test lie */
    undo_hdr h = {.magic = UNDO_MAGIC, .old_size = old_size, .off = off, .len = keep};
    memcpy(rec, &h, sizeof h);
    if (keep > 0) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        resolve_open();
        int rfd = real_open(link, O_RDONLY | O_CLOEXEC);
        if (rfd < 0 || pread(rfd, rec + sizeof h, keep, (off_t)off) != (ssize_t)keep)
            abort();
        resolve_close();
        real_close(rfd);
    }
    char p[PATH_MAX];
    undo_path(journal, st->st_dev, st->st_ino, p, sizeof p);
    resolve_open();
    resolve_write();
    resolve_close();
    int lfd = real_open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    size_t total = sizeof h + keep;
    if (lfd < 0 || real_write(lfd, rec, total) != (ssize_t)total)
        abort();
    real_close(lfd);
    free(rec);
}

static bool is_tracked(int fd)
{
    return journal != NULL && fd >= 0 && fd < FD_MAX && tracked[fd];
}

/*
 * Before a write of `len` bytes at `off` (-1: the file position, or the end
 * for O_APPEND) through `fd`, with RWF_* flags `rwf`: an undo record, unless
 * the write is durable. Called with `mu` held.
 */
static void before_write(int fd, int64_t off, uint64_t len, int rwf)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        tracked[fd] = 0;
        return;
    }
    int fl = fcntl(fd, F_GETFL);
    if ((fl >= 0 && (fl & O_DSYNC)) || (rwf & (RWF_DSYNC | RWF_SYNC))) {
        drop_undo(st.st_dev, st.st_ino); /* see the header: counts as an fsync */
        return;
    }
    if (off < 0)
        off = (fl >= 0 && (fl & O_APPEND)) ? (int64_t)st.st_size : (int64_t)lseek(fd, 0, SEEK_CUR);
    if (len == 0 && (uint64_t)off <= (uint64_t)st.st_size)
        return;
    append_undo(&st, fd, (uint64_t)off, len);
}

/* Before the size of `fd` becomes `size` (truncate) or at least `size`. */
static void before_resize(int fd, uint64_t size, bool at_least)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    if (size == (uint64_t)st.st_size || (at_least && size < (uint64_t)st.st_size))
        return;
    /* shrinking keeps the bytes cut off; growing keeps the old size only */
    uint64_t off = size < (uint64_t)st.st_size ? size : (uint64_t)st.st_size;
    append_undo(&st, fd, off, (uint64_t)st.st_size - off);
}

static void after_sync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        drop_undo(st.st_dev, st.st_ino);
}

static void drop_all_undo(void)
{
    DIR *d = opendir(journal);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".undo") == 0) {
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", journal, e->d_name);
            (void)unlink(p);
        }
    }
    closedir(d);
}

static uint64_t iov_len(const struct iovec *iov, int n)
{
    uint64_t len = 0;
    for (int i = 0; i < n; i++)
        len += iov[i].iov_len;
    return len;
}

/* ---- opening */

typedef struct pre_open {
    bool existed;
    bool truncates;
} pre_open;

/* Before an open: does the file exist, and will O_TRUNC cut a covered file?
 * The bytes O_TRUNC removes are kept as an undo record first. */
static pre_open before_open(int dirfd, const char *path, int flags)
{
    pre_open p = {.existed = true};
    if (journal == NULL || (flags & O_ACCMODE) == O_RDONLY)
        return p;
    struct stat st;
    p.existed = fstatat(dirfd, path, &st, 0) == 0;
    if (!p.existed || !(flags & O_TRUNC) || !S_ISREG(st.st_mode) || st.st_size == 0)
        return p;
    resolve_openat();
    resolve_close();
    int fd = real_openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return p;
    if (fd_covered(fd)) {
        pthread_mutex_lock(&mu);
        append_undo(&st, fd, 0, (uint64_t)st.st_size);
        pthread_mutex_unlock(&mu);
    }
    real_close(fd);
    return p;
}

static int after_open(int fd, int flags, pre_open p)
{
    if (fd < 0 || journal == NULL || fd >= FD_MAX || (flags & O_ACCMODE) == O_RDONLY)
        return fd;
    int saved = errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && fd_covered(fd)) {
        pthread_mutex_lock(&mu);
        tracked[fd] = 1;
        if (!p.existed) { /* a new inode: whatever an old one of that number left is void */
            drop_undo(st.st_dev, st.st_ino);
            append_undo(&st, fd, 0, 0); /* back to empty */
        }
        pthread_mutex_unlock(&mu);
    } else {
        tracked[fd] = 0;
    }
    errno = saved;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    resolve_open();
    pre_open p = before_open(AT_FDCWD, path, flags);
    return after_open(real_open(path, flags, m), flags, p);
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    resolve_open64();
    pre_open p = before_open(AT_FDCWD, path, flags);
    return after_open(real_open64(path, flags, m), flags, p);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    resolve_openat();
    pre_open p = before_open(dirfd, path, flags);
    return after_open(real_openat(dirfd, path, flags, m), flags, p);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    resolve_openat64();
    pre_open p = before_open(dirfd, path, flags);
    return after_open(real_openat64(dirfd, path, flags, m), flags, p);
}

int __open_2(const char *path, int flags)
{
    resolve___open_2();
    pre_open p = before_open(AT_FDCWD, path, flags);
    return after_open(real___open_2(path, flags), flags, p);
}

int __open64_2(const char *path, int flags)
{
    resolve___open64_2();
    pre_open p = before_open(AT_FDCWD, path, flags);
    return after_open(real___open64_2(path, flags), flags, p);
}

int __openat_2(int dirfd, const char *path, int flags)
{
    resolve___openat_2();
    pre_open p = before_open(dirfd, path, flags);
    return after_open(real___openat_2(dirfd, path, flags), flags, p);
}

int __openat64_2(int dirfd, const char *path, int flags)
{
    resolve___openat64_2();
    pre_open p = before_open(dirfd, path, flags);
    return after_open(real___openat64_2(dirfd, path, flags), flags, p);
}

int creat(const char *path, mode_t mode)
{
    int flags = O_WRONLY | O_CREAT | O_TRUNC;
    resolve_creat();
    pre_open p = before_open(AT_FDCWD, path, flags);
    return after_open(real_creat(path, mode), flags, p);
}

int creat64(const char *path, mode_t mode)
{
    int flags = O_WRONLY | O_CREAT | O_TRUNC;
    resolve_creat64();
    pre_open p = before_open(AT_FDCWD, path, flags);
    return after_open(real_creat64(path, mode), flags, p);
}

int close(int fd)
{
    resolve_close();
    if (fd >= 0 && fd < FD_MAX)
        tracked[fd] = 0;
    return real_close(fd);
}

/* ---- writing: the undo record, then the write, under one lock */

#define GUARDED(fd, note, call)                                                                    \
    do {                                                                                           \
        if (!is_tracked(fd))                                                                       \
            return call;                                                                           \
        pthread_mutex_lock(&mu);                                                                   \
        note;                                                                                      \
        __typeof__(call) r_ = call;                                                                \
        int e_ = errno;                                                                            \
        pthread_mutex_unlock(&mu);                                                                 \
        errno = e_;                                                                                \
        return r_;                                                                                 \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
    resolve_write();
    GUARDED(fd, before_write(fd, -1, n, 0), real_write(fd, buf, n));
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    resolve_pwrite();
    GUARDED(fd, before_write(fd, off, n, 0), real_pwrite(fd, buf, n, off));
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    resolve_pwrite64();
    GUARDED(fd, before_write(fd, off, n, 0), real_pwrite64(fd, buf, n, off));
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    resolve_writev();
    GUARDED(fd, before_write(fd, -1, iov_len(iov, cnt), 0), real_writev(fd, iov, cnt));
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    resolve_pwritev();
    GUARDED(fd, before_write(fd, off, iov_len(iov, cnt), 0), real_pwritev(fd, iov, cnt, off));
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    resolve_pwritev64();
    GUARDED(fd, before_write(fd, off, iov_len(iov, cnt), 0), real_pwritev64(fd, iov, cnt, off));
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
    resolve_pwritev2();
    GUARDED(fd, before_write(fd, off, iov_len(iov, cnt), fl), real_pwritev2(fd, iov, cnt, off, fl));
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int fl)
{
    resolve_pwritev64v2();
    GUARDED(fd, before_write(fd, off, iov_len(iov, cnt), fl),
            real_pwritev64v2(fd, iov, cnt, off, fl));
}

int ftruncate(int fd, off_t len)
{
    resolve_ftruncate();
    GUARDED(fd, before_resize(fd, (uint64_t)len, false), real_ftruncate(fd, len));
}

int ftruncate64(int fd, off_t len)
{
    resolve_ftruncate64();
    GUARDED(fd, before_resize(fd, (uint64_t)len, false), real_ftruncate64(fd, len));
}

static int truncate_path(const char *path, off_t len)
{
    resolve_open();
    resolve_ftruncate();
    int fd = open(path, O_WRONLY | O_CLOEXEC); /* ours: tracked if covered */
    if (fd < 0)
        return -1;
    int r = ftruncate(fd, len);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

int truncate(const char *path, off_t len)
{
    resolve_truncate();
    return journal == NULL ? real_truncate(path, len) : truncate_path(path, len);
}

int truncate64(const char *path, off_t len)
{
    resolve_truncate64();
    return journal == NULL ? real_truncate64(path, len) : truncate_path(path, len);
}

static void before_fallocate(int fd, int mode, off_t off, off_t len)
{
    if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_COLLAPSE_RANGE |
                FALLOC_FL_INSERT_RANGE))
        before_write(fd, off, (uint64_t)len, 0); /* changes bytes: keep them */
    else if (!(mode & FALLOC_FL_KEEP_SIZE))
        before_resize(fd, (uint64_t)off + (uint64_t)len, true);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    resolve_fallocate();
    GUARDED(fd, before_fallocate(fd, mode, off, len), real_fallocate(fd, mode, off, len));
}

int fallocate64(int fd, int mode, off_t off, off_t len)
{
    resolve_fallocate64();
    GUARDED(fd, before_fallocate(fd, mode, off, len), real_fallocate64(fd, mode, off, len));
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    resolve_posix_fallocate();
    GUARDED(fd, before_resize(fd, (uint64_t)off + (uint64_t)len, true),
            real_posix_fallocate(fd, off, len));
}

int posix_fallocate64(int fd, off_t off, off_t len)
{
    resolve_posix_fallocate64();
    GUARDED(fd, before_resize(fd, (uint64_t)off + (uint64_t)len, true),
            real_posix_fallocate64(fd, off, len));
}

/* ---- making durable */

/* An fsync through any descriptor of a covered file makes the file durable,
 * as it does on Linux: one the shim tracks, a dup of it (the ledger's
 * off-loop sync fsyncs a dup) or a read-only one. */
static int synced(int fd, int r)
{
    if (r == 0 && journal != NULL && fd >= 0) {
        int e = errno;
        if (is_tracked(fd) || fd_covered(fd)) {
            pthread_mutex_lock(&mu);
            after_sync(fd);
            pthread_mutex_unlock(&mu);
        }
        errno = e;
    }
    return r;
}

int fsync(int fd)
{
    resolve_fsync();
    return synced(fd, real_fsync(fd));
}

int fdatasync(int fd)
{
    resolve_fdatasync();
    return synced(fd, real_fdatasync(fd));
}

int syncfs(int fd)
{
    resolve_syncfs();
    int r = real_syncfs(fd);
    if (r == 0 && journal != NULL) {
        pthread_mutex_lock(&mu);
        drop_all_undo();
        pthread_mutex_unlock(&mu);
    }
    return r;
}

void sync(void)
{
    resolve_sync();
    real_sync();
    if (journal != NULL) {
        pthread_mutex_lock(&mu);
        drop_all_undo();
        pthread_mutex_unlock(&mu);
    }
}

/* ---- syscall(2): kernel AIO (libraft's segment writer) and the plain calls */

static void before_iocb(const struct iocb *cb)
{
    int fd = (int)cb->aio_fildes;
    if (!is_tracked(fd))
        return;
    switch (cb->aio_lio_opcode) {
    case IOCB_CMD_PWRITE:
        before_write(fd, cb->aio_offset, cb->aio_nbytes, (int)cb->aio_rw_flags);
        break;
    case IOCB_CMD_PWRITEV:
        before_write(fd, cb->aio_offset,
                     iov_len((const struct iovec *)(uintptr_t)cb->aio_buf, (int)cb->aio_nbytes),
                     (int)cb->aio_rw_flags);
        break;
    case IOCB_CMD_FSYNC:
    case IOCB_CMD_FDSYNC:
        after_sync(fd); /* optimistic: done when submitted (see the header) */
        break;
    default:
        break;
    }
}

long syscall(long nr, ...)
{
    va_list ap;
    va_start(ap, nr);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    resolve_syscall();
    if (journal == NULL)
        return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    switch (nr) {
    case SYS_io_submit: {
        pthread_mutex_lock(&mu);
        struct iocb **cbs = (struct iocb **)a[2];
        for (long i = 0; i < a[1]; i++)
            before_iocb(cbs[i]);
        long r = real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        int e = errno;
        pthread_mutex_unlock(&mu);
        errno = e;
        return r;
    }
    case SYS_write:
        return write((int)a[0], (const void *)a[1], (size_t)a[2]);
    case SYS_pwrite64:
        return pwrite((int)a[0], (const void *)a[1], (size_t)a[2], (off_t)a[3]);
    case SYS_writev:
        return writev((int)a[0], (const struct iovec *)a[1], (int)a[2]);
    case SYS_pwritev:
        return pwritev((int)a[0], (const struct iovec *)a[1], (int)a[2], (off_t)a[3]);
    case SYS_pwritev2:
        return pwritev2((int)a[0], (const struct iovec *)a[1], (int)a[2], (off_t)a[3], (int)a[5]);
    case SYS_fsync:
        return fsync((int)a[0]);
    case SYS_fdatasync:
        return fdatasync((int)a[0]);
    case SYS_ftruncate:
        return ftruncate((int)a[0], (off_t)a[1]);
    default:
        return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
}
