/*
 * The code id a node would report, learned from consortd itself: a code id
 * v2 (src/attest/code_id.h) names every executable object of the node's
 * process, libraries included, so no hash of files alone predicts it. The
 * CLI runs `consortd --code-id` (src/node/node_code.h), which loads the
 * module and measures exactly as a starting node does, with this process's
 * environment (the one the sandbox starts its nodes with).
 */
#ifndef CS_CLI_CODE_ID_H
#define CS_CLI_CODE_ID_H

#include "attest/evidence.h"

/* What `consortd --code-id` may take to answer (stdout and stderr each). */
#define CS_CLI_CODE_ID_OUTPUT_MAX 16384
/* How long it may take (it hashes tens of MiB at most). */
#define CS_CLI_CODE_ID_TIMEOUT_MS 60000

/*
 * Runs `consortd --code-id [--app APP] --platform PLATFORM [--tcti TCTI]`
 * and parses the one line of 64 hex digits it prints. `app` and `tcti` may
 * be NULL. Errors: IO (it could not run, failed, timed out or printed
 * something else: the message names consortd and quotes its last error
 * line), INVALID_ARGUMENT (a platform other than virtual or tpm).
 */
CS_MUST_CHECK consort_err cs_cli_code_id_of(const char *consortd, const char *app,
                                            cs_platform platform, const char *tcti,
                                            uint8_t out[32]);

/*
 * The consortd next to this program (the build tree's tools/, an install's
 * bin/) into out[n]. NOT_FOUND "no consortd next to this program (PATH)"
 * followed by `hint` (what the user can give instead) if it is not there.
 */
CS_MUST_CHECK consort_err cs_cli_consortd_next_to_us(char *out, size_t n, const char *hint);
/* The node binary a verb's --node-binary names (`given`, which must be
 * executable), or, if NULL, the consortd next to this program; into out. */
CS_MUST_CHECK consort_err cs_cli_node_binary(const char *given, char *out, size_t n);

#endif
