/*
 * libraft's heap in a node's process (raft_heap_set). A block of
 * CS_RAFT_HEAP_MAP_MIN bytes or more gets a mapping of its own, given back
 * to the system when it is freed (the munmap in the allocator's worker:
 * base/alloc.h cs_alloc_unmap_soon); smaller blocks come from libc's heap.
 *
 * Why: raft's log holds every entry since the last snapshot, allocated
 * between the store's records (a leader's entries by consensus/entry.c, a
 * follower's by libraft as it receives them, a restarted node's as it reads
 * its segments). When a snapshot truncates the log, those blocks are free
 * but their pages stay resident inside libc's heap until it reuses them,
 * and only malloc_trim gives them back: a walk of the whole heap with its
 * lock held, which a loop's next allocation waits for (99-230 ms at 1M
 * keys: bench/RESULTS.md). Blocks mapped on their own need no trim.
 *
 * Process-wide: install it before libraft allocates anything (consortd's
 * main) and uninstall it only when nothing it gave out is still held.
 * Every block carries a 16-byte header saying which kind it is; a header
 * that is neither aborts the process (a pointer libraft did not get from
 * this heap, or memory overwritten). Thread-safe.
 */
#ifndef CS_CONSENSUS_RAFT_HEAP_H
#define CS_CONSENSUS_RAFT_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* From this size a block is mapped on its own: below a store-filling
 * client's entries (~21 KB), above almost every allocation of a loaded
 * node's steady traffic (entries of a few hundred bytes, batches of them),
 * which would otherwise each cost an mmap, page faults and an munmap. */
#define CS_RAFT_HEAP_MAP_MIN ((size_t)16 << 10)

void cs_raft_heap_install(void);
/* Back to libraft's default heap. */
void cs_raft_heap_uninstall(void);
bool cs_raft_heap_installed(void);

typedef struct cs_raft_heap_stats {
    uint64_t mapped_blocks; /* blocks given their own mapping, ever */
    uint64_t mapped_bytes;  /* bytes of such mappings not yet freed */
    /* bytes of blocks from libc's heap freed, ever: what a trim could give
     * back at most (node_snapshot_release) */
    uint64_t heap_freed_bytes;
} cs_raft_heap_stats;
cs_raft_heap_stats cs_raft_heap_stats_get(void);

#endif
