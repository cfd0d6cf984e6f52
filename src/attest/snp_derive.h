/*
 * SEV-SNP sealing keys derived by the AMD secure processor (PSP)
 * (docs/platforms/snp.md "Sealing keys"; docs/migration.md §2, the snp row):
 * the node's sealing roots on the "snp" platform, as tpm_seal.h is on "tpm".
 *
 * The guest asks the PSP for a key with the guest message MSG_KEY_REQ (SEV
 * Secure Nested Paging Firmware ABI, "MSG_KEY_REQ" / "MSG_KEY_RSP", message
 * types 3 and 4) through Linux's sev-guest driver: open /dev/sev-guest, ioctl
 * SNP_GET_DERIVED_KEY with struct snp_derived_key_req (the 32-byte MSG_KEY_REQ
 * v1) and struct snp_derived_key_resp (the 64-byte MSG_KEY_RSP), both from
 * <linux/sev-guest.h>. The PSP derives the key from a root only it holds
 * (ROOT_KEY_SELECT 0: the chip's VCEK, or the VLEK when the host installed
 * one) and from the guest fields GUEST_FIELD_SELECT names, taken from the
 * guest's own launch context: the guest cannot choose their values, only
 * which are mixed.
 *
 * MSG_KEY_REQ (ABI, "MSG_KEY_REQ Message Structure"):
 *   0x00  ROOT_KEY_SELECT  bit 0: 0 = VCEK (or VLEK, see KEY_SEL), 1 = VMRK
 *                          bits 2:1 KEY_SEL: 0 = VLEK if installed, else VCEK
 *   0x04  reserved, zero
 *   0x08  GUEST_FIELD_SELECT  bit 0 GUEST_POLICY, 1 IMAGE_ID, 2 FAMILY_ID,
 *                          3 MEASUREMENT, 4 GUEST_SVN, 5 TCB_VERSION
 *   0x10  VMPL             at least the requester's VMPL
 *   0x14  GUEST_SVN        at most the ID block's GUEST_SVN
 *   0x18  TCB_VERSION      at most the platform's committed TCB
 *
 * Two derivations (cs_snp_key_mode):
 *
 *   CS_SNP_KEY_EXACT    root(code, id): GUEST_POLICY | MEASUREMENT |
 *                       TCB_VERSION (0x29). Another launch measurement,
 *                       another key.
 *   CS_SNP_KEY_LINEAGE  root(lineage): GUEST_POLICY | IMAGE_ID | FAMILY_ID |
 *                       GUEST_SVN | TCB_VERSION (0x37); not the measurement.
 *                       The key follows the ID block's family and image ids
 *                       (the image author's lineage) across measurements.
 *
 * Anti-downgrade (lineage): the PSP refuses a GUEST_SVN above the one the ID
 * block launched with (status INVALID_PARAM). A key derived at SVN n is
 * therefore derivable by every image of the lineage launched with SVN >= n,
 * and by none launched with a lower SVN: state sealed by version n cannot be
 * opened by an older, perhaps vulnerable, image. The same holds for
 * TCB_VERSION against the platform's firmware: a key for TCB t is derivable
 * on firmware at t or newer (the PSP derives the VCEK of an older TCB from the
 * current one), never after a rollback below t.
 *
 * Always mixed by the PSP whatever the select bits (AMD's firmware source,
 * sev_mcmd.c, SNP_MSG_KEY_REQ): VMPL, HOST_DATA, and the ID key digest (the
 * author key digest when AUTHOR_KEY_EN; zeros when the guest launched without
 * an ID block). So both keys are bound to HOST_DATA (part of the code id) and
 * a lineage key to the key that signed the ID block. Without an ID block the
 * family and image ids and the ID key are all zero: every guest launched
 * without one derives the same lineage key. A caller must use LINEAGE only
 * when its own report's ID_KEY_DIGEST is not zero.
 *
 * The 32-byte key in the response never leaves this module as is: it is the
 * input key of HKDF-SHA256 (empty salt, info "consort sealing v1" for EXACT,
 * "consort sealing lineage v1" for LINEAGE) and only that output is returned.
 *
 * This was built against the kernel header and the ABI; it has not run on SNP
 * hardware. The request encoding, the response checks and the HKDF step are
 * pure functions and are unit tested (tests/unit/attest/test_snp_derive.c).
 */
#ifndef CS_ATTEST_SNP_DERIVE_H
#define CS_ATTEST_SNP_DERIVE_H

#include "base/buf.h"
#include "base/err.h"

#include <linux/sev-guest.h>

#define CS_SNP_GUEST_DEVICE    "/dev/sev-guest"
#define CS_SNP_DERIVED_KEY_LEN 32
/* MSG_KEY_REQ version 1 (32 bytes; version 2 adds LAUNCH_MIT_VECTOR). */
#define CS_SNP_KEY_MSG_VERSION 1
/* VMPL values 0..3 (ABI, "VMPL"). */
#define CS_SNP_VMPL_MAX 3u

/* GUEST_FIELD_SELECT bits (ABI, "MSG_KEY_REQ", GUEST_FIELD_SELECT). */
#define CS_SNP_GFS_GUEST_POLICY (1ull << 0)
#define CS_SNP_GFS_IMAGE_ID     (1ull << 1)
#define CS_SNP_GFS_FAMILY_ID    (1ull << 2)
#define CS_SNP_GFS_MEASUREMENT  (1ull << 3)
#define CS_SNP_GFS_GUEST_SVN    (1ull << 4)
#define CS_SNP_GFS_TCB_VERSION  (1ull << 5)

#define CS_SNP_GFS_EXACT (CS_SNP_GFS_GUEST_POLICY | CS_SNP_GFS_MEASUREMENT | CS_SNP_GFS_TCB_VERSION)
#define CS_SNP_GFS_LINEAGE                                                                         \
    (CS_SNP_GFS_GUEST_POLICY | CS_SNP_GFS_IMAGE_ID | CS_SNP_GFS_FAMILY_ID | CS_SNP_GFS_GUEST_SVN | \
     CS_SNP_GFS_TCB_VERSION)

/* ROOT_KEY_SELECT (ABI, "MSG_KEY_REQ"): bit 0 and the KEY_SEL field, bits 2:1. */
#define CS_SNP_ROOT_KEY_VMRK (1u << 0)
#define CS_SNP_KEY_SEL_SHIFT 1
#define CS_SNP_KEY_SEL_MASK  (3u << CS_SNP_KEY_SEL_SHIFT)

/* MSG_KEY_RSP STATUS values (ABI, "MSG_KEY_RSP"; SEV status codes). */
#define CS_SNP_KEY_STATUS_SUCCESS       0x00u
#define CS_SNP_KEY_STATUS_INVALID_PARAM 0x16u
#define CS_SNP_KEY_STATUS_INVALID_KEY   0x27u

typedef enum cs_snp_key_mode {
    CS_SNP_KEY_EXACT = 1,   /* root(code, id) */
    CS_SNP_KEY_LINEAGE = 2, /* root(lineage) */
} cs_snp_key_mode;

/*
 * Fills `out` with the MSG_KEY_REQ for `mode` (pure; no I/O):
 * root_key_select 0 (ROOT_KEY_SELECT VCEK, KEY_SEL 0), rsvd 0,
 * guest_field_select CS_SNP_GFS_EXACT or CS_SNP_GFS_LINEAGE, vmpl, guest_svn
 * (LINEAGE; EXACT mixes no SVN and requires 0), tcb_version = `tcb` (the
 * 64-bit TCB_VERSION as in a report, e.g. the COMMITTED_TCB when the key was
 * first derived: the caller keeps it with what it sealed, it is not secret).
 * Errors: INVALID_ARGUMENT (unknown mode, vmpl above 3, a guest_svn in EXACT
 * mode); `out` is zeroed then.
 */
CS_MUST_CHECK consort_err cs_snp_key_request(cs_snp_key_mode mode, uint32_t vmpl,
                                             uint32_t guest_svn, uint64_t tcb,
                                             struct snp_derived_key_req *out);

/*
 * Checks a MSG_KEY_RSP (pure): STATUS 0, the reserved bytes 0x04-0x1F zero,
 * and a key that is not all zero (the PSP zeroes the key on failure). On
 * success copies the 32-byte key at 0x20 into `raw`; the caller wipes it.
 * Errors: IO naming the PSP status ("INVALID_PARAM (0x16)"), MALFORMED for
 * reserved bytes or an all-zero key; `raw` is zeroed then.
 */
CS_MUST_CHECK consort_err cs_snp_key_response(const struct snp_derived_key_resp *resp,
                                              uint8_t raw[CS_SNP_DERIVED_KEY_LEN]);

/*
 * The post-processing: out = HKDF-SHA256(ikm = raw, salt = empty, info =
 * "consort sealing v1" (EXACT) or "consort sealing lineage v1" (LINEAGE)).
 * Errors: INVALID_ARGUMENT for an unknown mode.
 */
CS_MUST_CHECK consort_err cs_snp_key_finish(cs_snp_key_mode mode,
                                            const uint8_t raw[CS_SNP_DERIVED_KEY_LEN],
                                            uint8_t out[CS_SNP_DERIVED_KEY_LEN]);

/*
 * Sends `req` to the PSP through the sev-guest device at `device` (normally
 * CS_SNP_GUEST_DEVICE): open, ioctl SNP_GET_DERIVED_KEY (msg_version 1),
 * close. `resp` receives the MSG_KEY_RSP as the kernel returned it (check it
 * with cs_snp_key_response; the caller wipes it). Errors:
 *   CONSORT_E_UNSUPPORTED  no device at `device` (not an SEV-SNP guest, or no
 *                          sev-guest driver); the message names the path
 *   CONSORT_E_IO           open or ioctl refused: errno, and the exitinfo2 the
 *                          kernel returned decoded (fw_error: SEV status,
 *                          vmm_error: 1 INVALID_LEN, 2 BUSY, else unknown)
 */
CS_MUST_CHECK consort_err cs_snp_key_ioctl(const char *device,
                                           const struct snp_derived_key_req *req,
                                           struct snp_derived_key_resp *resp);

/*
 * All of it: cs_snp_key_request, cs_snp_key_ioctl, cs_snp_key_response,
 * cs_snp_key_finish. `out` receives the 32-byte sealing root (the caller wipes
 * it); on failure it holds zeros. Every copy of the PSP's key is wiped.
 * Errors: those of the steps, with "SNP key derivation" in front.
 */
CS_MUST_CHECK consort_err cs_snp_derive_key(const char *device, cs_snp_key_mode mode, uint32_t vmpl,
                                            uint32_t guest_svn, uint64_t tcb,
                                            uint8_t out[CS_SNP_DERIVED_KEY_LEN]);

/* "exact" or "lineage" (for messages); "?" otherwise. */
const char *cs_snp_key_mode_name(cs_snp_key_mode mode);

#endif
