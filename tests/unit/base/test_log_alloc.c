#include "testutil.h"

#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void log_respects_level_and_sink(void **state)
{
    (void)state;
    cst_log_capture_start();
    cs_log_set_level(CS_LOG_WARN);
    cs_log_info("test", "hidden %d", 1);
    cs_log_warn("test", "shown %d", 2);
    cs_log_error("node", "also shown");
    const char *got = cst_log_captured();
    assert_null(strstr(got, "hidden"));
    assert_non_null(strstr(got, "warn test: shown 2"));
    assert_non_null(strstr(got, "error node: also shown"));
    cs_log_set_level(CS_LOG_OFF);
    cs_log_error("node", "silenced");
    assert_null(strstr(cst_log_captured(), "silenced"));
    cst_log_capture_stop();
    cs_log_set_level(CS_LOG_WARN);
}

static void log_level_names_parse(void **state)
{
    (void)state;
    cs_log_level lvl;
    cst_ok(cs_log_parse_level("DEBUG", &lvl));
    assert_int_equal(lvl, CS_LOG_DEBUG);
    cst_ok(cs_log_parse_level("off", &lvl));
    assert_int_equal(lvl, CS_LOG_OFF);
    cst_fails(cs_log_parse_level("verbose", &lvl), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "'verbose'"));
}

/* A burst of lines, then one per period; what was held back is reported
 * with the next line that goes out. */
/* What cs_log_fields writes to stderr (captured in a file), NUL-terminated. */
static size_t capture(cs_log_format format, const char *msg, const cs_log_field *f, size_t n,
                      char *out, size_t cap)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
    cs_log_set_format(format);
    cs_log_fields(CS_LOG_WARN, "test", f, n, "%s", msg);
    fflush(stderr);
    cs_log_set_format(CS_LOG_TEXT);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t got = fread(out, 1, cap - 1, tmp);
    out[got] = '\0';
    fclose(tmp);
    return got;
}

/* docs/observability.md: JSON lines escape whatever a field holds, stay
 * valid JSON when cut, and text lines cannot be forged by a field. */
static void log_lines_json_and_text(void **state)
{
    (void)state;
    cs_log_set_sink(NULL, NULL);
    cs_log_set_level(CS_LOG_WARN);
    static char line[16384];
    const cs_log_field f[] = {{"path", "/a\"b\\c\nd\x01\xff", 0}, {"status", NULL, 404}};
    capture(CS_LOG_JSON, "req \"x\"", f, 2, line, sizeof line);
    assert_non_null(
        strstr(line, "\"level\":\"warn\",\"module\":\"test\",\"msg\":\"req \\\"x\\\"\""));
    assert_non_null(
        strstr(line, ",\"path\":\"/a\\\"b\\\\c\\u000ad\\u0001\\u00ff\",\"status\":404}\n"));
    assert_int_equal(strncmp(line, "{\"ts\":\"", 7), 0);
    assert_int_equal(strchr(line, '\n') - line + 1, (long)strlen(line)); /* one line */
    /* a field far longer than a line: cut, still closed */
    static char big[12000];
    memset(big, 'a', sizeof big - 1);
    const cs_log_field g[] = {{"path", big, 0}, {"status", NULL, 200}};
    size_t n = capture(CS_LOG_JSON, "big", g, 2, line, sizeof line);
    assert_true(n < 8192);
    assert_non_null(strstr(line, "aaa\",\"status\":200}\n"));
    /* text: "key=value", control characters and bytes >= 0x80 as '?' */
    capture(CS_LOG_TEXT, "req", f, 2, line, sizeof line);
    assert_non_null(strstr(line, " warn  test: req path=/a\"b\\c?d?? status=404\n"));
    cs_log_format fmt;
    cst_ok(cs_log_parse_format("JSON", &fmt));
    assert_int_equal(fmt, CS_LOG_JSON);
    cst_fails(cs_log_parse_format("xml", &fmt), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "'xml'"));
}

/* SIGUSR1 / SIGUSR2 in consortd: one level at a time, never off. */
static void log_level_steps(void **state)
{
    (void)state;
    cs_log_set_level(CS_LOG_WARN);
    assert_int_equal(cs_log_step_level(true), CS_LOG_INFO);
    assert_int_equal(cs_log_get_level(), CS_LOG_INFO);
    assert_int_equal(cs_log_step_level(true), CS_LOG_DEBUG);
    assert_int_equal(cs_log_step_level(true), CS_LOG_TRACE);
    assert_int_equal(cs_log_step_level(true), CS_LOG_TRACE);
    cs_log_set_level(CS_LOG_ERROR);
    assert_int_equal(cs_log_step_level(false), CS_LOG_ERROR);
    cs_log_set_level(CS_LOG_OFF);
    assert_int_equal(cs_log_step_level(true), CS_LOG_ERROR);
    cs_log_set_level(CS_LOG_OFF);
    assert_int_equal(cs_log_step_level(false), CS_LOG_OFF);
    cs_log_set_level(CS_LOG_WARN);
}

static void log_budget_bounds_a_flood(void **state)
{
    (void)state;
    cs_log_budget b;
    cs_log_budget_init(&b, 3, 1000);
    uint64_t held = 99;
    for (int i = 0; i < 3; i++) {
        assert_true(cs_log_budget_take(&b, 5000, &held));
        assert_int_equal(held, 0);
    }
    for (int i = 0; i < 1000; i++) /* a flood within the same second */
        assert_false(cs_log_budget_take(&b, 5000 + (uint64_t)i % 999, &held));
    assert_true(cs_log_budget_take(&b, 6000, &held)); /* one more a second later */
    assert_int_equal(held, 1000);
    assert_false(cs_log_budget_take(&b, 6999, &held));
    assert_true(cs_log_budget_take(&b, 7000, &held));
    assert_int_equal(held, 1);
    /* a quiet spell refills the burst, never more */
    for (int i = 0; i < 3; i++)
        assert_true(cs_log_budget_take(&b, 60000, &held));
    assert_false(cs_log_budget_take(&b, 60000, &held));
    /* a clock that goes back takes nothing and gives nothing */
    assert_false(cs_log_budget_take(&b, 10, &held));
}

static void failing_allocator_is_honoured(void **state)
{
    (void)state;
    cst_alloc_install();
    long live = cst_alloc_live();
    cst_alloc_fail_after(1);
    void *a = cs_malloc(16);
    assert_non_null(a);
    void *b = cs_malloc(16);
    assert_null(b);
    assert_true(cst_alloc_failed());
    cs_free(a);
    assert_int_equal(cst_alloc_live(), live);
    cst_alloc_fail_after(-1);

    /* a growing buffer reports NOMEM and keeps its contents */
    cs_buf buf;
    cs_buf_init(&buf, 0);
    cst_ok(cs_buf_append(&buf, "abc", 3));
    cst_alloc_fail_after(0);
    uint8_t big[4096] = {0};
    cst_fails(cs_buf_append(&buf, big, sizeof big), CONSORT_E_NOMEM);
    assert_int_equal(buf.len, 3);
    assert_memory_equal(buf.ptr, "abc", 3);
    cst_alloc_fail_after(-1);
    cs_buf_cleanup(&buf);
    assert_int_equal(cst_alloc_live(), live);

    /* calloc overflow fails rather than wrapping */
    assert_null(cs_calloc(SIZE_MAX / 2, 4));
    cst_alloc_uninstall();
}

/* Zeroed pages: large arrays are all zero and writable, small ones and any
 * under an installed allocator go through it (it counts them, can fail them). */
static void zeroed_pages_are_zero_and_seen_by_installed_allocators(void **state)
{
    (void)state;
    const size_t sizes[] = {16, 4096, (size_t)256 << 10, (size_t)8 << 20};
    for (size_t k = 0; k < 4; k++) {
        unsigned char *p = cs_alloc_zeroed_pages(sizes[k]);
        assert_non_null(p);
        for (size_t i = 0; i < sizes[k]; i += 4093)
            assert_int_equal(p[i], 0);
        assert_int_equal(p[sizes[k] - 1], 0);
        p[0] = p[sizes[k] - 1] = 1;
        cs_free_zeroed_pages(p, sizes[k]);
    }
    cst_alloc_install();
    long live = cst_alloc_live();
    void *big = cs_alloc_zeroed_pages((size_t)8 << 20);
    assert_non_null(big);
    assert_int_equal(cst_alloc_live(), live + 1);
    cs_free_zeroed_pages(big, (size_t)8 << 20);
    assert_int_equal(cst_alloc_live(), live);
    cst_alloc_fail_after(0);
    assert_null(cs_alloc_zeroed_pages((size_t)8 << 20));
    cst_alloc_fail_after(-1);
    cst_alloc_uninstall();
}

/* The smaps line "THPeligible: N" of the mapping holding `p` (-1: none). */
static int thp_eligible(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    bool inside = false;
    int v = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (inside && sscanf(line, "THPeligible: %d", &v) == 1)
            break;
    }
    fclose(f);
    return v;
}

/* Whether the kernel backs madvise(MADV_HUGEPAGE) regions with huge pages
 * ("[always]" or "[madvise]" in its setting). */
static bool thp_for_madvise(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "";
    if (f != NULL) {
        if (fgets(line, sizeof line, f) == NULL)
            line[0] = '\0';
        fclose(f);
    }
    return strstr(line, "[always]") != NULL || strstr(line, "[madvise]") != NULL;
}

/* Arrays of 4 MiB and more ask for transparent huge pages (the first
 * writes after a growth or a pin fault 2 MiB at a time); smaller ones do
 * not, where the kernel leaves the choice to the program. */
static void large_zeroed_arrays_ask_for_huge_pages(void **state)
{
    (void)state;
    size_t big = (size_t)8 << 20, mid = (size_t)512 << 10;
    unsigned char *b = cs_alloc_zeroed_pages(big), *m = cs_alloc_zeroed_pages(mid);
    assert_non_null(b);
    assert_non_null(m);
    if (thp_for_madvise()) {
        assert_int_equal(thp_eligible(b), 1);
        FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
        char line[128] = "";
        assert_non_null(fgets(line, sizeof line, f));
        fclose(f);
        if (strstr(line, "[madvise]") != NULL)
            assert_int_equal(thp_eligible(m), 0);
    } else {
        print_message("transparent huge pages are off on this kernel: not checked\n");
    }
    cs_free_zeroed_pages(b, big);
    cs_free_zeroed_pages(m, mid);
}

/* Pages of [p, p + size) in memory. */
static size_t resident_pages(const void *p, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (size + page - 1) / page, r = 0;
    unsigned char *vec = malloc(n);
    assert_non_null(vec);
    assert_int_equal(mincore((void *)p, size, vec), 0);
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    free(vec);
    return r;
}

/* Waits (at most 30 s) until the worker made `want` regions resident in all. */
static void wait_faulted(uint64_t want)
{
    for (int i = 0; i < 3000 && cs_alloc_soon_stats_get().faulted < want; i++)
        usleep(10000);
    assert_int_equal(cs_alloc_soon_stats_get().faulted, want);
}

/* Announced zeroed pages come resident (faulted in by the worker, not by
 * the caller) and zero; without the advice they come untouched; advice
 * repeated, or under 4 MiB, is ignored. */
static void announced_zeroed_pages_come_resident(void **state)
{
    (void)state;
    const size_t size = (size_t)24 << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    cs_alloc_soon_stats before = cs_alloc_soon_stats_get();
    cs_alloc_zeroed_pages_soon(size);
    cs_alloc_zeroed_pages_soon(size);
    cs_alloc_zeroed_pages_soon((size_t)1 << 20);
    assert_int_equal(cs_alloc_soon_stats_get().announced, before.announced + 1);
    assert_int_equal(cs_alloc_soon_stats_get().held, before.held + size);
    wait_faulted(before.faulted + 1);
    unsigned char *p = cs_alloc_zeroed_pages(size);
    assert_non_null(p);
    assert_int_equal(resident_pages(p, size), (size + page - 1) / page);
    cs_alloc_soon_stats after = cs_alloc_soon_stats_get();
    assert_int_equal(after.used, before.used + 1);
    assert_int_equal(after.held, before.held);
    for (size_t i = 0; i < size; i += 997)
        assert_int_equal(p[i], 0);
    memset(p, 0xa5, size);
    cs_free_zeroed_pages(p, size);
    /* the control: the same size unannounced maps untouched pages */
    p = cs_alloc_zeroed_pages(size);
    assert_non_null(p);
    assert_int_equal(resident_pages(p, size), 0);
    assert_int_equal(cs_alloc_soon_stats_get().used, before.used + 1);
    cs_free_zeroed_pages(p, size);
}

/* Asked for before the worker is done, a region is given up and the caller
 * maps its own; the worker then lets the region go. */
static void zeroed_pages_asked_for_early_are_mapped_anew(void **state)
{
    (void)state;
    const size_t size = (size_t)40 << 20;
    cs_alloc_soon_stats before = cs_alloc_soon_stats_get();
    cs_alloc_zeroed_pages_soon(size);
    unsigned char *p = cs_alloc_zeroed_pages(size);
    assert_non_null(p);
    cs_alloc_soon_stats st = cs_alloc_soon_stats_get();
    assert_int_equal(st.used + st.missed, before.used + before.missed + 1);
    for (size_t i = 0; i < size; i += 4093)
        assert_int_equal(p[i], 0);
    cs_free_zeroed_pages(p, size);
    for (int i = 0; i < 3000 && cs_alloc_soon_stats_get().held != before.held; i++)
        usleep(10000);
    assert_int_equal(cs_alloc_soon_stats_get().held, before.held);
}

/* Pages wholly inside a freed block, resident: the block's interior from
 * its second page to its second-last (the allocator writes its own
 * bookkeeping at a free chunk's edges). */
static size_t resident_inside(const unsigned char *p, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + 2 * page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t hi = ((uintptr_t)p + size - page) & ~(uintptr_t)(page - 1);
    return hi > lo ? resident_pages((const void *)lo, hi - lo) : 0;
}

/* Memory freed inside libc's heap (blocks between live ones, as a raft
 * log's entries sit between a store's records) stays resident until a trim
 * gives it back, on the caller's thread or the worker's; the live blocks
 * keep their contents. */
static void free_between_live_blocks_and_trim(bool in_worker)
{
    enum { BLOCKS = 512, BLOCK = 24 << 10, SPACER = 64 };
    unsigned char *blocks[BLOCKS], *spacers[BLOCKS];
    for (size_t i = 0; i < BLOCKS; i++) {
        blocks[i] = cs_malloc(BLOCK);
        spacers[i] = cs_malloc(SPACER);
        assert_non_null(blocks[i]);
        assert_non_null(spacers[i]);
        memset(blocks[i], 0x5a, BLOCK);
        memset(spacers[i], (int)(i & 0xff), SPACER);
    }
    for (size_t i = 0; i < BLOCKS; i++)
        cs_free(blocks[i]);
    size_t before = 0, after = 0;
    for (size_t i = 0; i < BLOCKS; i++)
        before += resident_inside(blocks[i], BLOCK);
    uint64_t trims = cs_alloc_trims();
    if (in_worker) {
        cs_alloc_trim_soon();
        for (int i = 0; i < 3000 && cs_alloc_trims() == trims; i++)
            usleep(1000);
    } else {
        cs_alloc_trim();
    }
    assert_int_equal(cs_alloc_trims(), trims + 1);
    for (size_t i = 0; i < BLOCKS; i++)
        after += resident_inside(blocks[i], BLOCK);
    print_message("resident pages inside the freed blocks: %zu before the trim, %zu after\n",
                  before, after);
    /* freed and resident before: 512 blocks of 4 interior pages and more */
    assert_true(before >= BLOCKS * 3);
    assert_true(after * 10 < before);
    for (size_t i = 0; i < BLOCKS; i++) {
        for (size_t j = 0; j < SPACER; j++)
            assert_int_equal(spacers[i][j], (int)(i & 0xff));
        cs_free(spacers[i]);
    }
}

static void freed_heap_memory_is_given_back(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    skip(); /* the sanitizer's allocator holds freed blocks in its own quarantine */
#endif
    free_between_live_blocks_and_trim(false);
}

static void freed_heap_memory_is_given_back_by_the_worker(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    skip();
#endif
    free_between_live_blocks_and_trim(true);
}

/* A large array freed is unmapped by the allocator's worker, not by the
 * caller: a node's loop freeing a hash table's 256 MiB array at 10M keys
 * (after a growth, or a pinned view's last chunk) would spend the munmap's
 * page freeing and TLB shootdown itself. */
static void freed_zeroed_pages_are_unmapped_by_the_worker(void **state)
{
    (void)state;
    const size_t size = (size_t)8 << 20;
    assert_true(cs_alloc_worker_start());
    unsigned char *p = cs_alloc_zeroed_pages(size);
    assert_non_null(p);
    memset(p, 0x3c, size);
    uint64_t unmapped = cs_alloc_unmapped();
    cs_free_zeroed_pages(p, size);
    for (int i = 0; i < 3000 && cs_alloc_unmapped() == unmapped; i++)
        usleep(1000);
    assert_int_equal(cs_alloc_unmapped(), unmapped + 1);
#ifndef __SANITIZE_THREAD__ /* its runtime maps its own memory into freed ranges */
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char vec[1];
    for (size_t off = 0; off < size; off += 64 * page) {
        errno = 0;
        assert_int_equal(mincore(p + off, page, vec), -1);
        assert_int_equal(errno, ENOMEM);
    }
#endif
}

static void secret_buffers_grow_without_leaving_copies(void **state)
{
    (void)state;
    cs_buf b;
    cs_buf_init_secret(&b, 0);
    for (int i = 0; i < 1000; i++)
        cst_ok(cs_buf_append_u8(&b, (uint8_t)i));
    assert_int_equal(b.len, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(b.ptr[i], (uint8_t)i);
    cs_buf_cleanup(&b);
    assert_null(b.ptr);
    assert_int_equal(b.len, 0);
}

int main(void)
{
    setenv("CONSORT_LOG", "warn", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_respects_level_and_sink),
        cmocka_unit_test(log_level_names_parse),
        cmocka_unit_test(log_lines_json_and_text),
        cmocka_unit_test(log_level_steps),
        cmocka_unit_test(log_budget_bounds_a_flood),
        cmocka_unit_test(failing_allocator_is_honoured),
        cmocka_unit_test(secret_buffers_grow_without_leaving_copies),
        cmocka_unit_test(zeroed_pages_are_zero_and_seen_by_installed_allocators),
        cmocka_unit_test(large_zeroed_arrays_ask_for_huge_pages),
        cmocka_unit_test(announced_zeroed_pages_come_resident),
        cmocka_unit_test(zeroed_pages_asked_for_early_are_mapped_anew),
        cmocka_unit_test(freed_heap_memory_is_given_back),
        cmocka_unit_test(freed_heap_memory_is_given_back_by_the_worker),
        cmocka_unit_test(freed_zeroed_pages_are_unmapped_by_the_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
