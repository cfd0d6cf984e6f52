#!/usr/bin/env bash
# `make install` and what it promises (docs/operating.md "Installing",
# docs/writing-an-app.md "Building out of the tree", "Clients"):
#   - `make install PREFIX=P` puts every file where docs/operating.md says,
#     and DESTDIR stages the same files for the same prefix;
#   - libconsort.so has the soname libconsort.so.0 and exports exactly the
#     functions include/consort/client.h and error.h declare (so does
#     libconsort.a), nothing internal;
#   - with nothing but the installed files and pkg-config, out of the tree:
#     the logging sample and the application template build, and the
#     installed consortd loads them; a C client that verifies receipts
#     builds against libconsort (shared, and static with `pkg-config
#     --static`), and accepts genuine receipts and rejects altered, foreign
#     and wrong-claims ones as `consort receipt verify` does;
#   - the installed consort sandbox runs the template built out of the tree,
#     and the receipt of one of its writes verifies with that client;
#   - the man pages render without warnings and name every group, verb,
#     option and configuration member that consort, consortd and the
#     configuration parser know;
#   - systemd-analyze accepts the unit, whose hardening leaves an exposure
#     level under 2.0, and systemd-sysusers creates its user (skipped,
#     saying why, without systemd);
#   - the example configuration is one the installed consortd accepts.
set -u
SRC=${1:?usage: test_install.sh SOURCE_DIR BUILD_DIR}
B=${2:?usage: test_install.sh SOURCE_DIR BUILD_DIR}
WORK=$(mktemp -d /tmp/consort-install.XXXXXX)
P=$WORK/prefix
SANDBOX_PID=
cleanup() {
    [ -n "$SANDBOX_PID" ] && kill -TERM "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
. "$(dirname "$0")/../util/shtest.sh"

# run LOG command...: runs it with its output in LOG; shows LOG if it fails.
run() {
    local log=$1
    shift
    if "$@" >"$log" 2>&1; then return 0; fi
    local rc=$?
    echo "command failed ($rc): $*"
    sed 's/^/  | /' "$log"
    return "$rc"
}

# ---- make install PREFIX=... ----
if ! run install.log make -C "$SRC" install BUILD="$B" PREFIX="$P"; then
    fail "make install PREFIX=$P"
    exit 1
fi
for f in bin/consort bin/consortd include/consort/app.h include/consort/client.h \
    include/consort/error.h lib/libconsort.so.0.1.0 lib/libconsort.a lib/pkgconfig/consort.pc \
    share/man/man1/consort.1 share/man/man8/consortd.8 lib/systemd/system/consortd.service \
    lib/sysusers.d/consort.conf lib/consort/logging.so share/doc/consort/examples/consortd.json \
    share/doc/consort/examples/template/app.c share/doc/consort/examples/template/Makefile; do
    [ -f "$P/$f" ] || fail "make install did not install $f"
done
[ "$(readlink "$P/lib/libconsort.so.0")" = libconsort.so.0.1.0 ] ||
    fail "libconsort.so.0 -> $(readlink "$P/lib/libconsort.so.0"), expected libconsort.so.0.1.0"
[ "$(readlink "$P/lib/libconsort.so")" = libconsort.so.0 ] ||
    fail "libconsort.so -> $(readlink "$P/lib/libconsort.so"), expected libconsort.so.0"
ok "make install PREFIX: $(find "$P" -type f | wc -l) files"

# ---- DESTDIR stages the files of PREFIX ----
if run destdir.log make -C "$SRC" install BUILD="$B" PREFIX=/opt/consort DESTDIR="$WORK/stage"; then
    staged=$(cd "$WORK/stage/opt/consort" && find . -type f -o -type l | sort)
    installed=$(cd "$P" && find . -type f -o -type l | sort)
    [ "$staged" = "$installed" ] || fail "DESTDIR staged other files than PREFIX installed"
    [ "$(ls "$WORK/stage")" = opt ] || fail "DESTDIR: files outside the prefix: $(ls "$WORK/stage")"
    grep -qx 'prefix=/opt/consort' "$WORK/stage/opt/consort/lib/pkgconfig/consort.pc" ||
        fail "DESTDIR: consort.pc does not say prefix=/opt/consort"
    grep -qx 'ExecStart=/opt/consort/bin/consortd --config /etc/consort/consortd.json' \
        "$WORK/stage/opt/consort/lib/systemd/system/consortd.service" ||
        fail "DESTDIR: the unit does not run /opt/consort/bin/consortd"
    ok "make install DESTDIR: the same files, for the prefix /opt/consort"
else
    fail "make install DESTDIR=..."
fi

export PKG_CONFIG_PATH=$P/lib/pkgconfig
unset PKG_CONFIG_LIBDIR
version=$("$P/bin/consort" --version | awk '{print $2}')
[ "$(pkg-config --modversion consort)" = "$version" ] ||
    fail "pkg-config --modversion consort: '$(pkg-config --modversion consort)', consort is $version"
[ "$(pkg-config --variable=libdir consort)" = "$P/lib" ] ||
    fail "pkg-config libdir: $(pkg-config --variable=libdir consort)"

# ---- the soname and the exported symbols ----
soname=$(readelf -d "$P/lib/libconsort.so.0.1.0" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libconsort.so.0 ] || fail "soname '$soname', expected libconsort.so.0"
# what the public headers declare (CONSORT_EXPORT ... name(...))
python3 - "$P/include/consort/client.h" "$P/include/consort/error.h" >declared.txt <<'EOF'
import re, sys
for path in sys.argv[1:]:
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    for m in re.finditer(r"\bCONSORT_EXPORT\b[^;{(]*?\b(consort_\w+)\s*\(", text):
        print(m.group(1))
EOF
sort -o declared.txt declared.txt
nm -D --defined-only "$P/lib/libconsort.so.0.1.0" | awk '$2 != "A" {print $3}' | sed 's/@.*//' |
    sort >exported.txt
nm -g --defined-only "$P/lib/libconsort.a" | awk 'NF == 3 {print $3}' | sort >archived.txt
if [ "$(wc -l <declared.txt)" -lt 7 ]; then
    fail "found only $(wc -l <declared.txt) declared functions in client.h and error.h"
elif ! diff declared.txt exported.txt >diff.txt; then
    fail "libconsort.so exports other symbols than client.h and error.h declare:"
    sed 's/^/  | /' diff.txt
elif ! diff declared.txt archived.txt >diff.txt; then
    fail "libconsort.a defines other global symbols than client.h and error.h declare:"
    sed 's/^/  | /' diff.txt
else
    ok "soname $soname; exported: $(tr '\n' ' ' <exported.txt)"
fi

# ---- the application modules, out of the tree ----
# module NAME: checks NAME.so exports only the ABI's entry points and that the
# installed consortd loads it (--code-id loads and measures it as a node does).
module() {
    local so=$1 exports
    exports=$(nm -D --defined-only "$so" | awk '{print $3}' | sort | tr '\n' ' ')
    case "$exports" in
    "consort_app_abi_version consort_app_init " | "consort_app_abi_version consort_app_fini consort_app_init ") ;;
    *) fail "$so exports '$exports'" ;;
    esac
    if run codeid.log "$P/bin/consortd" --code-id --app "$so" &&
        grep -qxE '[0-9a-f]{64}' codeid.log; then
        ok "$so built out of the tree; the installed consortd loads it (code id $(head -c 16 codeid.log)...)"
    else
        fail "the installed consortd does not load $so"
    fi
}
mkdir logging
cp "$SRC/samples/logging/logging.c" logging/
# shellcheck disable=SC2046 # word splitting of pkg-config's flags is intended
if run logging.log cc -std=c17 -O2 -Wall -Wextra -Werror -fPIC -fvisibility=hidden -shared \
    -o logging/logging.so logging/logging.c $(pkg-config --cflags consort) \
    $(pkg-config --cflags --libs jansson); then
    module logging/logging.so
else
    fail "the logging sample does not build with pkg-config --cflags consort"
fi
cp -r "$P/share/doc/consort/examples/template" template
if run template.log make -C template CFLAGS="-O2 -Wall -Wextra -Werror"; then
    module template/app.so
else
    fail "the installed template does not build with its Makefile"
fi

# ---- a client, out of the tree ----
cat >verify_receipt.c <<'EOF'
/* verify_receipt RECEIPT SERVICE_CERT [CLAIMS_HEX]: prints OK, or the error's
 * name, category and message; exit 0 iff the receipt verifies. */
#include <consort/client.h>

#include <stdio.h>
#include <stdlib.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    static char buf[2][1 << 20];
    static int which;
    char *b = buf[which++];
    *len = fread(b, 1, sizeof buf[0], f);
    fclose(f);
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    size_t rlen, clen;
    const char *receipt = slurp(argv[1], &rlen);
    const char *cert = slurp(argv[2], &clen);
    uint8_t digest[CONSORT_CLAIMS_DIGEST_LEN];
    consort_receipt_expect expect = {0};
    if (argc > 3) {
        for (int i = 0; i < CONSORT_CLAIMS_DIGEST_LEN; i++)
            if (sscanf(argv[3] + 2 * i, "%2hhx", &digest[i]) != 1)
                return 2;
        expect.claims_digest = digest;
    }
    char err[512];
    consort_err rc = consort_receipt_verify_ex(receipt, rlen, cert, clen, &expect, err, sizeof err);
    if (rc == CONSORT_OK) {
        printf("OK\n");
        return 0;
    }
    printf("%s (%s): %s\n", consort_err_name(rc),
           consort_err_category_name(consort_err_category_of(rc)), err);
    return 1;
}
EOF
# shellcheck disable=SC2046
run client.log cc -std=c17 -Wall -Wextra -Werror -o verify_receipt verify_receipt.c \
    $(pkg-config --cflags --libs consort) || fail "the client does not build with pkg-config"
# static: libconsort.a, and what consort.pc's Requires.private and
# Libs.private add for it
static_libs=$(pkg-config --static --libs consort | sed 's/-lconsort\b/-l:libconsort.a/')
# shellcheck disable=SC2046,SC2086 # word splitting of pkg-config's flags is intended
run static.log cc -std=c17 -Wall -Wextra -Werror -o verify_receipt_static verify_receipt.c \
    $(pkg-config --cflags consort) $static_libs ||
    fail "the client does not link statically with pkg-config --static ($static_libs)"
# and without them it cannot: the static link above needed what they add
# shellcheck disable=SC2046
if cc -std=c17 -o nostatic verify_receipt.c $(pkg-config --cflags consort) \
    $(pkg-config --libs consort | sed 's/-lconsort\b/-l:libconsort.a/') >nostatic.log 2>&1; then
    fail "libconsort.a linked without its private dependencies: the static check checks nothing"
fi
if readelf -d verify_receipt | grep -q 'NEEDED.*\[libconsort\.so\.0\]'; then
    ok "client linked against libconsort.so.0"
else
    fail "the client does not need libconsort.so.0"
fi
if readelf -d verify_receipt_static | grep -q 'NEEDED.*libconsort'; then
    fail "the static client still needs libconsort.so"
else
    ok "static client linked with: $static_libs"
fi

# verify EXPECT RECEIPT CERT [CLAIMS]: both clients and `consort receipt
# verify` agree: EXPECT is OK, or the error name the clients print.
verify() {
    local want=$1 receipt=$2 cert=$3 claims=${4:-} got got_static cli=0
    got=$(LD_LIBRARY_PATH=$P/lib ./verify_receipt "$receipt" "$cert" ${claims:+"$claims"} 2>&1)
    got_static=$(env -u LD_LIBRARY_PATH ./verify_receipt_static "$receipt" "$cert" ${claims:+"$claims"} 2>&1)
    "$P/bin/consort" receipt verify "$receipt" --service-cert "$cert" \
        ${claims:+--claims-digest "$claims"} >cli.log 2>&1 || cli=$?
    case "$got" in "$want"*) ;; *) fail "$receipt: the client says '$got', expected $want" ;; esac
    [ "$got_static" = "$got" ] || fail "$receipt: the static client says '$got_static', the shared '$got'"
    if [ "$want" = OK ]; then
        [ "$cli" -eq 0 ] || fail "$receipt: consort receipt verify exits $cli where the client says OK"
    else
        [ "$cli" -eq 1 ] || fail "$receipt: consort receipt verify exits $cli where the client says $want"
    fi
    echo "  $receipt: $got"
}
GEN=$B/tests/gen_ledger
if run gen.log "$GEN" gen --entries 12 --sig-every 5; then
    n=0
    for r in gen/receipts/*.json; do
        s=$(basename "$r" .json)
        verify OK "$r" gen/service_cert.pem "$(cat "gen/claims/$s.hex")"
        n=$((n + 1))
    done
    [ "$n" -ge 3 ] || fail "gen_ledger wrote $n receipts"
    r=$(find gen/receipts -name '*.json' | sort | head -1)
    s=$(basename "$r" .json)
    verify BAD_CERTIFICATE gen/other_receipt.json gen/service_cert.pem
    wrong=$(tr 0-9a-f 1-9a-f0 <"gen/claims/$s.hex")
    verify POLICY "$r" gen/service_cert.pem "$wrong"
    # one altered hex digit of the write set digest: the root no longer matches
    python3 - "$r" altered.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = r["leaf_components"]["write_set_digest"]
r["leaf_components"]["write_set_digest"] = ("1" if d[0] == "0" else "0") + d[1:]
json.dump(r, open(sys.argv[2], "w"))
PY
    cmp -s "$r" altered.json && fail "altered.json is not altered"
    verify BAD_SIGNATURE altered.json gen/service_cert.pem
    ok "receipts: genuine ones verify, altered, foreign and wrong-claims ones do not"
else
    fail "gen_ledger"
fi

# ---- the installed sandbox runs the template; its receipt verifies ----
if [ -f template/app.so ]; then
    "$P/bin/consort" sandbox --nodes 1 --workspace "$WORK/sbx" --app "$WORK/template/app.so" \
        >sbx.out 2>sbx.err &
    SANDBOX_PID=$!
    ready=
    for _ in $(seq 600); do
        grep -q '^READY ' sbx.out && ready=1 && break
        kill -0 "$SANDBOX_PID" 2>/dev/null || break
        sleep 0.2
    done
    if [ -z "$ready" ]; then
        fail "the installed sandbox did not become ready with the template"
        sed 's/^/  | /' sbx.out sbx.err
    else
        node=$(awk '/^READY /{print $2}' sbx.out)
        W=$WORK/sbx
        CURL=(curl -sS --cacert "$W/service_cert.pem" --cert "$W/user0_cert.pem"
            --key "$W/user0_privk.pem")
        "${CURL[@]}" -D post.hdr -o post.body -X POST "https://$node/app/counter?name=visits"
        "${CURL[@]}" -D post2.hdr -o post2.body -X POST "https://$node/app/counter?name=visits"
        "${CURL[@]}" -o get.body "https://$node/app/counter?name=visits"
        "${CURL[@]}" -o missing.body -w '%{http_code}' "https://$node/app/counter?name=none" >missing.code
        txid=$(tr -d '\r' <post2.hdr | awk 'tolower($1) == "x-consort-txid:" {print $2}')
        grep -q '"value": 2' post2.body || fail "second POST /app/counter: $(cat post2.body)"
        grep -q '"value": 2' get.body || fail "GET /app/counter: $(cat get.body)"
        [ "$(cat missing.code)" = 404 ] || fail "GET of a missing counter: $(cat missing.code)"
        grep -q '"NOT_FOUND"' missing.body || fail "missing counter: $(cat missing.body)"
        # a receipt exists once a signature covers the write (sig_interval_ms)
        code=
        for _ in $(seq 100); do
            code=$("${CURL[@]}" -o receipt.json -w '%{http_code}' \
                "https://$node/app/receipt?transaction_id=$txid")
            [ "$code" = 202 ] || break
            sleep 0.1
        done
        if [ -n "$txid" ] && [ "$code" = 200 ]; then
            verify OK receipt.json "$W/service_cert.pem"
            [ -f gen/service_cert.pem ] && verify BAD_CERTIFICATE receipt.json gen/service_cert.pem
            ok "the installed sandbox runs the template; the receipt of $txid verifies"
        else
            fail "no receipt for txid '$txid' (HTTP $code): $(cat receipt.json 2>/dev/null)"
        fi
        kill -TERM "$SANDBOX_PID"
        wait "$SANDBOX_PID" || fail "the sandbox exited with $?"
        SANDBOX_PID=
    fi
fi

# ---- the man pages ----
for page in "$P/share/man/man1/consort.1" "$P/share/man/man8/consortd.8"; do
    grep -q "^\.TH .* \"consort $version\"" "$page" || fail "$page is not for consort $version"
    groff -ww -z -man -Tutf8 "$page" >groff.log 2>&1 || fail "groff $page: exit $?"
    [ -s groff.log ] && fail "groff warns about $page: $(cat groff.log)"
    MANWIDTH=80 man -l "$page" >page.txt 2>man.log || fail "man -l $page: exit $?"
    [ "$(wc -l <page.txt)" -gt 50 ] || fail "man -l $page renders $(wc -l <page.txt) lines"
done
# every group, verb and option of consort is in consort(1)
# plain text, no hyphenation, long lines
render() { groff -man -Tutf8 -rHY=0 -rLL=300n -P-cbou "$1" 2>/dev/null; }
render "$P/share/man/man1/consort.1" >consort.txt
groups=$("$P/bin/consort" --help | awk '/^groups:/{on=1; next} on && /^  [a-z]/{print $1}')
[ "$(echo "$groups" | wc -w)" -ge 10 ] || fail "consort --help lists only: $groups"
for g in $groups; do
    grep -qE "^ +consort $g" consort.txt || fail "consort(1) has no section for group '$g'"
    verbs=$("$P/bin/consort" "$g" --help 2>/dev/null | awk '/^verbs:/{on=1; next} on && /^  [a-z]/{print $1}')
    for v in "" $verbs; do
        for opt in $("$P/bin/consort" "$g" ${v:+"$v"} --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
            grep -qF -- "$opt" consort.txt || fail "consort(1) does not name $opt of consort $g $v"
        done
        [ -z "$v" ] || grep -qE "consort $g.* $v\b|consort $g $v" consort.txt ||
            fail "consort(1) does not name the verb '$g $v'"
    done
done
# every option of consortd, every configuration member of the parser is in consortd(8)
render "$P/share/man/man8/consortd.8" >consortd.txt
for opt in $("$P/bin/consortd" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    grep -qF -- "$opt" consortd.txt || fail "consortd(8) does not name $opt"
done
members=$(grep -oE 'strcmp\(key, "[a-z_]+"\)' "$SRC/src/node/node_config.c" | sed 's/.*"\(.*\)".*/\1/' | sort -u)
[ "$(echo "$members" | wc -w)" -ge 30 ] || fail "found only $(echo "$members" | wc -w) configuration members"
for m in $members; do
    grep -qw -- "$m" consortd.txt || fail "consortd(8) does not name the configuration member $m"
done
ok "the man pages render without warnings and name every verb, option and member"

# ---- the systemd unit ----
UNIT=$P/lib/systemd/system/consortd.service
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify checks the binary exists and man:consortd(8) resolves
    if MANPATH=$P/share/man systemd-analyze verify "$UNIT" >verify.log 2>&1 && [ ! -s verify.log ]; then
        ok "systemd-analyze verify accepts consortd.service"
    else
        fail "systemd-analyze verify consortd.service: $(cat verify.log)"
    fi
    systemd-analyze security --offline=true "$UNIT" >security.log 2>&1
    level=$(sed -n 's/.*Overall exposure level for consortd.service: \([0-9.]*\).*/\1/p' security.log)
    if [ -n "$level" ] && awk -v l="$level" 'BEGIN {exit !(l < 2.0)}'; then
        ok "consortd.service exposure level $level (systemd-analyze security)"
    else
        fail "consortd.service exposure level '$level', expected under 2.0: $(tail -3 security.log)"
    fi
    # the user the unit runs as, created in a scratch root as systemd-sysusers would
    mkdir -p sysroot/etc
    if run sysusers.log systemd-sysusers --root="$WORK/sysroot" "$P/lib/sysusers.d/consort.conf" &&
        grep -q '^consort:x:[0-9]*:[0-9]*:.*:/var/lib/consort:' sysroot/etc/passwd &&
        grep -qx 'User=consort' "$UNIT"; then
        ok "systemd-sysusers creates the user consort that the unit runs as"
    else
        fail "consort.conf (sysusers.d) does not create the unit's user: $(cat sysroot/etc/passwd)"
    fi
else
    skip "systemd-analyze is not installed (package systemd): consortd.service not verified"
fi

# ---- the example configuration ----
EXAMPLE=$P/share/doc/consort/examples/consortd.json
if run example.log "$P/bin/consortd" --code-id --config "$EXAMPLE"; then
    want=$("$P/bin/consortd" --code-id --app "$P/lib/consort/logging.so")
    [ "$(cat example.log)" = "$want" ] ||
        fail "the example's code id is not the installed logging sample's"
    ok "the installed consortd accepts the example configuration"
else
    fail "the installed consortd refuses the example configuration"
fi

finish "all ok"
