/*
 * The sandbox's child processes (sandbox.h): consortd nodes and swtpm
 * instances. Plain fork/exec rather than uv_spawn so that each child can ask
 * the kernel for SIGTERM when the sandbox dies (PR_SET_PDEATHSIG): killing
 * the sandbox, even with SIGKILL, stops its service.
 */
#include "sandbox.h"

#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REAP_POLL_MS     50
#define LOG_TAIL_BYTES   8192
#define BOUND_SCAN_BYTES 65536 /* the "bound" line comes before the node does anything */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

consort_err cs_sbx_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a sleep ends at once */
    CS_ENSURE(sigaction(SIGINT, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0, CONSORT_E_IO,
              "sigaction: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    return CONSORT_OK;
}

bool cs_sbx_stop_requested(void)
{
    return stop_signal != 0;
}

void cs_sbx_request_stop(void)
{
    stop_signal = SIGTERM;
}

void cs_sbx_sleep_ms(uint32_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (!cs_sbx_stop_requested() && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void exec_child(char *const argv[], int log_fd, pid_t parent)
{
    /* Restore what the sandbox changed, so the child starts with defaults. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(126); /* the sandbox is already gone */
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0)
        _exit(126);
    execv(argv[0], argv);
    static const char msg[] = "consort sandbox: exec failed\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
}

consort_err cs_sbx_spawn(cs_sbx_proc *p, char *const argv[], const char *log_path)
{
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    CS_ENSURE(log_fd >= 0, cs_errno_code(errno), "%s: log file %s: %s", p->what, log_path,
              strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, log_fd, parent);
    int saved = errno;
    close(log_fd);
    CS_ENSURE(pid > 0, CONSORT_E_IO, "%s: fork: %s", p->what, strerror(saved));
    p->pid = pid;
    p->status = 0;
    return CONSORT_OK;
}

void cs_sbx_describe_exit(const cs_sbx_proc *p, char *out, size_t n)
{
    if (WIFEXITED(p->status))
        snprintf(out, n, "exited with status %d", WEXITSTATUS(p->status));
    else if (WIFSIGNALED(p->status))
        snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(p->status),
                 strsignal(WTERMSIG(p->status)));
    else
        snprintf(out, n, "ended (wait status 0x%x)", (unsigned)p->status);
}

/* Reaps p if it has exited; true if it did (or was never running). */
static bool reap(cs_sbx_proc *p, bool block)
{
    if (p->pid == 0)
        return true;
    int status;
    pid_t r;
    do {
        r = waitpid(p->pid, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR && block);
    if (r == 0 || (r < 0 && errno == EINTR))
        return false;
    p->status = r == p->pid ? status : 0;
    p->pid = 0;
    return true;
}

bool cs_sbx_alive(cs_sbx_proc *p)
{
    if (p->pid == 0)
        return false;
    pid_t pid = p->pid;
    if (!reap(p, false))
        return true;
    char how[96];
    cs_sbx_describe_exit(p, how, sizeof how);
    fprintf(stderr, "consort sandbox: %s (pid %d) %s\n", p->what, (int)pid, how);
    return false;
}

size_t cs_sbx_stop_all(cs_sbx_proc *const *procs, size_t count, uint32_t timeout_ms)
{
    bool stopping[2 * CS_SBX_MAX_NODES] = {false};
    for (size_t i = 0; i < count && i < CS_ARRAY_LEN(stopping); i++) {
        stopping[i] = procs[i]->pid > 0;
        if (stopping[i])
            kill(procs[i]->pid, SIGTERM);
    }
    for (uint32_t waited = 0;; waited += REAP_POLL_MS) {
        bool all_gone = true;
        for (size_t i = 0; i < count; i++)
            all_gone &= reap(procs[i], false);
        if (all_gone || waited >= timeout_ms)
            break;
        struct timespec ts = {0, REAP_POLL_MS * 1000000L};
        nanosleep(&ts, NULL); /* not cs_sbx_sleep_ms: a second Ctrl-C must not skip the wait */
    }
    size_t unclean = 0;
    for (size_t i = 0; i < count; i++) {
        if (procs[i]->pid > 0) {
            fprintf(stderr, "consort sandbox: %s (pid %d) did not stop in %u ms: SIGKILL\n",
                    procs[i]->what, (int)procs[i]->pid, timeout_ms);
            kill(procs[i]->pid, SIGKILL);
            reap(procs[i], true);
        }
        if (i < CS_ARRAY_LEN(stopping) && stopping[i] &&
            !(WIFEXITED(procs[i]->status) && WEXITSTATUS(procs[i]->status) == 0)) {
            char how[96];
            cs_sbx_describe_exit(procs[i], how, sizeof how);
            fprintf(stderr, "consort sandbox: %s %s when stopped\n", procs[i]->what, how);
            unclean++;
        }
    }
    return unclean;
}

consort_err cs_sbx_died(const cs_sbx_proc *p, const char *log_path)
{
    char how[96];
    cs_sbx_describe_exit(p, how, sizeof how);
    cs_sbx_print_log_tail(log_path, 15);
    return cs_fail(CONSORT_E_STATE, "%s %s while starting (log: %s)", p->what, how, log_path);
}

void cs_sbx_print_log_tail(const char *log_path, int lines)
{
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return;
    char buf[LOG_TAIL_BYTES + 1];
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    long start = size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0;
    size_t got = 0;
    if (size >= 0 && fseek(f, start, SEEK_SET) == 0)
        got = fread(buf, 1, LOG_TAIL_BYTES, f);
    fclose(f);
    buf[got] = '\0';
    /* find the start of the last `lines` lines */
    size_t from = got;
    int seen = 0;
    while (from > 0) {
        if (buf[from - 1] == '\n' && from != got && ++seen == lines)
            break;
        from--;
    }
    fprintf(stderr, "  --- last lines of %s ---\n", log_path);
    for (char *line = buf + from; *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        fprintf(stderr, "  | %.*s\n", (int)len, line);
        line += len + (nl ? 1 : 0);
    }
}

/* Parses "consortd: bound rpc_address A node_address B" in text[0..len) into n; true if found. */
static bool parse_bound(const char *text, cs_sbx_node *n)
{
    static const char tag[] = "consortd: bound rpc_address ";
    for (const char *p = strstr(text, tag); p != NULL; p = strstr(p + 1, tag)) {
        char rpc[CS_SBX_ADDR_MAX], node[CS_SBX_ADDR_MAX];
        const char *eol = strchr(p, '\n');
        if (eol == NULL) /* not all written yet */
            return false;
        if (sscanf(p + sizeof tag - 1, "%63s node_address %63s", rpc, node) == 2) {
            snprintf(n->rpc_address, sizeof n->rpc_address, "%s", rpc);
            snprintf(n->node_address, sizeof n->node_address, "%s", node);
            return true;
        }
    }
    return false;
}

consort_err cs_sbx_wait_bound(cs_sbx_node *n, off_t log_start, uint32_t timeout_s)
{
    char text[BOUND_SCAN_BYTES + 1];
    time_t deadline = time(NULL) + (time_t)timeout_s;
    for (;;) {
        int fd = open(n->log_path, O_RDONLY | O_CLOEXEC);
        ssize_t got = fd >= 0 ? pread(fd, text, BOUND_SCAN_BYTES, log_start) : -1;
        if (fd >= 0)
            close(fd);
        text[got > 0 ? got : 0] = '\0';
        if (parse_bound(text, n))
            return CONSORT_OK;
        if (!cs_sbx_alive(&n->proc))
            return cs_sbx_died(&n->proc, n->log_path);
        CS_ENSURE(!cs_sbx_stop_requested(), CONSORT_E_STATE, "stopped while %s was starting",
                  n->name);
        CS_ENSURE(time(NULL) <= deadline, CONSORT_E_TIMEOUT,
                  "%s has not said which ports it bound after %u s (log %s)", n->name, timeout_s,
                  n->log_path);
        cs_sbx_sleep_ms(REAP_POLL_MS);
    }
}
