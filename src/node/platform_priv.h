/* Internals of the platform (platform.h), shared by platform.c (virtual,
 * policy) and platform_tpm.c (tpm) only. */
#ifndef CS_NODE_PLATFORM_PRIV_H
#define CS_NODE_PLATFORM_PRIV_H

#include "attest/virtual.h"
#include "net/attested.h"
#include "node/platform.h"

#define PLATFORM_LOG          "node"
#define PLATFORM_LINEAGE_INFO "consort sealing lineage v1"

struct node_platform {
    const cs_node_config *cfg; /* borrowed from the node */
    cs_node_code *code;
    char node_id[CS_NODE_ID_LEN + 1];
    cs_virtual_platform *vplat;  /* virtual */
    struct cs_tpm_attester *tpm; /* tpm */
    cs_blob_list file_anchors;   /* what files say */
    cs_blob_list anchors;        /* in use: the store's once it has some */
    cs_verify_opts verify_opts;  /* .anchors = &anchors */
    cs_policy policy;            /* peers of the service */
    cs_policy join_policy;       /* a joiner checking its target */
    uint8_t lineage_root[32];    /* derived at open (wiped at free) */
};

/* ---- platform_tpm.c ---- */
/* Derives the lineage root (first: it flushes transient
 * objects an earlier process left, which would flush this process's AK
 * too if done later), opens the TPM attester and adds tpm_ak_ca_cert to
 * p->file_anchors. */
CS_MUST_CHECK consort_err platform_tpm_open(node_platform *p);
void platform_tpm_close(node_platform *p);
CS_MUST_CHECK consort_err platform_tpm_attest(node_platform *p, const cs_key *key, cs_slice nonce,
                                              cs_evidence *out);

#endif
