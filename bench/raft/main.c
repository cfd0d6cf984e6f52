/*
 * bench_raft (built by `make bench`): commits/s of 3 voters on loopback,
 * 128-byte entries, 256 in flight, libraft's own TCP transport (the ceiling,
 * DESIGN.md "Performance model": about 41,000/s) against consort's stream
 * transport over plain TCP streams, measured in the same run, alternating.
 *
 * Usage: bench_raft [seconds per trial (5)] [rounds (2)] [in flight (256)] [entry bytes (128)]
 *                   [both|bare|consort (both)]
 * BENCH_RAFT_DIR chooses where the data directories go (default /tmp).
 * Exits 0 even when slower than the ceiling (1 only if a node cannot start).
 */
#include "bench_raft.h"

#include "base/log.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DESIGN_CEILING 41000.0

void bench_fill_entry(uint8_t *p, size_t len, uint64_t seq)
{
    memset(p, 0x5a, len);
    for (size_t k = 0; k < 8 && k < len; k++)
        p[k] = (uint8_t)(seq >> (56 - 8 * k));
}

void bench_fail(bench_shared *sh, const char *what, const char *detail)
{
    fprintf(stderr, "bench_raft: %s: %s\n", what, detail != NULL ? detail : "");
    atomic_store(&sh->errors, 1);
    atomic_store(&sh->stop, 1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A port the kernel just handed out (and took back). */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("bench_raft: free port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

typedef struct trial {
    double rate;
    double cpu_us; /* process CPU time (user + sys, all threads) per commit */
    uint64_t failures;
} trial;

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* One trial: start 3 voters, wait for steady state, count commits. */
static int run(void *(*body)(void *), double seconds, unsigned in_flight, size_t entry_len,
               trial *out)
{
    static bench_shared sh;
    bench_node nodes[BENCH_NODES];
    memset(&sh, 0, sizeof sh);
    sh.entry_len = entry_len;
    sh.in_flight = in_flight;
    const char *base = getenv("BENCH_RAFT_DIR");
    snprintf(sh.root, sizeof sh.root, "%s/bench-raft-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(sh.root) == NULL) {
        perror("bench_raft: mkdtemp");
        return 1;
    }
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        snprintf(sh.address[i], sizeof sh.address[i], "127.0.0.1:%u", free_port());
        nodes[i] = (bench_node){.idx = i, .id = i + 1, .sh = &sh};
        snprintf(nodes[i].dir, sizeof nodes[i].dir, "%s/n%u", sh.root, i + 1);
        mkdir(nodes[i].dir, 0700);
    }
    for (unsigned i = 0; i < BENCH_NODES; i++)
        pthread_create(&nodes[i].thread, NULL, body, &nodes[i]);
    /* Election (default timeout 1 s) and warm-up. */
    double t_start = now();
    while (atomic_load(&sh.commits) < 10000 && now() - t_start < 15 && !atomic_load(&sh.errors))
        sleep_s(0.05);
    uint64_t c0 = atomic_load(&sh.commits);
    uint64_t f0 = atomic_load(&sh.failures);
    double t0 = now();
    double cpu0 = cpu_seconds();
    sleep_s(seconds);
    uint64_t c1 = atomic_load(&sh.commits);
    double t1 = now();
    double cpu1 = cpu_seconds();
    out->failures = atomic_load(&sh.failures) - f0;
    atomic_store(&sh.stop, 1);
    for (unsigned i = 0; i < BENCH_NODES; i++)
        pthread_join(nodes[i].thread, NULL);
    nftw(sh.root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    out->rate = (double)(c1 - c0) / (t1 - t0);
    out->cpu_us = c1 > c0 ? (cpu1 - cpu0) * 1e6 / (double)(c1 - c0) : 0;
    return atomic_load(&sh.errors);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    int rounds = argc > 2 ? atoi(argv[2]) : 2;
    unsigned in_flight = argc > 3 ? (unsigned)atoi(argv[3]) : 256;
    size_t entry_len = argc > 4 ? (size_t)atoi(argv[4]) : 128;
    const char *which = argc > 5 ? argv[5] : "both";
    bool do_bare = strcmp(which, "consort") != 0;
    bool do_consort = strcmp(which, "bare") != 0;
    if (seconds <= 0 || rounds < 1 || in_flight < 1 || entry_len < 8) {
        fprintf(stderr, "usage: bench_raft [seconds] [rounds] [in-flight] [entry-bytes]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    cs_log_set_level(CS_LOG_WARN); /* connection churn at shutdown is expected */
    printf("bench_raft: 3 voters on 127.0.0.1, one thread + loop each, %zu-byte entries, "
           "%u in flight, %.1f s per trial, %d rounds (bare and consort alternating)\n\n",
           entry_len, in_flight, seconds, rounds);
    printf("%-7s %-42s %11s %13s %9s\n", "round", "transport", "commits/s", "cpu us/commit",
           "failures");
    double best_bare = 0, best_consort = 0, cpu_bare = 0, cpu_consort = 0;
    for (int r = 1; r <= rounds; r++) {
        trial t;
        if (do_bare) {
            if (run(bench_bare_node, seconds, in_flight, entry_len, &t) != 0)
                return 1;
            printf("%-7d %-42s %11.0f %13.1f %9llu\n", r, "bare libraft (raft_uv_tcp)", t.rate,
                   t.cpu_us, (unsigned long long)t.failures);
            best_bare = t.rate > best_bare ? t.rate : best_bare;
            cpu_bare = cpu_bare == 0 || t.cpu_us < cpu_bare ? t.cpu_us : cpu_bare;
        }
        if (do_consort) {
            if (run(bench_consort_node, seconds, in_flight, entry_len, &t) != 0)
                return 1;
            printf("%-7d %-42s %11.0f %13.1f %9llu\n", r, "consort (stream transport over cs_tcp)",
                   t.rate, t.cpu_us, (unsigned long long)t.failures);
            best_consort = t.rate > best_consort ? t.rate : best_consort;
            cpu_consort = cpu_consort == 0 || t.cpu_us < cpu_consort ? t.cpu_us : cpu_consort;
        }
        fflush(stdout);
    }
    if (best_bare > 0 && best_consort > 0)
        printf("\nbest: bare %.0f/s, consort %.0f/s = %.2f of bare in this run; "
               "DESIGN.md ceiling %.0f/s (consort = %.2f of it)\n",
               best_bare, best_consort, best_consort / best_bare, DESIGN_CEILING,
               best_consort / DESIGN_CEILING);
    else
        printf("\nbest: %s %.0f/s\n", best_bare > 0 ? "bare" : "consort",
               best_bare > 0 ? best_bare : best_consort);
    if (cpu_bare > 0 && cpu_consort > 0)
        printf("least CPU per commit (all 3 voters): bare %.1f us, consort %.1f us (%+.0f%%)\n",
               cpu_bare, cpu_consort, (cpu_consort / cpu_bare - 1) * 100);
    return 0;
}
