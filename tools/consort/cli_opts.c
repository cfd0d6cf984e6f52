#include "cli_opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PLATFORM_DIR ".consort/platform"

/* The option as the user typed it, for messages. */
static const char *typed(int argc, char **argv)
{
    return optind > 0 && optind <= argc ? argv[optind - 1] : "?";
}

int cs_cli_next_opt(const cs_cli_verb *verb, int argc, char **argv, const struct option *opts,
                    bool *started, const char **arg)
{
    if (!*started) {
        optind = 0; /* glibc: 0 fully reinitialises the scanner */
        opterr = 0; /* consort prints its own messages */
        *started = true;
    }
    *arg = NULL;
    int index = -1;
    int c = getopt_long(argc, argv, ":", opts, &index);
    if (c == -1)
        return CS_CLI_OPT_END;
    if (c == ':') {
        cs_cli_usage_error(verb, "option '%s' needs a value", typed(argc, argv));
        return CS_CLI_OPT_ERROR;
    }
    if (c == '?') {
        cs_cli_usage_error(verb, "unknown option '%s'", typed(argc, argv));
        return CS_CLI_OPT_ERROR;
    }
    if (index >= 0 && opts[index].has_arg != no_argument) {
        /* "--out --force": the value is missing, not "--force" */
        if (optarg == NULL || optarg[0] == '\0' || strncmp(optarg, "--", 2) == 0) {
            cs_cli_usage_error(verb, "option '--%s' needs a value", opts[index].name);
            return CS_CLI_OPT_ERROR;
        }
        *arg = optarg;
    }
    return c;
}

bool cs_cli_parse_u32(const cs_cli_verb *verb, const char *opt, const char *s, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v > UINT32_MAX) {
        cs_cli_usage_error(verb, "%s: '%s' is not a number from 0 to %u", opt, s, UINT32_MAX);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

const char *cs_cli_platform_dir(const char *given)
{
    if (given != NULL)
        return given;
    const char *env = getenv("CONSORT_PLATFORM_DIR");
    if (env != NULL && env[0] != '\0')
        return env;
    return DEFAULT_PLATFORM_DIR;
}
