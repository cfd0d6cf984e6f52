/*
 * The one error idiom (STYLE.md §3).
 *
 * A function that can fail returns consort_err and is declared CS_MUST_CHECK.
 * It reports a failure with cs_fail(), which records a precise message in a
 * thread-local buffer and returns the code:
 *
 *     if (len != 216)
 *         return cs_fail(CONSORT_E_MALFORMED, "virtual report: length %zu, expected 216", len);
 *
 * As an error rises through callers, each may add context in front of the
 * message with cs_err_context() ("evidence: " + "virtual report: ..."). The
 * guard macros keep the happy path flat:
 *
 *     CS_TRY(cs_cursor_read_u32le(&c, &version));
 *     CS_ENSURE(version == 1, CONSORT_E_UNSUPPORTED, "version %u", version);
 */
#ifndef CS_BASE_ERR_H
#define CS_BASE_ERR_H

#include <consort/error.h>
#include <stdarg.h>

#define CS_MUST_CHECK               CONSORT_MUST_CHECK
#define CS_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))

/* Size of the per-thread message buffer; longer messages are truncated. */
#define CS_ERRMSG_MAX 512

/* Records a formatted message for `code` and returns `code`. */
consort_err cs_fail(consort_err code, const char *fmt, ...) CS_PRINTF(2, 3);
consort_err cs_failv(consort_err code, const char *fmt, va_list ap) CS_PRINTF(2, 0);

/*
 * Prefixes the current message with formatted context and a ": " separator,
 * and returns `code` unchanged, so it can be used in a return statement.
 * The current message must be the failure's own (set by the call that just
 * failed): a code that comes from elsewhere gets its message with cs_fail.
 * With no current message (cleared) the context alone becomes the message.
 */
consort_err cs_err_context(consort_err code, const char *fmt, ...) CS_PRINTF(2, 3);

/* Clears the current message (used by tests and at API boundaries: the
 * node's front clears it before each request, so no request's error can
 * carry an earlier request's message). */
void cs_err_clear(void);

/* Propagate a failure unchanged. */
#define CS_TRY(expr)                                                                               \
    do {                                                                                           \
        consort_err cs_try_rc_ = (expr);                                                           \
        if (cs_try_rc_ != CONSORT_OK)                                                              \
            return cs_try_rc_;                                                                     \
    } while (0)

/* Propagate a failure with context added in front of its message. */
#define CS_TRY_CTX(expr, ...)                                                                      \
    do {                                                                                           \
        consort_err cs_try_rc_ = (expr);                                                           \
        if (cs_try_rc_ != CONSORT_OK)                                                              \
            return cs_err_context(cs_try_rc_, __VA_ARGS__);                                        \
    } while (0)

/* Fail with `code` and a formatted message unless `cond` holds. */
#define CS_ENSURE(cond, code, ...)                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return cs_fail((code), __VA_ARGS__);                                                   \
    } while (0)

/* For goto-ladder cleanup: store the code in `rc` and jump to `label`. */
#define CS_TRY_GOTO(rc, expr, label)                                                               \
    do {                                                                                           \
        (rc) = (expr);                                                                             \
        if ((rc) != CONSORT_OK)                                                                    \
            goto label;                                                                            \
    } while (0)

/* CS_TRY_GOTO with context added in front of the failure's message. */
#define CS_TRY_CTX_GOTO(rc, expr, label, ...)                                                      \
    do {                                                                                           \
        (rc) = (expr);                                                                             \
        if ((rc) != CONSORT_OK) {                                                                  \
            (rc) = cs_err_context((rc), __VA_ARGS__);                                              \
            goto label;                                                                            \
        }                                                                                          \
    } while (0)

#define CS_ENSURE_GOTO(rc, cond, label, code, ...)                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            (rc) = cs_fail((code), __VA_ARGS__);                                                   \
            goto label;                                                                            \
        }                                                                                          \
    } while (0)

#define CS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
