/* Internals of the recovery part (recovery.h), shared by recovery.c (the
 * previous ledger) and recovery_share.c (the members' shares) only. */
#ifndef CS_NODE_RECOVERY_PRIV_H
#define CS_NODE_RECOVERY_PRIV_H

#include "node/recovery.h"
#include "store/succession.h"

/* Request digests remembered against replays (more than any window holds). */
#define RECOVERY_DIGESTS_MAX 4096

struct node_recovery {
    node_recovery_opts o;
    char ledger_dir[CS_NODE_PATH_MAX];
    cs_kv_store *kv; /* the public state at the recovery point */
    cs_txid point;
    uint64_t max_term; /* of every entry read, the unsigned tail included */
    cs_succession_link links[CS_SUCCESSION_CHAIN_MAX + 1]; /* oldest first */
    size_t link_count;
    node_share_wrapping wrapping;

    /* the shares submitted so far (secret: wiped at free) */
    cs_gov_share shares[CS_GOV_SHARES_MAX];
    char submitters[CS_GOV_SHARES_MAX][CS_GOV_ID_HEX_LEN + 1];
    size_t submitted;
    uint8_t (*digests)[CS_SHA256_LEN]; /* every request accepted */
    size_t digest_count;
};

#endif
