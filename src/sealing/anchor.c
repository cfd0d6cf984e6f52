/* The anchor object and its dispatch to a backend (anchor.h). */
#include "sealing/anchor.h"

#include "base/alloc.h"

struct cs_anchor {
    const cs_anchor_ops *ops;
    void *ctx;
};

consort_err cs_anchor_from_ops(const cs_anchor_ops *ops, void *ctx, cs_anchor **out)
{
    *out = NULL;
    CS_ENSURE(ops != NULL && ops->read != NULL && ops->increment != NULL && ops->name != NULL &&
                  ops->secure != NULL,
              CONSORT_E_INVALID_ARGUMENT, "anchor: read, increment, name and secure are required");
    cs_anchor *a = cs_calloc(1, sizeof *a);
    if (a == NULL) {
        if (ops->free != NULL)
            ops->free(ctx);
        return cs_fail(CONSORT_E_NOMEM, "anchor: out of memory");
    }
    a->ops = ops;
    a->ctx = ctx;
    *out = a;
    return CONSORT_OK;
}

void cs_anchor_free(cs_anchor *a)
{
    if (a == NULL)
        return;
    if (a->ops->free != NULL)
        a->ops->free(a->ctx);
    cs_free(a);
}

consort_err cs_anchor_read(cs_anchor *a, uint64_t *value)
{
    CS_TRY_CTX(a->ops->read(a->ctx, value), "anchor %s: read", a->ops->name(a->ctx));
    return CONSORT_OK;
}

consort_err cs_anchor_increment(cs_anchor *a, uint64_t *value)
{
    CS_TRY_CTX(a->ops->increment(a->ctx, value), "anchor %s: increment", a->ops->name(a->ctx));
    return CONSORT_OK;
}

const char *cs_anchor_name(cs_anchor *a)
{
    return a->ops->name(a->ctx);
}

bool cs_anchor_is_secure(cs_anchor *a)
{
    return a->ops->secure(a->ctx);
}
