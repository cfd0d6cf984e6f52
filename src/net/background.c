#include "net/background.h"

#include "base/thread.h"

#include <pthread.h>
#include <string.h>
#include <stdbool.h>
#include <uv.h>

typedef struct pool_start {
    int nice_rc;   /* cs_thread_background's */
    int uv_rc;     /* uv_loop_init / uv_queue_work's */
    bool ran;      /* the work ran on a pool thread */
    int pool_nice; /* ... at this nice value */
} pool_start;

static void noop_work(uv_work_t *w)
{
    pool_start *ps = w->data;
    ps->pool_nice = cs_thread_nice();
}

static void noop_done(uv_work_t *w, int status)
{
    pool_start *ps = w->data;
    ps->ran = status == 0;
}

/* On a thread of its own, in the background: libuv creates its pool's
 * threads on the first work queued in the process, from the thread that
 * queues it, and they inherit that thread's nice value. */
static void *start_pool(void *arg)
{
    pool_start *ps = arg;
    ps->nice_rc = cs_thread_background();
    if (ps->nice_rc != 0)
        return NULL;
    uv_loop_t loop;
    ps->uv_rc = uv_loop_init(&loop);
    if (ps->uv_rc != 0)
        return NULL;
    uv_work_t w = {.data = ps};
    ps->uv_rc = uv_queue_work(&loop, &w, noop_work, noop_done);
    if (ps->uv_rc == 0)
        (void)uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    return NULL;
}

consort_err cs_uv_pool_background(void)
{
    pool_start ps = {0};
    pthread_t t;
    CS_ENSURE(pthread_create(&t, NULL, start_pool, &ps) == 0, CONSORT_E_IO,
              "starting libuv's thread pool: no thread for it");
    (void)pthread_join(t, NULL);
    CS_ENSURE(ps.nice_rc == 0, CONSORT_E_IO, "background threads: setpriority: %s",
              strerror(ps.nice_rc));
    CS_ENSURE(ps.uv_rc == 0 && ps.ran, CONSORT_E_IO, "starting libuv's thread pool: %s",
              uv_strerror(ps.uv_rc));
    CS_ENSURE(ps.pool_nice >= CS_BACKGROUND_NICE, CONSORT_E_STATE,
              "libuv's thread pool was started before it could be put in the background "
              "(nice %d)",
              ps.pool_nice);
    return CONSORT_OK;
}
