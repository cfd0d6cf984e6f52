/*
 * `consort sandbox`: a local N-node service on this machine (cmd_sandbox.c).
 *
 * The pieces, one file each:
 *   sandbox_setup.c  the workspace: binaries, code id, identities of user0 and
 *                    member0, per-node directories, platforms, free ports, the
 *                    node configurations and nodes.json;
 *   sandbox_proc.c   child processes (consortd, swtpm): spawn with the output
 *                    in a log file, reap, stop (SIGTERM, then SIGKILL);
 *   sandbox_probe.c  HTTPS requests to a node (pinned service certificate,
 *                    user0's client certificate) to see when it is open;
 *   sandbox_config.c the node configurations and nodes.json;
 *   sandbox_tpm.c    --platform tpm: swtpm per node, AK CA and AK enrolment;
 *   sandbox_gov.c    members 0 and 1 open the service through governance;
 *   sandbox_app.c    the application's endpoints, for the banner;
 *   sandbox_ops.c    kill and restart a node of the running sandbox, and the
 *                    nodes' roles in nodes.json;
 *   sandbox_ask.c    the client side of DIR/requests/ (add-node, kill, restart).
 *
 * Workspace layout (every path absolute):
 *   DIR/service_cert.pem                 written by node 0 (service_cert_out)
 *   DIR/user0_{cert,privk}.pem           a registered user (client TLS)
 *   DIR/member<m>_{cert,privk}.pem       the members (m = 0, 1, 2): signing keys
 *   DIR/member<m>_enc_{pubk,privk}.pem   their encryption keys (recovery shares)
 *   DIR/requests/                        `consort sandbox add-node` requests and
 *                                        the running sandbox's answers
 *   DIR/sandbox.pid                      the running sandbox's pid
 *   DIR/nodes.json                       [{node_id, rpc_address, pid, running, role,
 *                                          data_dir, node_address, config, log}]
 *   DIR/node<i>/node.json                the node's configuration
 *   DIR/node<i>/platform/                its virtual platform (each node is a host;
 *                                        hosts for CS_SBX_MAX_NODES nodes are made
 *                                        at the start, so add-node has one ready)
 *   DIR/node<i>/tpm/                     its swtpm state (--platform tpm)
 *   DIR/node<i>/tpm_ak_cert.pem          its AK certificate (--platform tpm)
 *   DIR/tpm_ak_ca_{cert,privk}.pem       the AK CA (--platform tpm)
 *   DIR/node<i>/data/                    its data_dir
 *   DIR/node<i>/consortd.log             its standard output and error (appended)
 *
 * Everything runs on the calling thread; waits are bounded and give up early
 * when cs_sbx_stop_requested() turns true (SIGINT / SIGTERM).
 */
#ifndef CS_CLI_SANDBOX_H
#define CS_CLI_SANDBOX_H

#include "attest/evidence.h"
#include "base/buf.h"

#include <consort/app.h>

#include <jansson.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CS_SBX_MAX_NODES 15
#define CS_SBX_PATH_MAX  1024
#define CS_SBX_ADDR_MAX  64
#define CS_SBX_MAX_EXTRA 16
#define CS_SBX_MEMBERS   3

/* A child process of the sandbox. */
typedef struct cs_sbx_proc {
    pid_t pid;        /* 0: not running (never started, or reaped) */
    int status;       /* waitpid status once reaped */
    const char *what; /* "node 1", "swtpm of node 1": for messages */
} cs_sbx_proc;

typedef struct cs_sbx_node {
    int index;
    char dir[CS_SBX_PATH_MAX];
    char data_dir[CS_SBX_PATH_MAX];
    char platform_dir[CS_SBX_PATH_MAX];
    char config_path[CS_SBX_PATH_MAX];
    char log_path[CS_SBX_PATH_MAX];
    /* "127.0.0.1:0" until the node has said which ports it bound (cs_sbx_wait_bound) */
    char rpc_address[CS_SBX_ADDR_MAX];
    char node_address[CS_SBX_ADDR_MAX];
    char node_id[17];               /* known once the node has created its identity */
    char name[16];                  /* "node 1" */
    char consortd[CS_SBX_PATH_MAX]; /* what this node runs */
    char app[CS_SBX_PATH_MAX];
    cs_sbx_proc proc;
    pid_t last_pid; /* of the last consortd started for it (kept once it exits) */
    char role[16];  /* nodes.json "role": its raft_state, "stopped", or "" (not known) */
    /* --platform tpm */
    char tpm_dir[CS_SBX_PATH_MAX];
    char tpm_tcti[96];
    int tpm_port;
    int tpm_port_fds[2]; /* hold swtpm's two ports until it starts */
    char tpm_name[32];   /* "swtpm of node 1" */
    char tpm_ak_cert[CS_SBX_PATH_MAX];
    cs_sbx_proc tpm;
} cs_sbx_node;

typedef struct cs_sbx {
    int count;
    cs_platform platform;
    char workspace[CS_SBX_PATH_MAX];
    char consortd[CS_SBX_PATH_MAX];
    char app[CS_SBX_PATH_MAX];
    char swtpm[CS_SBX_PATH_MAX];
    uint8_t code_id[32];
    char service_cert[CS_SBX_PATH_MAX];
    char user_cert[CS_SBX_PATH_MAX];
    char user_key[CS_SBX_PATH_MAX];
    char member_cert[CS_SBX_PATH_MAX]; /* member0's */
    char member_key[CS_SBX_PATH_MAX];
    char members[CS_SBX_MEMBERS][3][CS_SBX_PATH_MAX]; /* cert, key, encryption public key */
    char nodes_json[CS_SBX_PATH_MAX];
    char tpm_ak_ca_cert[CS_SBX_PATH_MAX];
    char tpm_ak_ca_key[CS_SBX_PATH_MAX];
    uint32_t startup_timeout_s; /* per node */
    /* --node-option NAME=VALUE: extra top-level members of every node's
     * configuration (VALUE as JSON, else as a string); borrowed from argv */
    const char *extra[CS_SBX_MAX_EXTRA];
    size_t extra_count;
    cs_sbx_node nodes[CS_SBX_MAX_NODES];
} cs_sbx;

/* ---- sandbox_setup.c ---- */

/* The sample module samples/<rel> of the build that holds this program
 * (an absolute path into `out`); NOT_FOUND if it is not built. */
CS_MUST_CHECK consort_err cs_sbx_sample_module(const char *rel, char out[CS_SBX_PATH_MAX]);

/* Zeroes `sbx` and marks every port socket as not held (call first). */
void cs_sbx_init(cs_sbx *sbx);

/*
 * Finds consortd and the application module when not given (`consortd` /
 * `app` NULL): next to this program (the build tree's tools/consortd, and
 * samples/logging.so beside tools/), and swtpm on PATH for --platform tpm.
 * CONSORT_E_NOT_FOUND says what is missing and which option supplies it.
 */
CS_MUST_CHECK consort_err cs_sbx_find_binaries(cs_sbx *sbx, const char *consortd, const char *app);
/*
 * Creates the workspace `dir` (it must be missing or empty), the identities,
 * each node's directories and platform, and reserves the ports. Computes the
 * code id of consortd + app.
 */
CS_MUST_CHECK consort_err cs_sbx_prepare(cs_sbx *sbx, const char *dir);
/* Fills node i's paths and reserves its ports (its host exists already):
 * for a node added to a running sandbox. */
CS_MUST_CHECK consort_err cs_sbx_prepare_node(cs_sbx *sbx, int i);
/* Writes node i's configuration (start mode for node 0, join node 0 otherwise). */
CS_MUST_CHECK consort_err cs_sbx_write_config(const cs_sbx *sbx, int i);
/* Rewrites DIR/nodes.json (atomically) with every node started so far. */
CS_MUST_CHECK consort_err cs_sbx_write_nodes_json(const cs_sbx *sbx);
/* Reads node i's id from its data_dir/node_cert.pem (CONSORT_E_NOT_FOUND until written). */
CS_MUST_CHECK consort_err cs_sbx_read_node_id(cs_sbx_node *node);
/* Closes the sockets that hold a port pair (idempotent). */
void cs_sbx_release_ports(int fds[2]);
/* True if something accepts TCP connections on 127.0.0.1:port. */
bool cs_sbx_port_accepts(int port);

/* ---- sandbox_proc.c ---- */

/* Installs the SIGINT/SIGTERM handlers (no SA_RESTART) and ignores SIGPIPE. */
CS_MUST_CHECK consort_err cs_sbx_signals_install(void);
bool cs_sbx_stop_requested(void);
/* Makes cs_sbx_stop_requested() true, as SIGTERM would (`consort sandbox stop`). */
void cs_sbx_request_stop(void);
/*
 * Starts argv[0] with argv, standard input from /dev/null, standard output
 * and error appended to `log_path`. The child gets SIGTERM if the sandbox
 * dies (PR_SET_PDEATHSIG), so no node outlives it.
 */
CS_MUST_CHECK consort_err cs_sbx_spawn(cs_sbx_proc *p, char *const argv[], const char *log_path);
/* Reaps `p` if it exited; true if it is still running. Logs an unexpected exit once. */
bool cs_sbx_alive(cs_sbx_proc *p);
/* "exited with status 1" / "killed by signal 9" for a reaped process. */
void cs_sbx_describe_exit(const cs_sbx_proc *p, char *out, size_t n);
/*
 * Sends SIGTERM to every running process in `procs`, waits up to timeout_ms
 * for all of them, then SIGKILLs and reaps the rest. Returns how many of
 * those it stopped did not exit with status 0 (each is reported on stderr).
 */
size_t cs_sbx_stop_all(cs_sbx_proc *const *procs, size_t count, uint32_t timeout_ms);
/* Sleeps `ms` milliseconds, returning early when a stop was requested. */
void cs_sbx_sleep_ms(uint32_t ms);
/* A child that should be running is gone: prints its log's tail, returns the error. */
CS_MUST_CHECK consort_err cs_sbx_died(const cs_sbx_proc *p, const char *log_path);
/*
 * Waits until node n's consortd, spawned when its log was log_start bytes
 * long, says which addresses it bound ("consortd: bound ..."), and sets
 * n->rpc_address and n->node_address to them. Fails if it exits first, on a
 * stop request, or after timeout_s.
 */
CS_MUST_CHECK consort_err cs_sbx_wait_bound(cs_sbx_node *n, off_t log_start, uint32_t timeout_s);
/* Prints the last lines of a log file to stderr, indented. */
void cs_sbx_print_log_tail(const char *log_path, int lines);

/* ---- sandbox_tpm.c ---- */

/* Creates the AK CA in the workspace (--platform tpm). */
CS_MUST_CHECK consort_err cs_sbx_tpm_prepare(cs_sbx *sbx);
/* Starts node n's swtpm, waits until it listens, and enrols its AK. */
CS_MUST_CHECK consort_err cs_sbx_tpm_start(cs_sbx *sbx, cs_sbx_node *n);

/* ---- sandbox_probe.c ---- */

typedef struct cs_sbx_client cs_sbx_client;

/* An HTTPS client that pins `service_cert` and presents user0's certificate. */
CS_MUST_CHECK consort_err cs_sbx_client_new(const char *service_cert, const char *user_cert,
                                            const char *user_key, cs_sbx_client **out);
void cs_sbx_client_free(cs_sbx_client *c);
/*
 * GET `path` from the node at `address` on a fresh connection, waiting at most
 * timeout_ms. On CONSORT_OK, *status and `body` (appended) hold the response;
 * an error says why there is none (connection refused, TLS, timeout).
 */
CS_MUST_CHECK consort_err cs_sbx_get(cs_sbx_client *c, const char *address, const char *path,
                                     uint32_t timeout_ms, int *status, cs_buf *body);
/* The same for any method, with a body of `content_type` (NULL: none). */
CS_MUST_CHECK consort_err cs_sbx_request(cs_sbx_client *c, const char *address, const char *method,
                                         const char *path, const char *content_type,
                                         cs_slice request_body, uint32_t timeout_ms, int *status,
                                         cs_buf *body);
/*
 * Asks the node for GET /node/state: *open is true when it answers with
 * state "PartOfNetwork"; `why` says what it saw otherwise (for the timeout message).
 */
CS_MUST_CHECK consort_err cs_sbx_node_open(cs_sbx_client *c, const char *address, bool *open,
                                           char *why, size_t why_len);
/* What GET /node/state says (docs/http-api.md). */
typedef struct cs_sbx_state {
    char state[32];      /* "PartOfNetwork", ... */
    char raft_state[16]; /* "leader", "follower", "candidate", ... */
    bool is_leader;
    char leader[CS_SBX_ADDR_MAX]; /* leader_rpc_address, "" if it knows none */
    uint64_t committed;           /* the seqno of last_committed_txid (0: none) */
} cs_sbx_state;

/* GET /node/state within timeout_ms, parsed into *out. */
CS_MUST_CHECK consort_err cs_sbx_node_state(cs_sbx_client *c, const char *address,
                                            uint32_t timeout_ms, cs_sbx_state *out);
/* GET /node/network: the number of nodes listed with status "Trusted". */
CS_MUST_CHECK consort_err cs_sbx_trusted_nodes(cs_sbx_client *c, const char *address,
                                               size_t *count);

/* ---- sandbox_gov.c ---- */

/* Members 0 and 1 open the service (transition_service_to_open) through node 0. */
CS_MUST_CHECK consort_err cs_sbx_open_service(const cs_sbx *sbx, cs_sbx_client *c);
/* member0 proposes `proposal` (JSON) at node 0 and members 0 and 1 vote for
 * it; STATE unless it is then Accepted. `what` names it in messages. */
CS_MUST_CHECK consort_err cs_sbx_pass_proposal(const cs_sbx *sbx, cs_sbx_client *c,
                                               const char *proposal, const char *what);

/* ---- sandbox_ops.c: requests to a running sandbox other than add-node ---- */

/* The user0 client of `sbx`, made on first use into *client. */
CS_MUST_CHECK consort_err cs_sbx_client_of(const cs_sbx *sbx, cs_sbx_client **client);
/*
 * Carries out a request {"op": "kill" | "restart", "node": i, "timeout_s": t,
 * "wait": bool} (docs/sandbox.md "Crashing and restarting nodes"):
 *   kill     SIGKILLs node i (a crash), reaps it, and unless "wait" is false
 *            waits up to t s until the running nodes agree on a leader;
 *   restart  starts node i again from its configuration and data_dir, as the
 *            sandbox's child, and waits up to t s until it is part of the
 *            network and has committed what the others had when it started.
 * nodes.json is rewritten either way. *answer: {"node", "pid", ...} or
 * {"error": why}.
 */
void cs_sbx_node_op(cs_sbx *sbx, const json_t *req, cs_sbx_client **client, json_t **answer);
/*
 * Asks every running node for its role (GET /node/state, 500 ms each) and
 * notes the nodes that are gone; true if a role changed (then nodes.json
 * needs rewriting). Called when something happened (READY, a node's death,
 * kill, restart, add-node), never on a timer.
 */
bool cs_sbx_refresh_roles(cs_sbx *sbx, cs_sbx_client **client);

/* ---- sandbox_background.c: --background ---- */

/*
 * Forks. The child returns true, its standard output and error going to a
 * pipe; the parent relays them (READY lines on its standard output, the rest
 * on its standard error) until the child detaches or exits, and returns
 * false with *exit_code: 0 once the child said READY and detached, else the
 * child's exit status (1 if it was killed). IO if the fork or pipe fails.
 */
CS_MUST_CHECK consort_err cs_sbx_background_start(bool *child, int *exit_code);
/* In the child once READY: standard output and error to workspace/sandbox.log
 * (appended), a session of its own; the parent then returns. `entry`: the
 * workspace `consort sandbox stop` takes (a service's, for --sample composed). */
void cs_sbx_background_detach(const char *workspace, const char *entry);

/* ---- sandbox_ask.c: the client side of DIR/requests/ ---- */

/*
 * Publishes `req` as DIR/requests/<what>-<time>-<pid>.request and waits up
 * to wait_s for the running sandbox's answer, which it appends to `answer`.
 * NOT_FOUND if DIR has no nodes.json; TIMEOUT if no answer comes.
 */
CS_MUST_CHECK consort_err cs_sbx_ask(const char *ws, const char *what, const json_t *req,
                                     uint32_t wait_s, cs_buf *answer);
/* True while `pid` runs (a zombie does not). */
bool cs_sbx_process_running(pid_t pid);
/*
 * Prints a sandbox's answer: its JSON on stdout, or its "error" on stderr as
 * "consort VERB: ..."; returns the exit status (0, or 1).
 */
int cs_sbx_print_answer(const char *verb, cs_slice answer);

/* ---- sandbox_composed.c: --sample composed ---- */

/* The composed sample's wiring (docs/e2e.md): `back`'s members register
 * `front`'s service certificate as a user, `front`'s bind the egress name
 * "storage" to `back` (node 0's address and service certificate). */
CS_MUST_CHECK consort_err cs_sbx_composed_wire(const cs_sbx *back, const cs_sbx *front);

/* ---- sandbox_app.c ---- */

/* One endpoint the application registers. */
typedef struct cs_sbx_endpoint {
    char method[16]; /* node/app_host.h CS_APP_METHOD_MAX */
    char path[256];  /* CS_APP_PATH_MAX */
    consort_auth auth;
    consort_mode mode;
} cs_sbx_endpoint;

/* The endpoints of the application the sandbox runs. */
typedef struct cs_sbx_app {
    cs_sbx_endpoint *eps; /* in registration order; owned, NULL if none */
    size_t count;
    bool listed;     /* false until cs_sbx_app_list succeeds */
    char error[512]; /* why they could not be listed, if not */
} cs_sbx_app;

void cs_sbx_app_init(cs_sbx_app *app);
void cs_sbx_app_cleanup(cs_sbx_app *app);
/*
 * Lists the endpoints of the module at `module` with the node's own loader
 * (node/app_host.h cs_app_load: the module's consort_app_init registers
 * them, in this process, which exports the ABI like consortd does), then
 * unloads it (its consort_app_fini runs). On failure `app` stays unlisted
 * and its `error` holds the message. Errors: those of cs_app_load, NOMEM.
 */
CS_MUST_CHECK consort_err cs_sbx_app_list(cs_sbx_app *app, const char *module);
/*
 * The banner's part about the application: each endpoint's method, path, who
 * may call it and its mode, then a curl command for the first one against
 * node 0 (pinning the service certificate, with user0's or member0's
 * certificate as the endpoint needs), and one for GET /node/network.
 */
void cs_sbx_app_print(const cs_sbx_app *app, const cs_sbx *sbx, FILE *out);

#endif
