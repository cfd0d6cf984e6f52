/*
 * bench_seal (built by `make bench`): sealed blobs (src/sealing/seal.h)
 * beside raw AES-256-GCM measured in the same run, and named-counter
 * increments of the sealed store per anchor. Goals:
 *   - seal and unseal >= 90% of raw AES-256-GCM throughput at 4 KiB
 *     (raw: EVP with a kept key schedule, the fastest way to call it);
 * cs_aead_seal (a fresh context per call) is printed beside for reference.
 * Rates are per CPU-second of this thread for the crypto, wall-clock for
 * counter increments (they wait for fsync or the TPM). Exits 0 even when a
 * goal is missed (1 only if an operation fails).
 */
#include "base/file.h"
#include "crypto/aead.h"
#include "crypto/aead_key.h"
#include "sealing/seal.h"
#include "sealing/store.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRIALS      5
#define MIN_SECONDS 0.2

typedef void (*op_fn)(void *ctx, uint64_t n);

static void die(const char *what)
{
    fprintf(stderr, "bench_seal: %s failed: %s\n", what, consort_errmsg());
    exit(1);
}

static double now(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Operations per second: calibrated trials, best of TRIALS. */
static double rate(op_fn op, void *ctx, clockid_t clk, int trials)
{
    double best = 0;
    for (int t = 0; t < trials; t++) {
        for (uint64_t n = 1;; n *= 2) {
            double t0 = now(clk);
            op(ctx, n);
            double dt = now(clk) - t0;
            if (dt >= MIN_SECONDS) {
                if ((double)n / dt > best)
                    best = (double)n / dt;
                break;
            }
        }
    }
    return best;
}

typedef struct crypto_ctx {
    size_t size;
    uint8_t *plain;
    cs_buf out, blob, opened;
    cs_seal_keycache *kc;
    cs_aead_key *raw;
    uint8_t key[32];
    uint8_t code[32];
} crypto_ctx;

static const uint8_t nonce[12] = {1};

static void op_raw_seal(void *c, uint64_t n)
{
    crypto_ctx *x = c;
    for (uint64_t i = 0; i < n; i++) {
        cs_buf_reset(&x->out);
        if (cs_aead_key_seal(x->raw, nonce, CS_SLICE_EMPTY, CS_SLICE(x->plain, x->size), &x->out) !=
            CONSORT_OK)
            die("EVP seal");
    }
}

static void op_oneshot_seal(void *c, uint64_t n)
{
    crypto_ctx *x = c;
    for (uint64_t i = 0; i < n; i++) {
        cs_buf_reset(&x->out);
        if (cs_aead_seal(x->key, nonce, CS_SLICE_EMPTY, CS_SLICE(x->plain, x->size), &x->out) !=
            CONSORT_OK)
            die("cs_aead_seal");
    }
}

static void op_raw_open(void *c, uint64_t n)
{
    crypto_ctx *x = c;
    for (uint64_t i = 0; i < n; i++) {
        cs_buf_reset(&x->opened);
        if (cs_aead_key_open(x->raw, nonce, CS_SLICE_EMPTY, cs_buf_slice(&x->out), &x->opened) !=
            CONSORT_OK)
            die("EVP open");
    }
}

static void op_seal(void *c, uint64_t n)
{
    crypto_ctx *x = c;
    const cs_seal_params p = {.policy = CS_SEAL_POLICY_CODE, .code_id = x->code};
    for (uint64_t i = 0; i < n; i++) {
        cs_buf_reset(&x->blob);
        if (cs_seal_with(x->kc, &p, CS_SLICE(x->plain, x->size), &x->blob) != CONSORT_OK)
            die("cs_seal_with");
    }
}

static void op_unseal(void *c, uint64_t n)
{
    crypto_ctx *x = c;
    const cs_seal_opener o = {.code_id = x->code};
    for (uint64_t i = 0; i < n; i++) {
        cs_buf_reset(&x->opened);
        if (cs_unseal_with(x->kc, &o, cs_buf_slice(&x->blob), NULL, &x->opened) != CONSORT_OK)
            die("cs_unseal_with");
    }
}

static double ratio_goal_4k[2];

static void bench_size(size_t size)
{
    crypto_ctx x;
    memset(&x, 0, sizeof x);
    x.size = size;
    x.plain = calloc(1, size);
    memset(x.key, 3, sizeof x.key);
    memset(x.code, 5, sizeof x.code);
    cs_buf_init(&x.out, 0);
    cs_buf_init(&x.blob, 0);
    cs_buf_init(&x.opened, 0);
    if (x.plain == NULL || cs_seal_keycache_new(x.key, &x.kc) != CONSORT_OK ||
        cs_aead_key_new(x.key, &x.raw) != CONSORT_OK)
        die("setup");
    op_raw_seal(&x, 1);
    op_seal(&x, 1);
    clockid_t cpu = CLOCK_THREAD_CPUTIME_ID;
    double raw_s = 0, raw_o = 0, seal = 0, unseal = 0, one = 0;
    for (int t = 0; t < TRIALS; t++) { /* alternate ours and raw */
        double v;
        if ((v = rate(op_raw_seal, &x, cpu, 1)) > raw_s)
            raw_s = v;
        if ((v = rate(op_seal, &x, cpu, 1)) > seal)
            seal = v;
        if ((v = rate(op_raw_open, &x, cpu, 1)) > raw_o)
            raw_o = v;
        if ((v = rate(op_unseal, &x, cpu, 1)) > unseal)
            unseal = v;
    }
    one = rate(op_oneshot_seal, &x, cpu, TRIALS);
    double mb = (double)size / 1e6;
    printf("%6zu B  seal %9.1f MB/s  raw EVP %9.1f MB/s  ratio %.3f %s | cs_aead_seal %9.1f MB/s "
           "(seal/it %.3f)\n",
           size, seal * mb, raw_s * mb, seal / raw_s, seal / raw_s >= 0.9 ? "PASS" : "MISS",
           one * mb, seal / one);
    printf("%6zu B  open %9.1f MB/s  raw EVP %9.1f MB/s  ratio %.3f %s\n", size, unseal * mb,
           raw_o * mb, unseal / raw_o, unseal / raw_o >= 0.9 ? "PASS" : "MISS");
    if (size == 4096) {
        ratio_goal_4k[0] = seal / raw_s;
        ratio_goal_4k[1] = unseal / raw_o;
    }
    cs_seal_keycache_free(x.kc);
    cs_aead_key_free(x.raw);
    cs_buf_cleanup(&x.out);
    cs_buf_cleanup(&x.blob);
    cs_buf_cleanup(&x.opened);
    free(x.plain);
}

static void op_counter(void *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v;
        if (cs_sealstore_counter_increment(c, "bench", &v) != CONSORT_OK)
            die("counter increment");
    }
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static void bench_counters(const char *what, cs_anchor *anchor, const char *dir)
{
    cs_sealstore_keys keys;
    memset(&keys, 9, sizeof keys);
    cs_sealstore *s;
    if (cs_sealstore_create(dir, &keys, anchor, &s) != CONSORT_OK)
        die("store create");
    double r = rate(op_counter, s, CLOCK_MONOTONIC, 1);
    printf("named-counter increments, %-28s %10.1f /s (one anchor increment and one durable "
           "store write each)\n",
           what, r);
    cs_sealstore_free(s);
}

int main(void)
{
    printf("bench_seal: one thread; seal/open rates per CPU-second, best of %d trials of >= "
           "%.2f s, ours and raw alternating\n\n",
           TRIALS, MIN_SECONDS);
    bench_size(64);
    bench_size(4096);
    bench_size(65536);
    printf("\n");
    char root[] = "/tmp/consort-bench-seal-XXXXXX";
    if (mkdtemp(root) == NULL)
        die("mkdtemp");
    char path[128], dir[128];
    snprintf(path, sizeof path, "%s/anchor", root);
    snprintf(dir, sizeof dir, "%s/file-store", root);
    cs_anchor *a;
    if (cs_anchor_file_open(path, &a) != CONSORT_OK)
        die("file anchor");
    bench_counters("file anchor (tmpfs or disk)", a, dir);
    cs_anchor_free(a);
    const char *tcti = getenv("CONSORT_BENCH_TCTI");
    if (tcti != NULL && tcti[0] != '\0') {
        snprintf(dir, sizeof dir, "%s/tpm-store", root);
        if (cs_anchor_tpm_open(tcti, CS_ANCHOR_TPM_DEFAULT_INDEX, &a) != CONSORT_OK)
            die("TPM anchor");
        bench_counters("TPM anchor (CONSORT_BENCH_TCTI)", a, dir);
        cs_anchor_free(a);
    } else {
        printf("named-counter increments, TPM anchor: skipped (set CONSORT_BENCH_TCTI, e.g. "
               "swtpm:host=127.0.0.1,port=2321)\n");
    }
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("\ngoals\n  seal   at 4 KiB >= 90%% of raw AES-256-GCM: %5.1f%%  %s\n"
           "  unseal at 4 KiB >= 90%% of raw AES-256-GCM: %5.1f%%  %s\n",
           ratio_goal_4k[0] * 100, ratio_goal_4k[0] >= 0.9 ? "PASS" : "MISS",
           ratio_goal_4k[1] * 100, ratio_goal_4k[1] >= 0.9 ? "PASS" : "MISS");
    return 0;
}
