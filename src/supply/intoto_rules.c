/* Artifact rule processing (intoto_rules.h), after in-toto 1.3.1 verifylib.py. */
#include "supply/intoto_rules.h"

#include "base/alloc.h"

#include "supply/fnmatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The artifacts queue: the source's paths, sorted, each still queued or not. */
typedef struct queue {
    const char **paths;
    bool *queued;
    size_t n;
} queue;

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static consort_err queue_init(queue *q, const json_t *artifacts)
{
    q->n = json_object_size(artifacts);
    q->paths = cs_calloc(q->n + 1, sizeof *q->paths);
    q->queued = cs_calloc(q->n + 1, sizeof *q->queued);
    CS_ENSURE(q->paths != NULL && q->queued != NULL, CONSORT_E_NOMEM, "artifact queue of %zu",
              q->n);
    size_t i = 0;
    const char *path;
    json_t *v;
    json_object_foreach((json_t *)artifacts, path, v)
    {
        q->paths[i] = path;
        q->queued[i++] = true;
    }
    qsort(q->paths, q->n, sizeof *q->paths, path_cmp);
    return CONSORT_OK;
}

static void queue_cleanup(queue *q)
{
    cs_free(q->paths);
    cs_free(q->queued);
}

/* Index of `path` in the queue's paths, or SIZE_MAX. */
static size_t queue_find(const queue *q, const char *path)
{
    const char **hit = bsearch(&path, q->paths, q->n, sizeof *q->paths, path_cmp);
    return hit ? (size_t)(hit - q->paths) : SIZE_MAX;
}

static const cs_intoto_link *find_link(const cs_intoto_named_link *links, size_t n,
                                       const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(links[i].name, name) == 0)
            return links[i].link;
    return NULL;
}

/* os.path.join(a, b).replace("\\", "/") on POSIX, into a buffer. */
static consort_err join_path(const char *a, const char *b, cs_buf *out)
{
    cs_buf_reset(out);
    if (b[0] != '/') { /* an absolute b discards a */
        CS_TRY(cs_buf_append(out, a, strlen(a)));
        if (a[0] != '\0' && a[strlen(a) - 1] != '/')
            CS_TRY(cs_buf_append_u8(out, '/'));
    }
    CS_TRY(cs_buf_append(out, b, strlen(b) + 1));
    for (size_t i = 0; i < out->len; i++)
        if (out->ptr[i] == '\\')
            out->ptr[i] = '/';
    return CONSORT_OK;
}

/* verify_match_rule: marks what it consumes in `consumed`. */
static consort_err match_rule(const cs_intoto_rule *r, const cs_fnmatch *pat, const queue *q,
                              bool *consumed, const json_t *source,
                              const cs_intoto_named_link *links, size_t n_links)
{
    const cs_intoto_link *dest_link = find_link(links, n_links, r->dest_name);
    if (dest_link == NULL)
        return CONSORT_OK;
    const json_t *dest = r->dest_products ? dest_link->products : dest_link->materials;
    cs_buf prefix, src_path, dest_path;
    cs_buf_init(&prefix, CS_INTOTO_MAX_PATH * 2 + 4);
    cs_buf_init(&src_path, CS_INTOTO_MAX_PATH * 2 + 4);
    cs_buf_init(&dest_path, CS_INTOTO_MAX_PATH * 2 + 4);
    consort_err rc = CONSORT_OK;
    bool have_src_prefix = r->source_prefix[0] != '\0';
    if (have_src_prefix) /* os.path.join(source_prefix, "") */
        CS_TRY_GOTO(rc, join_path(r->source_prefix, "", &prefix), out);
    for (size_t i = 0; i < q->n; i++) {
        if (!q->queued[i])
            continue;
        const char *path = q->paths[i];
        if (have_src_prefix) {
            size_t plen = prefix.len - 1; /* without the NUL */
            if (strncmp(path, (const char *)prefix.ptr, plen) != 0)
                continue;
            path += plen;
        }
        bool hit;
        CS_TRY_GOTO(rc, cs_fnmatch_match(pat, path, &hit), out);
        if (!hit)
            continue;
        const char *full_src = q->paths[i];
        if (have_src_prefix) {
            CS_TRY_GOTO(rc, join_path(r->source_prefix, path, &src_path), out);
            full_src = (const char *)src_path.ptr;
        }
        const char *full_dest = path;
        if (r->dest_prefix[0] != '\0') {
            CS_TRY_GOTO(rc, join_path(r->dest_prefix, path, &dest_path), out);
            full_dest = (const char *)dest_path.ptr;
        }
        const json_t *src_digests = json_object_get(source, full_src);
        /* The reference indexes source_artifacts[full_source_path] unguarded:
         * a path it cannot find there raises KeyError. */
        CS_ENSURE_GOTO(rc, src_digests != NULL, out, CONSORT_E_MALFORMED,
                       "MATCH: source path \"%.64s\" rebuilt from \"%.64s\" is not an artifact",
                       full_src, q->paths[i]);
        const json_t *dest_digests = json_object_get(dest, full_dest);
        if (dest_digests == NULL || !json_equal((json_t *)src_digests, (json_t *)dest_digests))
            continue;
        size_t at = queue_find(q, full_src);
        if (at != SIZE_MAX)
            consumed[at] = true;
    }
out:
    cs_buf_cleanup(&prefix);
    cs_buf_cleanup(&src_path);
    cs_buf_cleanup(&dest_path);
    return rc;
}

static void fail_rule(cs_intoto_result *res, const char *item, const cs_intoto_rule *r,
                      const char *artifact, size_t count)
{
    res->check = CS_INTOTO_CHECK_RULE;
    snprintf(res->step, sizeof res->step, "%s", item);
    cs_intoto_rule_text(r, res->rule, sizeof res->rule);
    snprintf(res->artifact, sizeof res->artifact, "%s", artifact);
    res->count = count;
}

/* One rule over the queue; sets consumed[] and may fail. */
static consort_err apply_rule(const cs_intoto_rule *r, const cs_fnmatch *pat, const queue *q,
                              bool *consumed, const cs_intoto_link *self, bool products,
                              const char *item, const cs_intoto_named_link *links, size_t n_links,
                              cs_intoto_result *res)
{
    const json_t *source = products ? self->products : self->materials;
    if (r->type == CS_INTOTO_RULE_MATCH)
        return match_rule(r, pat, q, consumed, source, links, n_links);
    if (r->type == CS_INTOTO_RULE_REQUIRE) {
        size_t at = queue_find(q, r->pattern);
        if (at != SIZE_MAX && q->queued[at])
            return CONSORT_OK;
        fail_rule(res, item, r, r->pattern, 0);
        return cs_fail(CONSORT_E_POLICY, "step \"%s\" %s: 'REQUIRE %s' did not find %s", item,
                       products ? "products" : "materials", r->pattern, r->pattern);
    }
    size_t hits = 0;
    const char *first = NULL;
    for (size_t i = 0; i < q->n; i++) {
        bool hit = false;
        if (q->queued[i])
            CS_TRY(cs_fnmatch_match(pat, q->paths[i], &hit));
        if (!hit)
            continue;
        const char *p = q->paths[i];
        const json_t *m = json_object_get(self->materials, p);
        const json_t *pr = json_object_get(self->products, p);
        switch (r->type) {
        case CS_INTOTO_RULE_CREATE:
            consumed[i] = pr != NULL && m == NULL;
            break;
        case CS_INTOTO_RULE_DELETE:
            consumed[i] = m != NULL && pr == NULL;
            break;
        case CS_INTOTO_RULE_MODIFY:
            consumed[i] = m != NULL && pr != NULL && !json_equal((json_t *)m, (json_t *)pr);
            break;
        case CS_INTOTO_RULE_ALLOW:
            consumed[i] = true;
            break;
        case CS_INTOTO_RULE_DISALLOW:
            if (hits++ == 0)
                first = p;
            break;
        default:
            break;
        }
    }
    if (hits == 0)
        return CONSORT_OK;
    fail_rule(res, item, r, first, hits);
    return cs_fail(CONSORT_E_POLICY,
                   "step \"%s\" %s: 'DISALLOW %s' matched %zu artifact(s), first \"%.200s\"", item,
                   products ? "products" : "materials", r->pattern, hits, first);
}

consort_err cs_intoto_verify_item_rules(const char *item, bool products,
                                        const cs_intoto_rule *rules, size_t n_rules,
                                        const cs_intoto_named_link *links, size_t n_links,
                                        cs_intoto_result *res)
{
    const cs_intoto_link *self = find_link(links, n_links, item);
    CS_ENSURE(self != NULL, CONSORT_E_STATE, "step \"%s\": no link to check rules on", item);
    queue q = {0};
    bool *consumed = NULL;
    consort_err rc;
    CS_TRY_GOTO(rc, queue_init(&q, products ? self->products : self->materials), out);
    consumed = cs_calloc(q.n + 1, sizeof *consumed);
    CS_ENSURE_GOTO(rc, consumed != NULL, out, CONSORT_E_NOMEM, "consumed set");
    for (size_t k = 0; k < n_rules; k++) {
        cs_fnmatch *pat = NULL;
        if (rules[k].type != CS_INTOTO_RULE_REQUIRE)
            CS_TRY_CTX_GOTO(rc, cs_fnmatch_compile(rules[k].pattern, &pat), out, "step \"%s\"",
                            item);
        memset(consumed, 0, q.n * sizeof *consumed);
        rc = apply_rule(&rules[k], pat, &q, consumed, self, products, item, links, n_links, res);
        cs_fnmatch_free(pat);
        if (rc != CONSORT_OK)
            goto out;
        /* artifacts_queue -= consumed */
        for (size_t i = 0; i < q.n; i++)
            if (consumed[i])
                q.queued[i] = false;
    }
    rc = CONSORT_OK;
out:
    cs_free(consumed);
    queue_cleanup(&q);
    return rc;
}
