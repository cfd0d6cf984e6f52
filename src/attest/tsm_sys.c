/*
 * The real cs_tsm_ops: configfs-tsm through plain syscalls. Each function
 * returns 0 or a positive errno (tsm.h). configfs attributes are read whole:
 * the kernel fills a binary attribute's buffer on the first read and serves
 * the rest from it, so reading to end of file gives one consistent blob.
 */
#include "attest/tsm.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static int sys_mkdir(void *ctx, const char *path)
{
    (void)ctx;
    return mkdir(path, 0700) == 0 ? 0 : errno;
}

static int sys_rmdir(void *ctx, const char *path)
{
    (void)ctx;
    return rmdir(path) == 0 ? 0 : errno;
}

static int append_code(consort_err rc)
{
    switch (rc) {
    case CONSORT_OK:
        return 0;
    case CONSORT_E_TOO_LARGE:
        return EFBIG;
    case CONSORT_E_NOMEM:
        return ENOMEM;
    default:
        return EIO;
    }
}

static int sys_read(void *ctx, const char *path, cs_buf *out)
{
    (void)ctx;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = 0;
    uint8_t chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0)
            break;
        err = append_code(cs_buf_append(out, chunk, (size_t)n));
        if (err != 0)
            break;
    }
    close(fd);
    cs_wipe(chunk, sizeof chunk);
    return err;
}

static int sys_write(void *ctx, const char *path, cs_slice data)
{
    (void)ctx;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = 0;
    size_t done = 0;
    while (done < data.len) {
        ssize_t n = write(fd, data.ptr + done, data.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0) {
            err = EIO;
            break;
        }
        done += (size_t)n;
    }
    /* A binary configfs attribute is committed here (its result is not reported). */
    if (close(fd) != 0 && err == 0)
        err = errno;
    return err;
}

static const cs_tsm_ops syscall_ops = {sys_mkdir, sys_rmdir, sys_read, sys_write, NULL};

const cs_tsm_ops *cs_tsm_ops_syscalls(void)
{
    return &syscall_ops;
}
