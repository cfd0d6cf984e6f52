/*
 * `consort evidence verify`: checks evidence of any platform and prints the
 * claims. Platform-agnostic by design: everything platform-specific happens
 * behind cs_evidence_verify, so a new platform needs only its registry row.
 */
#include "cli.h"
#include "cli_claims_json.h"
#include "cli_opts.h"

#include "attest/policy.h"
#include "attest/virtual.h"
#include "base/file.h"
#include "crypto/x509.h"

#include <stdio.h>
#include <time.h>

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_evidence_verify = {
    .name = "evidence verify",
    .summary = "verify attestation evidence and print its claims",
    .usage = "usage: consort evidence verify FILE [--platform virtual|tpm|snp|tdx|sgx]\n"
             "           [--certs DIR] [--collateral DIR] [--trust DIR] [--policy policy.json]\n"
             "           [--at RFC3339] [--key PEM [--nonce HEX]] [--platform-dir DIR]\n"
             "\n"
             "Verifies FILE, a CBOR evidence envelope (docs/formats.md) or raw platform\n"
             "evidence (then --platform is required), and prints the claims as JSON.\n"
             "Then applies the policy and checks that the evidence binds the key, if asked.\n"
             "Exit status 0 if everything holds, 1 with the reason on stderr if not.\n"
             "\n"
             "options:\n"
             "  --platform NAME     the platform of raw evidence (or, for an envelope, the\n"
             "                      platform it must be for)\n"
             "  --certs DIR         endorsement certificates (VCEK/VLEK, ASK, PCK chain, AK\n"
             "                      certificate, ...): every file is added to the endorsements.\n"
             "                      They are NOT trusted by being here: each must chain to a\n"
             "                      pinned vendor root or to a --trust anchor.\n"
             "  --trust DIR         trust anchors: every file is a certificate you trust\n"
             "                      (the virtual platform's certificate; the CA that\n"
             "                      certifies TPM attestation keys). snp, tdx and sgx use\n"
             "                      their pinned vendor roots only.\n"
             "  --collateral DIR    every file is added to the endorsements (CRLs, TCB info,\n"
             "                      QE identity, ...; recognised by content)\n"
             "  --policy FILE       attestation policy (docs/attestation.md)\n"
             "  --at TIME           verify as of TIME (RFC 3339, e.g. 2025-01-31T12:00:00Z)\n"
             "                      instead of now\n"
             "  --key PEM           require the evidence to bind this key (public or private PEM)\n"
             "  --nonce HEX         ... together with this nonce (needs --key)\n"
             "  --platform-dir DIR  without --trust, trust this virtual platform's certificate\n"
             "                      (default: $CONSORT_PLATFORM_DIR, else ./.consort/platform)\n"
             "\n"
             "example:\n"
             "  consort evidence verify node.evidence --policy policy.json --key node_pubk.pem\n",
    .run = run,
};

enum {
    OPT_PLATFORM = 1,
    OPT_CERTS,
    OPT_TRUST,
    OPT_COLLATERAL,
    OPT_POLICY,
    OPT_AT,
    OPT_KEY,
    OPT_NONCE,
    OPT_PLATFORM_DIR
};

static const struct option options[] = {
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"certs", required_argument, NULL, OPT_CERTS},
    {"trust", required_argument, NULL, OPT_TRUST},
    {"collateral", required_argument, NULL, OPT_COLLATERAL},
    {"policy", required_argument, NULL, OPT_POLICY},
    {"at", required_argument, NULL, OPT_AT},
    {"key", required_argument, NULL, OPT_KEY},
    {"nonce", required_argument, NULL, OPT_NONCE},
    {"platform-dir", required_argument, NULL, OPT_PLATFORM_DIR},
    {NULL, 0, NULL, 0},
};

typedef struct verify_args {
    const char *file;
    cs_platform platform; /* CS_PLATFORM_NONE: not given */
    const char *certs;
    const char *trust;
    const char *collateral;
    const char *policy;
    const char *key;
    const char *platform_dir;
    int64_t now;
    cs_buf nonce;
} verify_args;

/* The largest envelope: the evidence and every endorsement at their caps. */
#define FILE_MAX_BYTES                                                                             \
    ((size_t)CS_EVIDENCE_MAX_BYTES +                                                               \
     (size_t)CS_EVIDENCE_MAX_ENDORSEMENTS * CS_ENDORSEMENT_MAX_BYTES + 4096)

/* Reads FILE as an envelope, or as raw evidence of a->platform. */
static consort_err load_evidence(const verify_args *a, cs_evidence *ev)
{
    cs_buf data;
    cs_buf_init(&data, FILE_MAX_BYTES);
    consort_err rc = cs_file_read(a->file, &data);
    if (rc == CONSORT_OK) {
        rc = cs_evidence_decode(cs_buf_slice(&data), ev);
        if (rc == CONSORT_OK && a->platform != CS_PLATFORM_NONE && a->platform != ev->platform)
            rc = cs_fail(CONSORT_E_UNSUPPORTED, "%s is %s evidence, not %s", a->file,
                         cs_platform_name(ev->platform), cs_platform_name(a->platform));
        else if (rc != CONSORT_OK && a->platform != CS_PLATFORM_NONE) {
            ev->platform = a->platform; /* raw evidence */
            rc = cs_buf_set(&ev->evidence, cs_buf_slice(&data));
        } else if (rc != CONSORT_OK) {
            rc = cs_err_context(rc,
                                "%s is not an evidence envelope (give --platform for raw "
                                "evidence)",
                                a->file);
        }
    }
    cs_buf_cleanup(&data);
    return rc;
}

/*
 * Trust anchors: the files of --trust, else the local virtual platform's
 * certificate. --certs never supplies anchors: endorsements come from the
 * (untrusted) host, and a certificate does not become trusted by travelling
 * with the evidence.
 */
static consort_err load_anchors(const verify_args *a, cs_blob_list *anchors)
{
    if (a->trust != NULL)
        return cs_blob_list_add_dir(anchors, a->trust);
    char path[4096];
    CS_TRY(cs_path_join(path, sizeof path, a->platform_dir, CS_VIRTUAL_CERT_FILE));
    if (!cs_file_exists(path))
        return CONSORT_OK; /* a verifier that needs anchors says so */
    cs_buf pem;
    cs_buf_init(&pem, CS_ENDORSEMENT_MAX_BYTES);
    consort_err rc = cs_file_read(path, &pem);
    if (rc == CONSORT_OK)
        rc = cs_blob_list_add(anchors, cs_buf_slice(&pem));
    cs_buf_cleanup(&pem);
    return rc;
}

static consort_err verify(const verify_args *a)
{
    cs_evidence ev;
    cs_blob_list anchors;
    cs_policy policy;
    cs_claims claims;
    cs_key *key = NULL;
    cs_evidence_init(&ev);
    cs_blob_list_init(&anchors);
    cs_policy_init(&policy);
    consort_err rc;
    /* every input is read and checked before anything is verified */
    if (a->policy != NULL)
        CS_TRY_GOTO(rc, cs_policy_load_file(a->policy, &policy), done);
    if (a->key != NULL)
        CS_TRY_GOTO(rc, cs_key_load_pem_file(a->key, &key), done);
    CS_TRY_GOTO(rc, load_evidence(a, &ev), done);
    if (a->certs != NULL)
        CS_TRY_GOTO(rc, cs_blob_list_add_dir(&ev.endorsements, a->certs), done);
    if (a->collateral != NULL)
        CS_TRY_GOTO(rc, cs_blob_list_add_dir(&ev.endorsements, a->collateral), done);
    CS_TRY_GOTO(rc, load_anchors(a, &anchors), done);

    const cs_verify_opts opts = {.now = a->now, .anchors = &anchors};
    CS_TRY_GOTO(rc, cs_evidence_verify(&ev, &opts, &claims), done);
    CS_TRY_GOTO(rc, cs_cli_claims_print(&claims, stdout), done);
    fflush(stdout);
    if (a->policy != NULL)
        CS_TRY_GOTO(rc, cs_policy_check(&policy, &claims), done);
    if (key != NULL)
        CS_TRY_GOTO(rc, cs_claims_check_binding(&claims, key, cs_buf_slice(&a->nonce)), done);
done:
    cs_key_free(key);
    cs_blob_list_cleanup(&anchors);
    cs_evidence_cleanup(&ev);
    return rc;
}

/* Parses the options into `a`; returns CS_EXIT_OK or the usage exit code. */
static int parse(int argc, char **argv, verify_args *a)
{
    const cs_cli_verb *verb = &cs_cmd_evidence_verify;
    const char *at = NULL;
    const char *nonce_hex = NULL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_PLATFORM:
            if (cs_platform_parse(arg, &a->platform) != CONSORT_OK)
                return cs_cli_usage_error(verb, "--platform: %s", consort_errmsg());
            break;
        case OPT_CERTS:
            a->certs = arg;
            break;
        case OPT_TRUST:
            a->trust = arg;
            break;
        case OPT_COLLATERAL:
            a->collateral = arg;
            break;
        case OPT_POLICY:
            a->policy = arg;
            break;
        case OPT_AT:
            at = arg;
            break;
        case OPT_KEY:
            a->key = arg;
            break;
        case OPT_NONCE:
            nonce_hex = arg;
            break;
        case OPT_PLATFORM_DIR:
            a->platform_dir = arg;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cs_cli_usage_error(verb, "the evidence FILE is missing");
    if (optind + 1 < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind + 1]);
    a->file = argv[optind];
    a->platform_dir = cs_cli_platform_dir(a->platform_dir);
    if (nonce_hex != NULL && a->key == NULL)
        return cs_cli_usage_error(verb, "--nonce needs --key");
    if (nonce_hex != NULL && cs_hex_decode_buf(nonce_hex, &a->nonce) != CONSORT_OK)
        return cs_cli_usage_error(verb, "--nonce: %s", consort_errmsg());
    a->now = (int64_t)time(NULL);
    if (at != NULL && cs_time_parse_rfc3339(at, &a->now) != CONSORT_OK)
        return cs_cli_usage_error(verb, "--at: %s", consort_errmsg());
    return CS_EXIT_OK;
}

static int run(int argc, char **argv)
{
    verify_args a = {.platform = CS_PLATFORM_NONE};
    cs_buf_init(&a.nonce, 1024);
    int code = parse(argc, argv, &a);
    if (code == CS_EXIT_OK) {
        consort_err rc = verify(&a);
        code = rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(&cs_cmd_evidence_verify, rc);
    }
    cs_buf_cleanup(&a.nonce);
    return code;
}
