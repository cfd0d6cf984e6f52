/* The staged writes of a proposal's actions (gov_priv.h). */
#include "node/gov_priv.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

#define STAGE_MAX_WRITES 4096

void gov_stage_init(gov_stage *st, cs_kv_tx *tx)
{
    memset(st, 0, sizeof *st);
    st->tx = tx;
}

void gov_stage_cleanup(gov_stage *st)
{
    for (size_t i = 0; i < st->count; i++) {
        cs_buf_cleanup(&st->writes[i].key);
        cs_buf_cleanup(&st->writes[i].value);
    }
    cs_free(st->writes);
    memset(st, 0, sizeof *st);
}

/* The staged write of `key` in `map`, or NULL. */
static gov_write *find(gov_stage *st, const char *map, cs_slice key)
{
    for (size_t i = 0; i < st->count; i++) {
        gov_write *w = &st->writes[i];
        if (strcmp(w->map, map) == 0 && cs_slice_eq(cs_buf_slice(&w->key), key))
            return w;
    }
    return NULL;
}

static consort_err stage(gov_stage *st, const char *map, const char *key, cs_slice value,
                         bool removed)
{
    cs_slice k = cs_slice_str(key);
    gov_write *w = find(st, map, k);
    if (w == NULL) {
        CS_ENSURE(st->count < STAGE_MAX_WRITES, CONSORT_E_TOO_LARGE,
                  "a proposal may write at most %d keys", STAGE_MAX_WRITES);
        if (st->count == st->cap) {
            size_t cap = st->cap ? st->cap * 2 : 16;
            gov_write *grown = cs_realloc(st->writes, cap * sizeof *grown);
            CS_ENSURE(grown != NULL, CONSORT_E_NOMEM, "staged governance writes");
            st->writes = grown;
            st->cap = cap;
        }
        w = &st->writes[st->count];
        w->map = map;
        cs_buf_init(&w->key, 0);
        cs_buf_init(&w->value, 0);
        consort_err rc = cs_buf_set(&w->key, k);
        if (rc != CONSORT_OK) {
            cs_buf_cleanup(&w->key);
            return rc;
        }
        st->count++;
    }
    w->removed = removed;
    return cs_buf_set(&w->value, value);
}

consort_err gov_stage_put(gov_stage *st, const char *map, const char *key, cs_slice value)
{
    return stage(st, map, key, value, false);
}

consort_err gov_stage_remove(gov_stage *st, const char *map, const char *key)
{
    return stage(st, map, key, CS_SLICE(NULL, 0), true);
}

consort_err gov_stage_get(gov_stage *st, const char *map, const char *key, cs_slice *v, bool *found)
{
    gov_write *w = find(st, map, cs_slice_str(key));
    if (w != NULL) {
        *found = !w->removed;
        *v = w->removed ? CS_SLICE(NULL, 0) : cs_buf_slice(&w->value);
        return CONSORT_OK;
    }
    return cs_kv_get(st->tx, cs_slice_str(map), cs_slice_str(key), v, found);
}

typedef struct each_ctx {
    gov_stage *st;
    const char *map;
    gov_stage_fn fn;
    void *ctx;
    bool stopped;
} each_ctx;

static bool each_stored(void *ctx, cs_slice key, cs_slice value)
{
    each_ctx *e = ctx;
    if (find(e->st, e->map, key) != NULL)
        return true; /* staged: visited below */
    if (!e->fn(e->ctx, key, value))
        e->stopped = true;
    return !e->stopped;
}

consort_err gov_stage_each(gov_stage *st, const char *map, gov_stage_fn fn, void *ctx)
{
    each_ctx e = {.st = st, .map = map, .fn = fn, .ctx = ctx};
    CS_TRY(cs_kv_foreach(st->tx, cs_slice_str(map), each_stored, &e));
    for (size_t i = 0; i < st->count && !e.stopped; i++) {
        gov_write *w = &st->writes[i];
        if (strcmp(w->map, map) == 0 && !w->removed)
            e.stopped = !fn(ctx, cs_buf_slice(&w->key), cs_buf_slice(&w->value));
    }
    return CONSORT_OK;
}

consort_err gov_stage_flush(gov_stage *st)
{
    for (size_t i = 0; i < st->count; i++) {
        gov_write *w = &st->writes[i];
        if (w->removed)
            CS_TRY(cs_kv_remove(st->tx, cs_slice_str(w->map), cs_buf_slice(&w->key)));
        else
            CS_TRY(cs_kv_put(st->tx, cs_slice_str(w->map), cs_buf_slice(&w->key),
                             cs_buf_slice(&w->value)));
    }
    return CONSORT_OK;
}
