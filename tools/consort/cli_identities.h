/*
 * The identity chain of a recovered service as a client gets it
 * (docs/recovery.md "The identity chain"): the JSON of GET /node/network
 * (or GET /gov/recovery), whose "previous_identities" carry the succession
 * records. Only the records are taken (base64-decoded); nothing else in the
 * file is trusted, since every record carries both identities' signatures
 * and is checked where it is used (store/succession.h).
 */
#ifndef CS_CLI_IDENTITIES_H
#define CS_CLI_IDENTITIES_H

#include "base/buf.h"

/* The succession records of `file`, each an owned buffer in out->items
 * (out initialised with cs_cli_identities_init, freed with _cleanup).
 * Errors, naming the file: IO, NOT_FOUND, MALFORMED (not JSON, no
 * "previous_identities" array, an item without "record"), TOO_LARGE. */
typedef struct cs_cli_identities {
    cs_buf *items;
    cs_slice *records; /* slices of items, for store/succession.h */
    size_t count;
} cs_cli_identities;

void cs_cli_identities_init(cs_cli_identities *ids);
void cs_cli_identities_cleanup(cs_cli_identities *ids);
CS_MUST_CHECK consort_err cs_cli_identities_read(const char *file, cs_cli_identities *out);

#endif
