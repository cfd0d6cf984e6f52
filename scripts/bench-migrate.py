#!/usr/bin/env python3
"""Migration time (docs/migration.md, issue 14 item 6): how long `consort migrate` takes
to move a stopped node of a 3-node sandbox to another host, and how much of it is the
copy of the node's host storage.

usage: scripts/bench-migrate.py BUILD_DIR [--runs N] [--ledger-mb N]

Starts a 3-node sandbox running the sealing sample with --background and lets node 2
seal a note bound to a counter. The sealing sample writes nothing replicated, so node
2's data directory holds the service's own entries only; --ledger-mb pads it (the
host storage copied is what grows with a real node's ledger). Then stops node 2 and
migrates it N times, host to host (each run's destination is the next run's source),
timing each `consort migrate` end to end (8 consortd processes: each measures its
code, opens its platform and store).
Prints each run, then median, min and max, and the size of the data directory
moved. Finally starts the node from its last home and checks the note opens.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ledger-mb", type=int, default=0,
                    help="pad node 2's data directory with this many MiB (a bigger ledger)")
    a = ap.parse_args()
    consort = os.path.join(a.build, "tools", "consort")
    consortd = os.path.join(a.build, "tools", "consortd")
    app = os.path.join(a.build, "samples", "sealing.so")
    work = tempfile.mkdtemp(prefix="consort-bench-migrate-")
    ws = os.path.join(work, "svc")
    p = run([consort, "sandbox", "--nodes", "3", "--workspace", ws, "--app", app,
             "--consortd", consortd, "--background"], timeout=180)
    if p.returncode != 0:
        print(p.stderr, file=sys.stderr)
        return 1
    try:
        nodes = json.load(open(os.path.join(ws, "nodes.json")))
        addr = nodes[2]["rpc_address"]
        curl = ["curl", "-sS", "--cacert", f"{ws}/service_cert.pem", "--cert",
                f"{ws}/user0_cert.pem", "--key", f"{ws}/user0_privk.pem"]
        note = os.path.join(work, "note.bin")
        p = run(curl + ["-X", "POST", "--data-binary", "a note", "-o", note,
                        f"https://{addr}/app/sealing/seal?counter=n"])
        assert p.returncode == 0, p.stderr
        run([consort, "sandbox", "kill", "--workspace", ws, "--node", "2"], timeout=60)
        src = nodes[2]["config"]
        if a.ledger_mb:
            pad = os.path.join(json.load(open(src))["data_dir"], "ledger", "padding.bin")
            with open(pad, "wb") as f:
                f.write(os.urandom(a.ledger_mb << 20))
        times = []
        for k in range(a.runs):
            host = 5 + k % 2
            dst = os.path.join(work, f"move{k}.json")
            t0 = time.monotonic()
            p = run([consort, "migrate", "--from", src, "--to", dst, "--node-binary", consortd,
                     "--platform-dir", os.path.join(ws, f"node{host}", "platform"),
                     "--data-dir", os.path.join(work, f"move{k}")], timeout=300)
            dt = time.monotonic() - t0
            if p.returncode != 0:
                print(p.stderr, file=sys.stderr)
                return 1
            times.append(dt)
            print(f"run {k + 1}: {dt * 1000:.0f} ms (host {host})")
            src = dst
        moved = dir_bytes(json.load(open(src))["data_dir"])
        print(f"consort migrate: median {statistics.median(times) * 1000:.0f} ms, "
              f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over "
              f"{a.runs} runs; data directory moved {moved / 1e6:.1f} MB")
        d = subprocess.Popen([consortd, "--config", src], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            for _ in range(120):
                p = run(curl + ["-X", "POST", "--data-binary", f"@{note}",
                                f"https://{addr}/app/sealing/unseal"])
                if p.returncode == 0 and p.stdout == "a note":
                    print(f"after {a.runs} migrations the note opens on the node: ok")
                    break
                time.sleep(0.5)
            else:
                print("FAIL: the note does not open after the migrations", file=sys.stderr)
                return 1
        finally:
            d.terminate()
            d.wait(30)
    finally:
        run([consort, "sandbox", "stop", "--workspace", ws], timeout=120)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
