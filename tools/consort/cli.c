#include "cli.h"

#include <consort/app.h>

#include <stdarg.h>
#include <string.h>

#ifndef CONSORT_VERSION
#error "CONSORT_VERSION (the project version) must be defined by the build"
#endif

/* Verbs, in the order `consort --help` lists them. */
extern const cs_cli_verb cs_cmd_keygen;
extern const cs_cli_verb cs_cmd_platform_init;
extern const cs_cli_verb cs_cmd_evidence_create;
extern const cs_cli_verb cs_cmd_evidence_verify;
extern const cs_cli_verb cs_cmd_receipt_verify;
extern const cs_cli_verb cs_cmd_ledger_verify;
extern const cs_cli_verb cs_cmd_ledger_show;
extern const cs_cli_verb cs_cmd_sandbox_add_node;
extern const cs_cli_verb cs_cmd_sandbox_kill;
extern const cs_cli_verb cs_cmd_sandbox_restart;
extern const cs_cli_verb cs_cmd_sandbox_stop;
extern const cs_cli_verb cs_cmd_sandbox;
extern const cs_cli_verb cs_cmd_gov_propose;
extern const cs_cli_verb cs_cmd_gov_vote;
extern const cs_cli_verb cs_cmd_gov_withdraw;
extern const cs_cli_verb cs_cmd_gov_list;
extern const cs_cli_verb cs_cmd_gov_show;
extern const cs_cli_verb cs_cmd_gov_members;
extern const cs_cli_verb cs_cmd_gov_service;
extern const cs_cli_verb cs_cmd_gov_constitution;
extern const cs_cli_verb cs_cmd_gov_sign;
extern const cs_cli_verb cs_cmd_gov_submit;
extern const cs_cli_verb cs_cmd_code_id;
extern const cs_cli_verb cs_cmd_code_certify;
extern const cs_cli_verb cs_cmd_code_verify;
extern const cs_cli_verb cs_cmd_e2e_verify;
extern const cs_cli_verb cs_cmd_recovery_submit;
extern const cs_cli_verb cs_cmd_recovery_status;
extern const cs_cli_verb cs_cmd_bench;
extern const cs_cli_verb cs_cmd_migrate;

static const cs_cli_verb *const verbs[] = {
    &cs_cmd_keygen,          &cs_cmd_platform_init,
    &cs_cmd_evidence_create, &cs_cmd_evidence_verify,
    &cs_cmd_receipt_verify,  &cs_cmd_ledger_verify,
    &cs_cmd_ledger_show,     &cs_cmd_sandbox_add_node,
    &cs_cmd_sandbox_kill,    &cs_cmd_sandbox_restart,
    &cs_cmd_sandbox_stop,    &cs_cmd_sandbox,
    &cs_cmd_gov_propose,     &cs_cmd_gov_vote,
    &cs_cmd_gov_withdraw,    &cs_cmd_gov_list,
    &cs_cmd_gov_show,        &cs_cmd_gov_members,
    &cs_cmd_gov_service,     &cs_cmd_gov_constitution,
    &cs_cmd_gov_sign,        &cs_cmd_gov_submit,
    &cs_cmd_code_id,         &cs_cmd_code_certify,
    &cs_cmd_code_verify,     &cs_cmd_e2e_verify,
    &cs_cmd_recovery_submit, &cs_cmd_recovery_status,
    &cs_cmd_bench,           &cs_cmd_migrate,
};

/*
 * Groups: the first word of a verb's name. A group of one word that is a verb
 * itself (keygen, sandbox) has no verbs below it; `consort <group> --help`
 * then prints that verb's usage.
 */
typedef struct cli_group {
    const char *name;
    const char *summary; /* one line for `consort --help` */
} cli_group;

static const cli_group groups[] = {
    {"keygen", "create an ECDSA key pair (P-256 or P-384) as PEM files"},
    {"platform", "this host's virtual platform (INSECURE, development only)"},
    {"evidence", "create and verify attestation evidence"},
    {"receipt", "verify transaction receipts offline"},
    {"ledger", "read and verify ledger directories offline"},
    {"sandbox", "run a local N-node service for development and tests"},
    {"gov", "governance: proposals, ballots and the governance state"},
    {"code", "code ids of node binaries and modules; code certificates from in-toto chains"},
    {"e2e", "end-to-end attestation: check a service's handling statements"},
    {"recovery", "disaster recovery: the members' shares (docs/recovery.md)"},
    {"bench", "measure a running service: throughput and latency percentiles"},
};

/* Length of the first word of a verb's name. */
static size_t group_len(const cs_cli_verb *verb)
{
    const char *sp = strchr(verb->name, ' ');
    return sp != NULL ? (size_t)(sp - verb->name) : strlen(verb->name);
}

static bool in_group(const cs_cli_verb *verb, const cli_group *g)
{
    size_t len = group_len(verb);
    return strlen(g->name) == len && strncmp(verb->name, g->name, len) == 0;
}

static const cli_group *find_group(const char *name)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(groups); i++)
        if (strcmp(groups[i].name, name) == 0)
            return &groups[i];
    return NULL;
}

/* The verb that is the whole group (keygen, sandbox), or NULL. */
static const cs_cli_verb *group_verb(const cli_group *g)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(verbs); i++)
        if (strcmp(verbs[i]->name, g->name) == 0)
            return verbs[i];
    return NULL;
}

static void top_usage(FILE *out)
{
    fprintf(out, "usage: consort <group> [<verb>] [options]\n"
                 "       consort <group> --help    (or consort help <group>) lists its verbs\n"
                 "       consort --version\n\n"
                 "consort runs one stateful application across many attested TEEs.\n\n"
                 "groups:\n");
    for (size_t i = 0; i < CS_ARRAY_LEN(groups); i++) {
        fprintf(out, "  %-10s %s", groups[i].name, groups[i].summary);
        if (group_verb(&groups[i]) == NULL) {
            const char *sep = " (";
            for (size_t j = 0; j < CS_ARRAY_LEN(verbs); j++) {
                if (!in_group(verbs[j], &groups[i]))
                    continue;
                fprintf(out, "%s%s", sep, verbs[j]->name + group_len(verbs[j]) + 1);
                sep = ", ";
            }
            fprintf(out, ")");
        }
        fprintf(out, "\n");
    }
    fprintf(out, "\nexit status: 0 ok, 1 rejected or failed (reason on stderr), 2 usage error\n");
}

/* `consort <group> --help`: the group's verbs, one line each. */
static void group_usage(const cli_group *g, FILE *out)
{
    const cs_cli_verb *whole = group_verb(g);
    if (whole != NULL) {
        cs_cli_usage(whole, out);
        return;
    }
    fprintf(out,
            "usage: consort %s <verb> [options]   (consort %s <verb> --help for details)\n\n"
            "%s\n\nverbs:\n",
            g->name, g->name, g->summary);
    for (size_t i = 0; i < CS_ARRAY_LEN(verbs); i++)
        if (in_group(verbs[i], g))
            fprintf(out, "  %-12s %s\n", verbs[i]->name + group_len(verbs[i]) + 1,
                    verbs[i]->summary);
}

static void print_version(FILE *out)
{
    fprintf(out, "consort %s (application ABI %d)\n", CONSORT_VERSION, CONSORT_APP_ABI_VERSION);
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

/* `consort help [<group> [<verb>]]`: 0 with the help on stdout, or a usage error. */
static int help(int argc, char **argv)
{
    if (argc < 1) {
        top_usage(stdout);
        return CS_EXIT_OK;
    }
    const cli_group *g = find_group(argv[0]);
    if (g == NULL) {
        fprintf(stderr, "consort help: unknown group '%s'\n\n", argv[0]);
        top_usage(stderr);
        return CS_EXIT_USAGE;
    }
    if (argc < 2 || group_verb(g) != NULL) {
        group_usage(g, stdout);
        return CS_EXIT_OK;
    }
    for (size_t i = 0; i < CS_ARRAY_LEN(verbs); i++) {
        if (match_verb(verbs[i]->name, argc, argv) == 2) {
            cs_cli_usage(verbs[i], stdout);
            return CS_EXIT_OK;
        }
    }
    fprintf(stderr, "consort help: unknown verb '%s %s'\n\n", argv[0], argv[1]);
    group_usage(g, stderr);
    return CS_EXIT_USAGE;
}

int cs_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        top_usage(stderr);
        return CS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return help(0, NULL);
    if (strcmp(argv[1], "help") == 0)
        return help(argc - 2, argv + 2);
    if (strcmp(argv[1], "--version") == 0) {
        print_version(stdout);
        return CS_EXIT_OK;
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
    const cli_group *g = find_group(argv[1]);
    if (g == NULL) {
        fprintf(stderr, "consort: unknown group '%s'\n\n", argv[1]);
        top_usage(stderr);
        return CS_EXIT_USAGE;
    }
    /* a known group: its verbs, on stdout if asked for, else with the error */
    if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        group_usage(g, stdout);
        return CS_EXIT_OK;
    }
    if (argc > 2)
        fprintf(stderr, "consort %s: unknown verb '%s'\n\n", g->name, argv[2]);
    else
        fprintf(stderr, "consort %s: a verb is missing\n\n", g->name);
    group_usage(g, stderr);
    return CS_EXIT_USAGE;
}
