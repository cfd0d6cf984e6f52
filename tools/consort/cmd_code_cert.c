/*
 * `consort code certify` and `consort code verify`: code certificates from
 * in-toto supply chains (src/supply/codecert.h, docs/code-certificates.md).
 */
#include "cli.h"
#include "cli_code_id.h"
#include "cli_opts.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/hash.h"
#include "supply/codecert.h"
#include "supply/intoto_key.h"

#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LAYOUT_KEYS 16
#define MAX_DOC         ((size_t)4 << 20) /* a layout, link or key file (CS_CJSON_MAX_DOC) */
#define MAX_ARTIFACT    ((size_t)1 << 30)

static int certify(int argc, char **argv);
static int verify(int argc, char **argv);

const cs_cli_verb cs_cmd_code_certify = {
    .name = "code certify",
    .summary = "issue a code certificate for an artifact an in-toto supply chain made",
    .usage =
        "usage: consort code certify --layout FILE --layout-key FILE [--layout-key FILE ...]\n"
        "           --links DIR --artifact FILE [--artifact-path PATH]\n"
        "           [--code-id HEX | --node-binary PATH] --issuer-key FILE --issuer-cert FILE\n"
        "           [--tested-by STEP] [--reviewed-by STEP] [--claim NAME=VALUE ...]\n"
        "           --out FILE\n"
        "\n"
        "Verifies an in-toto v1 layout and its link metadata as in-toto-verify does (layout\n"
        "signatures by every --layout-key, expiry, each step's authorised functionaries and\n"
        "threshold, the artifact rules; a layout with inspections is refused: consort runs\n"
        "no commands) and checks that --artifact is a product of one of its steps with the\n"
        "same SHA-256. Only then it writes a code certificate (COSE_Sign1 by the issuer) to\n"
        "--out, binding the code id of a node running the artifact to the artifact, the\n"
        "layout, the link files it relied on, and the claims:\n"
        "  --tested-by STEP     claim \"tested\": STEP's links all recorded return value 0\n"
        "                       (a failed test step means no certificate)\n"
        "  --reviewed-by STEP   claim \"reviewed_by\": the key ids of STEP's valid links\n"
        "  --claim NAME=VALUE   a claim the issuer asserts, e.g. compliance=HIPAA\n"
        "Layout keys are the files in-toto-keygen writes (NAME.pub: JSON for ed25519 and\n"
        "ecdsa, PEM for rsa). Link files are read from DIR (*.link). The code id is\n"
        "measured by running the consortd next to this program (or --node-binary) with the\n"
        "artifact as its application module, unless --code-id gives it.\n"
        "Exit status 0 when certified, 1 when not (the failed check on stderr), 2 for a\n"
        "usage error.\n"
        "\n"
        "example:\n"
        "  consort code certify --layout root.layout --layout-key owner.pub --links . \\\n"
        "      --artifact app.so --tested-by test --issuer-key ci_privk.pem \\\n"
        "      --issuer-cert ci_cert.pem --out app.codecert\n",
    .run = certify,
};

const cs_cli_verb cs_cmd_code_verify = {
    .name = "code verify",
    .summary = "check a code certificate and the claims it makes",
    .usage = "usage: consort code verify --cert FILE --issuer-cert FILE [--code-id HEX]\n"
             "           [--artifact FILE] [--require NAME[=VALUE] ...]\n"
             "\n"
             "Checks that FILE is a code certificate signed by the issuer certificate's key\n"
             "(and carrying that certificate), optionally that it names this code id and this\n"
             "artifact (SHA-256) and makes each required claim (with that value; for\n"
             "reviewed_by, a key id among the reviewers). Prints what it says as JSON.\n"
             "Exit status 0 if it holds, 1 if not, 2 for a usage error.\n",
    .run = verify,
};

enum {
    OPT_LAYOUT = 1,
    OPT_LAYOUT_KEY,
    OPT_LINKS,
    OPT_ARTIFACT,
    OPT_ARTIFACT_PATH,
    OPT_CODE_ID,
    OPT_NODE_BINARY,
    OPT_ISSUER_KEY,
    OPT_ISSUER_CERT,
    OPT_TESTED_BY,
    OPT_REVIEWED_BY,
    OPT_CLAIM,
    OPT_OUT,
    OPT_CERT,
    OPT_REQUIRE,
};

static const struct option certify_options[] = {
    {"layout", required_argument, NULL, OPT_LAYOUT},
    {"layout-key", required_argument, NULL, OPT_LAYOUT_KEY},
    {"links", required_argument, NULL, OPT_LINKS},
    {"artifact", required_argument, NULL, OPT_ARTIFACT},
    {"artifact-path", required_argument, NULL, OPT_ARTIFACT_PATH},
    {"code-id", required_argument, NULL, OPT_CODE_ID},
    {"node-binary", required_argument, NULL, OPT_NODE_BINARY},
    {"issuer-key", required_argument, NULL, OPT_ISSUER_KEY},
    {"issuer-cert", required_argument, NULL, OPT_ISSUER_CERT},
    {"tested-by", required_argument, NULL, OPT_TESTED_BY},
    {"reviewed-by", required_argument, NULL, OPT_REVIEWED_BY},
    {"claim", required_argument, NULL, OPT_CLAIM},
    {"out", required_argument, NULL, OPT_OUT},
    {NULL, 0, NULL, 0},
};

typedef struct certify_args {
    const char *layout, *links, *artifact, *artifact_path, *code_id, *node_binary;
    const char *issuer_key, *issuer_cert, *tested_by, *reviewed_by, *out;
    const char *layout_keys[MAX_LAYOUT_KEYS];
    size_t n_layout_keys;
    const char *claims[CS_CODECERT_MAX_ASSERTED];
    size_t n_claims;
} certify_args;

/* A layout key file as in-toto-keygen writes it, as a key object (JSON). */
static consort_err read_layout_key(const char *path, cs_buf *out)
{
    cs_buf text;
    cs_buf_init(&text, MAX_DOC);
    consort_err rc = cs_file_read(path, &text);
    if (rc == CONSORT_OK && text.len >= 10 && memcmp(text.ptr, "-----BEGIN", 10) == 0)
        rc = cs_intoto_rsa_pem_key_json(cs_buf_slice(&text), out); /* rsa: PEM */
    else if (rc == CONSORT_OK)
        rc = cs_buf_append(out, text.ptr, text.len);
    cs_buf_cleanup(&text);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "--layout-key %s", path);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const cs_intoto_file *)a)->name, ((const cs_intoto_file *)b)->name);
}

/* The *.link files of `dir` (names copied into `names`, bytes into `data`). */
static consort_err read_links(const char *dir, cs_intoto_file *files, char (*names)[NAME_MAX + 1],
                              cs_buf *data, size_t *n)
{
    DIR *d = opendir(dir);
    CS_ENSURE(d != NULL, CONSORT_E_NOT_FOUND, "--links %s: cannot open the directory", dir);
    consort_err rc = CONSORT_OK;
    *n = 0;
    for (struct dirent *e; rc == CONSORT_OK && (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".link") != 0)
            continue;
        if (*n == CS_CODECERT_MAX_LINKS) {
            rc = cs_fail(CONSORT_E_TOO_LARGE, "--links %s: more than %d link files", dir,
                         CS_CODECERT_MAX_LINKS);
            break;
        }
        char path[PATH_MAX];
        rc = cs_path_join(path, sizeof path, dir, e->d_name);
        cs_buf_init(&data[*n], MAX_DOC);
        if (rc == CONSORT_OK)
            rc = cs_file_read(path, &data[*n]);
        snprintf(names[*n], sizeof names[0], "%s", e->d_name);
        files[*n] = (cs_intoto_file){.name = names[*n], .data = cs_buf_slice(&data[*n])};
        (*n)++;
        if (rc != CONSORT_OK)
            rc = cs_err_context(rc, "%s", path);
    }
    closedir(d);
    if (rc == CONSORT_OK)
        qsort(files, *n, sizeof *files, by_name); /* the order does not matter: stable output */
    return rc;
}

static consort_err parse_code_id(const char *hex, uint8_t out[32])
{
    CS_ENSURE(strlen(hex) == 64 && cs_hex_decode(hex, out, 32) == CONSORT_OK,
              CONSORT_E_INVALID_ARGUMENT, "--code-id '%.80s': expected 64 hex digits", hex);
    return CONSORT_OK;
}

/* The code id: given, or measured by consortd with the artifact as its module. */
static consort_err code_id_for(const certify_args *a, uint8_t out[32])
{
    if (a->code_id != NULL)
        return parse_code_id(a->code_id, out);
    char binary[PATH_MAX];
    if (a->node_binary == NULL)
        CS_TRY(cs_cli_consortd_next_to_us(binary, sizeof binary,
                                          ": give --code-id HEX or --node-binary PATH"));
    else
        snprintf(binary, sizeof binary, "%s", a->node_binary);
    CS_ENSURE(access(binary, X_OK) == 0, CONSORT_E_NOT_FOUND, "--node-binary %s is not executable",
              binary);
    return cs_cli_code_id_of(binary, a->artifact, CS_PLATFORM_VIRTUAL, NULL, out);
}

typedef struct certify_inputs {
    cs_buf layout, artifact, out;
    cs_buf keys[MAX_LAYOUT_KEYS];
    cs_slice key_slices[MAX_LAYOUT_KEYS];
    cs_buf *link_data;
    cs_intoto_file *files;
    char (*names)[NAME_MAX + 1];
    size_t n_files;
    cs_key *issuer_key;
    cs_x509 *issuer_cert;
} certify_inputs;

static consort_err load_inputs(const certify_args *a, certify_inputs *in)
{
    CS_TRY_CTX(cs_file_read(a->layout, &in->layout), "--layout %s", a->layout);
    for (size_t i = 0; i < a->n_layout_keys; i++) {
        CS_TRY(read_layout_key(a->layout_keys[i], &in->keys[i]));
        in->key_slices[i] = cs_buf_slice(&in->keys[i]);
    }
    in->link_data = cs_calloc(CS_CODECERT_MAX_LINKS, sizeof *in->link_data);
    in->files = cs_calloc(CS_CODECERT_MAX_LINKS, sizeof *in->files);
    in->names = cs_calloc(CS_CODECERT_MAX_LINKS, sizeof *in->names);
    CS_ENSURE(in->link_data != NULL && in->files != NULL && in->names != NULL, CONSORT_E_NOMEM,
              "link files");
    CS_TRY(read_links(a->links, in->files, in->names, in->link_data, &in->n_files));
    CS_TRY_CTX(cs_file_read(a->artifact, &in->artifact), "--artifact %s", a->artifact);
    CS_TRY_CTX(cs_key_load_pem_file(a->issuer_key, &in->issuer_key), "--issuer-key %s",
               a->issuer_key);
    CS_TRY_CTX(cs_x509_load_file(a->issuer_cert, &in->issuer_cert), "--issuer-cert %s",
               a->issuer_cert);
    return CONSORT_OK;
}

static void free_inputs(certify_inputs *in)
{
    cs_buf_cleanup(&in->layout);
    cs_buf_cleanup(&in->artifact);
    cs_buf_cleanup(&in->out);
    for (size_t i = 0; i < MAX_LAYOUT_KEYS; i++)
        cs_buf_cleanup(&in->keys[i]);
    for (size_t i = 0; in->link_data != NULL && i < in->n_files; i++)
        cs_buf_cleanup(&in->link_data[i]);
    cs_free(in->link_data);
    cs_free(in->files);
    cs_free(in->names);
    cs_key_free(in->issuer_key);
    cs_x509_free(in->issuer_cert);
}

static consort_err do_certify(const certify_args *a, certify_inputs *in)
{
    CS_TRY(load_inputs(a, in));
    const char *path = a->artifact_path;
    if (path == NULL) {
        const char *slash = strrchr(a->artifact, '/');
        path = slash != NULL ? slash + 1 : a->artifact;
    }
    cs_codecert_request req = {
        .layout = cs_buf_slice(&in->layout),
        .layout_keys = in->key_slices,
        .n_layout_keys = a->n_layout_keys,
        .links = in->files,
        .n_links = in->n_files,
        .now = (int64_t)time(NULL),
        .artifact_path = path,
        .artifact = cs_buf_slice(&in->artifact),
        .tested_step = a->tested_by,
        .reviewed_step = a->reviewed_by,
        .asserted = a->claims,
        .n_asserted = a->n_claims,
    };
    CS_TRY(code_id_for(a, req.code_id));
    cs_intoto_result res;
    consort_err rc = cs_codecert_issue(&req, in->issuer_key, in->issuer_cert, &res, &in->out);
    if (rc != CONSORT_OK) {
        /* the check that failed, as a line of its own for scripts */
        fprintf(stderr, "consort code certify: check: %s%s%s\n", cs_intoto_check_name(res.check),
                res.step[0] ? " step " : "", res.step);
        return rc;
    }
    CS_TRY_CTX(cs_file_write_atomic(a->out, cs_buf_slice(&in->out), 0644), "--out %s", a->out);
    char hex[65];
    cs_hex_encode(CS_SLICE(req.code_id, 32), hex);
    printf("certified code id %s (artifact %s) in %s\n", hex, path, a->out);
    return CONSORT_OK;
}

static int certify(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_code_certify;
    certify_args a = {0};
    bool started = false;
    const char *arg;
    for (int c; (c = cs_cli_next_opt(verb, argc, argv, certify_options, &started, &arg)) !=
                CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_LAYOUT:
            a.layout = arg;
            break;
        case OPT_LAYOUT_KEY:
            if (a.n_layout_keys == MAX_LAYOUT_KEYS)
                return cs_cli_usage_error(verb, "at most %d --layout-key", MAX_LAYOUT_KEYS);
            a.layout_keys[a.n_layout_keys++] = arg;
            break;
        case OPT_LINKS:
            a.links = arg;
            break;
        case OPT_ARTIFACT:
            a.artifact = arg;
            break;
        case OPT_ARTIFACT_PATH:
            a.artifact_path = arg;
            break;
        case OPT_CODE_ID:
            a.code_id = arg;
            break;
        case OPT_NODE_BINARY:
            a.node_binary = arg;
            break;
        case OPT_ISSUER_KEY:
            a.issuer_key = arg;
            break;
        case OPT_ISSUER_CERT:
            a.issuer_cert = arg;
            break;
        case OPT_TESTED_BY:
            a.tested_by = arg;
            break;
        case OPT_REVIEWED_BY:
            a.reviewed_by = arg;
            break;
        case OPT_CLAIM:
            if (a.n_claims == CS_CODECERT_MAX_ASSERTED)
                return cs_cli_usage_error(verb, "at most %d --claim", CS_CODECERT_MAX_ASSERTED);
            a.claims[a.n_claims++] = arg;
            break;
        case OPT_OUT:
            a.out = arg;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    if (a.layout == NULL || a.n_layout_keys == 0 || a.links == NULL || a.artifact == NULL ||
        a.issuer_key == NULL || a.issuer_cert == NULL || a.out == NULL)
        return cs_cli_usage_error(verb, "--layout, --layout-key, --links, --artifact, "
                                        "--issuer-key, --issuer-cert and --out are required");
    if (a.code_id != NULL && a.node_binary != NULL)
        return cs_cli_usage_error(verb, "--code-id and --node-binary exclude each other");
    certify_inputs in;
    memset(&in, 0, sizeof in);
    cs_buf_init(&in.layout, MAX_DOC);
    cs_buf_init(&in.artifact, MAX_ARTIFACT);
    cs_buf_init(&in.out, CS_CODECERT_MAX);
    for (size_t i = 0; i < MAX_LAYOUT_KEYS; i++)
        cs_buf_init(&in.keys[i], MAX_DOC);
    consort_err rc = do_certify(&a, &in);
    free_inputs(&in);
    return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(verb, rc);
}

/* ---- verify ---- */

static const struct option verify_options[] = {
    {"cert", required_argument, NULL, OPT_CERT},
    {"issuer-cert", required_argument, NULL, OPT_ISSUER_CERT},
    {"code-id", required_argument, NULL, OPT_CODE_ID},
    {"artifact", required_argument, NULL, OPT_ARTIFACT},
    {"require", required_argument, NULL, OPT_REQUIRE},
    {NULL, 0, NULL, 0},
};

static void print_json(const cs_codecert *c)
{
    char code[65], art[65], lay[65], iss[65];
    cs_hex_encode(CS_SLICE(c->code_id, 32), code);
    cs_hex_encode(CS_SLICE(c->artifact_sha256, 32), art);
    cs_hex_encode(CS_SLICE(c->layout_sha256, 32), lay);
    cs_hex_encode(CS_SLICE(c->issuer_fingerprint, 32), iss);
    json_t *claims = json_object();
    for (size_t i = 0; claims != NULL && i < c->n_claims; i++)
        json_object_set_new(claims, c->claims[i].name, json_string(c->claims[i].value));
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "code_id", code, "artifact_path",
                  c->artifact_path, "artifact_sha256", art, "layout_sha256", lay, "issuer_sha256",
                  iss, "issued_at", (json_int_t)c->issued_at, "links", (json_int_t)c->n_links,
                  "steps", (json_int_t)c->n_steps, "claims", claims);
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(doc);
}

static consort_err do_verify(const char *cert_path, const char *issuer_path, const char *code_id,
                             const char *artifact, const char *const *reqs, size_t n_reqs)
{
    cs_x509 *issuer = NULL;
    CS_TRY_CTX(cs_x509_load_file(issuer_path, &issuer), "--issuer-cert %s", issuer_path);
    cs_buf cert;
    cs_buf_init(&cert, CS_CODECERT_MAX);
    cs_codecert *c = cs_calloc(1, sizeof *c);
    consort_err rc =
        c != NULL ? cs_file_read(cert_path, &cert) : cs_fail(CONSORT_E_NOMEM, "code certificate");
    if (rc == CONSORT_OK)
        rc = cs_codecert_verify(cs_buf_slice(&cert), issuer, c);
    uint8_t want[32];
    if (rc == CONSORT_OK && code_id != NULL && (rc = parse_code_id(code_id, want)) == CONSORT_OK)
        if (memcmp(want, c->code_id, 32) != 0)
            rc = cs_fail(CONSORT_E_POLICY, "the certificate is for another code id");
    if (rc == CONSORT_OK && artifact != NULL) {
        cs_buf bytes;
        cs_buf_init(&bytes, MAX_ARTIFACT);
        rc = cs_file_read(artifact, &bytes);
        cs_sha256(cs_buf_slice(&bytes), want);
        cs_buf_cleanup(&bytes);
        if (rc == CONSORT_OK && memcmp(want, c->artifact_sha256, 32) != 0)
            rc = cs_fail(CONSORT_E_POLICY, "%s is not the certified artifact (SHA-256 differs)",
                         artifact);
    }
    for (size_t i = 0; rc == CONSORT_OK && i < n_reqs; i++)
        rc = cs_codecert_require(c, reqs[i]);
    if (rc == CONSORT_OK)
        print_json(c);
    cs_free(c);
    cs_buf_cleanup(&cert);
    cs_x509_free(issuer);
    return rc;
}

static int verify(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_code_verify;
    const char *cert = NULL, *issuer = NULL, *code_id = NULL, *artifact = NULL;
    const char *reqs[CS_CODECERT_MAX_ASSERTED + 2];
    size_t n_reqs = 0;
    bool started = false;
    const char *arg;
    for (int c; (c = cs_cli_next_opt(verb, argc, argv, verify_options, &started, &arg)) !=
                CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_CERT:
            cert = arg;
            break;
        case OPT_ISSUER_CERT:
            issuer = arg;
            break;
        case OPT_CODE_ID:
            code_id = arg;
            break;
        case OPT_ARTIFACT:
            artifact = arg;
            break;
        case OPT_REQUIRE:
            if (n_reqs == CS_ARRAY_LEN(reqs))
                return cs_cli_usage_error(verb, "at most %zu --require", CS_ARRAY_LEN(reqs));
            reqs[n_reqs++] = arg;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    if (cert == NULL || issuer == NULL)
        return cs_cli_usage_error(verb, "--cert and --issuer-cert are required");
    consort_err rc = do_verify(cert, issuer, code_id, artifact, reqs, n_reqs);
    return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(verb, rc);
}
