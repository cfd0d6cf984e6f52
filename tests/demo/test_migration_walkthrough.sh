#!/usr/bin/env bash
# The walk-through of docs/migration.md §7 ("Running a migration"), run as
# written: the one sh block of that section, as one bash script with
# set -euo pipefail (any failing command fails this test), against the
# build directory given. Then its output is checked: the note opens before
# and after the move, the counter moved with the node, the old copy refused.
set -u
BUILD=${1:?usage: test_migration_walkthrough.sh BUILD_DIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/util/shtest.sh
. "$SRC/tests/util/shtest.sh"
WORK=$(mktemp -d /tmp/consort-migrate-test.XXXXXX)
trap 'rm -rf "$WORK"; rm -rf /tmp/consort-migrate' EXIT

python3 - "$SRC/docs/migration.md" >"$WORK/walk.sh" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("## 7. Running a migration"):]
blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
if len(blocks) != 1:
    sys.exit(f"docs/migration.md §7: {len(blocks)} sh blocks, expected 1")
print("set -euo pipefail")
print(blocks[0])
PY
[ -s "$WORK/walk.sh" ] || { echo "FAIL: no walk-through in docs/migration.md §7"; exit 1; }
cd "$SRC" || exit 1
if CONSORT_BUILD="$BUILD" timeout 300 bash "$WORK/walk.sh" >"$WORK/out" 2>&1; then
    ok "the walk-through ran to its end"
else
    fail "the walk-through failed (exit $?)"
    tail -30 "$WORK/out" | sed 's/^/  | /'
fi
n=$(grep -c '^a note only node 2 may read$' "$WORK/out")
[ "$n" = 2 ] && ok "the note opens before and after the move" ||
    fail "the note opened $n times, expected 2 (before and after)"
grep -q '"state": "retired"' "$WORK/out" && grep -q '"state": "live"' "$WORK/out" &&
    ok "source retired, destination live" || fail "consort migrate's states"
grep -q '{"name":"notes","value":1}' "$WORK/out" && ok "the counter moved with the node" ||
    fail "the counter after the move"
grep -q "this node's state moved to instance" "$WORK/out" &&
    grep -q '^refused, as it must be$' "$WORK/out" && ok "the old copy refuses to run" ||
    fail "the old copy did not refuse, or said nothing"
finish "migration walk-through"
