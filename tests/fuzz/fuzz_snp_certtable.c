/*
 * libFuzzer target for the SEV-SNP certificate table parser
 * (src/attest/snp_certtable.c): the bytes are an auxblob. Whatever parses
 * must name only bytes inside the blob, after the table, without overlaps,
 * and must survive being rebuilt and parsed again with the same entries.
 */
#include "attest/snp_certtable.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_snp_certtable t;
    if (cs_snp_certtable_parse(CS_SLICE(data, size), &t) != CONSORT_OK) {
        if (t.count != 0)
            abort();
        return 0;
    }
    const uint8_t *table_end = data + (t.count + 1) * CS_SNP_CERTTABLE_ENTRY_LEN;
    for (size_t i = 0; i < t.count; i++) {
        const cs_snp_cert_entry *e = &t.entries[i];
        if (e->data.len == 0 || e->data.ptr < table_end || e->data.ptr + e->data.len > data + size)
            abort();
        for (size_t j = 0; j < i; j++) {
            const cs_snp_cert_entry *p = &t.entries[j];
            if (e->data.ptr < p->data.ptr + p->data.len && p->data.ptr < e->data.ptr + e->data.len)
                abort();
        }
    }
    cs_buf again;
    cs_buf_init(&again, 0);
    if (cs_snp_certtable_build(t.entries, t.count, &again) == CONSORT_OK) {
        cs_snp_certtable u;
        if (cs_snp_certtable_parse(cs_buf_slice(&again), &u) != CONSORT_OK || u.count != t.count)
            abort();
        for (size_t i = 0; i < t.count; i++)
            if (u.entries[i].kind != t.entries[i].kind ||
                !cs_slice_eq(u.entries[i].data, t.entries[i].data))
                abort();
    }
    cs_buf_cleanup(&again);
    return 0;
}
