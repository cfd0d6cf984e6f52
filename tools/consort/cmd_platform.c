/* `consort platform init`: create the (insecure) virtual platform of this host. */
#include "cli.h"
#include "cli_opts.h"

#include "attest/virtual.h"
#include "base/file.h"

#include <stdio.h>

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_platform_init = {
    .name = "platform init",
    .summary = "create this host's virtual platform (INSECURE, development only)",
    .usage = "usage: consort platform init [--dir DIR] [--force]\n"
             "\n"
             "Creates the virtual attestation platform: a P-256 platform key\n"
             "(platform_key.pem, mode 0600) and its self-signed certificate\n"
             "(platform_cert.pem, valid 10 years) in DIR. Evidence it signs proves\n"
             "nothing beyond 'someone who can read this key file signed it': the\n"
             "virtual platform is for development, CI and demos only.\n"
             "Prints the platform key id and the certificate path; verifiers trust the\n"
             "platform through that certificate (consort evidence verify --certs DIR).\n"
             "\n"
             "options:\n"
             "  --dir DIR    platform directory (default: $CONSORT_PLATFORM_DIR,\n"
             "               else ./.consort/platform)\n"
             "  --force      replace an existing platform in DIR\n"
             "\n"
             "example:\n"
             "  consort platform init --dir /tmp/demo/platform\n",
    .run = run,
};

enum { OPT_DIR = 1, OPT_FORCE };

static const struct option options[] = {
    {"dir", required_argument, NULL, OPT_DIR},
    {"force", no_argument, NULL, OPT_FORCE},
    {NULL, 0, NULL, 0},
};

static int run(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_platform_init;
    const char *dir = NULL;
    bool force = false;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        if (c == OPT_DIR)
            dir = arg;
        else if (c == OPT_FORCE)
            force = true;
        else
            return CS_EXIT_USAGE;
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    dir = cs_cli_platform_dir(dir);

    cs_virtual_platform *platform = NULL;
    consort_err rc = cs_virtual_platform_init(dir, force, &platform);
    if (rc != CONSORT_OK) {
        int code = cs_cli_fail(verb, rc);
        if (rc == CONSORT_E_STATE)
            fprintf(stderr, "(consort platform init --force replaces it)\n");
        return code;
    }
    char cert_path[4096];
    rc = cs_path_join(cert_path, sizeof cert_path, dir, CS_VIRTUAL_CERT_FILE);
    if (rc != CONSORT_OK) {
        cs_virtual_platform_free(platform);
        return cs_cli_fail(verb, rc);
    }
    char hex[65];
    cs_hex_encode(CS_SLICE(cs_virtual_platform_key_id(platform), 32), hex);
    fprintf(stderr,
            "WARNING: the virtual platform is INSECURE and for development only.\n"
            "WARNING: anyone who can read %s/%s can forge evidence for any code.\n",
            dir, CS_VIRTUAL_KEY_FILE);
    printf("platform key id: %s\ncertificate:     %s\n", hex, cert_path);
    cs_virtual_platform_free(platform);
    return CS_EXIT_OK;
}
