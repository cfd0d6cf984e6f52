/*
 * Logging. Levels trace < debug < info < warn < error < off. The threshold
 * comes from the CONSORT_LOG environment variable ("debug", "warn", ...;
 * default "info") the first time anything is logged, or from cs_log_set_level.
 * The format comes from CONSORT_LOG_FORMAT: "text" (the default: "<UTC
 * time> <level> <module>: <message> [key=value ...]") or "json" (one JSON
 * object a line: "ts", "level", "module", "msg" and the fields); see
 * docs/observability.md. Lines go to a sink: stderr by default, replaceable
 * (tests capture lines; a sink receives the message without the fields).
 *
 * On stderr, lines under warn are gathered and written together at most
 * CS_LOG_FLUSH_MS after the first of them (a node logs a line per request:
 * one write(2) each cost more than the line's formatting); a warning or an
 * error is written at once, after every line gathered before it. What is
 * gathered is also written when the buffer fills, by cs_log_flush, at
 * exit(), and before a fork (a forked child writes each of its lines at
 * once). A process killed outright loses at most the last
 * CS_LOG_FLUSH_MS of its lines under warn.
 */
#ifndef CS_BASE_LOG_H
#define CS_BASE_LOG_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cs_log_level {
    CS_LOG_TRACE = 0,
    CS_LOG_DEBUG,
    CS_LOG_INFO,
    CS_LOG_WARN,
    CS_LOG_ERROR,
    CS_LOG_OFF,
} cs_log_level;

/* Receives one formatted line without a trailing newline. */
typedef void (*cs_log_sink_fn)(void *ctx, cs_log_level level, const char *module, const char *line);

#define CS_LOG_FLUSH_MS 20
/* Writes what is gathered for stderr now (before _exit or abort, say). */
void cs_log_flush(void);

/* Replaces the sink; NULL restores stderr. */
void cs_log_set_sink(cs_log_sink_fn fn, void *ctx);
void cs_log_set_level(cs_log_level level);
cs_log_level cs_log_get_level(void);

/* Parses "trace".."error"/"off" (case-insensitive). */
CS_MUST_CHECK consort_err cs_log_parse_level(const char *s, cs_log_level *out);
const char *cs_log_level_name(cs_log_level level);

void cs_log(cs_log_level level, const char *module, const char *fmt, ...) CS_PRINTF(3, 4);

typedef enum cs_log_format { CS_LOG_TEXT = 0, CS_LOG_JSON } cs_log_format;
/* Parses "text" or "json" (case-insensitive). */
CS_MUST_CHECK consort_err cs_log_parse_format(const char *s, cs_log_format *out);
void cs_log_set_format(cs_log_format format);
cs_log_format cs_log_get_format(void);

/* One named value of a structured line: a string (`str` non-NULL, any
 * bytes: escaped as the format needs) or else the number `num`. */
typedef struct cs_log_field {
    const char *key; /* [a-z_]+ */
    const char *str;
    double num;
} cs_log_field;

/* cs_log with fields: text appends " key=value" for each, JSON makes each
 * a member of the line's object. Callers on a hot path check
 * CS_LOG_ENABLED first, so that nothing is formatted when it is off. */
void cs_log_fields(cs_log_level level, const char *module, const cs_log_field *fields, size_t count,
                   const char *fmt, ...) CS_PRINTF(5, 6);

/* A line for stdout (consortd's announcements), timestamped, flushed at
 * once, written whatever the threshold: "<UTC time> <message>" in text
 * (no fields), the JSON object of a log line (level info, module `module`,
 * the fields) in json. */
void cs_log_stdout(const char *module, const cs_log_field *fields, size_t count, const char *fmt,
                   ...) CS_PRINTF(4, 5);

/* One step more verbose (`more`: debug from info, ...; trace stays) or less
 * (error stays): the new threshold, which is logged at its own level. For
 * runtime changes (consortd: SIGUSR1 / SIGUSR2). */
cs_log_level cs_log_step_level(bool more);

/*
 * A budget for lines an outsider can cause (a refused connection, say), so
 * that a flood of them cannot flood the log: a token bucket of `burst`
 * lines, refilled by one every `every_ms`. What it holds back is counted
 * and reported by the next line it lets through. Zero-initialise, then
 * cs_log_budget_init; one thread.
 */
typedef struct cs_log_budget {
    unsigned burst;
    uint64_t every_ms;
    unsigned tokens;
    uint64_t refilled_at; /* ms, the caller's clock */
    uint64_t held_back;   /* lines not written since the last one that was */
    bool started;
} cs_log_budget;

void cs_log_budget_init(cs_log_budget *b, unsigned burst, uint64_t every_ms);
/* True if a line may be written at `now_ms` (then *held_back is how many
 * were held back before it, and the count restarts); false if it is held
 * back (counted). */
bool cs_log_budget_take(cs_log_budget *b, uint64_t now_ms, uint64_t *held_back);

#define CS_LOG_ENABLED(lvl)    ((lvl) >= cs_log_get_level())
#define cs_log_trace(mod, ...) cs_log(CS_LOG_TRACE, mod, __VA_ARGS__)
#define cs_log_debug(mod, ...) cs_log(CS_LOG_DEBUG, mod, __VA_ARGS__)
#define cs_log_info(mod, ...)  cs_log(CS_LOG_INFO, mod, __VA_ARGS__)
#define cs_log_warn(mod, ...)  cs_log(CS_LOG_WARN, mod, __VA_ARGS__)
#define cs_log_error(mod, ...) cs_log(CS_LOG_ERROR, mod, __VA_ARGS__)

#endif
