/*
 * The invocation running on this thread (node/app_host.h): where
 * consort_fail records a handler's own failure, and how a failing consortd
 * function supersedes it. The bottom of the application files: the ABI
 * functions (app_call.c, app_response.c) and the invoker (app_invoke.c)
 * call it; it calls none of them.
 */
#include "node/app_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The invocation running on this thread (NULL outside a handler): where
 * consort_fail records the handler's failure. */
static _Thread_local consort_tx *current;

consort_err cs_app_abi_result(consort_err rc)
{
    /* app.h: a failing consortd function supersedes an earlier consort_fail */
    if (rc != CONSORT_OK && current != NULL)
        current->fail_code = CONSORT_OK;
    return rc;
}

consort_err consort_fail(consort_err code, const char *fmt, ...)
{
    if (code == CONSORT_OK || (unsigned)code >= (unsigned)CONSORT_E__COUNT || fmt == NULL)
        return cs_app_abi_result(cs_fail(CONSORT_E_INVALID_ARGUMENT,
                                         "consort_fail: code %d is not an error code, or no "
                                         "message",
                                         (int)code));
    char message[CS_APP_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap); /* longer messages are cut */
    va_end(ap);
    (void)cs_fail(code, "%s", message); /* consort_errmsg(), in a handler or not */
    if (current != NULL) {
        current->fail_code = code;
        memcpy(current->fail_message, message, sizeof message);
    }
    return code;
}

consort_tx *cs_app_enter(consort_tx *tx)
{
    consort_tx *outer = current;
    current = tx;
    return outer;
}

consort_tx *cs_app_current(void)
{
    return current;
}
