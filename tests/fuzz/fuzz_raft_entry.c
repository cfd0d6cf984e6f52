/*
 * libFuzzer target for the raft entry envelope (src/consensus/entry.h): any
 * bytes either fail to decode or decode to data that re-encodes to exactly
 * the same envelope.
 */
#include "consensus/entry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_slice out;
    if (cs_raft_entry_decode(CS_SLICE(data, size), &out) != CONSORT_OK)
        return 0;
    struct raft_buffer again;
    if (cs_raft_entry_encode(out, &again) != CONSORT_OK)
        abort();
    if (again.len != size || memcmp(again.base, data, size) != 0)
        abort();
    raft_free(again.base);
    return 0;
}
