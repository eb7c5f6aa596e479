# Shared by the e2e scripts (sourced after START and LIMIT are set): progress lines with the
# elapsed seconds, a bounded run, a command inside a namespace, and tearing namespaces down.

# A progress line, `[ 12s] text`, on stdout (SAY_FD=2: on stderr, for scripts whose stdout is data).
say() { printf '[%3ds] %s\n' "$((SECONDS - START))" "$*" >&"${SAY_FD:-1}"; }
# Fails the test with a reason.
die() { say "FAIL: $*"; exit 1; }
# Fails once the script's time budget (LIMIT seconds) is spent: every loop calls it.
in_time() { [ $((SECONDS - START)) -lt "$LIMIT" ] || die "time limit of ${LIMIT}s reached"; }
# Runs a command in a namespace.
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# Deletes the namespaces that exist among the arguments, their processes first (TERM, then KILL).
ns_purge() {
  local ns pid
  for ns in "$@"; do
    ip netns list | grep -qw "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    sleep 0.1
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  return 0
}

# Tears a one-lvsd script down on exit (set by `lvsd_trap NS...`): stops lvsd (LVSD_PID),
# deletes the namespaces, shows lvsd's stderr ($WORK/lvsd.err) when the script failed, removes
# WORK, and keeps the script's exit status.
lvsd_cleanup() {
  local rc=$?
  set +e
  [ -n "${LVSD_PID:-}" ] && kill "$LVSD_PID" 2>/dev/null
  ns_purge "${TRAP_NS[@]}"
  if [ "$rc" != 0 ]; then
    echo "---- lvsd stderr ----"; tail -30 "$WORK/lvsd.err" 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
# Arms lvsd_cleanup for the namespaces given.
lvsd_trap() {
  TRAP_NS=("$@")
  trap lvsd_cleanup EXIT INT TERM
}

# The client -- director -- server namespaces (IPv4 only): c0 198.18.0.2/24 in NS_C and s0
# RS/24 in NS_S, routed through the director's 198.18.0.1 and 198.18.1.1; the director's d0 and
# d1 up without addresses (lvsd answers for its own).
three_ns() { # NS_C NS_D NS_S RS
  local ns
  for ns in "$1" "$2" "$3"; do
    ip netns add "$ns"
    nsx "$ns" ip link set lo up
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  ip link add c0 netns "$1" type veth peer name d0 netns "$2"
  ip link add d1 netns "$2" type veth peer name s0 netns "$3"
  nsx "$1" ip addr add 198.18.0.2/24 dev c0
  nsx "$1" ip link set c0 up
  nsx "$1" ip route add default via 198.18.0.1
  nsx "$3" ip addr add "$4"/24 dev s0
  nsx "$3" ip link set s0 up
  nsx "$3" ip route add default via 198.18.1.1
  nsx "$2" ip link set d0 up
  nsx "$2" ip link set d1 up
}

# Serves the files of DIR on ADDR:80 in namespace NS for at most LIFE seconds, in the
# background: a quiet threaded HTTP server with a long accept queue (http.server's default of
# 5 drops handshakes when many downloads start at once).
serve_dir() { # NS DIR ADDR LIFE
  cat > "$WORK/serve_dir.py" <<'EOF_PY'
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
Server((sys.argv[2], 80), functools.partial(Quiet, directory=sys.argv[1])).serve_forever()
EOF_PY
  nsx "$1" timeout "$4" python3 "$WORK/serve_dir.py" "$2" "$3" > /dev/null 2>&1 &
}

# Prints `TAG workers=N LABEL0=v0 LABEL1=v1 ...` from each worker's own `worker<k>.NAME` line of
# `ctl status` (the script's `ctl`), and fails when a worker's is 0: "worker k WHAT".
worker_counts() { # TAG N LABEL NAME WHAT
  local tag=$1 n=$2 label=$3 name=$4 what=$5 st k v out=()
  st=$(ctl status)
  for k in $(seq 0 $((n - 1))); do
    v=$(awk -v k="worker$k.$name" '$1 == k { print $2 }' <<<"$st")
    out+=("$label$k=${v:-0}")
    [ "${v:-0}" -gt 0 ] || die "worker $k $what"
  done
  echo "$tag workers=$n ${out[*]}"
}
