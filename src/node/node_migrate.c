/*
 * The steps of a node's migration (node_migrate.h): the node's code,
 * platform and sealed store, opened as a starting node opens them, and
 * src/sealing/migrate.h doing the protocol.
 */
#include "node/node_migrate.h"

#include "attest/policy.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"
#include "node/node_code.h"
#include "node/node_seal.h"
#include "sealing/migrate.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MIGRATE_LOG "migrate"
#define NONCE_LEN   32
#define MESSAGE_MAX ((size_t)4 << 20)
#define MIGRATE_DIR "migrate"
#define NONCE_FILE  "nonce"

/* What every step opens. */
typedef struct migrate_env {
    cs_node_config cfg;
    cs_node_code *code;
    node_platform *platform;
    cs_anchor *anchor;
    cs_sealstore_keys keys;
    char dir[CS_NODE_PATH_MAX + 16]; /* the sealed store's */
    cs_migrate_attestation att;
} migrate_env;

/* ---- attestation (src/sealing/migrate.h callbacks) ---- */

static consort_err attest(void *ctx, const cs_key *key, cs_slice nonce, cs_buf *out)
{
    migrate_env *e = ctx;
    cs_evidence ev;
    cs_evidence_init(&ev);
    consort_err rc = node_platform_attest(e->platform, key, nonce, &ev);
    if (rc == CONSORT_OK)
        rc = cs_evidence_encode(&ev, out);
    cs_evidence_cleanup(&ev);
    return rc;
}

/* Genuine evidence of this platform kind under the platform's anchors (the
 * machines its operator enrolled), not debug unless the configuration
 * allows it, binding `key` and `nonce`. The code id is the store's to
 * judge (its own, or an approved successor). */
static consort_err verify(void *ctx, cs_slice evidence, const cs_key *key, cs_slice nonce,
                          uint8_t code_id_out[32])
{
    migrate_env *e = ctx;
    cs_evidence ev;
    cs_evidence_init(&ev);
    cs_claims claims;
    const cs_verify_opts o = {.now = (int64_t)time(NULL),
                              .anchors = node_platform_file_anchors(e->platform)};
    consort_err rc;
    CS_TRY_GOTO(rc, cs_evidence_decode(evidence, &ev), done);
    CS_TRY_GOTO(rc, cs_evidence_verify(&ev, &o, &claims), done);
    CS_TRY_GOTO(rc, cs_policy_check(node_platform_join_policy(e->platform), &claims), done);
    CS_TRY_GOTO(rc, cs_claims_check_binding(&claims, key, nonce), done);
    memcpy(code_id_out, claims.code_id, 32);
done:
    cs_evidence_cleanup(&ev);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "the other side's evidence");
}

/* ---- the environment ---- */

static void env_cleanup(migrate_env *e)
{
    cs_anchor_free(e->anchor);
    node_platform_free(e->platform);
    cs_node_code_free(e->code);
    cs_wipe(&e->keys, sizeof e->keys);
}

static consort_err env_open(migrate_env *e, const char *config)
{
    CS_TRY(cs_node_config_load(config, &e->cfg));
    CS_TRY_CTX(cs_mkdir_p(e->cfg.data_dir, 0700), "data_dir %s", e->cfg.data_dir);
    CS_TRY(cs_node_code_measure(&e->cfg, &e->code));
    CS_TRY(node_platform_open(&e->cfg, e->code, "(migrate)", &e->platform));
    node_seal_keys(e->platform, cs_node_code_id(e->code), &e->keys);
    CS_TRY(node_seal_anchor_open(&e->cfg, &e->anchor));
    CS_TRY(node_seal_dir(&e->cfg, e->dir, sizeof e->dir));
    e->att = (cs_migrate_attestation){.attest = attest, .verify = verify, .ctx = e};
    return CONSORT_OK;
}

static consort_err nonce_path(const migrate_env *e, char *out, size_t n)
{
    char dir[CS_NODE_PATH_MAX + 16];
    CS_TRY(cs_path_join(dir, sizeof dir, e->cfg.data_dir, MIGRATE_DIR));
    CS_TRY(cs_mkdir_p(dir, 0700));
    return cs_path_join(out, n, dir, NONCE_FILE);
}

static consort_err read_message(const char *path, cs_buf *out)
{
    CS_ENSURE(path != NULL, CONSORT_E_USAGE, "this step reads a message: give its file");
    return cs_file_read(path, out);
}

static consort_err write_message(const char *path, const cs_buf *msg)
{
    CS_ENSURE(path != NULL, CONSORT_E_USAGE, "this step writes a message: give its file");
    return cs_file_write_atomic(path, cs_buf_slice(msg), 0600);
}

/* ---- the steps ---- */

static consort_err step_status(migrate_env *e)
{
    cs_sealstore *s = NULL;
    consort_err rc = cs_sealstore_open(e->dir, &e->keys, e->anchor, &s);
    char state[16] = "none", inst[33] = "", peer[33] = "", code[65];
    if (rc == CONSORT_E_NOT_FOUND) {
        cs_err_clear();
        rc = CONSORT_OK;
    } else if (rc == CONSORT_OK) {
        /* status names are lower case (docs/migration.md §4's LIVE is "live") */
        snprintf(state, sizeof state, "%s", cs_sealstore_state_name(cs_sealstore_state_of(s)));
        for (char *c = state; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        cs_hex_encode(CS_SLICE(cs_sealstore_instance_id(s), CS_SEALSTORE_ID_LEN), inst);
        if (cs_sealstore_peer_id(s) != NULL)
            cs_hex_encode(CS_SLICE(cs_sealstore_peer_id(s), CS_SEALSTORE_ID_LEN), peer);
    }
    cs_sealstore_free(s);
    CS_TRY(rc);
    cs_hex_encode(CS_SLICE(cs_node_code_id(e->code), 32), code);
    uint64_t value = 0;
    CS_TRY(cs_anchor_read(e->anchor, &value));
    json_t *doc =
        json_pack("{s:s, s:s?, s:s?, s:s, s:{s:s, s:I, s:b}, s:s}", "state", state, "instance",
                  inst[0] != '\0' ? inst : NULL, "peer", peer[0] != '\0' ? peer : NULL, "code_id",
                  code, "anchor", "name", cs_anchor_name(e->anchor), "value", (json_int_t)value,
                  "secure", cs_anchor_is_secure(e->anchor), "data_dir", e->cfg.data_dir);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "status");
    printf("%s\n", text);
    free(text);
    return CONSORT_OK;
}

static consort_err step_nonce(migrate_env *e, const char *out)
{
    uint8_t nonce[NONCE_LEN];
    char path[CS_NODE_PATH_MAX + 32];
    CS_TRY(cs_random(nonce, sizeof nonce));
    CS_TRY(nonce_path(e, path, sizeof path));
    CS_TRY(cs_file_write_atomic(path, CS_SLICE(nonce, sizeof nonce), 0600));
    CS_ENSURE(out != NULL, CONSORT_E_USAGE, "nonce: give the file to write it to");
    return cs_file_write_atomic(out, CS_SLICE(nonce, sizeof nonce), 0600);
}

static consort_err step_offer(migrate_env *e, const char *in, const char *out)
{
    cs_buf nonce, offer;
    cs_buf_init(&nonce, NONCE_LEN);
    cs_buf_init(&offer, MESSAGE_MAX);
    consort_err rc;
    CS_TRY_GOTO(rc, read_message(in, &nonce), done);
    CS_TRY_GOTO(
        rc,
        cs_migrate_dest_begin(e->dir, &e->keys, e->anchor, &e->att, cs_buf_slice(&nonce), &offer),
        done);
    rc = write_message(out, &offer);
done:
    cs_buf_cleanup(&nonce);
    cs_buf_cleanup(&offer);
    return rc;
}

static consort_err step_answer(migrate_env *e, const char *in, const char *out)
{
    char path[CS_NODE_PATH_MAX + 32];
    cs_buf offer, nonce, answer;
    cs_buf_init(&offer, MESSAGE_MAX);
    cs_buf_init(&nonce, NONCE_LEN);
    cs_buf_init(&answer, MESSAGE_MAX);
    cs_sealstore *s = NULL;
    cs_migrate_answer kind = CS_MIGRATE_PACKAGE;
    consort_err rc;
    CS_TRY_GOTO(rc, read_message(in, &offer), done);
    CS_TRY_GOTO(rc, nonce_path(e, path, sizeof path), done);
    CS_TRY_GOTO(rc, cs_file_read(path, &nonce), done);
    CS_TRY_GOTO(rc, cs_sealstore_open(e->dir, &e->keys, e->anchor, &s), done);
    CS_TRY_GOTO(rc,
                cs_sealstore_answer_offer(s, cs_buf_slice(&offer), cs_buf_slice(&nonce), &e->att,
                                          &answer, &kind),
                done);
    CS_TRY_GOTO(rc, write_message(out, &answer), done);
    printf("%s\n", kind == CS_MIGRATE_DONE ? "done" : "package");
done:
    cs_sealstore_free(s);
    cs_buf_cleanup(&offer);
    cs_buf_cleanup(&nonce);
    cs_buf_cleanup(&answer);
    return rc;
}

static consort_err step_accept(migrate_env *e, const char *in, const char *out)
{
    cs_buf package, confirm;
    cs_buf_init(&package, MESSAGE_MAX);
    cs_buf_init(&confirm, MESSAGE_MAX);
    cs_sealstore *s = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, read_message(in, &package), done);
    CS_TRY_GOTO(rc,
                cs_migrate_dest_accept(e->dir, &e->keys, e->anchor, &e->att, cs_buf_slice(&package),
                                       &s, &confirm),
                done);
    rc = write_message(out, &confirm);
done:
    cs_sealstore_free(s);
    cs_buf_cleanup(&package);
    cs_buf_cleanup(&confirm);
    return rc;
}

static consort_err step_confirm(migrate_env *e, const char *in, const char *out)
{
    cs_buf confirm, done_msg;
    cs_buf_init(&confirm, MESSAGE_MAX);
    cs_buf_init(&done_msg, MESSAGE_MAX);
    cs_sealstore *s = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, read_message(in, &confirm), done);
    CS_TRY_GOTO(rc, cs_sealstore_open(e->dir, &e->keys, e->anchor, &s), done);
    CS_TRY_GOTO(rc, cs_sealstore_answer_confirm(s, cs_buf_slice(&confirm), &done_msg), done);
    rc = write_message(out, &done_msg);
done:
    cs_sealstore_free(s);
    cs_buf_cleanup(&confirm);
    cs_buf_cleanup(&done_msg);
    return rc;
}

static consort_err step_finish(migrate_env *e, const char *in)
{
    cs_buf done_msg;
    cs_buf_init(&done_msg, MESSAGE_MAX);
    cs_sealstore *s = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, read_message(in, &done_msg), done);
    CS_TRY_GOTO(rc, cs_sealstore_open(e->dir, &e->keys, e->anchor, &s), done);
    rc = cs_sealstore_finish(s, cs_buf_slice(&done_msg));
done:
    cs_sealstore_free(s);
    cs_buf_cleanup(&done_msg);
    return rc;
}

int cs_node_migrate_main(const char *config, const char *step, const char *in, const char *out)
{
    static const char *const steps[] = {"status", "nonce",   "offer", "answer",
                                        "accept", "confirm", "finish"};
    size_t which = sizeof steps / sizeof *steps;
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        if (strcmp(step, steps[i]) == 0)
            which = i;
    if (which == sizeof steps / sizeof *steps) {
        cs_log_error(MIGRATE_LOG,
                     "--migrate %s: not a step (status, nonce, offer, answer, "
                     "accept, confirm, finish)",
                     step);
        return 2;
    }
    /* Tests (tests/integration/test_migration.py): CONSORT_TEST_CRASH=STEP:N
     * makes this step die before its N-th durable write (0 = the first), as
     * a kill -9 would: nothing after it reaches the disk. */
    const char *crash = getenv("CONSORT_TEST_CRASH");
    size_t len = strlen(step);
    bool crash_here = crash != NULL && strncmp(crash, step, len) == 0 && crash[len] == ':';
    if (crash_here)
        cs_sealstore_test_crash_at(strtol(crash + len + 1, NULL, 10));
    migrate_env e;
    memset(&e, 0, sizeof e);
    consort_err rc = env_open(&e, config);
    if (rc == CONSORT_OK) {
        switch (which) {
        case 0:
            rc = step_status(&e);
            break;
        case 1:
            rc = step_nonce(&e, in);
            break;
        case 2:
            rc = step_offer(&e, in, out);
            break;
        case 3:
            rc = step_answer(&e, in, out);
            break;
        case 4:
            rc = step_accept(&e, in, out);
            break;
        case 5:
            rc = step_confirm(&e, in, out);
            break;
        default:
            rc = step_finish(&e, in);
            break;
        }
    }
    if (rc != CONSORT_OK && crash_here && strstr(consort_errmsg(), "injected crash") != NULL) {
        cs_log_error(MIGRATE_LOG, "%s: %s: dying here (CONSORT_TEST_CRASH)", step,
                     consort_errmsg());
        _exit(137);
    }
    if (rc != CONSORT_OK)
        cs_log_error(MIGRATE_LOG, "%s: %s (%s)", step, consort_errmsg(), consort_err_name(rc));
    fflush(stdout);
    env_cleanup(&e);
    return rc == CONSORT_OK ? 0 : rc == CONSORT_E_USAGE ? 2 : 1;
}
