/*
 * JSON helpers for Intel's signed collateral documents (private to the
 * dcap_*.c files).
 *
 * A PCS TCB info or QE identity response is {"tcbInfo"|"enclaveIdentity":
 * {...}, "signature": "<hex r||s>"}, and the ECDSA P-256 signature (by the
 * TCB Signing key) covers the inner object's body exactly as Intel wrote it
 * [PCS API v4, TCB Info and Enclave Identity models]. So the signed bytes
 * are taken as a raw span of the document, never re-serialised, and the
 * fields are then read from that same span: what is checked is what was
 * signed. Duplicate members are rejected, so no second "tcbInfo" can hide
 * behind the signed one.
 */
#ifndef CS_ATTEST_DCAP_JSON_H
#define CS_ATTEST_DCAP_JSON_H

#include "attest/dcap.h"

#include <jansson.h>

/* Cap on a collateral document. */
#define CS_DCAP_MAX_JSON (256 * 1024)

/*
 * Parses `text` as exactly one JSON object (duplicate keys rejected). The
 * caller json_decref()s *out. CONSORT_E_MALFORMED with jansson's reason.
 */
CS_MUST_CHECK consort_err cs_dcap_json_parse(cs_slice text, json_t **out);

/*
 * The exact bytes of the value of top-level member `key` of the JSON object
 * `doc` (borrowed from `doc`). `doc` must already have been parsed by
 * cs_dcap_json_parse, so it is known to be well-formed; a key written with
 * escapes is not found (CONSORT_E_MALFORMED).
 */
CS_MUST_CHECK consort_err cs_dcap_json_member_span(cs_slice doc, const char *key, cs_slice *out);

/* Typed members of `obj`; each failure names the member. */
CS_MUST_CHECK consort_err cs_dcap_json_string(const json_t *obj, const char *key, char *out,
                                              size_t n);
/* Exactly `len` bytes written as 2*len hex digits (either case). */
CS_MUST_CHECK consort_err cs_dcap_json_hex(const json_t *obj, const char *key, uint8_t *out,
                                           size_t len);
CS_MUST_CHECK consort_err cs_dcap_json_uint(const json_t *obj, const char *key, uint64_t max,
                                            uint64_t *out);
/* An RFC 3339 date; `text` (24 bytes) receives it as written. */
CS_MUST_CHECK consort_err cs_dcap_json_time(const json_t *obj, const char *key, int64_t *out,
                                            char text[24]);
/* "tcbStatus", "tcbDate" and the optional "advisoryIDs" of a TCB level. */
CS_MUST_CHECK consort_err cs_dcap_json_level_common(const json_t *level, cs_dcap_status *status,
                                                    char tcb_date[24], cs_dcap_advisories *adv);
/*
 * The "tcbLevels" array of `obj` whose entries are {"tcb": {"isvsvn": n},
 * "tcbStatus", "tcbDate", "advisoryIDs"?} with n <= max_svn. On success
 * *levels is a new array (caller frees) of *count entries in document order.
 */
CS_MUST_CHECK consort_err cs_dcap_json_svn_levels(const json_t *obj, uint16_t max_svn,
                                                  cs_dcap_svn_level **levels, size_t *count);
/* The member `key`, which must be an array of 1..max elements. */
CS_MUST_CHECK consort_err cs_dcap_json_array(const json_t *obj, const char *key, size_t max,
                                             const json_t **out);

#endif
