/* Running a helper program and capturing what it prints (cli_run.h). */
#include "cli_run.h"

#include "base/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

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
static consort_err drain(int fds[2], cs_buf *outs[2], pid_t pid, uint32_t timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    consort_err rc = CONSORT_OK;
    while (rc == CONSORT_OK && (fds[0] >= 0 || fds[1] >= 0)) {
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            rc = cs_fail(CONSORT_E_IO, "no answer in %u s", timeout_ms / 1000);
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
                rc = cs_fail(CONSORT_E_IO, "more than %zu bytes of output", outs[i]->max);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

/* The last non-empty line of `text` (for an error message). */
void cs_cli_last_line(const cs_buf *text, char *out, size_t n)
{
    size_t end = text->len;
    while (end > 0 && (text->ptr[end - 1] == '\n' || text->ptr[end - 1] == '\r'))
        end--;
    size_t start = end;
    while (start > 0 && text->ptr[start - 1] != '\n')
        start--;
    snprintf(out, n, "%.*s", (int)(end - start), (const char *)text->ptr + start);
}

consort_err cs_cli_run(char *const argv[], char *const envp[], uint32_t timeout_ms, cs_buf *out,
                       cs_buf *err, int *status)
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
        exec_child(argv, envp != NULL ? envp : environ, po[1], pe[1]);
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
    consort_err rc = drain(fds, outs, pid, timeout_ms);
    pid_t r;
    do {
        r = waitpid(pid, status, 0);
    } while (r < 0 && errno == EINTR);
    return rc;
}
