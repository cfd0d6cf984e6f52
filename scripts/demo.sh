#!/usr/bin/env bash
# The guided tour behind `make demo`: the tour block of README.md, taken from
# it and run as it is, in one bash shell that stops at the first command that
# fails (set -euo pipefail), each line shown before it runs.
# Usage: scripts/demo.sh [BUILD_DIR]   (default build; CONSORT_TOUR=DIR puts
# the tour's files in DIR instead of /tmp/consort-tour)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
[ -x "$build/tools/consort" ] || { echo "demo: $build/tools/consort not found (run make first)" >&2; exit 1; }
tour_dir=${CONSORT_TOUR:-/tmp/consort-tour}
script=$(mktemp /tmp/consort-tour-script.XXXXXX)

# Whatever happens, no service of the tour outlives it.
cleanup() {
  set +e
  rm -f "$script"
  local pidfile
  for pidfile in "$tour_dir"/*/sandbox.pid "$tour_dir"/*/*/sandbox.pid; do
    [ -f "$pidfile" ] || continue
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      "$build/tools/consort" sandbox stop --workspace "$(dirname "$pidfile")" >/dev/null 2>&1
    fi
  done
}
trap cleanup EXIT

# The block: the first ```sh fence after the "<!-- tour:" marker, up to its closing fence.
python3 - "$root/README.md" "$script" <<'PY'
import shlex, subprocess, sys
readme, out = sys.argv[1], sys.argv[2]
lines = open(readme).read().split("\n")
marks = [i for i, l in enumerate(lines) if l.startswith("<!-- tour:")]
if len(marks) != 1:
    sys.exit(f"demo: README.md must have exactly one '<!-- tour:' marker, found {len(marks)}")
i = marks[0] + 1
if i >= len(lines) or lines[i] != "```sh":
    sys.exit("demo: the '<!-- tour:' marker in README.md must be followed by a ```sh fence")
try:
    end = lines.index("```", i + 1)
except ValueError:
    sys.exit("demo: the tour block in README.md has no closing fence")
block = lines[i + 1:end]

def complete(text):
    """Whether bash parses `text` as whole commands (no open quote, if, \\ ...)."""
    return subprocess.run(["bash", "-n"], input=text, text=True,
                          capture_output=True).returncode == 0

# Units: a comment line (narration), or the lines of one whole command.
script = ["set -euo pipefail",
          "trap 'echo \"tour: stopped: the command above failed (exit $?)\" >&2' ERR"]
pending = []
for line in block + [""]:
    if not pending and (line.strip() == "" or line.lstrip().startswith("#")):
        if line.strip():
            script.append("printf '\\033[1m%s\\033[0m\\n' " + shlex.quote(line))
        else:
            script.append("echo")
        continue
    pending.append(line)
    text = "\n".join(pending)
    if line.endswith("\\") or not complete(text + "\n"):
        continue
    script.append("printf '\\033[36m$ %s\\033[0m\\n' " + shlex.quote(text) + " >&2")
    script.append(text)
    pending = []
if pending:
    sys.exit("demo: the tour block in README.md ends inside a command:\n" + "\n".join(pending))
open(out, "w").write("\n".join(script) + "\n")
PY

cat <<'INTRO'
consort runs one stateful application across many attested TEEs (trusted
execution environments). This tour (README.md, "A five-minute tour") starts a
3-node service on this machine, writes and reads records, crashes the leader
while the service keeps working, proves a write with a receipt checked
offline, updates the code the service runs through its members' governance,
audits the ledger offline, and ends with the attestation that decides which
nodes are trusted. Nodes here run on the "virtual" platform: software-signed,
INSECURE, for development only; real deployments use TPM, AMD SEV-SNP or
Intel TDX.
INTRO
echo
cd "$root"
CONSORT_BUILD=$build CONSORT_TOUR=$tour_dir bash "$script"
cat <<OUTRO

The tour is done; its files are in $tour_dir. Run your own service:
  $build/tools/consort sandbox --nodes 3 --workspace /tmp/mine --background
docs/sandbox.md, docs/http-api.md, docs/receipts.md, docs/ledger.md and
docs/attestation.md explain what you saw; \`make test\` runs every test.
OUTRO
