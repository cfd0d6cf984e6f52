/*
 * Keys derived inside a TPM (src/attest/tpm_seal.h) on real swtpm processes:
 * the same TPM derives the same key on every call, another label, context or
 * TPM another key;
 * oversized input and an unreachable TPM fail; transient objects left by a
 * process that died are flushed, and only they. Skipped only when swtpm is
 * not installed.
 */
#include "testutil.h"

#include "attest/tpm.h"
#include "attest/tpm_seal.h"
#include "swtpm.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LABEL "consort sealing v1"

static const uint8_t code_a[32] = {1, 2, 3};
static const uint8_t code_b[32] = {1, 2, 4};

static void derive(const cst_swtpm *t, const char *label, const uint8_t code[32],
                   uint8_t out[CS_TPM_DERIVED_KEY_LEN])
{
    cst_ok(cs_tpm_derive_key(t->tcti, cs_slice_str(label), CS_SLICE(code, 32), out));
}

static void assert_differ(const uint8_t *a, const uint8_t *b)
{
    assert_memory_not_equal(a, b, CS_TPM_DERIVED_KEY_LEN);
}

static void same_tpm_same_key(void **state)
{
    (void)state;
    cst_swtpm t;
    cst_swtpm_start(&t);
    uint8_t k1[32], k2[32], k3[32], k4[32];
    derive(&t, LABEL, code_a, k1);
    derive(&t, LABEL, code_a, k2);
    assert_memory_equal(k1, k2, 32);
    static const uint8_t zero[32] = {0};
    assert_memory_not_equal(k1, zero, 32);
    /* another code id, another label: another key */
    derive(&t, LABEL, code_b, k3);
    assert_differ(k1, k3);
    derive(&t, "consort sealing v2", code_a, k4);
    assert_differ(k1, k4);
    /* the boundary between label and context is not hidden: callers use a fixed
     * label; this documents that label||context is what the TPM sees */
    uint8_t k5[32], moved[33];
    moved[0] = '1';
    memcpy(moved + 1, code_a, 32);
    cst_ok(cs_tpm_derive_key(t.tcti, CS_SLICE_LIT("consort sealing v"), CS_SLICE(moved, 33), k5));
    assert_memory_equal(k1, k5, 32);
    /* nothing stays loaded in the TPM */
    size_t flushed = 99;
    cst_ok(cs_tpm_flush_transients(t.tcti, &flushed));
    assert_int_equal(flushed, 0);
    cst_swtpm_stop(&t);
}

static void other_tpm_other_key(void **state)
{
    (void)state;
    cst_swtpm a, b;
    cst_swtpm_start(&a);
    cst_swtpm_start(&b);
    uint8_t ka[32], kb[32];
    derive(&a, LABEL, code_a, ka);
    derive(&b, LABEL, code_a, kb);
    assert_differ(ka, kb);
    cst_swtpm_stop(&a);
    cst_swtpm_stop(&b);
}

static void bad_input_and_no_tpm(void **state)
{
    (void)state;
    uint8_t big[CS_TPM_DERIVE_INPUT_MAX + 1];
    memset(big, 7, sizeof big);
    uint8_t k[32];
    memset(k, 0xaa, sizeof k);
    /* too long for TPM2B_MAX_BUFFER: refused before any TPM is contacted */
    cst_fails(cs_tpm_derive_key("swtpm:host=127.0.0.1,port=1", CS_SLICE(big, 1000),
                                CS_SLICE(big, CS_TPM_DERIVE_INPUT_MAX - 999), k),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_tpm_derive_key("swtpm:host=127.0.0.1,port=1", CS_SLICE_EMPTY,
                                CS_SLICE(big, sizeof big), k),
              CONSORT_E_INVALID_ARGUMENT);
    /* nothing listens on port 1: IO, and the output is wiped */
    cst_fails(cs_tpm_derive_key("swtpm:host=127.0.0.1,port=1", CS_SLICE_LIT(LABEL),
                                CS_SLICE(code_a, 32), k),
              CONSORT_E_IO);
    static const uint8_t zero[32] = {0};
    assert_memory_equal(k, zero, 32);
    cst_fails(cs_tpm_flush_transients("swtpm:host=127.0.0.1,port=1", NULL), CONSORT_E_IO);
    cst_fails(cs_tpm_derive_key("nosuchtcti", CS_SLICE_LIT(LABEL), CS_SLICE(code_a, 32), k),
              CONSORT_E_IO);
}

/* A child process creates an AK (a transient object) and dies without flushing it. */
static void leak_one_ak(const cst_swtpm *t)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const cs_tpm_attester_opts o = {.tcti = t->tcti};
        cs_tpm_attester *att;
        _exit(cs_tpm_attester_new(&o, &att) == CONSORT_OK ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void stale_transients_flushed(void **state)
{
    (void)state;
    cst_swtpm t;
    cst_swtpm_start(&t);
    uint8_t before[32], after[32];
    derive(&t, LABEL, code_a, before);
    for (int i = 0; i < 3; i++)
        leak_one_ak(&t);
    size_t flushed = 0;
    cst_ok(cs_tpm_flush_transients(t.tcti, &flushed));
    assert_int_equal(flushed, 3);
    cst_ok(cs_tpm_flush_transients(t.tcti, &flushed));
    assert_int_equal(flushed, 0);
    /* flushing loaded objects changes no key: primary keys come from the seed */
    derive(&t, LABEL, code_a, after);
    assert_memory_equal(before, after, 32);
    cst_swtpm_stop(&t);
}

int main(void)
{
    setenv("TSS2_LOG", "all+none", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_tpm_same_key),
        cmocka_unit_test(other_tpm_other_key),
        cmocka_unit_test(bad_input_and_no_tpm),
        cmocka_unit_test(stale_transients_flushed),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
