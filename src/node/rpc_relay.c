/*
 * The leader's answers to forwarded requests (rpc_forward.h), relayed to
 * the client as the leader gave them (status, headers including
 * x-consort-txid, body) — once this node has applied that transaction
 * itself, so that the same client reading from this node next sees its
 * write (docs/consistency.md; at most CS_RPC_FORWARD_APPLY_WAIT_MS, then
 * relayed anyway: the write is committed).
 */
#include "node/rpc_forward.h"

#include "base/alloc.h"
#include "base/log.h"

#include <string.h>
#include <strings.h>

struct rpc_held {
    cs_rpc *rpc;
    cs_http_request *req;
    rpc_relay_list *list;
    int status;
    cs_http_header *headers; /* names and values in `held` */
    size_t header_count;
    cs_buf held;
    cs_slice body;
    cs_node_waiter waiter;
    rpc_held *prev, *next;
};

bool cs_rpc_hop_by_hop(const char *name)
{
    static const char *const names[] = {
        "connection", "keep-alive",     "proxy-connection", "te",      "transfer-encoding",
        "upgrade",    "content-length", "expect",           "trailer", CS_RPC_FORWARDED_HEADER};
    for (size_t i = 0; i < CS_ARRAY_LEN(names); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static void held_free(rpc_held *h)
{
    cs_free(h->headers);
    cs_buf_cleanup(&h->held);
    cs_free(h);
}

/* Sends the leader's answer (kept in `h`) to the client. */
static void send_held(rpc_held *h)
{
    cs_rpc_respond(h->rpc, h->req, h->status, h->headers, h->header_count, h->body);
    held_free(h);
}

static void unhold(rpc_held *h)
{
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        h->list->head = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
}

static void applied(void *ctx, const cs_node_result *res)
{
    rpc_held *h = ctx;
    if (res->rc != CONSORT_OK)
        cs_log_info("rpc", "relaying %s %s before this node applied the write: %s", h->req->method,
                    h->req->path, res->message);
    unhold(h);
    send_held(h);
}

/* Keeps a copy of the leader's answer in `h` (what it relays later). */
static consort_err keep(rpc_held *h, const cs_http_response *resp)
{
    size_t bytes = resp->body.len;
    for (size_t i = 0; i < resp->header_count; i++)
        bytes += strlen(resp->headers[i].name) + strlen(resp->headers[i].value) + 2;
    cs_buf_init(&h->held, bytes + 1);
    CS_TRY(cs_buf_reserve(&h->held, bytes + 1)); /* no moves: the slices point into it */
    h->headers = cs_calloc(resp->header_count + 1, sizeof *h->headers);
    CS_ENSURE(h->headers != NULL, CONSORT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < resp->header_count; i++) {
        if (cs_rpc_hop_by_hop(resp->headers[i].name))
            continue;
        const char *name = (const char *)h->held.ptr + h->held.len;
        CS_TRY(cs_buf_append(&h->held, resp->headers[i].name, strlen(resp->headers[i].name) + 1));
        const char *value = (const char *)h->held.ptr + h->held.len;
        CS_TRY(cs_buf_append(&h->held, resp->headers[i].value, strlen(resp->headers[i].value) + 1));
        h->headers[h->header_count++] = (cs_http_header){name, value};
    }
    const uint8_t *body = h->held.ptr + h->held.len;
    CS_TRY(cs_buf_append_slice(&h->held, resp->body));
    h->body = CS_SLICE(body, resp->body.len);
    h->status = resp->status;
    return CONSORT_OK;
}

/* The txid a successful write answer names (zero if none). */
static cs_txid answer_txid(const cs_http_response *resp)
{
    cs_txid t = {0, 0};
    if (resp->status < 200 || resp->status > 299)
        return t;
    for (size_t i = 0; i < resp->header_count; i++)
        if (strcasecmp(resp->headers[i].name, CS_RPC_TXID_HEADER) == 0 &&
            cs_txid_parse(resp->headers[i].value, &t) != CONSORT_OK) {
            cs_err_clear();
            t = (cs_txid){0, 0};
        }
    return t;
}

void cs_rpc_relay(cs_rpc *rpc, rpc_relay_list *list, cs_http_request *req,
                  const cs_http_response *resp)
{
    rpc_held *h = cs_calloc(1, sizeof *h);
    consort_err rc = h != NULL ? keep(h, resp) : cs_fail(CONSORT_E_NOMEM, "out of memory");
    if (rc != CONSORT_OK) {
        if (h != NULL)
            held_free(h);
        cs_rpc_respond_internal(rpc, req, rc, "relaying the leader's answer");
        return;
    }
    h->rpc = rpc;
    h->req = req;
    h->list = list;
    cs_txid txid = answer_txid(resp);
    if (txid.seqno == 0 || list == NULL) {
        send_held(h);
        return;
    }
    h->next = list->head;
    if (list->head != NULL)
        list->head->prev = h;
    list->head = h;
    cs_node_wait_applied(rpc->node, &h->waiter, txid, CS_RPC_FORWARD_APPLY_WAIT_MS, applied, h);
}

void cs_rpc_relay_flush(cs_rpc *rpc, rpc_relay_list *list)
{
    while (list->head != NULL) {
        rpc_held *h = list->head;
        list->head = h->next;
        cs_node_wait_cancel(rpc->node, &h->waiter);
        send_held(h);
    }
}
