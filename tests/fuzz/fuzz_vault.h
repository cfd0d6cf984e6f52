/*
 * The node's sealed store for fuzz targets and the seed generator
 * (node_seal.h node_seal_open_dir): in <dir>/sealed, with the fixed keys of
 * fuzz_fixed.h (FUZZ_CODE_ID, FUZZ_SEAL_KEY as the lineage root) and a file
 * anchor <dir>/anchor. Aborts on failure.
 */
#ifndef CS_FUZZ_VAULT_H
#define CS_FUZZ_VAULT_H

#include "seedgen/fuzz_fixed.h"

#include "node/node_seal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline cs_sealstore_keys fuzz_seal_keys(void)
{
    cs_sealstore_keys k;
    memcpy(k.code_id, FUZZ_CODE_ID, sizeof k.code_id);
    memcpy(k.lineage_root, FUZZ_SEAL_KEY, sizeof k.lineage_root);
    return k;
}

/* The store of `dir` (created if missing); NULL (not an abort) if it does
 * not open: fuzz_sealed feeds it bytes from the host. */
static inline node_seal *fuzz_seal_try(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/anchor", dir);
    cs_anchor *anchor;
    if (cs_anchor_file_open(path, &anchor) != CONSORT_OK)
        abort();
    snprintf(path, sizeof path, "%s/sealed", dir);
    const cs_sealstore_keys k = fuzz_seal_keys();
    node_seal *ns;
    bool created;
    return node_seal_open_dir(path, &k, anchor, &ns, &created) == CONSORT_OK ? ns : NULL;
}

static inline node_seal *fuzz_seal_at(const char *dir)
{
    node_seal *ns = fuzz_seal_try(dir);
    if (ns == NULL)
        abort();
    return ns;
}

#endif
