/*
 * cs_consensus_close when libraft 0.15's uv I/O reports itself closed before
 * an open segment's writer has closed its handles (consensus.c "close"):
 * the writer's close callback reports "closed" a second time. Before the
 * fix, raft's close callback ran twice after cs_consensus had freed
 * raft_uv's state (a use-after-free and double free that ASan reports).
 *
 * The ordering is made deterministic: the close is called from a close
 * callback (so every handle libraft closes is closed in the NEXT close
 * phase, last closed first: its tick timer, then the writer), and the loop
 * thread waits, inside that callback, until libuv's only threadpool thread
 * (UV_THREADPOOL_SIZE=1, first in, first out) has run the segment's
 * finalize. raft_uv's last tracked condition is then its timer, whose close
 * callback reports it closed; the writer's close callback right after it
 * reports it again.
 */
#include "raft_cluster.h"

#include "consensus/consensus_priv.h"

#include <unistd.h>

/* libraft is not instrumented: its reads of freed memory go unreported, and
 * ASan's allocator reuses the start of a freed block, which hid the stale
 * state. With freed memory filled with 0xbe, a late report that reads
 * raft_uv's freed state follows a wild pointer, so the bug fails this test
 * (a segmentation fault). The executable exports no symbols, so
 * __asan_default_options would not be seen: main re-executes itself with
 * the option in the environment instead. */
static void asan_fill_freed(char **argv)
{
#if defined(__SANITIZE_ADDRESS__)
    const char *o = getenv("ASAN_OPTIONS");
    if (o != NULL && strstr(o, "free_fill_byte") != NULL)
        return;
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%smax_free_fill_size=1048576:free_fill_byte=190",
             o != NULL ? o : "", o != NULL && o[0] != '\0' ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    execv("/proc/self/exe", argv);
    perror("re-executing with ASAN_OPTIONS");
#else
    (void)argv;
#endif
}

static void released_cb(uv_work_t *w)
{
    uv_sem_post(w->data);
}

static void after_release_cb(uv_work_t *w, int status)
{
    (void)w;
    assert_int_equal(status, 0);
}

typedef struct close_from_cb {
    cl_cluster *cl;
    unsigned closed; /* cs_consensus_close's callback ran */
    uv_sem_t threadpool_done;
    uv_work_t marker;
} close_from_cb;

static void counted_closed_cb(void *ctx)
{
    close_from_cb *t = ctx;
    t->closed++;
    t->cl->nodes[0].c = NULL;
    t->cl->nodes[0].closing = false;
}

static void trigger_closed_cb(uv_handle_t *h)
{
    close_from_cb *t = h->data;
    cl_node *node = &t->cl->nodes[0];
    node->closing = true;
    cs_consensus_close(node->c, counted_closed_cb, t);
    /* FIFO with one thread: once the marker ran, so did the finalize that
     * the close queued before it */
    assert_int_equal(uv_queue_work(&t->cl->loop, &t->marker, released_cb, after_release_cb), 0);
    uv_sem_wait(&t->threadpool_done);
}

static bool closed_and_idle(cl_cluster *cl, void *arg)
{
    close_from_cb *t = arg;
    (void)cl;
    return t->closed > 0;
}

static void test_close_while_segment_writer_closes(void **state)
{
    (void)state;
    cl_cluster *cl = calloc(1, sizeof *cl);
    assert_non_null(cl);
    cl_init(cl, 1);
    cl_start_all(cl);
    assert_int_equal(cl_wait_leader(cl, 5000, 0), 0);

    /* entries in the open segment: the close has a writer to finalize */
    cl_tally tally = {0};
    for (uint64_t v = 1; v <= 64; v++)
        cst_ok(cl_submit(cl, 0, v, 512, &tally));
    cl_count_arg want = {&tally, 64};
    assert_true(cl_run_until(cl, 5000, cl_tally_done, &want));
    assert_int_equal(tally.ok, 64);

    unsigned long late_before = cs_consensus_late_io_closes();
    close_from_cb t = {.cl = cl};
    assert_int_equal(uv_sem_init(&t.threadpool_done, 0), 0);
    t.marker.data = &t.threadpool_done;
    uv_timer_t trigger;
    assert_int_equal(uv_timer_init(&cl->loop, &trigger), 0);
    trigger.data = &t;
    uv_close((uv_handle_t *)&trigger, trigger_closed_cb);
    assert_true(cl_run_until(cl, 5000, closed_and_idle, &t));
    /* a few more turns: a late report after the callback would show here */
    for (int i = 0; i < 4; i++)
        uv_run(&cl->loop, UV_RUN_NOWAIT);
    assert_int_equal(t.closed, 1);
    /* the ordering this test is about did happen */
    assert_true(cs_consensus_late_io_closes() > late_before);
    uv_sem_destroy(&t.threadpool_done);

    cl_cleanup(cl);
    free(cl);
}

int main(int argc, char **argv)
{
    (void)argc;
    asan_fill_freed(argv);
    /* before libuv's threadpool starts: one thread, first in first out */
    setenv("UV_THREADPOOL_SIZE", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_while_segment_writer_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
