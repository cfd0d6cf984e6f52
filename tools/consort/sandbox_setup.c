/*
 * The sandbox's workspace (sandbox.h): binaries, code id, identities,
 * per-node directories and platforms, ports, configurations, nodes.json.
 */
#include "sandbox.h"

#include "gov/shares.h"

#include "cli_code_id.h"

#include "attest/virtual.h"
#include "base/file.h"
#include "crypto/x509.h"
#include "net/attested.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDENTITY_DAYS 365
#define PORT_ATTEMPTS 64

/* snprintf into a fixed buffer; CONSORT_E_INVALID_ARGUMENT if it does not fit. */
static consort_err fmt_path(char *out, size_t n, const char *fmt, ...) CS_PRINTF(3, 4);
static consort_err fmt_path(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    CS_ENSURE(len >= 0 && (size_t)len < n, CONSORT_E_INVALID_ARGUMENT, "path too long: %s", out);
    return CONSORT_OK;
}

/* `path` made absolute into out[CS_SBX_PATH_MAX]; it must exist and be accessible with `mode`. */
static consort_err absolute_existing(const char *path, int mode, const char *what, char *out)
{
    char resolved[PATH_MAX];
    CS_ENSURE(access(path, mode) == 0 && realpath(path, resolved) != NULL, CONSORT_E_NOT_FOUND,
              "%s %s: %s", what, path, strerror(errno));
    return fmt_path(out, CS_SBX_PATH_MAX, "%s", resolved);
}

/* The directory of the running program (/proc/self/exe). */
static consort_err self_dir(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CS_ENSURE(len > 0, CONSORT_E_IO, "readlink /proc/self/exe: %s", strerror(errno));
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    CS_ENSURE(slash != NULL, CONSORT_E_IO, "/proc/self/exe is '%s', not a path", exe);
    *slash = '\0';
    return fmt_path(out, n, "%s", exe[0] != '\0' ? exe : "/");
}

/* swtpm: $CONSORT_SWTPM, else the first on PATH (like tests/util/swtpm.c). */
static consort_err find_swtpm(char *out)
{
    const char *env = getenv("CONSORT_SWTPM");
    if (env != NULL && env[0] != '\0')
        return absolute_existing(env, X_OK, "$CONSORT_SWTPM", out);
    const char *path = getenv("PATH");
    for (const char *p = path ? path : "/usr/bin:/bin"; *p != '\0';) {
        size_t len = strcspn(p, ":");
        char candidate[CS_SBX_PATH_MAX];
        int w = snprintf(candidate, sizeof candidate, "%.*s/swtpm", (int)len, p);
        if (w > 0 && (size_t)w < sizeof candidate && access(candidate, X_OK) == 0)
            return absolute_existing(candidate, X_OK, "swtpm", out);
        p += len;
        if (*p == ':')
            p++;
    }
    return cs_fail(CONSORT_E_NOT_FOUND, "--platform tpm needs swtpm, which is not on PATH "
                                        "(scripts/install-deps installs it)");
}

consort_err cs_sbx_find_binaries(cs_sbx *sbx, const char *consortd, const char *app)
{
    char dir[CS_SBX_PATH_MAX];
    char guess[CS_SBX_PATH_MAX + 32];
    CS_TRY(self_dir(dir, sizeof dir));
    if (consortd == NULL) {
        CS_TRY(fmt_path(guess, sizeof guess, "%s/consortd", dir));
        CS_TRY_CTX(absolute_existing(guess, X_OK, "consortd", sbx->consortd),
                   "consortd is not next to this program (give --consortd PATH)");
    } else {
        CS_TRY_CTX(absolute_existing(consortd, X_OK, "consortd", sbx->consortd), "--consortd");
    }
    if (app == NULL) {
        CS_TRY(fmt_path(guess, sizeof guess, "%s/../samples/logging.so", dir));
        CS_TRY_CTX(absolute_existing(guess, R_OK, "the logging sample", sbx->app),
                   "no default application module (give --app PATH)");
    } else {
        CS_TRY_CTX(absolute_existing(app, R_OK, "application module", sbx->app), "--app");
    }
    if (sbx->platform == CS_PLATFORM_TPM)
        CS_TRY(find_swtpm(sbx->swtpm));
    return CONSORT_OK;
}

consort_err cs_sbx_sample_module(const char *rel, char out[CS_SBX_PATH_MAX])
{
    char dir[CS_SBX_PATH_MAX];
    char guess[CS_SBX_PATH_MAX + 64];
    CS_TRY(self_dir(dir, sizeof dir));
    CS_TRY(fmt_path(guess, sizeof guess, "%s/../samples/%s", dir, rel));
    return absolute_existing(guess, R_OK, "the sample module", out);
}

/* The workspace must be new or empty: the sandbox never reuses another's state. */
static consort_err check_empty(const char *dir)
{
    DIR *d = opendir(dir);
    CS_ENSURE(d != NULL, cs_errno_code(errno), "workspace %s: %s", dir, strerror(errno));
    const struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    CS_ENSURE(empty, CONSORT_E_STATE,
              "workspace %s is not empty (the sandbox writes a new service into an empty "
              "or missing directory)",
              dir);
    return CONSORT_OK;
}

static consort_err write_pem_pair(const cs_key *key, const cs_x509 *cert, const char *cert_path,
                                  const char *key_path)
{
    cs_buf pem;
    cs_buf_init_secret(&pem, 64 * 1024);
    consort_err rc = cs_key_private_pem(key, &pem);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(key_path, cs_buf_slice(&pem), 0600);
    cs_buf_cleanup(&pem);
    CS_TRY_CTX(rc, "%s", key_path);
    cs_buf_init(&pem, 64 * 1024);
    rc = cs_x509_to_pem(cert, &pem);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(cert_path, cs_buf_slice(&pem), 0644);
    cs_buf_cleanup(&pem);
    return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "%s", cert_path);
}

/* A P-256 key and a self-signed client certificate "consort sandbox <name>". */
static consort_err make_identity(const char *name, const char *cert_path, const char *key_path)
{
    char cn[64];
    snprintf(cn, sizeof cn, "consort sandbox %s", name);
    int64_t now = (int64_t)time(NULL);
    cs_x509_params params = {
        .subject_cn = cn,
        .not_before = now - 3600,
        .not_after = now + (int64_t)IDENTITY_DAYS * 86400,
    };
    cs_key *key = NULL;
    cs_x509 *cert = NULL;
    consort_err rc = cs_key_generate(CS_CURVE_P256, &key);
    if (rc == CONSORT_OK)
        rc = cs_x509_create(&params, key, key, NULL, &cert);
    if (rc == CONSORT_OK)
        rc = write_pem_pair(key, cert, cert_path, key_path);
    cs_x509_free(cert);
    cs_key_free(key);
    return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "identity %s", name);
}

/* Member m: a signing identity and an encryption key pair (gov/shares.h). */
static consort_err make_member(cs_sbx *sbx, int m)
{
    char name[16], enc_priv[CS_SBX_PATH_MAX];
    snprintf(name, sizeof name, "member%d", m);
    CS_TRY(
        fmt_path(sbx->members[m][0], CS_SBX_PATH_MAX, "%s/member%d_cert.pem", sbx->workspace, m));
    CS_TRY(
        fmt_path(sbx->members[m][1], CS_SBX_PATH_MAX, "%s/member%d_privk.pem", sbx->workspace, m));
    CS_TRY(fmt_path(sbx->members[m][2], CS_SBX_PATH_MAX, "%s/member%d_enc_pubk.pem", sbx->workspace,
                    m));
    CS_TRY(fmt_path(enc_priv, sizeof enc_priv, "%s/member%d_enc_privk.pem", sbx->workspace, m));
    CS_TRY(make_identity(name, sbx->members[m][0], sbx->members[m][1]));
    cs_buf priv, pub;
    cs_buf_init_secret(&priv, 64 << 10);
    cs_buf_init(&pub, 64 << 10);
    consort_err rc = cs_gov_enc_keygen(&priv, &pub);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(enc_priv, cs_buf_slice(&priv), 0600);
    if (rc == CONSORT_OK)
        rc = cs_file_write_atomic(sbx->members[m][2], cs_buf_slice(&pub), 0644);
    cs_buf_cleanup(&priv);
    cs_buf_cleanup(&pub);
    return rc == CONSORT_OK ? CONSORT_OK : cs_err_context(rc, "%s's encryption key", name);
}

/* Binds 127.0.0.1:port (0: any) and returns the socket holding it, or -1. */
static int hold_port(uint16_t port, uint16_t *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

void cs_sbx_init(cs_sbx *sbx)
{
    memset(sbx, 0, sizeof *sbx);
    for (int i = 0; i < CS_SBX_MAX_NODES; i++) {
        cs_sbx_node *n = &sbx->nodes[i];
        n->tpm_port_fds[0] = n->tpm_port_fds[1] = -1;
    }
}

bool cs_sbx_port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

void cs_sbx_release_ports(int fds[2])
{
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

/* Two free ports, held by fds until released; consecutive if `adjacent` (swtpm). */
static consort_err reserve_ports(bool adjacent, int fds[2], uint16_t ports[2])
{
    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        fds[0] = hold_port(0, &ports[0]);
        if (fds[0] < 0)
            break;
        if (adjacent && ports[0] == UINT16_MAX) {
            cs_sbx_release_ports(fds);
            continue;
        }
        fds[1] = hold_port(adjacent ? (uint16_t)(ports[0] + 1) : 0, &ports[1]);
        if (fds[1] >= 0)
            return CONSORT_OK;
        cs_sbx_release_ports(fds);
    }
    cs_sbx_release_ports(fds);
    return cs_fail(CONSORT_E_IO, "no free port pair on 127.0.0.1: %s", strerror(errno));
}

/* Host i: its directory and virtual platform. */
static consort_err prepare_host(cs_sbx *sbx, int i)
{
    char dir[CS_SBX_PATH_MAX], platform[CS_SBX_PATH_MAX];
    CS_TRY(fmt_path(dir, sizeof dir, "%s/node%d", sbx->workspace, i));
    CS_TRY(fmt_path(platform, sizeof platform, "%s/platform", dir));
    CS_TRY(cs_mkdir_p(dir, 0700));
    cs_virtual_platform *p = NULL;
    CS_TRY_CTX(cs_virtual_platform_init(platform, false, &p), "the host of node %d", i);
    cs_virtual_platform_free(p);
    return CONSORT_OK;
}

consort_err cs_sbx_prepare_node(cs_sbx *sbx, int i)
{
    cs_sbx_node *n = &sbx->nodes[i];
    if (n->consortd[0] == '\0')
        snprintf(n->consortd, sizeof n->consortd, "%s", sbx->consortd);
    if (n->app[0] == '\0')
        snprintf(n->app, sizeof n->app, "%s", sbx->app);
    n->index = i;
    snprintf(n->name, sizeof n->name, "node %d", i);
    snprintf(n->tpm_name, sizeof n->tpm_name, "swtpm of node %d", i);
    n->proc.what = n->name;
    n->tpm.what = n->tpm_name;
    const char *ws = sbx->workspace;
    CS_TRY(fmt_path(n->dir, sizeof n->dir, "%s/node%d", ws, i));
    CS_TRY(fmt_path(n->data_dir, sizeof n->data_dir, "%s/data", n->dir));
    CS_TRY(fmt_path(n->platform_dir, sizeof n->platform_dir, "%s/platform", n->dir));
    CS_TRY(fmt_path(n->config_path, sizeof n->config_path, "%s/node.json", n->dir));
    CS_TRY(fmt_path(n->log_path, sizeof n->log_path, "%s/consortd.log", n->dir));
    CS_TRY(fmt_path(n->tpm_dir, sizeof n->tpm_dir, "%s/tpm", n->dir));
    CS_TRY(cs_mkdir_p(n->dir, 0700));

    /* consortd binds these once and says which ports it got (cs_sbx_wait_bound) */
    snprintf(n->rpc_address, sizeof n->rpc_address, "127.0.0.1:0");
    snprintf(n->node_address, sizeof n->node_address, "127.0.0.1:0");
    if (sbx->platform == CS_PLATFORM_TPM) {
        uint16_t ports[2];
        CS_TRY(cs_mkdir_p(n->tpm_dir, 0700));
        CS_TRY(reserve_ports(true, n->tpm_port_fds, ports));
        n->tpm_port = ports[0];
        snprintf(n->tpm_tcti, sizeof n->tpm_tcti, "swtpm:host=127.0.0.1,port=%u", ports[0]);
    }
    return CONSORT_OK;
}

/*
 * Each node is its own host with its own virtual platform, so a node trusts
 * another's evidence only through that host's platform certificate: the
 * sandbox, acting as the operator, gives every node the certificates of the
 * others in <platform_dir>/anchors/ (docs/operating.md).
 */
static consort_err share_platform_certs(const cs_sbx *sbx)
{
    char platform[CS_SBX_MAX_NODES][CS_SBX_PATH_MAX];
    for (int i = 0; i < CS_SBX_MAX_NODES; i++)
        CS_TRY(fmt_path(platform[i], sizeof platform[i], "%s/node%d/platform", sbx->workspace, i));
    for (int i = 0; i < CS_SBX_MAX_NODES; i++) {
        char src[CS_SBX_PATH_MAX + 32];
        CS_TRY(fmt_path(src, sizeof src, "%s/" CS_VIRTUAL_CERT_FILE, platform[i]));
        cs_buf pem;
        cs_buf_init(&pem, 64 * 1024);
        consort_err rc = cs_file_read(src, &pem);
        for (int j = 0; j < CS_SBX_MAX_NODES && rc == CONSORT_OK; j++) {
            if (j == i)
                continue;
            char dst[CS_SBX_PATH_MAX + 64];
            rc = fmt_path(dst, sizeof dst, "%s/anchors", platform[j]);
            if (rc == CONSORT_OK)
                rc = cs_mkdir_p(dst, 0700);
            if (rc == CONSORT_OK)
                rc = fmt_path(dst, sizeof dst, "%s/anchors/node%d_platform_cert.pem", platform[j],
                              i);
            if (rc == CONSORT_OK)
                rc = cs_file_write_atomic(dst, cs_buf_slice(&pem), 0644);
        }
        cs_buf_cleanup(&pem);
        CS_TRY_CTX(rc, "sharing the platform certificate of node %d", i);
    }
    return CONSORT_OK;
}

consort_err cs_sbx_prepare(cs_sbx *sbx, const char *dir)
{
    CS_TRY_CTX(cs_mkdir_p(dir, 0700), "workspace %s", dir);
    CS_TRY(check_empty(dir));
    CS_TRY(absolute_existing(dir, W_OK, "workspace", sbx->workspace));
    const char *ws = sbx->workspace;
    CS_TRY(fmt_path(sbx->service_cert, sizeof sbx->service_cert, "%s/service_cert.pem", ws));
    CS_TRY(fmt_path(sbx->user_cert, sizeof sbx->user_cert, "%s/user0_cert.pem", ws));
    CS_TRY(fmt_path(sbx->user_key, sizeof sbx->user_key, "%s/user0_privk.pem", ws));
    CS_TRY(fmt_path(sbx->member_cert, sizeof sbx->member_cert, "%s/member0_cert.pem", ws));
    CS_TRY(fmt_path(sbx->member_key, sizeof sbx->member_key, "%s/member0_privk.pem", ws));
    CS_TRY(fmt_path(sbx->nodes_json, sizeof sbx->nodes_json, "%s/nodes.json", ws));

    CS_TRY(make_identity("user0", sbx->user_cert, sbx->user_key));
    for (int m = 0; m < CS_SBX_MEMBERS; m++)
        CS_TRY(make_member(sbx, m));
    CS_TRY(fmt_path(sbx->member_cert, sizeof sbx->member_cert, "%s", sbx->members[0][0]));
    CS_TRY(fmt_path(sbx->member_key, sizeof sbx->member_key, "%s", sbx->members[0][1]));
    if (sbx->platform == CS_PLATFORM_VIRTUAL) {
        for (int i = 0; i < CS_SBX_MAX_NODES; i++)
            CS_TRY(prepare_host(sbx, i));
    }
    for (int i = 0; i < sbx->count; i++)
        CS_TRY(cs_sbx_prepare_node(sbx, i));
    /* DESIGN.md "Code id": what every node of this sandbox runs, so what node 0
     * trusts. A v2 code id covers the node process's libraries too, so consortd
     * measures it (with our environment, which the nodes inherit); every node
     * uses the same TCTI library, only the port differs. */
    CS_TRY_CTX(cs_cli_code_id_of(sbx->consortd, sbx->app, sbx->platform,
                                 sbx->platform == CS_PLATFORM_TPM ? sbx->nodes[0].tpm_tcti : NULL,
                                 sbx->code_id),
               "the code id of the sandbox's nodes");
    if (sbx->platform == CS_PLATFORM_VIRTUAL)
        CS_TRY(share_platform_certs(sbx));
    else
        CS_TRY(cs_sbx_tpm_prepare(sbx));
    return CONSORT_OK;
}

consort_err cs_sbx_read_node_id(cs_sbx_node *node)
{
    char path[CS_SBX_PATH_MAX + 16];
    CS_TRY(fmt_path(path, sizeof path, "%s/node_cert.pem", node->data_dir));
    if (!cs_file_exists(path))
        return cs_fail(CONSORT_E_NOT_FOUND, "%s not written yet", path);
    cs_x509 *cert = NULL;
    cs_key *key = NULL;
    CS_TRY(cs_x509_load_file(path, &cert));
    consort_err rc = cs_x509_public_key(cert, &key);
    if (rc == CONSORT_OK)
        rc = cs_attested_node_id(key, node->node_id);
    cs_key_free(key);
    cs_x509_free(cert);
    return rc;
}
