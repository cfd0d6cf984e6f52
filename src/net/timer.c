/* Self-releasing one-shot timers (timer.h). */
#include "net/timer.h"

#include "base/alloc.h"
#include "net/net.h"

struct cs_timer {
    uv_timer_t handle;
    cs_timer_cb cb;
    void *ctx;
};

static void fire_cb(uv_timer_t *h)
{
    cs_timer *t = h->data;
    t->cb(t->ctx);
}

static void closed_cb(uv_handle_t *h)
{
    cs_free(h->data);
}

consort_err cs_timer_new(uv_loop_t *loop, cs_timer_cb cb, void *ctx, cs_timer **out)
{
    *out = NULL;
    cs_timer *t = cs_calloc(1, sizeof *t);
    CS_ENSURE(t != NULL, CONSORT_E_NOMEM, "timer: out of memory");
    int rc = uv_timer_init(loop, &t->handle);
    if (rc != 0) {
        cs_free(t);
        return cs_net_uv_fail(rc, "timer");
    }
    t->handle.data = t;
    t->cb = cb;
    t->ctx = ctx;
    *out = t;
    return CONSORT_OK;
}

void cs_timer_start(cs_timer *t, uint64_t ms)
{
    /* uv_timer_start fails only for a closing handle or a NULL callback. */
    (void)uv_timer_start(&t->handle, fire_cb, ms, 0);
}

void cs_timer_stop(cs_timer *t)
{
    (void)uv_timer_stop(&t->handle);
}

void cs_timer_free(cs_timer *t)
{
    if (t == NULL)
        return;
    (void)uv_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle, closed_cb);
}
