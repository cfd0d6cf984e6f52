/*
 * `consort code id`: the code id a node would report, measured by the node
 * binary itself (cli_code_id.h: `consortd --code-id`, node/node_code.h), for
 * a member to propose with add_code_id before the nodes are started.
 */
#include "cli.h"
#include "cli_code_id.h"
#include "cli_opts.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_code_id = {
    .name = "code id",
    .summary = "print the code id of a consortd binary and application module",
    .usage = "usage: consort code id [--node-binary PATH] [--app PATH]\n"
             "           [--platform virtual|tpm] [--tcti CONF]\n"
             "\n"
             "Prints the code id (64 hex digits) that a node running the consortd binary\n"
             "PATH with the application module --app would report, e.g. to propose it\n"
             "with the action add_code_id. A code id (v2, docs/attestation.md) names the\n"
             "executable, the module and every shared library the node process maps, so\n"
             "no hash of files alone predicts it: consortd measures it, loading the module\n"
             "exactly as a starting node does (`PATH --code-id --app M`), on this host and\n"
             "with this environment (the same libraries as where the node will run).\n"
             "Exit status 0 with the code id on standard output, 1 if it could not be\n"
             "measured, 2 for a usage error.\n"
             "\n"
             "options:\n"
             "  --node-binary PATH  the consortd (default: the one next to this consort)\n"
             "  --app PATH          the application module (default: none)\n"
             "  --platform NAME     virtual (default) or tpm\n"
             "  --tcti CONF         the TPM's TCTI, with --platform tpm (its library is\n"
             "                      part of the code id)\n"
             "\n"
             "examples:\n"
             "  consort code id --node-binary ./consortd --app ./logging.so\n"
             "  consort gov propose --workspace /tmp/sandbox --as member0 --action add_code_id\\\n"
             "      --arg code_id=$(consort code id --node-binary ./consortd --app ./new.so)\n",
    .run = run,
};

enum { OPT_NODE_BINARY = 1, OPT_APP, OPT_PLATFORM, OPT_TCTI };

static const struct option options[] = {
    {"node-binary", required_argument, NULL, OPT_NODE_BINARY},
    {"app", required_argument, NULL, OPT_APP},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"tcti", required_argument, NULL, OPT_TCTI},
    {NULL, 0, NULL, 0},
};

static int run(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_code_id;
    const char *binary = NULL, *app = NULL, *platform_name = "virtual", *tcti = NULL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_NODE_BINARY:
            binary = arg;
            break;
        case OPT_APP:
            app = arg;
            break;
        case OPT_PLATFORM:
            platform_name = arg;
            break;
        case OPT_TCTI:
            tcti = arg;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    cs_platform platform;
    if (strcmp(platform_name, "virtual") == 0)
        platform = CS_PLATFORM_VIRTUAL;
    else if (strcmp(platform_name, "tpm") == 0)
        platform = CS_PLATFORM_TPM;
    else
        return cs_cli_usage_error(verb, "--platform '%s': expected virtual or tpm", platform_name);
    if (tcti != NULL && platform != CS_PLATFORM_TPM)
        return cs_cli_usage_error(verb, "--tcti is for --platform tpm");
    if (app != NULL && access(app, R_OK) != 0)
        return cs_cli_fail(verb, cs_fail(CONSORT_E_NOT_FOUND, "--app %s: cannot be read", app));

    char node_binary[PATH_MAX];
    consort_err rc = cs_cli_node_binary(binary, node_binary, sizeof node_binary);
    if (rc != CONSORT_OK)
        return cs_cli_fail(verb, rc);
    uint8_t id[32];
    rc = cs_cli_code_id_of(node_binary, app, platform, tcti, id);
    if (rc != CONSORT_OK)
        return cs_cli_fail(verb, rc);
    char hex[2 * sizeof id + 1];
    cs_hex_encode(CS_SLICE(id, sizeof id), hex);
    printf("%s\n", hex);
    return CS_EXIT_OK;
}
