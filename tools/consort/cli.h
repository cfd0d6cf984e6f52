/*
 * The `consort` command line. Each verb lives in its own cmd_<verb>.c and is
 * listed in the table in cli.c; the first word of its name is its group
 * (`consort <group> --help` lists the group's verbs, docs/operating.md
 * "Command-line help and versions"). Exit codes (DESIGN.md "CLI"):
 *   0  ok
 *   1  rejected or failed (the reason on stderr)
 *   2  usage error (the usage on stderr)
 */
#ifndef CS_CLI_H
#define CS_CLI_H

#include "base/err.h"

#include <stdbool.h>
#include <stdio.h>

#define CS_EXIT_OK       0
#define CS_EXIT_REJECTED 1
#define CS_EXIT_USAGE    2

typedef struct cs_cli_verb {
    const char *name;    /* "evidence verify" */
    const char *summary; /* one line in its group's --help */
    const char *usage;   /* full text for `consort <verb> --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the last word of the verb */
} cs_cli_verb;

int cs_cli_main(int argc, char **argv);

/* Prints the verb's usage to `out`. */
void cs_cli_usage(const cs_cli_verb *verb, FILE *out);
/* Prints "consort <verb>: <msg>" and the usage hint to stderr; returns CS_EXIT_USAGE. */
int cs_cli_usage_error(const cs_cli_verb *verb, const char *fmt, ...) CS_PRINTF(2, 3);
/*
 * Reports a failure `rc` (message from consort_errmsg()) as
 * "consort <verb>: <category>: <message>" and returns the exit code for it:
 * CS_EXIT_USAGE for usage errors, CS_EXIT_REJECTED for everything else.
 */
int cs_cli_fail(const cs_cli_verb *verb, consort_err rc);
/* True if argv holds -h or --help. */
bool cs_cli_wants_help(int argc, char **argv);

#endif
