#include "consensus/raft_err.h"

#include <raft.h>
#include <stdio.h>

consort_err cs_raft_code(int rv)
{
    switch (rv) {
    case 0:
        return CONSORT_OK;
    case RAFT_NOMEM:
        return CONSORT_E_NOMEM;
    case RAFT_BADID:
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_BADROLE:
    case RAFT_NAMETOOLONG:
    case RAFT_INVALID:
        return CONSORT_E_INVALID_ARGUMENT;
    case RAFT_MALFORMED:
        return CONSORT_E_MALFORMED;
    case RAFT_CORRUPT:
        return CONSORT_E_CORRUPT;
    case RAFT_TOOBIG:
        return CONSORT_E_TOO_LARGE;
    case RAFT_NOTFOUND:
        return CONSORT_E_NOT_FOUND;
    case RAFT_NOSPACE:
        return CONSORT_E_NO_SPACE;
    case RAFT_IOERR:
    case RAFT_NOCONNECTION:
    case RAFT_UNAUTHORIZED:
        return CONSORT_E_IO;
    case RAFT_BUSY:
    case RAFT_CANTCHANGE:
    case RAFT_TOOMANY:
        return CONSORT_E_BUSY;
    /* RAFT_NOTLEADER, RAFT_LEADERSHIPLOST, RAFT_SHUTDOWN, RAFT_CANTBOOTSTRAP,
     * RAFT_CANCELED: the operation does not fit the server's current state. */
    default:
        return CONSORT_E_STATE;
    }
}

/* libraft 0.15's raft_strerror knows no code past RAFT_IOERR ("unknown
 * error" for 19..23, among them its own "no space" of a full disk). */
static const char *describe(int rv)
{
    switch (rv) {
    case RAFT_NOTFOUND:
        return "resource not found";
    case RAFT_INVALID:
        return "invalid parameter";
    case RAFT_UNAUTHORIZED:
        return "no access to a resource";
    case RAFT_NOSPACE:
        return "no space left on device";
    case RAFT_TOOMANY:
        return "a system or raft limit was hit";
    default:
        return raft_strerror(rv);
    }
}

static consort_err raft_formatv(char *out, size_t out_len, int rv, const char *detail,
                                const char *what, va_list ap) CS_PRINTF(5, 0);

static consort_err raft_formatv(char *out, size_t out_len, int rv, const char *detail,
                                const char *what, va_list ap)
{
    char head[256];
    vsnprintf(head, sizeof head, what, ap);
    consort_err code = cs_raft_code(rv);
    if (code == CONSORT_OK)
        code = CONSORT_E_STATE;
    if (detail != NULL && detail[0] != '\0')
        snprintf(out, out_len, "%s: %s (raft %d: %s)", head, describe(rv), rv, detail);
    else
        snprintf(out, out_len, "%s: %s (raft %d)", head, describe(rv), rv);
    return code;
}

consort_err cs_raft_fail(int rv, const char *detail, const char *what, ...)
{
    char msg[CS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, what);
    consort_err code = raft_formatv(msg, sizeof msg, rv, detail, what, ap);
    va_end(ap);
    return cs_fail(code, "%s", msg);
}

consort_err cs_raft_format(char *out, size_t out_len, int rv, const char *detail, const char *what,
                           ...)
{
    va_list ap;
    va_start(ap, what);
    consort_err code = raft_formatv(out, out_len, rv, detail, what, ap);
    va_end(ap);
    return code;
}
