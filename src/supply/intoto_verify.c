/* in-toto verification in the reference's order (intoto_verify.h). */
#include "supply/intoto_verify.h"

#include "base/alloc.h"
#include "crypto/hash.h"

#include "supply/cjson.h"
#include "supply/intoto_rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cs_intoto_check_name(cs_intoto_check check)
{
    switch (check) {
    case CS_INTOTO_PASSED:
        return "passed";
    case CS_INTOTO_CHECK_FORMAT:
        return "format";
    case CS_INTOTO_CHECK_INSPECTION:
        return "inspection refused";
    case CS_INTOTO_CHECK_LAYOUT_SIGNATURE:
        return "layout signature";
    case CS_INTOTO_CHECK_LAYOUT_EXPIRED:
        return "layout expired";
    case CS_INTOTO_CHECK_LINK_MISSING:
        return "link missing";
    case CS_INTOTO_CHECK_LINK_SIGNATURES:
        return "link signature threshold";
    case CS_INTOTO_CHECK_THRESHOLD_ARTIFACTS:
        return "threshold artifacts";
    case CS_INTOTO_CHECK_RULE:
        return "artifact rule";
    }
    return "unknown";
}

/* One step's links: per authorised key id (in pubkeys order), the link loaded. */
typedef struct step_links {
    const char **keyids;          /* n_pubkeys slots */
    cs_intoto_link *links;        /* n_pubkeys slots */
    const cs_intoto_file **files; /* n_pubkeys slots: where each link came from */
    bool *counted;                /* n_pubkeys slots */
    size_t n;
} step_links;

typedef struct verifier {
    cs_intoto_layout layout;
    step_links *steps; /* one per layout step */
    cs_intoto_result *res;
    cs_intoto_chain *chain; /* filled when the chain passes; NULL: not wanted */
} verifier;

static consort_err format_failure(cs_intoto_result *res, consort_err rc)
{
    res->check = CS_INTOTO_CHECK_FORMAT;
    return rc;
}

static consort_err check_layout_signatures(verifier *v, const cs_slice *keys, size_t n_keys)
{
    cs_intoto_result *res = v->res;
    if (n_keys == 0) {
        res->check = CS_INTOTO_CHECK_LAYOUT_SIGNATURE;
        return cs_fail(CONSORT_E_INVALID_ARGUMENT,
                       "layout signature verification requires at least one key");
    }
    for (size_t i = 0; i < n_keys; i++) {
        json_t *obj = NULL;
        cs_intoto_key key;
        consort_err rc = cs_cjson_parse(keys[i], &obj);
        if (rc == CONSORT_OK)
            rc = cs_intoto_key_parse(obj, NULL, &key);
        json_decref(obj);
        if (rc != CONSORT_OK)
            return format_failure(res, cs_err_context(rc, "layout key %zu", i));
        rc = cs_intoto_metablock_verify(&v->layout.mb, &key);
        if (rc != CONSORT_OK) {
            res->check = CS_INTOTO_CHECK_LAYOUT_SIGNATURE;
            snprintf(res->keyid, sizeof res->keyid, "%s", key.keyid);
            cs_intoto_key_cleanup(&key);
            return cs_err_context(rc, "layout signature by key %s", res->keyid);
        }
        cs_intoto_key_cleanup(&key);
    }
    return CONSORT_OK;
}

static const cs_intoto_key *layout_key(const cs_intoto_layout *l, const char *keyid)
{
    for (size_t i = 0; i < l->n_keys; i++)
        if (strcmp(l->keys[i].keyid, keyid) == 0)
            return &l->keys[i];
    return NULL;
}

static const cs_intoto_file *find_file(const cs_intoto_file *files, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(files[i].name, name) == 0)
            return &files[i];
    return NULL;
}

/* load_links_for_layout, for one step. */
static consort_err load_step_links(verifier *v, const cs_intoto_step *step, step_links *sl,
                                   const cs_intoto_file *files, size_t n_files)
{
    cs_intoto_result *res = v->res;
    size_t slots = step->n_pubkeys + 1;
    sl->keyids = cs_calloc(slots, sizeof *sl->keyids);
    sl->links = cs_calloc(slots, sizeof *sl->links);
    sl->counted = cs_calloc(slots, sizeof *sl->counted);
    sl->files = cs_calloc(slots, sizeof *sl->files);
    CS_ENSURE(sl->keyids != NULL && sl->links != NULL && sl->counted != NULL && sl->files != NULL,
              CONSORT_E_NOMEM, "links of step \"%s\"", step->name);
    for (size_t k = 0; k < step->n_pubkeys; k++) {
        const char *keyid = step->pubkeys[k];
        bool seen = false; /* links_per_step is a dict keyed by key id */
        for (size_t x = 0; x < sl->n && !seen; x++)
            seen = strcmp(sl->keyids[x], keyid) == 0;
        if (seen)
            continue;
        char name[CS_INTOTO_MAX_NAME + 32];
        /* FILENAME_FORMAT = "{step_name}.{keyid:.8}.link" */
        snprintf(name, sizeof name, "%s.%.8s.link", step->name, keyid);
        const cs_intoto_file *f = find_file(files, n_files, name);
        if (f == NULL)
            continue;
        consort_err rc = cs_intoto_link_parse(f->data, &sl->links[sl->n]);
        if (rc != CONSORT_OK) {
            cs_intoto_link_cleanup(&sl->links[sl->n]);
            snprintf(res->step, sizeof res->step, "%s", step->name);
            snprintf(res->keyid, sizeof res->keyid, "%s", keyid);
            return format_failure(res, cs_err_context(rc, "%s", name));
        }
        sl->files[sl->n] = f;
        sl->keyids[sl->n++] = keyid;
    }
    if ((int64_t)sl->n < step->threshold) {
        res->check = CS_INTOTO_CHECK_LINK_MISSING;
        snprintf(res->step, sizeof res->step, "%s", step->name);
        res->count = sl->n;
        res->needed = (size_t)step->threshold;
        return cs_fail(CONSORT_E_POLICY,
                       "step \"%s\" requires %" PRId64 " link metadata file(s), found %zu",
                       step->name, step->threshold, sl->n);
    }
    return CONSORT_OK;
}

/* verify_link_signature_thresholds, for one step. */
static consort_err check_link_signatures(verifier *v, const cs_intoto_step *step, step_links *sl)
{
    cs_intoto_result *res = v->res;
    size_t counted = 0;
    char why[sizeof res->detail] = "";
    const char *last_bad = NULL;
    for (size_t x = 0; x < sl->n; x++) {
        const cs_intoto_key *key = layout_key(&v->layout, sl->keyids[x]);
        if (key == NULL) {
            last_bad = sl->keyids[x];
            snprintf(why, sizeof why, "key %.64s is authorised but not in the layout's keys",
                     last_bad);
            continue;
        }
        consort_err rc = cs_intoto_metablock_verify(&sl->links[x].mb, key);
        if (rc == CONSORT_E_NOT_FOUND && json_array_size(sl->links[x].mb.signatures) > 0) {
            /* signed, but not by the key it is filed under: name the signer */
            const json_t *sig = json_array_get(sl->links[x].mb.signatures, 0);
            last_bad = json_string_value(json_object_get(sig, "keyid"));
            snprintf(why, sizeof why,
                     "link filed for key %.16s... carries no signature by it, but one by key "
                     "%.64s",
                     sl->keyids[x], last_bad);
            continue;
        }
        /* The reference skips a link on SignatureVerificationError only (no
         * signature by the key, a malformed or a wrong one); anything else,
         * running out of memory included, ends the verification. */
        if (rc != CONSORT_OK && rc != CONSORT_E_NOT_FOUND && rc != CONSORT_E_BAD_SIGNATURE &&
            rc != CONSORT_E_MALFORMED)
            return cs_err_context(rc, "link of key %.64s for step \"%s\"", sl->keyids[x],
                                  step->name);
        if (rc != CONSORT_OK) {
            last_bad = sl->keyids[x];
            snprintf(why, sizeof why, "link of key %.64s: %s", last_bad, consort_errmsg());
            continue;
        }
        if (strcmp(sl->links[x].name, step->name) != 0) {
            /* not in the reference, which goes by file name only */
            last_bad = sl->keyids[x];
            snprintf(why, sizeof why, "link for key %.64s names step \"%.64s\"", last_bad,
                     sl->links[x].name);
            continue;
        }
        sl->counted[x] = true;
        counted++;
    }
    if ((int64_t)counted >= step->threshold)
        return CONSORT_OK;
    res->check = CS_INTOTO_CHECK_LINK_SIGNATURES;
    snprintf(res->step, sizeof res->step, "%s", step->name);
    snprintf(res->keyid, sizeof res->keyid, "%s", last_bad ? last_bad : "");
    snprintf(res->detail, sizeof res->detail, "%s", why);
    res->count = counted;
    res->needed = (size_t)step->threshold;
    return cs_fail(CONSORT_E_POLICY,
                   "step \"%s\" requires at least %" PRId64 " links validly signed by different "
                   "authorized functionaries, found %zu (%s)",
                   step->name, step->threshold, counted, why);
}

/* verify_threshold_constraints, for one step. */
static consort_err check_threshold_artifacts(verifier *v, const cs_intoto_step *step,
                                             const step_links *sl)
{
    if (step->threshold <= 1)
        return CONSORT_OK;
    const cs_intoto_link *ref = NULL;
    const char *ref_keyid = NULL;
    for (size_t x = 0; x < sl->n; x++) {
        if (!sl->counted[x])
            continue;
        const cs_intoto_link *l = &sl->links[x];
        if (ref == NULL) {
            ref = l;
            ref_keyid = sl->keyids[x];
            continue;
        }
        if (json_equal((json_t *)ref->materials, (json_t *)l->materials) &&
            json_equal((json_t *)ref->products, (json_t *)l->products))
            continue;
        cs_intoto_result *res = v->res;
        res->check = CS_INTOTO_CHECK_THRESHOLD_ARTIFACTS;
        snprintf(res->step, sizeof res->step, "%s", step->name);
        snprintf(res->keyid, sizeof res->keyid, "%s", sl->keyids[x]);
        snprintf(res->detail, sizeof res->detail, "differs from the link of key %.64s", ref_keyid);
        return cs_fail(CONSORT_E_POLICY,
                       "step \"%s\": links %s.%.8s.link and %s.%.8s.link have different "
                       "artifacts",
                       step->name, step->name, ref_keyid, step->name, sl->keyids[x]);
    }
    return CONSORT_OK;
}

/* The return value a link recorded (byproducts "return-value"), if any. */
static bool link_return_value(const cs_intoto_link *l, int64_t *out)
{
    const json_t *rv =
        json_object_get(json_object_get(l->mb.signed_obj, "byproducts"), "return-value");
    if (!json_is_integer(rv))
        return false;
    *out = (int64_t)json_integer_value(rv);
    return true;
}

/* One step's summary: its counted links' key ids, return values and files. */
static consort_err summarise_step(const cs_intoto_step *step, const step_links *sl,
                                  cs_intoto_step_summary *out, cs_intoto_chain *chain)
{
    snprintf(out->name, sizeof out->name, "%s", step->name);
    out->keyids = cs_calloc(sl->n + 1, sizeof *out->keyids);
    CS_ENSURE(out->keyids != NULL, CONSORT_E_NOMEM, "summary of step \"%s\"", step->name);
    out->returned_zero = true;
    for (size_t x = 0; x < sl->n; x++) {
        if (!sl->counted[x])
            continue;
        const cs_intoto_link *l = &sl->links[x];
        if (out->products == NULL)
            out->products = json_incref((json_t *)l->products);
        snprintf(out->keyids[out->n_keyids++], sizeof out->keyids[0], "%s", sl->keyids[x]);
        int64_t rv = 0;
        bool has = link_return_value(l, &rv);
        if (out->returned_zero && (!has || rv != 0)) {
            out->returned_zero = false;
            out->has_return_value = has;
            out->return_value = rv;
        }
        cs_intoto_link_digest *d = &chain->links[chain->n_links++];
        snprintf(d->file, sizeof d->file, "%s", sl->files[x]->name);
        cs_sha256(sl->files[x]->data, d->sha256);
    }
    return CONSORT_OK;
}

/* Fills v->chain from a chain that passed. */
static consort_err summarise(verifier *v, cs_slice layout_text)
{
    const cs_intoto_layout *l = &v->layout;
    cs_intoto_chain *c = v->chain;
    cs_sha256(layout_text, c->layout_sha256);
    size_t total = 0;
    for (size_t s = 0; s < l->n_steps; s++)
        total += v->steps[s].n;
    c->steps = cs_calloc(l->n_steps + 1, sizeof *c->steps);
    c->links = cs_calloc(total + 1, sizeof *c->links);
    CS_ENSURE(c->steps != NULL && c->links != NULL, CONSORT_E_NOMEM, "chain summary");
    for (size_t s = 0; s < l->n_steps; s++) {
        c->n_steps = s + 1;
        CS_TRY(summarise_step(&l->steps[s], &v->steps[s], &c->steps[s], c));
    }
    return CONSORT_OK;
}

void cs_intoto_chain_cleanup(cs_intoto_chain *chain)
{
    if (chain == NULL)
        return;
    for (size_t s = 0; s < chain->n_steps; s++) {
        cs_free(chain->steps[s].keyids);
        json_decref(chain->steps[s].products);
    }
    cs_free(chain->steps);
    cs_free(chain->links);
    memset(chain, 0, sizeof *chain);
}

static consort_err run(verifier *v, cs_slice layout_text, const cs_slice *keys, size_t n_keys,
                       const cs_intoto_file *files, size_t n_files, int64_t now)
{
    cs_intoto_result *res = v->res;
    consort_err rc = cs_intoto_layout_parse(layout_text, &v->layout);
    if (rc != CONSORT_OK) {
        res->check =
            v->layout.n_inspections > 0 ? CS_INTOTO_CHECK_INSPECTION : CS_INTOTO_CHECK_FORMAT;
        return rc;
    }
    CS_TRY(check_layout_signatures(v, keys, n_keys));
    if (v->layout.expires < now) {
        res->check = CS_INTOTO_CHECK_LAYOUT_EXPIRED;
        return cs_fail(CONSORT_E_EXPIRED, "layout expired at %" PRId64 ", now %" PRId64,
                       v->layout.expires, now);
    }
    const cs_intoto_layout *l = &v->layout;
    v->steps = l->n_steps ? cs_calloc(l->n_steps, sizeof *v->steps) : NULL;
    CS_ENSURE(l->n_steps == 0 || v->steps != NULL, CONSORT_E_NOMEM, "links of %zu steps",
              l->n_steps);
    for (size_t s = 0; s < l->n_steps; s++)
        CS_TRY(load_step_links(v, &l->steps[s], &v->steps[s], files, n_files));
    for (size_t s = 0; s < l->n_steps; s++)
        CS_TRY(check_link_signatures(v, &l->steps[s], &v->steps[s]));
    for (size_t s = 0; s < l->n_steps; s++)
        CS_TRY(check_threshold_artifacts(v, &l->steps[s], &v->steps[s]));
    /* reduce_chain_links: the first counted link of each step */
    cs_intoto_named_link *reduced = cs_calloc(l->n_steps + 1, sizeof *reduced);
    CS_ENSURE(reduced != NULL, CONSORT_E_NOMEM, "reduced links");
    for (size_t s = 0; s < l->n_steps; s++) {
        reduced[s].name = l->steps[s].name;
        for (size_t x = 0; x < v->steps[s].n && reduced[s].link == NULL; x++)
            if (v->steps[s].counted[x])
                reduced[s].link = &v->steps[s].links[x];
    }
    rc = CONSORT_OK;
    for (size_t s = 0; s < l->n_steps && rc == CONSORT_OK; s++) {
        const cs_intoto_step *step = &l->steps[s];
        rc = cs_intoto_verify_item_rules(step->name, false, step->materials, step->n_materials,
                                         reduced, l->n_steps, res);
        if (rc == CONSORT_OK)
            rc = cs_intoto_verify_item_rules(step->name, true, step->products, step->n_products,
                                             reduced, l->n_steps, res);
    }
    cs_free(reduced);
    if (rc == CONSORT_OK && v->chain != NULL)
        rc = summarise(v, layout_text);
    if (rc != CONSORT_OK && res->check != CS_INTOTO_CHECK_RULE)
        res->check = CS_INTOTO_CHECK_FORMAT;
    return rc;
}

consort_err cs_intoto_verify_chain(cs_slice layout, const cs_slice *layout_keys,
                                   size_t n_layout_keys, const cs_intoto_file *links,
                                   size_t n_links, int64_t now, cs_intoto_result *res,
                                   cs_intoto_chain *chain)
{
    memset(res, 0, sizeof *res);
    if (chain != NULL)
        memset(chain, 0, sizeof *chain);
    verifier v = {.res = res, .chain = chain};
    consort_err rc = run(&v, layout, layout_keys, n_layout_keys, links, n_links, now);
    if (v.steps != NULL) {
        for (size_t s = 0; s < v.layout.n_steps; s++) {
            for (size_t x = 0; x < v.steps[s].n; x++)
                cs_intoto_link_cleanup(&v.steps[s].links[x]);
            cs_free(v.steps[s].keyids);
            cs_free(v.steps[s].links);
            cs_free(v.steps[s].counted);
            cs_free(v.steps[s].files);
        }
        cs_free(v.steps);
    }
    cs_intoto_layout_cleanup(&v.layout);
    if (rc == CONSORT_OK)
        res->check = CS_INTOTO_PASSED;
    else if (res->check == CS_INTOTO_PASSED)
        res->check = CS_INTOTO_CHECK_FORMAT;
    if (rc != CONSORT_OK)
        cs_intoto_chain_cleanup(chain);
    return rc;
}

consort_err cs_intoto_verify(cs_slice layout, const cs_slice *layout_keys, size_t n_layout_keys,
                             const cs_intoto_file *links, size_t n_links, int64_t now,
                             cs_intoto_result *res)
{
    return cs_intoto_verify_chain(layout, layout_keys, n_layout_keys, links, n_links, now, res,
                                  NULL);
}
