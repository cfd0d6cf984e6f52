/* Deferred calls (defer.h): a FIFO drained by a uv_idle handle, which runs
 * once per loop iteration while the queue is not empty. */
#include "net/defer.h"

#include "base/alloc.h"
#include "net/net.h"

struct cs_defer {
    uv_idle_t idle;
    cs_defer_item *head, *tail;
    size_t count;
    bool freed;
};

static void drain_cb(uv_idle_t *h)
{
    cs_defer *q = h->data;
    /* only as many as were queued before this pass: what the calls queue runs next time */
    size_t n = q->count;
    while (n-- > 0 && q->head != NULL && !q->freed) {
        cs_defer_item *it = q->head;
        q->head = it->next;
        if (q->head == NULL)
            q->tail = NULL;
        q->count--;
        it->next = NULL;
        it->queued = false;
        it->fn(it->ctx);
    }
    if (q->head == NULL && !q->freed)
        (void)uv_idle_stop(&q->idle);
}

consort_err cs_defer_new(uv_loop_t *loop, cs_defer **out)
{
    *out = NULL;
    cs_defer *q = cs_calloc(1, sizeof *q);
    CS_ENSURE(q != NULL, CONSORT_E_NOMEM, "deferred calls: out of memory");
    int rc = uv_idle_init(loop, &q->idle);
    if (rc != 0) {
        cs_free(q);
        return cs_net_uv_fail(rc, "deferred calls");
    }
    q->idle.data = q;
    *out = q;
    return CONSORT_OK;
}

void cs_defer_call(cs_defer *q, cs_defer_item *item, cs_defer_fn fn, void *ctx)
{
    if (item->queued || q->freed)
        return;
    item->fn = fn;
    item->ctx = ctx;
    item->next = NULL;
    item->queued = true;
    if (q->tail != NULL)
        q->tail->next = item;
    else
        q->head = item;
    q->tail = item;
    q->count++;
    (void)uv_idle_start(&q->idle, drain_cb);
}

void cs_defer_cancel(cs_defer *q, cs_defer_item *item)
{
    if (!item->queued)
        return;
    cs_defer_item **p = &q->head, *prev = NULL;
    while (*p != NULL && *p != item) {
        prev = *p;
        p = &(*p)->next;
    }
    if (*p == item) {
        *p = item->next;
        if (q->tail == item)
            q->tail = prev;
        q->count--;
    }
    item->next = NULL;
    item->queued = false;
}

void cs_defer_flush(cs_defer *q)
{
    while (q->head != NULL && !q->freed)
        drain_cb(&q->idle);
}

static void closed_cb(uv_handle_t *h)
{
    cs_free(h->data);
}

void cs_defer_free(cs_defer *q)
{
    if (q == NULL)
        return;
    q->freed = true;
    for (cs_defer_item *it = q->head; it != NULL;) {
        cs_defer_item *next = it->next;
        it->next = NULL;
        it->queued = false;
        it = next;
    }
    q->head = q->tail = NULL;
    q->count = 0;
    (void)uv_idle_stop(&q->idle);
    uv_close((uv_handle_t *)&q->idle, closed_cb);
}
