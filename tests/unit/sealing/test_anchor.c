/*
 * Anchors (sealing/anchor.h): the file anchor is monotonic, survives a
 * reopen and refuses a damaged file; the TPM anchor, on a real swtpm, is a
 * TPM_NT_COUNTER index that survives a reopen and a redefinition never
 * takes back; cs_anchor_from_ops dispatches to its backend.
 */
#include "sealing_test.h"

#include "base/file.h"
#include "sealing/anchor.h"
#include "swtpm.h"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

static void test_file_monotonic(void **state)
{
    (void)state;
    char dir[64], path[128];
    st_tmpdir(dir);
    snprintf(path, sizeof path, "%s/anchor", dir);
    cs_anchor *a;
    cst_ok(cs_anchor_file_open(path, &a));
    assert_false(cs_anchor_is_secure(a));
    assert_non_null(strstr(cs_anchor_name(a), path));
    uint64_t v = 99;
    cst_ok(cs_anchor_read(a, &v));
    assert_int_equal(v, 0);
    for (uint64_t i = 1; i <= 5; i++) {
        cst_ok(cs_anchor_increment(a, &v));
        assert_int_equal(v, i);
    }
    cs_anchor_free(a);
    /* reopen: the value stayed */
    cst_ok(cs_anchor_file_open(path, &a));
    cst_ok(cs_anchor_read(a, &v));
    assert_int_equal(v, 5);
    cs_anchor_free(a);
    cs_anchor_free(NULL);
    st_rmdir(dir);
}

static void test_file_corrupt(void **state)
{
    (void)state;
    char dir[64], path[128];
    st_tmpdir(dir);
    snprintf(path, sizeof path, "%s/anchor", dir);
    cs_anchor *a;
    cst_ok(cs_anchor_file_open(path, &a));
    uint64_t v;
    cst_ok(cs_anchor_increment(a, &v));
    cs_anchor_free(a);
    cs_buf b;
    cs_buf_init(&b, 0);
    cst_read_file(path, &b);
    assert_int_equal(b.len, 48);
    /* a flipped value bit: the checksum no longer matches */
    b.ptr[15] ^= 1;
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&b), 0600));
    cst_fails(cs_anchor_file_open(path, &a), CONSORT_E_CORRUPT);
    /* a short file */
    cst_ok(cs_file_write_atomic(path, CS_SLICE(b.ptr, 20), 0600));
    cst_fails(cs_anchor_file_open(path, &a), CONSORT_E_CORRUPT);
    /* damaged under an open anchor: read refuses it */
    b.ptr[15] ^= 1;
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&b), 0600));
    cst_ok(cs_anchor_file_open(path, &a));
    cst_ok(cs_file_write_atomic(path, CS_SLICE_LIT("garbage"), 0600));
    cst_fails(cs_anchor_read(a, &v), CONSORT_E_CORRUPT);
    cst_fails(cs_anchor_increment(a, &v), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "anchor"));
    cs_anchor_free(a);
    cs_buf_cleanup(&b);
    st_rmdir(dir);
}

typedef struct fake {
    uint64_t v;
    int *freed;
} fake;

static consort_err fake_read(void *ctx, uint64_t *v)
{
    *v = ((fake *)ctx)->v;
    return CONSORT_OK;
}

static consort_err fake_inc(void *ctx, uint64_t *v)
{
    *v = ++((fake *)ctx)->v;
    return CONSORT_OK;
}

static const char *fake_name(void *ctx)
{
    (void)ctx;
    return "fake";
}

static bool fake_secure(void *ctx)
{
    (void)ctx;
    return true;
}

static void fake_free(void *ctx)
{
    (*((fake *)ctx)->freed)++;
}

static void test_from_ops(void **state)
{
    (void)state;
    static const cs_anchor_ops ops = {fake_read, fake_inc, fake_name, fake_secure, fake_free};
    int freed = 0;
    fake f = {41, &freed};
    cs_anchor *a;
    cst_ok(cs_anchor_from_ops(&ops, &f, &a));
    uint64_t v;
    cst_ok(cs_anchor_increment(a, &v));
    assert_int_equal(v, 42);
    assert_string_equal(cs_anchor_name(a), "fake");
    assert_true(cs_anchor_is_secure(a));
    cs_anchor_free(a);
    assert_int_equal(freed, 1);
    static const cs_anchor_ops incomplete = {fake_read, NULL, fake_name, fake_secure, NULL};
    cst_fails(cs_anchor_from_ops(&incomplete, &f, &a), CONSORT_E_INVALID_ARGUMENT);
}

/* Plays the host, which holds the (empty) owner authorization. */
static ESYS_CONTEXT *host_connect(const char *tcti, TSS2_TCTI_CONTEXT **tc)
{
    ESYS_CONTEXT *esys = NULL;
    assert_int_equal(Tss2_TctiLdr_Initialize(tcti, tc), TSS2_RC_SUCCESS);
    assert_int_equal(Esys_Initialize(&esys, *tc, NULL), TSS2_RC_SUCCESS);
    return esys;
}

static void host_close(ESYS_CONTEXT *esys, TSS2_TCTI_CONTEXT *tc)
{
    Esys_Finalize(&esys);
    Tss2_TctiLdr_Finalize(&tc);
}

static void undefine(const char *tcti, uint32_t index)
{
    TSS2_TCTI_CONTEXT *tc;
    ESYS_CONTEXT *esys = host_connect(tcti, &tc);
    ESYS_TR nv;
    assert_int_equal(
        Esys_TR_FromTPMPublic(esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv),
        TSS2_RC_SUCCESS);
    assert_int_equal(Esys_NV_UndefineSpace(esys, ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD,
                                           ESYS_TR_NONE, ESYS_TR_NONE),
                     TSS2_RC_SUCCESS);
    host_close(esys, tc);
}

static void define_ordinary(const char *tcti, uint32_t index)
{
    TSS2_TCTI_CONTEXT *tc;
    ESYS_CONTEXT *esys = host_connect(tcti, &tc);
    TPM2B_AUTH auth = {0};
    TPM2B_NV_PUBLIC pub = {0};
    pub.nvPublic.nvIndex = index;
    pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
    pub.nvPublic.attributes = TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE | TPMA_NV_NO_DA;
    pub.nvPublic.dataSize = 8;
    ESYS_TR nv;
    assert_int_equal(Esys_NV_DefineSpace(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                         ESYS_TR_NONE, &auth, &pub, &nv),
                     TSS2_RC_SUCCESS);
    host_close(esys, tc);
}

static void test_tpm(void **state)
{
    (void)state;
    cst_swtpm t = {0};
    cst_swtpm_start(&t);
    cs_anchor *a;
    cst_fails(cs_anchor_tpm_open(t.tcti, 0x01C00002u, &a), CONSORT_E_INVALID_ARGUMENT);
    cst_ok(cs_anchor_tpm_open(t.tcti, CS_ANCHOR_TPM_DEFAULT_INDEX, &a));
    assert_true(cs_anchor_is_secure(a));
    uint64_t first, v;
    cst_ok(cs_anchor_read(a, &first));
    cst_ok(cs_anchor_increment(a, &v));
    assert_int_equal(v, first + 1);
    cst_ok(cs_anchor_increment(a, &v));
    assert_int_equal(v, first + 2);
    cs_anchor_free(a);
    /* reopen: same index, same value */
    cst_ok(cs_anchor_tpm_open(t.tcti, CS_ANCHOR_TPM_DEFAULT_INDEX, &a));
    cst_ok(cs_anchor_read(a, &v));
    assert_int_equal(v, first + 2);
    cs_anchor_free(a);
    /* the host undefines the index and it is defined again: its first
     * increment sets it to at least the highest value a deleted counter
     * held (Part 1, "NV Counters"), so it never goes back */
    undefine(t.tcti, CS_ANCHOR_TPM_DEFAULT_INDEX);
    cst_ok(cs_anchor_tpm_open(t.tcti, CS_ANCHOR_TPM_DEFAULT_INDEX, &a));
    cst_ok(cs_anchor_read(a, &v));
    assert_true(v >= first + 2);
    cs_anchor_free(a);
    /* an index that is not a counter is refused */
    define_ordinary(t.tcti, CS_ANCHOR_TPM_DEFAULT_INDEX + 1);
    cst_fails(cs_anchor_tpm_open(t.tcti, CS_ANCHOR_TPM_DEFAULT_INDEX + 1, &a), CONSORT_E_POLICY);
    cst_swtpm_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_monotonic),
        cmocka_unit_test(test_file_corrupt),
        cmocka_unit_test(test_from_ops),
        cmocka_unit_test(test_tpm),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
