/*
 * What a node's code id names (attest/code_id.h, v2; docs/attestation.md
 * "What a code id covers, per platform"), measured the same way by a
 * starting node and by `consortd --code-id`:
 *
 *   1. the application module is loaded once, from a sealed memfd holding
 *      the only copy of its bytes that was ever read (node/app_host.h);
 *   2. warm-up: what the node would otherwise load lazily is loaded now:
 *      OpenSSL's configuration, providers and algorithms (an in-memory TLS
 *      1.3 handshake, ECDSA, AES-GCM, HKDF), and on the tpm platform the
 *      TCTI library tss2 dlopen()s (attest/tpm_tcti.h);
 *   3. every executable mapping of the process is measured
 *      (attest/code_id_maps.h).
 *
 * Later, before the node produces evidence, cs_node_code_check re-scans the
 * mappings and refuses (naming the object) if the process maps code the
 * measurement does not describe.
 *
 * Everything runs on the calling thread (the node's loop thread).
 */
#ifndef CS_NODE_NODE_CODE_H
#define CS_NODE_NODE_CODE_H

#include "attest/code_id_maps.h"
#include "node/node.h"

#include <consort/app.h>

typedef struct cs_node_code cs_node_code;

/*
 * Loads cfg->app_path (none if empty), warms up for cfg->platform (and
 * cfg->tpm_tcti) and measures. Errors: the module's (cs_app_load), the
 * warm-up's (a TCTI that cannot be named or loaded, a crypto failure),
 * the measurement's (cs_code_measure_take), NOMEM.
 */
CS_MUST_CHECK consort_err cs_node_code_measure(const cs_node_config *cfg, cs_node_code **out);
/* The code id (32 bytes, lives as long as `c`). */
const uint8_t *cs_node_code_id(const cs_node_code *c);
/* The loaded module (NULL: none), owned by `c`. */
consort_app *cs_node_code_app(const cs_node_code *c);
/* What was measured (objects, digests, re-scan counters). */
const cs_code_measure *cs_node_code_measurement(const cs_node_code *c);
/* Re-scans (cs_code_measure_check): CONSORT_OK iff the process runs only measured code. */
CS_MUST_CHECK consort_err cs_node_code_check(cs_node_code *c);
/* Frees the measurement and the module (dlclose). NULL is a no-op. */
void cs_node_code_free(cs_node_code *c);

#endif
