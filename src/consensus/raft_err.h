/*
 * libraft status codes turned into consort errors (private to src/consensus).
 *
 * libraft reports failures as small integers (RAFT_NOMEM, RAFT_NOTLEADER, ...)
 * plus, for some calls, a message in an errmsg buffer. cs_raft_fail() maps the
 * code to a consort_err of the right category and records a message naming
 * the operation, libraft's description and, when given, libraft's own message.
 */
#ifndef CS_CONSENSUS_RAFT_ERR_H
#define CS_CONSENSUS_RAFT_ERR_H

#include "base/err.h"

#include <stddef.h>

/* The consort code for libraft status `rv` (CONSORT_OK for 0). */
consort_err cs_raft_code(int rv);

/*
 * Records "<what>: <raft_strerror(rv)>[ (<detail>)]" for libraft status `rv`
 * (non-zero) and returns the mapped code. `detail` may be NULL or empty.
 */
consort_err cs_raft_fail(int rv, const char *detail, const char *what, ...) CS_PRINTF(3, 4);

/*
 * The same message written into out[out_len] instead of the thread-local
 * message (for completions, which carry their own message); returns the
 * mapped code.
 */
consort_err cs_raft_format(char *out, size_t out_len, int rv, const char *detail, const char *what,
                           ...) CS_PRINTF(5, 6);

#endif
