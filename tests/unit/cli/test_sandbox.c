/*
 * `consort sandbox` pieces without consortd (tools/consort/sandbox*.c): option
 * errors, the workspace it prepares (identities, platforms and shared anchors,
 * ports), the configurations it writes (checked with the node's own strict
 * parser), nodes.json, child processes, and the HTTPS probe against a real
 * TLS server with the pinned service certificate.
 */
#include "../net/net_fixture.h"
#include "testutil.h"

#include "attest/virtual.h"
#include "base/file.h"
#include "cli.h"
#include "net/attested.h"
#include "net/http_server.h"
#include "net/tls_stream.h"
#include "node/node.h"
#include "sandbox.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void tmpdir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/consort-test-sandbox-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int cli(const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[8] = {(char *)"consort", (char *)"sandbox"};
    int argc = 2;
    const char *extra[] = {a1, a2, a3, a4};
    for (size_t i = 0; i < 4 && extra[i] != NULL; i++)
        argv[argc++] = (char *)extra[i];
    return cs_cli_main(argc, argv);
}

static void usage_errors(void **state)
{
    (void)state;
    assert_int_equal(cli("--help", NULL, NULL, NULL), CS_EXIT_OK);
    assert_int_equal(cli(NULL, NULL, NULL, NULL), CS_EXIT_USAGE); /* --workspace missing */
    assert_int_equal(cli("--workspace", "/tmp/x", "--nodes", "0"), CS_EXIT_USAGE);
    assert_int_equal(cli("--workspace", "/tmp/x", "--nodes", "16"), CS_EXIT_USAGE);
    assert_int_equal(cli("--workspace", "/tmp/x", "--nodes", "two"), CS_EXIT_USAGE);
    assert_int_equal(cli("--workspace", "/tmp/x", "--platform", "snp"), CS_EXIT_USAGE);
    assert_int_equal(cli("--workspace", "/tmp/x", "--node-option", "novalue"), CS_EXIT_USAGE);
    assert_int_equal(cli("--workspace", "/tmp/x", "--timeout", "0"), CS_EXIT_USAGE);
    assert_int_equal(cli("--workspace", "/tmp/x", "--bogus", NULL), CS_EXIT_USAGE);
    assert_int_equal(cli("--workspace", "/tmp/x", "extra", NULL), CS_EXIT_USAGE);
    /* a consortd that does not exist is a failure, not a usage error */
    assert_int_equal(cli("--workspace", "/tmp/x", "--consortd", "/nonexistent/consortd"),
                     CS_EXIT_REJECTED);
}

/* A prepared workspace whose "app" is this test program and whose "consortd" is
 * a script answering `--code-id` (what cs_sbx_prepare asks, cli_code_id.h) with
 * FAKE_CODE_ID and recording its arguments in DIR/code-id-args. */
#define FAKE_CODE_ID "c0de1dc0de1dc0de1dc0de1dc0de1dc0de1dc0de1dc0de1dc0de1dc0de1dc0de"
typedef struct fixture {
    char dir[128];
    char ws[160];
    char consortd[160];
    cs_sbx sbx;
} fixture;

static void fake_consortd(fixture *f)
{
    snprintf(f->consortd, sizeof f->consortd, "%s/consortd", f->dir);
    char script[512];
    snprintf(script, sizeof script,
             "#!/bin/sh\n[ \"$1\" = --code-id ] || exit 2\necho \"$*\" > '%s/code-id-args'\n"
             "echo " FAKE_CODE_ID "\n",
             f->dir);
    cst_ok(cs_file_write_atomic(f->consortd, cs_slice_str(script), 0755));
}

static void prepare(fixture *f, int nodes)
{
    tmpdir(f->dir, sizeof f->dir);
    snprintf(f->ws, sizeof f->ws, "%s/ws", f->dir);
    fake_consortd(f);
    cs_sbx_init(&f->sbx);
    f->sbx.count = nodes;
    f->sbx.platform = CS_PLATFORM_VIRTUAL;
    cst_ok(cs_sbx_find_binaries(&f->sbx, f->consortd, "/proc/self/exe"));
    cst_ok(cs_sbx_prepare(&f->sbx, f->ws));
}

/* What the fake consortd was asked, without the trailing newline. */
static const char *code_id_args(const fixture *f)
{
    static char args[1024];
    char path[192];
    snprintf(path, sizeof path, "%s/code-id-args", f->dir);
    cs_buf b;
    cs_buf_init(&b, sizeof args - 1);
    cst_ok(cs_file_read(path, &b));
    while (b.len > 0 && b.ptr[b.len - 1] == '\n')
        b.len--;
    memcpy(args, b.ptr, b.len);
    args[b.len] = '\0';
    cs_buf_cleanup(&b);
    return args;
}

static void finish(fixture *f)
{
    for (int i = 0; i < f->sbx.count; i++)
        cs_sbx_release_ports(f->sbx.nodes[i].tpm_port_fds);
    rm_rf(f->dir);
}

static void file_mode(const char *path, mode_t want)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, want);
}

static void workspace_layout(void **state)
{
    (void)state;
    fixture f;
    prepare(&f, 3);
    cs_sbx *s = &f.sbx;
    assert_true(s->workspace[0] == '/');
    file_mode(s->user_key, 0600);
    file_mode(s->member_key, 0600);
    cs_x509 *cert = NULL;
    cst_ok(cs_x509_load_file(s->user_cert, &cert));
    char subject[128];
    cs_x509_subject(cert, subject, sizeof subject);
    assert_non_null(strstr(subject, "consort sandbox user0"));
    cs_x509_free(cert);
    cs_key *key = NULL;
    cst_ok(cs_key_load_pem_file(s->member_key, &key));
    assert_true(cs_key_has_private(key));
    cs_key_free(key);
    for (int i = 0; i < 3; i++) {
        const cs_sbx_node *n = &s->nodes[i];
        cs_virtual_platform *p = NULL;
        cst_ok(cs_virtual_platform_open(n->platform_dir, &p));
        cs_virtual_platform_free(p);
        /* every other node's platform certificate, and not its own */
        for (int j = 0; j < 3; j++) {
            char anchor[CS_SBX_PATH_MAX + 64];
            snprintf(anchor, sizeof anchor, "%s/anchors/node%d_platform_cert.pem", n->platform_dir,
                     j);
            assert_int_equal(cs_file_exists(anchor), j != i);
        }
        /* no port is picked for the node: its consortd binds port 0 and says which it got */
        assert_string_equal(n->rpc_address, "127.0.0.1:0");
        assert_string_equal(n->node_address, "127.0.0.1:0");
    }
    /* the code id consortd measures for the app (code id v2: consortd --code-id) */
    uint8_t want[32];
    cst_ok(cs_hex_decode(FAKE_CODE_ID, want, sizeof want));
    assert_memory_equal(s->code_id, want, 32);
    char want_args[CS_SBX_PATH_MAX + 64];
    snprintf(want_args, sizeof want_args, "--code-id --app %s --platform virtual", s->app);
    assert_string_equal(code_id_args(&f), want_args);

    /* a workspace that is not empty is refused */
    cs_sbx again;
    cs_sbx_init(&again);
    again.count = 1;
    cst_ok(cs_sbx_find_binaries(&again, f.consortd, "/proc/self/exe"));
    cst_fails(cs_sbx_prepare(&again, f.ws), CONSORT_E_STATE);
    finish(&f);
}

static void configs_parse_as_node_configs(void **state)
{
    (void)state;
    fixture f;
    prepare(&f, 2);
    cs_sbx *s = &f.sbx;
    s->extra[s->extra_count++] = "ledger_chunk_bytes=4096";
    s->extra[s->extra_count++] = "allow_debug_evidence=true";
    cst_ok(cs_sbx_write_config(s, 0));
    cst_ok(cs_sbx_write_config(s, 1));
    cs_node_config *cfg = cs_malloc(sizeof *cfg);
    assert_non_null(cfg);
    cst_ok(cs_node_config_load(s->nodes[0].config_path, cfg));
    assert_int_equal(cfg->mode, CS_NODE_START);
    assert_int_equal(cfg->platform, CS_PLATFORM_VIRTUAL);
    assert_string_equal(cfg->rpc_address, s->nodes[0].rpc_address);
    assert_string_equal(cfg->node_address, s->nodes[0].node_address);
    assert_string_equal(cfg->data_dir, s->nodes[0].data_dir);
    assert_string_equal(cfg->platform_dir, s->nodes[0].platform_dir);
    assert_string_equal(cfg->service_cert_out, s->service_cert);
    assert_int_equal(cfg->trusted_code_id_count, 1);
    assert_memory_equal(cfg->trusted_code_ids[0], s->code_id, 32);
    assert_int_equal(cfg->user_count, 1);
    assert_string_equal(cfg->users[0], s->user_cert);
    /* three members, each with its encryption key; the members open the service */
    assert_int_equal(cfg->member_count, CS_SBX_MEMBERS);
    assert_string_equal(cfg->members[0], s->member_cert);
    for (int m = 0; m < CS_SBX_MEMBERS; m++) {
        assert_string_equal(cfg->members[m], s->members[m][0]);
        assert_string_equal(cfg->member_enc_keys[m], s->members[m][2]);
        assert_true(access(cfg->member_enc_keys[m], R_OK) == 0);
    }
    assert_false(cfg->open_at_genesis);
    assert_int_equal(cfg->chunk_size, 4096);
    assert_true(cfg->allow_debug);
    cst_ok(cs_node_config_load(s->nodes[1].config_path, cfg));
    assert_int_equal(cfg->mode, CS_NODE_JOIN);
    assert_string_equal(cfg->join_target, s->nodes[0].node_address);
    assert_string_equal(cfg->service_cert_path, s->service_cert);
    /* a value that is not JSON becomes a string: the node's parser names the member */
    s->extra[0] = "ledger_chunk_bytes=lots";
    cst_ok(cs_sbx_write_config(s, 1));
    cst_fails(cs_node_config_load(s->nodes[1].config_path, cfg), CONSORT_E_MALFORMED);
    assert_non_null(strstr(consort_errmsg(), "ledger_chunk_bytes"));
    cs_free(cfg);
    finish(&f);
}

static void tpm_configs(void **state)
{
    (void)state;
    fixture f;
    tmpdir(f.dir, sizeof f.dir);
    snprintf(f.ws, sizeof f.ws, "%s/ws", f.dir);
    cs_sbx_init(&f.sbx);
    f.sbx.count = 2;
    f.sbx.platform = CS_PLATFORM_TPM;
    fake_consortd(&f);
    if (cs_sbx_find_binaries(&f.sbx, f.consortd, "/proc/self/exe") == CONSORT_E_NOT_FOUND) {
        rm_rf(f.dir);
        cst_skip("swtpm is not installed (scripts/install-deps installs it)");
    }
    cst_ok(cs_sbx_prepare(&f.sbx, f.ws));
    cs_sbx *s = &f.sbx;
    /* every node uses node 0's TCTI library (only the port differs) */
    char want_args[CS_SBX_PATH_MAX + 160];
    snprintf(want_args, sizeof want_args, "--code-id --app %s --platform tpm --tcti %s", s->app,
             s->nodes[0].tpm_tcti);
    assert_string_equal(code_id_args(&f), want_args);
    file_mode(s->tpm_ak_ca_key, 0600);
    cs_x509 *ca = NULL;
    cst_ok(cs_x509_load_file(s->tpm_ak_ca_cert, &ca));
    assert_true(cs_x509_is_ca(ca));
    assert_true(cs_x509_is_self_signed(ca));
    cs_x509_free(ca);
    /* distinct TPM port pairs, TCTIs naming them */
    assert_int_not_equal(s->nodes[0].tpm_port, s->nodes[1].tpm_port);
    assert_non_null(strstr(s->nodes[1].tpm_tcti, "swtpm:host=127.0.0.1,port="));
    /* what cs_sbx_tpm_start's enrolment writes */
    snprintf(s->nodes[1].tpm_ak_cert, sizeof s->nodes[1].tpm_ak_cert, "%s/ak.pem", f.dir);
    cst_ok(cs_sbx_write_config(s, 1));
    cs_node_config *cfg = cs_malloc(sizeof *cfg);
    assert_non_null(cfg);
    cst_ok(cs_node_config_load(s->nodes[1].config_path, cfg));
    assert_int_equal(cfg->platform, CS_PLATFORM_TPM);
    assert_string_equal(cfg->tpm_tcti, s->nodes[1].tpm_tcti);
    assert_string_equal(cfg->tpm_ak_ca_cert, s->tpm_ak_ca_cert);
    assert_string_equal(cfg->tpm_ak_cert, s->nodes[1].tpm_ak_cert);
    assert_string_equal(cfg->tpm_ak_ca_key, ""); /* nodes never get the CA key */
    assert_string_equal(cfg->platform_dir, "");
    cs_free(cfg);
    for (int i = 0; i < 2; i++)
        cs_sbx_release_ports(s->nodes[i].tpm_port_fds);
    finish(&f);
}

static void nodes_json_and_node_id(void **state)
{
    (void)state;
    fixture f;
    prepare(&f, 2);
    cs_sbx *s = &f.sbx;
    cst_fails(cs_sbx_read_node_id(&s->nodes[0]), CONSORT_E_NOT_FOUND);
    /* a node certificate as consortd writes it */
    cs_key *key;
    cs_x509 *cert;
    cst_ok(cs_key_generate(CS_CURVE_P256, &key));
    cst_self_signed(key, "consort node", &cert);
    cs_buf pem;
    cs_buf_init(&pem, 0);
    cst_ok(cs_x509_to_pem(cert, &pem));
    cst_ok(cs_mkdir_p(s->nodes[0].data_dir, 0700));
    char path[CS_SBX_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/node_cert.pem", s->nodes[0].data_dir);
    cst_ok(cs_file_write_atomic(path, cs_buf_slice(&pem), 0644));
    cst_ok(cs_sbx_read_node_id(&s->nodes[0]));
    char want[CS_NODE_ID_LEN + 1];
    cst_ok(cs_attested_node_id(key, want));
    assert_string_equal(s->nodes[0].node_id, want);
    cs_buf_cleanup(&pem);
    cs_x509_free(cert);
    cs_key_free(key);

    s->nodes[0].proc.pid = 4242; /* node 1 not started: not listed */
    cst_ok(cs_sbx_write_nodes_json(s));
    json_error_t jerr;
    json_t *doc = json_load_file(s->nodes_json, 0, &jerr);
    assert_non_null(doc);
    assert_int_equal(json_array_size(doc), 1);
    json_t *n = json_array_get(doc, 0);
    assert_string_equal(json_string_value(json_object_get(n, "node_id")), want);
    assert_string_equal(json_string_value(json_object_get(n, "rpc_address")),
                        s->nodes[0].rpc_address);
    assert_int_equal(json_integer_value(json_object_get(n, "pid")), 4242);
    assert_string_equal(json_string_value(json_object_get(n, "data_dir")), s->nodes[0].data_dir);
    assert_string_equal(json_string_value(json_object_get(n, "config")), s->nodes[0].config_path);
    json_decref(doc);
    s->nodes[0].proc.pid = 0;
    finish(&f);
}

static void child_processes(void **state)
{
    (void)state;
    char dir[128];
    tmpdir(dir, sizeof dir);
    char log[192];
    snprintf(log, sizeof log, "%s/child.log", dir);
    cs_sbx_proc p = {.what = "child"};
    char *const quick[] = {(char *)"/bin/sh", (char *)"-c", (char *)"echo hello; exit 3", NULL};
    cst_ok(cs_sbx_spawn(&p, quick, log));
    assert_true(p.pid > 0);
    for (int i = 0; i < 200 && cs_sbx_alive(&p); i++)
        cs_sbx_sleep_ms(10);
    assert_int_equal(p.pid, 0);
    char how[96];
    cs_sbx_describe_exit(&p, how, sizeof how);
    assert_string_equal(how, "exited with status 3");
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_read_file(log, &out);
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.ptr, "hello\n", 6);
    cs_buf_cleanup(&out);

    /* one that must be stopped, and one that ignores SIGTERM */
    cs_sbx_proc a = {.what = "sleeper"}, b = {.what = "stubborn"};
    char *const sleeper[] = {(char *)"/bin/sleep", (char *)"30", NULL};
    char *const stubborn[] = {(char *)"/bin/sh", (char *)"-c",
                              (char *)"trap '' TERM; exec sleep 30", NULL};
    cs_sbx_proc clean = {.what = "clean"};
    char *const polite[] = {(char *)"/bin/sh", (char *)"-c",
                            (char *)"trap 'kill $!; exit 0' TERM; sleep 30 & wait", NULL};
    cst_ok(cs_sbx_spawn(&a, sleeper, log));
    cst_ok(cs_sbx_spawn(&b, stubborn, log));
    cst_ok(cs_sbx_spawn(&clean, polite, log));
    cs_sbx_sleep_ms(200);
    assert_true(cs_sbx_alive(&a));
    assert_true(cs_sbx_alive(&b));
    assert_true(cs_sbx_alive(&clean));
    cs_sbx_proc *procs[] = {&a, &b, &clean};
    /* the sleeper dies of SIGTERM and the stubborn one of SIGKILL: both unclean */
    assert_int_equal(cs_sbx_stop_all(procs, 3, 500), 2);
    assert_int_equal(a.pid, 0);
    assert_int_equal(b.pid, 0);
    assert_int_equal(clean.pid, 0);
    assert_true(WIFEXITED(clean.status) && WEXITSTATUS(clean.status) == 0);
    assert_true(WIFSIGNALED(a.status) && WTERMSIG(a.status) == SIGTERM);
    assert_true(WIFSIGNALED(b.status) && WTERMSIG(b.status) == SIGKILL);
    rm_rf(dir);
}

/* ---- the probe against a TLS server on its own thread ---- */

typedef struct server {
    uv_loop_t loop;
    uv_async_t stop;
    cs_tls_config *tls;
    cs_http_server *http;
    cs_listener *listener;
    char address[64];
    _Atomic(const char *) state; /* what /node/state answers (set by the test thread) */
    pthread_t thread;
} server;

static void handle(void *ctx, cs_http_request *req)
{
    server *s = ctx;
    char body[256];
    if (strcmp(req->path, "/node/state") == 0)
        snprintf(body, sizeof body, "{\"state\": \"%s\"}", atomic_load(&s->state));
    else
        snprintf(body, sizeof body,
                 "{\"nodes\": [{\"status\": \"Trusted\"}, "
                 "{\"status\": \"Pending\"}, {\"status\": \"Trusted\"}]}");
    bool client_cert = cs_http_request_peer_cert(req) != NULL;
    consort_err rc = cs_http_respond(req, client_cert ? 200 : 401, NULL, 0, cs_slice_str(body));
    if (rc != CONSORT_OK)
        print_error("test server: cs_http_respond: %s\n", consort_errmsg());
}

static void on_stop(uv_async_t *a)
{
    server *s = a->data;
    cs_listener_close(s->listener);
    cs_http_server_free(s->http);
    uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *serve(void *arg)
{
    server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void write_text(const char *path, const char *text, const char *mode)
{
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/*
 * The addresses a node bound come from its "consortd: bound" line written
 * after log_start (an earlier run's line in the same log is not taken); a
 * line not yet finished is not taken; a node that exits without the line
 * fails the wait.
 */
static void wait_bound_reads_this_runs_line(void **state)
{
    (void)state;
    char dir[128];
    tmpdir(dir, sizeof dir);
    cs_sbx_node n;
    memset(&n, 0, sizeof n);
    snprintf(n.name, sizeof n.name, "node 0");
    n.proc.what = n.name;
    snprintf(n.log_path, sizeof n.log_path, "%s/consortd.log", dir);
    snprintf(n.rpc_address, sizeof n.rpc_address, "127.0.0.1:0");
    snprintf(n.node_address, sizeof n.node_address, "127.0.0.1:0");
    write_text(n.log_path,
               "consortd: bound rpc_address 127.0.0.1:1111 node_address 127.0.0.1:2222\n"
               "consortd: node 1234 open at 127.0.0.1:1111\n",
               "w");
    struct stat st;
    assert_int_equal(stat(n.log_path, &st), 0);
    write_text(n.log_path, "[info] consortd: open-file limit raised\n", "a");
    /* the line of this run is not finished: not taken, and the process (none) is gone */
    write_text(n.log_path, "consortd: bound rpc_address 127.0.0.1:3333 node_address 127.0.0.1:44",
               "a");
    cst_fails(cs_sbx_wait_bound(&n, st.st_size, 5), CONSORT_E_STATE);
    assert_string_equal(n.rpc_address, "127.0.0.1:0");
    write_text(n.log_path, "44\n", "a");
    cst_ok(cs_sbx_wait_bound(&n, st.st_size, 5));
    assert_string_equal(n.rpc_address, "127.0.0.1:3333");
    assert_string_equal(n.node_address, "127.0.0.1:4444");
    rm_rf(dir);
}

static void probe(void **state)
{
    (void)state;
    char dir[128];
    tmpdir(dir, sizeof dir);
    cst_pki pki, other;
    cst_pki_init(&pki, "consort service");
    cst_pki_init(&other, "another service");
    cs_key *skey, *ukey;
    cs_x509 *scert, *ucert;
    cst_pki_issue(&pki, "consort node", -60, 3600, &skey, &scert);
    cst_ok(cs_key_generate(CS_CURVE_P256, &ukey));
    cst_self_signed(ukey, "user0", &ucert);
    char service[192], other_service[192], user[192], user_key[192];
    snprintf(service, sizeof service, "%s/service.pem", dir);
    snprintf(other_service, sizeof other_service, "%s/other.pem", dir);
    snprintf(user, sizeof user, "%s/user.pem", dir);
    snprintf(user_key, sizeof user_key, "%s/user_key.pem", dir);
    cs_buf pem;
    cs_buf_init_secret(&pem, 0);
    const struct {
        const cs_x509 *c;
        const char *p;
    } certs[] = {{pki.ca, service}, {other.ca, other_service}, {ucert, user}};
    for (size_t i = 0; i < 3; i++) {
        cs_buf_reset(&pem);
        cst_ok(cs_x509_to_pem(certs[i].c, &pem));
        cst_ok(cs_file_write_atomic(certs[i].p, cs_buf_slice(&pem), 0600));
    }
    cs_buf_reset(&pem);
    cst_ok(cs_key_private_pem(ukey, &pem));
    cst_ok(cs_file_write_atomic(user_key, cs_buf_slice(&pem), 0600));
    cs_buf_cleanup(&pem);

    server s;
    memset(&s, 0, sizeof s);
    atomic_init(&s.state, "PartOfNetwork");
    assert_int_equal(uv_loop_init(&s.loop), 0);
    const cs_tls_params sp = {.role = CS_TLS_SERVER,
                              .key = skey,
                              .cert = scert,
                              .client_auth = CS_TLS_CLIENT_CERT_REQUEST,
                              .verify = cs_tls_verify_any};
    cst_ok(cs_tls_config_new(&sp, &s.tls));
    const cs_http_server_params hp = {.on_request = handle, .ctx = &s};
    cst_ok(cs_http_server_new(&s.loop, &hp, &s.http));
    cst_ok(cs_tls_listen(&s.loop, "127.0.0.1:0", s.tls, cs_http_server_accept_cb, s.http,
                         &s.listener));
    snprintf(s.address, sizeof s.address, "127.0.0.1:%u", cs_listener_port(s.listener));
    assert_int_equal(uv_async_init(&s.loop, &s.stop, on_stop), 0);
    s.stop.data = &s;
    assert_int_equal(pthread_create(&s.thread, NULL, serve, &s), 0);

    cs_sbx_client *c = NULL;
    cst_ok(cs_sbx_client_new(service, user, user_key, &c));
    bool open = false;
    char why[256];
    cst_ok(cs_sbx_node_open(c, s.address, &open, why, sizeof why));
    assert_true(open);
    size_t trusted = 0;
    cst_ok(cs_sbx_trusted_nodes(c, s.address, &trusted));
    assert_int_equal(trusted, 2);
    int status = 0;
    cs_buf body;
    cs_buf_init(&body, 0);
    cst_ok(cs_sbx_get(c, s.address, "/anything", 3000, &status, &body));
    assert_int_equal(status, 200);
    cs_buf_cleanup(&body);
    /* a node that answers but is not part of the network yet */
    atomic_store(&s.state, "Joining");
    cst_ok(cs_sbx_node_open(c, s.address, &open, why, sizeof why));
    assert_false(open);
    assert_non_null(strstr(why, "Joining"));
    /* nothing listening (port 1 on loopback): not open, and the reason names the address */
    cst_ok(cs_sbx_node_open(c, "127.0.0.1:1", &open, why, sizeof why));
    assert_false(open);
    assert_non_null(strstr(why, "127.0.0.1:1"));
    cs_sbx_client_free(c);

    /* a server whose certificate does not chain to the pinned one is never open */
    cst_ok(cs_sbx_client_new(other_service, user, user_key, &c));
    cst_ok(cs_sbx_node_open(c, s.address, &open, why, sizeof why));
    assert_false(open);
    cs_sbx_client_free(c);

    assert_int_equal(uv_async_send(&s.stop), 0);
    assert_int_equal(pthread_join(s.thread, NULL), 0);
    cst_loop_finish(&s.loop);
    cs_tls_config_free(s.tls);
    cs_key_free(skey);
    cs_key_free(ukey);
    cs_x509_free(scert);
    cs_x509_free(ucert);
    cst_pki_cleanup(&pki);
    cst_pki_cleanup(&other);
    rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usage_errors),
        cmocka_unit_test(workspace_layout),
        cmocka_unit_test(configs_parse_as_node_configs),
        cmocka_unit_test(tpm_configs),
        cmocka_unit_test(nodes_json_and_node_id),
        cmocka_unit_test(child_processes),
        cmocka_unit_test(wait_bound_reads_this_runs_line),
        cmocka_unit_test(probe),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
