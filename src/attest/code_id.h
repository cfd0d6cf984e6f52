/*
 * Code ids (DESIGN.md "Code id"; docs/attestation.md "Code ids" and "What a
 * code id covers, per platform"): the digest that names what code a node
 * runs. Governance and policies trust code ids, never file names.
 *
 * Code id v2, for the `virtual` and `tpm` platforms, names the code of the
 * node's process as it was measured (code_id_maps.h measures it):
 *
 *   code_id = SHA-256( "consort code id v2"          18 ASCII bytes, no NUL
 *                   || E                             SHA-256 of the main executable file
 *                   || M                             SHA-256 of the application module bytes
 *                                                    the node loaded (node/app_host.h),
 *                                                    or 32 zero bytes without a module
 *                   || SHA-256(D_1 || ... || D_n) )
 *
 * where D_1 < ... < D_n (bytewise) are the distinct SHA-256 digests of the
 * whole files behind every other executable file mapping of the process at
 * measurement time: the dynamic loader, every shared library, TCTI modules;
 * n may be 0 (the empty string's digest then). No path, address, inode or
 * load order enters it, so two hosts with the same binary, module and
 * library packages agree, and a copy of one library loaded twice counts
 * once. (snp and tdx use the launch measurement plus host data, sgx
 * MRENCLAVE; their verifiers derive those from the evidence.)
 *
 * Version 1 (before this one) was SHA-256(E || M): it named neither the
 * libraries nor the module bytes actually loaded.
 */
#ifndef CS_ATTEST_CODE_ID_H
#define CS_ATTEST_CODE_ID_H

#include "base/buf.h"

#define CS_CODE_ID_LEN 32
/* The domain separation label that starts every v2 code id's input. */
#define CS_CODE_ID_V2_LABEL "consort code id v2"

/* SHA-256 of a whole file, streamed (any size). Errors: NOT_FOUND / IO
 * naming the file. */
CS_MUST_CHECK consort_err cs_code_id_file_digest(const char *path, uint8_t out[32]);

/* SHA-256 of everything `fd` holds from offset 0 (pread, so its offset is
 * unchanged); `what` names it in errors (IO). */
CS_MUST_CHECK consort_err cs_code_id_fd_digest(int fd, const char *what, uint8_t out[32]);

/*
 * The v2 code id from its parts (no I/O): the main executable's digest,
 * the module's (NULL: no module, 32 zero bytes), and the digests of the
 * other executable mappings in any order, duplicates allowed (`libs` is
 * not changed; they are taken sorted and distinct, as defined above).
 */
void cs_code_id_combine(const uint8_t exe_digest[32], const uint8_t *module_digest,
                        const uint8_t (*libs)[32], size_t lib_count, uint8_t out[CS_CODE_ID_LEN]);

#endif
