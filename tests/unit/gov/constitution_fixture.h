/* Helpers shared by the constitution engine's tests
 * (tests/unit/gov/test_constitution*.c). */
#ifndef CONSORT_CONSTITUTION_FIXTURE_H
#define CONSORT_CONSTITUTION_FIXTURE_H

#include "testutil.h"

#include "gov/constitution.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CST_UNUSED __attribute__((unused))

#define M0 "m0"
#define M1 "m1"
#define M2 "m2"
#define M3 "m3"

static const char *const three[] CST_UNUSED = {M0, M1, M2};
static const char *const four[] CST_UNUSED = {M0, M1, M2, M3};

static const char proposal[] CST_UNUSED =
    "{\"actions\": [{\"name\": \"set_user\", \"args\": {\"cert\": \"PEM\"}}]}";

static inline cs_constitution *default_constitution(void)
{
    cs_constitution *c;
    cst_ok(cs_constitution_new_default(NULL, &c));
    return c;
}

static inline cs_constitution *script_constitution(const char *script, size_t memory,
                                                   uint64_t budget)
{
    cs_constitution_limits limits = {memory, budget};
    cs_constitution *c;
    cst_ok(cs_constitution_new(script, strlen(script), &limits, &c));
    return c;
}

static inline void assert_msg_has(const char *needle)
{
    if (strstr(consort_errmsg(), needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", consort_errmsg(), needle);
}

/* Host actions record their calls; fail_on names one that fails. */
typedef struct host_log {
    char text[1024];
    const char *fail_on;
    int calls;
} host_log;

static inline consort_err record_cb(void *ctx, const char *name, const char *args_json)
{
    host_log *log = ctx;
    log->calls++;
    size_t used = strlen(log->text);
    snprintf(log->text + used, sizeof log->text - used, "%s%s %s", used ? "\n" : "", name,
             args_json);
    if (log->fail_on != NULL && strcmp(name, log->fail_on) == 0)
        return cs_fail(CONSORT_E_STATE, "member %s already exists", "m9");
    return CONSORT_OK;
}

#endif
