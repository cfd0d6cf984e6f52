/*
 * The loop probe's watcher (loop_probe.h): a thread beside the node's loop
 * that, while the loop has not run for over NODE_LOOP_STALL_MS past its
 * probe period, samples every NODE_LOOP_WATCH_MS where the loop's thread
 * is: its state, its system call with the file of that call's descriptor,
 * and the kernel function it waits in (/proc/self/task/<tid>/{stat,
 * syscall,wchan}). The probe takes the samples of the interval that
 * stalled when it next runs.
 *
 * start, beat, take and stop on the loop's thread (start names it); the
 * watcher touches only its own fields, under its lock.
 */
#ifndef CS_NODE_LOOP_WATCH_H
#define CS_NODE_LOOP_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct node_loop_watch node_loop_watch;

/* Watches the calling thread, which ran at `now_ns` (uv_hrtime). NULL if no
 * thread could be started (then every call below is a no-op). */
node_loop_watch *node_loop_watch_start(uint64_t now_ns);
/* The loop ran at `now_ns`: an interval begins. */
void node_loop_watch_beat(node_loop_watch *w, uint64_t now_ns);
/* What was sampled in the interval that began at `beat_ns`, summarised
 * into out ("what xN; what xN; other xN"); false (out untouched) if
 * nothing was. */
bool node_loop_watch_take(node_loop_watch *w, uint64_t beat_ns, char *out, size_t n);
/* Stops and joins the thread; NULL is a no-op. */
void node_loop_watch_stop(node_loop_watch *w);

/* Where the thread `tid` of this process is now, e.g. "running",
 * "fsync(fd 12: /data/ledger/x.open) in jbd2_log_wait_commit", or for a
 * lock "futex(at libc.so.6+0x1d2c80) in futex_do_wait" (the lock's word,
 * node_loop_watch_mapping). */
void node_loop_watch_where(int tid, char *out, size_t n);

/* The mapping of this process that holds `addr`: "FILE+0xOFFSET" (the
 * offset in FILE, which `nm` or `gdb` turn into a symbol) or the mapping's
 * name ("[heap]", "anonymous memory"); "" if none does. */
void node_loop_watch_mapping(unsigned long long addr, char *out, size_t n);

#endif
