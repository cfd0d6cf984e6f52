/*
 * SEV-SNP sealing keys from the PSP (snp_derive.h): MSG_KEY_REQ through
 * Linux's sev-guest driver, then HKDF-SHA256.
 *
 * The kernel's get_derived_key (drivers/virt/coco/sev-guest) copies our
 * 32-byte request into a guest message, sends it encrypted with the VMPCK,
 * and copies the decrypted 64-byte MSG_KEY_RSP back. It does not look at the
 * response's STATUS: a refusal by the PSP (a GUEST_SVN above the ID block's,
 * a TCB_VERSION above the committed TCB, a VMPL below ours) comes back as a
 * successful ioctl with STATUS != 0, so cs_snp_key_response checks it. The
 * response buffer is pre-filled with 0xFF so that a status nobody wrote does
 * not read as success. Errors of the transport come back as a failed ioctl
 * with exitinfo2 = vmm_error << 32 | fw_error (<linux/sev-guest.h>).
 */
#include "attest/snp_derive.h"

#include "crypto/aead.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The kernel structs must be the ABI's messages, byte for byte. */
_Static_assert(sizeof(struct snp_derived_key_req) == 32, "MSG_KEY_REQ v1 is 32 bytes");
_Static_assert(offsetof(struct snp_derived_key_req, guest_field_select) == 0x08,
               "GUEST_FIELD_SELECT at 0x08");
_Static_assert(offsetof(struct snp_derived_key_req, vmpl) == 0x10, "VMPL at 0x10");
_Static_assert(offsetof(struct snp_derived_key_req, guest_svn) == 0x14, "GUEST_SVN at 0x14");
_Static_assert(offsetof(struct snp_derived_key_req, tcb_version) == 0x18, "TCB_VERSION at 0x18");
_Static_assert(sizeof(struct snp_derived_key_resp) == 64, "MSG_KEY_RSP is 64 bytes");

/* MSG_KEY_RSP: STATUS (u32, 0x00), reserved 0x04-0x1F, DERIVED_KEY 0x20-0x3F. */
#define RSP_STATUS_LEN 4
#define RSP_KEY_OFF    0x20

static const char LABEL_EXACT[] = "consort sealing v1";
static const char LABEL_LINEAGE[] = "consort sealing lineage v1";

const char *cs_snp_key_mode_name(cs_snp_key_mode mode)
{
    switch (mode) {
    case CS_SNP_KEY_EXACT:
        return "exact";
    case CS_SNP_KEY_LINEAGE:
        return "lineage";
    }
    return "?";
}

consort_err cs_snp_key_request(cs_snp_key_mode mode, uint32_t vmpl, uint32_t guest_svn,
                               uint64_t tcb, struct snp_derived_key_req *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(mode == CS_SNP_KEY_EXACT || mode == CS_SNP_KEY_LINEAGE, CONSORT_E_INVALID_ARGUMENT,
              "SNP key request: mode %d unknown, expected 1 (exact) or 2 (lineage)", (int)mode);
    CS_ENSURE(vmpl <= CS_SNP_VMPL_MAX, CONSORT_E_INVALID_ARGUMENT,
              "SNP key request: VMPL %u, expected 0 to %u", vmpl, CS_SNP_VMPL_MAX);
    /* EXACT does not select GUEST_SVN: a value would be ignored, so refuse it
     * rather than let a caller believe it is mixed. */
    CS_ENSURE(mode == CS_SNP_KEY_LINEAGE || guest_svn == 0, CONSORT_E_INVALID_ARGUMENT,
              "SNP key request: guest SVN %u given for the exact key, which mixes the "
              "measurement and no SVN (expected 0)",
              guest_svn);
    /* ROOT_KEY_SELECT 0 with KEY_SEL 0: the VCEK, or the VLEK if the host
     * installed one. KEY_SEL 1 (VCEK only) fails when the host disabled the
     * VCEK for the guest, and firmware older than KEY_SEL rejects any bit
     * above bit 0 as reserved; 0 is the one value every firmware accepts. */
    out->root_key_select = 0;
    out->rsvd = 0;
    out->guest_field_select = mode == CS_SNP_KEY_EXACT ? CS_SNP_GFS_EXACT : CS_SNP_GFS_LINEAGE;
    out->vmpl = vmpl;
    out->guest_svn = mode == CS_SNP_KEY_LINEAGE ? guest_svn : 0;
    out->tcb_version = tcb;
    return CONSORT_OK;
}

static const char *status_name(uint32_t status)
{
    switch (status) {
    case CS_SNP_KEY_STATUS_INVALID_PARAM:
        return "INVALID_PARAM (guest SVN above the ID block's, TCB above the committed TCB, "
               "VMPL below the guest's, or a reserved field set)";
    case CS_SNP_KEY_STATUS_INVALID_KEY:
        return "INVALID_KEY (the selected root key is not available to this guest)";
    default:
        return "unknown status";
    }
}

consort_err cs_snp_key_response(const struct snp_derived_key_resp *resp,
                                uint8_t raw[CS_SNP_DERIVED_KEY_LEN])
{
    cs_wipe(raw, CS_SNP_DERIVED_KEY_LEN);
    const uint8_t *d = resp->data;
    uint32_t status =
        (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
    CS_ENSURE(status == CS_SNP_KEY_STATUS_SUCCESS, CONSORT_E_IO,
              "SNP MSG_KEY_RSP: the PSP refused the key: status 0x%02x %s", status,
              status_name(status));
    for (size_t i = RSP_STATUS_LEN; i < RSP_KEY_OFF; i++)
        CS_ENSURE(d[i] == 0, CONSORT_E_MALFORMED,
                  "SNP MSG_KEY_RSP: reserved byte 0x%02zx is 0x%02x, expected 0", i, d[i]);
    uint8_t any = 0;
    for (size_t i = 0; i < CS_SNP_DERIVED_KEY_LEN; i++)
        any |= d[RSP_KEY_OFF + i];
    CS_ENSURE(any != 0, CONSORT_E_MALFORMED, "SNP MSG_KEY_RSP: status 0 but the key is all zero");
    memcpy(raw, d + RSP_KEY_OFF, CS_SNP_DERIVED_KEY_LEN);
    return CONSORT_OK;
}

consort_err cs_snp_key_finish(cs_snp_key_mode mode, const uint8_t raw[CS_SNP_DERIVED_KEY_LEN],
                              uint8_t out[CS_SNP_DERIVED_KEY_LEN])
{
    cs_wipe(out, CS_SNP_DERIVED_KEY_LEN);
    cs_slice info;
    if (mode == CS_SNP_KEY_EXACT)
        info = CS_SLICE_LIT(LABEL_EXACT);
    else if (mode == CS_SNP_KEY_LINEAGE)
        info = CS_SLICE_LIT(LABEL_LINEAGE);
    else
        return cs_fail(CONSORT_E_INVALID_ARGUMENT, "SNP key: mode %d unknown", (int)mode);
    return cs_hkdf_sha256(CS_SLICE(raw, CS_SNP_DERIVED_KEY_LEN), CS_SLICE_EMPTY, info, out,
                          CS_SNP_DERIVED_KEY_LEN);
}

static const char *vmm_error_name(uint32_t vmm)
{
    switch (vmm) {
    case 0:
        return "none";
    case SNP_GUEST_VMM_ERR_INVALID_LEN:
        return "INVALID_LEN";
    case SNP_GUEST_VMM_ERR_BUSY:
        return "BUSY";
    default:
        return "unknown";
    }
}

/* errno values that mean "no such device here" rather than "refused". */
static bool device_absent(int err)
{
    return err == ENOENT || err == ENODEV || err == ENXIO || err == ENOTDIR;
}

consort_err cs_snp_key_ioctl(const char *device, const struct snp_derived_key_req *req,
                             struct snp_derived_key_resp *resp)
{
    memset(resp, 0xff, sizeof *resp); /* an unwritten STATUS reads as a failure */
    int fd = open(device, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (device_absent(err))
            return cs_fail(CONSORT_E_UNSUPPORTED,
                           "no %s: %s (not an SEV-SNP guest, or the sev-guest driver is "
                           "not loaded)",
                           device, strerror(err));
        return cs_fail(CONSORT_E_IO, "cannot open %s: %s", device, strerror(err));
    }
    /* The kernel reads the request and writes the response through these
     * addresses; it only reads req_data, but the field is not const. */
    struct snp_derived_key_req copy = *req;
    struct snp_guest_request_ioctl io;
    memset(&io, 0, sizeof io);
    io.msg_version = CS_SNP_KEY_MSG_VERSION;
    io.req_data = (uint64_t)(uintptr_t)&copy;
    io.resp_data = (uint64_t)(uintptr_t)resp;
    int rc;
    do
        rc = ioctl(fd, SNP_GET_DERIVED_KEY, &io);
    while (rc < 0 && errno == EINTR);
    int err = errno;
    close(fd);
    cs_wipe(&copy, sizeof copy);
    if (rc < 0)
        return cs_fail(CONSORT_E_IO,
                       "ioctl SNP_GET_DERIVED_KEY on %s: %s; exitinfo2 "
                       "0x%016llx: fw_error 0x%x, vmm_error %u (%s)",
                       device, strerror(err), (unsigned long long)io.exitinfo2, io.fw_error,
                       io.vmm_error, vmm_error_name(io.vmm_error));
    return CONSORT_OK;
}

consort_err cs_snp_derive_key(const char *device, cs_snp_key_mode mode, uint32_t vmpl,
                              uint32_t guest_svn, uint64_t tcb, uint8_t out[CS_SNP_DERIVED_KEY_LEN])
{
    cs_wipe(out, CS_SNP_DERIVED_KEY_LEN);
    struct snp_derived_key_req req;
    struct snp_derived_key_resp resp;
    uint8_t raw[CS_SNP_DERIVED_KEY_LEN];
    consort_err rc;
    CS_TRY_CTX(cs_snp_key_request(mode, vmpl, guest_svn, tcb, &req), "SNP key derivation (%s)",
               cs_snp_key_mode_name(mode));
    CS_TRY_GOTO(rc, cs_snp_key_ioctl(device, &req, &resp), done);
    CS_TRY_GOTO(rc, cs_snp_key_response(&resp, raw), done);
    CS_TRY_GOTO(rc, cs_snp_key_finish(mode, raw, out), done);
done:
    cs_wipe(&resp, sizeof resp);
    cs_wipe(raw, sizeof raw);
    if (rc != CONSORT_OK) {
        cs_wipe(out, CS_SNP_DERIVED_KEY_LEN);
        return cs_err_context(rc, "SNP key derivation (%s)", cs_snp_key_mode_name(mode));
    }
    return CONSORT_OK;
}
