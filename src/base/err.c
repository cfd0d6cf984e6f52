#include "base/err.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char errmsg[CS_ERRMSG_MAX];

static const struct {
    const char *name;
    consort_err_category cat;
} table[] = {
#define CS_ERR_ROW(name, cat, desc) {#name, CONSORT_CAT_##cat},
    CONSORT_ERRORS(CS_ERR_ROW)
#undef CS_ERR_ROW
};

static const char *const category_names[] = {
    "none",        "usage",  "io",      "protocol", "crypto",
    "attestation", "policy", "corrupt", "nomem",    "state",
};

consort_err_category consort_err_category_of(consort_err err)
{
    if ((unsigned)err >= CS_ARRAY_LEN(table))
        return CONSORT_CAT_USAGE;
    return table[err].cat;
}

const char *consort_err_name(consort_err err)
{
    if ((unsigned)err >= CS_ARRAY_LEN(table))
        return "UNKNOWN";
    return table[err].name;
}

const char *consort_err_category_name(consort_err_category cat)
{
    if ((unsigned)cat >= CS_ARRAY_LEN(category_names))
        return "unknown";
    return category_names[cat];
}

const char *consort_errmsg(void)
{
    return errmsg;
}

void cs_err_clear(void)
{
    errmsg[0] = '\0';
}

consort_err cs_failv(consort_err code, const char *fmt, va_list ap)
{
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    return code;
}

consort_err cs_fail(consort_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cs_failv(code, fmt, ap);
    va_end(ap);
    return code;
}

consort_err cs_err_context(consort_err code, const char *fmt, ...)
{
    char prefix[CS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return code;
    size_t plen = strlen(prefix);
    size_t mlen = strnlen(errmsg, sizeof errmsg - 1);
    if (mlen == 0) {                      /* nothing to add context to: the context alone */
        memcpy(errmsg, prefix, plen + 1); /* both CS_ERRMSG_MAX */
        return code;
    }
    if (plen + 2 >= sizeof errmsg)
        plen = sizeof errmsg - 3;
    if (plen + 2 + mlen >= sizeof errmsg)
        mlen = sizeof errmsg - 1 - plen - 2;
    memmove(errmsg + plen + 2, errmsg, mlen);
    memcpy(errmsg, prefix, plen);
    errmsg[plen] = ':';
    errmsg[plen + 1] = ' ';
    errmsg[plen + 2 + mlen] = '\0';
    return code;
}
