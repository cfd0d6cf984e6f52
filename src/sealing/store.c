/*
 * The sealed store (store.h): creating and opening, the owner's state
 * (successors, payload) and the named counters. The durable side is
 * store_file.c, the encoding store_codec.c, application blobs
 * store_blob.c, migration migrate_*.c.
 */
#include "sealing/store_priv.h"

#include "base/alloc.h"
#include "base/file.h"
#include "base/log.h"
#include "crypto/rand.h"

#include <stdio.h>
#include <string.h>

const char *cs_sealstore_state_name(cs_sealstore_state st)
{
    switch (st) {
    case CS_SEALSTORE_LIVE:
        return "LIVE";
    case CS_SEALSTORE_FROZEN:
        return "FROZEN";
    case CS_SEALSTORE_RETIRED:
        return "RETIRED";
    case CS_SEALSTORE_PENDING:
        return "PENDING";
    }
    return "unknown";
}

consort_err store_handle_new(const char *dir, const cs_sealstore_keys *keys, cs_anchor *anchor,
                             cs_sealstore **out)
{
    *out = NULL;
    CS_ENSURE(strlen(dir) < STORE_PATH_MAX - 64, CONSORT_E_INVALID_ARGUMENT,
              "sealed store: directory path too long");
    cs_sealstore *s = cs_calloc(1, sizeof *s);
    CS_ENSURE(s != NULL, CONSORT_E_NOMEM, "sealed store: out of memory");
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    s->keys = *keys;
    s->anchor = anchor;
    store_content_init(&s->c);
    consort_err rc = cs_seal_keycache_new(keys->lineage_root, &s->lineage_kc);
    if (rc != CONSORT_OK) {
        cs_sealstore_free(s);
        return rc;
    }
    if (!cs_anchor_is_secure(anchor))
        cs_log_warn("sealing",
                    "sealed store %s: anchor %s is insecure (development only): the host can "
                    "roll this store back",
                    dir, cs_anchor_name(anchor));
    *out = s;
    return CONSORT_OK;
}

consort_err store_smk_ready(cs_sealstore *s)
{
    cs_seal_keycache_free(s->smk_kc);
    s->smk_kc = NULL;
    return cs_seal_keycache_new(s->c.smk, &s->smk_kc);
}

void cs_sealstore_free(cs_sealstore *s)
{
    if (s == NULL)
        return;
    store_content_cleanup(&s->c);
    cs_seal_keycache_free(s->lineage_kc);
    cs_seal_keycache_free(s->smk_kc);
    cs_wipe(s, sizeof *s);
    cs_free(s);
}

consort_err store_need_usable(const cs_sealstore *s, const char *what)
{
    CS_ENSURE(!s->broken, CONSORT_E_STATE, "%s: an earlier commit of %s failed; reopen the store",
              what, s->dir);
    return CONSORT_OK;
}

consort_err store_need_live(const cs_sealstore *s, const char *what)
{
    CS_TRY(store_need_usable(s, what));
    CS_ENSURE(s->c.state == CS_SEALSTORE_LIVE, CONSORT_E_FROZEN,
              "%s: the sealed store is %s, not LIVE", what, cs_sealstore_state_name(s->c.state));
    return CONSORT_OK;
}

consort_err cs_sealstore_create(const char *dir, const cs_sealstore_keys *keys, cs_anchor *anchor,
                                cs_sealstore **out)
{
    *out = NULL;
    CS_TRY_CTX(cs_mkdir_p(dir, 0700), "sealed store");
    CS_ENSURE(!store_exists(dir), CONSORT_E_STATE, "sealed store: %s already holds a store", dir);
    cs_sealstore *s;
    CS_TRY(store_handle_new(dir, keys, anchor, &s));
    s->c.state = CS_SEALSTORE_LIVE;
    consort_err rc = cs_random(s->c.instance_id, sizeof s->c.instance_id);
    if (rc == CONSORT_OK)
        rc = cs_random(s->c.smk, sizeof s->c.smk);
    if (rc == CONSORT_OK)
        rc = store_smk_ready(s);
    if (rc == CONSORT_OK)
        rc = cs_anchor_read(anchor, &s->bound);
    if (rc == CONSORT_OK)
        rc = store_commit(s);
    if (rc != CONSORT_OK) {
        cs_sealstore_free(s);
        return rc;
    }
    *out = s;
    return CONSORT_OK;
}

static bool has_id(const cs_code_id *list, size_t n, const uint8_t *id)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(list[i].b, id, CS_SEAL_CODE_ID_LEN) == 0)
            return true;
    return false;
}

/* Sealed by an approved predecessor: it becomes an ancestor (the oldest
 * drops out past the limit), and this code is no longer its own successor. */
static void inherit(cs_sealstore *s, const uint8_t sealer[CS_SEAL_CODE_ID_LEN])
{
    store_content *c = &s->c;
    if (!has_id(c->ancestors, c->ancestor_count, sealer)) {
        if (c->ancestor_count == CS_SEALSTORE_MAX_ANCESTORS) {
            memmove(&c->ancestors[0], &c->ancestors[1],
                    (CS_SEALSTORE_MAX_ANCESTORS - 1) * sizeof(cs_code_id));
            c->ancestor_count--;
        }
        memcpy(c->ancestors[c->ancestor_count++].b, sealer, CS_SEAL_CODE_ID_LEN);
    }
    size_t kept = 0;
    for (size_t i = 0; i < s->successor_count; i++)
        if (memcmp(s->successors[i].b, s->keys.code_id, CS_SEAL_CODE_ID_LEN) != 0)
            s->successors[kept++] = s->successors[i];
    s->successor_count = kept;
}

consort_err cs_sealstore_open(const char *dir, const cs_sealstore_keys *keys, cs_anchor *anchor,
                              cs_sealstore **out)
{
    *out = NULL;
    cs_sealstore *s;
    CS_TRY(store_handle_new(dir, keys, anchor, &s));
    uint8_t sealer[CS_SEAL_CODE_ID_LEN];
    consort_err rc = store_load(s, sealer);
    if (rc == CONSORT_OK) {
        if (memcmp(sealer, keys->code_id, CS_SEAL_CODE_ID_LEN) != 0)
            inherit(s, sealer);
        rc = store_smk_ready(s);
    }
    /* two commits before anything is acknowledged (store_file.c; the model,
     * docs/migration-model.md, refutes one) */
    for (int i = 0; i < 2 && rc == CONSORT_OK; i++)
        rc = store_commit(s);
    if (rc != CONSORT_OK) {
        cs_sealstore_free(s);
        return cs_err_context(rc, "sealed store %s: open", dir);
    }
    *out = s;
    return CONSORT_OK;
}

cs_sealstore_state cs_sealstore_state_of(const cs_sealstore *s)
{
    return s->c.state;
}

const uint8_t *cs_sealstore_instance_id(const cs_sealstore *s)
{
    return s->c.instance_id;
}

const uint8_t *cs_sealstore_peer_id(const cs_sealstore *s)
{
    bool has = s->c.state == CS_SEALSTORE_RETIRED || s->c.state == CS_SEALSTORE_PENDING;
    return has ? s->c.peer_id : NULL;
}

uint64_t cs_sealstore_bound(const cs_sealstore *s)
{
    return s->bound;
}

size_t cs_sealstore_ancestors(const cs_sealstore *s, const cs_code_id **out)
{
    *out = s->c.ancestors;
    return s->c.ancestor_count;
}

size_t cs_sealstore_successors(const cs_sealstore *s, const cs_code_id **out)
{
    *out = s->successors;
    return s->successor_count;
}

consort_err cs_sealstore_set_successors(cs_sealstore *s, const cs_code_id *ids, size_t n)
{
    CS_TRY(store_need_usable(s, "set successors"));
    CS_ENSURE(s->c.state != CS_SEALSTORE_RETIRED, CONSORT_E_FROZEN,
              "set successors: the sealed store is RETIRED");
    CS_ENSURE(n <= CS_SEAL_MAX_SUCCESSORS, CONSORT_E_INVALID_ARGUMENT,
              "set successors: %zu, at most %d", n, CS_SEAL_MAX_SUCCESSORS);
    if (n > 0)
        memmove(s->successors, ids, n * sizeof(cs_code_id));
    s->successor_count = n;
    return store_commit(s);
}

consort_err cs_sealstore_set_payload(cs_sealstore *s, cs_slice payload)
{
    CS_TRY(store_need_live(s, "set payload"));
    CS_ENSURE(payload.len <= CS_SEALSTORE_MAX_PAYLOAD, CONSORT_E_TOO_LARGE,
              "set payload: %zu bytes, at most %zu", payload.len, CS_SEALSTORE_MAX_PAYLOAD);
    CS_TRY(cs_buf_set(&s->c.payload, payload));
    return store_commit(s);
}

cs_slice cs_sealstore_payload(const cs_sealstore *s)
{
    return cs_buf_slice(&s->c.payload);
}

consort_err cs_sealstore_counter_read(cs_sealstore *s, const char *name, uint64_t *value)
{
    CS_TRY(store_need_live(s, "counter read"));
    const store_counter *k = store_counter_find(&s->c, name, NULL);
    *value = k != NULL ? k->value : 0;
    return CONSORT_OK;
}

consort_err cs_sealstore_counter_increment_many(cs_sealstore *s, const char *const *names, size_t n,
                                                uint64_t *values)
{
    CS_TRY(store_need_live(s, "counter increment"));
    CS_ENSURE(n >= 1, CONSORT_E_INVALID_ARGUMENT, "counter increment: no counter named");
    /* check all first, so that a refusal changes nothing */
    size_t new_names = 0;
    for (size_t i = 0; i < n; i++) {
        const store_counter *k = store_counter_find(&s->c, names[i], NULL);
        CS_ENSURE(k == NULL || k->value < UINT64_MAX, CONSORT_E_STATE,
                  "counter \"%s\" is at its maximum", names[i]);
        if (k == NULL)
            CS_TRY_CTX(store_counter_name_check(names[i]), "counter increment");
        new_names += k == NULL ? 1 : 0;
    }
    CS_ENSURE(s->c.counter_count + new_names <= CS_SEALSTORE_MAX_COUNTERS, CONSORT_E_TOO_LARGE,
              "counter increment: %zu counters plus %zu new ones, at most %d", s->c.counter_count,
              new_names, CS_SEALSTORE_MAX_COUNTERS);
    for (size_t i = 0; i < n; i++) {
        store_counter *k;
        consort_err rc = store_counter_get(&s->c, names[i], &k);
        if (rc != CONSORT_OK) {
            s->broken = true; /* some counters already moved in memory */
            return rc;
        }
        values[i] = ++k->value;
    }
    return store_commit(s);
}

consort_err cs_sealstore_counter_increment(cs_sealstore *s, const char *name, uint64_t *value)
{
    return cs_sealstore_counter_increment_many(s, &name, 1, value);
}
