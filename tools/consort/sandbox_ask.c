/*
 * The client side of a running sandbox's requests (sandbox.h "DIR/requests/"):
 * a request is a JSON file the sandbox picks up between its other work; it
 * answers in a file next to it. Used by `consort sandbox add-node`, `kill`
 * and `restart`.
 */
#include "sandbox.h"

#include "base/file.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool cs_sbx_process_running(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    return close_paren != NULL && close_paren[1] == ' ' && close_paren[2] != 'Z' &&
           close_paren[2] != 'X';
}

/* NOT_FOUND if DIR/sandbox.pid names a sandbox that is gone. */
static consort_err check_alive(const char *ws)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sandbox.pid", ws);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return CONSORT_OK; /* an older sandbox, or a service inside --sample composed */
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    CS_ENSURE(got != 1 || pid <= 0 || cs_sbx_process_running((pid_t)pid), CONSORT_E_NOT_FOUND,
              "the sandbox of %s (pid %ld) is not running", ws, pid);
    return CONSORT_OK;
}

consort_err cs_sbx_ask(const char *ws, const char *what, const json_t *req, uint32_t wait_s,
                       cs_buf *answer)
{
    char dir[PATH_MAX], base[PATH_MAX + 96], path[PATH_MAX + 128], tmp[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/nodes.json", ws);
    CS_ENSURE(cs_file_exists(path), CONSORT_E_NOT_FOUND,
              "%s is not the workspace of a running sandbox (no nodes.json)", ws);
    snprintf(dir, sizeof dir, "%s/requests", ws);
    CS_TRY(check_alive(ws));
    CS_TRY(cs_mkdir_p(dir, 0700));
    snprintf(base, sizeof base, "%s/%s-%ld-%d", dir, what, (long)time(NULL), (int)getpid());
    char *text = json_dumps(req, JSON_COMPACT);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "the request");
    snprintf(tmp, sizeof tmp, "%s.tmp", base);
    snprintf(path, sizeof path, "%s.request", base);
    consort_err rc = cs_file_write_atomic(tmp, cs_slice_str(text), 0600);
    free(text);
    CS_TRY(rc);
    CS_ENSURE(rename(tmp, path) == 0, CONSORT_E_IO, "%s: cannot publish the request", path);
    snprintf(path, sizeof path, "%s.answer", base);
    time_t deadline = time(NULL) + (time_t)wait_s;
    while (!cs_file_exists(path)) {
        rc = check_alive(ws);
        if (rc != CONSORT_OK || time(NULL) > deadline) {
            snprintf(tmp, sizeof tmp, "%s.request", base);
            (void)unlink(tmp);
            if (rc != CONSORT_OK)
                return rc;
            return cs_fail(CONSORT_E_TIMEOUT,
                           "no answer from the sandbox in %s after %u s: is it running?", ws,
                           wait_s);
        }
        usleep(200 * 1000);
    }
    rc = cs_file_read(path, answer);
    (void)unlink(path);
    return rc;
}

int cs_sbx_print_answer(const char *verb, cs_slice answer)
{
    json_t *doc = json_loadb((const char *)answer.ptr, answer.len, 0, NULL);
    const char *error = json_string_value(json_object_get(doc, "error"));
    int code = 0;
    if (doc == NULL) {
        fprintf(stderr, "consort %s: the sandbox's answer is not JSON\n", verb);
        code = 1;
    } else if (error != NULL) {
        fprintf(stderr, "consort %s: %s\n", verb, error);
        code = 1;
    } else {
        printf("%.*s\n", (int)answer.len, (const char *)answer.ptr);
    }
    json_decref(doc);
    return code;
}
