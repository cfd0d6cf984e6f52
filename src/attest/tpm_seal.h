/*
 * Keys derived inside a TPM 2.0 (docs/platforms/tpm.md "Sealing"): the node's
 * sealing key on the "tpm" platform (src/node/node_seal.c).
 *
 * The TPM holds the secret: a primary KEYEDHASH (HMAC-SHA256) key of the
 * owner hierarchy, created from a fixed template every time. A primary key
 * is derived from the hierarchy's primary seed and its template (Part 1,
 * "Primary Keys"), so the same TPM gives the same key on every start, and
 * another TPM (or this one after TPM2_Clear) another key. Its private part
 * never leaves the TPM; only HMAC outputs do.
 *
 *   key = TPM2_HMAC(primary HMAC key, label || context)      (Part 3 §15.5)
 *
 * What this binds, said plainly: a derived key is tied to this TPM (sealed
 * state copied to another machine does not open) and to `context` (the code
 * id: another code id derives another key). It does NOT keep the key from
 * whoever can send commands to the TPM: the host's root can ask for the same
 * HMAC. And the output crosses the TPM interface unencrypted (no parameter
 * encryption session), so a bus interposer could read it.
 */
#ifndef CS_ATTEST_TPM_SEAL_H
#define CS_ATTEST_TPM_SEAL_H

#include "base/buf.h"
#include "base/err.h"

#define CS_TPM_DERIVED_KEY_LEN  32
#define CS_TPM_DERIVE_INPUT_MAX 1024 /* Part 2, TPM2B_MAX_BUFFER (MAX_DIGEST_BUFFER) */

/*
 * Connects to the TPM at `tcti` (Tss2_TctiLdr_Initialize syntax, e.g.
 * "swtpm:host=127.0.0.1,port=2321" or "device:/dev/tpmrm0"; NULL: tss2's
 * default), starts it if needed, creates the primary HMAC key in the owner
 * hierarchy (empty owner authorization), computes HMAC-SHA256(label ||
 * context) with it, flushes the key and disconnects. `out` receives 32 bytes
 * (the caller wipes them); on failure it holds zeros. label || context must not exceed
 * CS_TPM_DERIVE_INPUT_MAX bytes (INVALID_ARGUMENT). Errors: IO (no TPM, or a
 * TPM command failed: the message has the TPM's response code decoded).
 */
CS_MUST_CHECK consort_err cs_tpm_derive_key(const char *tcti, cs_slice label, cs_slice context,
                                            uint8_t out[CS_TPM_DERIVED_KEY_LEN]);

/*
 * Flushes every transient object loaded in the TPM at `tcti`; *flushed (may
 * be NULL) receives how many. A TPM without a resource manager (swtpm on a
 * socket) keeps the objects of a process that died without flushing them
 * (kill -9), and it has room for only a few (TPM_RC_OBJECT_MEMORY after
 * that). Call it only for a TPM this process uses alone; through a resource
 * manager (/dev/tpmrm0) the process sees only its own objects, so it is
 * harmless there. Errors: IO.
 */
CS_MUST_CHECK consort_err cs_tpm_flush_transients(const char *tcti, size_t *flushed);

#endif
