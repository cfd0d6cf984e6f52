/*
 * Strict reading of in-toto JSON (src/supply only): members checked against
 * the list a format allows, strings without NUL and under a cap, hex.
 * Errors are CONSORT_E_MALFORMED (CONSORT_E_TOO_LARGE for a long string)
 * with a message naming the member.
 */
#ifndef CS_SUPPLY_INTOTO_JSON_H
#define CS_SUPPLY_INTOTO_JSON_H

#include "base/buf.h"

#include <jansson.h>

/* Fails on a member of `obj` not among `names`. */
CS_MUST_CHECK consort_err cs_intoto_json_allowed(const json_t *obj, const char *const *names,
                                                 size_t n);
/* Fails unless `obj` has exactly the members `names`. */
CS_MUST_CHECK consort_err cs_intoto_json_members(const json_t *obj, const char *const *names,
                                                 size_t n);
/* A string without NUL characters of at most `max` bytes, named `what` in errors. */
CS_MUST_CHECK consort_err cs_intoto_json_string(const json_t *v, const char *what, size_t max,
                                                const char **out);
/* securesystemslib HEX_SCHEMA: [a-fA-F0-9]+ */
bool cs_intoto_is_hex(const char *s);

#endif
