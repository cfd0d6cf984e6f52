#include "base/alloc.h"

#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

static void *map_pages(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (size >= HUGE_MIN)
        (void)madvise(p, size, MADV_HUGEPAGE); /* advice: the kernel may say no */
    return p;
}

/* ---- regions faulted in ahead (cs_alloc_zeroed_pages_soon) */

#define SOON_SLOTS 4

typedef struct soon_region {
    size_t size;   /* 0: a free entry */
    void *mem;     /* resident, once the worker is done */
    bool busy;     /* the worker is faulting it in */
    bool given_up; /* asked for while busy: the worker unmaps it */
} soon_region;

static pthread_mutex_t soon_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t soon_cv = PTHREAD_COND_INITIALIZER;
static soon_region soon[SOON_SLOTS];
static bool soon_worker;
static bool trim_wanted; /* cs_alloc_trim_soon: the worker trims */
static cs_alloc_soon_stats soon_stats;
static _Atomic uint64_t trims;

/* cs_alloc_unmap_soon: a region waiting for the worker, the link kept in
 * the region's own first bytes */
typedef struct unmap_link {
    struct unmap_link *next;
    size_t size;
} unmap_link;
static unmap_link *unmap_list;
static _Atomic uint64_t unmapped;

void cs_alloc_trim(void)
{
    if (current.malloc_fn != libc_malloc)
        return;
    (void)malloc_trim(0);
    trims++;
}

uint64_t cs_alloc_trims(void)
{
    return trims;
}

/* Faults every page in by writing to it. Not madvise(MADV_POPULATE_WRITE):
 * that holds the address space's lock for the whole range, and a loop's
 * mmap or munmap meanwhile would wait behind it (seconds for 256 MiB of
 * huge pages compacted under memory pressure); a page fault takes only its
 * own mapping's lock. */
static void populate(void *p, size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < size; i += (size_t)(page > 0 ? page : 4096))
        ((volatile unsigned char *)p)[i] = 0;
}

static void *soon_main(void *arg)
{
    (void)arg;
    (void)pthread_setname_np(pthread_self(), CS_ALLOC_WORKER_NAME);
    pthread_mutex_lock(&soon_mu);
    for (;;) {
        if (unmap_list != NULL) {
            unmap_link *l = unmap_list;
            unmap_list = NULL;
            pthread_mutex_unlock(&soon_mu);
            while (l != NULL) {
                unmap_link *next = l->next;
                (void)munmap(l, l->size);
                unmapped++;
                l = next;
            }
            pthread_mutex_lock(&soon_mu);
            continue;
        }
        if (trim_wanted) {
            trim_wanted = false;
            pthread_mutex_unlock(&soon_mu);
            cs_alloc_trim();
            pthread_mutex_lock(&soon_mu);
            continue;
        }
        soon_region *r = NULL;
        for (size_t i = 0; i < SOON_SLOTS && r == NULL; i++)
            if (soon[i].size != 0 && soon[i].mem == NULL && !soon[i].busy)
                r = &soon[i];
        if (r == NULL) {
            pthread_cond_wait(&soon_cv, &soon_mu);
            continue;
        }
        size_t size = r->size;
        r->busy = true;
        pthread_mutex_unlock(&soon_mu);
        void *p = map_pages(size);
        if (p != NULL)
            populate(p, size);
        pthread_mutex_lock(&soon_mu);
        r->busy = false;
        if (p != NULL && !r->given_up) {
            r->mem = p;
            soon_stats.faulted++;
            continue;
        }
        soon_stats.held -= size;
        *r = (soon_region){0};
        if (p != NULL) {
            pthread_mutex_unlock(&soon_mu);
            (void)munmap(p, size);
            pthread_mutex_lock(&soon_mu);
        }
    }
    return NULL;
}

/* Under soon_mu: whether the worker runs (started on first use). */
static bool worker_started(void)
{
    if (soon_worker)
        return true;
    pthread_t t;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return false;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    soon_worker = pthread_create(&t, &attr, soon_main, NULL) == 0;
    (void)pthread_attr_destroy(&attr);
    return soon_worker;
}

bool cs_alloc_worker_start(void)
{
    pthread_mutex_lock(&soon_mu);
    bool ok = worker_started();
    pthread_mutex_unlock(&soon_mu);
    return ok;
}

void cs_alloc_trim_soon(void)
{
    if (current.malloc_fn != libc_malloc)
        return;
    pthread_mutex_lock(&soon_mu);
    if (worker_started()) {
        trim_wanted = true;
        pthread_cond_signal(&soon_cv);
    }
    pthread_mutex_unlock(&soon_mu);
}

void cs_alloc_unmap_soon(void *p, size_t size)
{
    if (p == NULL)
        return;
    unmap_link *l = p;
    pthread_mutex_lock(&soon_mu);
    bool queued = worker_started();
    if (queued) {
        *l = (unmap_link){.next = unmap_list, .size = size};
        if (unmap_list == NULL)
            pthread_cond_signal(&soon_cv);
        unmap_list = l;
    }
    pthread_mutex_unlock(&soon_mu);
    if (!queued) {
        (void)munmap(p, size);
        unmapped++;
    }
}

uint64_t cs_alloc_unmapped(void)
{
    return unmapped;
}

void cs_alloc_zeroed_pages_soon(size_t size)
{
    if (current.malloc_fn != libc_malloc || size < HUGE_MIN)
        return;
    pthread_mutex_lock(&soon_mu);
    soon_region *free_slot = NULL;
    for (size_t i = 0; i < SOON_SLOTS; i++) {
        if (soon[i].size == size && !soon[i].given_up)
            goto out; /* already announced */
        if (soon[i].size == 0 && free_slot == NULL)
            free_slot = &soon[i];
    }
    if (free_slot == NULL || size > CS_ALLOC_SOON_MAX - soon_stats.held || !worker_started())
        goto out;
    *free_slot = (soon_region){.size = size};
    soon_stats.held += size;
    soon_stats.announced++;
    pthread_cond_signal(&soon_cv);
out:
    pthread_mutex_unlock(&soon_mu);
}

/* The region announced for `size`: resident (returned, its entry freed),
 * not begun (dropped) or being faulted in (given up: the worker unmaps it). */
static void *take_soon(size_t size)
{
    void *p = NULL;
    pthread_mutex_lock(&soon_mu);
    for (size_t i = 0; i < SOON_SLOTS; i++) {
        soon_region *r = &soon[i];
        if (r->size != size || r->given_up)
            continue;
        if (r->mem != NULL) {
            p = r->mem;
            soon_stats.held -= size;
            soon_stats.used++;
            *r = (soon_region){0};
        } else if (!r->busy) { /* the worker has not begun: drop it */
            soon_stats.held -= size;
            soon_stats.missed++;
            *r = (soon_region){0};
        } else {
            r->given_up = true; /* the worker unmaps it when done */
            soon_stats.missed++;
        }
        break;
    }
    pthread_mutex_unlock(&soon_mu);
    return p;
}

cs_alloc_soon_stats cs_alloc_soon_stats_get(void)
{
    pthread_mutex_lock(&soon_mu);
    cs_alloc_soon_stats st = soon_stats;
    pthread_mutex_unlock(&soon_mu);
    return st;
}

void *cs_alloc_zeroed_pages(size_t size)
{
    if (current.malloc_fn != libc_malloc || size < PAGES_MIN)
        return cs_calloc(1, size); /* an installed allocator sees it (tests) */
    void *p = size >= HUGE_MIN ? take_soon(size) : NULL;
    return p != NULL ? p : map_pages(size);
}

void *cs_alloc_fresh_pages(size_t size)
{
    if (current.malloc_fn != libc_malloc || size < PAGES_MIN)
        return cs_calloc(1, size);
    return map_pages(size);
}

void cs_free_zeroed_pages(void *ptr, size_t size)
{
    if (ptr == NULL)
        return;
    if (current.malloc_fn != libc_malloc || size < PAGES_MIN)
        cs_free(ptr);
    else
        cs_alloc_unmap_soon(ptr, size); /* a mapping of its own (map_pages) */
}
