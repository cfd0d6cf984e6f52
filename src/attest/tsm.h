/*
 * The configfs-tsm attester: evidence from a confidential VM (AMD SEV-SNP or
 * Intel TDX guest) through Linux's report interface
 * (kernel Documentation/ABI/testing/configfs-tsm-report, Linux >= 6.7):
 *
 *   mkdir  <root>/<name>            a report instance of our own
 *   read   generation               G0
 *   write  privlevel                (optional, SNP VMPL; G0 + 1)
 *   write  inblob                   64 bytes of report data (one more write)
 *   read   outblob                  the SNP report / TDX quote
 *   read   generation               must be G0 + number of writes
 *   read   auxblob                  (SNP) the certificate table, then
 *   read   generation               again: nothing may have changed
 *   rmdir  <root>/<name>
 *
 * The generation check is the one the ABI prescribes ("checking generation
 * before writing to any attribute and making sure the number of writes
 * matches expectations after reading @outblob"). It is also the only way to
 * learn that the inblob write failed: configfs commits a binary attribute
 * when the file is closed and ignores the result (fs/configfs/file.c,
 * configfs_release_bin_file).
 *
 * All file system access goes through a cs_tsm_ops table so tests can put a
 * faithful in-memory model of the kernel behind it (tests/unit/attest/test_tsm.c).
 */
#ifndef CS_ATTEST_TSM_H
#define CS_ATTEST_TSM_H

#include "attest/evidence.h"

#define CS_TSM_DEFAULT_ROOT "/sys/kernel/config/tsm/report"
/* TSM_REPORT_INBLOB_MAX; SNP requires exactly 64 (SNP_REPORT_USER_DATA_SIZE). */
#define CS_TSM_INBLOB_LEN 64
/* TSM_REPORT_OUTBLOB_MAX: the kernel fails larger outblob/auxblob reads with EFBIG. */
#define CS_TSM_BLOB_MAX (32 * 1024)
/* TSM_REPORT_PRIVLEVEL_MAX ("the maximum acceptable value is TSM_PRIVLEVEL_MAX (3)"). */
#define CS_TSM_PRIVLEVEL_MAX 3u
/* Attempts (each in a fresh report instance) when the generation check fails. */
#define CS_TSM_DEFAULT_ATTEMPTS 3u
#define CS_TSM_MAX_ATTEMPTS     16u

/*
 * The file system seam. Each function stands for one syscall sequence and
 * returns 0 or the positive errno it failed with, so the attester can say
 * exactly what the kernel meant (ENXIO: no provider; EFBIG: blob too large;
 * EBUSY; ...). `path` is absolute.
 *
 *   mkdir_fn  mkdir(2) of a report instance
 *   rmdir_fn  rmdir(2) of a report instance
 *   read_fn   open, read to end of file, close: appends the whole attribute
 *             to `out`; EFBIG if it would exceed out->max; ENOMEM if the
 *             buffer cannot grow
 *   write_fn  open, write all of `data`, close (close errors are reported)
 */
typedef struct cs_tsm_ops {
    int (*mkdir_fn)(void *ctx, const char *path);
    int (*rmdir_fn)(void *ctx, const char *path);
    int (*read_fn)(void *ctx, const char *path, cs_buf *out);
    int (*write_fn)(void *ctx, const char *path, cs_slice data);
    void *ctx;
} cs_tsm_ops;

/* The real thing: mkdir(2), rmdir(2), open(2)/read(2)/write(2)/close(2). */
const cs_tsm_ops *cs_tsm_ops_syscalls(void);

typedef struct cs_tsm_opts {
    bool set_privlevel;    /* write `privlevel` (SNP: the VMPL the report is for) */
    unsigned privlevel;    /* 0..CS_TSM_PRIVLEVEL_MAX, and >= the provider's privlevel_floor */
    unsigned attempts;     /* 0: CS_TSM_DEFAULT_ATTEMPTS; at most CS_TSM_MAX_ATTEMPTS */
    const cs_tsm_ops *ops; /* NULL: cs_tsm_ops_syscalls() */
} cs_tsm_opts;

/*
 * Produces evidence for `report_data` (DESIGN.md: SHA-256(SPKI || nonce),
 * zero-padded to 64 bytes) in a uniquely named report instance under
 * `tsm_root` (normally CS_TSM_DEFAULT_ROOT), and removes the instance again
 * whatever happens. `opts` may be NULL.
 *
 * `out` must have been initialised (cs_evidence_init); on success its old
 * contents are replaced by: platform snp ("sev_guest") or tdx ("tdx_guest"),
 * evidence = outblob, endorsements = the certificates of the SNP table in
 * auxblob (VCEK/VLEK, ASK, ARK in table order; entries with unknown GUIDs are
 * logged and left out; none for TDX). On failure `out` is left empty.
 *
 * Errors:
 *   CONSORT_E_INVALID_ARGUMENT  privlevel above 3, below privlevel_floor, or
 *                               attempts above CS_TSM_MAX_ATTEMPTS
 *   CONSORT_E_NOT_FOUND         no configfs-tsm at `tsm_root`
 *   CONSORT_E_UNSUPPORTED       no TSM provider registered, a provider other
 *                               than sev_guest/tdx_guest, privlevel asked of a
 *                               provider without it, an unknown TDX quote version
 *   CONSORT_E_BUSY              the generation changed under us in every attempt
 *                               (another writer interleaved), or the kernel said EBUSY
 *   CONSORT_E_REPORT_DATA       the outblob does not carry `report_data`
 *   CONSORT_E_TOO_LARGE, _TRUNCATED, _MALFORMED   blobs over the caps; a bad
 *                               certificate table (snp_certtable.h)
 *   CONSORT_E_IO                anything else the kernel refused (message has errno)
 *   CONSORT_E_NOMEM
 */
CS_MUST_CHECK consort_err cs_tsm_attest(const char *tsm_root, const uint8_t report_data[64],
                                        const cs_tsm_opts *opts, cs_evidence *out);

/*
 * The I/O-free half of cs_tsm_attest: builds the envelope from what was read.
 * `provider` is the provider attribute without its newline. Checks that the
 * outblob carries `report_data` (SNP report REPORT_DATA at 0x50; TDX quote
 * v4/v5 REPORTDATA in the TD report body) and parses the SNP certificate
 * table. Same `out` contract and errors as cs_tsm_attest.
 */
CS_MUST_CHECK consort_err cs_tsm_evidence_build(const char *provider, cs_slice outblob,
                                                cs_slice auxblob, const uint8_t report_data[64],
                                                cs_evidence *out);

/* The platform a provider name stands for; CONSORT_E_UNSUPPORTED otherwise. */
CS_MUST_CHECK consort_err cs_tsm_provider_platform(const char *provider, cs_platform *out);

#endif
