/*
 * The node's sealed store (node_seal.h).
 */
#include "node/node_seal.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/hash.h"
#include "node/svc_lineage.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_LOG "node"

struct node_seal {
    pthread_mutex_t mu;
    cs_anchor *anchor;
    cs_sealstore *store;
    cs_app_sealer sealer;
    char dir[CS_NODE_PATH_MAX + 16];
    cs_sealstore_keys keys;     /* to reopen the store after a failed commit */
    atomic_uint refs;           /* node_seal_free's, plus one per later write */
    atomic_uint_fast64_t given; /* payloads given so far */
    uint64_t written;           /* the order of the last one written (under mu) */
};

/*
 * After a failed change (a full disk, say) the store's handle refuses every
 * later one until the store is reopened (store.h: which state is durable is
 * unknown until then): reopen it now, so the next change can succeed once
 * the cause is gone. A reopen that fails leaves the broken handle, refusing,
 * and the next failure tries again. Called with the mutex held.
 */
static void reopen_after(node_seal *ns, consort_err rc)
{
    if (rc == CONSORT_OK || rc == CONSORT_E_INVALID_ARGUMENT || rc == CONSORT_E_FROZEN ||
        rc == CONSORT_E_TOO_LARGE || rc == CONSORT_E_ROLLBACK || rc == CONSORT_E_POLICY ||
        rc == CONSORT_E_BAD_TAG || rc == CONSORT_E_MALFORMED || rc == CONSORT_E_TRUNCATED)
        return; /* refusals of the request, not a failed commit */
    char msg[CS_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", consort_errmsg());
    cs_sealstore *fresh;
    if (cs_sealstore_open(ns->dir, &ns->keys, ns->anchor, &fresh) == CONSORT_OK) {
        cs_sealstore_free(ns->store);
        ns->store = fresh;
        cs_log_warn(SEAL_LOG, "sealed store %s: reopened after a failed change", ns->dir);
    }
    cs_fail(rc, "%s", msg); /* the caller reports the original failure */
}

consort_err node_seal_dir(const cs_node_config *cfg, char *out, size_t n)
{
    return cs_path_join(out, n, cfg->data_dir, "sealed");
}

consort_err node_seal_anchor_open(const cs_node_config *cfg, cs_anchor **out)
{
    if (cfg->platform == CS_PLATFORM_TPM)
        return cs_anchor_tpm_open(cfg->tpm_tcti, CS_ANCHOR_TPM_DEFAULT_INDEX, out);
    CS_ENSURE(cfg->platform == CS_PLATFORM_VIRTUAL, CONSORT_E_UNSUPPORTED,
              "sealed state: no monotonic counter on platform %s", cs_platform_name(cfg->platform));
    /* The virtual platform's counter lives with the platform (the machine),
     * named after the data directory it anchors. */
    char real[PATH_MAX];
    const char *dir = realpath(cfg->data_dir, real) != NULL ? real : cfg->data_dir;
    uint8_t digest[32];
    cs_sha256(cs_slice_str(dir), digest);
    char name[17], counters[CS_NODE_PATH_MAX + 16], path[CS_NODE_PATH_MAX + 40];
    cs_hex_encode(CS_SLICE(digest, 8), name);
    CS_TRY(cs_path_join(counters, sizeof counters, cfg->platform_dir, "counters"));
    CS_TRY_CTX(cs_mkdir_p(counters, 0700), "sealed state: %s", counters);
    CS_TRY(cs_path_join(path, sizeof path, counters, name));
    return cs_anchor_file_open(path, out);
}

void node_seal_keys(const node_platform *p, const uint8_t code_id[32], cs_sealstore_keys *out)
{
    memcpy(out->code_id, code_id, sizeof out->code_id);
    node_platform_lineage_root(p, out->lineage_root);
}

/* ---- the application's sealer (app_host.h) ---- */

static consort_err app_seal(void *ctx, consort_seal_policy policy, const char *counter,
                            cs_slice plain, cs_buf *out)
{
    node_seal *ns = ctx;
    pthread_mutex_lock(&ns->mu);
    consort_err rc = cs_sealstore_seal(ns->store, (cs_seal_policy)policy, counter, plain, out);
    reopen_after(ns, rc);
    pthread_mutex_unlock(&ns->mu);
    return rc;
}

static consort_err app_unseal(void *ctx, cs_slice blob, cs_buf *out)
{
    node_seal *ns = ctx;
    pthread_mutex_lock(&ns->mu);
    consort_err rc = cs_sealstore_unseal(ns->store, blob, NULL, out);
    pthread_mutex_unlock(&ns->mu);
    return rc;
}

static consort_err app_counter_read(void *ctx, const char *name, uint64_t *value)
{
    node_seal *ns = ctx;
    pthread_mutex_lock(&ns->mu);
    consort_err rc = cs_sealstore_counter_read(ns->store, name, value);
    pthread_mutex_unlock(&ns->mu);
    return rc;
}

static consort_err app_counter_increment(void *ctx, const char *name, uint64_t *value)
{
    node_seal *ns = ctx;
    pthread_mutex_lock(&ns->mu);
    consort_err rc = cs_sealstore_counter_increment(ns->store, name, value);
    reopen_after(ns, rc);
    pthread_mutex_unlock(&ns->mu);
    return rc;
}

/* ---- open ---- */

/* STATE, saying what to do, unless the store is LIVE. */
static consort_err check_live(const cs_sealstore *s, const char *dir)
{
    char peer[33] = "";
    if (cs_sealstore_peer_id(s) != NULL)
        cs_hex_encode(CS_SLICE(cs_sealstore_peer_id(s), CS_SEALSTORE_ID_LEN), peer);
    switch (cs_sealstore_state_of(s)) {
    case CS_SEALSTORE_LIVE:
        return CONSORT_OK;
    case CS_SEALSTORE_FROZEN:
        return cs_fail(CONSORT_E_FROZEN,
                       "%s: frozen for a migration to another machine: finish it with `consort "
                       "migrate` (this node never runs here again once it is done)",
                       dir);
    case CS_SEALSTORE_RETIRED:
        return cs_fail(CONSORT_E_FROZEN,
                       "%s: this node's state moved to instance %s (consort migrate): this data "
                       "directory never runs again",
                       dir, peer);
    case CS_SEALSTORE_PENDING:
        return cs_fail(CONSORT_E_FROZEN,
                       "%s: a migration from instance %s is not finished: run `consort migrate` "
                       "again",
                       dir, peer);
    }
    return cs_fail(CONSORT_E_CORRUPT, "%s: unknown state", dir);
}

consort_err node_seal_open(const cs_node_config *cfg, const node_platform *p,
                           const uint8_t code_id[32], node_seal **out, bool *created)
{
    char dir[CS_NODE_PATH_MAX + 16];
    CS_TRY(node_seal_dir(cfg, dir, sizeof dir));
    char legacy[CS_NODE_PATH_MAX + 32];
    CS_TRY(cs_path_join(legacy, sizeof legacy, dir, "sealed.bin"));
    CS_ENSURE(!cs_file_exists(legacy), CONSORT_E_UNSUPPORTED,
              "%s: sealed state of the format before sealed stores (bound to one code id): this "
              "node cannot be upgraded in place; start a new node that joins the service",
              legacy);
    cs_anchor *anchor;
    CS_TRY_CTX(node_seal_anchor_open(cfg, &anchor), "sealed state");
    cs_sealstore_keys keys;
    node_seal_keys(p, code_id, &keys);
    consort_err rc = node_seal_open_dir(dir, &keys, anchor, out, created);
    cs_wipe(&keys, sizeof keys);
    return rc;
}

consort_err node_seal_open_dir(const char *dir, const cs_sealstore_keys *keys, cs_anchor *anchor,
                               node_seal **out, bool *created)
{
    node_seal *ns = cs_calloc(1, sizeof *ns);
    if (ns == NULL) {
        cs_anchor_free(anchor);
        return cs_fail(CONSORT_E_NOMEM, "sealed state: out of memory");
    }
    pthread_mutex_init(&ns->mu, NULL);
    atomic_init(&ns->refs, 1);
    atomic_init(&ns->given, 0);
    ns->anchor = anchor;
    ns->keys = *keys;
    if (snprintf(ns->dir, sizeof ns->dir, "%s", dir) >= (int)sizeof ns->dir) {
        node_seal_free(ns);
        return cs_fail(CONSORT_E_INVALID_ARGUMENT, "sealed state: path too long: %s", dir);
    }
    consort_err rc = cs_sealstore_open(dir, keys, ns->anchor, &ns->store);
    *created = rc == CONSORT_E_NOT_FOUND;
    if (*created) {
        cs_err_clear();
        rc = cs_sealstore_create(dir, keys, ns->anchor, &ns->store);
    }
    CS_TRY_GOTO(rc, rc, fail);
    CS_TRY_GOTO(rc, check_live(ns->store, dir), fail);
    if (!cs_anchor_is_secure(ns->anchor))
        cs_log_warn(SEAL_LOG,
                    "sealed state: the monotonic counter is %s, which the host can roll back "
                    "(INSECURE, development only)",
                    cs_anchor_name(ns->anchor));
    ns->sealer = (cs_app_sealer){.ctx = ns,
                                 .seal = app_seal,
                                 .unseal = app_unseal,
                                 .counter_read = app_counter_read,
                                 .counter_increment = app_counter_increment};
    *out = ns;
    return CONSORT_OK;
fail:
    node_seal_free(ns);
    return cs_err_context(rc, "sealed state");
}

void node_seal_free(node_seal *ns)
{
    if (ns == NULL || atomic_fetch_sub(&ns->refs, 1) != 1)
        return;
    cs_sealstore_free(ns->store);
    cs_anchor_free(ns->anchor);
    cs_wipe(&ns->keys, sizeof ns->keys);
    pthread_mutex_destroy(&ns->mu);
    cs_free(ns);
}

consort_err node_seal_payload(node_seal *ns, cs_buf *out)
{
    pthread_mutex_lock(&ns->mu);
    cs_slice p = cs_sealstore_payload(ns->store);
    consort_err rc = p.len == 0 ? CONSORT_E_NOT_FOUND : cs_buf_set(out, p);
    pthread_mutex_unlock(&ns->mu);
    return rc;
}

/* Writes payload number `order` unless a later one is already written. */
static consort_err set_in_order(node_seal *ns, cs_slice payload, uint64_t order)
{
    pthread_mutex_lock(&ns->mu);
    consort_err rc = CONSORT_OK;
    if (order > ns->written) {
        rc = cs_sealstore_set_payload(ns->store, payload);
        reopen_after(ns, rc);
        if (rc == CONSORT_OK)
            ns->written = order;
    }
    pthread_mutex_unlock(&ns->mu);
    return rc;
}

consort_err node_seal_set_payload(node_seal *ns, cs_slice payload)
{
    return set_in_order(ns, payload, atomic_fetch_add(&ns->given, 1) + 1);
}

typedef struct later_write {
    uv_work_t work;
    node_seal *ns;
    cs_buf payload;
    uint64_t order;
    consort_err rc;
    char why[CS_ERRMSG_MAX];
    node_seal_done_fn done;
    void *ctx;
} later_write;

static void later_work(uv_work_t *w)
{
    later_write *lw = w->data;
    lw->rc = set_in_order(lw->ns, cs_buf_slice(&lw->payload), lw->order);
    if (lw->rc != CONSORT_OK)
        snprintf(lw->why, sizeof lw->why, "%s", consort_errmsg());
    cs_err_clear();
}

static void later_done(uv_work_t *w, int status)
{
    later_write *lw = w->data;
    (void)status; /* never cancelled */
    if (lw->rc != CONSORT_OK)
        cs_log_warn(SEAL_LOG, "sealed store %s: writing the vault failed: %s", lw->ns->dir,
                    lw->why);
    node_seal_done_fn done = lw->done;
    void *ctx = lw->ctx;
    consort_err rc = lw->rc;
    node_seal_free(lw->ns);
    cs_buf_cleanup(&lw->payload);
    cs_free(lw);
    if (done != NULL)
        done(ctx, rc);
}

consort_err node_seal_set_payload_later(node_seal *ns, uv_loop_t *loop, cs_slice payload,
                                        node_seal_done_fn done, void *ctx)
{
    later_write *lw = cs_calloc(1, sizeof *lw);
    CS_ENSURE(lw != NULL, CONSORT_E_NOMEM, "sealed state: out of memory");
    cs_buf_init_secret(&lw->payload, payload.len);
    consort_err rc = cs_buf_set(&lw->payload, payload);
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&lw->payload);
        cs_free(lw);
        return cs_err_context(rc, "sealed state");
    }
    lw->work.data = lw;
    lw->ns = ns;
    lw->done = done;
    lw->ctx = ctx;
    lw->order = atomic_fetch_add(&ns->given, 1) + 1;
    atomic_fetch_add(&ns->refs, 1);
    int e = uv_queue_work(loop, &lw->work, later_work, later_done);
    if (e != 0) {
        atomic_fetch_sub(&ns->refs, 1);
        cs_buf_cleanup(&lw->payload);
        cs_free(lw);
        return cs_fail(CONSORT_E_IO, "sealed state: thread pool: %s", uv_strerror(e));
    }
    return CONSORT_OK;
}

consort_err node_seal_set_successors(node_seal *ns, const uint8_t (*ids)[32], size_t n)
{
    CS_ENSURE(n <= CS_SEAL_MAX_SUCCESSORS, CONSORT_E_TOO_LARGE,
              "sealed state: %zu approved successors, at most %d", n, CS_SEAL_MAX_SUCCESSORS);
    cs_code_id list[CS_SEAL_MAX_SUCCESSORS];
    for (size_t i = 0; i < n; i++)
        memcpy(list[i].b, ids[i], 32);
    pthread_mutex_lock(&ns->mu);
    const cs_code_id *have;
    size_t count = cs_sealstore_successors(ns->store, &have);
    consort_err rc = CONSORT_OK;
    bool changed = count != n || (n > 0 && memcmp(have, list, n * sizeof *list) != 0);
    if (changed) {
        rc = cs_sealstore_set_successors(ns->store, list, n);
        reopen_after(ns, rc);
    }
    pthread_mutex_unlock(&ns->mu);
    if (changed && rc == CONSORT_OK) {
        char first[17] = "";
        if (n > 0)
            cs_hex_encode(CS_SLICE(ids[0], 8), first);
        cs_log_info(SEAL_LOG,
                    "sealed store: %zu approved successor(s) of this code listed (%s%s): a "
                    "restart with one of them opens it",
                    n, n > 0 ? first : "none", n > 1 ? ", ..." : "");
    }
    return rc;
}

consort_err node_seal_refresh(node_seal *ns, cs_kv_store *kv, const uint8_t code_id[32])
{
    uint8_t ids[SVC_LINEAGE_MAX][32];
    size_t count = 0;
    CS_TRY(svc_lineage_successors(kv, code_id, ids, SVC_LINEAGE_MAX, &count));
    return node_seal_set_successors(ns, (const uint8_t(*)[32])ids, count);
}

const cs_app_sealer *node_seal_app_sealer(node_seal *ns)
{
    return &ns->sealer;
}

void node_seal_instance_hex(node_seal *ns, char out[33])
{
    pthread_mutex_lock(&ns->mu);
    cs_hex_encode(CS_SLICE(cs_sealstore_instance_id(ns->store), CS_SEALSTORE_ID_LEN), out);
    pthread_mutex_unlock(&ns->mu);
}
