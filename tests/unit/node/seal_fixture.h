/*
 * A sealed store in a fresh temporary directory with a file anchor, for the
 * tests of node_seal.h and vault.h: its paths and keys (sf_init), a handle
 * on it (sf_open) and the directory removed (sf_cleanup).
 */
#ifndef CS_TEST_SEAL_FIXTURE_H
#define CS_TEST_SEAL_FIXTURE_H

#include "testutil.h"

#include "node/node_seal.h"
#include "sealing/anchor.h"
#include "sealing/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct seal_fixture {
    char dir[64];
    char store[96];
    char anchor[96];
    cs_sealstore_keys keys;
} seal_fixture;

/* 0, or -1 if the directory could not be made. */
static inline int sf_init(seal_fixture *s, const char *name)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/consort-%s-XXXXXX", name);
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(s->store, sizeof s->store, "%s/sealed", s->dir);
    snprintf(s->anchor, sizeof s->anchor, "%s/anchor", s->dir);
    memset(s->keys.code_id, 0x5a, 32);
    memset(s->keys.lineage_root, 0x17, 32);
    return 0;
}

static inline node_seal *sf_open(seal_fixture *s, bool *created)
{
    cs_anchor *a;
    cst_ok(cs_anchor_file_open(s->anchor, &a));
    node_seal *ns;
    cst_ok(node_seal_open_dir(s->store, &s->keys, a, &ns, created));
    return ns;
}

/* 0, or -1 if the directory could not be removed. */
static inline int sf_cleanup(seal_fixture *s)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
