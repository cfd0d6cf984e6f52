/* libraft's heap for a node's process (raft_heap.h). */
#include "consensus/raft_heap.h"

#include "base/alloc.h"

#include <raft.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { KIND_HEAP = 0x68656170, KIND_MAPPED = 0x6d617070 };

/* Before every block; 16 bytes, so the block keeps malloc's alignment. */
typedef struct block_head {
    uint32_t kind;
    uint32_t unused;
    uint64_t size; /* what was asked for */
} block_head;
_Static_assert(sizeof(block_head) == 16, "a block's header is 16 bytes");

static _Atomic bool installed;
static _Atomic uint64_t mapped_blocks, mapped_bytes, heap_freed_bytes;

static size_t map_len(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (size + sizeof(block_head) + page - 1) / page * page;
}

static block_head *head_of(void *ptr)
{
    block_head *h = (block_head *)ptr - 1;
    if (h->kind != KIND_HEAP && h->kind != KIND_MAPPED) {
        fprintf(stderr, "consort: raft heap: block %p has no header of this heap\n", ptr);
        abort();
    }
    return h;
}

static void *mapped_block(size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t len = map_len(size);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    block_head *h = p;
    *h = (block_head){.kind = KIND_MAPPED, .size = size};
    mapped_blocks++;
    mapped_bytes += len;
    return h + 1;
}

static void *heap_block(size_t size, bool zero)
{
    if (size > SIZE_MAX - sizeof(block_head))
        return NULL;
    block_head *h = zero ? calloc(1, sizeof *h + size) : malloc(sizeof *h + size);
    if (h == NULL)
        return NULL;
    *h = (block_head){.kind = KIND_HEAP, .size = size};
    return h + 1;
}

static void *heap_malloc(void *data, size_t size)
{
    (void)data;
    return size >= CS_RAFT_HEAP_MAP_MIN ? mapped_block(size) : heap_block(size, false);
}

static void heap_free(void *data, void *ptr)
{
    (void)data;
    if (ptr == NULL)
        return;
    block_head *h = head_of(ptr);
    if (h->kind == KIND_HEAP) {
        heap_freed_bytes += h->size;
        h->kind = 0; /* a second free of it aborts instead of corrupting */
        free(h);
        return;
    }
    size_t len = map_len(h->size);
    mapped_bytes -= len;
    h->kind = 0;
    cs_alloc_unmap_soon(h, len);
}

static void *heap_calloc(void *data, size_t nmemb, size_t size)
{
    (void)data;
    if (size != 0 && nmemb > SIZE_MAX / size)
        return NULL;
    size_t total = nmemb * size;
    /* fresh mappings are zero */
    return total >= CS_RAFT_HEAP_MAP_MIN ? mapped_block(total) : heap_block(total, true);
}

static void *heap_realloc(void *data, void *ptr, size_t size)
{
    if (ptr == NULL)
        return heap_malloc(data, size);
    block_head *h = head_of(ptr);
    if (h->kind == KIND_HEAP && size < CS_RAFT_HEAP_MAP_MIN) {
        if (size > SIZE_MAX - sizeof *h)
            return NULL;
        uint64_t old = h->size;
        block_head *n = realloc(h, sizeof *n + size);
        if (n == NULL)
            return NULL;
        n->size = size;
        if (size < old)
            heap_freed_bytes += old - size;
        return n + 1;
    }
    if (h->kind == KIND_MAPPED) { /* stays mapped, grown or shrunk in place if it can */
        if (size > SIZE_MAX / 2)
            return NULL;
        size_t old_len = map_len(h->size), len = map_len(size);
        block_head *n = mremap(h, old_len, len, MREMAP_MAYMOVE);
        if (n == MAP_FAILED)
            return NULL;
        n->size = size;
        mapped_bytes += len;
        mapped_bytes -= old_len;
        return n + 1;
    }
    void *n = mapped_block(size); /* from the heap to a mapping of its own */
    if (n == NULL)
        return NULL;
    memcpy(n, ptr, h->size);
    heap_free(data, ptr);
    return n;
}

static void *heap_aligned_alloc(void *data, size_t alignment, size_t size)
{
    (void)data;
    /* libraft's O_DIRECT write buffers: short-lived, and freed only through
     * heap_aligned_free, so libc's own without a header */
    return aligned_alloc(alignment, size);
}

static void heap_aligned_free(void *data, size_t alignment, void *ptr)
{
    (void)data;
    (void)alignment;
    free(ptr);
}

static struct raft_heap heap = {
    .data = NULL,
    .malloc = heap_malloc,
    .free = heap_free,
    .calloc = heap_calloc,
    .realloc = heap_realloc,
    .aligned_alloc = heap_aligned_alloc,
    .aligned_free = heap_aligned_free,
};

void cs_raft_heap_install(void)
{
    raft_heap_set(&heap);
    installed = true;
}

void cs_raft_heap_uninstall(void)
{
    raft_heap_set_default();
    installed = false;
}

bool cs_raft_heap_installed(void)
{
    return installed;
}

cs_raft_heap_stats cs_raft_heap_stats_get(void)
{
    return (cs_raft_heap_stats){
        .mapped_blocks = mapped_blocks,
        .mapped_bytes = mapped_bytes,
        .heap_freed_bytes = heap_freed_bytes,
    };
}
