/*
 * The requests each system gets, kept as alike as the two APIs allow:
 * the same record id (8 bytes, big-endian, as the logging sample keys its
 * records) and the same printable message of value_bytes bytes.
 *
 *   consort  write  POST /app/log/private   {"id": N, "msg": "<msg>"}
 *            read   GET  /app/log/private?id=N           (404 if unknown)
 *   etcd     write  POST /v3/kv/put    {"key": b64(id), "value": b64(msg)}
 *            read   POST /v3/kv/range  {"key": b64(id), "serializable": true}
 *            lin.   POST /v3/kv/range  {"key": b64(id)}
 *
 * The etcd JSON gateway (grpc-gateway) encodes bytes fields as base64
 * (proto3 JSON mapping), hence b64 for key and value.
 */
#include "svcbench.h"

#include "crypto/b64.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Requests are small; this caps a bug, not the benchmark. */
#define SVC_BODY_MAX  ((size_t)64 << 10)
#define SVC_VALUE_MAX ((size_t)16 << 10)

const char *svc_workload_name(svc_workload w)
{
    switch (w) {
    case SVC_FILL:
        return "fill";
    case SVC_WRITE:
        return "write";
    case SVC_READ:
        return "read";
    case SVC_READ_LIN:
        return "read-linearizable";
    default:
        return "?";
    }
}

void svc_request_init(svc_request *r)
{
    memset(r, 0, sizeof *r);
    cs_buf_init(&r->body, SVC_BODY_MAX);
}

void svc_request_cleanup(svc_request *r)
{
    cs_buf_cleanup(&r->body);
}

/* "svcbench-<16 hex digits of id>-xxxx..." cut or padded to `len` bytes:
 * no character needs escaping in JSON. */
static consort_err message(uint64_t id, size_t len, uint8_t *out)
{
    CS_ENSURE(len >= 1 && len <= SVC_VALUE_MAX, CONSORT_E_INVALID_ARGUMENT,
              "value of %zu bytes, expected 1..%zu", len, SVC_VALUE_MAX);
    char head[32];
    int n = snprintf(head, sizeof head, "svcbench-%016" PRIx64 "-", id);
    size_t hn = n > 0 ? (size_t)n : 0;
    memset(out, 'x', len);
    memcpy(out, head, hn < len ? hn : len);
    return CONSORT_OK;
}

static void id_key(uint64_t id, uint8_t key[8])
{
    for (int i = 7; i >= 0; i--) {
        key[i] = (uint8_t)id;
        id >>= 8;
    }
}

static consort_err etcd_body(cs_buf *b, svc_workload w, uint64_t id, size_t value_bytes)
{
    uint8_t key[8];
    id_key(id, key);
    CS_TRY(cs_buf_append(b, "{\"key\":\"", 8));
    CS_TRY(cs_b64_encode(CS_SLICE(key, sizeof key), b));
    if (w == SVC_FILL || w == SVC_WRITE) {
        uint8_t value[SVC_VALUE_MAX];
        CS_TRY(message(id, value_bytes, value));
        CS_TRY(cs_buf_append(b, "\",\"value\":\"", 11));
        CS_TRY(cs_b64_encode(CS_SLICE(value, value_bytes), b));
        return cs_buf_append(b, "\"}", 2);
    }
    if (w == SVC_READ)
        return cs_buf_append(b, "\",\"serializable\":true}", 22);
    return cs_buf_append(b, "\"}", 2);
}

consort_err svc_request_build(svc_request *r, svc_system system, svc_workload w, uint64_t id,
                              size_t value_bytes)
{
    cs_buf_reset(&r->body);
    if (system == SVC_ETCD) {
        r->method = "POST";
        snprintf(r->target, sizeof r->target, "%s",
                 w == SVC_FILL || w == SVC_WRITE ? "/v3/kv/put" : "/v3/kv/range");
        return etcd_body(&r->body, w, id, value_bytes);
    }
    CS_ENSURE(w != SVC_READ_LIN, CONSORT_E_INVALID_ARGUMENT,
              "consort reads are served from the node's committed state; "
              "there is no separate linearizable read");
    if (w == SVC_READ) {
        r->method = "GET";
        snprintf(r->target, sizeof r->target, "/app/log/private?id=%" PRIu64, id);
        return CONSORT_OK;
    }
    r->method = "POST";
    snprintf(r->target, sizeof r->target, "%s", "/app/log/private");
    uint8_t value[SVC_VALUE_MAX];
    CS_TRY(message(id, value_bytes, value));
    CS_TRY(cs_buf_printf(&r->body, "{\"id\": %" PRIu64 ", \"msg\": \"", id));
    CS_TRY(cs_buf_append(&r->body, value, value_bytes));
    return cs_buf_append(&r->body, "\"}", 2);
}

static bool contains(cs_slice hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= hay.len && i <= hay.len - n; i++)
        if (memcmp(hay.ptr + i, needle, n) == 0)
            return true;
    return false;
}

bool svc_response_found(svc_system system, svc_workload w, cs_slice body)
{
    if (w != SVC_READ && w != SVC_READ_LIN)
        return true;
    /* etcd RangeResponse: "kvs" is omitted when nothing matched (proto3 JSON
     * leaves out empty repeated fields); consort answers 404 instead. */
    return system == SVC_ETCD ? contains(body, "\"kvs\"") : contains(body, "\"msg\"");
}
