/*
 * Threads that do a node's background work (libuv's thread pool: a
 * snapshot being encoded, sealed and written, fsyncs) run at a lower CPU
 * priority than its loop: on a machine with fewer cores than busy threads,
 * a loop waiting for a CPU behind a snapshot's encoding is a stall every
 * client sees (bench/RESULTS.md: at 1M keys the longest stalls were mostly
 * time spent waiting for a CPU). A thread that holds locks the loop waits
 * for (the allocator's worker, base/alloc.h) is not put there.
 */
#ifndef CS_BASE_THREAD_H
#define CS_BASE_THREAD_H

/* The nice value of background threads (the loop keeps the process's). */
#define CS_BACKGROUND_NICE 10

/* Puts the calling thread in the background: its nice value becomes
 * CS_BACKGROUND_NICE unless it is already at least that (an unprivileged
 * thread may raise its own, never lower it). Threads it creates inherit
 * it. Returns 0, or the errno of setpriority. */
int cs_thread_background(void);

/* The calling thread's nice value. */
int cs_thread_nice(void);

#endif
