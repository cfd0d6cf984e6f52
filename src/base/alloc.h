/*
 * The allocator hook. Everything consort allocates goes through cs_malloc /
 * cs_calloc / cs_realloc / cs_free, which call the installed allocator
 * (libc by default). Tests install one that fails a chosen allocation to
 * prove that every failure path returns CONSORT_E_NOMEM and leaks nothing.
 */
#ifndef CS_BASE_ALLOC_H
#define CS_BASE_ALLOC_H

#include <stddef.h>

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
 * cs_free_zeroed_pages and the same size, under the same allocator. */
void *cs_alloc_zeroed_pages(size_t size);
void cs_free_zeroed_pages(void *ptr, size_t size);
char *cs_strndup(const char *s, size_t n);

#endif
