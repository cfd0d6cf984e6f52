/*
 * What the `consort gov` verbs share (cmd_gov_*.c; docs/governance.md "The
 * governance API" and "CLI"): the options that say which node to talk to and
 * which member signs, the session they resolve to, signing, and one exchange
 * with the node whose answer is printed.
 *
 * A node is named by --node https://HOST:PORT and pinned by --service-cert;
 * a member by --member-cert and --member-key. In a sandbox workspace
 * (tools/consort/sandbox.h) --workspace W stands for all of them: the node is
 * the first of W/nodes.json's nodes, in its order, that accepts a TCP
 * connection (node 0 may have been evicted and exited in a rolling update;
 * W/node0/node.json's rpc_address if there is no W/nodes.json), the service
 * certificate W/service_cert.pem, and --as memberN names W/memberN_cert.pem
 * and W/memberN_privk.pem. An option given explicitly wins over the
 * workspace (--node: that node only).
 *
 * A request goes to the next node only if the connection to one failed
 * before it was established (cli_https.h): once a node has accepted the
 * connection it may execute the request, so its answer or failure is final.
 */
#ifndef CS_CLI_GOV_H
#define CS_CLI_GOV_H

#include "cli.h"
#include "cli_https.h"
#include "cli_opts.h"

#include "gov/request.h"

#include <limits.h>

/* getopt values of the common options (above every verb's own values). */
enum {
    CS_CLI_GOV_OPT_NODE = 0x100,
    CS_CLI_GOV_OPT_SERVICE_CERT,
    CS_CLI_GOV_OPT_WORKSPACE,
    CS_CLI_GOV_OPT_TIMEOUT,
    CS_CLI_GOV_OPT_MEMBER_CERT,
    CS_CLI_GOV_OPT_MEMBER_KEY,
    CS_CLI_GOV_OPT_AS,
    CS_CLI_GOV_OPT_ACTION,
    CS_CLI_GOV_OPT_ARG,
};

/* struct option entries for a verb's table: where the node is... */
#define CS_CLI_GOV_NODE_OPTIONS                                                                    \
    {"node", required_argument, NULL, CS_CLI_GOV_OPT_NODE},                                        \
        {"service-cert", required_argument, NULL, CS_CLI_GOV_OPT_SERVICE_CERT},                    \
        {"workspace", required_argument, NULL, CS_CLI_GOV_OPT_WORKSPACE},                          \
    {                                                                                              \
        "timeout", required_argument, NULL, CS_CLI_GOV_OPT_TIMEOUT                                 \
    }
/* ...and who signs (or presents a TLS client certificate). */
#define CS_CLI_GOV_MEMBER_OPTIONS                                                                  \
    {"member-cert", required_argument, NULL, CS_CLI_GOV_OPT_MEMBER_CERT},                          \
        {"member-key", required_argument, NULL, CS_CLI_GOV_OPT_MEMBER_KEY},                        \
    {                                                                                              \
        "as", required_argument, NULL, CS_CLI_GOV_OPT_AS                                           \
    }

/* ...and a proposal written on the command line (cli_gov_proposal.c). */
#define CS_CLI_GOV_ACTION_OPTIONS                                                                  \
    {"action", required_argument, NULL, CS_CLI_GOV_OPT_ACTION},                                    \
    {                                                                                              \
        "arg", required_argument, NULL, CS_CLI_GOV_OPT_ARG                                         \
    }

/* Their lines in a verb's usage. */
#define CS_CLI_GOV_NODE_USAGE                                                                      \
    "  --node https://HOST:PORT  the node (HOST: an IP address, [IPv6] or localhost)\n"            \
    "  --service-cert PEM        the service certificate, the only one trusted\n"                  \
    "  --workspace DIR           a `consort sandbox` workspace: its service\n"                     \
    "                            certificate (unless --service-cert) and, unless\n"                \
    "                            --node, the first node of DIR/nodes.json, in\n"                   \
    "                            order, that accepts a TCP connection (3 s each\n"                 \
    "                            while another is left): the only node that gets\n"                \
    "                            the request\n"                                                    \
    "  --timeout SECONDS         for the whole exchange, every node tried (default 30)\n"
#define CS_CLI_GOV_MEMBER_USAGE                                                                    \
    "  --member-cert PEM         the member's certificate\n"                                       \
    "  --member-key PEM          its private key (P-256 or P-384)\n"                               \
    "  --as memberN              with --workspace: DIR/memberN_cert.pem and\n"                     \
    "                            DIR/memberN_privk.pem\n"

#define CS_CLI_GOV_ACTION_USAGE                                                                    \
    "  --action NAME             an action of the proposal, instead of a file\n"                   \
    "                            (repeatable)\n"                                                   \
    "  --arg KEY=VALUE           an argument of the --action before it: VALUE as\n"                \
    "                            JSON if it parses (42, true, {...}), else as a\n"                 \
    "                            string; KEY=@FILE takes the text of FILE\n"

#define CS_CLI_GOV_DEFAULT_TIMEOUT_S 30
/* The most nodes a workspace's nodes.json may list (a sandbox runs at most 15). */
#define CS_CLI_GOV_NODES_MAX 16
/* How long a workspace's node has to accept the connection while another is left to try. */
#define CS_CLI_GOV_CONNECT_TIMEOUT_MS 3000

/* The common options as given (borrowed from argv). */
typedef struct cs_cli_gov_opts {
    const char *node;
    const char *service_cert;
    const char *workspace;
    const char *member_cert;
    const char *member_key;
    const char *as;
    uint32_t timeout_s; /* 0: the default */
} cs_cli_gov_opts;

/* What a verb needs from the common options (cs_cli_gov_opts_check). */
enum {
    CS_CLI_GOV_NEED_NODE = 1u << 0,   /* a node and its service certificate */
    CS_CLI_GOV_NEED_MEMBER = 1u << 1, /* a member certificate and key */
    CS_CLI_GOV_CERT_ONLY = 1u << 2,   /* --member-cert may come without its key */
};

/*
 * Takes option `c` with value `arg` if it is a common one: 1 if it was, 0 if
 * it is not one (the verb's own), -1 after a usage error (a bad value).
 */
int cs_cli_gov_opt(const cs_cli_verb *verb, cs_cli_gov_opts *o, int c, const char *arg);

/*
 * Checks the combination of common options for a verb that needs `need`
 * (CS_CLI_GOV_NEED_*): CS_EXIT_OK, or CS_EXIT_USAGE after printing what is
 * missing or contradictory. Member options given to a verb that does not
 * need a member are used when present (a TLS client certificate).
 */
int cs_cli_gov_opts_check(const cs_cli_verb *verb, const cs_cli_gov_opts *o, unsigned need);

/* The node, service certificate and member the options resolve to. */
typedef struct cs_cli_gov_session {
    /* the nodes to try, in order ("HOST:PORT"): --node's, the workspace's
     * nodes.json's, or its node 0's; node_count is 0 without a node */
    char address[CS_CLI_GOV_NODES_MAX][CS_CLI_HTTPS_ADDRESS_MAX];
    size_t node_count;
    char nodes_file[PATH_MAX];             /* the nodes.json they came from; "" if not from one */
    cs_x509 *service_cert;                 /* NULL without a node */
    cs_x509 *member_cert;                  /* NULL without a member */
    cs_key *member_key;                    /* NULL without a member or its key */
    char member_id[CS_GOV_ID_HEX_LEN + 1]; /* cs_gov_member_id; "" without a member */
    uint32_t timeout_ms;
} cs_cli_gov_session;

/*
 * Loads what the options checked for `need` name (files, the workspace's
 * nodes.json or node 0 configuration) into `s`, which the caller closes even
 * on failure. The nodes come from the workspace only if `need` has
 * CS_CLI_GOV_NEED_NODE; a member is loaded if the options name one (its key
 * if they name it). Errors: those of reading and parsing the files (IO,
 * NOT_FOUND, MALFORMED: a nodes.json that is not a list of 1 to
 * CS_CLI_GOV_NODES_MAX nodes each with an rpc_address HOST:PORT, ...), each
 * naming the file.
 */
CS_MUST_CHECK consort_err cs_cli_gov_session_open(const cs_cli_gov_opts *o, unsigned need,
                                                  cs_cli_gov_session *s);
void cs_cli_gov_session_close(cs_cli_gov_session *s);

/*
 * Signs a governance request (gov/request.h cs_gov_request_sign) as the
 * session's member, created at `created_at` (0: now), appending it to `out`.
 */
CS_MUST_CHECK consort_err cs_cli_gov_sign(const cs_cli_gov_session *s, cs_gov_msg_type type,
                                          const char *proposal_id, cs_slice payload,
                                          uint64_t created_at, cs_buf *out);

/*
 * The endpoint (docs/governance.md) of a signed request of `type` into
 * path[n]: /gov/proposals, /gov/proposals/ID/ballots or .../withdraw.
 * UNSUPPORTED for a recovery share (it has no endpoint yet).
 */
CS_MUST_CHECK consort_err cs_cli_gov_endpoint(cs_gov_msg_type type, const char *proposal_id,
                                              char *path, size_t n);

/*
 * One exchange: `method path` with `cose` as the body (sent as
 * application/cose; empty: no body) to the session's node: the first of its
 * nodes, in order, that accepts the TCP connection. Each node but the last
 * has CS_CLI_GOV_CONNECT_TIMEOUT_MS to accept it; all of them share the
 * session's timeout. A request is sent to the next node only if the
 * connection to one was never established, so no node but the one that
 * answers (or fails after connecting) can have received it.
 *
 * A 2xx answer is printed on stdout (JSON indented, anything else as it
 * came) and gives CS_EXIT_OK. An error answer {"error": {"code", "message"}}
 * is printed on stderr as "consort <verb>: <code>: <message>" (another one as
 * "consort <verb>: HTTP <status>: <body>") and gives CS_EXIT_REJECTED, as
 * does a failed exchange (cs_cli_fail). When no node of a nodes.json accepts
 * the connection, "consort <verb>: io: no node of FILE accepted a connection"
 * is followed by one line per node tried, each with why it failed.
 */
int cs_cli_gov_exchange(const cs_cli_verb *verb, const cs_cli_gov_session *s, const char *method,
                        const char *path, cs_slice cose);

/* True if `id` is a proposal id (64 lower-case hex digits); else a usage error is printed. */
bool cs_cli_gov_check_id(const cs_cli_verb *verb, const char *id);

/* Appends the file `path` ("-": standard input) to `out`, within out->max. */
CS_MUST_CHECK consort_err cs_cli_read_input(const char *path, cs_buf *out);

/* --action and --arg, in the order given. */
#define CS_CLI_GOV_ACTION_WORDS_MAX 64
typedef struct cs_cli_gov_actions {
    const char *value[CS_CLI_GOV_ACTION_WORDS_MAX]; /* borrowed from argv */
    bool is_action[CS_CLI_GOV_ACTION_WORDS_MAX];    /* --action, else --arg */
    size_t count;
} cs_cli_gov_actions;

/*
 * Takes --action NAME or --arg KEY=VALUE into `a`: 1 if `c` was one of them,
 * 0 if not, -1 after a usage error (an --arg before any --action, no '=',
 * too many).
 */
int cs_cli_gov_action_opt(const cs_cli_verb *verb, cs_cli_gov_actions *a, int c, const char *arg);

/*
 * The proposal to sign, into `out`: the bytes of `file` ("-": standard
 * input) as they are, or, with file NULL, {"actions": [{"name", "args"}]}
 * built from `a` (compact, in the order given; KEY=@FILE values read).
 * Either way it must pass cs_cli_gov_check_proposal. Errors: the file's,
 * MALFORMED, NOMEM, TOO_LARGE (above CS_GOV_REQUEST_MAX).
 */
CS_MUST_CHECK consort_err cs_cli_gov_proposal(const char *file, const cs_cli_gov_actions *a,
                                              cs_buf *out);

/*
 * Checks that `json` is a proposal as docs/governance.md has it: a JSON
 * object with an "actions" array. MALFORMED, naming what is wrong, if not.
 */
CS_MUST_CHECK consort_err cs_cli_gov_check_proposal(cs_slice json);

#endif
