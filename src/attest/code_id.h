/*
 * Code ids (DESIGN.md "Code id"): the digest that names what code a node
 * runs. Governance and policies trust code ids, never file names.
 *
 * For the `virtual` and `tpm` platforms:
 *   code_id = SHA-256( SHA-256(node binary file)
 *                   || SHA-256(application module file, or 32 zero bytes if none) )
 * (snp and tdx use the launch measurement plus host data, sgx MRENCLAVE;
 * their verifiers derive those from the evidence.)
 */
#ifndef CS_ATTEST_CODE_ID_H
#define CS_ATTEST_CODE_ID_H

#include "base/buf.h"

#define CS_CODE_ID_LEN 32

/*
 * Computes the code id of `binary_path` with the application module
 * `app_path` (NULL for none), streaming both files (any size). Errors:
 * CONSORT_E_NOT_FOUND / CONSORT_E_IO naming the file that cannot be read.
 */
CS_MUST_CHECK consort_err cs_code_id_compute(const char *binary_path, const char *app_path,
                                             uint8_t out[CS_CODE_ID_LEN]);

/* SHA-256 of a whole file, streamed. */
CS_MUST_CHECK consort_err cs_code_id_file_digest(const char *path, uint8_t out[32]);

/* The code id from the two component digests (no I/O). */
void cs_code_id_combine(const uint8_t binary_digest[32], const uint8_t app_digest[32],
                        uint8_t out[CS_CODE_ID_LEN]);

#endif
