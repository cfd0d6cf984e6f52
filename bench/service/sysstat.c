/*
 * CPU accounting for one measured window, from the kernel's counters:
 *   this process   getrusage(RUSAGE_SELF): user + system;
 *   the servers    /proc/<pid>/stat fields 14 and 15 (utime, stime, in
 *                  clock ticks; all threads of the process), proc(5);
 *   the machine    the "cpu" line of /proc/stat: user nice system idle
 *                  iowait irq softirq steal (clock ticks), proc(5);
 *                  busy = everything but idle and iowait.
 * On a shared machine these say who used the cores during the window.
 */
#include "svcbench.h"

#include "base/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define PROC_FILE_MAX ((size_t)64 << 10)

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* The file as a NUL-terminated string in `b`. */
static consort_err read_text(const char *path, cs_buf *b)
{
    CS_TRY(cs_file_read(path, b));
    return cs_buf_append_u8(b, 0);
}

/* utime + stime of `pid` in ticks; the command name (field 2) may contain
 * spaces and parentheses, so fields are counted after its last ')'. */
static bool pid_ticks(pid_t pid, unsigned long long *ticks)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    cs_buf b;
    cs_buf_init(&b, PROC_FILE_MAX);
    bool ok = false;
    if (read_text(path, &b) == CONSORT_OK) {
        const char *p = strrchr((const char *)b.ptr, ')');
        /* the space after ')' precedes field 3 (state); stop before field 14 */
        for (int field = 2; p != NULL && field < 14; field++)
            p = strchr(p + 1, ' ');
        if (p != NULL) {
            char *end;
            unsigned long long ut = strtoull(p + 1, &end, 10);
            unsigned long long st = strtoull(end, &end, 10);
            *ticks = ut + st;
            ok = end != p + 1;
        }
    }
    cs_buf_cleanup(&b);
    return ok;
}

static void machine_ticks(double *busy, double *total)
{
    *busy = *total = 0;
    cs_buf b;
    cs_buf_init(&b, PROC_FILE_MAX);
    if (read_text("/proc/stat", &b) == CONSORT_OK && strncmp((const char *)b.ptr, "cpu ", 4) == 0) {
        const char *p = (const char *)b.ptr + 4;
        for (int i = 0; i < 8; i++) {
            char *end;
            double v = (double)strtoull(p, &end, 10);
            if (end == p)
                break;
            p = end;
            *total += v;
            if (i != 3 && i != 4) /* idle, iowait */
                *busy += v;
        }
    }
    cs_buf_cleanup(&b);
}

void svc_cpu_sample(const pid_t *pids, size_t pid_count, svc_cpu *out)
{
    double tick = (double)sysconf(_SC_CLK_TCK);
    if (tick <= 0)
        tick = 100;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    out->self_s = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
    out->servers_s = 0;
    out->servers_ok = pid_count > 0;
    for (size_t i = 0; i < pid_count; i++) {
        unsigned long long t = 0;
        if (pid_ticks(pids[i], &t))
            out->servers_s += (double)t / tick;
        else
            out->servers_ok = false;
    }
    double busy, total;
    machine_ticks(&busy, &total);
    out->busy_s = busy / tick;
    out->total_s = total / tick;
}
