/* Snapshot buffers wiped and freed, the large ones off the loop (fsm_release.h). */
#include "consensus/fsm_release.h"

#include "base/alloc.h"

/* One snapshot buffer being wiped and freed on libuv's threadpool. */
typedef struct release_job {
    uv_work_t work;
    void *base;
    size_t len;
} release_job;

static void release_work(uv_work_t *w)
{
    release_job *j = w->data;
    cs_wipe(j->base, j->len);
    cs_free(j->base);
}

static void release_done(uv_work_t *w, int status)
{
    (void)status; /* cancelled only at loop close, which a pending request prevents */
    cs_free(w->data);
}

/* Wipes and frees snapshot buffers: large ones off the loop where the
 * adapter has one (cs_fsm_adapter_set_loop), the rest here, as well as
 * any whose job cannot be queued. */
void cs_fsm_wipe_free_bufs(cs_fsm_adapter *a, struct raft_buffer *arr, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (arr[i].base == NULL)
            continue;
        if (a->loop != NULL && arr[i].len >= CS_FSM_RELEASE_OFF_LOOP) {
            release_job *j = cs_malloc(sizeof *j);
            if (j != NULL) {
                *j = (release_job){.base = arr[i].base, .len = arr[i].len};
                j->work.data = j;
                if (uv_queue_work(a->loop, &j->work, release_work, release_done) == 0) {
                    a->released_off_loop++;
                    continue;
                }
                cs_free(j);
            }
        }
        cs_wipe(arr[i].base, arr[i].len);
        cs_free(arr[i].base);
    }
    cs_free(arr);
}
