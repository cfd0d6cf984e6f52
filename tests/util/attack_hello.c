/*
 * attack_hello: a hostile peer for tests/integration/test_attestation.py.
 * It speaks the attested-channel protocol (src/net/attested.h) to a node's
 * node_address as a malicious HOST would: the virtual platform key is a file
 * on the host (virtual.h: whoever reads it can sign any report), so the
 * attacker signs whatever it likes with the very platform key the node
 * trusts. What it cannot do is make the node accept the forgery:
 *
 *   attack_hello --target ADDR --platform-dir DIR --code-id HEX --mode MODE
 *                [--offset N] [--wait-ms MS]
 *
 *   honest     genuine evidence for our TLS key and this connection, with the
 *              trusted code id HEX (the control: the node must not refuse it)
 *   other-key  evidence binding ANOTHER key (a key the attacker holds) instead
 *              of the TLS key: attested.h step 3 "binding to the PEER's key"
 *   code-id    genuine binding, but an untrusted code id (SHA-256 of HEX)
 *   bitflip    honest evidence with one bit of the report flipped at byte
 *              --offset N (default 40, inside the code id)
 *   replay     evidence bound to another connection's exporter (a replay)
 *   debug      genuine evidence that says the code runs debuggable (flag bit 0)
 *
 * Every mode says it is a joiner (hello raft id 0: the node hands the
 * channel to its admission layer once both hellos are verified). In honest
 * mode, once our side has verified the node's hello, the helper sends one
 * control frame that is not a join request ({"type": "error"}); only a node
 * that accepted our hello reads it, and its admission layer answers with an
 * error frame ("expected a join request") over the same channel.
 *
 * Prints one line and exits 0: "RESULT answered <n> <text>" when the node
 * answered our frame after the hellos (n bytes; text: the answer's printable
 * bytes), "RESULT closed <ms>" when the node closed the channel without an
 * answer (before or after our side saw its hello), "RESULT open" when it was
 * still open after --wait-ms (default 5000). Exit 2 on usage or setup
 * errors. The node's log says why it refused (the tests read it).
 */
#include "attest/virtual.h"
#include "crypto/hash.h"
#include "crypto/rand.h"
#include "net/attested.h"
#include "net/timer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum mode { HONEST, OTHER_KEY, CODE_ID, BITFLIP, REPLAY, DEBUG } mode;

typedef struct attack {
    mode mode;
    size_t offset;
    cs_virtual_platform *platform;
    uint8_t code_id[32];
    cs_key *other_key;
    uv_loop_t loop;
    bool finished;
    bool closed;
    uint64_t start_ms;
    uint64_t closed_ms;
    cs_stream *stream;
    uint8_t answer[512]; /* what the node sent after the hellos (the first bytes) */
    size_t answer_len;
} attack;

static void die(const char *what)
{
    fprintf(stderr, "attack_hello: %s: %s\n", what, consort_errmsg());
    exit(2);
}

/* The attester the channel calls: honest, or forged according to the mode. */
static consort_err forge(void *ctx, const cs_key *key, cs_slice nonce, cs_evidence *out)
{
    attack *a = ctx;
    uint8_t rd[64];
    uint8_t code_id[32];
    memcpy(code_id, a->code_id, sizeof code_id);
    const cs_key *bound = a->mode == OTHER_KEY ? a->other_key : key;
    uint8_t other_nonce[CS_ATTESTED_EXPORTER_LEN];
    if (a->mode == REPLAY) { /* an exporter from some other connection */
        CS_TRY(cs_random(other_nonce, sizeof other_nonce));
        nonce = CS_SLICE(other_nonce, sizeof other_nonce);
    }
    CS_TRY(cs_report_data_bind(bound, nonce, rd));
    if (a->mode == CODE_ID)
        cs_sha256(CS_SLICE(a->code_id, 32), code_id);
    CS_TRY(cs_virtual_attest(a->platform, code_id, 0, a->mode == DEBUG, rd, out));
    if (a->mode == BITFLIP) {
        CS_ENSURE(a->offset < out->evidence.len, CONSORT_E_INVALID_ARGUMENT,
                  "--offset %zu beyond the %zu-byte report", a->offset, out->evidence.len);
        out->evidence.ptr[a->offset] ^= 0x01;
    }
    return CONSORT_OK;
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* The node's answer: one frame, be32 length || body (src/node/join_msg.h). */
static void on_stream_data(void *ctx, cs_stream *s, cs_slice data)
{
    (void)s;
    attack *a = ctx;
    size_t room = sizeof a->answer - a->answer_len;
    size_t n = data.len < room ? data.len : room;
    memcpy(a->answer + a->answer_len, data.ptr, n);
    a->answer_len += n;
    if (a->answer_len >= 4) {
        size_t len = (size_t)a->answer[0] << 24 | (size_t)a->answer[1] << 16 |
                     (size_t)a->answer[2] << 8 | a->answer[3];
        if (a->answer_len >= 4 + len || a->answer_len == sizeof a->answer)
            a->finished = true;
    }
}

/* A control frame that is no join request: CBOR {"type": "error", "message": ...}. */
static const uint8_t CONTROL_FRAME[] = {
    0,   0,    0,   41,  0xa2, 0x64, 't', 'y', 'p', 'e',  0x65, 'e', 'r', 'r', 'o',
    'r', 0x67, 'm', 'e', 's',  's',  'a', 'g', 'e', 0x74, 'a',  't', 't', 'a', 'c',
    'k', '_',  'h', 'e', 'l',  'l',  'o', ' ', 'c', 'o',  'n',  't', 'r', 'o', 'l'};

static void on_stream_close(void *ctx, cs_stream *s, consort_err reason, const char *msg)
{
    (void)s;
    (void)reason;
    attack *a = ctx;
    a->stream = NULL;
    a->closed = true;
    a->closed_ms = now_ms();
    a->finished = true;
}

static void on_ready(void *ctx, cs_stream *s, const cs_attested_peer *peer, consort_err err,
                     const char *msg)
{
    (void)peer;
    attack *a = ctx;
    if (err != CONSORT_OK) { /* closed before the hellos completed: refused */
        a->closed = true;
        a->closed_ms = now_ms();
        a->finished = true;
        return;
    }
    a->stream = s;
    const cs_stream_cbs cbs = {.on_data = on_stream_data, .on_close = on_stream_close};
    cs_stream_set_cbs(s, &cbs, a);
    if (a->mode == HONEST &&
        cs_stream_write(s, CS_SLICE(CONTROL_FRAME, sizeof CONTROL_FRAME)) != CONSORT_OK)
        die("write the control frame");
}

static void on_wait_over(void *ctx)
{
    attack *a = ctx;
    a->finished = true;
}

static mode parse_mode(const char *s)
{
    static const char *const names[] = {"honest",  "other-key", "code-id",
                                        "bitflip", "replay",    "debug"};
    for (size_t i = 0; i < CS_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0)
            return (mode)i;
    fprintf(stderr,
            "attack_hello: --mode %s: expected honest, other-key, code-id, bitflip, "
            "replay\n",
            s);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"target", required_argument, NULL, 't'},
        {"platform-dir", required_argument, NULL, 'p'},
        {"code-id", required_argument, NULL, 'c'},
        {"mode", required_argument, NULL, 'm'},
        {"offset", required_argument, NULL, 'o'},
        {"wait-ms", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    attack a = {.offset = 40};
    const char *target = NULL, *platform_dir = NULL, *code_id = NULL;
    unsigned long wait_ms = 5000;
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 't')
            target = optarg;
        else if (c == 'p')
            platform_dir = optarg;
        else if (c == 'c')
            code_id = optarg;
        else if (c == 'm')
            a.mode = parse_mode(optarg);
        else if (c == 'o')
            a.offset = strtoul(optarg, NULL, 10);
        else if (c == 'w')
            wait_ms = strtoul(optarg, NULL, 10);
        else
            return 2;
    }
    if (target == NULL || platform_dir == NULL || code_id == NULL) {
        fprintf(stderr, "usage: attack_hello --target ADDR --platform-dir DIR --code-id HEX "
                        "--mode MODE [--offset N] [--wait-ms MS]\n");
        return 2;
    }
    if (cs_hex_decode(code_id, a.code_id, sizeof a.code_id) != CONSORT_OK)
        die("--code-id");
    if (cs_virtual_platform_open(platform_dir, &a.platform) != CONSORT_OK)
        die("--platform-dir");
    cs_key *key = NULL;
    cs_x509 *cert = NULL;
    int64_t now = (int64_t)time(NULL);
    const cs_x509_params params = {
        .subject_cn = "attack_hello", .not_before = now - 60, .not_after = now + 3600};
    if (cs_key_generate(CS_CURVE_P256, &key) != CONSORT_OK ||
        cs_key_generate(CS_CURVE_P256, &a.other_key) != CONSORT_OK ||
        cs_x509_create(&params, key, key, NULL, &cert) != CONSORT_OK)
        die("identity");

    /* Our side accepts the node's evidence from the same host's platform, any code id. */
    cs_blob_list anchors;
    cs_blob_list_init(&anchors);
    if (cs_blob_list_add(&anchors, cs_virtual_platform_cert_der(a.platform)) != CONSORT_OK)
        die("anchors");
    const cs_verify_opts vopts = {.anchors = &anchors};
    cs_policy policy;
    cs_policy_init(&policy);
    const cs_attested_params ap = {.key = key,
                                   .cert = cert,
                                   .raft_id = 0,
                                   .raft_address = "127.0.0.1:1",
                                   .attest = forge,
                                   .attest_ctx = &a,
                                   .verify_opts = &vopts,
                                   .policy = &policy};
    cs_attested_config *cfg = NULL;
    if (uv_loop_init(&a.loop) != 0 || cs_attested_config_new(&ap, &cfg) != CONSORT_OK)
        die("attested configuration");
    cs_timer *timer = NULL;
    if (cs_timer_new(&a.loop, on_wait_over, &a, &timer) != CONSORT_OK)
        die("timer");
    cs_timer_start(timer, wait_ms);
    a.start_ms = now_ms();
    if (cs_attested_connect(&a.loop, target, cfg, on_ready, &a) != CONSORT_OK)
        die("connect");
    while (!a.finished)
        uv_run(&a.loop, UV_RUN_ONCE);
    if (a.answer_len > 0) {
        printf("RESULT answered %zu ", a.answer_len);
        for (size_t i = 0; i < a.answer_len; i++)
            putchar(a.answer[i] >= 0x20 && a.answer[i] < 0x7f ? a.answer[i] : '.');
        putchar('\n');
    } else if (a.closed)
        printf("RESULT closed %llu\n", (unsigned long long)(a.closed_ms - a.start_ms));
    else
        printf("RESULT open\n");
    fflush(stdout);
    if (a.stream != NULL)
        cs_stream_close(a.stream);
    cs_timer_free(timer);
    cs_attested_config_free(cfg);
    while (uv_run(&a.loop, UV_RUN_NOWAIT) != 0) {
    }
    (void)uv_loop_close(&a.loop);
    cs_blob_list_cleanup(&anchors);
    cs_x509_free(cert);
    cs_key_free(key);
    cs_key_free(a.other_key);
    cs_virtual_platform_free(a.platform);
    return 0;
}
