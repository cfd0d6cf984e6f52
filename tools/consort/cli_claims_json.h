/*
 * Claims as JSON, for `consort evidence verify` and any verb that shows
 * what a verifier established. Shape (docs/attestation.md):
 *   { "platform": "virtual", "code_id": "<hex>", "signer": "<hex>",
 *     "security_version": 7 (a decimal string above 2^53), "debug": false, "report_data": "<hex>",
 *     "tcb_status": "", "advisories": [...],
 *     "extra": { "<name>": { "kind": "hex"|"u64"|"bool"|"string", "value": ... } } }
 */
#ifndef CS_CLI_CLAIMS_JSON_H
#define CS_CLI_CLAIMS_JSON_H

#include "attest/evidence.h"

#include <jansson.h>

/* A new JSON object for `claims` (caller json_decref()s). CONSORT_E_NOMEM on failure. */
CS_MUST_CHECK consort_err cs_cli_claims_to_json(const cs_claims *claims, json_t **out);

/* Prints the claims as indented JSON followed by a newline. */
CS_MUST_CHECK consort_err cs_cli_claims_print(const cs_claims *claims, FILE *out);

#endif
