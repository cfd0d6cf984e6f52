/*
 * The SEV-SNP report tampering oracle (test_snp_tamper.c,
 * test_verify_cache.c): the refusal each field's flipped byte must get.
 */
#ifndef CONSORT_TEST_SNP_FIELDS_H
#define CONSORT_TEST_SNP_FIELDS_H

#include "testutil.h"

/*
 * The refusal a flipped byte of the report must get, by field (SEV-SNP ABI,
 * ATTESTATION_REPORT): the version and signature algorithm are checked
 * first (UNSUPPORTED), reserved bytes must be zero (MALFORMED), the reported
 * TCB must be the VCEK's (TCB), the chip id a VCEK's hwID (ATTESTATION; a
 * VLEK names no chip, so there only the signature sees it), and everything
 * else only the signature covers (BAD_SIGNATURE), R and S included. A few
 * fields refuse by bit: the policy, KEY_INFO (0x48: masked chip key, signing
 * key), the reported TCB and CPUID of v2/v3 reports (0x180..0x19f): for
 * those any refusal counts, as before.
 */
typedef struct snp_field {
    size_t from, to; /* bytes [from, to) */
    consort_err codes[2];
} snp_field;

static const snp_field SNP_FIELDS[] __attribute__((unused)) = {
    {0x000, 0x004, {CONSORT_E_UNSUPPORTED}},   /* VERSION */
    {0x004, 0x008, {CONSORT_E_BAD_SIGNATURE}}, /* GUEST_SVN */
    {0x008, 0x010, {CONSORT_OK}},              /* POLICY: by bit */
    {0x010, 0x034, {CONSORT_E_BAD_SIGNATURE}}, /* FAMILY_ID, IMAGE_ID, VMPL */
    {0x034, 0x038, {CONSORT_E_UNSUPPORTED}},   /* SIGNATURE_ALGO */
    {0x038, 0x048, {CONSORT_E_BAD_SIGNATURE}}, /* CURRENT_TCB, PLATFORM_INFO */
    {0x048, 0x049, {CONSORT_OK}},              /* KEY_INFO: by bit */
    {0x049, 0x050, {CONSORT_E_MALFORMED}},     /* reserved */
    {0x050, 0x180, {CONSORT_E_BAD_SIGNATURE}}, /* REPORT_DATA .. REPORT_ID_MA */
    {0x180, 0x1a0, {CONSORT_OK}},              /* REPORTED_TCB, CPUID, reserved: by byte */
    {0x1a0, 0x1e0, {CONSORT_E_ATTESTATION, CONSORT_E_BAD_SIGNATURE}}, /* CHIP_ID */
    {0x1e0, 0x1eb, {CONSORT_E_BAD_SIGNATURE}}, /* COMMITTED_TCB, CURRENT_BUILD.. */
    {0x1eb, 0x1ec, {CONSORT_E_MALFORMED}},     /* reserved */
    {0x1ec, 0x1ef, {CONSORT_E_BAD_SIGNATURE}}, /* COMMITTED_BUILD.. */
    {0x1ef, 0x1f0, {CONSORT_E_MALFORMED}},     /* reserved */
    {0x1f0, 0x1f8, {CONSORT_E_BAD_SIGNATURE}}, /* LAUNCH_TCB */
    {0x1f8, 0x2a0, {CONSORT_E_MALFORMED}},     /* reserved */
    {0x2a0, 0x2d0, {CONSORT_E_BAD_SIGNATURE}}, /* R, 48 significant bytes */
    {0x2d0, 0x2e8, {CONSORT_E_MALFORMED}},     /* R's zero padding */
    {0x2e8, 0x318, {CONSORT_E_BAD_SIGNATURE}}, /* S, 48 significant bytes */
    {0x318, 0x4a0, {CONSORT_E_MALFORMED}},     /* S's padding, reserved */
};

static inline const snp_field *snp_field_of(size_t byte)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(SNP_FIELDS); i++)
        if (byte >= SNP_FIELDS[i].from && byte < SNP_FIELDS[i].to)
            return &SNP_FIELDS[i];
    fail_msg("byte 0x%03zx is outside the report", byte);
    return NULL;
}

/* Fails unless `rc` is the refusal snp_field_of(byte) says (any refusal for
 * the by-bit fields). */
static inline void snp_expect_refusal(size_t byte, consort_err rc, const char *what)
{
    const snp_field *f = snp_field_of(byte);
    if (rc == CONSORT_OK)
        fail_msg("%s (byte 0x%03zx) was accepted", what, byte);
    if (f->codes[0] != CONSORT_OK && rc != f->codes[0] && rc != f->codes[1])
        fail_msg("%s (byte 0x%03zx): %s (%s), expected %s%s%s", what, byte, consort_err_name(rc),
                 consort_errmsg(), consort_err_name(f->codes[0]),
                 f->codes[1] != CONSORT_OK ? " or " : "",
                 f->codes[1] != CONSORT_OK ? consort_err_name(f->codes[1]) : "");
}

#endif
