#include "base/log.h"

#include "base/log_out.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "off"};
/* as a text line shows them: five wide */
static const char *const level_columns[] = {"trace", "debug", "info ", "warn ", "error", "off  "};

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
/* Read by every thread that logs, changed at runtime (cs_log_step_level):
 * relaxed atomic loads and stores, as cheap as plain ones. */
static cs_log_level threshold = CS_LOG_INFO;
static cs_log_format format = CS_LOG_TEXT;
static cs_log_sink_fn sink_fn;
static void *sink_ctx;

static void read_env(void)
{
    const char *fmt = getenv("CONSORT_LOG_FORMAT");
    cs_log_format f = CS_LOG_TEXT;
    if (fmt != NULL && *fmt != '\0') {
        if (cs_log_parse_format(fmt, &f) == CONSORT_OK)
            format = f;
        else
            fprintf(stderr,
                    "consort: CONSORT_LOG_FORMAT=%s is not a format (text, json); using "
                    "text\n",
                    fmt);
    }
    const char *env = getenv("CONSORT_LOG");
    cs_log_level lvl = CS_LOG_INFO;
    if (env != NULL && *env != '\0') {
        if (cs_log_parse_level(env, &lvl) == CONSORT_OK)
            __atomic_store_n(&threshold, lvl, __ATOMIC_RELAXED);
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
    __atomic_store_n(&threshold, level, __ATOMIC_RELAXED);
}

cs_log_level cs_log_get_level(void)
{
    pthread_once(&env_once, read_env);
    return __atomic_load_n(&threshold, __ATOMIC_RELAXED);
}

consort_err cs_log_parse_format(const char *s, cs_log_format *out)
{
    if (strcasecmp(s, "text") == 0 || strcasecmp(s, "json") == 0) {
        *out = strcasecmp(s, "json") == 0 ? CS_LOG_JSON : CS_LOG_TEXT;
        return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_INVALID_ARGUMENT, "log format '%s' unknown, expected text or json", s);
}

void cs_log_set_format(cs_log_format f)
{
    pthread_once(&env_once, read_env);
    format = f;
}

cs_log_format cs_log_get_format(void)
{
    pthread_once(&env_once, read_env);
    return format;
}

/* Appends `s` to line[*used..cap) as JSON string content (RFC 8259 §7):
 * quote, backslash and control characters escaped; bytes >= 0x80 as \u00XX
 * so that any bytes make valid JSON. Truncates at the buffer's end. */
static void put_json(char *line, size_t cap, size_t *used, const char *s)
{
    for (; *s != '\0' && *used + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            line[(*used)++] = '\\';
            line[(*used)++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            *used += (size_t)snprintf(line + *used, cap - *used, "\\u%04x", c);
        } else {
            line[(*used)++] = (char)c;
        }
    }
    line[*used] = '\0';
}

/* Appends `s` as text: control characters and bytes >= 0x80 as '?' (a
 * client's path cannot forge a line); spaces kept. */
static void put_text(char *line, size_t cap, size_t *used, const char *s)
{
    for (; *s != '\0' && *used + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        line[(*used)++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    line[*used] = '\0';
}

static void put_fmt(char *line, size_t cap, size_t *used, const char *fmt, ...) CS_PRINTF(4, 5);
static void put_fmt(char *line, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + *used, cap - *used, fmt, ap);
    va_end(ap);
    *used = n < 0 ? *used : *used + (size_t)n >= cap ? cap - 1 : *used + (size_t)n;
}

/* Appends `s` as it is (truncated at cap), as put_fmt's "%s" did. */
static void put_text_raw(char *line, size_t cap, size_t *used, const char *s)
{
    if (*used + 1 >= cap)
        return;
    size_t n = strlen(s);
    if (n > cap - 1 - *used)
        n = cap - 1 - *used;
    memcpy(line + *used, s, n);
    *used += n;
    line[*used] = '\0';
}

/* A number as "%.9g" would print it; a whole number under 1e9 (a status,
 * a count) without a format's cost. */
static void put_number(char *line, size_t cap, size_t *used, double num)
{
    if (num > -1e9 && num < 1e9 && num == (double)(long)num && !(num == 0 && signbit(num))) {
        char digits[16];
        size_t n = 0;
        long v = (long)num;
        unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
        do {
            digits[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u > 0);
        char out[17];
        size_t k = 0;
        if (v < 0)
            out[k++] = '-';
        while (n > 0)
            out[k++] = digits[--n];
        out[k] = '\0';
        put_text_raw(line, cap, used, out);
        return;
    }
    put_fmt(line, cap, used, "%.9g", num);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) into out[80]: the part up to the
 * seconds is made once a second per thread. */
static void timestamp(char out[80])
{
    static _Thread_local time_t sec = (time_t)-1;
    static _Thread_local char upto_sec[64];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(upto_sec, sizeof upto_sec, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        sec = ts.tv_sec;
    }
    size_t n = strlen(upto_sec);
    long ms = ts.tv_nsec / 1000000;
    memcpy(out, upto_sec, n);
    out[n] = '.';
    out[n + 1] = (char)('0' + ms / 100);
    out[n + 2] = (char)('0' + ms / 10 % 10);
    out[n + 3] = (char)('0' + ms % 10);
    out[n + 4] = 'Z';
    out[n + 5] = '\0';
}

/* Writes one complete line to `f` in the configured format. */
static void emit(FILE *f, cs_log_level level, const char *module, const char *msg,
                 const cs_log_field *fields, size_t count, bool bare)
{
    char when[80];
    timestamp(when);
    /* contents stop `room` bytes in; the structure (quotes, keys, braces)
     * always fits after them, so a truncated JSON line still parses */
    char line[8192];
    const size_t room = sizeof line - 512, all = sizeof line;
    size_t used = 0;
    bool json = format == CS_LOG_JSON;
    if (json) {
        put_fmt(line, all, &used, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"", when,
                level_names[level]);
        put_json(line, room, &used, module);
        put_fmt(line, all, &used, "\",\"msg\":\"");
        put_json(line, room, &used, msg);
        put_fmt(line, all, &used, "\"");
    } else if (bare) { /* a stdout line: "<time> <message>" */
        put_fmt(line, room, &used, "%s %s", when, msg);
        count = 0;
    } else {
        /* "<when> <level, 5 wide> <module>: <msg>", without a format's cost */
        put_text_raw(line, room, &used, when);
        put_text_raw(line, room, &used, " ");
        put_text_raw(line, room, &used, level_columns[level]);
        put_text_raw(line, room, &used, " ");
        put_text_raw(line, room, &used, module);
        put_text_raw(line, room, &used, ": ");
        put_text_raw(line, room, &used, msg);
    }
    for (size_t i = 0; i < count && i < 16; i++) {
        /* ",\"key\":" or " key=", the key cut at 24 characters */
        char key[25];
        size_t klen = strnlen(fields[i].key, 24);
        memcpy(key, fields[i].key, klen);
        key[klen] = '\0';
        put_text_raw(line, all, &used, json ? ",\"" : " ");
        put_text_raw(line, all, &used, key);
        put_text_raw(line, all, &used, json ? "\":" : "=");
        if (fields[i].str != NULL && json) {
            put_text_raw(line, all, &used, "\"");
            put_json(line, room, &used, fields[i].str);
            put_text_raw(line, all, &used, "\"");
        } else if (fields[i].str != NULL) {
            put_text(line, room, &used, fields[i].str);
        } else {
            put_number(line, all, &used, fields[i].num);
        }
    }
    if (json)
        put_fmt(line, all, &used, "}");
    if (f == stderr) /* gathered under warn (log.h) */
        cs_log_out_line(line, used, level >= CS_LOG_WARN);
    else
        fprintf(f, "%s\n", line); /* one call: lines of several threads do not interleave */
}

static void logv(cs_log_level level, const char *module, const cs_log_field *fields, size_t count,
                 const char *fmt, va_list ap) CS_PRINTF(5, 0);
static void logv(cs_log_level level, const char *module, const cs_log_field *fields, size_t count,
                 const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (sink_fn != NULL) {
        sink_fn(sink_ctx, level, module, msg);
        return;
    }
    emit(stderr, level, module, msg, fields, count, false);
}

void cs_log(cs_log_level level, const char *module, const char *fmt, ...)
{
    if (level < cs_log_get_level() || level >= CS_LOG_OFF)
        return;
    va_list ap;
    va_start(ap, fmt);
    logv(level, module, NULL, 0, fmt, ap);
    va_end(ap);
}

void cs_log_fields(cs_log_level level, const char *module, const cs_log_field *fields, size_t count,
                   const char *fmt, ...)
{
    if (level < cs_log_get_level() || level >= CS_LOG_OFF)
        return;
    va_list ap;
    va_start(ap, fmt);
    logv(level, module, fields, count, fmt, ap);
    va_end(ap);
}

void cs_log_stdout(const char *module, const cs_log_field *fields, size_t count, const char *fmt,
                   ...)
{
    pthread_once(&env_once, read_env);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(stdout, CS_LOG_INFO, module, msg, fields, count, true);
    fflush(stdout);
}

cs_log_level cs_log_step_level(bool more)
{
    cs_log_level now = cs_log_get_level();
    cs_log_level next = more ? (now > CS_LOG_TRACE ? (cs_log_level)(now - 1) : CS_LOG_TRACE)
                             : (now < CS_LOG_ERROR ? (cs_log_level)(now + 1) : CS_LOG_ERROR);
    if (now == CS_LOG_OFF) /* off stays off, unless asked for more */
        next = more ? CS_LOG_ERROR : CS_LOG_OFF;
    __atomic_store_n(&threshold, next, __ATOMIC_RELAXED);
    cs_log(next, "log", "log level now %s (was %s)", level_names[next], level_names[now]);
    return next;
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
