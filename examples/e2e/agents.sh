#!/usr/bin/env bash
# End-to-end test of lvsd's load agents: two real servers, each with a 512 MB memory cgroup
# and `lvs_agent` reporting it every second to lvsd (UDP, HMAC-SHA256); a memory hog (python,
# 320 MB for at most 40 s) starts in one server's cgroup; within three report periods lvsd's
# feedback controller lowers that server's weight and new connections shift to the other.
#
#   agents.sh /path/to/lvsd /path/to/lvs_agent     (as root; about 30 s)
#
# Topology (198.18.0.0/15 only):  client c0 198.18.0.2 -- [br] -- d0 lvsd (198.18.0.1, VIP
# 198.18.0.10, wrr) d1 198.18.1.1 -- [br] -- rs1 198.18.1.11, rs2 198.18.1.12 (NAT, gateway
# 198.18.1.1). The agents send to 198.18.1.1:4455, which lvsd takes on its packet path.
# Prints `AGENT weight_before=<n> weight_after=<n>`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: agents.sh /path/to/lvsd /path/to/lvs_agent}
AGENT=${2:?usage: agents.sh /path/to/lvsd /path/to/lvs_agent}
cant() {
  if [ "${CI:-}" = true ]; then echo "FAIL: agents test cannot run under CI: $*"; exit 1; fi
  echo "SKIPPED: agents test: $*"; exit 0
}
[ "$(id -u)" = 0 ] || cant "needs root"
for t in ip curl python3; do command -v $t >/dev/null || cant "$t is not installed"; done
CGROOT=/sys/fs/cgroup/memory
[ -w "$CGROOT" ] || CGROOT=/sys/fs/cgroup
P=ha-a$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s NS_R1=$P-r1 NS_R2=$P-r2
ALL_NS="$NS_C $NS_D $NS_S $NS_R1 $NS_R2"
WORK=$(mktemp -d /tmp/ha-agents.XXXXXX)
START=$SECONDS
LIMIT=120
D_PID= HOG_PID=
PERIOD=1
VIP=198.18.0.10
CGS=()

cleanup() {
  local rc=$?
  set +e
  [ -n "$HOG_PID" ] && kill "$HOG_PID" 2>/dev/null
  [ -n "$D_PID" ] && kill "$D_PID" 2>/dev/null
  ns_purge $ALL_NS
  sleep 0.2
  for cg in "${CGS[@]}"; do rmdir "$cg" 2>/dev/null; done
  if [ "$rc" != 0 ]; then
    echo "---- lvsd stderr ----"; tail -20 "$WORK/d.err" 2>/dev/null
    echo "---- lvsd status ----"; cat "$WORK/d.status" 2>/dev/null
    for i in 1 2; do echo "---- agent rs$i ----"; tail -5 "$WORK/agent$i.out" 2>/dev/null; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

ctl() { "$LVSD" ctl "$WORK/d.sock" "$@"; }
stat_of() {
  ctl status > "$WORK/d.status" || die "status failed"
  awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$WORK/d.status"
}
weight_of() { # RS address: its weight in the listing
  ctl -L -n | awk -v r="$1:80" '$1 == "->" && $2 == r { print $4 }'
}
share_rs1() { # N: requests through the VIP, how many rs1 answered
  local n=$1 k=0 i w
  for i in $(seq 1 "$n"); do
    w=$(nsx "$NS_C" curl -sf --max-time 2 "http://$VIP/name") || die "request $i failed"
    [ "$w" = rs1 ] && k=$((k + 1))
  done
  echo $k
}

say "topology: client, lvsd, two real servers with 512 MB memory cgroups and agents"
for ns in $ALL_NS; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0
done
nsx "$NS_S" ip link add brc type bridge
nsx "$NS_S" ip link add brr type bridge
nsx "$NS_S" ip link set brc up
nsx "$NS_S" ip link set brr up
ip link add c0 netns "$NS_C" type veth peer name sc netns "$NS_S"
nsx "$NS_S" ip link set sc master brc up
ip link add d0 netns "$NS_D" type veth peer name sd0 netns "$NS_S"
ip link add d1 netns "$NS_D" type veth peer name sd1 netns "$NS_S"
nsx "$NS_S" ip link set sd0 master brc up
nsx "$NS_S" ip link set sd1 master brr up
nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.d0.disable_ipv6=1 \
  net.ipv6.conf.d1.disable_ipv6=1
nsx "$NS_D" ip link set d0 up
nsx "$NS_D" ip link set d1 up
nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip link set c0 up

head -c 24 /dev/urandom | base64 > "$WORK/key"
for i in 1 2; do
  ns=$P-r$i
  ip link add eth0 netns "$ns" type veth peer name "s$i" netns "$NS_S"
  nsx "$NS_S" ip link set "s$i" master brr up
  nsx "$ns" ip addr add "198.18.1.1$i/24" dev eth0
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via 198.18.1.1
  mkdir -p "$WORK/rs$i"
  echo "rs$i" > "$WORK/rs$i/name"
  nsx "$ns" python3 -m http.server 80 --bind 0.0.0.0 --directory "$WORK/rs$i" >/dev/null 2>&1 &
  cg=$CGROOT/$P-r$i
  mkdir "$cg"
  CGS+=("$cg")
  if [ -f "$cg/memory.limit_in_bytes" ]; then
    echo $((512 * 1024 * 1024)) > "$cg/memory.limit_in_bytes"
  else
    echo $((512 * 1024 * 1024)) > "$cg/memory.max"
  fi
done
for i in 1 2; do
  for _ in $(seq 1 50); do
    nsx "$P-r$i" curl -s -o /dev/null --max-time 1 http://127.0.0.1/name && break
    sleep 0.1
  done
done

cat > "$WORK/rules" <<EOF
-A -t $VIP:80 -s wrr
-a -t $VIP:80 -r 198.18.1.11:80 -m -w 100
-a -t $VIP:80 -r 198.18.1.12:80 -m -w 100
EOF
nsx "$NS_D" "$LVSD" --rules "$WORK/rules" --iface d0 --iface d1 --addr d0=198.18.0.1/24 \
  --addr d1=198.18.1.1/24 --control "$WORK/d.sock" --agent-key "$WORK/key" \
  --agent-interval $PERIOD > "$WORK/d.out" 2> "$WORK/d.err" &
for _ in $(seq 1 50); do [ -S "$WORK/d.sock" ] && break; sleep 0.1; done
[ -S "$WORK/d.sock" ] || die "lvsd did not start: $(cat "$WORK/d.err")"
D_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/d.err")

# `ip netns exec` mounts a fresh /sys without the cgroup mounts: reach them through this
# shell's root instead
CGVIEW=/proc/$$/root$CGROOT
for i in 1 2; do
  nsx "$P-r$i" "$AGENT" --director 198.18.1.1 --key-file "$WORK/key" --interval $PERIOD \
    --cgroup "$CGVIEW/$P-r$i" -v > "$WORK/agent$i.out" 2>&1 &
done
# a forger: right format, wrong key, from a real server's address
head -c 24 /dev/urandom | base64 > "$WORK/badkey"
nsx "$P-r2" "$AGENT" --director 198.18.1.1 --key-file "$WORK/badkey" --interval 0.5 \
  --count 3 > /dev/null 2>&1 &

say "waiting for reports from both agents"
for _ in $(seq 1 100); do
  in_time
  [ "$(stat_of agent.sources)" -ge 2 ] && [ "$(stat_of agent.accepted)" -ge 6 ] && break
  sleep 0.1
done
[ "$(stat_of agent.accepted)" -ge 6 ] || die "agent reports do not arrive"
sleep 2
before=$(weight_of 198.18.1.11) other_before=$(weight_of 198.18.1.12)
[ -n "$before" ] || die "no weight for rs1"
n1_before=$(share_rs1 40)
say "  both servers idle: weights rs1=$before rs2=$other_before; 40 requests: rs1 got $n1_before"
[ "$(stat_of agent.drop.bad_key)" -ge 1 ] || die "the forged reports were not counted as bad_key"
say "  forged reports dropped: $(stat_of agent.drop.bad_key) (bad key)"

say "memory hog: 320 MB in rs1's cgroup for at most 40 s"
# shellcheck disable=SC2016
nsx "$P-r1" bash -c 'echo $$ > "$1/cgroup.procs"; exec python3 -c "
import time
b = bytearray(320 * 1024 * 1024)
for i in range(0, len(b), 4096):
    b[i] = 1
time.sleep(40)
"' hog "$CGVIEW/$P-r1" &
HOG_PID=$!
# wait until the hog holds its memory, then count three report periods
for _ in $(seq 1 100); do
  in_time
  u=$(cat "$CGROOT/$P-r1/memory.usage_in_bytes" 2>/dev/null || cat "$CGROOT/$P-r1/memory.current")
  [ "$u" -ge $((300 * 1024 * 1024)) ] && break
  sleep 0.05
done
t0=$(date +%s%N)
after=$before
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt $((3 * PERIOD * 1000)) ]; do
  after=$(weight_of 198.18.1.11)
  [ "$after" -lt "$before" ] && break
  sleep 0.1
done
waited=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$after" -lt "$before" ] || die "rs1's weight did not drop within three periods ($before -> $after)"
sleep 1 # let the controller take another step or two
after=$(weight_of 198.18.1.11) other_after=$(weight_of 198.18.1.12)
say "  rs1's weight dropped $waited ms after the hog took its memory: rs1=$after rs2=$other_after"
n1_after=$(share_rs1 40)
say "  40 new requests: rs1 got $n1_after (before the hog: $n1_before)"
[ "$n1_after" -lt "$n1_before" ] || die "new connections did not shift away from rs1"
changes=$(stat_of agent.weight_changes)
kill "$HOG_PID" 2>/dev/null; wait "$HOG_PID" 2>/dev/null || true; HOG_PID=

echo
echo "==== lvsd load agents summary ($((SECONDS - START)) s) ===="
echo "agents: $(stat_of agent.accepted) reports accepted, $(stat_of agent.drop.bad_key) forged dropped, $changes weight changes"
echo "AGENT weight_before=$before weight_after=$after"
echo "AGENTS PASSED"
