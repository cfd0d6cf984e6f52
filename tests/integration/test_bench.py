#!/usr/bin/env python3
"""`consort bench` (docs/operating.md "Measuring a deployment") against a live
3-node sandbox, about 5 s of load in all:

- What it reports is what landed: every request of a run writes a record whose
  id is its {n}; the records read back afterwards (a linearizable read through
  the leader) are exactly as many as the 2xx answers reported, warm-up
  included, and the throughput is those answers over the time reported.
- --json parses; the percentiles are ordered; the text report has its lines.
- Open loop: --rate R for S seconds sends R*S requests (sent + not sent).
- A path the application does not have stops the run at once with exit 1 and
  the hint to give the endpoint with --path/--body; no client certificate
  gives exit 1 with the 401 shown.
- A node killed under load: its requests count as transport errors (every
  measured request in exactly one count), exit 1 naming the node.
- An address where nothing listens fails at once with exit 1 naming it.
- Bad options, and more connections than the open-file limit allows, exit 2
  with a message naming what was wrong (no service needed)."""

import json
import os
import re
import resource
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def bench(env, *args, nofile=None, timeout=60):
    """Runs `consort bench ARGS...`: (exit code, stdout, stderr, seconds taken)."""
    def limit():
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    t0 = time.monotonic()
    p = subprocess.run([env.consort, "bench", *args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, preexec_fn=limit)
    return (p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"),
            time.monotonic() - t0)


def bench_json(env, *args):
    code, out, err, _ = bench(env, *args, "--json")
    check(code == 0, f"consort bench {' '.join(args)}: exit {code}\n{out}\n{err}")
    try:
        r = json.loads(out)
    except ValueError as e:
        raise h.TestFailure(f"--json printed no JSON ({e}): {out!r}")
    return r


def records_from(client, first, end):
    """The ids of the private records in [first, end), paged through the list endpoint
    with linearizable reads (served through the leader, after every committed write)."""
    ids, start = [], first
    while True:
        r = client.request("GET", f"/app/log/private/list?start={start}&limit=100",
                           headers={"x-consort-read": "linearizable"})
        check(r.status == 200, f"list from {start}: {r!r}")
        doc = r.json()
        for rec in doc["records"]:
            if rec["id"] >= end:
                return ids
            check(rec["msg"] == "consort bench", f"record {rec['id']}: {rec!r}")
            ids.append(rec["id"])
        if "next" not in doc:
            return ids
        start = doc["next"]


def check_counts(r, what):
    m = r
    check(m["transport_errors"] == 0 and m["answered"] == m["sent"] and
          m["status"]["2xx"] == m["answered"], f"{what}: not every request answered 2xx: {m}")


def check_latency(r, what):
    lat = r["latency_ms"]
    order = [lat["p50"], lat["p90"], lat["p99"], lat["p99.9"], lat["max"]]
    check(0 < order[0] and order == sorted(order), f"{what}: percentiles out of order: {lat}")


def bad_options(env, ws):
    cases = [
        (["--workspace", ws, "--connections", "0"], "--connections"),
        (["--workspace", ws, "--connections", "5000"], "--connections"),
        (["--workspace", ws, "--seconds", "abc"], "--seconds"),
        (["--workspace", ws, "--seconds", "9999"], "--seconds"),
        (["--workspace", ws, "--rate", "0"], "--rate"),
        (["--workspace", ws, "--method", "get"], "--method"),
        (["--workspace", ws, "--path", "app/log"], "--path"),
        (["--workspace", ws, "--content-type", "text/plain\r\nX: y"], "--content-type"),
        (["--workspace", ws, "--cert", "x.pem"], "--cert and --key"),
        (["--node", "https://127.0.0.1:1"], "--service-cert"),
        (["--seconds", "1"], "which node"),
        (["--workspace", ws, "--frobnicate"], "--frobnicate"),
        (["--workspace", ws, "extra"], "extra"),
    ]
    for args, needle in cases:
        code, out, err, _ = bench(env, *args)
        check(code == 2 and needle in err and out == "",
              f"consort bench {' '.join(args)}: exit {code}, expected 2 naming {needle!r}:\n"
              f"{out}{err}")
    # more connections than this process may open: said before anything is sent
    code, out, err, _ = bench(env, "--workspace", ws, "--connections", "1024", nofile=256)
    check(code == 2 and "1024" in err and "open files" in err and "ulimit -n" in err,
          f"--connections 1024 under a limit of 256 files: exit {code}:\n{out}{err}")
    code, out, err, _ = bench(env, "--help")
    check(code == 0 and "--connections" in out and "{n}" in out, f"--help: exit {code}\n{out}")


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_bench(env):
    bad_options(env, env.path("ws"))
    with env.sandbox(nodes=3) as sb:
        ws = sb.workspace
        node0 = sb.client(0)

        # closed loop, no warm-up: every request is measured and lands once
        base = 1_000_000
        r = bench_json(env, "--workspace", ws, "--seconds", "2", "--warmup", "0",
                       "--connections", "16", "--first", str(base))
        check_counts(r, "closed loop")
        check(r["sent"] > 50, f"only {r['sent']} requests in 2 s: {r}")
        check(r["warmup"]["sent"] == 0 and r["n"] == {"first": base, "next": base + r["sent"]},
              f"the {{n}} range is not the requests sent: {r}")
        check(len(r["nodes"]) == 3 and r["mode"] == "closed" and r["connections"] == 16, f"{r}")
        # the window (the loop clock counts whole ms), then at most the slowest answer
        check(1.99 <= r["seconds"] < 2.5 + r["latency_ms"]["max"] / 1000,
              f"measured {r['seconds']} s for --seconds 2: {r}")
        check(abs(r["throughput"] * r["seconds"] - r["status"]["2xx"]) < 0.01 * r["sent"],
              f"throughput {r['throughput']} over {r['seconds']} s is not {r['status']['2xx']}")
        check_latency(r, "closed loop")
        landed = records_from(node0, base, base + 10 * r["sent"])
        check(landed == list(range(base, base + r["status"]["2xx"])),
              f"{len(landed)} records landed for {r['status']['2xx']} 2xx answers")
        h.log(f"closed loop: {r['sent']} writes, {r['throughput']:.0f}/s, all landed")

        # with warm-up: its writes land too, and are reported apart
        base = 2_000_000
        r = bench_json(env, "--workspace", ws, "--seconds", "1", "--warmup", "0.5",
                       "--first", str(base))
        check_counts(r, "measured")
        check_counts(r["warmup"], "warm-up")
        check(r["warmup"]["sent"] > 0, f"no request in the warm-up: {r}")
        total = r["warmup"]["status"]["2xx"] + r["status"]["2xx"]
        check(r["n"]["next"] - base == r["warmup"]["sent"] + r["sent"], f"{r}")
        landed = records_from(node0, base, base + 10 * total)
        check(len(landed) == total, f"{len(landed)} records landed for {total} 2xx answers")

        # open loop: R requests per second, due ones never dropped from the count
        r = bench_json(env, "--workspace", ws, "--seconds", "1", "--warmup", "0", "--rate",
                       "200", "--method", "GET", "--path",
                       "/app/log/private/list?start={n}&limit=1")
        check(r["mode"] == "open" and r["sent"] + r["unsent"] == 200, f"open loop: {r}")
        check_counts(r, "open loop reads")
        check_latency(r, "open loop")

        # the text report
        code, out, err, _ = bench(env, "--workspace", ws, "--seconds", "0.5", "--warmup", "0")
        check(code == 0 and err == "", f"text report: exit {code}\n{out}{err}")
        m = re.search(r"^requests: +(\d+) sent, (\d+) answered \(2xx (\d+),", out, re.M)
        check(m and m.group(1) == m.group(2) == m.group(3), f"no requests line:\n{out}")
        for line in ("throughput:", "latency ms:  p50 ", "warm-up:", "{n}:"):
            check(("\n" + line) in out, f"no '{line}' line:\n{out}")

        # the wrong path: a 404 before any 2xx stops the run at once
        code, out, err, took = bench(env, "--workspace", ws, "--seconds", "30",
                                     "--path", "/app/no/such/endpoint")
        check(code == 1 and "404" in err and "--path" in err and took < 10,
              f"wrong path: exit {code} after {took:.1f} s:\n{out}{err}")

        # no client certificate: the node says 401, shown as the first error
        code, out, err, _ = bench(env, "--node", f"https://{sb.address(1)}", "--service-cert",
                                  sb.service_cert, "--seconds", "0.3", "--warmup", "0")
        check(code == 1 and "HTTP 401" in err, f"no client certificate: exit {code}\n{out}{err}")

        # a node killed under load: its requests end as transport errors, each
        # measured request in exactly one count, and the run says so (exit 1)
        p = subprocess.Popen([env.consort, "bench", "--workspace", ws, "--seconds", "2.5",
                              "--warmup", "0", "--connections", "12", "--json"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(1.0)
        sb.kill9(2)
        out, err = p.communicate(timeout=60)
        r = json.loads(out)
        check(p.returncode == 1 and r["ok"] is False and r["connections_lost"] >= 1 and
              r["transport_errors"] >= 1 and
              r["sent"] == r["answered"] + r["transport_errors"] and
              b"not every answer was 2xx" in err and sb.address(2).encode() in err,
              f"node 2 killed under load: exit {p.returncode}, {r}\n{err.decode()}")

    # nothing listening: fails at once, naming the address
    port = closed_port()
    code, out, err, took = bench(env, "--node", f"https://127.0.0.1:{port}", "--service-cert",
                                 os.path.join(ws, "service_cert.pem"), "--seconds", "30")
    check(code == 1 and f"127.0.0.1:{port}" in err and "refused" in err and took < 5,
          f"unreachable: exit {code} after {took:.1f} s:\n{out}{err}")


if __name__ == "__main__":
    sys.exit(h.main([test_bench]))
