/*
 * The read arena of one handler invocation (node/app_host.h): the keys and
 * values consort_kv_get and consort_kv_scan return are copied here, so they
 * stay valid until the handler returns whatever it writes afterwards
 * (include/consort/app.h "Memory"), and are wiped and freed at once when
 * the invocation ends.
 *
 * Small copies share chunks (a bump pointer); a copy of more than a quarter
 * of a chunk gets a chunk of its own, so at most a quarter of a chunk is
 * wasted per chunk. Only the bytes copied count against the cap.
 */
#include "node/app_host.h"

#include "base/alloc.h"

#include <stdint.h>
#include <string.h>

#define CHUNK_SIZE ((size_t)16 << 10)
#define OWN_CHUNK  (CHUNK_SIZE / 4)

struct cs_app_arena_chunk {
    struct cs_app_arena_chunk *next;
    size_t size, used;
    uint8_t data[]; /* size bytes */
};

/* What an empty copy points at: never NULL (app.h). */
static const uint8_t empty_copy[1];

void cs_app_arena_init(cs_app_arena *a, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->cap = cap;
}

static struct cs_app_arena_chunk *chunk_new(size_t size)
{
    struct cs_app_arena_chunk *c = cs_malloc(sizeof *c + size);
    if (c != NULL) {
        c->next = NULL;
        c->size = size;
        c->used = 0;
    }
    return c;
}

consort_err cs_app_arena_copy(cs_app_arena *a, cs_slice s, const uint8_t **out)
{
    if (s.len == 0) {
        *out = empty_copy;
        return CONSORT_OK;
    }
    CS_ENSURE(s.len <= a->cap && a->used <= a->cap - s.len, CONSORT_E_TOO_LARGE,
              "this invocation read %zu bytes of keys and values; %zu more would pass the cap "
              "of %zu (CONSORT_APP_READ_MAX): read less, or page through the map",
              a->used, s.len, a->cap);
    struct cs_app_arena_chunk *c = a->chunks;
    if (s.len > OWN_CHUNK) {
        /* its own chunk, behind the current one so the bump chunk stays in use */
        struct cs_app_arena_chunk *own = chunk_new(s.len);
        CS_ENSURE(own != NULL, CONSORT_E_NOMEM, "reading %zu bytes: out of memory", s.len);
        if (c != NULL) {
            own->next = c->next;
            c->next = own;
        } else {
            a->chunks = own;
        }
        c = own;
    } else if (c == NULL || c->size - c->used < s.len) {
        struct cs_app_arena_chunk *fresh = chunk_new(CHUNK_SIZE);
        CS_ENSURE(fresh != NULL, CONSORT_E_NOMEM, "reading %zu bytes: out of memory", s.len);
        fresh->next = a->chunks;
        a->chunks = fresh;
        c = fresh;
    }
    uint8_t *p = c->data + c->used;
    memcpy(p, s.ptr, s.len);
    c->used += s.len;
    a->used += s.len;
    *out = p;
    return CONSORT_OK;
}

void cs_app_arena_cleanup(cs_app_arena *a)
{
    struct cs_app_arena_chunk *c = a->chunks;
    while (c != NULL) {
        struct cs_app_arena_chunk *next = c->next;
        cs_wipe(c->data, c->used);
        cs_free(c);
        c = next;
    }
    a->chunks = NULL;
    a->used = 0;
}
