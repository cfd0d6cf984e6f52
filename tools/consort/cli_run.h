/*
 * Running a helper program (consortd) and capturing what it prints: for the
 * verbs that ask consortd something (code ids, migration steps).
 */
#ifndef CS_CLI_RUN_H
#define CS_CLI_RUN_H

#include "base/buf.h"

/*
 * Runs argv[0] (a path) with argv and `envp` (NULL: this process's
 * environment), stdin from /dev/null, and waits for it; what it prints on
 * stdout and stderr is appended to `out` and `err` (each bounded by its
 * buffer's cap: past it the program is killed, IO). Past `timeout_ms` it is
 * killed (IO, "no answer in N s"). *status receives waitpid's status.
 */
CS_MUST_CHECK consort_err cs_cli_run(char *const argv[], char *const envp[], uint32_t timeout_ms,
                                     cs_buf *out, cs_buf *err, int *status);

/* The last non-empty line of `text`, for an error message. */
void cs_cli_last_line(const cs_buf *text, char *out, size_t n);

#endif
