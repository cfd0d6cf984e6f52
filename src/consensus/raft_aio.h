/*
 * libraft's AIO contexts destroyed off a node's loop.
 *
 * libraft (Debian's package, 0.15) gives every open segment of its log a
 * kernel AIO context and destroys it on the loop when the segment closes
 * (UvWriter close: io_destroy). io_destroy waits for the kernel to retire
 * the context, an RCU grace period even with nothing in flight: 25-60 ms
 * off CPU on this machine's kernel, once per closed segment (about once a
 * second per node while a store fills), the most frequent loop stall left
 * at 1M keys (bench/RESULTS.md).
 *
 * libraft calls io_destroy through libc's syscall(), which it imports from
 * libc by name. consortd defines syscall() itself (the dynamic linker binds
 * libraft's import to the executable's definition first) and, once
 * installed, hands every io_destroy to a thread of its own ("cs-aio") and
 * returns 0 at once; every other system call goes straight to libc's.
 *
 * Why this is safe: libraft closes a segment's writer after its last write
 * completed, and never uses the context again once io_destroy returned
 * (the return value is ignored). A writer closed with writes in flight (an
 * I/O error, the node stopping) has reported them failed, so nothing
 * acknowledged depends on them; the kernel holds the pages of a direct
 * write it has not finished. A node stops deferring when it closes
 * (cs_raft_aio_uninstall), so a stopping node destroys its contexts before
 * it exits. When the queue is full the call destroys the context itself.
 *
 * Process-wide and thread-safe. Install from the main thread before libuv's
 * pool starts (the thread keeps the caller's priority: base/thread.h).
 */
#ifndef CS_CONSENSUS_RAFT_AIO_H
#define CS_CONSENSUS_RAFT_AIO_H

#include <stdbool.h>
#include <stdint.h>

#define CS_RAFT_AIO_THREAD_NAME "cs-aio"

/* Starts deferring io_destroy (and the thread, once). Returns whether it
 * defers: false when the thread could not be started. */
bool cs_raft_aio_install(void);
/* Back to destroying on the caller's thread; waits until every context
 * queued before it was destroyed. */
void cs_raft_aio_uninstall(void);

typedef struct cs_raft_aio_stats {
    uint64_t deferred;  /* io_destroy calls handed to the thread */
    uint64_t destroyed; /* of those, destroyed by the thread */
    uint64_t inline_;   /* destroyed by the caller: not installed, or the queue full */
    int worker_tid;     /* the thread's id (0: not started) */
} cs_raft_aio_stats;
cs_raft_aio_stats cs_raft_aio_stats_get(void);

#endif
