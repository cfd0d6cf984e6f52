/*
 * The file anchor (anchor.h): development only. The host can replace the
 * file with an older copy, so it is no defence against rollback
 * (is_secure false); it exists so that the sealed store runs, with every
 * check but that one, where no TPM or service is at hand.
 *
 * File (48 bytes): "CSANCHR1" || value (u64 big-endian) || SHA-256 of the
 * first 16 bytes. Replaced atomically and durably (file.h).
 */
#include "sealing/anchor.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/hash.h"
#include "crypto/rand.h"

#include <stdio.h>
#include <string.h>

#define MAGIC     "CSANCHR1"
#define FILE_LEN  48
#define PATH_MAX_ 4096

typedef struct file_anchor {
    char path[PATH_MAX_];
    char name[PATH_MAX_ + 8];
    uint64_t value; /* the value on disk */
} file_anchor;

static consort_err file_load(file_anchor *f)
{
    cs_buf b;
    cs_buf_init(&b, FILE_LEN + 1);
    consort_err rc = cs_file_read(f->path, &b);
    if (rc == CONSORT_E_TOO_LARGE)
        rc = cs_fail(CONSORT_E_CORRUPT, "anchor file %s: longer than %d bytes", f->path, FILE_LEN);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&b);
        return rc;
    }
    cs_cursor c;
    cs_cursor_init(&c, cs_buf_slice(&b));
    cs_slice magic, sum;
    uint8_t want[CS_SHA256_LEN];
    cs_sha256(CS_SLICE(b.ptr, b.len < 16 ? b.len : 16), want);
    if (b.len != FILE_LEN || cs_cursor_read_slice(&c, 8, &magic) != CONSORT_OK ||
        !cs_slice_eq(magic, CS_SLICE_LIT(MAGIC)) ||
        cs_cursor_read_be64(&c, &f->value) != CONSORT_OK ||
        cs_cursor_read_slice(&c, CS_SHA256_LEN, &sum) != CONSORT_OK ||
        !cs_ct_equal(sum, CS_SLICE(want, sizeof want)))
        rc =
            cs_fail(CONSORT_E_CORRUPT,
                    "anchor file %s: %zu bytes that are not \"" MAGIC "\", a value and its SHA-256",
                    f->path, b.len);
    cs_buf_cleanup(&b);
    return rc;
}

static consort_err file_store(file_anchor *f, uint64_t value)
{
    uint8_t data[FILE_LEN];
    memcpy(data, MAGIC, 8);
    for (int i = 0; i < 8; i++)
        data[8 + i] = (uint8_t)(value >> (56 - 8 * i));
    cs_sha256(CS_SLICE(data, 16), data + 16);
    CS_TRY(cs_file_write_atomic(f->path, CS_SLICE(data, sizeof data), 0600));
    f->value = value;
    return CONSORT_OK;
}

static consort_err file_read(void *ctx, uint64_t *value)
{
    file_anchor *f = ctx;
    /* from disk every time: what a restart would see */
    CS_TRY(file_load(f));
    *value = f->value;
    return CONSORT_OK;
}

static consort_err file_increment(void *ctx, uint64_t *value)
{
    file_anchor *f = ctx;
    CS_TRY(file_load(f));
    CS_ENSURE(f->value < UINT64_MAX, CONSORT_E_STATE, "anchor file %s: at its maximum", f->path);
    CS_TRY(file_store(f, f->value + 1));
    *value = f->value;
    return CONSORT_OK;
}

static const char *file_name(void *ctx)
{
    return ((file_anchor *)ctx)->name;
}

static bool file_secure(void *ctx)
{
    (void)ctx;
    return false;
}

static void file_free(void *ctx)
{
    cs_free(ctx);
}

static const cs_anchor_ops file_ops = {
    .read = file_read,
    .increment = file_increment,
    .name = file_name,
    .secure = file_secure,
    .free = file_free,
};

consort_err cs_anchor_file_open(const char *path, cs_anchor **out)
{
    *out = NULL;
    CS_ENSURE(strlen(path) < PATH_MAX_ - 32, CONSORT_E_INVALID_ARGUMENT,
              "anchor file: path too long");
    file_anchor *f = cs_calloc(1, sizeof *f);
    CS_ENSURE(f != NULL, CONSORT_E_NOMEM, "anchor file: out of memory");
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->name, sizeof f->name, "file %s", path);
    consort_err rc = cs_file_exists(path) ? file_load(f) : file_store(f, 0);
    if (rc != CONSORT_OK) {
        cs_free(f);
        return rc;
    }
    return cs_anchor_from_ops(&file_ops, f, out);
}
