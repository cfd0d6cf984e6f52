/*
 * How log lines reach stderr (base/log.h): lines under warn are gathered
 * and written together within CS_LOG_FLUSH_MS (one write for many: a node
 * logs a line per request); a warning or an error is written at once,
 * after every line logged before it; what is gathered is written at exit,
 * by cs_log_flush, when the buffer fills, and before a fork (a forked
 * child writes its lines at once). Lines of several threads stay whole.
 */
#include "testutil.h"

#include "base/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static FILE *cap;
static int saved_fd = -1;

/* stderr into a temporary file, from here until release() */
static void capture(void)
{
    cs_log_flush();
    cap = tmpfile();
    assert_non_null(cap);
    fflush(stderr);
    saved_fd = dup(STDERR_FILENO);
    assert_true(saved_fd >= 0);
    assert_int_equal(dup2(fileno(cap), STDERR_FILENO), STDERR_FILENO);
    cs_log_set_sink(NULL, NULL);
    cs_log_set_level(CS_LOG_INFO);
}

/* What the file holds now (a static buffer, NUL-terminated). */
static const char *captured(void)
{
    static char text[1 << 20];
    size_t n = (size_t)pread(fileno(cap), text, sizeof text - 1, 0);
    text[n < sizeof text ? n : 0] = '\0';
    return text;
}

static void release(void)
{
    cs_log_flush();
    assert_int_equal(dup2(saved_fd, STDERR_FILENO), STDERR_FILENO);
    close(saved_fd);
    fclose(cap);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* An info line is held for at most the flush period, then written. */
static void info_lines_are_gathered_then_written(void **state)
{
    (void)state;
    capture();
    uint64_t t0 = now_ns();
    cs_log_info("test", "gathered line one");
    cs_log_info("test", "gathered line two");
    uint64_t took_ms = (now_ns() - t0) / 1000000;
    if (took_ms < CS_LOG_FLUSH_MS / 2) /* not descheduled meanwhile: nothing written yet */
        assert_null(strstr(captured(), "gathered line"));
    const char *text = "";
    for (int i = 0; i < 100 && strstr(text, "gathered line two") == NULL; i++) {
        sleep_ms(5);
        text = captured();
    }
    const char *one = strstr(text, "gathered line one\n"),
               *two = strstr(text, "gathered line two\n");
    assert_non_null(one);
    assert_non_null(two);
    assert_true(one < two);
    release();
}

/* A warning goes out at once, after the lines logged before it. */
static void a_warning_is_written_at_once_after_earlier_lines(void **state)
{
    (void)state;
    capture();
    cs_log_info("test", "before the warning");
    cs_log_warn("test", "the warning");
    const char *text = captured(); /* no wait */
    const char *a = strstr(text, "before the warning\n"), *b = strstr(text, "the warning\n");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    release();
}

/* cs_log_flush writes what is gathered, at once. */
static void flush_writes_at_once(void **state)
{
    (void)state;
    capture();
    cs_log_info("test", "flushed by hand");
    cs_log_flush();
    const char *text = captured();
    assert_non_null(strstr(text, "flushed by hand\n"));
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ info  test: ..." */
    int y, mo, d, h, mi, sec, ms;
    char z;
    assert_int_equal(
        sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z), 8);
    assert_int_equal(z, 'Z');
    assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999);
    assert_int_equal(text[23], 'Z');
    assert_int_equal(strncmp(text + 24, " info  test: flushed by hand\n", 30), 0);
    release();
}

/* Far more than the buffer holds, quickly: every line, in order. */
static void a_full_buffer_is_written_in_order(void **state)
{
    (void)state;
    capture();
    enum { N = 4000 };
    for (int i = 0; i < N; i++)
        cs_log_info("test", "numbered line %05d ......................................", i);
    cs_log_flush();
    const char *text = captured(), *at = text;
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "numbered line %05d ", i);
        const char *p = strstr(at, want);
        assert_non_null(p);
        at = p + strlen(want);
    }
    release();
}

/* Four threads at once: every line whole. */
static void *log_many(void *arg)
{
    for (int i = 0; i < 500; i++)
        cs_log_info("test", "thread %d line %03d end", (int)(intptr_t)arg, i);
    return NULL;
}

static void lines_of_threads_stay_whole(void **state)
{
    (void)state;
    capture();
    pthread_t t[4];
    for (intptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_many, (void *)i), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    cs_log_flush();
    char *text = strdup(captured());
    int lines = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        int th, n;
        const char *m = strstr(l, "test: thread ");
        assert_non_null(m);
        assert_int_equal(sscanf(m, "test: thread %d line %d end", &th, &n), 2);
        assert_non_null(strstr(l, " end"));
        assert_int_equal(strlen(strstr(l, " end")), 4); /* nothing after it */
        lines++;
    }
    free(text);
    assert_int_equal(lines, 4 * 500);
    release();
}

/* exit() writes what is gathered: a fresh process (this program again,
 * main's EXIT_CHILD_ARG) logs an info line and exits at once, long before
 * its writer's CS_LOG_FLUSH_MS are up; only exit's handler can write it. */
#define EXIT_CHILD_ARG "--log-a-line-and-exit"
static void exit_child(void)
{
    cs_log_set_level(CS_LOG_INFO);
    cs_log_info("test", "fresh process line at exit");
    exit(0);
}

static void gathered_lines_are_written_at_exit(void **state)
{
    (void)state;
    capture();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/proc/self/exe", "test_log_out", EXIT_CHILD_ARG, (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_non_null(strstr(captured(), "fresh process line at exit\n"));
    release();
}

/* A forked child's lines are written (at once), even when it leaves
 * without exit's handlers; what the parent had gathered before the fork is
 * written once, not again by a child. */
static void lines_survive_fork(void **state)
{
    (void)state;
    capture();
    cs_log_info("test", "parent before the fork"); /* the parent's writer is running */
    int st;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cs_log_info("test", "child line then _exit");
        sleep_ms(20 * CS_LOG_FLUSH_MS);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_non_null(strstr(captured(), "child line then _exit\n"));
    cs_log_flush();
    const char *text = captured();
    const char *p = strstr(text, "parent before the fork\n");
    assert_non_null(p);
    assert_null(strstr(p + 1, "parent before the fork\n")); /* written once, not by the children */
    release();
}

/* Numbers of fields print as "%.9g" does, whatever the path taken. */
static void numbers_print_as_printf_does(void **state)
{
    (void)state;
    const double nums[] = {0,     -0.0,        1,    -5,       200,     404,  999999999,
                           1e9,   -999999999,  -1e9, 2.5,      0.031,   1e-7, 123456789.5,
                           1e300, 4294967296., 0.1,  -2.25e12, 2.310645};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        capture();
        const cs_log_field f[] = {{"n", NULL, nums[i]}};
        cs_log_fields(CS_LOG_WARN, "test", f, 1, "num");
        char want[64];
        snprintf(want, sizeof want, " n=%.9g\n", nums[i]);
        const char *text = captured();
        print_message("%s", strstr(text, " n="));
        assert_non_null(strstr(text, want));
        release();
    }
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], EXIT_CHILD_ARG) == 0)
        exit_child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(info_lines_are_gathered_then_written),
        cmocka_unit_test(a_warning_is_written_at_once_after_earlier_lines),
        cmocka_unit_test(flush_writes_at_once),
        cmocka_unit_test(a_full_buffer_is_written_in_order),
        cmocka_unit_test(lines_of_threads_stay_whole),
        cmocka_unit_test(gathered_lines_are_written_at_exit),
        cmocka_unit_test(lines_survive_fork),
        cmocka_unit_test(numbers_print_as_printf_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
