/*
 * `consort sandbox --background` (sandbox.h): the sandbox runs on in a child
 * process; the command returns once the service is READY, with every
 * message the sandbox printed until then, or with its failure.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

/* Writes one line of the child's to stdout (READY) or stderr (the rest). */
static void relay_line(const char *line, size_t len, bool *ready)
{
    bool is_ready = len >= 6 && memcmp(line, "READY ", 6) == 0;
    FILE *out = is_ready ? stdout : stderr;
    fwrite(line, 1, len, out);
    fflush(out);
    *ready |= is_ready;
}

static int relay(int fd, pid_t child)
{
    char buf[LINE_MAX_BYTES];
    size_t have = 0;
    bool ready = false;
    for (;;) {
        ssize_t got = read(fd, buf + have, sizeof buf - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
        size_t start = 0;
        for (size_t i = 0; i < have; i++)
            if (buf[i] == '\n') {
                relay_line(buf + start, i + 1 - start, &ready);
                start = i + 1;
            }
        if (start == 0 && have == sizeof buf) { /* a very long line: pass it on as it is */
            relay_line(buf, have, &ready);
            have = 0;
        } else {
            memmove(buf, buf + start, have - start);
            have -= start;
        }
    }
    if (have > 0)
        relay_line(buf, have, &ready);
    close(fd);
    if (ready)
        return 0;
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1;
}

consort_err cs_sbx_background_start(bool *child, int *exit_code)
{
    int fds[2];
    CS_ENSURE(pipe(fds) == 0, CONSORT_E_IO, "--background: pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        return cs_fail(CONSORT_E_IO, "--background: fork: %s", strerror(saved));
    }
    if (pid > 0) {
        close(fds[1]);
        *child = false;
        *exit_code = relay(fds[0], pid);
        return CONSORT_OK;
    }
    close(fds[0]);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) {
        (void)dup2(devnull, STDIN_FILENO);
        close(devnull);
    }
    (void)dup2(fds[1], STDOUT_FILENO);
    (void)dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    *child = true;
    *exit_code = 0;
    return CONSORT_OK;
}

void cs_sbx_background_detach(const char *workspace, const char *entry)
{
    char path[CS_SBX_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/sandbox.log", workspace);
    fprintf(stderr,
            "consort sandbox: runs in the background (pid %d); its messages go to %s;\n"
            "  `consort sandbox stop --workspace %s` stops it\n",
            (int)getpid(), path, entry);
    fflush(stdout);
    fflush(stderr);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)dup2(fd, STDOUT_FILENO);
        (void)dup2(fd, STDERR_FILENO);
        close(fd);
    }
    (void)setsid(); /* no longer in the terminal's job: its signals are not for us */
}
