/*
 * Starts and stops a real swtpm process for tests (swtpm.h).
 */
#include "swtpm.h"

#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_ATTEMPTS 10
#define WAIT_STEPS     200 /* x 25 ms = 5 s for swtpm to listen */

const char *cst_swtpm_binary(void)
{
    static char found[512];
    const char *env = getenv("CONSORT_SWTPM");
    if (env != NULL && env[0] != '\0')
        return access(env, X_OK) == 0 ? env : NULL;
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t len = strcspn(path, ":");
        int n = snprintf(found, sizeof found, "%.*s/swtpm", (int)len, path);
        if (n > 0 && (size_t)n < sizeof found && access(found, X_OK) == 0)
            return found;
        path += len;
        if (*path == ':')
            path++;
    }
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static pid_t spawn(const char *bin, const cst_swtpm *t)
{
    char server[64];
    char ctrl[64];
    char state[160];
    snprintf(server, sizeof server, "type=tcp,port=%d", t->port);
    snprintf(ctrl, sizeof ctrl, "type=tcp,port=%d", t->port + 1);
    snprintf(state, sizeof state, "dir=%s", t->dir);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* child: die with the test, keep the test's output clean */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
    }
    char *const argv[] = {(char *)"swtpm",
                          (char *)"socket",
                          (char *)"--tpm2",
                          (char *)"--server",
                          server,
                          (char *)"--ctrl",
                          ctrl,
                          (char *)"--tpmstate",
                          state,
                          (char *)"--flags",
                          (char *)"not-need-init,startup-clear",
                          NULL};
    execv(bin, argv);
    _exit(127);
}

/* Waits until both ports accept; false if swtpm exited (e.g. a port was taken). */
static bool wait_listening(cst_swtpm *t)
{
    for (int i = 0; i < WAIT_STEPS; i++) {
        int status;
        if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
            t->pid = 0;
            return false;
        }
        if (port_accepts(t->port) && port_accepts(t->port + 1))
            return true;
        sleep_ms(25);
    }
    return false;
}

void cst_swtpm_start(cst_swtpm *t)
{
    memset(t, 0, sizeof *t);
    const char *bin = cst_swtpm_binary();
    if (bin == NULL) {
        cst_skip("swtpm is not installed (scripts/install-deps installs it)");
    }
    snprintf(t->dir, sizeof t->dir, "/tmp/consort-swtpm-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        fail_msg("swtpm: mkdtemp: %s", strerror(errno));
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        t->port = 20000 + 2 * (rand() % 15000); /* even, below 50000 */
        if (port_accepts(t->port) || port_accepts(t->port + 1))
            continue; /* someone is listening there already */
        t->pid = spawn(bin, t);
        if (t->pid < 0)
            fail_msg("swtpm: fork: %s", strerror(errno));
        if (wait_listening(t)) {
            snprintf(t->tcti, sizeof t->tcti, "swtpm:host=127.0.0.1,port=%d", t->port);
            return;
        }
        if (t->pid > 0) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, NULL, 0);
            t->pid = 0;
        }
    }
    cst_swtpm_stop(t);
    fail_msg("swtpm: did not start after %d attempts", START_ATTEMPTS);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

void cst_swtpm_stop(cst_swtpm *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGTERM);
        int status;
        bool gone = false;
        for (int i = 0; i < 80 && !gone; i++) {
            gone = waitpid(t->pid, &status, WNOHANG) == t->pid;
            if (!gone)
                sleep_ms(25);
        }
        if (!gone) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, &status, 0);
        }
        t->pid = 0;
    }
    if (t->dir[0] != '\0') {
        remove_dir(t->dir);
        t->dir[0] = '\0';
    }
}
