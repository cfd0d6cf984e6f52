/*
 * Small file helpers. Reads are bounded by the destination buffer's limit;
 * writes are atomic and durable (temporary file, fsync, rename, fsync of the
 * directory), so a crash leaves either the old or the new content.
 */
#ifndef CS_BASE_FILE_H
#define CS_BASE_FILE_H

#include "base/buf.h"

#include <sys/types.h>

/* Appends the whole file to `out`; CONSORT_E_TOO_LARGE if it exceeds out->max. */
CS_MUST_CHECK consort_err cs_file_read(const char *path, cs_buf *out);
/* Replaces `path` with `data` atomically and durably, with permissions `mode`. */
CS_MUST_CHECK consort_err cs_file_write_atomic(const char *path, cs_slice data, mode_t mode);
/* Creates a directory and its parents (like mkdir -p) with `mode`. */
CS_MUST_CHECK consort_err cs_mkdir_p(const char *path, mode_t mode);
bool cs_file_exists(const char *path);
/* Joins "dir/name" into out (size n); fails if it does not fit. */
CS_MUST_CHECK consort_err cs_path_join(char *out, size_t n, const char *dir, const char *name);
/* Maps errno to a consort code (ENOSPC -> NO_SPACE, ENOENT -> NOT_FOUND, else IO). */
consort_err cs_errno_code(int err);

#endif
