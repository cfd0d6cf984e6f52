#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

consort_err cs_errno_code(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
        return CONSORT_E_NO_SPACE;
    case ENOENT:
        return CONSORT_E_NOT_FOUND;
    case ENOMEM:
        return CONSORT_E_NOMEM;
    default:
        return CONSORT_E_IO;
    }
}

consort_err cs_file_read(const char *path, cs_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cs_fail(cs_errno_code(errno), "cannot open %s: %s", path, strerror(errno));
    consort_err rc = CONSORT_OK;
    for (;;) {
        uint8_t chunk[16384];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cs_fail(cs_errno_code(errno), "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        rc = cs_buf_append(out, chunk, (size_t)n);
        cs_wipe(chunk, sizeof chunk);
        if (rc != CONSORT_OK) {
            rc = cs_err_context(rc, "%s", path);
            break;
        }
    }
    close(fd);
    return rc;
}

static consort_err write_all(int fd, cs_slice data, const char *path)
{
    size_t off = 0;
    while (off < data.len) {
        ssize_t n = write(fd, data.ptr + off, data.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cs_fail(cs_errno_code(errno), "cannot write %s: %s", path, strerror(errno));
        off += (size_t)n;
    }
    return CONSORT_OK;
}

static consort_err fsync_dir_of(const char *path)
{
    char copy[4096];
    CS_ENSURE(strlen(path) < sizeof copy, CONSORT_E_INVALID_ARGUMENT, "path too long: %s",
              path);
    strcpy(copy, path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cs_fail(cs_errno_code(errno), "cannot open directory %s: %s", dir,
                       strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    CS_ENSURE(r == 0, cs_errno_code(e), "cannot sync directory %s: %s", dir, strerror(e));
    return CONSORT_OK;
}

consort_err cs_file_write_atomic(const char *path, cs_slice data, mode_t mode)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    CS_ENSURE(n > 0 && (size_t)n < sizeof tmp, CONSORT_E_INVALID_ARGUMENT, "path too long: %s",
              path);
    /* mkostemp: an unpredictable name, created with O_EXCL (never an existing
     * file or a planted symlink) and mode 0600; the final mode is set before
     * any byte is written, whatever the umask. */
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return cs_fail(cs_errno_code(errno), "cannot create a temporary file for %s: %s", path,
                       strerror(errno));
    consort_err rc = CONSORT_OK;
    if (fchmod(fd, mode) != 0)
        rc = cs_fail(cs_errno_code(errno), "cannot set the mode of %s: %s", tmp, strerror(errno));
    if (rc == CONSORT_OK)
        rc = write_all(fd, data, tmp);
    if (rc == CONSORT_OK && fsync(fd) != 0)
        rc = cs_fail(cs_errno_code(errno), "cannot sync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == CONSORT_OK)
        rc = cs_fail(cs_errno_code(errno), "cannot close %s: %s", tmp, strerror(errno));
    if (rc == CONSORT_OK && rename(tmp, path) != 0)
        rc = cs_fail(cs_errno_code(errno), "cannot rename %s to %s: %s", tmp, path,
                     strerror(errno));
    if (rc != CONSORT_OK) {
        unlink(tmp);
        return rc;
    }
    return fsync_dir_of(path);
}

consort_err cs_mkdir_p(const char *path, mode_t mode)
{
    char copy[4096];
    size_t len = strlen(path);
    CS_ENSURE(len > 0 && len < sizeof copy, CONSORT_E_INVALID_ARGUMENT, "bad directory path");
    memcpy(copy, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (copy[i] != '/' && copy[i] != '\0')
            continue;
        char saved = copy[i];
        copy[i] = '\0';
        if (mkdir(copy, mode) != 0 && errno != EEXIST)
            return cs_fail(cs_errno_code(errno), "cannot create directory %s: %s", copy,
                           strerror(errno));
        copy[i] = saved;
    }
    struct stat st;
    CS_ENSURE(stat(path, &st) == 0 && S_ISDIR(st.st_mode), CONSORT_E_IO,
              "%s exists and is not a directory", path);
    return CONSORT_OK;
}

bool cs_file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

consort_err cs_path_join(char *out, size_t n, const char *dir, const char *name)
{
    int w = snprintf(out, n, "%s/%s", dir, name);
    CS_ENSURE(w > 0 && (size_t)w < n, CONSORT_E_INVALID_ARGUMENT, "path too long: %s/%s", dir,
              name);
    return CONSORT_OK;
}
