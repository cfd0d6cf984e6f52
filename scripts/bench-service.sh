#!/usr/bin/env bash
# The service benchmark (bench/service, bench_service): committed writes and
# reads against a 3-node `consort sandbox` and a 3-member etcd cluster
# (Debian's etcd-server, JSON gateway, data on disk, default fsync), in the
# same run, on the same machine, with the same generator and parameters.
#
#   scripts/bench-service.sh BUILD_DIR [bench_service options...]
#
# Everything listens on 127.0.0.1 only, lives in one temporary directory
# (on the same file system for both services) and is stopped on exit.
# etcd is configured like consort's client side: TLS 1.3-capable HTTPS on
# its client URLs with client-certificate authentication (one test CA made
# here), and TLS between its members, so both services pay for TLS.
# Environment: BENCH_SERVICE_DIR (parent of the temporary directory, default
# /tmp), BENCH_SERVICE_KEEP=1 keeps the directory, BENCH_SERVICE_ETCD_ONLY=1
# skips consort, BENCH_SERVICE_NODE_OPTIONS="name=value ..." passes node
# configuration members to every consort node (e.g. "sig_interval_tx=1000"),
# BENCH_SERVICE_ETCD_TLS=0 runs etcd without TLS (plain HTTP
# for clients and peers; for information only: the comparison is then unfair
# to consort).
#
# A serial run (`--connections 1 --depth 1`) ends with the ceiling of any
# serial write on this machine: once both services are stopped,
# bench_raft's bare libraft (3 voters, its own TCP transport, entries
# fsynced, no consort code) commits one 128-byte entry at a time for 5 s,
# and the script prints what 3 x etcd's serial writes/s is as a fraction
# of that (above 1: no service that makes a write durable on a majority
# through libraft can meet the serial goal here). BENCH_SERVICE_CEILING=0
# skips it.
set -euo pipefail

build=${1:?usage: bench-service.sh BUILD_DIR [bench_service options...]}
shift
build=$(cd "$build" && pwd)
gen="$build/bench/bench_service"
consort="$build/tools/consort"
[ -x "$gen" ] || { echo "bench-service: $gen not built (cmake --build $build --target bench_service)" >&2; exit 1; }
command -v etcd >/dev/null || { echo "bench-service: etcd not installed (./scripts/install-deps --bench)" >&2; exit 1; }

work=$(mktemp -d "${BENCH_SERVICE_DIR:-/tmp}/consort-bench-service.XXXXXX")
etcd_pids=()
sandbox_pid=

. "$(dirname "$0")/bench-lib.sh" # stop_pid

node_pids() { # the consortd pids the sandbox recorded
  [ -f "$work/consort/nodes.json" ] || return 0
  python3 -c 'import json,sys; print(" ".join(str(n["pid"]) for n in json.load(open(sys.argv[1]))))' \
    "$work/consort/nodes.json" 2>/dev/null || true
}

stop_services() {
  local p nodes
  nodes=$(node_pids)
  if [ -n "$sandbox_pid" ]; then stop_pid "$sandbox_pid" 30; fi
  for p in $nodes; do stop_pid "$p" 10; done # normally stopped by the sandbox already
  for p in "${etcd_pids[@]}"; do stop_pid "$p" 15; done
  sandbox_pid=
  etcd_pids=()
}

cleanup() {
  local rc=$?
  stop_services
  if [ "${BENCH_SERVICE_KEEP:-0}" = 1 ]; then
    echo "bench-service: kept $work"
  else
    rm -rf "$work"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() { # N distinct free loopback ports
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# ---- TLS material for etcd: one CA, a server/peer certificate, a client certificate (P-256)
make_certs() {
  local d=$work/tls
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
      -days 2 -subj /CN=bench-service-ca -addext basicConstraints=critical,CA:TRUE \
      -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
      -subj /CN=etcd
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
      -extfile server.ext
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr \
      -subj /CN=bench-client
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 \
      -extfile client.ext
  ) >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; return 1; }
}

# ---- etcd: 3 members on loopback, TLS for clients and peers, default fsync
etcd_endpoints=
etcd_urls=
etcd_tls=${BENCH_SERVICE_ETCD_TLS:-1}
start_etcd() {
  local ports cluster="" i cp pp t=$work/tls scheme=https tls=() ctl=()
  if [ "$etcd_tls" = 1 ]; then
    tls=(--cert-file "$t/server.pem" --key-file "$t/server.key" --client-cert-auth
      --trusted-ca-file "$t/ca.pem" --peer-cert-file "$t/server.pem" --peer-key-file "$t/server.key"
      --peer-client-cert-auth --peer-trusted-ca-file "$t/ca.pem")
    ctl=(--cacert "$t/ca.pem" --cert "$t/client.pem" --key "$t/client.key")
  else
    scheme=http
  fi
  read -r -a ports <<<"$(free_ports 6)"
  for i in 0 1 2; do
    cluster+="${cluster:+,}m$i=$scheme://127.0.0.1:${ports[$((3 + i))]}"
  done
  for i in 0 1 2; do
    cp=${ports[$i]} pp=${ports[$((3 + i))]}
    etcd --name "m$i" --data-dir "$work/etcd/m$i" \
      --listen-client-urls "$scheme://127.0.0.1:$cp" --advertise-client-urls "$scheme://127.0.0.1:$cp" \
      --listen-peer-urls "$scheme://127.0.0.1:$pp" --initial-advertise-peer-urls "$scheme://127.0.0.1:$pp" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token consort-bench \
      "${tls[@]}" --logger zap --log-level warn >"$work/etcd-m$i.log" 2>&1 &
    etcd_pids+=($!)
    etcd_endpoints+="${etcd_endpoints:+,}127.0.0.1:$cp"
    etcd_urls+="${etcd_urls:+,}$scheme://127.0.0.1:$cp"
  done
  local deadline=$((SECONDS + 60))
  until ETCDCTL_API=3 etcdctl --endpoints="$etcd_urls" "${ctl[@]}" --command-timeout=2s \
      endpoint health >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "bench-service: etcd not healthy after 60 s; logs:" >&2
      tail -n 5 "$work"/etcd-m*.log >&2
      return 1
    fi
    sleep 0.5
  done
}

# ---- consort: `consort sandbox --nodes 3`, waits for its READY line
consort_endpoints=
start_consort() {
  if [ "${BENCH_SERVICE_ETCD_ONLY:-0}" = 1 ]; then
    echo "bench-service: BENCH_SERVICE_ETCD_ONLY=1: consort skipped"
    return 1
  fi
  if [ ! -x "$consort" ] || ! "$consort" sandbox --help >/dev/null 2>&1; then
    echo "bench-service: '$consort sandbox' is not available in this build: consort skipped"
    return 1
  fi
  node_opts=()
  for o in ${BENCH_SERVICE_NODE_OPTIONS:-}; do node_opts+=(--node-option "$o"); done
  "$consort" sandbox --nodes 3 --workspace "$work/consort" "${node_opts[@]}" \
    >"$work/sandbox.out" 2>"$work/sandbox.err" &
  sandbox_pid=$!
  local deadline=$((SECONDS + 180))
  until grep -q '^READY ' "$work/sandbox.out" 2>/dev/null; do
    if ! kill -0 "$sandbox_pid" 2>/dev/null || ((SECONDS > deadline)); then
      echo "bench-service: consort sandbox did not become ready; its stderr ends with:"
      tail -n 15 "$work/sandbox.err" | sed 's/^/  /'
      return 1
    fi
    sleep 0.5
  done
  consort_endpoints=$(python3 -c 'import json,sys; print(",".join(n["rpc_address"] for n in json.load(open(sys.argv[1]))))' \
    "$work/consort/nodes.json")
}

echo "bench-service: $(etcd --version | head -n 1), data in $work ($(findmnt -n -o FSTYPE -T "$work"))"
make_certs
start_etcd
args=(--etcd "$etcd_endpoints" --etcd-pids "$(IFS=,; echo "${etcd_pids[*]}")")
if [ "$etcd_tls" = 1 ]; then
  args+=(--etcd-ca "$work/tls/ca.pem" --etcd-cert "$work/tls/client.pem" --etcd-key "$work/tls/client.key")
  echo "bench-service: etcd members at $etcd_endpoints (pids ${etcd_pids[*]}), TLS with client certificates"
else
  echo "bench-service: etcd members at $etcd_endpoints (pids ${etcd_pids[*]}), PLAIN HTTP (BENCH_SERVICE_ETCD_TLS=0)"
fi
if start_consort; then
  ws=$work/consort
  args+=(--consort "$consort_endpoints" --consort-ca "$ws/service_cert.pem"
    --consort-cert "$ws/user0_cert.pem" --consort-key "$ws/user0_privk.pem"
    --consort-pids "$(node_pids | tr ' ' ',')")
  echo "bench-service: consort nodes at $consort_endpoints (pids $(node_pids))"
else
  echo "bench-service: running against etcd only; the comparison will say 'not measured'"
fi
echo
serial=0
case " $* " in *" --connections 1 "*) case " $* " in *" --depth 1 "*) serial=1 ;; esac ;; esac
[ "${BENCH_SERVICE_CEILING:-1}" = 1 ] || serial=0
if [ "$serial" = 0 ]; then
  "$gen" "${args[@]}" "$@"
  exit
fi
rc=0
"$gen" "${args[@]}" "$@" | tee "$work/gen.out" || rc=$?
stop_services
raft="$build/bench/bench_raft"
if [ ! -x "$raft" ]; then
  echo "bench-service: $raft not built: no serial ceiling"
  exit $rc
fi
echo
echo "serial ceiling: bare libraft, one entry in flight (bench_raft 5 1 1 128 bare, services stopped)"
BENCH_RAFT_DIR="$work" "$raft" 5 1 1 128 bare | tee "$work/raft.out"
python3 - "$work/gen.out" "$work/raft.out" <<'EOF'
import re, sys
gen, raft = (open(f).read() for f in sys.argv[1:3])
def rate(pat, text):
    m = re.findall(pat, text)
    return float(m[-1]) if m else None
etcd = rate(r"etcd put \(committed\)\s+(\d+) ops/s", gen)
consort = rate(r"consort write \(committed\)\s+(\d+) ops/s", gen)
bare = rate(r"bare libraft \(raft_uv_tcp\)\s+([\d.]+)", raft)
if etcd is None or bare is None or bare <= 0:
    print("  serial ceiling: not computed (a rate is missing)")
    sys.exit(0)
print(f"  bare libraft serial commits/s {bare:9.0f}")
print(f"  3 x etcd's serial writes/s    {3 * etcd:9.0f}  = {3 * etcd / bare:.2f} of the ceiling")
if consort is not None:
    print(f"  consort's serial writes/s     {consort:9.0f}  = {consort / bare:.2f} of the ceiling")
EOF
exit $rc
