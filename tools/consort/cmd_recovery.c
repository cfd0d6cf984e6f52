/*
 * `consort recovery submit-share` and `consort recovery status`
 * (docs/recovery.md "Submitting shares"): a member fetches its encrypted
 * recovery share (from the recovering node, or from a file saved earlier),
 * decrypts it here with its encryption private key, signs it in a
 * recovery_share request (gov/request.h) and sends it over TLS pinned to
 * the recovering service's new certificate. The plain share exists only in
 * this process's memory and in the signed request, and is wiped after use.
 */
#include "cli_gov.h"

#include "base/file.h"
#include "crypto/b64.h"
#include "gov/shares.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int run_submit(int argc, char **argv);
static int run_status(int argc, char **argv);

const cs_cli_verb cs_cmd_recovery_submit = {
    .name = "recovery submit-share",
    .summary = "decrypt your recovery share and submit it to a recovering node",
    .usage = "usage: consort recovery submit-share --node URL --service-cert PEM\n"
             "           --member-cert PEM --member-key PEM --encryption-key PEM [--share FILE]\n"
             "       consort recovery submit-share --workspace DIR --as memberN --node URL\n"
             "           --service-cert PEM [--encryption-key PEM] [--share FILE]\n"
             "\n"
             "Fetches the member's encrypted recovery share (GET /gov/recovery/share/ID from\n"
             "the node, or the JSON of that answer saved in FILE), decrypts it locally with\n"
             "the member's encryption private key (RSA-OAEP-256), checks that it is this\n"
             "member's, signs it as a recovery_share request with the member's key and\n"
             "POSTs it to /gov/recovery/share. The node answers how many shares it holds\n"
             "and how many it needs; the one that completes the threshold restores the\n"
             "service (docs/recovery.md). --service-cert is the NEW service certificate the\n"
             "recovering node wrote (its \"service_cert_out\"): check the node's evidence\n"
             "(GET /node/quotes) before you give it your share.\n"
             "Exit status 0 if the node took the share, 1 if it refused it ('consort recovery\n"
             "submit-share: CODE: message') or could not be reached, 2 for a usage error.\n"
             "\n"
             "options:\n" CS_CLI_GOV_NODE_USAGE CS_CLI_GOV_MEMBER_USAGE
             "  --encryption-key PEM      the member's encryption private key (with --workspace\n"
             "                            and --as: DIR/memberN_enc_privk.pem)\n"
             "  --share FILE              the encrypted share as GET /gov/recovery/share/ID\n"
             "                            answered it, instead of asking the node\n"
             "\n"
             "example:\n"
             "  consort recovery submit-share --node https://127.0.0.1:8000 \\\n"
             "      --service-cert new_service_cert.pem --member-cert member0_cert.pem \\\n"
             "      --member-key member0_privk.pem --encryption-key member0_enc_privk.pem\n",
    .run = run_submit,
};

const cs_cli_verb cs_cmd_recovery_status = {
    .name = "recovery status",
    .summary = "what a recovering node waits for, or a service's shares",
    .usage = "usage: consort recovery status (--node URL --service-cert PEM | --workspace DIR)\n"
             "\n"
             "Prints GET /gov/recovery: on a node waiting for recovery shares, the recovery\n"
             "point, the previous service certificate, the threshold, who holds a share and\n"
             "who submitted one; on any other node, the service's share threshold and epoch,\n"
             "who holds a share, and the identities the service succeeded.\n"
             "Exit status 0 with the answer on standard output, 1 if the node could not be\n"
             "reached or refused, 2 for a usage error.\n"
             "\n"
             "options:\n" CS_CLI_GOV_NODE_USAGE "\n"
             "example:\n"
             "  consort recovery status --node https://127.0.0.1:8000 \\\n"
             "      --service-cert new_service_cert.pem\n",
    .run = run_status,
};

enum { OPT_ENC_KEY = 1, OPT_SHARE };

static const struct option options[] = {
    CS_CLI_GOV_NODE_OPTIONS,
    CS_CLI_GOV_MEMBER_OPTIONS,
    {"encryption-key", required_argument, NULL, OPT_ENC_KEY},
    {"share", required_argument, NULL, OPT_SHARE},
    {NULL, 0, NULL, 0},
};

/* The encrypted share from the JSON of GET /gov/recovery/share/ID. */
static consort_err share_from_json(cs_slice json, const char *member_id, cs_buf *out)
{
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)json.ptr, json.len, JSON_REJECT_DUPLICATES, &jerr);
    CS_ENSURE(doc != NULL, CONSORT_E_MALFORMED, "the share document is not JSON: %s", jerr.text);
    const char *who = json_string_value(json_object_get(doc, "member_id"));
    const char *b64 = json_string_value(json_object_get(doc, "encrypted_share"));
    consort_err rc = CONSORT_OK;
    if (b64 == NULL || who == NULL)
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "the share document has no \"member_id\" and \"encrypted_share\"");
    else if (strcmp(who, member_id) != 0)
        rc = cs_fail(CONSORT_E_POLICY, "the share document is member %s's, not %s's", who,
                     member_id);
    else
        rc = cs_b64_decode(cs_slice_str(b64), out);
    json_decref(doc);
    return rc;
}

/* GET /gov/recovery/share/ID from the session's node. */
static consort_err fetch_share(const cs_cli_gov_session *s, cs_buf *json)
{
    char path[128];
    snprintf(path, sizeof path, "/gov/recovery/share/%s", s->member_id);
    const cs_cli_https_request req = {.address = s->address[0],
                                      .method = "GET",
                                      .path = path,
                                      .service_cert = s->service_cert,
                                      .timeout_ms = s->timeout_ms};
    cs_cli_https_response resp;
    cs_cli_https_response_init(&resp);
    consort_err rc = cs_cli_https_send(&req, &resp);
    if (rc == CONSORT_OK && resp.status != 200)
        rc = cs_fail(resp.status == 404 ? CONSORT_E_NOT_FOUND : CONSORT_E_POLICY,
                     "GET %s: HTTP %d: %.*s", path, resp.status, (int)resp.body.len,
                     (const char *)resp.body.ptr);
    if (rc == CONSORT_OK)
        rc = cs_buf_set(json, cs_buf_slice(&resp.body));
    cs_cli_https_response_cleanup(&resp);
    return rc;
}

/* The signed request carrying the member's plain share. */
static consort_err build_request(const cs_cli_gov_session *s, const char *enc_key,
                                 const char *share_file, cs_buf *request)
{
    cs_buf json, enc, priv, plain;
    cs_buf_init(&json, (size_t)1 << 20);
    cs_buf_init(&enc, CS_GOV_SHARE_ENC_MAX * 2);
    cs_buf_init_secret(&priv, 64 << 10);
    cs_buf_init_secret(&plain, CS_GOV_SHARE_PLAIN_MAX);
    cs_gov_share share;
    memset(&share, 0, sizeof share);
    uint8_t member[CS_GOV_SHARE_ID_LEN];
    consort_err rc;
    if (share_file != NULL)
        CS_TRY_CTX_GOTO(rc, cs_cli_read_input(share_file, &json), out, "--share %s", share_file);
    else
        CS_TRY_GOTO(rc, fetch_share(s, &json), out);
    CS_TRY_GOTO(rc, share_from_json(cs_buf_slice(&json), s->member_id, &enc), out);
    CS_TRY_CTX_GOTO(rc, cs_file_read(enc_key, &priv), out, "--encryption-key %s", enc_key);
    CS_TRY_CTX_GOTO(rc, cs_gov_share_decrypt(cs_buf_slice(&priv), cs_buf_slice(&enc), &share), out,
                    "decrypting the share with %s", enc_key);
    CS_TRY_GOTO(rc, cs_hex_decode(s->member_id, member, sizeof member), out);
    CS_ENSURE_GOTO(rc, memcmp(member, share.meta.member_id, sizeof member) == 0, out,
                   CONSORT_E_POLICY, "the share was issued to another member");
    CS_TRY_GOTO(rc, cs_gov_share_encode(&share, &plain), out);
    rc = cs_cli_gov_sign(s, CS_GOV_MSG_RECOVERY_SHARE, NULL, cs_buf_slice(&plain), 0, request);
out:
    cs_gov_share_wipe(&share);
    cs_buf_cleanup(&plain);
    cs_buf_cleanup(&priv);
    cs_buf_cleanup(&enc);
    cs_buf_cleanup(&json);
    return rc;
}

static int run_submit(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_recovery_submit;
    cs_cli_gov_opts conn = {0};
    const char *enc_key = NULL, *share_file = NULL;
    bool started = false;
    const char *arg;
    for (int c;
         (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;) {
        if (c == OPT_ENC_KEY) {
            enc_key = arg;
            continue;
        }
        if (c == OPT_SHARE) {
            share_file = arg;
            continue;
        }
        if (c == CS_CLI_OPT_ERROR || cs_cli_gov_opt(verb, &conn, c, arg) <= 0)
            return CS_EXIT_USAGE;
    }
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    char default_key[PATH_MAX];
    if (enc_key == NULL && conn.workspace != NULL && conn.as != NULL) {
        snprintf(default_key, sizeof default_key, "%s/%s_enc_privk.pem", conn.workspace, conn.as);
        enc_key = default_key;
    }
    if (enc_key == NULL)
        return cs_cli_usage_error(verb, "--encryption-key is required (the member's encryption "
                                        "private key)");
    int code = cs_cli_gov_opts_check(verb, &conn, CS_CLI_GOV_NEED_NODE | CS_CLI_GOV_NEED_MEMBER);
    if (code != CS_EXIT_OK)
        return code;
    cs_cli_gov_session s;
    cs_buf request;
    cs_buf_init(&request, CS_GOV_REQUEST_MAX);
    consort_err rc = cs_cli_gov_session_open(&conn, CS_CLI_GOV_NEED_NODE, &s);
    if (rc == CONSORT_OK)
        rc = build_request(&s, enc_key, share_file, &request);
    code = rc == CONSORT_OK ? cs_cli_gov_exchange(verb, &s, "POST", "/gov/recovery/share",
                                                  cs_buf_slice(&request))
                            : cs_cli_fail(verb, rc);
    cs_buf_cleanup(&request);
    cs_cli_gov_session_close(&s);
    return code;
}

static int run_status(int argc, char **argv)
{
    const cs_cli_verb *verb = &cs_cmd_recovery_status;
    cs_cli_gov_opts conn = {0};
    bool started = false;
    const char *arg;
    for (int c; (c = cs_cli_next_opt(verb, argc, argv, options, &started, &arg)) != CS_CLI_OPT_END;)
        if (c == CS_CLI_OPT_ERROR || c == OPT_ENC_KEY || c == OPT_SHARE ||
            cs_cli_gov_opt(verb, &conn, c, arg) <= 0)
            return c == OPT_ENC_KEY || c == OPT_SHARE
                       ? cs_cli_usage_error(verb, "--%s is for submit-share",
                                            c == OPT_ENC_KEY ? "encryption-key" : "share")
                       : CS_EXIT_USAGE;
    if (optind < argc)
        return cs_cli_usage_error(verb, "unexpected argument '%s'", argv[optind]);
    int code = cs_cli_gov_opts_check(verb, &conn, CS_CLI_GOV_NEED_NODE);
    if (code != CS_EXIT_OK)
        return code;
    cs_cli_gov_session s;
    consort_err rc = cs_cli_gov_session_open(&conn, CS_CLI_GOV_NEED_NODE, &s);
    code = rc == CONSORT_OK ? cs_cli_gov_exchange(verb, &s, "GET", "/gov/recovery", CS_SLICE_EMPTY)
                            : cs_cli_fail(verb, rc);
    cs_cli_gov_session_close(&s);
    return code;
}
