/*
 * The store object: limits, map names, the sorted set of maps.
 */
#include "store/kv_priv.h"

#include "base/alloc.h"
#include "crypto/rand.h"

#include <stdio.h>
#include <string.h>

cs_kv_limits cs_kv_limits_resolve(const cs_kv_limits *in)
{
    cs_kv_limits l = in != NULL ? *in : (cs_kv_limits){0};
    if (l.max_key == 0)
        l.max_key = CS_KV_KEY_MAX_DEFAULT;
    if (l.max_value == 0)
        l.max_value = CS_KV_VALUE_MAX_DEFAULT;
    if (l.max_write_set == 0)
        l.max_write_set = CS_KV_WRITE_SET_MAX_DEFAULT;
    return l;
}

consort_err cs_kv_store_new(const cs_kv_limits *limits, cs_kv_store **out)
{
    cs_kv_store *s = cs_calloc(1, sizeof *s);
    CS_ENSURE(s != NULL, CONSORT_E_NOMEM, "KV store");
    s->limits = cs_kv_limits_resolve(limits);
    cs_lthash_init(&s->digest);
    consort_err rc = cs_random(s->seed, sizeof s->seed);
    if (rc != CONSORT_OK) {
        cs_free(s);
        return cs_err_context(rc, "KV store: hash seed");
    }
    *out = s;
    return CONSORT_OK;
}

static void store_destroy(cs_kv_store *s)
{
    /* undo first: it points at maps and owns displaced records */
    cs_kv_undo_cleanup(&s->undo);
    for (size_t i = 0; i < s->nmaps; i++)
        cs_kv_map_free(s->maps[i]);
    cs_free(s->maps);
    cs_wipe(s->seed, sizeof s->seed);
    cs_free(s);
}

void cs_kv_store_free(cs_kv_store *s)
{
    if (s == NULL)
        return;
    if (s->pins != NULL) {
        s->closing = true; /* views still read its records: the last one frees it */
        return;
    }
    store_destroy(s);
}

void cs_kv_pins_released(cs_kv_store *s)
{
    for (size_t i = 0; i < s->nkept; i++)
        cs_kv_rec_unref(s->kept[i]);
    cs_free(s->kept);
    s->kept = NULL;
    s->nkept = s->kept_cap = 0;
    if (s->closing) {
        store_destroy(s);
        return;
    }
    for (size_t i = 0; i < s->nmaps; i++) {
        cs_kv_slots_unshared(&s->maps[i]->table.slots);
        cs_kv_slots_unshared(&s->maps[i]->table.old);
    }
}

uint64_t cs_kv_last_seqno(const cs_kv_store *s)
{
    return s->last_seqno;
}

cs_kv_limits cs_kv_store_limits(const cs_kv_store *s)
{
    return s->limits;
}

bool cs_kv_map_is_public(cs_slice name)
{
    cs_slice prefix = CS_SLICE_LIT(CS_KV_PUBLIC_PREFIX);
    return name.len >= prefix.len && memcmp(name.ptr, prefix.ptr, prefix.len) == 0;
}

/* Length of the valid UTF-8 sequence at s[i..], or 0 (RFC 3629 §4: no
 * overlong forms, no surrogates U+D800..DFFF, nothing above U+10FFFF). */
static size_t utf8_seq(const uint8_t *s, size_t len, size_t i)
{
    uint8_t b = s[i];
    if (b < 0x80)
        return 1;
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        if (b == 0xe0)
            lo = 0xa0;
        else if (b == 0xed)
            hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++) {
        if (s[i + k] < 0x80 || s[i + k] > 0xbf)
            return 0;
    }
    return n;
}

consort_err cs_kv_check_map_name(cs_slice name)
{
    CS_ENSURE(name.len >= 1 && name.len <= CS_KV_MAP_NAME_MAX, CONSORT_E_INVALID_ARGUMENT,
              "KV map name of %zu bytes, expected 1..%d", name.len, CS_KV_MAP_NAME_MAX);
    for (size_t i = 0; i < name.len;) {
        size_t n = utf8_seq(name.ptr, name.len, i);
        CS_ENSURE(n > 0, CONSORT_E_INVALID_ARGUMENT,
                  "KV map name: invalid UTF-8 at byte %zu (0x%02x)", i, name.ptr[i]);
        i += n;
    }
    return CONSORT_OK;
}

const char *cs_kv_fmt(cs_slice s, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap < 8) {
        if (cap > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.ptr[i];
        bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
        if (o + (plain ? 1 : 4) + 5 > cap) {
            memcpy(buf + o, "\"...", 5);
            return buf;
        }
        if (plain) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

kv_map *cs_kv_map_find(const cs_kv_store *s, cs_slice name, size_t *pos)
{
    size_t lo = 0, hi = s->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cs_kv_bytes_cmp(kv_map_name(s->maps[mid]), name);
        if (c == 0) {
            if (pos != NULL)
                *pos = mid;
            return s->maps[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos != NULL)
        *pos = lo;
    return NULL;
}

consort_err cs_kv_map_new(const cs_kv_store *s, cs_slice name, kv_map **out)
{
    kv_map *m = cs_calloc(1, sizeof *m);
    CS_ENSURE(m != NULL, CONSORT_E_NOMEM, "KV map");
    m->name = cs_malloc(name.len);
    if (m->name == NULL) {
        cs_free(m);
        return cs_fail(CONSORT_E_NOMEM, "KV map name of %zu bytes", name.len);
    }
    memcpy(m->name, name.ptr, name.len);
    m->name_len = name.len;
    m->is_public = cs_kv_map_is_public(name);
    m->in_digest = !cs_slice_eq(name, CS_SLICE(s->excluded, s->excluded_len));
    cs_kv_table_init(&m->table);
    cs_kv_shadow_init(&m->shadow);
    *out = m;
    return CONSORT_OK;
}

void cs_kv_map_free(kv_map *m)
{
    if (m == NULL)
        return;
    cs_kv_shadow_cleanup(&m->shadow);
    cs_kv_table_cleanup(&m->table);
    cs_free(m->name);
    cs_free(m);
}

consort_err cs_kv_store_reserve_maps(cs_kv_store *s, size_t extra)
{
    if (s->maps_cap - s->nmaps >= extra)
        return CONSORT_OK;
    CS_ENSURE(extra <= SIZE_MAX / 4 / sizeof(kv_map *) - s->nmaps, CONSORT_E_NOMEM,
              "KV: %zu more maps", extra);
    size_t cap = s->maps_cap > 0 ? s->maps_cap : 8;
    while (cap - s->nmaps < extra)
        cap *= 2;
    kv_map **maps = cs_realloc(s->maps, cap * sizeof *maps);
    CS_ENSURE(maps != NULL, CONSORT_E_NOMEM, "KV: room for %zu maps", cap);
    s->maps = maps;
    s->maps_cap = cap;
    return CONSORT_OK;
}

void cs_kv_store_insert_map(cs_kv_store *s, kv_map *m, size_t pos)
{
    memmove(s->maps + pos + 1, s->maps + pos, (s->nmaps - pos) * sizeof *s->maps);
    s->maps[pos] = m;
    s->nmaps++;
    s->maps_epoch++;
}
