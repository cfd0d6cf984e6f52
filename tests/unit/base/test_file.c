/*
 * cs_file_write_atomic (base/file.h): the temporary file is never a file or
 * symlink someone planted, and the result has exactly the requested mode
 * whatever the umask, before a byte of the (secret) contents is written.
 */
#include "testutil.h"

#include "base/file.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct dirs {
    char dir[64];
    char path[128];
} dirs;

static int setup(void **state)
{
    dirs *d = calloc(1, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "/tmp/consort-file-XXXXXX");
    if (d == NULL || mkdtemp(d->dir) == NULL)
        return -1;
    snprintf(d->path, sizeof d->path, "%s/key.pem", d->dir);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    dirs *d = *state;
    DIR *dh = opendir(d->dir);
    struct dirent *e;
    while (dh != NULL && (e = readdir(dh)) != NULL) {
        char p[512];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", d->dir, e->d_name);
        unlink(p);
    }
    if (dh != NULL)
        closedir(dh);
    rmdir(d->dir);
    free(d);
    return 0;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void read_back(const char *path, const char *want)
{
    cs_buf b;
    cs_buf_init(&b, 1 << 20);
    cst_read_file(path, &b);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.ptr, want, b.len);
    cs_buf_cleanup(&b);
}

/* A symlink planted at the name the old implementation used
 * ("<path>.tmp.<pid>") must not be followed: its target stays untouched. */
static void planted_symlink_is_not_followed(void **state)
{
    dirs *d = *state;
    char planted[256], target[256];
    snprintf(planted, sizeof planted, "%s.tmp.%ld", d->path, (long)getpid());
    snprintf(target, sizeof target, "%s/attacker-reads-this", d->dir);
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(symlink(target, planted), 0);
    cst_ok(cs_file_write_atomic(d->path, CS_SLICE_LIT("SECRET KEY"), 0600));
    read_back(d->path, "SECRET KEY");
    read_back(target, ""); /* nothing written through the link */
    assert_int_equal(mode_of(d->path), 0600);
}

/* A file pre-created at that name with a permissive mode must not lend its
 * mode (or owner) to the result. */
static void planted_file_does_not_lend_its_mode(void **state)
{
    dirs *d = *state;
    char planted[256];
    snprintf(planted, sizeof planted, "%s.tmp.%ld", d->path, (long)getpid());
    FILE *f = fopen(planted, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(chmod(planted, 0666), 0);
    cst_ok(cs_file_write_atomic(d->path, CS_SLICE_LIT("SECRET"), 0600));
    assert_int_equal(mode_of(d->path), 0600);
    read_back(d->path, "SECRET");
}

/* The requested mode is exact: neither widened nor narrowed by the umask. */
static void mode_is_exact_whatever_the_umask(void **state)
{
    dirs *d = *state;
    mode_t old = umask(0);
    cst_ok(cs_file_write_atomic(d->path, CS_SLICE_LIT("a"), 0600));
    assert_int_equal(mode_of(d->path), 0600);
    umask(077);
    cst_ok(cs_file_write_atomic(d->path, CS_SLICE_LIT("b"), 0644));
    assert_int_equal(mode_of(d->path), 0644);
    umask(old);
    read_back(d->path, "b");
}

/* No temporary file is left behind, on success or failure. */
static void no_temporary_left_behind(void **state)
{
    dirs *d = *state;
    cst_ok(cs_file_write_atomic(d->path, CS_SLICE_LIT("x"), 0600));
    char bad[256];
    snprintf(bad, sizeof bad, "%s/missing-dir/file", d->dir);
    cst_fails(cs_file_write_atomic(bad, CS_SLICE_LIT("x"), 0600), CONSORT_E_NOT_FOUND);
    DIR *dh = opendir(d->dir);
    assert_non_null(dh);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        assert_null(strstr(e->d_name, ".tmp."));
        files++;
    }
    closedir(dh);
    assert_int_equal(files, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(planted_symlink_is_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(planted_file_does_not_lend_its_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(mode_is_exact_whatever_the_umask, setup, teardown),
        cmocka_unit_test_setup_teardown(no_temporary_left_behind, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
