/*
 * Canonical JSON exactly as securesystemslib 0.26 encodes what in-toto signs
 * (securesystemslib.formats.encode_canonical, "OLPC canonical JSON" as that
 * library implements it), then UTF-8 encoded:
 *
 *   - objects with their members sorted by key (code point order, which is
 *     also the order of the keys' UTF-8 bytes), no whitespace anywhere;
 *   - strings between double quotes, with only `\` and `"` escaped (as `\\`
 *     and `\"`); every other character, control characters included, is
 *     written as its raw UTF-8 bytes;
 *   - integers in decimal; true, false, null; arrays;
 *   - floats are refused (securesystemslib: "I cannot encode 1.5").
 *
 * The parser that goes with it (cs_cjson_parse) is jansson, strict: a
 * document of at most CS_CJSON_MAX_DOC bytes, duplicate keys refused,
 * `\u0000` refused, nesting capped by jansson (2048).
 */
#ifndef CS_SUPPLY_CJSON_H
#define CS_SUPPLY_CJSON_H

#include "base/buf.h"

#include <jansson.h>

/* Largest JSON document (layout or link) accepted: 4 MiB. */
#define CS_CJSON_MAX_DOC ((size_t)4 << 20)

/*
 * Parses `text` (one JSON value, nothing after it but whitespace) into *out,
 * which the caller json_decref()s. CONSORT_E_TOO_LARGE over CS_CJSON_MAX_DOC;
 * CONSORT_E_MALFORMED with jansson's reason, line and column otherwise.
 */
CS_MUST_CHECK consort_err cs_cjson_parse(cs_slice text, json_t **out);

/*
 * Appends the canonical encoding of `v` to `out`. CONSORT_E_UNSUPPORTED for
 * a float anywhere in `v` (naming its path); CONSORT_E_TOO_LARGE if `out`
 * would outgrow its cap.
 */
CS_MUST_CHECK consort_err cs_cjson_encode(const json_t *v, cs_buf *out);

#endif
