/*
 * Shell-style patterns exactly as in-toto 1.3.1 matches artifact paths:
 * Python 3.11's fnmatch.filter on POSIX, that is fnmatch.translate's regular
 * expression matched against the whole path, on Unicode code points:
 *
 *   *       any run of characters, '/' and newlines included
 *   ?       any one character
 *   [seq]   one character in seq; [!seq] one not in seq; a-z ranges; a ']'
 *           first in seq is literal; '[' with no closing ']' is literal;
 *           empty ranges (z-a) are dropped as translate drops them; an
 *           empty set never matches, [!] ... matches per translate
 *   other   itself (no escaping: there is no way to quote a metacharacter)
 *
 * Not libc fnmatch(3): '*' crosses '/', there are no escapes, and a
 * bracket expression is Python's, not POSIX's.
 */
#ifndef CS_SUPPLY_FNMATCH_H
#define CS_SUPPLY_FNMATCH_H

#include "base/buf.h"

typedef struct cs_fnmatch cs_fnmatch;

/*
 * Compiles `pattern` (UTF-8). CONSORT_E_MALFORMED if it is not UTF-8 or is
 * a bracket expression Python's regular expressions would refuse;
 * CONSORT_E_TOO_LARGE over 4096 code points.
 */
CS_MUST_CHECK consort_err cs_fnmatch_compile(const char *pattern, cs_fnmatch **out);
void cs_fnmatch_free(cs_fnmatch *m);
/*
 * Sets *matched to whether the whole of `name` (UTF-8) matches. Fails
 * (CONSORT_E_NOMEM, CONSORT_E_MALFORMED for a name that is not UTF-8,
 * CONSORT_E_TOO_LARGE over 4096 code points) rather than answer "no match"
 * when it cannot tell: a DISALLOW rule must not pass by default.
 */
CS_MUST_CHECK consort_err cs_fnmatch_match(const cs_fnmatch *m, const char *name, bool *matched);

#endif
