/*
 * Option parsing shared by the `consort` verbs: getopt_long with consort's
 * usage errors (exit 2, "consort <verb>: <what was wrong>"), plus the small
 * value parsers every verb needs. Long options only; options and positional
 * arguments may come in any order; "--" ends the options.
 */
#ifndef CS_CLI_OPTS_H
#define CS_CLI_OPTS_H

#include "cli.h"

#include <getopt.h>
#include <stdint.h>

#define CS_CLI_OPT_END   (-1)
#define CS_CLI_OPT_ERROR (-2)

/*
 * Returns the `val` of the next option in argv (its value, if it takes one,
 * in *arg), CS_CLI_OPT_END when none are left (the positional arguments are
 * then argv[optind..argc)), or CS_CLI_OPT_ERROR after printing a usage error
 * for an unknown option, a missing value or a value that is itself an
 * option. The first call for an argv restarts the scan (`*started` false).
 */
int cs_cli_next_opt(const cs_cli_verb *verb, int argc, char **argv, const struct option *opts,
                    bool *started, const char **arg);

/* Parses a decimal u32 option value; on error prints a usage error and returns false. */
bool cs_cli_parse_u32(const cs_cli_verb *verb, const char *opt, const char *s, uint32_t *out);

/*
 * The virtual platform directory: `given` if not NULL, else
 * $CONSORT_PLATFORM_DIR, else ./.consort/platform.
 */
const char *cs_cli_platform_dir(const char *given);

#endif
