/* Code ids for the virtual and tpm platforms (DESIGN.md "Code id"). */
#include "testutil.h"

#include "attest/code_id.h"
#include "base/file.h"
#include "crypto/hash.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_tmp(char *path, cs_slice data)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    cst_ok(cs_file_write_atomic(path, data, 0600));
}

static void code_id_formula(void **state)
{
    (void)state;
    /* a binary larger than one read chunk, to exercise the streaming */
    cs_buf bin;
    cs_buf_init(&bin, 0);
    for (uint32_t i = 0; i < 50000; i++)
        cst_ok(cs_buf_append_le32(&bin, i * 2654435761u));
    char bin_path[] = "/tmp/cst-codeid-bin-XXXXXX";
    char app_path[] = "/tmp/cst-codeid-app-XXXXXX";
    write_tmp(bin_path, cs_buf_slice(&bin));
    write_tmp(app_path, CS_SLICE_LIT("function handler() end"));

    uint8_t hb[32];
    uint8_t ha[32];
    cs_sha256(cs_buf_slice(&bin), hb);
    cs_sha256(CS_SLICE_LIT("function handler() end"), ha);

    /* with an application module: SHA-256(SHA-256(bin) || SHA-256(app)) */
    uint8_t cat[64];
    memcpy(cat, hb, 32);
    memcpy(cat + 32, ha, 32);
    uint8_t want[32];
    cs_sha256(CS_SLICE(cat, 64), want);
    uint8_t got[32];
    cst_ok(cs_code_id_compute(bin_path, app_path, got));
    assert_memory_equal(got, want, 32);

    /* without one: 32 zero bytes in its place */
    memset(cat + 32, 0, 32);
    cs_sha256(CS_SLICE(cat, 64), want);
    cst_ok(cs_code_id_compute(bin_path, NULL, got));
    assert_memory_equal(got, want, 32);

    /* known answer: the empty binary, no module */
    char empty_path[] = "/tmp/cst-codeid-empty-XXXXXX";
    write_tmp(empty_path, CS_SLICE_EMPTY);
    cst_ok(cs_code_id_compute(empty_path, NULL, got));
    cs_buf kat;
    cst_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            "0000000000000000000000000000000000000000000000000000000000000000",
            &kat);
    cs_sha256(cs_buf_slice(&kat), want);
    assert_memory_equal(got, want, 32);
    cs_buf_cleanup(&kat);

    cst_fails(cs_code_id_compute("/nonexistent/consortd", NULL, got), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "/nonexistent/consortd"));
    cst_fails(cs_code_id_compute(bin_path, "/nonexistent/app.lua", got), CONSORT_E_NOT_FOUND);
    cst_fails(cs_code_id_compute("/tmp", NULL, got), CONSORT_E_IO);

    unlink(bin_path);
    unlink(app_path);
    unlink(empty_path);
    cs_buf_cleanup(&bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(code_id_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
