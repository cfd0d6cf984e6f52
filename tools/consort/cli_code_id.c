/* Asking consortd for a code id (cli_code_id.h). */
#include "cli_code_id.h"
#include "cli_run.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/file.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Set in the environment of the process asked: a program that is not consortd
 * and asks again (a test pointing the sandbox at itself) fails at once instead
 * of recursing. */
#define QUERY_ENV "CONSORT_CODE_ID_QUERY"

consort_err cs_cli_code_id_of(const char *consortd, const char *app, cs_platform platform,
                              const char *tcti, uint8_t out[32])
{
    CS_ENSURE(platform == CS_PLATFORM_VIRTUAL || platform == CS_PLATFORM_TPM,
              CONSORT_E_INVALID_ARGUMENT, "code id: platform %s has no consortd code id",
              cs_platform_name(platform));
    CS_ENSURE(getenv(QUERY_ENV) == NULL, CONSORT_E_IO,
              "code id: asked from inside a code id query (%s is set): --consortd names a "
              "program that is not consortd",
              QUERY_ENV);
    char *argv[10];
    int argc = 0;
    argv[argc++] = (char *)consortd;
    argv[argc++] = (char *)"--code-id";
    if (app != NULL) {
        argv[argc++] = (char *)"--app";
        argv[argc++] = (char *)app;
    }
    argv[argc++] = (char *)"--platform";
    argv[argc++] = (char *)cs_platform_name(platform);
    if (tcti != NULL) {
        argv[argc++] = (char *)"--tcti";
        argv[argc++] = (char *)tcti;
    }
    argv[argc] = NULL;

    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **envp = cs_calloc(n + 2, sizeof *envp);
    CS_ENSURE(envp != NULL, CONSORT_E_NOMEM, "code id: out of memory");
    memcpy(envp, environ, n * sizeof *envp);
    envp[n] = (char *)QUERY_ENV "=1";
    cs_buf so, se;
    cs_buf_init(&so, CS_CLI_CODE_ID_OUTPUT_MAX);
    cs_buf_init(&se, CS_CLI_CODE_ID_OUTPUT_MAX);
    int status = 0;
    consort_err rc = cs_cli_run(argv, envp, CS_CLI_CODE_ID_TIMEOUT_MS, &so, &se, &status);
    cs_free(envp);
    char why[512];
    cs_cli_last_line(&se, why, sizeof why);
    if (rc == CONSORT_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = cs_fail(CONSORT_E_IO, "exit status %d%s%s",
                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                     why[0] != '\0' ? ": " : "", why);
    if (rc == CONSORT_OK) {
        char line[2 * 32 + 2] = "";
        bool one_line = so.len == 65 && so.ptr[64] == '\n';
        if (one_line) {
            memcpy(line, so.ptr, 64);
            line[64] = '\0';
        }
        if (!one_line || cs_hex_decode(line, out, 32) != CONSORT_OK)
            rc = cs_fail(CONSORT_E_IO,
                         "it printed %zu bytes, not one line of 64 hex digits "
                         "(is it consortd?)",
                         so.len);
    }
    cs_buf_cleanup(&so);
    cs_buf_cleanup(&se);
    return rc == CONSORT_OK ? rc
                            : cs_err_context(rc, "%s --code-id%s%s --platform %s", consortd,
                                             app != NULL ? " --app " : "", app != NULL ? app : "",
                                             cs_platform_name(platform));
}

consort_err cs_cli_consortd_next_to_us(char *out, size_t n, const char *hint)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CS_ENSURE(len > 0, CONSORT_E_IO, "readlink /proc/self/exe: %s", strerror(errno));
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    CS_ENSURE(slash != NULL, CONSORT_E_IO, "/proc/self/exe is '%s', not a path", exe);
    *slash = '\0';
    int w = snprintf(out, n, "%s/consortd", exe);
    CS_ENSURE(w > 0 && (size_t)w < n, CONSORT_E_INVALID_ARGUMENT, "path too long: %s", exe);
    CS_ENSURE(access(out, X_OK) == 0, CONSORT_E_NOT_FOUND,
              "no consortd next to this program (%s)%s", out, hint);
    return CONSORT_OK;
}

consort_err cs_cli_node_binary(const char *given, char *out, size_t n)
{
    if (given == NULL)
        return cs_cli_consortd_next_to_us(out, n, ": give --node-binary PATH");
    CS_ENSURE(access(given, X_OK) == 0, CONSORT_E_NOT_FOUND, "--node-binary %s: not executable",
              given);
    CS_ENSURE(strlen(given) < n, CONSORT_E_INVALID_ARGUMENT, "--node-binary: path too long");
    memcpy(out, given, strlen(given) + 1);
    return CONSORT_OK;
}
