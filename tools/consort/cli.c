#include "cli.h"

#include <stdarg.h>
#include <string.h>

/* Verbs, in the order `consort --help` lists them. */
extern const cs_cli_verb cs_cmd_keygen;
extern const cs_cli_verb cs_cmd_platform_init;
extern const cs_cli_verb cs_cmd_evidence_create;
extern const cs_cli_verb cs_cmd_evidence_verify;
extern const cs_cli_verb cs_cmd_receipt_verify;
extern const cs_cli_verb cs_cmd_ledger_verify;
extern const cs_cli_verb cs_cmd_sandbox;

static const cs_cli_verb *const verbs[] = {
    &cs_cmd_keygen,
    &cs_cmd_platform_init,
    &cs_cmd_evidence_create,
    &cs_cmd_evidence_verify,
    &cs_cmd_receipt_verify,
    &cs_cmd_ledger_verify,
    &cs_cmd_sandbox,
};

static void top_usage(FILE *out)
{
    fprintf(out, "usage: consort <verb> [options]   (consort <verb> --help for details)\n\n"
                 "consort runs one stateful application across many attested TEEs.\n\n"
                 "verbs:\n");
    for (size_t i = 0; i < CS_ARRAY_LEN(verbs); i++)
        fprintf(out, "  %-18s %s\n", verbs[i]->name, verbs[i]->summary);
    fprintf(out, "\nexit status: 0 ok, 1 rejected or failed (reason on stderr), 2 usage error\n");
}

void cs_cli_usage(const cs_cli_verb *verb, FILE *out)
{
    fprintf(out, "%s", verb->usage);
}

int cs_cli_usage_error(const cs_cli_verb *verb, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "consort %s: ", verb->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see consort %s --help)\n", verb->name);
    return CS_EXIT_USAGE;
}

int cs_cli_fail(const cs_cli_verb *verb, consort_err rc)
{
    consort_err_category cat = consort_err_category_of(rc);
    fprintf(stderr, "consort %s: %s: %s\n", verb->name, consort_err_category_name(cat),
            consort_errmsg());
    return cat == CONSORT_CAT_USAGE ? CS_EXIT_USAGE : CS_EXIT_REJECTED;
}

bool cs_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

/* Number of words of `name` matched by argv[0..], or 0. */
static int match_verb(const char *name, int argc, char **argv)
{
    int words = 0;
    const char *p = name;
    while (*p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (words >= argc || strlen(argv[words]) != len || strncmp(argv[words], p, len) != 0)
            return 0;
        words++;
        p = sp ? sp + 1 : p + len;
    }
    return words;
}

int cs_cli_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        top_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CS_EXIT_USAGE : CS_EXIT_OK;
    }
    for (size_t i = 0; i < CS_ARRAY_LEN(verbs); i++) {
        int words = match_verb(verbs[i]->name, argc - 1, argv + 1);
        if (words == 0)
            continue;
        int sub_argc = argc - words;
        char **sub_argv = argv + words;
        if (cs_cli_wants_help(sub_argc, sub_argv)) {
            cs_cli_usage(verbs[i], stdout);
            return CS_EXIT_OK;
        }
        return verbs[i]->run(sub_argc, sub_argv);
    }
    /* a known group word with a missing/unknown sub-verb gets that group's list */
    fprintf(stderr, "consort: unknown verb '%s'", argv[1]);
    if (argc > 2)
        fprintf(stderr, " '%s'", argv[2]);
    fprintf(stderr, "\n\n");
    top_usage(stderr);
    return CS_EXIT_USAGE;
}
