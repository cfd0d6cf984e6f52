/*
 * What a running sandbox does for `consort sandbox kill` and `restart`
 * (sandbox.h), and the nodes' roles it keeps in nodes.json. Waits are
 * bounded by the request's timeout and end early on a stop request.
 */
#include "sandbox.h"

#include "base/file.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define POLL_MS       200
#define STATE_WAIT_MS 1000 /* one GET /node/state while waiting */
#define ROLE_POLL_MS  500  /* one GET /node/state of the periodic refresh */

consort_err cs_sbx_client_of(const cs_sbx *sbx, cs_sbx_client **client)
{
    if (*client == NULL)
        CS_TRY(cs_sbx_client_new(sbx->service_cert, sbx->user_cert, sbx->user_key, client));
    return CONSORT_OK;
}

static void set_role(cs_sbx_node *n, const char *role, bool *changed)
{
    if (strcmp(n->role, role) != 0) {
        snprintf(n->role, sizeof n->role, "%s", role);
        *changed = true;
    }
}

bool cs_sbx_refresh_roles(cs_sbx *sbx, cs_sbx_client **client)
{
    bool changed = false;
    if (cs_sbx_client_of(sbx, client) != CONSORT_OK) {
        cs_err_clear();
        return false;
    }
    for (int i = 0; i < sbx->count; i++) {
        cs_sbx_node *n = &sbx->nodes[i];
        if (!cs_sbx_alive(&n->proc)) {
            if (n->last_pid != 0)
                set_role(n, "stopped", &changed);
            continue;
        }
        cs_sbx_state st;
        if (cs_sbx_node_state(*client, n->rpc_address, ROLE_POLL_MS, &st) != CONSORT_OK) {
            cs_err_clear(); /* busy or starting: its role is as last seen */
            continue;
        }
        if (st.raft_state[0] != '\0')
            set_role(n, st.raft_state, &changed);
    }
    return changed;
}

/* The index of the leader every running node but `except` names, or -1 while
 * they do not agree (or one does not answer). */
static int agreed_leader(cs_sbx *sbx, cs_sbx_client *c, int except, char *why, size_t why_len)
{
    int leader = -1;
    for (int i = 0; i < sbx->count; i++) {
        cs_sbx_node *n = &sbx->nodes[i];
        if (i == except || !cs_sbx_alive(&n->proc))
            continue;
        cs_sbx_state st;
        if (cs_sbx_node_state(c, n->rpc_address, STATE_WAIT_MS, &st) != CONSORT_OK) {
            snprintf(why, why_len, "%s does not answer: %s", n->name, consort_errmsg());
            cs_err_clear();
            return -1;
        }
        int named = -1;
        for (int j = 0; j < sbx->count; j++)
            if (j != except && strcmp(sbx->nodes[j].rpc_address, st.leader) == 0)
                named = j;
        if (st.is_leader)
            named = i;
        if (named < 0 || (leader >= 0 && named != leader)) {
            snprintf(why, why_len, "%s knows %s", n->name,
                     named < 0 ? "no leader" : "another leader than the others");
            return -1;
        }
        leader = named;
    }
    if (leader < 0)
        snprintf(why, why_len, "no node is running");
    return leader;
}

static consort_err op_kill(cs_sbx *sbx, cs_sbx_node *n, int index, uint32_t timeout_s, bool wait,
                           cs_sbx_client **client, json_t **answer)
{
    CS_ENSURE(cs_sbx_alive(&n->proc), CONSORT_E_STATE,
              "%s is not running (`consort sandbox restart` starts it)", n->name);
    pid_t pid = n->proc.pid;
    CS_ENSURE(kill(pid, SIGKILL) == 0, CONSORT_E_IO, "%s (pid %d): kill: failed", n->name,
              (int)pid);
    int status = 0;
    pid_t r;
    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    n->proc.status = status;
    n->proc.pid = 0;
    snprintf(n->role, sizeof n->role, "stopped");
    fprintf(stderr, "consort sandbox: %s (pid %d) killed with SIGKILL, as asked\n", n->name,
            (int)pid);
    CS_TRY(cs_sbx_write_nodes_json(sbx));
    int leader = -1;
    if (wait) {
        CS_TRY(cs_sbx_client_of(sbx, client));
        char why[256] = "";
        time_t deadline = time(NULL) + (time_t)timeout_s;
        while ((leader = agreed_leader(sbx, *client, index, why, sizeof why)) < 0) {
            CS_ENSURE(!cs_sbx_stop_requested(), CONSORT_E_STATE, "the sandbox is stopping");
            if (time(NULL) > deadline)
                return cs_fail(CONSORT_E_TIMEOUT,
                               "%s (pid %d) was killed, but the running nodes have no common "
                               "leader after %u s (%s): a majority may be down",
                               n->name, (int)pid, timeout_s, why);
            cs_sbx_sleep_ms(POLL_MS);
        }
        fprintf(stderr, "consort sandbox: %s leads\n", sbx->nodes[leader].name);
        (void)cs_sbx_refresh_roles(sbx, client);
        CS_TRY(cs_sbx_write_nodes_json(sbx));
    }
    *answer = json_pack("{s:i, s:I, s:o}", "node", index, "pid", (json_int_t)pid, "leader",
                        leader >= 0 ? json_integer(leader) : json_null());
    return CONSORT_OK;
}

/* The highest seqno a running node (not `except`) has committed; 0 if none answers. */
static uint64_t committed_elsewhere(cs_sbx *sbx, cs_sbx_client *c, int except)
{
    uint64_t best = 0;
    for (int i = 0; i < sbx->count; i++) {
        cs_sbx_state st;
        if (i == except || !cs_sbx_alive(&sbx->nodes[i].proc))
            continue;
        if (cs_sbx_node_state(c, sbx->nodes[i].rpc_address, STATE_WAIT_MS, &st) != CONSORT_OK)
            cs_err_clear();
        else if (st.committed > best)
            best = st.committed;
    }
    return best;
}

static consort_err op_restart(cs_sbx *sbx, cs_sbx_node *n, int index, uint32_t timeout_s,
                              cs_sbx_client **client, json_t **answer)
{
    CS_ENSURE(!cs_sbx_alive(&n->proc), CONSORT_E_STATE,
              "%s is running (pid %d): `consort sandbox kill` stops it first", n->name,
              (int)n->proc.pid);
    CS_TRY(cs_sbx_client_of(sbx, client));
    uint64_t target = committed_elsewhere(sbx, *client, index);
    char *const argv[] = {n->consortd, (char *)"--config", n->config_path, NULL};
    struct stat st;
    off_t log_start = stat(n->log_path, &st) == 0 ? st.st_size : 0;
    CS_TRY(cs_sbx_spawn(&n->proc, argv, n->log_path));
    n->last_pid = n->proc.pid;
    n->role[0] = '\0';
    fprintf(stderr, "consort sandbox: %s restarts (pid %d, log %s)\n", n->name, (int)n->proc.pid,
            n->log_path);
    CS_TRY(cs_sbx_write_nodes_json(sbx));
    CS_TRY(cs_sbx_wait_bound(n, log_start, timeout_s));
    time_t deadline = time(NULL) + (time_t)timeout_s;
    cs_sbx_state s = {0};
    char why[160] = "it has not answered yet";
    for (;;) {
        CS_ENSURE(!cs_sbx_stop_requested(), CONSORT_E_STATE, "the sandbox is stopping");
        if (!cs_sbx_alive(&n->proc))
            return cs_sbx_died(&n->proc, n->log_path);
        if (cs_sbx_node_state(*client, n->rpc_address, STATE_WAIT_MS, &s) != CONSORT_OK) {
            snprintf(why, sizeof why, "%s", consort_errmsg());
            cs_err_clear();
        } else if (strcmp(s.state, "PartOfNetwork") == 0 && s.committed >= target) {
            break;
        } else {
            snprintf(why, sizeof why, "state %s, committed up to seqno %llu of %llu", s.state,
                     (unsigned long long)s.committed, (unsigned long long)target);
        }
        if (time(NULL) > deadline) {
            cs_sbx_print_log_tail(n->log_path, 15);
            return cs_fail(CONSORT_E_TIMEOUT, "%s has not caught up after %u s: %s (log %s)",
                           n->name, timeout_s, why, n->log_path);
        }
        cs_sbx_sleep_ms(POLL_MS);
    }
    fprintf(stderr, "consort sandbox: %s is part of the network again (committed up to %llu)\n",
            n->name, (unsigned long long)s.committed);
    (void)cs_sbx_refresh_roles(sbx, client);
    CS_TRY(cs_sbx_write_nodes_json(sbx));
    *answer = json_pack("{s:i, s:I, s:s, s:s, s:I}", "node", index, "pid", (json_int_t)n->proc.pid,
                        "rpc_address", n->rpc_address, "role", n->role, "committed_seqno",
                        (json_int_t)s.committed);
    return CONSORT_OK;
}

void cs_sbx_node_op(cs_sbx *sbx, const json_t *req, cs_sbx_client **client, json_t **answer)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    const json_t *node = json_object_get(req, "node");
    json_int_t t = json_integer_value(json_object_get(req, "timeout_s"));
    const json_t *wait = json_object_get(req, "wait");
    consort_err rc = CONSORT_OK;
    json_int_t i = json_integer_value(node);
    if (op == NULL || !json_is_integer(node) || t <= 0 || t > 3600 ||
        (wait != NULL && !json_is_boolean(wait)))
        rc = cs_fail(CONSORT_E_MALFORMED, "not a kill or restart request");
    else if (sbx->platform != CS_PLATFORM_VIRTUAL && strcmp(op, "restart") == 0)
        rc = cs_fail(CONSORT_E_UNSUPPORTED, "restart supports the virtual platform only");
    else if (i < 0 || i >= sbx->count)
        rc = cs_fail(CONSORT_E_NOT_FOUND, "no node %lld: the sandbox has nodes 0 to %d",
                     (long long)i, sbx->count - 1);
    *answer = NULL;
    if (rc == CONSORT_OK && strcmp(op, "kill") == 0)
        rc =
            op_kill(sbx, &sbx->nodes[i], (int)i, (uint32_t)t, !json_is_false(wait), client, answer);
    else if (rc == CONSORT_OK && strcmp(op, "restart") == 0)
        rc = op_restart(sbx, &sbx->nodes[i], (int)i, (uint32_t)t, client, answer);
    else if (rc == CONSORT_OK)
        rc = cs_fail(CONSORT_E_MALFORMED, "unknown request '%s'", op);
    if (rc == CONSORT_OK && *answer == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "out of memory");
    if (rc != CONSORT_OK) {
        json_decref(*answer);
        *answer = json_pack("{s:s}", "error", consort_errmsg());
    }
}
