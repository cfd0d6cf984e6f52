#include "testutil.h"

#include "base/alloc.h"
#include "base/file.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *cst_testdata_dir(void)
{
    const char *d = getenv("CONSORT_TESTDATA");
    return d != NULL ? d : "../shared/testdata";
}

const char *cst_testdata_path(const char *rel)
{
    static char path[4096];
    struct stat st;
    if (stat(cst_testdata_dir(), &st) != 0)
        fail_msg("test data directory %s is missing (set CONSORT_TESTDATA)", cst_testdata_dir());
    snprintf(path, sizeof path, "%s/%s", cst_testdata_dir(), rel);
    return path;
}

void cst_read_file(const char *path, cs_buf *out)
{
    cs_buf_init(out, 64u << 20);
    consort_err rc = cs_file_read(path, out);
    if (rc != CONSORT_OK)
        fail_msg("cannot read %s: %s", path, consort_errmsg());
}

void cst_read_testdata(const char *rel, cs_buf *out)
{
    cst_read_file(cst_testdata_path(rel), out);
}

json_t *cst_json_testdata(const char *rel)
{
    json_error_t err;
    json_t *j = json_load_file(cst_testdata_path(rel), 0, &err);
    if (j == NULL)
        fail_msg("%s: %s (line %d)", rel, err.text, err.line);
    return j;
}

void cst_hex(const char *hex, cs_buf *out)
{
    cs_buf_init(out, 0);
    if (cs_hex_decode_buf(hex, out) != CONSORT_OK)
        fail_msg("bad hex in test: %s", consort_errmsg());
}

void cst_base64(const char *b64, cs_buf *out)
{
    cs_buf_init(out, 0);
    size_t len = strlen(b64);
    if (len == 0)
        return;
    uint8_t *dst;
    if (cs_buf_extend(out, len / 4 * 3 + 3, &dst) != CONSORT_OK)
        fail_msg("out of memory");
    int n = EVP_DecodeBlock(dst, (const unsigned char *)b64, (int)len);
    if (n < 0 || len % 4 != 0)
        fail_msg("bad base64 in test: %s", b64);
    size_t pad = 0;
    if (b64[len - 1] == '=')
        pad++;
    if (len > 1 && b64[len - 2] == '=')
        pad++;
    out->len = (size_t)n - pad;
}

/* ---- counting, failing allocator ---- */

static long fail_at = -1;
static long count;
static long live;
static int failed;

static void *count_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (fail_at >= 0 && count++ == fail_at) {
        failed = 1;
        return NULL;
    }
    if (fail_at < 0)
        count++;
    void *p = malloc(size);
    if (p != NULL)
        live++;
    return p;
}

static void *count_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (fail_at >= 0 && count++ == fail_at) {
        failed = 1;
        return NULL;
    }
    if (fail_at < 0)
        count++;
    void *p = realloc(ptr, size);
    if (p != NULL && ptr == NULL)
        live++;
    return p;
}

static void count_free(void *ctx, void *ptr)
{
    (void)ctx;
    live--;
    free(ptr);
}

void cst_alloc_install(void)
{
    static const cs_allocator a = {count_malloc, count_realloc, count_free, NULL};
    cs_alloc_set(&a);
}

void cst_alloc_uninstall(void)
{
    cs_alloc_set(NULL);
}

void cst_alloc_fail_after(long n)
{
    fail_at = n;
    count = 0;
    failed = 0;
}

long cst_alloc_count(void)
{
    return count;
}

void cst_alloc_reset_count(void)
{
    count = 0;
}

long cst_alloc_live(void)
{
    return live;
}

int cst_alloc_failed(void)
{
    return failed;
}

/* ---- log capture ---- */

static cs_buf captured;

static void capture_sink(void *ctx, cs_log_level level, const char *module, const char *line)
{
    (void)ctx;
    if (cs_buf_printf(&captured, "%s %s: %s\n", cs_log_level_name(level), module, line) !=
        CONSORT_OK)
        fail_msg("log capture out of memory");
}

void cst_log_capture_start(void)
{
    cs_buf_cleanup(&captured);
    cs_buf_init(&captured, 0);
    cs_log_set_sink(capture_sink, NULL);
}

const char *cst_log_captured(void)
{
    if (cs_buf_append_u8(&captured, 0) != CONSORT_OK)
        fail_msg("log capture out of memory");
    captured.len--;
    return (const char *)captured.ptr;
}

void cst_log_capture_stop(void)
{
    cs_log_set_sink(NULL, NULL);
    cs_buf_cleanup(&captured);
}

/* ---- skips (testutil.h) ---- */

static int skipped;

void cst_skip_at(const char *file, int line, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    const char *no_skip = getenv("CONSORT_NO_SKIP");
    if (no_skip != NULL && strcmp(no_skip, "1") == 0) {
        fprintf(stderr, "%s:%d: FAIL, not skipped (CONSORT_NO_SKIP=1): %s\n", file, line, why);
        _fail(file, line);
        abort(); /* _fail does not return inside a cmocka test */
    }
    fprintf(stderr, "%s:%d: SKIP: %s\n", file, line, why);
    skipped++;
    _skip(file, line);
    abort(); /* _skip does not return inside a cmocka test */
}

int cst_run_result(int failures)
{
    if (failures != 0)
        return 1;
    return skipped != 0 ? 77 : 0;
}
