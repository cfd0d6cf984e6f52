/* `consort keygen`: a new ECDSA key pair (signing) or a member's RSA
 * encryption key pair (recovery shares) as PEM files. */
#include "cli.h"
#include "cli_opts.h"

#include "base/file.h"
#include "crypto/key.h"
#include "gov/shares.h"

#include <stdio.h>

static int run(int argc, char **argv);

const cs_cli_verb cs_cmd_keygen = {
    .name = "keygen",
    .summary = "create an ECDSA key pair (P-256 or P-384), or a member's encryption key pair",
    .usage = "usage: consort keygen --out PREFIX [--curve P-256|P-384] [--force]\n"
             "       consort keygen --priv FILE --pub FILE [--curve P-256|P-384] [--force]\n"
             "       consort keygen --encryption --out PREFIX [--force]\n"
             "\n"
             "Creates a new ECDSA key pair. With --out, writes PREFIX_privk.pem (PKCS#8,\n"
             "mode 0600) and PREFIX_pubk.pem (SubjectPublicKeyInfo); with --priv/--pub,\n"
             "writes those files. Existing files are never replaced unless --force is given.\n"
             "Prints the key id (SHA-256 of the DER SubjectPublicKeyInfo).\n"
             "\n"
             "With --encryption, creates a member's encryption key pair instead (RSA-3072,\n"
             "for RSA-OAEP-256: the service encrypts the member's recovery share to it,\n"
             "docs/recovery.md): PREFIX_enc_privk.pem (0600) and PREFIX_enc_pubk.pem.\n"
             "\n"
             "options:\n"
             "  --out PREFIX     write PREFIX_privk.pem and PREFIX_pubk.pem\n"
             "  --priv FILE      private key file (with --pub)\n"
             "  --pub FILE       public key file (with --priv)\n"
             "  --curve NAME     P-256 (default) or P-384\n"
             "  --encryption     a member's RSA encryption key pair (with --out)\n"
             "  --force          replace existing files\n"
             "\n"
             "example:\n"
             "  consort keygen --out member0\n"
             "  consort keygen --encryption --out member0\n",
    .run = run,
};

enum { OPT_OUT = 1, OPT_PRIV, OPT_PUB, OPT_CURVE, OPT_FORCE, OPT_ENCRYPTION };

static const struct option options[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"priv", required_argument, NULL, OPT_PRIV},
    {"pub", required_argument, NULL, OPT_PUB},
    {"curve", required_argument, NULL, OPT_CURVE},
    {"force", no_argument, NULL, OPT_FORCE},
    {"encryption", no_argument, NULL, OPT_ENCRYPTION},
    {NULL, 0, NULL, 0},
};

/* Writes both PEM files (private one 0600) and prints what was written. */
static consort_err write_pair(const cs_key *key, const char *priv, const char *pub)
{
    cs_buf priv_pem, pub_pem;
    cs_buf_init_secret(&priv_pem, 64 * 1024);
    cs_buf_init(&pub_pem, 64 * 1024);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_key_private_pem(key, &priv_pem), done);
    CS_TRY_GOTO(rc, cs_key_public_pem(key, &pub_pem), done);
    CS_TRY_GOTO(rc, cs_file_write_atomic(priv, cs_buf_slice(&priv_pem), 0600), done);
    CS_TRY_GOTO(rc, cs_file_write_atomic(pub, cs_buf_slice(&pub_pem), 0644), done);
done:
    cs_buf_cleanup(&priv_pem);
    cs_buf_cleanup(&pub_pem);
    CS_TRY(rc);
    uint8_t id[32];
    char hex[65];
    CS_TRY(cs_key_id(key, id));
    cs_hex_encode(CS_SLICE(id, 32), hex);
    printf("private key: %s (keep it secret)\npublic key:  %s\ncurve:       %s\nkey id:      %s\n",
           priv, pub, cs_curve_name(cs_key_curve(key)), hex);
    return CONSORT_OK;
}

/* A member's encryption key pair (gov/shares.h), private file 0600. */
static consort_err write_encryption_pair(const char *priv, const char *pub)
{
    cs_buf priv_pem, pub_pem;
    cs_buf_init_secret(&priv_pem, 64 * 1024);
    cs_buf_init(&pub_pem, 64 * 1024);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_gov_enc_keygen(&priv_pem, &pub_pem), done);
    CS_TRY_GOTO(rc, cs_file_write_atomic(priv, cs_buf_slice(&priv_pem), 0600), done);
    CS_TRY_GOTO(rc, cs_file_write_atomic(pub, cs_buf_slice(&pub_pem), 0644), done);
    printf("private key: %s (keep it secret: it decrypts your recovery share)\n"
           "public key:  %s\ntype:        RSA-%d, for RSA-OAEP-256\n",
           priv, pub, CS_GOV_ENC_KEY_BITS);
done:
    cs_buf_cleanup(&priv_pem);
    cs_buf_cleanup(&pub_pem);
    return rc;
}

static int run(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_keygen;
    const char *prefix = NULL;
    const char *priv = NULL;
    const char *pub = NULL;
    const char *curve_name = "P-256";
    bool force = false;
    bool encryption = false;
    bool curve_given = false;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        switch (c) {
        case OPT_OUT:
            prefix = arg;
            break;
        case OPT_PRIV:
            priv = arg;
            break;
        case OPT_PUB:
            pub = arg;
            break;
        case OPT_CURVE:
            curve_name = arg;
            curve_given = true;
            break;
        case OPT_ENCRYPTION:
            encryption = true;
            break;
        case OPT_FORCE:
            force = true;
            break;
        default:
            return CS_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    if (encryption && (prefix == NULL || priv != NULL || pub != NULL || curve_given))
        return cs_cli_usage_error(verb, "--encryption takes --out PREFIX (and --force) only");
    if (prefix != NULL && (priv != NULL || pub != NULL))
        return cs_cli_usage_error(verb, "give either --out or --priv and --pub, not both");
    if (prefix == NULL && (priv == NULL || pub == NULL))
        return cs_cli_usage_error(verb, "give --out PREFIX, or both --priv FILE and --pub FILE");
    cs_curve curve;
    if (cs_curve_parse(curve_name, &curve) != CONSORT_OK ||
        (curve != CS_CURVE_P256 && curve != CS_CURVE_P384))
        return cs_cli_usage_error(verb, "--curve: '%s' unsupported, expected P-256 or P-384",
                                  curve_name);

    char priv_buf[4096];
    char pub_buf[4096];
    if (prefix != NULL) {
        const char *kind = encryption ? "_enc" : "";
        int a = snprintf(priv_buf, sizeof priv_buf, "%s%s_privk.pem", prefix, kind);
        int b = snprintf(pub_buf, sizeof pub_buf, "%s%s_pubk.pem", prefix, kind);
        if (a < 0 || b < 0 || (size_t)a >= sizeof priv_buf || (size_t)b >= sizeof pub_buf)
            return cs_cli_usage_error(verb, "--out: prefix too long");
        priv = priv_buf;
        pub = pub_buf;
    }
    const char *existing = cs_file_exists(priv) ? priv : cs_file_exists(pub) ? pub : NULL;
    if (existing != NULL && !force)
        return cs_cli_fail(verb, cs_fail(CONSORT_E_STATE,
                                         "%s exists; not replacing it (use --force to replace)",
                                         existing));
    consort_err rc;
    if (encryption) {
        rc = write_encryption_pair(priv, pub);
        return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(verb, rc);
    }
    cs_key *key = NULL;
    if ((rc = cs_key_generate(curve, &key)) == CONSORT_OK)
        rc = write_pair(key, priv, pub);
    cs_key_free(key);
    return rc == CONSORT_OK ? CS_EXIT_OK : cs_cli_fail(verb, rc);
}
