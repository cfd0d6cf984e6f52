/*
 * Chunk file names and the chunk list of a ledger directory (docs/ledger.md
 * §5.1 "Frames and names"):
 *
 *   ledger_<first>-<last>.committed   complete, ends with a signature entry
 *   ledger_<first>.open               at most one, the last chunk
 *
 * Numbers are decimal without leading zeros. Names not starting with
 * "ledger_" are not ledger files and are ignored; any other "ledger_" name
 * is an error, so a renamed chunk cannot silently drop out of the ledger.
 */
#include "store/ledger.h"

#include "base/alloc.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_PREFIX "ledger_"
/* A directory with more chunks than this is refused (4 MiB chunks: 4 PiB). */
#define CHUNKS_MAX ((size_t)1 << 30)

/* Decimal >= 1 without leading zeros at *p; advances *p. */
static bool read_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (*s < '1' || *s > '9')
        return false;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

consort_err cs_ledger_chunk_parse_name(const char *name, cs_ledger_chunk *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(name, NAME_PREFIX, strlen(NAME_PREFIX)) != 0)
        return CONSORT_E_NOT_FOUND;
    const char *p = name + strlen(NAME_PREFIX);
    bool ok = strlen(name) < CS_LEDGER_NAME_MAX && read_number(&p, &out->first);
    if (ok && *p == '-') {
        p++;
        out->committed = true;
        ok = read_number(&p, &out->last) && out->last >= out->first && strcmp(p, ".committed") == 0;
    } else if (ok) {
        ok = strcmp(p, ".open") == 0;
    }
    CS_ENSURE(ok, CONSORT_E_MALFORMED,
              "file name \"%.80s\" is neither ledger_<first>-<last>.committed nor "
              "ledger_<first>.open",
              name);
    cs_ledger_chunk_format_name(out);
    return CONSORT_OK;
}

void cs_ledger_chunk_format_name(cs_ledger_chunk *c)
{
    if (c->committed)
        snprintf(c->name, sizeof c->name, NAME_PREFIX "%" PRIu64 "-%" PRIu64 ".committed", c->first,
                 c->last);
    else
        snprintf(c->name, sizeof c->name, NAME_PREFIX "%" PRIu64 ".open", c->first);
}

static int by_first(const void *a, const void *b)
{
    const cs_ledger_chunk *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first ? 1 : 0;
}

static consort_err add_chunk(cs_ledger_chunk **list, size_t *count, size_t *cap,
                             const cs_ledger_chunk *c)
{
    if (*count == *cap) {
        CS_ENSURE(*cap < CHUNKS_MAX, CONSORT_E_TOO_LARGE, "more than %zu chunk files", CHUNKS_MAX);
        size_t ncap = *cap ? *cap * 2 : 16;
        cs_ledger_chunk *n = cs_realloc(*list, ncap * sizeof *n);
        CS_ENSURE(n != NULL, CONSORT_E_NOMEM, "ledger: out of memory listing chunks");
        *list = n;
        *cap = ncap;
    }
    (*list)[(*count)++] = *c;
    return CONSORT_OK;
}

static consort_err read_dir(const char *dir, cs_ledger_chunk **list, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return cs_fail(errno == ENOENT ? CONSORT_E_NOT_FOUND : CONSORT_E_IO,
                       "ledger directory %s: %s", dir, strerror(errno));
    size_t cap = 0;
    consort_err rc = CONSORT_OK;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = cs_fail(CONSORT_E_IO, "ledger directory %s: %s", dir, strerror(errno));
            break;
        }
        cs_ledger_chunk c;
        consort_err prc = cs_ledger_chunk_parse_name(de->d_name, &c);
        if (prc == CONSORT_E_NOT_FOUND)
            continue;
        if (prc != CONSORT_OK) {
            rc = cs_err_context(CONSORT_E_CORRUPT, "%s", dir);
            break;
        }
        if ((rc = add_chunk(list, count, &cap, &c)) != CONSORT_OK)
            break;
    }
    closedir(d);
    return rc;
}

/* Distinct first seqnos, and one .open chunk at most, as the last one. */
static consort_err check_order(const char *dir, const cs_ledger_chunk *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (i > 0 && list[i].first == list[i - 1].first)
            return cs_fail(CONSORT_E_CORRUPT, "%s: %s and %s both start at seqno %" PRIu64, dir,
                           list[i - 1].name, list[i].name, list[i].first);
        if (!list[i].committed && i + 1 != count)
            return cs_fail(CONSORT_E_CORRUPT,
                           "%s: %s is open but %s follows it (only the last chunk may be open)",
                           dir, list[i].name, list[i + 1].name);
    }
    return CONSORT_OK;
}

consort_err cs_ledger_chunks_list(const char *dir, cs_ledger_chunk **out, size_t *count)
{
    cs_ledger_chunk *list = NULL;
    size_t n = 0;
    consort_err rc = read_dir(dir, &list, &n);
    if (rc == CONSORT_OK) {
        if (n > 1)
            qsort(list, n, sizeof *list, by_first);
        rc = check_order(dir, list, n);
    }
    if (rc != CONSORT_OK) {
        cs_free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return CONSORT_OK;
}
