/*
 * The real configfs-tsm adapter (src/attest/tsm_sys.c) on a temporary
 * directory: the syscalls and their errno values, and cs_tsm_attest driven
 * through them. A normal directory is not configfs (mkdir creates no
 * attribute files), so the attester must fail cleanly there — and still
 * remove the instance it created.
 */
#include "testutil.h"

#include "attest/tsm.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct tmp {
    char root[64];
} tmp;

static void tmp_make(tmp *t)
{
    snprintf(t->root, sizeof t->root, "/tmp/consort-tsm-XXXXXX");
    assert_non_null(mkdtemp(t->root));
}

static size_t tmp_count(const tmp *t)
{
    DIR *d = opendir(t->root);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void path(char out[256], const tmp *t, const char *rel)
{
    snprintf(out, 256, "%s/%s", t->root, rel);
}

static void syscalls_report_errno(void **state)
{
    (void)state;
    const cs_tsm_ops *ops = cs_tsm_ops_syscalls();
    tmp t;
    tmp_make(&t);
    char inst[256], attr[256], missing[256];
    path(inst, &t, "inst");
    path(attr, &t, "inst/generation");
    path(missing, &t, "inst/nothing");
    assert_int_equal(ops->mkdir_fn(ops->ctx, inst), 0);
    assert_int_equal(ops->mkdir_fn(ops->ctx, inst), EEXIST);

    FILE *f = fopen(attr, "w");
    assert_non_null(f);
    fputs("41\n", f);
    fclose(f);
    cs_buf b;
    cs_buf_init(&b, 64);
    assert_int_equal(ops->read_fn(ops->ctx, attr, &b), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.ptr, "41\n", 3);
    /* writes go to the existing attribute; nothing is ever created */
    assert_int_equal(ops->write_fn(ops->ctx, attr, CS_SLICE_LIT("42")), 0);
    cs_buf_reset(&b);
    assert_int_equal(ops->read_fn(ops->ctx, attr, &b), 0);
    assert_memory_equal(b.ptr, "42\n", 3);
    assert_int_equal(ops->write_fn(ops->ctx, missing, CS_SLICE_LIT("x")), ENOENT);
    assert_int_equal(ops->read_fn(ops->ctx, missing, &b), ENOENT);
    /* the buffer's cap is the read's cap */
    cs_buf small;
    cs_buf_init(&small, 2);
    assert_int_equal(ops->read_fn(ops->ctx, attr, &small), EFBIG);
    cs_buf_cleanup(&small);
    cs_buf_cleanup(&b);

    assert_int_equal(ops->rmdir_fn(ops->ctx, inst), ENOTEMPTY);
    assert_int_equal(unlink(attr), 0);
    assert_int_equal(ops->rmdir_fn(ops->ctx, inst), 0);
    assert_int_equal(ops->rmdir_fn(ops->ctx, inst), ENOENT);
    assert_int_equal(rmdir(t.root), 0);
}

static void large_attribute_is_read_whole(void **state)
{
    (void)state;
    const cs_tsm_ops *ops = cs_tsm_ops_syscalls();
    tmp t;
    tmp_make(&t);
    char blob[256];
    path(blob, &t, "outblob");
    uint8_t *data = test_malloc(CS_TSM_BLOB_MAX);
    for (size_t i = 0; i < CS_TSM_BLOB_MAX; i++)
        data[i] = (uint8_t)(i * 7);
    FILE *f = fopen(blob, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, CS_TSM_BLOB_MAX, f), CS_TSM_BLOB_MAX);
    fclose(f);
    cs_buf b;
    cs_buf_init(&b, CS_TSM_BLOB_MAX);
    assert_int_equal(ops->read_fn(ops->ctx, blob, &b), 0);
    assert_int_equal(b.len, CS_TSM_BLOB_MAX);
    assert_memory_equal(b.ptr, data, CS_TSM_BLOB_MAX);
    cs_buf_reset(&b);
    b.max = CS_TSM_BLOB_MAX - 1;
    assert_int_equal(ops->read_fn(ops->ctx, blob, &b), EFBIG);
    cs_buf_cleanup(&b);
    test_free(data);
    assert_int_equal(unlink(blob), 0);
    assert_int_equal(rmdir(t.root), 0);
}

static void attest_on_a_plain_directory_fails_and_cleans_up(void **state)
{
    (void)state;
    tmp t;
    tmp_make(&t);
    uint8_t rd[64] = {1, 2, 3};
    cs_evidence ev;
    cs_evidence_init(&ev);
    /* mkdir works, but there is no provider attribute: not configfs-tsm */
    cst_fails(cs_tsm_attest(t.root, rd, NULL, &ev), CONSORT_E_NOT_FOUND);
    if (strstr(consort_errmsg(), "/provider: No such file or directory (ENOENT") == NULL ||
        strstr(consort_errmsg(), "/consort-") == NULL)
        fail_msg("unexpected message: %s", consort_errmsg());
    assert_int_equal(tmp_count(&t), 0); /* the instance was removed */
    assert_int_equal(ev.evidence.len, 0);
    cs_evidence_cleanup(&ev);
    assert_int_equal(rmdir(t.root), 0);
}

static void attest_without_configfs_tsm(void **state)
{
    (void)state;
    uint8_t rd[64] = {0};
    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_fails(cs_tsm_attest("/nonexistent-consort/tsm/report", rd, NULL, &ev), CONSORT_E_NOT_FOUND);
    assert_string_equal(consort_errmsg(),
                        "configfs-tsm not available at /nonexistent-consort/tsm/report: is "
                        "this a confidential VM with configfs mounted?");
    /* a root that is a file, not a directory */
    tmp t;
    tmp_make(&t);
    char file[256];
    path(file, &t, "report");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    cst_fails(cs_tsm_attest(file, rd, NULL, &ev), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "configfs-tsm not available at"));
    assert_int_equal(unlink(file), 0);
    assert_int_equal(rmdir(t.root), 0);
    cs_evidence_cleanup(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(syscalls_report_errno),
        cmocka_unit_test(large_attribute_is_read_whole),
        cmocka_unit_test(attest_on_a_plain_directory_fails_and_cleans_up),
        cmocka_unit_test(attest_without_configfs_tsm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
