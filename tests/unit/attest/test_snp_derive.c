/*
 * SEV-SNP sealing keys (src/attest/snp_derive.h) without SNP hardware: the
 * MSG_KEY_REQ each mode builds (byte for byte, against the ABI's offsets and
 * GUEST_FIELD_SELECT bits), the MSG_KEY_RSP checks, the HKDF post-processing
 * against vectors computed independently, and the device errors (missing:
 * UNSUPPORTED naming the path; a device that is not sev-guest: IO).
 */
#include "testutil.h"

#include "attest/snp_derive.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ABI "MSG_KEY_REQ", GUEST_FIELD_SELECT: bit 0 GUEST_POLICY, 1 IMAGE_ID,
 * 2 FAMILY_ID, 3 MEASUREMENT, 4 GUEST_SVN, 5 TCB_VERSION. Written out as
 * numbers here so a wrong macro cannot agree with itself. */
#define BIT_POLICY      0x01u
#define BIT_IMAGE_ID    0x02u
#define BIT_FAMILY_ID   0x04u
#define BIT_MEASUREMENT 0x08u
#define BIT_GUEST_SVN   0x10u
#define BIT_TCB_VERSION 0x20u

static const uint64_t TCB =
    0xdb18000000000004ull; /* a Milan TCB_VERSION: ucode 0xdb, SNP 0x18, BL 4 */

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The request as the PSP reads it: 32 little-endian bytes. */
static void request_bytes(const struct snp_derived_key_req *req, uint8_t out[32])
{
    assert_int_equal(sizeof *req, 32);
    memcpy(out, req, 32);
}

static void exact_request(void **state)
{
    (void)state;
    struct snp_derived_key_req req;
    cst_ok(cs_snp_key_request(CS_SNP_KEY_EXACT, 0, 0, TCB, &req));
    uint8_t b[32];
    request_bytes(&req, b);
    /* 0x00 ROOT_KEY_SELECT: bit 0 = 0 (VCEK, not VMRK), KEY_SEL (bits 2:1) = 0 */
    assert_int_equal(le32(b + 0x00), 0);
    assert_int_equal(le32(b + 0x04), 0); /* reserved */
    /* 0x08 GUEST_FIELD_SELECT: policy, measurement, TCB version; no ids, no SVN */
    assert_int_equal(le64(b + 0x08), BIT_POLICY | BIT_MEASUREMENT | BIT_TCB_VERSION);
    assert_int_equal(le64(b + 0x08), 0x29);
    assert_int_equal(le64(b + 0x08) & (BIT_IMAGE_ID | BIT_FAMILY_ID | BIT_GUEST_SVN), 0);
    assert_int_equal(le32(b + 0x10), 0); /* VMPL */
    assert_int_equal(le32(b + 0x14), 0); /* GUEST_SVN */
    assert_true(le64(b + 0x18) == TCB);  /* TCB_VERSION */
    assert_int_equal(CS_SNP_GFS_EXACT, 0x29);
}

static void lineage_request(void **state)
{
    (void)state;
    struct snp_derived_key_req req;
    cst_ok(cs_snp_key_request(CS_SNP_KEY_LINEAGE, 2, 7, TCB, &req));
    uint8_t b[32];
    request_bytes(&req, b);
    assert_int_equal(le32(b + 0x00), 0);
    assert_int_equal(le32(b + 0x04), 0);
    /* policy, image id, family id, guest SVN, TCB version; NOT the measurement */
    assert_int_equal(le64(b + 0x08),
                     BIT_POLICY | BIT_IMAGE_ID | BIT_FAMILY_ID | BIT_GUEST_SVN | BIT_TCB_VERSION);
    assert_int_equal(le64(b + 0x08), 0x37);
    assert_int_equal(le64(b + 0x08) & BIT_MEASUREMENT, 0);
    assert_int_equal(le32(b + 0x10), 2); /* VMPL */
    assert_int_equal(le32(b + 0x14), 7); /* GUEST_SVN */
    assert_true(le64(b + 0x18) == TCB);
    assert_int_equal(CS_SNP_GFS_LINEAGE, 0x37);
    /* no bit outside the six the ABI defines (the PSP rejects others) */
    assert_int_equal(CS_SNP_GFS_EXACT & ~0x3full, 0);
    assert_int_equal(CS_SNP_GFS_LINEAGE & ~0x3full, 0);
}

static void bad_requests(void **state)
{
    (void)state;
    struct snp_derived_key_req req;
    memset(&req, 0xaa, sizeof req);
    cst_fails(cs_snp_key_request((cs_snp_key_mode)3, 0, 0, 0, &req), CONSORT_E_INVALID_ARGUMENT);
    static const uint8_t zero[32] = {0};
    assert_memory_equal(&req, zero, 32); /* zeroed on failure */
    cst_fails(cs_snp_key_request(CS_SNP_KEY_EXACT, 4, 0, 0, &req), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "VMPL 4"));
    /* the exact key mixes no SVN: a caller passing one has misunderstood */
    cst_fails(cs_snp_key_request(CS_SNP_KEY_EXACT, 0, 1, 0, &req), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "guest SVN 1"));
    cst_ok(cs_snp_key_request(CS_SNP_KEY_LINEAGE, 3, UINT32_MAX, UINT64_MAX, &req));
}

static void good_response(struct snp_derived_key_resp *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 32; i++)
        r->data[0x20 + i] = (uint8_t)(0x40 + i);
}

static void response_checks(void **state)
{
    (void)state;
    struct snp_derived_key_resp r;
    uint8_t raw[32];
    good_response(&r);
    cst_ok(cs_snp_key_response(&r, raw));
    assert_memory_equal(raw, r.data + 0x20, 32);

    /* STATUS INVALID_PARAM (0x16): e.g. a GUEST_SVN above the ID block's */
    good_response(&r);
    r.data[0] = 0x16;
    cst_fails(cs_snp_key_response(&r, raw), CONSORT_E_IO);
    assert_non_null(strstr(consort_errmsg(), "0x16 INVALID_PARAM"));
    static const uint8_t zero[32] = {0};
    assert_memory_equal(raw, zero, 32);
    r.data[0] = 0x27;
    cst_fails(cs_snp_key_response(&r, raw), CONSORT_E_IO);
    assert_non_null(strstr(consort_errmsg(), "INVALID_KEY"));
    /* a status in the upper bytes is still a status */
    r.data[0] = 0;
    r.data[3] = 1;
    cst_fails(cs_snp_key_response(&r, raw), CONSORT_E_IO);
    /* what cs_snp_key_ioctl leaves when nothing was written: 0xFF everywhere */
    memset(&r, 0xff, sizeof r);
    cst_fails(cs_snp_key_response(&r, raw), CONSORT_E_IO);
    /* every reserved byte 0x04-0x1F */
    for (size_t i = 4; i < 0x20; i++) {
        good_response(&r);
        r.data[i] = 1;
        cst_fails(cs_snp_key_response(&r, raw), CONSORT_E_MALFORMED);
    }
    /* status 0 with an all-zero key */
    memset(&r, 0, sizeof r);
    cst_fails(cs_snp_key_response(&r, raw), CONSORT_E_MALFORMED);
}

/*
 * HKDF-SHA256 (RFC 5869) with ikm = 00 01 .. 1f, empty salt, 32 bytes out,
 * computed independently with Python's hashlib/hmac:
 *
 *   import hmac, hashlib
 *   def hkdf(ikm, info):
 *       prk = hmac.new(b'\0' * 32, ikm, hashlib.sha256).digest()
 *       return hmac.new(prk, info + b'\x01', hashlib.sha256).digest()
 *   hkdf(bytes(range(32)), b"consort sealing v1").hex()
 *   hkdf(bytes(range(32)), b"consort sealing lineage v1").hex()
 */
static void hkdf_vectors(void **state)
{
    (void)state;
    uint8_t raw[32], out[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)i;
    cs_buf want, want_lineage;

    cst_ok(cs_snp_key_finish(CS_SNP_KEY_EXACT, raw, out));
    cst_hex("93387e1f3497820137678691b2990b033daf8d518fed0ccb8dbc866beb7fa105", &want);
    assert_int_equal(want.len, 32);
    assert_memory_equal(out, want.ptr, 32);

    cst_ok(cs_snp_key_finish(CS_SNP_KEY_LINEAGE, raw, out));
    cst_hex("7feb2b152d22b52d3524a2f36a48afc01a6885577f3301b2fd14e033b0e8dbd6", &want_lineage);
    assert_memory_equal(out, want_lineage.ptr, 32);
    /* the PSP's key itself is never the output */
    assert_memory_not_equal(out, raw, 32);

    cst_fails(cs_snp_key_finish((cs_snp_key_mode)0, raw, out), CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&want);
    cs_buf_cleanup(&want_lineage);
}

static void missing_device(void **state)
{
    (void)state;
    char dir[] = "/tmp/cs_snp_derive_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/sev-guest", dir);
    uint8_t out[32];
    memset(out, 0x55, sizeof out);
    cst_fails(cs_snp_derive_key(path, CS_SNP_KEY_EXACT, 0, 0, TCB, out), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), path));
    assert_non_null(strstr(consort_errmsg(), "exact"));
    static const uint8_t zero[32] = {0};
    assert_memory_equal(out, zero, 32);

    struct snp_derived_key_req req;
    struct snp_derived_key_resp resp;
    cst_ok(cs_snp_key_request(CS_SNP_KEY_LINEAGE, 0, 1, TCB, &req));
    cst_fails(cs_snp_key_ioctl(path, &req, &resp), CONSORT_E_UNSUPPORTED);
    assert_non_null(strstr(consort_errmsg(), path));
    /* a bad request fails before any device is touched */
    cst_fails(cs_snp_derive_key(path, CS_SNP_KEY_EXACT, 9, 0, TCB, out),
              CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(rmdir(dir), 0);
}

/* A device that is there but is not sev-guest: the ioctl is refused (ENOTTY),
 * which is IO with the errno and the (zero) exitinfo2 in the message. */
static void not_sev_guest(void **state)
{
    (void)state;
    uint8_t out[32];
    cst_fails(cs_snp_derive_key("/dev/null", CS_SNP_KEY_LINEAGE, 0, 3, TCB, out), CONSORT_E_IO);
    const char *msg = consort_errmsg();
    assert_non_null(strstr(msg, "SNP_GET_DERIVED_KEY on /dev/null"));
    assert_non_null(strstr(msg, "fw_error 0x0, vmm_error 0 (none)"));
    assert_non_null(strstr(msg, "lineage"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_request), cmocka_unit_test(lineage_request),
        cmocka_unit_test(bad_requests),  cmocka_unit_test(response_checks),
        cmocka_unit_test(hkdf_vectors),  cmocka_unit_test(missing_device),
        cmocka_unit_test(not_sev_guest),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
