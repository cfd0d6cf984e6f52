/*
 * The migration driver (migrate_drive.h, docs/migration.md §5, §7): relays
 * the protocol's messages between a stopped source node and its
 * destination, each step run by that side's consortd (`consortd --config
 * FILE --migrate STEP [IN] [OUT]`), and copies the node's host storage
 * (ledger, raft log, snapshots: everything but the sealed store) once the
 * source is frozen. The driver is the host: it holds no secret, and every
 * message it relays is authenticated by the side that reads it.
 */
#include "migrate_drive.h"

#include "cli_run.h"

#include "base/alloc.h"
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* One step's output, and how long a step may take (a TPM is slow). */
#define STEP_OUTPUT_MAX ((size_t)256 << 10)
#define STEP_TIMEOUT_MS 120000u
/* Directories of the data directory that do not move (the sealed store). */
static const char *const NOT_COPIED[] = {"sealed", "migrate"};

static void say(const cs_migrate_drive *d, const char *fmt, ...) CS_PRINTF(2, 3);
static void say(const cs_migrate_drive *d, const char *fmt, ...)
{
    if (d->progress == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("consort migrate: ", d->progress);
    vfprintf(d->progress, fmt, ap);
    va_end(ap);
    fputc('\n', d->progress);
}

/* Runs `consortd --config CONFIG --migrate STEP [A] [B]`; its stdout into
 * `out` (may be NULL). */
static consort_err step(const cs_migrate_drive *d, const char *config, const char *name,
                        const char *a, const char *b, cs_buf *out)
{
    char *argv[] = {(char *)d->consortd, (char *)"--config", (char *)config, (char *)"--migrate",
                    (char *)name,        (char *)a,          (char *)b,      NULL};
    if (a == NULL)
        argv[5] = NULL;
    else if (b == NULL)
        argv[6] = NULL;
    cs_buf so, se;
    cs_buf_init(&so, STEP_OUTPUT_MAX);
    cs_buf_init(&se, STEP_OUTPUT_MAX);
    int status = 0;
    consort_err rc = cs_cli_run(argv, NULL, STEP_TIMEOUT_MS, &so, &se, &status);
    if (rc == CONSORT_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        char why[512];
        cs_cli_last_line(&se, why, sizeof why);
        rc = cs_fail(CONSORT_E_STATE, "%s: exit status %d%s%s", name,
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                     why[0] != '\0' ? ": " : "", why);
    }
    if (rc == CONSORT_OK && out != NULL)
        rc = cs_buf_set(out, cs_buf_slice(&so));
    cs_buf_cleanup(&so);
    cs_buf_cleanup(&se);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "%s", config);
}

consort_err cs_migrate_status(const cs_migrate_drive *d, const char *config, cs_migrate_side *out)
{
    memset(out, 0, sizeof *out);
    cs_buf text;
    cs_buf_init(&text, STEP_OUTPUT_MAX);
    consort_err rc = step(d, config, "status", NULL, NULL, &text);
    json_t *doc = rc == CONSORT_OK ? json_loadb((const char *)text.ptr, text.len, 0, NULL) : NULL;
    cs_buf_cleanup(&text);
    CS_TRY(rc);
    const char *state = json_string_value(json_object_get(doc, "state"));
    const char *inst = json_string_value(json_object_get(doc, "instance"));
    const char *peer = json_string_value(json_object_get(doc, "peer"));
    const char *dir = json_string_value(json_object_get(doc, "data_dir"));
    if (state == NULL || dir == NULL) {
        json_decref(doc);
        return cs_fail(CONSORT_E_MALFORMED, "%s: `--migrate status` printed no state", config);
    }
    snprintf(out->state, sizeof out->state, "%s", state);
    snprintf(out->instance, sizeof out->instance, "%s", inst != NULL ? inst : "");
    snprintf(out->peer, sizeof out->peer, "%s", peer != NULL ? peer : "");
    snprintf(out->data_dir, sizeof out->data_dir, "%s", dir);
    json_decref(doc);
    return CONSORT_OK;
}

/* ---- copying the host storage ---- */

static bool not_copied(const char *name)
{
    for (size_t i = 0; i < sizeof NOT_COPIED / sizeof *NOT_COPIED; i++)
        if (strcmp(name, NOT_COPIED[i]) == 0)
            return true;
    return false;
}

/* Copies `src` to `dst` through a fixed buffer (a ledger or snapshot file
 * may be larger than memory should hold), durably and atomically: a
 * temporary file, fsync, rename. */
static consort_err copy_file(const char *src, const char *dst, mode_t mode)
{
    char tmp[CS_MIGRATE_PATH_MAX + 8];
    CS_ENSURE(snprintf(tmp, sizeof tmp, "%s.tmp", dst) < (int)sizeof tmp,
              CONSORT_E_INVALID_ARGUMENT, "%s: path too long", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    CS_ENSURE(in >= 0, CONSORT_E_IO, "%s: %s", src, strerror(errno));
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        int e = errno;
        close(in);
        return cs_fail(CONSORT_E_IO, "%s: %s", tmp, strerror(e));
    }
    static uint8_t buf[1 << 20];
    consort_err rc = CONSORT_OK;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                rc = cs_fail(CONSORT_E_IO, "%s: %s", src, strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < n && rc == CONSORT_OK;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                rc = cs_fail(CONSORT_E_IO, "%s: %s", tmp, strerror(errno));
            else
                off += w;
        }
        if (rc != CONSORT_OK)
            break;
    }
    if (rc == CONSORT_OK && fsync(out) != 0)
        rc = cs_fail(CONSORT_E_IO, "%s: %s", tmp, strerror(errno));
    close(in);
    if (close(out) != 0 && rc == CONSORT_OK)
        rc = cs_fail(CONSORT_E_IO, "%s: %s", tmp, strerror(errno));
    if (rc == CONSORT_OK && rename(tmp, dst) != 0)
        rc = cs_fail(CONSORT_E_IO, "%s: %s", dst, strerror(errno));
    if (rc != CONSORT_OK)
        unlink(tmp);
    return rc;
}

/* Copies the tree at `src` into `dst` (regular files and directories; at
 * the top, not the sealed store). Files are replaced whole, so a copy cut
 * short and run again ends the same. */
static consort_err copy_tree(const char *src, const char *dst, int depth)
{
    CS_ENSURE(depth < 8, CONSORT_E_TOO_LARGE, "%s: directories nested too deep", src);
    CS_TRY(cs_mkdir_p(dst, 0700));
    DIR *dir = opendir(src);
    CS_ENSURE(dir != NULL, CONSORT_E_IO, "%s: %s", src, strerror(errno));
    consort_err rc = CONSORT_OK;
    for (struct dirent *e; rc == CONSORT_OK && (e = readdir(dir)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            (depth == 0 && not_copied(e->d_name)))
            continue;
        char from[CS_MIGRATE_PATH_MAX], to[CS_MIGRATE_PATH_MAX];
        rc = cs_path_join(from, sizeof from, src, e->d_name);
        if (rc == CONSORT_OK)
            rc = cs_path_join(to, sizeof to, dst, e->d_name);
        struct stat st;
        if (rc == CONSORT_OK && lstat(from, &st) != 0)
            rc = cs_fail(CONSORT_E_IO, "%s: %s", from, strerror(errno));
        if (rc != CONSORT_OK)
            break;
        if (S_ISDIR(st.st_mode))
            rc = copy_tree(from, to, depth + 1);
        else if (S_ISREG(st.st_mode))
            rc = copy_file(from, to, st.st_mode);
        else
            rc = cs_fail(CONSORT_E_UNSUPPORTED, "%s: neither a file nor a directory", from);
    }
    closedir(dir);
    return rc;
}

/* ---- the protocol ---- */

static consort_err msg_path(const cs_migrate_drive *d, const char *name, char *out, size_t n)
{
    return cs_path_join(out, n, d->work_dir, name);
}

consort_err cs_migrate_run(const cs_migrate_drive *d, cs_migrate_side *src, cs_migrate_side *dst)
{
    CS_TRY_CTX(cs_mkdir_p(d->work_dir, 0700), "work directory %s", d->work_dir);
    CS_TRY(cs_migrate_status(d, d->from, src));
    CS_TRY(cs_migrate_status(d, d->to, dst));
    if (strcmp(dst->state, "live") == 0) {
        say(d, "destination %s is live already: nothing to do", dst->instance);
        return CONSORT_OK;
    }
    CS_ENSURE(strcmp(src->state, "retired") != 0 || strcmp(src->peer, dst->instance) == 0,
              CONSORT_E_STATE,
              "the source's state moved to instance %s already, not to this destination (%s)",
              src->peer, dst->instance[0] != '\0' ? dst->instance : "a new instance");
    CS_ENSURE(strcmp(src->data_dir, dst->data_dir) != 0, CONSORT_E_INVALID_ARGUMENT,
              "source and destination share the data directory %s", src->data_dir);
    char nonce[CS_MIGRATE_PATH_MAX], offer[CS_MIGRATE_PATH_MAX], answer[CS_MIGRATE_PATH_MAX],
        confirm[CS_MIGRATE_PATH_MAX], done[CS_MIGRATE_PATH_MAX];
    CS_TRY(msg_path(d, "nonce.bin", nonce, sizeof nonce));
    CS_TRY(msg_path(d, "offer.cbor", offer, sizeof offer));
    CS_TRY(msg_path(d, "answer.cbor", answer, sizeof answer));
    CS_TRY(msg_path(d, "confirm.cbor", confirm, sizeof confirm));
    CS_TRY(msg_path(d, "done.cbor", done, sizeof done));

    CS_TRY(step(d, d->from, "nonce", nonce, NULL, NULL));
    CS_TRY(step(d, d->to, "offer", nonce, offer, NULL));
    say(d, "offer: the destination attested (%s)", offer);
    cs_buf kind;
    cs_buf_init(&kind, 4096);
    consort_err rc = step(d, d->from, "answer", offer, answer, &kind);
    bool is_done = rc == CONSORT_OK && kind.len >= 4 && memcmp(kind.ptr, "done", 4) == 0;
    cs_buf_cleanup(&kind);
    CS_TRY(rc);
    say(d, "answer: the source is frozen; copying its host storage from %s to %s", src->data_dir,
        dst->data_dir);
    CS_TRY_CTX(copy_tree(src->data_dir, dst->data_dir, 0), "copying %s", src->data_dir);
    if (!is_done) {
        CS_TRY(step(d, d->to, "accept", answer, confirm, NULL));
        say(d, "accept: the destination holds the state, pending (%s)", confirm);
        CS_TRY(step(d, d->from, "confirm", confirm, done, NULL));
        say(d, "confirm: the source is retired");
    } else {
        say(d, "answer: the source was retired to this destination already");
    }
    CS_TRY(step(d, d->to, "finish", is_done ? answer : done, NULL, NULL));
    say(d, "finish: the destination is live");
    CS_TRY(cs_migrate_status(d, d->from, src));
    return cs_migrate_status(d, d->to, dst);
}
