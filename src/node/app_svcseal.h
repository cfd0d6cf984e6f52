/*
 * Sealing in the service's scope (app.h CONSORT_APP_SEALING,
 * CONSORT_SEALING_SERVICE; docs/migration.md §3 "replicated"): keys from
 * the service's sealing root and counters in the service's store, both read
 * and written through the handler's own transaction, so they are exactly as
 * durable and as consistent as the handler's other writes.
 *
 * Two private maps (encrypted in the ledger; an application reaches them
 * only through these functions, cs_app_map_reserved):
 *
 *   consort.app.sealing    "root" -> 32 random bytes (made by the first seal)
 *   consort.app.counters   name   -> value, 8 bytes big-endian (absent: 0)
 *
 * The object below is what a node keeps between requests: its code id and
 * the key schedule of the root (rebuilt whenever the root a transaction
 * reads differs). Any thread may call these functions at once.
 */
#ifndef CS_NODE_APP_SVCSEAL_H
#define CS_NODE_APP_SVCSEAL_H

#include "node/app_host.h"

#define APP_MAP_SEALING  "consort.app.sealing"
#define APP_MAP_COUNTERS "consort.app.counters"

typedef struct cs_app_svcseal cs_app_svcseal;

/* `code_id`: the code this node runs (the sealer of what it seals, the
 * opener of what it opens). */
CS_MUST_CHECK consort_err cs_app_svcseal_new(const uint8_t code_id[32], cs_app_svcseal **out);
/* Wipes the key schedule. NULL: no-op. */
void cs_app_svcseal_free(cs_app_svcseal *s);

/* app.h consort_seal in the service scope, arguments already checked:
 * appends the blob to `out`. STATE in a read-only transaction when a
 * counter is named or the service has no root yet. */
CS_MUST_CHECK consort_err cs_app_svcseal_seal(cs_app_svcseal *s, consort_tx *tx,
                                              consort_seal_policy policy, const char *counter,
                                              cs_slice plain, cs_buf *out);
/* app.h consort_unseal in the service scope: appends the plaintext to `out`
 * (nothing on failure). BAD_TAG (altered, of another service or scope, or
 * the service never sealed), POLICY, MALFORMED, ROLLBACK, STATE (a counter
 * check in a read-only transaction). */
CS_MUST_CHECK consort_err cs_app_svcseal_unseal(cs_app_svcseal *s, consort_tx *tx, cs_slice blob,
                                                cs_buf *out);

/* The service's counter `name` in `tx` (0 if never incremented). CORRUPT
 * for a stored value that is not 8 bytes. */
CS_MUST_CHECK consort_err cs_app_counter_get(consort_tx *tx, const char *name, uint64_t *value);
/* Adds one in `tx`: STATE in a read-only transaction, TOO_LARGE at 2^64-1. */
CS_MUST_CHECK consort_err cs_app_counter_bump(consort_tx *tx, const char *name, uint64_t *value);

#endif
