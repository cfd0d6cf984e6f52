/* Asking consortd for a code id (cli_code_id.h). */
#include "cli_code_id.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "base/file.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Set in the environment of the process asked: a program that is not consortd
 * and asks again (a test pointing the sandbox at itself) fails at once instead
 * of recursing. */
#define QUERY_ENV "CONSORT_CODE_ID_QUERY"

/* In the child, between fork and exec: only async-signal-safe calls. */
static void exec_child(char *const argv[], char *const envp[], int out_fd, int err_fd)
{
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0)
        _exit(126);
    signal(SIGPIPE, SIG_DFL);
    execve(argv[0], argv, envp);
    static const char msg[] = "exec failed\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads both pipes to their ends (bounded in bytes and time); closes them. */
static consort_err drain(int fds[2], cs_buf *outs[2], pid_t pid)
{
    int64_t deadline = now_ms() + CS_CLI_CODE_ID_TIMEOUT_MS;
    consort_err rc = CONSORT_OK;
    while (rc == CONSORT_OK && (fds[0] >= 0 || fds[1] >= 0)) {
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            rc = cs_fail(CONSORT_E_IO, "no answer in %d s", CS_CLI_CODE_ID_TIMEOUT_MS / 1000);
            break;
        }
        int n = poll(p, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cs_fail(CONSORT_E_IO, "poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < 2 && rc == CONSORT_OK; i++) {
            if (fds[i] < 0 || p[i].revents == 0)
                continue;
            uint8_t chunk[4096];
            ssize_t got = read(fds[i], chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                close(fds[i]);
                fds[i] = -1;
            } else if (cs_buf_append(outs[i], chunk, (size_t)got) != CONSORT_OK) {
                kill(pid, SIGKILL);
                rc = cs_fail(CONSORT_E_IO, "more than %d bytes of output",
                             CS_CLI_CODE_ID_OUTPUT_MAX);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

/* The last non-empty line of `text` (for an error message). */
static void last_line(const cs_buf *text, char *out, size_t n)
{
    size_t end = text->len;
    while (end > 0 && (text->ptr[end - 1] == '\n' || text->ptr[end - 1] == '\r'))
        end--;
    size_t start = end;
    while (start > 0 && text->ptr[start - 1] != '\n')
        start--;
    snprintf(out, n, "%.*s", (int)(end - start), (const char *)text->ptr + start);
}

static consort_err run(char *const argv[], char *const envp[], cs_buf *out, cs_buf *err,
                       int *status)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    CS_ENSURE(pipe2(po, O_CLOEXEC) == 0, CONSORT_E_IO, "pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) != 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return cs_fail(CONSORT_E_IO, "pipe: %s", strerror(e));
    }
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, envp, po[1], pe[1]);
    int saved = errno;
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return cs_fail(CONSORT_E_IO, "fork: %s", strerror(saved));
    }
    int fds[2] = {po[0], pe[0]};
    cs_buf *outs[2] = {out, err};
    consort_err rc = drain(fds, outs, pid);
    pid_t r;
    do {
        r = waitpid(pid, status, 0);
    } while (r < 0 && errno == EINTR);
    return rc;
}

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
    consort_err rc = run(argv, envp, &so, &se, &status);
    cs_free(envp);
    char why[512];
    last_line(&se, why, sizeof why);
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
