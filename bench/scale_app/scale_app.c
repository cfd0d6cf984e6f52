/*
 * A bench-only application for bench_scale (bench/scale/main.c): fills the
 * store fast, many keys per request, and writes one value of any size.
 *
 *   POST /app/fill?start=S&count=K&size=V   writes K keys (S .. S+K-1, 8-byte
 *        big-endian ids) with V-byte values (1 <= K <= 4096, 1 <= V <= 65536,
 *        K * V <= 8 MiB) in one transaction; empty body; answers {}
 *   POST /app/put?id=N                     body (1 B .. 1 MiB): the value of key N
 *
 * Values of /app/fill are pseudo-random bytes derived from the id (not
 * compressible, not all alike). Both write the private map "scale". Every
 * endpoint requires a registered user certificate.
 */
#include <consort/app.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

CONSORT_APP_DECLARE();

#define MAP            "scale"
#define FILL_MAX_COUNT 4096
#define FILL_MAX_SIZE  65536
#define FILL_MAX_BYTES ((uint64_t)8 << 20)

static void id_key(uint64_t id, uint8_t key[8])
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)id;
        id >>= 8;
    }
}

/* The unsigned decimal query parameter `name` (required). */
static int query_u64(consort_request *req, const char *name, uint64_t *out)
{
    char text[32];
    if (consort_request_query(req, name, text, sizeof text) != CONSORT_OK || text[0] == '\0')
        return 0;
    uint64_t v = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 1;
}

static consort_err ok(consort_response *resp)
{
    consort_response_set_status(resp, 200);
    return consort_response_set_body(resp, "{}", 2, "application/json");
}

static consort_err fill(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)ctx;
    uint64_t start, count, size;
    if (!query_u64(req, "start", &start) || !query_u64(req, "count", &count) ||
        !query_u64(req, "size", &size))
        return consort_response_error(resp, 400, "InvalidInput",
                                      "start, count and size are required unsigned integers");
    if (count < 1 || count > FILL_MAX_COUNT || size < 1 || size > FILL_MAX_SIZE ||
        count * size > FILL_MAX_BYTES || start > UINT64_MAX - count)
        return consort_response_error(resp, 400, "InvalidInput",
                                      "count must be 1..%d, size 1..%d, count*size <= %" PRIu64,
                                      FILL_MAX_COUNT, FILL_MAX_SIZE, FILL_MAX_BYTES);
    uint8_t *value = malloc(size);
    if (value == NULL)
        return consort_fail(CONSORT_E_NOMEM, "fill: out of memory");
    consort_err rc = CONSORT_OK;
    for (uint64_t id = start; id < start + count && rc == CONSORT_OK; id++) {
        uint64_t x = id * 0x9E3779B97F4A7C15ull + 1; /* xorshift from the id */
        for (uint64_t i = 0; i < size; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            value[i] = (uint8_t)x;
        }
        uint8_t key[8];
        id_key(id, key);
        rc = consort_kv_put(tx, MAP, key, sizeof key, value, size);
    }
    free(value);
    return rc == CONSORT_OK ? ok(resp) : rc;
}

static consort_err put(consort_request *req, consort_tx *tx, consort_response *resp, void *ctx)
{
    (void)ctx;
    uint64_t id;
    if (!query_u64(req, "id", &id))
        return consort_response_error(resp, 400, "InvalidInput",
                                      "query parameter ?id=<unsigned integer> is required");
    size_t len;
    const uint8_t *body = consort_request_body(req, &len);
    if (len == 0)
        return consort_response_error(resp, 400, "InvalidInput", "the body (the value) is empty");
    uint8_t key[8];
    id_key(id, key);
    consort_err rc = consort_kv_put(tx, MAP, key, sizeof key, body, len);
    return rc == CONSORT_OK ? ok(resp) : rc;
}

consort_err consort_app_init(consort_app *app)
{
    consort_err rc = consort_app_endpoint(app, "POST", "/app/fill", fill, CONSORT_AUTH_USER,
                                          CONSORT_READ_WRITE, NULL);
    if (rc == CONSORT_OK)
        rc = consort_app_endpoint(app, "POST", "/app/put", put, CONSORT_AUTH_USER,
                                  CONSORT_READ_WRITE, NULL);
    return rc;
}

void consort_app_fini(consort_app *app)
{
    (void)app;
}
