/* Calls at the end of a loop turn (turn_end.h). */
#include "net/turn_end.h"

#include "base/alloc.h"

struct cs_turn_end {
    uv_check_t check;     /* runs right after the I/O callbacks */
    uv_prepare_t prepare; /* runs right before the loop waits for I/O */
    cs_turn_end_cb cb;
    void *ctx;
    int open; /* handles not closed yet */
    bool armed;
};

static void disarm(cs_turn_end *t)
{
    t->armed = false;
    (void)uv_check_stop(&t->check);
    (void)uv_prepare_stop(&t->prepare);
}

/* A call that arms it again (the writer it woke wrote more) runs again at
 * once: started inside the phase's own run, a libuv handle would wait for
 * the next pass of that phase, and the prepare phase's next pass comes
 * after the loop slept. Bounded: what is still armed then runs after the
 * I/O phase. */
#define REPEAT_MAX 8

static void fire(cs_turn_end *t)
{
    for (int i = 0; t->armed && i < REPEAT_MAX; i++) {
        disarm(t);
        t->cb(t->ctx); /* may free t: its memory lasts until the loop closes the handles */
    }
}

static void check_cb(uv_check_t *h)
{
    fire(h->data);
}

static void prepare_cb(uv_prepare_t *h)
{
    fire(h->data);
}

static void closed_cb(uv_handle_t *h)
{
    cs_turn_end *t = h->data;
    if (--t->open == 0)
        cs_free(t);
}

consort_err cs_turn_end_new(uv_loop_t *loop, cs_turn_end_cb cb, void *ctx, cs_turn_end **out)
{
    *out = NULL;
    cs_turn_end *t = cs_calloc(1, sizeof *t);
    CS_ENSURE(t != NULL, CONSORT_E_NOMEM, "turn end: out of memory");
    /* libuv's check and prepare inits only link the handle into the loop:
     * they cannot fail. */
    (void)uv_check_init(loop, &t->check);
    (void)uv_prepare_init(loop, &t->prepare);
    t->check.data = t;
    t->prepare.data = t;
    t->open = 2;
    t->cb = cb;
    t->ctx = ctx;
    *out = t;
    return CONSORT_OK;
}

void cs_turn_end_arm(cs_turn_end *t)
{
    if (t->armed)
        return;
    t->armed = true;
    (void)uv_check_start(&t->check, check_cb);
    (void)uv_prepare_start(&t->prepare, prepare_cb);
}

void cs_turn_end_free(cs_turn_end *t)
{
    if (t == NULL)
        return;
    disarm(t);
    uv_close((uv_handle_t *)&t->check, closed_cb);
    uv_close((uv_handle_t *)&t->prepare, closed_cb);
}
