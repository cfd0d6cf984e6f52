#!/usr/bin/env python3
"""The short chaos run of `make test` (issue 11): tests/chaos/run_chaos.py for
about two minutes of faults (every kind: SIGKILL and restart, SIGSTOP, network
partitions and one-way cuts, delays, connection resets, a full disk, clock
jumps, connection floods, slowloris) against a 3-node sandbox under a
concurrent workload, then its checks: no acknowledged write lost, the history
linearizable per key, ledgers identical on the committed prefix and verified,
receipts verified. The seed is random (printed in the summary line, which
also goes to the test's output) unless CONSORT_CHAOS_SEED is set; a failing
run keeps its files and prints where.

Needs root (network namespaces, a tmpfs): skipped (77) otherwise, and fails
instead with CONSORT_NO_SKIP=1. `make chaos DURATION=1800` runs the same
harness for longer."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import consort_harness as h  # noqa: E402

DURATION_S = int(os.environ.get("CONSORT_CHAOS_SHORT_S", "110"))


def main():
    args = h.parse_args()
    if os.geteuid() != 0:
        msg = "the chaos run needs root (network namespaces, tmpfs)"
        if os.environ.get("CONSORT_NO_SKIP") == "1":
            print(f"FAIL: {msg} and CONSORT_NO_SKIP=1", flush=True)
            return 1
        print(f"SKIP: {msg}", flush=True)
        return 77
    app = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.consortd))),
                       "tests", "chaos_app.so")
    argv = [sys.executable, os.path.join(HERE, "..", "chaos", "run_chaos.py"),
            "--consort", args.consort, "--consortd", args.consortd, "--app", app,
            "--duration", str(DURATION_S), "--log-level", "info"]
    if os.environ.get("CONSORT_CHAOS_SEED"):
        argv += ["--seed", os.environ["CONSORT_CHAOS_SEED"]]
    if args.keep:
        argv.append("--keep")
    h.log(f"running {' '.join(argv)}")
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=DURATION_S + 1200)
    out = p.stdout.decode(errors="replace")
    print(out, end="", flush=True)
    summary = [l for l in out.splitlines() if l.startswith("chaos: seed=")]
    if p.returncode == 77:
        return 77
    if p.returncode != 0 or len(summary) != 1:
        print(f"FAIL: the chaos run exited {p.returncode}", flush=True)
        return 1
    line = summary[0]
    for want in ("acked_writes_lost=0", "anomalies=0", " PASS"):
        if want not in line:
            print(f"FAIL: the summary line lacks {want!r}", flush=True)
            return 1
    # a run that injected little or served little proves little
    faults = line.split("faults={", 1)[1].split("}", 1)[0]
    injected = sum(int(kv.split(":")[1]) for kv in faults.split(",") if ":" in kv)
    kinds = len([kv for kv in faults.split(",") if ":" in kv])
    writes = int(line.split("(ok: ", 1)[1].split(" writes", 1)[0])
    if injected < 10 or kinds < 5 or writes < 200:
        print(f"FAIL: too little happened: {injected} faults of {kinds} kinds, "
              f"{writes} acknowledged writes", flush=True)
        return 1
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
