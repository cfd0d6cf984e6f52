#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "off"};

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static cs_log_level threshold = CS_LOG_INFO;
static cs_log_sink_fn sink_fn;
static void *sink_ctx;

static void read_env(void)
{
    const char *env = getenv("CONSORT_LOG");
    cs_log_level lvl = CS_LOG_INFO;
    if (env != NULL && *env != '\0') {
        if (cs_log_parse_level(env, &lvl) == CONSORT_OK)
            threshold = lvl;
        else
            fprintf(stderr,
                    "consort: CONSORT_LOG=%s is not a level (trace, debug, info, "
                    "warn, error, off); using info\n",
                    env);
    }
}

consort_err cs_log_parse_level(const char *s, cs_log_level *out)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (cs_log_level)i;
            return CONSORT_OK;
        }
    }
    return cs_fail(CONSORT_E_INVALID_ARGUMENT,
                   "log level '%s' unknown, expected trace, debug, info, warn, error or off", s);
}

const char *cs_log_level_name(cs_log_level level)
{
    if ((unsigned)level >= CS_ARRAY_LEN(level_names))
        return "?";
    return level_names[level];
}

void cs_log_set_sink(cs_log_sink_fn fn, void *ctx)
{
    sink_fn = fn;
    sink_ctx = ctx;
}

void cs_log_set_level(cs_log_level level)
{
    pthread_once(&env_once, read_env);
    threshold = level;
}

cs_log_level cs_log_get_level(void)
{
    pthread_once(&env_once, read_env);
    return threshold;
}

void cs_log(cs_log_level level, const char *module, const char *fmt, ...)
{
    if (level < cs_log_get_level() || level >= CS_LOG_OFF)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (sink_fn != NULL) {
        sink_fn(sink_ctx, level, module, line);
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            level_names[level], module, line);
}

void cs_log_budget_init(cs_log_budget *b, unsigned burst, uint64_t every_ms)
{
    *b = (cs_log_budget){.burst = burst > 0 ? burst : 1, .every_ms = every_ms > 0 ? every_ms : 1};
}

bool cs_log_budget_take(cs_log_budget *b, uint64_t now_ms, uint64_t *held_back)
{
    if (!b->started) {
        b->started = true;
        b->tokens = b->burst;
        b->refilled_at = now_ms;
    } else if (now_ms > b->refilled_at) {
        uint64_t add = (now_ms - b->refilled_at) / b->every_ms;
        if (add >= b->burst - b->tokens) {
            b->tokens = b->burst;
            b->refilled_at = now_ms;
        } else {
            b->tokens += (unsigned)add;
            b->refilled_at += add * b->every_ms;
        }
    }
    if (b->tokens == 0) {
        b->held_back++;
        return false;
    }
    b->tokens--;
    *held_back = b->held_back;
    b->held_back = 0;
    return true;
}
