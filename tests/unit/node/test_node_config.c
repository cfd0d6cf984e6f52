/* The node's JSON configuration (node_config.c): members, defaults, refusals. */
#include "testutil.h"

#include "node/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASE                                                                                       \
    "\"platform_dir\": \"/p\", \"rpc_address\": \"127.0.0.1:1\", "                                 \
    "\"node_address\": \"127.0.0.1:2\", \"data_dir\": \"/d\""

static consort_err parse(const char *json, cs_node_config *cfg)
{
    return cs_node_config_parse(cs_slice_str(json), cfg);
}

static void start_defaults(void **state)
{
    (void)state;
    cs_node_config c;
    cst_ok(parse("{" BASE ", \"start\": {}}", &c));
    assert_int_equal(c.mode, CS_NODE_START);
    assert_int_equal(c.platform, CS_PLATFORM_VIRTUAL);
    assert_string_equal(c.platform_dir, "/p");
    assert_string_equal(c.rpc_address, "127.0.0.1:1");
    assert_string_equal(c.node_address, "127.0.0.1:2");
    assert_string_equal(c.data_dir, "/d");
    assert_int_equal(c.sig_interval_tx, 100);
    assert_int_equal(c.sig_interval_ms, 10);
    assert_int_equal(c.ledger_sync_ms, 100);
    assert_int_equal(c.snapshot_interval, 100000);
    assert_int_equal(c.snapshot_log_kib, 65536);
    assert_int_equal(c.heartbeat_ms, 25);
    assert_int_equal(c.chunk_size, 4 << 20);
    assert_false(c.allow_debug);
    assert_int_equal(c.trusted_code_id_count, 0);
    assert_string_equal(c.app_path, "");
}

static void start_full(void **state)
{
    (void)state;
    cs_node_config c;
    cst_ok(parse("{" BASE ", \"app\": \"/a.so\", \"sig_interval_tx\": 7, \"sig_interval_ms\": 9,"
                 " \"snapshot_interval\": 50, \"ledger_chunk_bytes\": 4096, \"heartbeat_ms\": 40,"
                 " \"snapshot_log_kib\": 128,"
                 " \"raft_segment_kib\": 8192, \"ledger_sync_ms\": 0,"
                 " \"allow_debug_evidence\": true, \"start\": {\"trusted_code_ids\": [\""
                 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"],"
                 " \"users\": [\"u0.pem\", \"u1.pem\"], \"members\": [\"m.pem\"],"
                 " \"service_cert_out\": \"/s.pem\"}}",
                 &c));
    assert_string_equal(c.app_path, "/a.so");
    assert_int_equal(c.sig_interval_tx, 7);
    assert_int_equal(c.sig_interval_ms, 9);
    assert_int_equal(c.snapshot_interval, 50);
    assert_int_equal(c.snapshot_log_kib, 128);
    assert_int_equal(c.heartbeat_ms, 40);
    assert_int_equal(c.raft_segment_kib, 8192);
    assert_int_equal(c.ledger_sync_ms, 0);
    assert_int_equal(c.chunk_size, 4096);
    assert_true(c.allow_debug);
    assert_int_equal(c.trusted_code_id_count, 1);
    assert_int_equal(c.trusted_code_ids[0][0], 0x00);
    assert_int_equal(c.trusted_code_ids[0][31], 0xff);
    assert_int_equal(c.user_count, 2);
    assert_string_equal(c.users[1], "u1.pem");
    assert_int_equal(c.member_count, 1);
    assert_string_equal(c.service_cert_out, "/s.pem");
}

/* Members: a certificate file, or {"cert", "encryption_key"}; the
 * constitution file and open_at_genesis. */
static void start_members(void **state)
{
    (void)state;
    cs_node_config c;
    cst_ok(parse("{" BASE ", \"start\": {\"members\": [\"m0.pem\", {\"cert\": \"m1.pem\","
                 " \"encryption_key\": \"m1_enc.pem\"}, {\"cert\": \"m2.pem\"}],"
                 " \"constitution\": \"/c.lua\", \"open_at_genesis\": true}}",
                 &c));
    assert_int_equal(c.member_count, 3);
    assert_string_equal(c.members[0], "m0.pem");
    assert_string_equal(c.member_enc_keys[0], "");
    assert_string_equal(c.members[1], "m1.pem");
    assert_string_equal(c.member_enc_keys[1], "m1_enc.pem");
    assert_string_equal(c.member_enc_keys[2], "");
    assert_string_equal(c.constitution_path, "/c.lua");
    assert_true(c.open_at_genesis);
    cst_ok(parse("{" BASE ", \"start\": {}}", &c));
    assert_false(c.open_at_genesis);
    static const char *const bad[] = {
        "{" BASE ", \"start\": {\"members\": [{\"encryption_key\": \"k\"}]}}",
        "{" BASE ", \"start\": {\"members\": [{\"cert\": \"c\", \"key\": \"k\"}]}}",
        "{" BASE ", \"start\": {\"members\": [7]}}",
        "{" BASE ", \"start\": {\"open_at_genesis\": \"yes\"}}",
        "{" BASE ", \"start\": {\"constitution\": \"\"}}",
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++)
        cst_fails(parse(bad[i], &c), CONSORT_E_MALFORMED);
    assert_int_not_equal(parse(bad[1], &c), CONSORT_OK);
    assert_non_null(strstr(consort_errmsg(), "start.members[0].key"));
}

static void join_mode(void **state)
{
    (void)state;
    cs_node_config c;
    cst_ok(parse("{" BASE ", \"join\": {\"target\": \"127.0.0.1:9\", \"service_cert\": \"s.pem\"}}",
                 &c));
    assert_int_equal(c.mode, CS_NODE_JOIN);
    assert_string_equal(c.join_target, "127.0.0.1:9");
    assert_string_equal(c.service_cert_path, "s.pem");
}

static void recover_mode(void **state)
{
    (void)state;
    cs_node_config c;
    cst_ok(parse("{" BASE ", \"recover\": {\"previous_ledger\": \"/old/ledger\","
                 " \"previous_service_cert\": \"/old/service_cert.pem\","
                 " \"service_cert_out\": \"/new/service_cert.pem\"}}",
                 &c));
    assert_int_equal(c.mode, CS_NODE_RECOVER);
    assert_string_equal(c.previous_ledger, "/old/ledger");
    assert_string_equal(c.previous_service_cert, "/old/service_cert.pem");
    assert_string_equal(c.service_cert_out, "/new/service_cert.pem");
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{" BASE ", \"recover\": {\"previous_service_cert\": \"s\"}}",
         "recover.previous_ledger\" is required"},
        {"{" BASE ", \"recover\": {\"previous_ledger\": \"l\"}}",
         "recover.previous_service_cert\" is required"},
        {"{" BASE ", \"recover\": {\"previous_ledger\": \"l\", \"previous_service_cert\": \"s\","
         " \"members\": []}}",
         "unknown member \"recover.members\""},
        {"{" BASE ", \"recover\": {\"previous_ledger\": \"\", \"previous_service_cert\": \"s\"}}",
         "must not be empty"},
        {"{" BASE ", \"recover\": [], \"start\": {}}", "exactly one of"},
        {"{" BASE ", \"recover\": []}", "\"recover\" must be an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i].json, &c), CONSORT_E_MALFORMED);
        if (strstr(consort_errmsg(), bad[i].needle) == NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, consort_errmsg(), bad[i].needle);
    }
}

static void refusals(void **state)
{
    (void)state;
    cs_node_config c;
    static const char *bad[] = {
        "",
        "[]",
        "{" BASE "}",                                             /* no mode */
        "{" BASE ", \"start\": {}, \"join\": {}}",                /* both */
        "{" BASE ", \"start\": {}, \"typo\": 1}",                 /* unknown member */
        "{" BASE ", \"start\": {\"typo\": 1}}",                   /* unknown in start */
        "{" BASE ", \"join\": {\"target\": \"x:1\"}}",            /* pin missing */
        "{" BASE ", \"join\": {\"service_cert\": \"s\"}}",        /* target missing */
        "{" BASE ", \"start\": {}, \"sig_interval_tx\": 0}",      /* out of range */
        "{" BASE ", \"start\": {}, \"heartbeat_ms\": 4}",         /* out of range */
        "{" BASE ", \"start\": {}, \"ledger_sync_ms\": 60001}",   /* out of range */
        "{" BASE ", \"start\": {}, \"snapshot_log_kib\": 63}",    /* out of range */
        "{" BASE ", \"start\": {}, \"heartbeat_ms\": 251}",       /* not under elections */
        "{" BASE ", \"start\": {}, \"raft_segment_kib\": 128}",   /* under 256 */
        "{" BASE ", \"start\": {}, \"raft_segment_kib\": 300}",   /* not whole 64 KiB */
        "{" BASE ", \"start\": {}, \"raft_segment_kib\": 16384}", /* over libraft's 8 MiB */
        "{" BASE ", \"start\": {}, \"sig_interval_tx\": \"5\"}",  /* wrong type */
        "{" BASE ", \"start\": {}, \"allow_debug_evidence\": 1}", /* wrong type */
        "{" BASE ", \"start\": {}, \"platform\": \"snp\"}",       /* not a node platform */
        "{" BASE ", \"start\": {}, \"platform\": \"tpm\"}",       /* tpm_tcti missing */
        "{" BASE ", \"start\": {}, \"platform\": \"nope\"}",
        "{" BASE ", \"start\": {\"trusted_code_ids\": [\"00\"]}}", /* short code id */
        "{" BASE ", \"start\": {\"trusted_code_ids\": \"00\"}}",   /* not an array */
        "{" BASE ", \"start\": {\"users\": [1]}}",
        "{" BASE ", \"start\": {\"users\": [\"\"]}}",
        "{\"rpc_address\": \"a:1\", \"node_address\": \"a:2\", \"start\": {}}", /* no data_dir */
        "{" BASE ", \"start\": {}, \"data_dir\": \"/again\"}", /* duplicate member */
        "{" BASE ", \"start\": {}} trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        consort_err rc = parse(bad[i], &c);
        if (rc == CONSORT_OK)
            fail_msg("config %zu accepted: %s", i, bad[i]);
        assert_true(strlen(consort_errmsg()) > 0);
    }
    /* a message names the member */
    assert_int_not_equal(parse("{" BASE ", \"start\": {}, \"typo\": 1}", &c), CONSORT_OK);
    assert_non_null(strstr(consort_errmsg(), "typo"));
    /* a string longer than its field */
    char json[4096];
    char longaddr[200];
    memset(longaddr, 'a', sizeof longaddr - 1);
    longaddr[sizeof longaddr - 1] = '\0';
    snprintf(json, sizeof json, "{" BASE ", \"start\": {}, \"app\": \"x\", \"join\": null}");
    assert_int_not_equal(parse(json, &c), CONSORT_OK);
    snprintf(json, sizeof json,
             "{\"platform_dir\": \"/p\", \"rpc_address\": \"%s\", \"node_address\": \"a:2\","
             " \"data_dir\": \"/d\", \"start\": {}}",
             longaddr);
    cst_fails(parse(json, &c), CONSORT_E_MALFORMED);
}

/* docs/operating.md "Connection limits": defaults, values at the edges of
 * their ranges, and refusals naming the member. */
static void connection_limits(void **state)
{
    (void)state;
    cs_node_config c;
    cst_ok(parse("{" BASE ", \"start\": {}}", &c));
    assert_int_equal(c.max_client_connections, 4096);
    assert_int_equal(c.max_client_connections_addr, 1024);
    assert_int_equal(c.http_header_timeout_ms, 10000);
    assert_int_equal(c.http_request_timeout_ms, 30000);
    assert_int_equal(c.http_idle_timeout_ms, 60000);
    cst_ok(parse("{" BASE ", \"start\": {}, \"max_client_connections\": 1,"
                 " \"max_client_connections_per_address\": 1048576,"
                 " \"http_header_timeout_ms\": 100, \"http_request_timeout_ms\": 100,"
                 " \"http_idle_timeout_ms\": 3600000}",
                 &c));
    assert_int_equal(c.max_client_connections, 1);
    assert_int_equal(c.max_client_connections_addr, 1 << 20);
    assert_int_equal(c.http_header_timeout_ms, 100);
    assert_int_equal(c.http_request_timeout_ms, 100);
    assert_int_equal(c.http_idle_timeout_ms, 3600000);
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"\"max_client_connections\": 0", "max_client_connections\" = 0 outside 1..1048576"},
        {"\"max_client_connections\": 1048577", "max_client_connections"},
        {"\"max_client_connections\": -1", "max_client_connections"},
        {"\"max_client_connections\": 1.5", "\"max_client_connections\" must be an integer"},
        {"\"max_client_connections_per_address\": 0", "max_client_connections_per_address"},
        {"\"max_client_connections_per_address\": \"10\"", "must be an integer"},
        {"\"http_header_timeout_ms\": 99", "http_header_timeout_ms\" = 99 outside 100..600000"},
        {"\"http_header_timeout_ms\": 600001", "http_header_timeout_ms"},
        {"\"http_request_timeout_ms\": 3600001", "http_request_timeout_ms"},
        {"\"http_idle_timeout_ms\": 0", "http_idle_timeout_ms"},
        {"\"http_idle_timeout_ms\": true", "http_idle_timeout_ms\" must be an integer"},
        {"\"http_header_timeout_ms\": 5000, \"http_request_timeout_ms\": 4999",
         "\"http_request_timeout_ms\" (4999) is shorter than \"http_header_timeout_ms\" (5000)"},
        {"\"http_header_timeout_ms\": 40000", "is shorter than"}, /* the default request 30 s */
        {"\"max_client_connection\": 10", "unknown member \"max_client_connection\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{" BASE ", \"start\": {}, %s}", bad[i].json);
        assert_int_equal(parse(json, &c), CONSORT_E_MALFORMED);
        if (strstr(consort_errmsg(), bad[i].needle) == NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, consort_errmsg(), bad[i].needle);
    }
}

static void load_file(void **state)
{
    (void)state;
    cs_node_config c;
    cst_fails(cs_node_config_load("/nonexistent/node.json", &c), CONSORT_E_NOT_FOUND);
    char path[] = "/tmp/consort-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *json = "{" BASE ", \"start\": {}}";
    assert_int_equal(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    cst_ok(cs_node_config_load(path, &c));
    assert_int_equal(c.mode, CS_NODE_START);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(start_defaults), cmocka_unit_test(start_full),
        cmocka_unit_test(start_members),  cmocka_unit_test(join_mode),
        cmocka_unit_test(refusals),       cmocka_unit_test(load_file),
        cmocka_unit_test(recover_mode),   cmocka_unit_test(connection_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
