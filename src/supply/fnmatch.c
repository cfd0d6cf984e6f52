/* Python's fnmatch on code points (fnmatch.h). */
#include "supply/fnmatch.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CPS 4096

typedef enum tok_kind { TOK_LIT, TOK_ANY, TOK_STAR, TOK_CLASS, TOK_NEVER } tok_kind;

typedef struct range {
    uint32_t lo, hi;
} range;

typedef struct tok {
    tok_kind kind;
    uint32_t cp;         /* TOK_LIT */
    bool negate;         /* TOK_CLASS */
    size_t first, count; /* TOK_CLASS: ranges[first .. first+count) */
} tok;

struct cs_fnmatch {
    tok *toks;
    size_t n_toks;
    range *ranges;
    size_t n_ranges;
};

/* Decodes UTF-8 (jansson strings are valid UTF-8; checked anyway). */
static consort_err decode(const char *s, uint32_t *out, size_t cap, size_t *n_out)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = 0;
    while (*p) {
        CS_ENSURE(n < cap, CONSORT_E_TOO_LARGE, "pattern or path over %zu characters", cap);
        uint32_t c = *p++;
        int more = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : -1;
        CS_ENSURE(more >= 0, CONSORT_E_MALFORMED, "not UTF-8");
        if (more)
            c &= (uint32_t)(0x3f >> more);
        for (int k = 0; k < more; k++, p++) {
            CS_ENSURE((*p & 0xc0) == 0x80, CONSORT_E_MALFORMED, "not UTF-8");
            c = (c << 6) | (*p & 0x3fu);
        }
        out[n++] = c;
    }
    *n_out = n;
    return CONSORT_OK;
}

/* One character of a translated set ("stuff"): escaped or not. */
typedef struct sch {
    uint32_t cp;
    bool esc;
} sch;

/* A chunk of a bracket expression: buf[start .. end), less deleted characters. */
typedef struct chunk {
    size_t start, end;
} chunk;

/* Index of the first (or last) character of `c` not deleted, SIZE_MAX if none. */
static size_t live_end(const chunk *c, const bool *del, bool last)
{
    for (size_t k = 0; k < c->end - c->start; k++) {
        size_t x = last ? c->end - 1 - k : c->start + k;
        if (!del[x])
            return x;
    }
    return SIZE_MAX;
}

static bool special(uint32_t c, const char *set)
{
    return c < 0x80 && c != 0 && strchr(set, (int)c) != NULL;
}

/*
 * fnmatch.translate's handling of pat[i..j) (between '[' and ']'), into
 * the characters of the set it writes, then Python's re parser reading
 * "[" stuff "]".
 */
static consort_err compile_class(const uint32_t *pat, size_t i, size_t j, cs_fnmatch *m, tok *t)
{
    size_t w = j - i + 2;
    sch *st = cs_calloc(2 * w, sizeof *st);
    uint32_t *buf = cs_calloc(w, sizeof *buf);
    bool *del = cs_calloc(w, sizeof *del);
    chunk *ch = cs_calloc(w, sizeof *ch);
    consort_err rc = CONSORT_OK;
    size_t n = 0;
    if (st == NULL || buf == NULL || del == NULL || ch == NULL) {
        rc = cs_fail(CONSORT_E_NOMEM, "pattern: bracket expression");
        goto out;
    }
    bool dash = false;
    for (size_t k = i; k < j; k++)
        dash |= pat[k] == '-';
    if (!dash) {
        for (size_t k = i; k < j; k++)
            st[n++] = (sch){pat[k], special(pat[k], "\\&~|")};
    } else {
        /* chunks split at '-', the search starting past the first character
         * (and a '!'), then 2 past each '-' found */
        size_t nb = 0, nc = 0, start = i;
        size_t k = pat[i] == '!' ? i + 2 : i + 1;
        for (;;) {
            size_t f = k;
            while (f < j && pat[f] != '-')
                f++;
            if (k >= j || f >= j)
                break;
            ch[nc] = (chunk){nb, nb + (f - start)};
            for (size_t x = start; x < f; x++)
                buf[nb++] = pat[x];
            nc++;
            start = f + 1;
            k = f + 3;
        }
        if (start < j) {
            ch[nc] = (chunk){nb, nb + (j - start)};
            for (size_t x = start; x < j; x++)
                buf[nb++] = pat[x];
            nc++;
        } else {
            buf[nb++] = '-'; /* chunks[-1] += '-' (the last chunk ends at nb) */
            ch[nc - 1].end = nb;
        }
        /* "Remove empty ranges": where chunks[k-1][-1] > chunks[k][0],
         * chunks[k-1] = chunks[k-1][:-1] + chunks[k][1:], right to left. */
        for (size_t x = nc - 1; x >= 1; x--) {
            size_t la = live_end(&ch[x - 1], del, true), fb = live_end(&ch[x], del, false);
            if (la == SIZE_MAX || fb == SIZE_MAX) {
                rc = cs_fail(CONSORT_E_MALFORMED, "pattern: bracket expression Python cannot "
                                                  "translate (IndexError)");
                goto out;
            }
            if (buf[la] > buf[fb]) {
                del[la] = del[fb] = true;
                ch[x - 1].end = ch[x].end;
                memmove(&ch[x], &ch[x + 1], (nc - x - 1) * sizeof *ch);
                nc--;
            }
        }
        for (size_t x = 0; x < nc; x++) {
            if (x > 0)
                st[n++] = (sch){'-', false}; /* a range */
            for (size_t y = ch[x].start; y < ch[x].end; y++)
                if (!del[y])
                    st[n++] = (sch){buf[y], special(buf[y], "\\-&~|")};
        }
    }
    if (n == 0) {
        t->kind = TOK_NEVER; /* "Empty range: never match." */
        goto out;
    }
    if (n == 1 && st[0].cp == '!' && !st[0].esc) {
        t->kind = TOK_ANY; /* "Negated empty range: match any character." */
        goto out;
    }
    size_t p = 0;
    t->kind = TOK_CLASS;
    t->first = m->n_ranges;
    if (st[0].cp == '!' && !st[0].esc) {
        t->negate = true;
        p = 1;
    }
    /* re's set parser over stuff + "]" */
    st[n++] = (sch){']', false};
    bool closed = false;
    while (p < n) {
        sch a = st[p++];
        if (a.cp == ']' && !a.esc && t->count > 0) {
            closed = true;
            break;
        }
        if (p < n && st[p].cp == '-' && !st[p].esc) {
            p++;
            if (p >= n)
                break;
            sch b = st[p++];
            if (b.cp == ']' && !b.esc) {
                m->ranges[m->n_ranges++] = (range){a.cp, a.cp};
                m->ranges[m->n_ranges++] = (range){'-', '-'};
                t->count += 2;
                closed = true;
                break;
            }
            if (b.cp < a.cp) {
                rc = cs_fail(CONSORT_E_MALFORMED, "pattern: bad character range");
                goto out;
            }
            m->ranges[m->n_ranges++] = (range){a.cp, b.cp};
        } else {
            m->ranges[m->n_ranges++] = (range){a.cp, a.cp};
        }
        t->count++;
    }
    if (!closed || p != n)
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "pattern: bracket expression whose translation Python would not read as "
                     "one set");
out:
    cs_free(st);
    cs_free(buf);
    cs_free(del);
    cs_free(ch);
    return rc;
}

static consort_err compile(const uint32_t *pat, size_t n, cs_fnmatch *m)
{
    m->toks = cs_calloc(n + 1, sizeof *m->toks);
    m->ranges = cs_calloc(2 * n + 2, sizeof *m->ranges);
    CS_ENSURE(m->toks != NULL && m->ranges != NULL, CONSORT_E_NOMEM, "pattern");
    size_t i = 0;
    while (i < n) {
        uint32_t c = pat[i++];
        tok *t = &m->toks[m->n_toks];
        memset(t, 0, sizeof *t);
        if (c == '*') {
            if (m->n_toks == 0 || m->toks[m->n_toks - 1].kind != TOK_STAR) {
                t->kind = TOK_STAR;
                m->n_toks++;
            }
            continue;
        }
        if (c == '?') {
            t->kind = TOK_ANY;
            m->n_toks++;
            continue;
        }
        if (c == '[') {
            size_t j = i;
            if (j < n && pat[j] == '!')
                j++;
            if (j < n && pat[j] == ']')
                j++;
            while (j < n && pat[j] != ']')
                j++;
            if (j < n) {
                CS_TRY(compile_class(pat, i, j, m, t));
                m->n_toks++;
                i = j + 1;
                continue;
            }
            /* no closing ']': a literal '[' */
        }
        t->kind = TOK_LIT;
        t->cp = c;
        m->n_toks++;
    }
    return CONSORT_OK;
}

consort_err cs_fnmatch_compile(const char *pattern, cs_fnmatch **out)
{
    uint32_t *pat = cs_calloc(MAX_CPS, sizeof *pat);
    cs_fnmatch *m = cs_calloc(1, sizeof *m);
    size_t n = 0;
    consort_err rc;
    if (pat == NULL || m == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "pattern");
    else if ((rc = decode(pattern, pat, MAX_CPS, &n)) == CONSORT_OK)
        rc = compile(pat, n, m);
    cs_free(pat);
    if (rc != CONSORT_OK) {
        cs_fnmatch_free(m);
        return cs_err_context(rc, "pattern \"%.64s\"", pattern);
    }
    *out = m;
    return CONSORT_OK;
}

void cs_fnmatch_free(cs_fnmatch *m)
{
    if (m == NULL)
        return;
    cs_free(m->toks);
    cs_free(m->ranges);
    cs_free(m);
}

static bool tok_matches(const cs_fnmatch *m, const tok *t, uint32_t c)
{
    switch (t->kind) {
    case TOK_LIT:
        return t->cp == c;
    case TOK_ANY:
        return true;
    case TOK_CLASS: {
        bool in = false;
        for (size_t k = 0; k < t->count && !in; k++)
            in = m->ranges[t->first + k].lo <= c && c <= m->ranges[t->first + k].hi;
        return in != t->negate;
    }
    case TOK_STAR:
    case TOK_NEVER:
        break;
    }
    return false;
}

consort_err cs_fnmatch_match(const cs_fnmatch *m, const char *name, bool *matched)
{
    *matched = false;
    uint32_t *s = cs_calloc(MAX_CPS, sizeof *s);
    CS_ENSURE(s != NULL, CONSORT_E_NOMEM, "matching a path");
    size_t n = 0;
    consort_err rc = decode(name, s, MAX_CPS, &n);
    if (rc != CONSORT_OK) {
        cs_free(s);
        return cs_err_context(rc, "path \"%.64s\"", name);
    }
    /* Only '*' has variable length, so one backtrack point suffices. */
    size_t p = 0, i = 0, star_p = SIZE_MAX, star_i = 0;
    while (i < n) {
        if (p < m->n_toks && m->toks[p].kind == TOK_STAR) {
            star_p = p++;
            star_i = i;
        } else if (p < m->n_toks && tok_matches(m, &m->toks[p], s[i])) {
            p++;
            i++;
        } else if (star_p != SIZE_MAX) {
            p = star_p + 1;
            i = ++star_i;
        } else {
            cs_free(s);
            return CONSORT_OK;
        }
    }
    while (p < m->n_toks && m->toks[p].kind == TOK_STAR)
        p++;
    *matched = p == m->n_toks;
    cs_free(s);
    return CONSORT_OK;
}
