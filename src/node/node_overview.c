/*
 * GET /node/overview (node.h cs_node_overview_json): every node of the
 * service with what an operator looks for first, in one read-only document
 * (the web console's network view, docs/http-api.md): its Raft role in the
 * current configuration, whether it leads, its platform, code id, and the
 * claims its evidence proves when verified now (security version, TCB
 * status, debug, advisories) or why it does not verify.
 *
 * Verifying evidence costs signature checks, so a verdict is remembered by
 * the SHA-256 of the evidence for NODE_TCB_TTL_MS: a client polling the
 * endpoint makes at most one verification per node per minute.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "crypto/hash.h"
#include "node/service_maps.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct overview {
    cs_node *n;
    json_t *nodes;
    cs_raft_member members[CS_NODE_MAX_LIST];
    size_t member_count;
    uint64_t leader;
    consort_err rc;
} overview;

static const char *role_of(const overview *o, uint64_t raft_id)
{
    for (size_t i = 0; i < o->member_count; i++)
        if (o->members[i].id == raft_id)
            return o->members[i].role == CS_RAFT_VOTER     ? "voter"
                   : o->members[i].role == CS_RAFT_STANDBY ? "standby"
                                                           : "spare";
    return "none";
}

/* The cached verdict for `digest`, or a fresh one (the slot reused is the
 * oldest). Never NULL. */
static const node_tcb_entry *verdict(cs_node *n, cs_slice evidence)
{
    uint8_t digest[32];
    cs_sha256(evidence, digest);
    uint64_t now = uv_now(n->loop);
    node_tcb_entry *slot = &n->tcb[0];
    for (unsigned i = 0; i < NODE_TCB_CACHE; i++) {
        node_tcb_entry *e = &n->tcb[i];
        if (e->used && memcmp(e->digest, digest, 32) == 0) {
            if (now - e->checked_at < NODE_TCB_TTL_MS)
                return e;
            slot = e;
            break;
        }
        if (!e->used || e->checked_at < slot->checked_at)
            slot = e;
    }
    memset(slot, 0, sizeof *slot);
    memcpy(slot->digest, digest, 32);
    slot->used = true;
    slot->checked_at = now;
    cs_evidence ev;
    cs_evidence_init(&ev);
    cs_verify_opts opts = *node_platform_verify_opts(n->platform);
    opts.now = (int64_t)time(NULL);
    cs_claims claims;
    consort_err rc = cs_evidence_decode(evidence, &ev);
    if (rc == CONSORT_OK)
        rc = cs_evidence_verify(&ev, &opts, &claims);
    cs_evidence_cleanup(&ev);
    slot->verified = rc == CONSORT_OK;
    if (!slot->verified) {
        snprintf(slot->error, sizeof slot->error, "%s", consort_errmsg());
        /* JSON strings are UTF-8: a message quoting evidence bytes may not be */
        for (char *p = slot->error; *p != '\0'; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    } else {
        slot->security_version = claims.security_version;
        memcpy(slot->tcb_status, claims.tcb_status, sizeof slot->tcb_status);
        slot->debug = claims.debug;
        memcpy(slot->advisories, claims.advisories, sizeof slot->advisories);
        slot->advisory_count = claims.advisory_count;
    }
    cs_err_clear();
    return slot;
}

static json_t *attestation_json(cs_node *n, cs_slice evidence)
{
    const node_tcb_entry *e = verdict(n, evidence);
    if (!e->verified)
        return json_pack("{s:b, s:s}", "verified", 0, "error", e->error);
    json_t *adv = json_array();
    for (size_t i = 0; adv != NULL && i < e->advisory_count; i++)
        json_array_append_new(adv, json_string(e->advisories[i]));
    return json_pack("{s:b, s:I, s:s, s:b, s:o}", "verified", 1, "security_version",
                     (json_int_t)e->security_version, "tcb_status", e->tcb_status, "debug",
                     e->debug, "advisories", adv);
}

static bool node_visit(void *ctx, const char *id, const node_record *r)
{
    overview *o = ctx;
    if (r == NULL)
        return true;
    char code_id[65];
    cs_hex_encode(CS_SLICE(r->code_id, 32), code_id);
    cs_evidence ev;
    cs_evidence_init(&ev);
    const char *platform = "unknown";
    if (cs_evidence_decode(cs_buf_slice(&r->evidence), &ev) == CONSORT_OK)
        platform = cs_platform_name(ev.platform);
    cs_evidence_cleanup(&ev);
    cs_err_clear();
    json_t *entry =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:o}", "node_id", id, "status", r->status,
                  "rpc_address", r->rpc_address, "raft_role", role_of(o, r->raft_id), "is_leader",
                  o->leader != 0 && o->leader == r->raft_id, "platform", platform, "code_id",
                  code_id, "attestation", attestation_json(o->n, cs_buf_slice(&r->evidence)));
    if (entry == NULL || json_array_append_new(o->nodes, entry) != 0) {
        o->rc = cs_fail(CONSORT_E_NOMEM, "JSON document");
        return false;
    }
    return true;
}

consort_err cs_node_overview_json(cs_node *n, cs_buf *out)
{
    CS_ENSURE(n->replica != NULL && n->platform != NULL, CONSORT_E_STATE,
              "node %s has no state yet", cs_node_id(n));
    overview *o = cs_calloc(1, sizeof *o);
    CS_ENSURE(o != NULL, CONSORT_E_NOMEM, "overview: out of memory");
    o->n = n;
    o->nodes = json_array();
    consort_err rc = o->nodes != NULL ? CONSORT_OK : cs_fail(CONSORT_E_NOMEM, "JSON document");
    if (rc == CONSORT_OK && n->cons != NULL) {
        o->leader = cs_consensus_leader(n->cons, NULL);
        rc = cs_consensus_members(n->cons, o->members, CS_NODE_MAX_LIST, &o->member_count);
    }
    if (rc == CONSORT_OK)
        rc = svc_records_each(node_replica_kv(n->replica), node_visit, o);
    if (rc == CONSORT_OK)
        rc = o->rc;
    if (rc == CONSORT_OK) {
        char leader[CS_NODE_ID_LEN + 1] = "";
        if (o->leader != 0)
            snprintf(leader, sizeof leader, "%016llx", (unsigned long long)o->leader);
        json_t *doc = json_pack("{s:s, s:s?, s:I, s:O}", "node_id", cs_node_id(n), "leader_id",
                                o->leader != 0 ? leader : NULL, "raft_term",
                                (json_int_t)(n->cons != NULL ? cs_consensus_term(n->cons) : 0),
                                "nodes", o->nodes);
        char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        rc = text != NULL ? cs_buf_append(out, text, strlen(text))
                          : cs_fail(CONSORT_E_NOMEM, "JSON text");
        free(text);
    }
    json_decref(o->nodes);
    cs_free(o);
    return rc;
}
