/*
 * Helpers shared by the unit tests (cmocka).
 *
 *   cst_testdata_path("cose/sign1-tests/sign-pass-02.json")
 *       -> "$CONSORT_TESTDATA/cose/...", skipping the test (cmocka skip())
 *          only when the data directory itself is missing.
 *   cst_read_file / cst_read_testdata: whole files into a cs_buf (asserting).
 *   cst_json_testdata: a parsed jansson document (caller json_decref()s).
 *   Failing allocator: cst_alloc_fail_after(n) makes the n-th allocation
 *   (0-based) after the call return NULL; cst_alloc_live() counts blocks not
 *   yet freed, so a test can assert that an error path leaked nothing.
 *   Log capture: cst_log_capture_start/stop collects lines in memory.
 */
#ifndef CONSORT_TESTUTIL_H
#define CONSORT_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/log.h"

const char *cst_testdata_dir(void);
/* Returns a static buffer (overwritten by the next call). */
const char *cst_testdata_path(const char *rel);
void cst_read_file(const char *path, cs_buf *out);
void cst_read_testdata(const char *rel, cs_buf *out);
json_t *cst_json_testdata(const char *rel);
/* Decodes hex (asserting it is valid) into out. */
void cst_hex(const char *hex, cs_buf *out);
/* Decodes standard base64 (asserting it is valid) into out; "" gives empty. */
void cst_base64(const char *b64, cs_buf *out);

/* Installs the counting allocator (idempotent). */
void cst_alloc_install(void);
/* Restores libc's allocator. */
void cst_alloc_uninstall(void);
/* Fail the n-th allocation from now (0 = the very next); -1 disables. */
void cst_alloc_fail_after(long n);
/* Allocations made since the counter was last reset. */
long cst_alloc_count(void);
void cst_alloc_reset_count(void);
/* Blocks currently live through the counting allocator. */
long cst_alloc_live(void);
/* True if the failure armed by cst_alloc_fail_after has happened. */
int cst_alloc_failed(void);

void cst_log_capture_start(void);
/* All captured lines joined with '\n' (static storage, valid until stop). */
const char *cst_log_captured(void);
void cst_log_capture_stop(void);

/*
 * Skips the running test, saying why (cmocka's skip()), or fails it when
 * CONSORT_NO_SKIP=1 (CI: a tool scripts/install-deps installs, or a
 * capability CI has, is missing). A skip must show: end main() with
 * `return cst_run_result(cmocka_run_group_tests(...))`, so that ctest
 * reports the program as skipped, not passed (SKIP_RETURN_CODE 77).
 */
#define cst_skip(...) cst_skip_at(__FILE__, __LINE__, __VA_ARGS__)
void cst_skip_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
/* The exit status for cmocka_run_group_tests' result: 1 if a test failed,
 * else 77 if one was skipped (cst_skip), else 0. */
int cst_run_result(int failures);

/* Asserts rc == CONSORT_OK, printing consort_errmsg() if not. */
#define cst_ok(expr)                                                                               \
    do {                                                                                           \
        consort_err cst_rc_ = (expr);                                                              \
        if (cst_rc_ != CONSORT_OK)                                                                 \
            fail_msg("%s failed: %s (%s)", #expr, consort_err_name(cst_rc_), consort_errmsg());    \
    } while (0)

/* Asserts the call fails with exactly `code`. */
#define cst_fails(expr, code)                                                                      \
    do {                                                                                           \
        consort_err cst_rc_ = (expr);                                                              \
        if (cst_rc_ != (code))                                                                     \
            fail_msg("%s returned %s, expected %s (%s)", #expr, consort_err_name(cst_rc_),         \
                     consort_err_name(code), consort_errmsg());                                    \
    } while (0)

/* Asserts a completion's status is CONSORT_OK, printing the message the
 * completion carries (not the thread-local one) if not. */
#define cst_cb_ok(err, msg)                                                                        \
    do {                                                                                           \
        consort_err cst_rc_ = (err);                                                               \
        if (cst_rc_ != CONSORT_OK)                                                                 \
            fail_msg("%s: %s (%s)", #err, consort_err_name(cst_rc_), (msg));                       \
    } while (0)

/* Asserts a completion's message obeys the contract: never NULL, "" exactly
 * when the status is CONSORT_OK. */
#define cst_cb_msg(err, msg)                                                                       \
    do {                                                                                           \
        const char *cst_msg_ = (msg);                                                              \
        assert_non_null(cst_msg_);                                                                 \
        if (((err) == CONSORT_OK) != (cst_msg_[0] == '\0'))                                        \
            fail_msg("%s is %s but its message is \"%s\"", #err, consort_err_name(err), cst_msg_); \
    } while (0)

/* Asserts the call fails (with any code). */
#define cst_fails_any(expr)                                                                        \
    do {                                                                                           \
        consort_err cst_rc_ = (expr);                                                              \
        if (cst_rc_ == CONSORT_OK)                                                                 \
            fail_msg("%s succeeded but should have failed", #expr);                                \
    } while (0)

#endif
