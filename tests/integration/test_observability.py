"""What operators watch (docs/observability.md): the OpenAPI documents at /node/api
and /app/api, liveness and readiness, /node/metrics read with a real Prometheus
text-format parser, and the logs (JSON lines, the request log line, the level
changed at runtime with SIGUSR1 / SIGUSR2, timestamps on every line), and the
priorities of a node's threads (docs/operating.md "Process model")."""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import consort_harness as h
from consort_harness import check

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # Debian's python3-prometheus-client (scripts/install-deps) belongs to Debian's
    # interpreter: run there when another python3 comes first on PATH
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
    text_string_to_metric_families = None

HEX64 = "0" * 64
OPERATION_KEYS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


# ---------------------------------------------------------------- OpenAPI

def resolve(doc, ref):
    check(ref.startswith("#/"), f"$ref {ref} is not local")
    node = doc
    for part in ref[2:].split("/"):
        check(isinstance(node, dict) and part in node, f"$ref {ref} does not resolve")
        node = node[part]
    return node


def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def validate_openapi(doc, what):
    """Structural checks of an OpenAPI 3.1 document (OpenAPI 3.1.0 §4.8): the fields
    it requires, their types, path templates and their parameters, responses,
    security requirements and references. Returns [(method, path, operation)]."""
    check(doc.get("openapi") == "3.1.0", f"{what}: openapi is {doc.get('openapi')!r}")
    info = doc.get("info")
    check(isinstance(info, dict) and isinstance(info.get("title"), str) and info["title"]
          and isinstance(info.get("version"), str) and info["version"], f"{what}: info {info!r}")
    paths = doc.get("paths")
    check(isinstance(paths, dict) and paths, f"{what}: no paths")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    for ref in refs(doc):
        resolve(doc, ref)
    ops, ids = [], set()
    for path, item in paths.items():
        check(path.startswith("/"), f"{what}: path {path!r} does not start with /")
        names = re.findall(r"\{([^}]+)\}", path)
        methods = [m for m in item if m in OPERATION_KEYS or m.startswith("x-")]
        check(methods and all(m in OPERATION_KEYS or m.startswith("x-") for m in item),
              f"{what}: {path}: fields {list(item)}")
        for m in methods:
            op = item[m]
            where = f"{what}: {m} {path}"
            check(isinstance(op, dict), f"{where}: not an object")
            oid = op.get("operationId")
            check(isinstance(oid, str) and oid not in ids, f"{where}: operationId {oid!r}")
            ids.add(oid)
            resp = op.get("responses")
            check(isinstance(resp, dict) and resp, f"{where}: no responses")
            for code, r in resp.items():
                check(code == "default" or re.fullmatch(r"[1-5](\d\d|XX)", code),
                      f"{where}: response key {code!r}")
                check(isinstance(r, dict) and isinstance(r.get("description"), str),
                      f"{where}: response {code} has no description")
            params = op.get("parameters", [])
            check(isinstance(params, list), f"{where}: parameters")
            for p in params:
                check(p.get("in") in ("query", "header", "path", "cookie") and p.get("name"),
                      f"{where}: parameter {p!r}")
                if p["in"] == "path":
                    check(p.get("required") is True and p["name"] in names,
                          f"{where}: path parameter {p!r}")
            declared = {p["name"] for p in params if p["in"] == "path"}
            check(declared == set(names), f"{where}: path parameters {declared} != {names}")
            for req in op.get("security", []):
                for scheme in req:
                    check(scheme in schemes, f"{where}: security scheme {scheme} undefined")
            check(op.get("x-consort-auth") in ("none", "user", "member", "user_or_member"),
                  f"{where}: x-consort-auth {op.get('x-consort-auth')!r}")
            check(op.get("x-consort-mode") in ("read-only", "read-write"),
                  f"{where}: x-consort-mode {op.get('x-consort-mode')!r}")
            ops.append((m.upper(), path, op))
    return ops


def test_api_documents(env):
    with env.sandbox(1) as sb:
        c = sb.client(0)
        node_doc = c.get_json("/node/api")
        app_doc = c.get_json("/app/api")
        node_ops = validate_openapi(node_doc, "/node/api")
        app_ops = validate_openapi(app_doc, "/app/api")
        check(not any(p.startswith("/app/") for _, p, _ in node_ops),
              "/node/api documents the node's routes outside /app/")
        check(all(p.startswith("/app/") for _, p, _ in app_ops),
              "/app/api documents only /app/ routes")
        # every endpoint the application registered is documented: as many as
        # /node/version counts, with the authentication and mode it registered
        version = c.get_json("/node/version")
        app_eps = [(m, p, o) for m, p, o in app_ops if o["x-consort-source"] == "application"]
        check(len(app_eps) == version["app_endpoints"] > 0,
              f"{len(app_eps)} application operations documented, /node/version says "
              f"{version['app_endpoints']}")
        modes = {(m, p): (o["x-consort-auth"], o["x-consort-mode"]) for m, p, o in app_eps}
        # samples/logging.c: POST /app/log/private writes and needs a user
        check(modes.get(("POST", "/app/log/private")) == ("user", "read-write"),
              f"POST /app/log/private documented as {modes.get(('POST', '/app/log/private'))}")
        check(("GET", "/node/api") in {(m, p) for m, p, _ in node_ops}, "/node/api documents "
              "itself")
        # every documented route answers: never the router's 404 or 405
        answered = 0
        for m, p, op in node_ops + app_ops:
            if m.startswith("X-"):
                continue
            path = re.sub(r"\{[^}]+\}", HEX64, p)
            query = {q["name"]: "1.1" for q in op.get("parameters", []) if q["in"] == "query"}
            if query:
                path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
            r = c.request(m, path, body=b"" if m in ("POST", "PUT", "PATCH") else None)
            code = None
            try:
                code = r.json().get("error", {}).get("code")
            except ValueError:
                pass
            check(r.status != 405 and not (r.status == 404 and code == "ResourceNotFound"),
                  f"documented {m} {p} is not served: {r!r}")
            answered += 1
        h.log(f"{len(node_ops)} node and {len(app_ops)} application operations documented; "
              f"{answered} called, each served")
        # and a route that is not registered is the router's 404
        r = c.get("/node/no-such-route")
        check(r.status == 404 and r.json()["error"]["code"] == "ResourceNotFound",
              f"an unregistered route: {r!r}")
        c.close()


# ---------------------------------------------------------------- readiness

def ready(client, which):
    r = client.get(f"/node/ready/{which}")
    check(r.status in (200, 503), f"/node/ready/{which}: {r!r}")
    doc = r.json()
    check(doc["ready"] == (r.status == 200), f"/node/ready/{which}: {r!r}")
    if r.status == 503:
        check(isinstance(doc.get("reason"), str) and doc["reason"], f"no reason: {r!r}")
        check(r.headers.get("retry-after"), f"503 without Retry-After: {r!r}")
    return r.status, doc


def unopened_service(env, sb):
    """A new one-node service (its own data, addresses and service certificate) that
    its members never opened."""
    with open(sb.nodes[0]["config"]) as f:
        cfg = json.load(f)
    root = env.path("unopened")
    os.makedirs(root)
    platform = os.path.join(root, "platform")  # the sandbox host's virtual platform
    shutil.copytree(cfg["platform_dir"], platform)
    cfg.update(rpc_address=h.ANY_PORT, node_address=h.ANY_PORT,
               data_dir=os.path.join(root, "data"), platform_dir=platform)
    cfg["start"]["service_cert_out"] = os.path.join(root, "service_cert.pem")
    path = os.path.join(root, "node.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    p = h.Consortd(env.consortd, path, os.path.join(root, "consortd.log"))
    h.wait_until(lambda: os.path.exists(cfg["start"]["service_cert_out"]), 30,
                 "the new service's certificate")
    return p, h.Client(p.rpc_address, cfg["start"]["service_cert_out"])


def test_readiness(env):
    with env.sandbox(3) as sb:
        p, c = unopened_service(env, sb)
        try:
            h.wait_until(lambda: ready(c, "gov")[0] == 200, 30,
                         "governance ready on the new service's node")
            status, doc = ready(c, "app")
            check(status == 503 and "not open" in doc["reason"],
                  f"application requests before the service opens: {status} {doc}")
            r = c.get("/node/health")
            check(r.status == 200 and r.json()["alive"] is True, f"/node/health: {r!r}")
            h.log(f"before the service opens: /node/ready/app 503 ({doc['reason']})")
        finally:
            c.close()
            check(p.stop() == 0, "the unopened node stops cleanly")
        clients = [sb.client(i) for i in range(3)]
        for i, cl in enumerate(clients):
            for which in ("app", "gov"):
                check(ready(cl, which)[0] == 200, f"node {i}: /node/ready/{which} when serving")
        # the leader loses both followers: it must step down and say so
        survivor = sb.wait_leader()
        for i in range(3):
            if i != survivor:
                sb.kill9(i)
        cl = clients[survivor]

        def lost():
            a, b = ready(cl, "app"), ready(cl, "gov")
            return (a, b) if a[0] == 503 and b[0] == 503 else None

        (_, app_doc), (_, gov_doc) = h.wait_until(lost, 30, "503 once the quorum is lost")
        check("leader" in app_doc["reason"] and "leader" in gov_doc["reason"],
              f"the reasons name the missing leader: {app_doc} {gov_doc}")
        r = cl.get("/node/health")
        check(r.status == 200, f"still alive without a quorum: {r!r}")
        h.log(f"quorum lost: /node/ready/app 503 ({app_doc['reason']})")
        for x in clients:
            x.close()


# ---------------------------------------------------------------- metrics

def scrape(client):
    """{(name, frozenset(labels without node)): value} parsed by prometheus_client, and
    the families' types."""
    r = client.get("/node/metrics")
    check(r.status == 200 and r.headers.get("content-type", "").startswith("text/plain"),
          f"/node/metrics: {r!r}")
    samples, types = {}, {}
    for fam in text_string_to_metric_families(r.body.decode()):
        types[fam.name] = fam.type
        for s in fam.samples:
            labels = frozenset((k, v) for k, v in s.labels.items() if k != "node")
            key = (s.name, labels)
            check(key not in samples, f"sample {key} twice")
            samples[key] = s.value
    return samples, types


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def attested_garbage(address, root):
    """A TLS connection to node_address with a client certificate, then bytes that
    are no hello: an attestation failure (a protocol error)."""
    key, cert = os.path.join(root, "rogue_key.pem"), os.path.join(root, "rogue_cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=rogue", "-days", "1"], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            t.sendall(b"\xff" * 64 + b"not a hello")
            try:
                t.recv(64)
            except (OSError, ssl.SSLError):
                pass


def test_metrics(env):
    if text_string_to_metric_families is None:
        raise h.Skip("prometheus_client is not installed (python3-prometheus-client: "
                     "scripts/install-deps)")
    with env.sandbox(3, extra_args=("--node-option", "snapshot_interval=20")) as sb:
        leader = sb.wait_leader()
        follower = (leader + 1) % 3
        c, f = sb.client(leader), sb.client(follower)
        before, types = scrape(c)
        fbefore, _ = scrape(f)
        for name, t in [("consort_rpc_write_commit_seconds", "histogram"),
                        ("consort_rpc_route_responses", "counter"),
                        ("consort_raft_state", "gauge"), ("consort_ledger_bytes", "gauge"),
                        ("consort_attestation_failures", "counter"),
                        ("consort_rpc_turns_deferred", "counter")]:
            check(types.get(name) == t, f"{name} is a {types.get(name)}, expected {t}")
        check(val(before, "consort_raft_state", state="leader") == 1
              and val(before, "consort_raft_state", state="follower") == 0,
              "the leader's consort_raft_state says leader")
        check(val(fbefore, "consort_raft_state", state="follower") == 1
              and val(fbefore, "consort_raft_state", state="leader") == 0,
              "a follower's consort_raft_state says follower")
        check(val(before, "consort_raft_term") == val(fbefore, "consort_raft_term") >= 1,
              "leader and follower agree on the term")
        n = 25
        txids = []
        for k in range(n):
            r = c.post_json("/app/log/private", {"id": 100 + k, "msg": f"m{k}"})
            check(r.status == 200, f"write {k}: {r!r}")
            txids.append(r.txid)
        r = c.request("POST", "/app/log/private", body=b"{not json")
        check(r.status == 400, f"a malformed write: {r!r}")
        r = c.get("/no/such/path/" + HEX64)
        check(r.status == 404, f"an unknown path: {r!r}")
        last = int(txids[-1].split(".")[1])
        h.wait_until(lambda: val(scrape(c)[0], "consort_signature_lag_transactions") == 0
                     and val(scrape(c)[0], "consort_commit_index") >= last, 30,
                     "a signature covering the writes")
        after, _ = scrape(c)
        delta = lambda name, **l: val(after, name, **l) - val(before, name, **l)  # noqa: E731
        check(delta("consort_writes_committed_total") == n,
              f"committed writes grew by {delta('consort_writes_committed_total')}, not {n}")
        route = dict(method="POST", route="/app/log/private")
        check(delta("consort_rpc_route_responses_total", **route, **{"class": "2xx"}) == n,
              "2xx answers of POST /app/log/private counted by route")
        check(delta("consort_rpc_route_responses_total", **route, **{"class": "4xx"}) == 1,
              "the 400 counted under its route")
        check(delta("consort_rpc_route_responses_total", method="", route="",
                    **{"class": "4xx"}) >= 1, "the unknown path counted under route \"\"")
        check(not any(("route", "/no/such/path/" + HEX64) in labels for _, labels in after),
              "no label carries a raw path")
        hist = "consort_rpc_write_commit_seconds"
        check(delta(hist + "_count") == n, f"the commit latency histogram counted {n} writes")
        buckets = sorted(((float(dict(l)["le"]), v) for (name, l), v in after.items()
                          if name == hist + "_bucket"))
        check(buckets[-1][0] == float("inf") and buckets[-1][1] == val(after, hist + "_count"),
              "+Inf bucket equals the count")
        check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
              "histogram buckets are cumulative")
        check(delta(hist + "_sum") > 0, "commit latency sum grew")
        check(val(after, "consort_commit_index") >= last, "commit index covers the writes")
        # raft's view of each follower, on the leader only (a stalled one would show)
        fam = lambda smp, name: {dict(l)["raft_id"]: v for (nm, l), v in smp.items()  # noqa: E731
                                 if nm == name}
        check(types.get("consort_raft_follower_match_index") == "gauge"
              and types.get("consort_raft_follower_stalled_seconds") == "gauge",
              "follower progress gauges declared")
        match = fam(after, "consort_raft_follower_match_index")
        stalled = fam(after, "consort_raft_follower_stalled_seconds")
        check(len(match) == 2 and set(match) == set(stalled) and min(match.values()) > 0,
              f"the leader reports both followers' match index: {match}")
        check(all(v < 5 for v in stalled.values()), f"no follower stalled: {stalled}")
        check(not fam(scrape(f)[0], "consort_raft_follower_match_index"),
              "a follower reports no follower progress")
        check(delta("consort_ledger_bytes") > 0, "the ledger grew on disk")
        check(val(after, "consort_signature_age_seconds") < 10, "a recent signature")
        check(val(after, "consort_rpc_connections_open") >= 1, "our connection is open")
        check(val(after, "consort_snapshot_age_seconds") > 0,
              "a snapshot was taken (snapshot_interval 20) and has an age")
        # attestation failures by reason
        attested_garbage(sb.nodes[leader]["node_address"], env.root)
        h.wait_until(lambda: val(scrape(c)[0], "consort_attestation_failures_total",
                                 reason="protocol")
                     > val(before, "consort_attestation_failures_total", reason="protocol"), 20,
                     "a protocol attestation failure counted")
        # a follower's view: it forwards writes, the leader commits them
        h.wait_until(lambda: val(scrape(f)[0], "consort_commit_index") >= last, 20,
                     "the follower's commit index reaches the writes")
        c.close()
        f.close()


# ---------------------------------------------------------------- logs

def json_lines(path, start):
    with open(path, "rb") as fh:
        fh.seek(start)
        raw = fh.read().decode(errors="replace")
    out = []
    for line in raw.splitlines():
        doc = json.loads(line)  # every line: JSON
        for k in ("ts", "level", "module", "msg"):
            check(isinstance(doc.get(k), str), f"line without {k}: {line}")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["ts"]),
              f"timestamp {doc['ts']}")
        out.append(doc)
    return out


def requests_logged(path, start, pathname):
    return [d for d in json_lines(path, start) if d["msg"] == "request"
            and d.get("path") == pathname]


def test_logs(env):
    with env.sandbox(1) as sb:
        log = sb.log_path(0)
        # text format: every line timestamped, consortd's stdout lines included
        with open(log) as fh:
            text = fh.read().splitlines()
        check(any("consortd: bound rpc_address" in l for l in text), "the bound line")
        bad = [l for l in text if not TIMESTAMP.match(l)]
        check(not bad, f"lines without a timestamp: {bad[:3]}")
        # restart the node with JSON lines at warn
        sb.kill9(0)
        start = h.file_size(log)
        e = dict(os.environ, CONSORT_LOG_FORMAT="json", CONSORT_LOG="warn")
        p = h.Consortd(env.consortd, sb.nodes[0]["config"], log, env=e)
        sb.restarted[0] = p
        c = sb.client(0)
        h.wait_until(lambda: ready(c, "app")[0] == 200, 60, "the restarted node ready")
        docs = json_lines(log, start)
        bound = [d for d in docs if d["msg"].startswith("consortd: bound")]
        check(bound and bound[0].get("rpc_address") == p.rpc_address,
              f"the bound line as JSON with its fields: {bound}")
        check(any(d["msg"].startswith("consortd: node") and d.get("rpc_address") for d in docs),
              "the open line as JSON")
        r = c.post_json("/app/log/private", {"id": 1, "msg": "at warn"})
        check(r.status == 200, f"write: {r!r}")
        time.sleep(0.5)
        check(not requests_logged(log, start, "/app/log/private"),
              "no request line at warn")
        # SIGUSR1: one level more verbose (info): request lines appear
        mark = h.file_size(log)
        os.kill(p.pid, signal.SIGUSR1)
        h.wait_until(lambda: any(d["msg"] == "log level now info (was warn)"
                                 for d in json_lines(log, mark)), 10, "the level change")
        r = c.post_json("/app/log/private", {"id": 2, "msg": "at info"})
        check(r.status == 200 and r.txid, f"write: {r!r}")
        got = h.wait_until(lambda: requests_logged(log, mark, "/app/log/private"), 10,
                           "the request line")
        d = got[-1]
        check(d["level"] == "info" and d["module"] == "http" and d["method"] == "POST"
              and d["status"] == 200 and d["txid"] == r.txid and d["route"] == "/app/log/private"
              and isinstance(d["latency_ms"], (int, float)) and d["latency_ms"] >= 0,
              f"the request line: {d}")
        r = c.get("/node/nothing-here")
        check(r.status == 404, f"{r!r}")
        miss = h.wait_until(lambda: requests_logged(log, mark, "/node/nothing-here"), 10,
                            "the 404's request line")
        check(miss[-1]["status"] == 404 and "txid" not in miss[-1], f"the 404 line: {miss[-1]}")
        # a client's path cannot break a line: quotes and backslashes are escaped
        odd = '/app/"},{"status":200\\'
        r = c.get(odd)
        check(r.status == 404, f"GET {odd}: {r!r}")
        odd_lines = h.wait_until(lambda: requests_logged(log, mark, odd), 10,
                                 "the odd path's line, parsed back exactly")
        check(odd_lines[-1]["status"] == 404, f"{odd_lines[-1]}")
        # SIGUSR2: back to warn, request lines stop
        os.kill(p.pid, signal.SIGUSR2)
        mark2 = h.file_size(log)
        time.sleep(0.5)
        r = c.post_json("/app/log/private", {"id": 3, "msg": "at warn again"})
        check(r.status == 200, f"write: {r!r}")
        time.sleep(0.5)
        check(not requests_logged(log, mark2, "/app/log/private"),
              "no request line after SIGUSR2")
        c.close()


# ---------------------------------------------------------------- threads

def threads(pid):
    """{tid: (name, nice)} of a process's threads, from /proc."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
        out[int(tid)] = (name, int(fields[16]))  # field 19 of stat: nice
    return out


def test_thread_priorities(env):
    """consortd's loop keeps the process's priority; libuv's thread pool (snapshots,
    sealing, fsyncs) runs 10 nice levels below it (CS_BACKGROUND_NICE); the
    allocator's worker (cs-alloc), which holds locks the loop waits for, does not; nor
    does the thread that destroys libraft's AIO contexts (cs-aio)."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    background = min(base + 10, 19)
    with env.sandbox(1, extra_args=("--node-option", "snapshot_interval=10")) as sb:
        c = sb.client(0)
        for i in range(30):  # snapshots: the pool works, the allocator's worker may start
            r = c.post_json("/app/log/private", {"id": i, "msg": "m" * 100})
            check(r.status == 200, f"write: {r!r}")
        pid = sb.nodes[0]["pid"]
        t = threads(pid)
        check(t[pid][1] == base, f"the loop (main thread) at nice {base}: {t[pid]}")
        pool = [tid for tid, (name, nice) in t.items() if nice == background and tid != pid]
        check(len(pool) >= 4, f"libuv's pool threads at nice {background}: {t}")
        alloc = [nice for name, nice in t.values() if name == "cs-alloc"]
        check(all(n == base for n in alloc), f"the allocator's worker at nice {base}: {t}")
        # libraft's io_destroy off the loop (src/consensus/raft_aio.h): one thread, at
        # the loop's priority, started by consortd itself
        aio = [nice for name, nice in t.values() if name == "cs-aio"]
        check(aio == [base], f"one cs-aio thread at nice {base}: {t}")
        c.close()


if __name__ == "__main__":
    sys.exit(h.main([test_api_documents, test_readiness, test_metrics, test_logs,
                     test_thread_priorities]))
