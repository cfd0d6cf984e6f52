#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void *libc_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *libc_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size);
}

static void libc_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

static cs_allocator current = {libc_malloc, libc_realloc, libc_free, NULL};

void cs_alloc_set(const cs_allocator *a)
{
    if (a == NULL)
        current = (cs_allocator){libc_malloc, libc_realloc, libc_free, NULL};
    else
        current = *a;
}

void *cs_malloc(size_t size)
{
    return current.malloc_fn(current.ctx, size == 0 ? 1 : size);
}

void *cs_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = cs_malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *cs_realloc(void *ptr, size_t size)
{
    return current.realloc_fn(current.ctx, ptr, size == 0 ? 1 : size);
}

void cs_free(void *ptr)
{
    if (ptr != NULL)
        current.free_fn(current.ctx, ptr);
}

char *cs_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = cs_malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *cs_strdup(const char *s)
{
    return cs_strndup(s, SIZE_MAX);
}

/* Below this, an array comes from the allocator like any other. */
#define PAGES_MIN ((size_t)256 << 10)
/* From this size, transparent huge pages where the kernel offers them:
 * one fault per 2 MiB instead of 512. The arrays that get here (a hash
 * table's slots, the spares its pinned view copies chunks into) are
 * written at random, so they are all resident soon anyway; with 4 KiB
 * pages the first writes after a pin took 232 ms for 8,192 puts at 3M
 * keys instead of 58 (bench_kv, bench/RESULTS.md). */
#define HUGE_MIN ((size_t)4 << 20)

void *cs_alloc_zeroed_pages(size_t size)
{
    if (current.malloc_fn != libc_malloc || size < PAGES_MIN)
        return cs_calloc(1, size); /* an installed allocator sees it (tests) */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (size >= HUGE_MIN)
        (void)madvise(p, size, MADV_HUGEPAGE); /* advice: the kernel may say no */
    return p;
}

void cs_free_zeroed_pages(void *ptr, size_t size)
{
    if (ptr == NULL)
        return;
    if (current.malloc_fn != libc_malloc || size < PAGES_MIN)
        cs_free(ptr);
    else
        (void)munmap(ptr, size);
}
