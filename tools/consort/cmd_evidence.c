/*
 * `consort evidence create`: evidence from this host's virtual platform for
 * a code id (given, or measured by a consortd binary), binding a key.
 * (`evidence verify` is in cmd_evidence_verify.c.)
 */
#include "cli.h"
#include "cli_code_id.h"
#include "cli_opts.h"

#include "attest/virtual.h"
#include "base/file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_evidence_create = {
    .name = "evidence create",
    .summary = "create virtual-platform evidence binding a key (development only)",
    .usage = "usage: consort evidence create --key PEM --out FILE [--code-id HEX |\n"
             "                               --binary PATH [--app PATH]] [--nonce HEX] [--svn N]\n"
             "                               [--debug] [--platform-dir DIR]\n"
             "\n"
             "Produces evidence on the virtual platform (INSECURE, development only) and\n"
             "writes it as a CBOR evidence envelope (docs/formats.md). The report binds\n"
             "the key: report_data = SHA-256(DER SubjectPublicKeyInfo || nonce), zero-padded\n"
             "to 64 bytes. The report states the code id you give, or the one a consortd\n"
             "binary measures: a code id (v2) names a node process's executable, its\n"
             "application module and every shared library it maps (docs/attestation.md),\n"
             "so no hash of files alone predicts it; --binary runs\n"
             "`PATH --code-id [--app APP] --platform virtual` on this host, with this\n"
             "environment, and uses what it prints. Prints the code id and the report data.\n"
             "\n"
             "options:\n"
             "  --key PEM           the key to bind (public or private PEM; only the public\n"
             "                      half is used)\n"
             "  --out FILE          where to write the envelope\n"
             "  --code-id HEX       the code id to state (64 hex digits)\n"
             "  --binary PATH       a consortd: state the code id it measures (default: the\n"
             "                      consortd next to this consort, unless --code-id is given)\n"
             "  --app PATH          the application module, with --binary (default: none)\n"
             "  --nonce HEX         a verifier's challenge, bound with the key (default: none)\n"
             "  --svn N             security version, 0..4294967295 (default 0)\n"
             "  --debug             mark the report as coming from a debuggable TEE\n"
             "  --platform-dir DIR  the platform (default: $CONSORT_PLATFORM_DIR,\n"
             "                      else ./.consort/platform)\n"
             "\n"
             "example:\n"
             "  consort evidence create --key node_pubk.pem --binary ./consortd \\\n"
             "      --app ./logging.so --nonce 0011aabb --out node.evidence\n"
             "  (the same as --code-id \"$(./consortd --code-id --app ./logging.so)\")\n",
    .run = run,
};

enum {
    OPT_KEY = 1,
    OPT_OUT,
    OPT_NONCE,
    OPT_CODE_ID,
    OPT_BINARY,
    OPT_APP,
    OPT_SVN,
    OPT_DEBUG,
    OPT_PLATFORM_DIR
};

static const struct option options[] = {
    {"key", required_argument, NULL, OPT_KEY},
    {"out", required_argument, NULL, OPT_OUT},
    {"nonce", required_argument, NULL, OPT_NONCE},
    {"code-id", required_argument, NULL, OPT_CODE_ID},
    {"binary", required_argument, NULL, OPT_BINARY},
    {"app", required_argument, NULL, OPT_APP},
    {"svn", required_argument, NULL, OPT_SVN},
    {"debug", no_argument, NULL, OPT_DEBUG},
    {"platform-dir", required_argument, NULL, OPT_PLATFORM_DIR},
    {NULL, 0, NULL, 0},
};

typedef struct create_args {
    const char *key;
    const char *out;
    const char *binary;
    const char *app;
    const char *platform_dir;
    bool has_code_id; /* --code-id given */
    uint8_t code_id[32];
    uint32_t svn;
    bool debug;
    cs_buf nonce;
} create_args;

/* Everything after argument parsing; prints the results on success. */
static consort_err create(const create_args *a)
{
    cs_key *key = NULL;
    cs_virtual_platform *platform = NULL;
    cs_evidence ev;
    cs_buf enc;
    uint8_t code_id[32];
    uint8_t report_data[64];
    memcpy(code_id, a->code_id, sizeof code_id);
    cs_evidence_init(&ev);
    cs_buf_init(&enc, 0);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_key_load_pem_file(a->key, &key), done);
    if (!a->has_code_id) /* docs/attestation.md: only consortd can measure a code id v2 */
        CS_TRY_GOTO(rc, cs_cli_code_id_of(a->binary, a->app, CS_PLATFORM_VIRTUAL, NULL, code_id),
                    done);
    CS_TRY_GOTO(rc, cs_report_data_bind(key, cs_buf_slice(&a->nonce), report_data), done);
    rc = cs_virtual_platform_open(a->platform_dir, &platform);
    if (rc == CONSORT_E_NOT_FOUND)
        rc = cs_err_context(rc, "no virtual platform (create one with consort platform init)");
    if (rc != CONSORT_OK)
        goto done;
    CS_TRY_GOTO(rc, cs_virtual_attest(platform, code_id, a->svn, a->debug, report_data, &ev), done);
    CS_TRY_GOTO(rc, cs_evidence_encode(&ev, &enc), done);
    CS_TRY_GOTO(rc, cs_file_write_atomic(a->out, cs_buf_slice(&enc), 0644), done);

    char hex[129];
    cs_hex_encode(CS_SLICE(code_id, 32), hex);
    printf("code id:     %s\n", hex);
    cs_hex_encode(CS_SLICE(report_data, 64), hex);
    printf("report data: %s\n", hex);
    printf("evidence:    %s (virtual platform, %zu bytes)\n", a->out, enc.len);
done:
    cs_buf_cleanup(&enc);
    cs_evidence_cleanup(&ev);
    cs_virtual_platform_free(platform);
    cs_key_free(key);
    return rc;
}

static int run(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_evidence_create;
    create_args a = {0};
    const char *nonce_hex = NULL;
    const char *code_id_hex = NULL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_KEY:
            a.key = arg;
            break;
        case OPT_OUT:
            a.out = arg;
            break;
        case OPT_NONCE:
            nonce_hex = arg;
            break;
        case OPT_CODE_ID:
            code_id_hex = arg;
            break;
        case OPT_BINARY:
            a.binary = arg;
            break;
        case OPT_APP:
            a.app = arg;
            break;
        case OPT_SVN:
            if (!cs_cli_parse_u32(verb, "--svn", arg, &a.svn))
                return CS_EXIT_USAGE;
            break;
        case OPT_DEBUG:
            a.debug = true;
            break;
        case OPT_PLATFORM_DIR:
            a.platform_dir = arg;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    if (a.key == NULL)
        return cs_cli_usage_error(verb, "--key PEM is required");
    if (a.out == NULL)
        return cs_cli_usage_error(verb, "--out FILE is required");
    if (code_id_hex != NULL && (a.binary != NULL || a.app != NULL))
        return cs_cli_usage_error(verb, "--code-id HEX, or --binary PATH [--app PATH]: not both");
    if (code_id_hex != NULL) {
        if (strlen(code_id_hex) != 64 || cs_hex_decode(code_id_hex, a.code_id, 32) != CONSORT_OK)
            return cs_cli_usage_error(verb, "--code-id: '%s' is not 64 hex digits", code_id_hex);
        a.has_code_id = true;
    }
    a.platform_dir = cs_cli_platform_dir(a.platform_dir);
    cs_buf_init(&a.nonce, 1024);
    if (nonce_hex != NULL && cs_hex_decode_buf(nonce_hex, &a.nonce) != CONSORT_OK) {
        cs_buf_cleanup(&a.nonce);
        return cs_cli_usage_error(verb, "--nonce: %s", consort_errmsg());
    }
    char consortd[PATH_MAX];
    consort_err rc = CONSORT_OK;
    if (!a.has_code_id && a.binary == NULL) {
        rc = cs_cli_consortd_next_to_us(
            consortd, sizeof consortd,
            " to measure the code id: give --binary PATH or --code-id HEX");
        a.binary = consortd;
    }
    if (rc == CONSORT_OK)
        rc = create(&a);
    cs_buf_cleanup(&a.nonce);
    return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(verb, rc);
}
