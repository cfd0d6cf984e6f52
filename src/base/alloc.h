/*
 * The allocator hook. Everything consort allocates goes through cs_malloc /
 * cs_calloc / cs_realloc / cs_free, which call the installed allocator
 * (libc by default). Tests install one that fails a chosen allocation to
 * prove that every failure path returns CONSORT_E_NOMEM and leaks nothing.
 */
#ifndef CS_BASE_ALLOC_H
#define CS_BASE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cs_allocator {
    void *(*malloc_fn)(void *ctx, size_t size);
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
    void (*free_fn)(void *ctx, void *ptr);
    void *ctx;
} cs_allocator;

/* Installs `a` (copied) for all threads; NULL restores libc. Not thread-safe
 * against concurrent allocation: call at start-up or in single-threaded tests. */
void cs_alloc_set(const cs_allocator *a);

void *cs_malloc(size_t size);
/* Zeroed; fails (NULL) if n * size overflows. */
void *cs_calloc(size_t n, size_t size);
void *cs_realloc(void *ptr, size_t size);
/* cs_free(NULL) is a no-op. */
void cs_free(void *ptr);
char *cs_strdup(const char *s);
/* `size` zeroed bytes for a large array: from 256 KiB up, fresh pages from
 * the kernel with libc's allocator (no page touched until used, nothing
 * cleared; glibc's calloc may clear recycled heap memory instead);
 * cs_calloc below that or with an installed allocator. Free with
 * cs_free_zeroed_pages and the same size, under the same allocator; a
 * mapping is unmapped by the allocator's worker (cs_alloc_unmap_soon). */
void *cs_alloc_zeroed_pages(size_t size);
/* As cs_alloc_zeroed_pages, but never a region announced with
 * cs_alloc_zeroed_pages_soon (those are for the caller that announced
 * them): for a scratch array on a worker (a snapshot's sort). Free with
 * cs_free_zeroed_pages. */
void *cs_alloc_fresh_pages(size_t size);
void cs_free_zeroed_pages(void *ptr, size_t size);
/* Advice that cs_alloc_zeroed_pages(size) will be called soon (a hash table
 * about to double). From 4 MiB, with libc's allocator, a worker thread maps
 * `size` bytes and faults them in, off the caller's thread (a fresh 512 MiB
 * table faulted on a node's loop held it 700 ms); the next
 * cs_alloc_zeroed_pages of exactly `size` then takes them, resident and
 * zeroed. Asked for before the worker is done, the region is given up and
 * the call maps as usual. At most CS_ALLOC_SOON_MAX bytes are held ahead (a
 * region nobody asks for stays held, resident, until the process ends);
 * advice beyond that, or repeating one still held, is ignored. Thread-safe. */
#define CS_ALLOC_SOON_MAX ((size_t)1 << 30)
void cs_alloc_zeroed_pages_soon(size_t size);
typedef struct cs_alloc_soon_stats {
    uint64_t announced; /* advice taken */
    uint64_t faulted;   /* regions the worker made resident */
    uint64_t used;      /* handed out by cs_alloc_zeroed_pages */
    uint64_t missed;    /* asked for before they were resident: given up */
    size_t held;        /* bytes announced or resident, not yet handed out */
} cs_alloc_soon_stats;
cs_alloc_soon_stats cs_alloc_soon_stats_get(void);
char *cs_strndup(const char *s, size_t n);
/* Gives the free memory inside libc's heap back to the system
 * (malloc_trim): freed blocks between live ones otherwise stay resident
 * until the heap reuses them, so a raft log that a snapshot truncated kept
 * a node's memory at its peak (bench/RESULTS.md, memory per key at 1M
 * keys). Walks the heap's free blocks: call it after such a release, not
 * per operation. A no-op under an installed allocator. Thread-safe. */
void cs_alloc_trim(void);
/* cs_alloc_trim in the allocator's worker thread (that of
 * cs_alloc_zeroed_pages_soon), off the caller's: on a node's loop a trim
 * after a snapshot at 1M keys took 90-230 ms. Requests made while one is
 * pending are one trim. Thread-safe. */
void cs_alloc_trim_soon(void);
/* How many trims libc was asked for, by either (process-wide). */
uint64_t cs_alloc_trims(void);
/* munmap(p, size) in the allocator's worker thread, off the caller's: a
 * mapping of at least sizeof(void *) + sizeof(size_t) bytes, page-aligned
 * and writable (its first bytes hold the queue's link), that nothing
 * touches again. A raft log truncated by a snapshot frees thousands of
 * mapped blocks at once on a node's loop (consensus/raft_heap.h); each
 * munmap is a system call and a TLB shootdown. Unmapped at once when the
 * worker cannot be started. Thread-safe. */
void cs_alloc_unmap_soon(void *p, size_t size);
/* The allocator's worker thread (the trims, the faulting in and the unmaps
 * above) is named so (/proc/self/task/<tid>/comm). It keeps the priority of
 * the thread that started it (a node's loop), unlike the background threads
 * of base/thread.h: it holds locks a loop waits for (the heap's during a
 * trim, the address space's in munmap), and at a lower priority it would
 * hold them longer while other threads ran (a priority inversion). */
#define CS_ALLOC_WORKER_NAME "cs-alloc"
/* Starts the allocator's worker now, from the calling thread (else the
 * first call above that needs it starts it). A thread inherits the nice
 * value of the thread that creates it: started by a background thread
 * (base/thread.h), the worker would run in the background too. consortd
 * starts it from its main thread, before libuv's pool. Returns whether it
 * runs. Thread-safe. */
bool cs_alloc_worker_start(void);
/* How many regions cs_alloc_unmap_soon has unmapped (process-wide). */
uint64_t cs_alloc_unmapped(void);

#endif
