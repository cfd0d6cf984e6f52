/*
 * The steps of a node's migration (docs/migration.md §5), each run by the
 * stopped node's own binary on its own platform:
 *
 *   consortd --config FILE --migrate STEP [IN [OUT]]
 *
 *   status                 prints {"state", "instance", "peer", "code_id",
 *                          "anchor", "data_dir"} (state "none": no store)
 *   nonce OUT              source: a fresh nonce for the destination's offer
 *   offer NONCE OUT        destination: its offer (evidence bound to NONCE)
 *   answer OFFER OUT       source: freezes, writes the package; prints
 *                          "package", or "done" when it retired to this
 *                          destination already (OUT is then the done)
 *   accept PACKAGE OUT     destination: seals the state PENDING, writes the
 *                          confirm
 *   confirm CONFIRM OUT    source: retires, writes the done
 *   finish DONE            destination: goes LIVE
 *
 * The files are the messages `consort migrate` relays (the host's: every
 * one is authenticated by whoever reads it). The nonce a source issued is
 * kept in data_dir/sealed/migrate-nonce (not secret). Every step is
 * idempotent.
 */
#ifndef CS_NODE_MIGRATE_H
#define CS_NODE_MIGRATE_H

/* Runs one step; the exit status (0, 1 with the reason logged, 2 usage). */
int cs_node_migrate_main(const char *config, const char *step, const char *in, const char *out);

#endif
