#!/usr/bin/env bash
# Health checks end to end: lvsd with --health quiesces a real server whose HTTP process dies,
# then one whose link goes down, under steady client load, and restores each when it returns.
#
#   health.sh /path/to/lvsd        (as root; about a minute; run under flock /tmp/lvs-netns.lock)
#
# Topology (198.18.0.0/15 only; every name starts with hc-):
#
#   client ns            director ns (lvsd)                 switch ns      real servers
#   c0 198.18.0.2 ----- d0 (lvsd: 198.18.0.1, VIP .10)
#                       d1 (lvsd: 198.18.1.1) ------------- br0 ---------- r1 eth0 198.18.1.11
#                       dm 198.18.1.3 (kernel) ------------/     \-------- r2 eth0 198.18.1.12
#
# lvsd forwards on d0/d1 through AF_PACKET; its probes are ordinary sockets of the director
# namespace's kernel, which reaches the real servers through the management leg dm.
#
# Measured: detect_ms, from the failure (HTTP process killed, or link down) until lvsd shows the
# server at weight 0 (polled every 50 ms); failed, the client requests that failed; recovered_ms,
# from the server's return until lvsd shows its weight again. Checked against
# fall*interval+timeout and rise*interval, each + 300 ms for the 50 ms poll of `lvsd ctl -L`
# and scheduling.
#
# Every failed request must have been in flight on the dead server between the failure and its
# detection: its curl ran at some moment in [failure, detection seen] (start <= detection and
# end >= failure: a request stamped just before the failure whose connection was made after
# it counts, one started after the detection does not), and lvsd's connection table, read at
# the detection, has its client port (each request binds its own) going to the dead server.
#
# The service has quorum 2 (both servers, weight 1 each) with quorum-up/quorum-down hooks: each
# failure must run quorum-down and each recovery quorum-up.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: health.sh /path/to/lvsd}
P=hc-$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s NS_R1=$P-r1 NS_R2=$P-r2
WORK=$(mktemp -d /tmp/hc-e2e.XXXXXX)
CTL=$WORK/ctl.sock
START=$SECONDS
LIMIT=150
LVSD_PID=
LOAD_PID=
INTERVAL_MS=1000 TIMEOUT_MS=500 RISE=2 FALL=2 SLACK_MS=300

cleanup() {
  local rc=$?
  set +e
  [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
  [ -n "$LVSD_PID" ] && kill "$LVSD_PID" 2>/dev/null
  ns_purge "$NS_C" "$NS_D" "$NS_S" "$NS_R1" "$NS_R2"
  if [ "$rc" != 0 ]; then
    echo "---- lvsd stderr ----"; tail -40 "$WORK/lvsd.err" 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

ctl() { "$LVSD" ctl "$CTL" "$@"; }
now_ms() { date +%s%3N; }
weight() { ctl -L -n -t 198.18.0.10:80 | awk -v r="$1" '$2 == r { print $4 }'; }
# waits until server $1 has weight $2 (at most $3 ms); prints the time it was seen
wait_weight() {
  local end=$(($(now_ms) + $3))
  while [ "$(now_ms)" -lt "$end" ]; do
    [ "$(weight "$1")" = "$2" ] && { now_ms; return 0; }
    sleep 0.05
  done
  return 1
}
serve() { nsx "$1" python3 -m http.server 80 --bind 0.0.0.0 --directory "$WORK/$2" >/dev/null 2>&1 & }

say "topology: client, director (with a management leg), switch, 2 real servers"
for ns in "$NS_C" "$NS_D" "$NS_S" "$NS_R1" "$NS_R2"; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
nsx "$NS_S" ip link add br0 type bridge
nsx "$NS_S" ip link set br0 up
ip link add c0 netns "$NS_C" type veth peer name d0 netns "$NS_D"
ip link add d1 netns "$NS_D" type veth peer name sd netns "$NS_S"
ip link add dm netns "$NS_D" type veth peer name sm netns "$NS_S"
ip link add eth0 netns "$NS_R1" type veth peer name s1 netns "$NS_S"
ip link add eth0 netns "$NS_R2" type veth peer name s2 netns "$NS_S"
for port in sd sm s1 s2; do nsx "$NS_S" ip link set "$port" master br0 up; done
nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.disable_ipv6=1
nsx "$NS_D" ip link set d0 up
nsx "$NS_D" ip link set d1 up
nsx "$NS_D" ip addr add 198.18.1.3/24 dev dm
nsx "$NS_D" ip link set dm up
nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip link set c0 up
for i in 1 2; do
  ns=$P-r$i
  nsx "$ns" ip addr add "198.18.1.1$i/24" dev eth0
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via 198.18.1.1
  mkdir -p "$WORK/rs$i"
  echo "rs$i" > "$WORK/rs$i/name"
  serve "$ns" "rs$i"
done
for i in 1 2; do
  for _ in $(seq 1 50); do
    nsx "$P-r$i" curl -s -o /dev/null --max-time 1 http://127.0.0.1/name && break
    sleep 0.1
  done
done

cat > "$WORK/rules" <<EOF
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1
-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w 1
EOF
cat > "$WORK/health" <<EOF
# both servers: GET /name must answer 200
check -t 198.18.0.10:80 -r 198.18.1.11:80 interval ${INTERVAL_MS}ms timeout ${TIMEOUT_MS}ms rise $RISE fall $FALL http /name status 200
check -t 198.18.0.10:80 -r 198.18.1.12:80 interval ${INTERVAL_MS}ms timeout ${TIMEOUT_MS}ms rise $RISE fall $FALL http /name status 200
# both servers make the quorum; the hooks log their event and the time
service -t 198.18.0.10:80 quorum 2
quorum-down -t 198.18.0.10:80 echo "\$LVS_EVENT \$LVS_SERVICE \$(date +%s%3N)" >> $WORK/quorum.log
quorum-up -t 198.18.0.10:80 echo "\$LVS_EVENT \$LVS_SERVICE \$(date +%s%3N)" >> $WORK/quorum.log
EOF

say "a health file with a bad line is refused with its line number"
printf 'check -t 198.18.0.10:80 -r 198.18.1.11:80 interval 1s timeout 2s tcp\n' > "$WORK/bad.health"
if "$LVSD" --rules "$WORK/rules" --health "$WORK/bad.health" --check > "$WORK/bad.out" 2>&1; then
  die "lvsd accepted a timeout longer than the interval"
fi
grep -q "line 1: the timeout is longer than the interval" "$WORK/bad.out" \
  || die "no line-1 error: $(cat "$WORK/bad.out")"

say "starting lvsd with health checks"
nsx "$NS_D" "$LVSD" --rules "$WORK/rules" --health "$WORK/health" --iface d0 --iface d1 \
  --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 --control "$CTL" --http 127.0.0.1:19180 \
  > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
for _ in $(seq 1 50); do [ -S "$CTL" ] && break; sleep 0.1; done
[ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err")
sleep 1
[ "$(weight 198.18.1.11:80)" = 1 ] && [ "$(weight 198.18.1.12:80)" = 1 ] \
  || die "servers not at weight 1 at start: $(ctl -L -n)"

# steady bounded load: one request at a time, 20 ms apart, each at most 2 s, each from its own
# client port (30001 up, so that lvsd's connection table tells where it went); a line per
# request: start_ms end_ms code port
touch "$WORK/load.on"
nsx "$NS_C" bash -c '
  end=$(( $(date +%s) + 100 )) i=0
  while [ -e "$1/load.on" ] && [ "$(date +%s)" -lt "$end" ] && [ $i -lt 30000 ]; do
    i=$((i + 1)) p=$((30000 + i))
    t=$(date +%s%3N)
    c=$(curl -s -o /dev/null -w "%{http_code}" --local-port $p --max-time 2 http://198.18.0.10/name || true)
    echo "$t $(date +%s%3N) $c $p"
    sleep 0.02
  done' load "$WORK" > "$WORK/load.log" 2>/dev/null &
LOAD_PID=$!
sleep 3

# /metrics' health gauge of a real server (lvs_backend_health_up), polled up to 3 s for VALUE
health_metric() { # RIP WANT
  local v=""
  for _ in $(seq 1 30); do
    v=$(nsx "$NS_D" curl -s --max-time 2 http://127.0.0.1:19180/metrics \
      | sed -n "s/^lvs_backend_health_up{.*remote_address=\"$1\".*} \([0-9]*\)$/\1/p")
    [ "$v" = "$2" ] && return 0
    sleep 0.1
  done
  say "   /metrics: lvs_backend_health_up for $1 is '$v', not $2"
  return 1
}
health_metric 198.18.1.11 1 && health_metric 198.18.1.12 1 || die "health gauges not 1 at start"

DETECT_BOUND=$((FALL * INTERVAL_MS + TIMEOUT_MS + SLACK_MS))
RECOVER_BOUND=$((RISE * INTERVAL_MS + SLACK_MS))
WINDOWS=""

say "1. stop rs1's HTTP process"
T0=$(now_ms)
for pid in $(ip netns pids "$NS_R1"); do kill "$pid"; done
T=$(wait_weight 198.18.1.11:80 0 10000) || die "rs1 not quiesced within 10 s"
ctl -L -c -n > "$WORK/conns.1"
D1=$((T - T0))
WINDOWS="$WINDOWS $T0:$T:$WORK/conns.1"
say "   quiesced after ${D1} ms (bound ${DETECT_BOUND} ms)"
health_metric 198.18.1.11 0 && health_metric 198.18.1.12 1 || die "/metrics does not show rs1 down"
sleep 1
T0=$(now_ms)
serve "$NS_R1" rs1
T=$(wait_weight 198.18.1.11:80 1 10000) || die "rs1 not restored within 10 s"
R1=$((T - T0))
say "   restarted: weight 1 again after ${R1} ms (bound ${RECOVER_BOUND} ms)"
health_metric 198.18.1.11 1 || die "/metrics does not show rs1 up again"
HEALTH_METRIC=ok
in_time
sleep 2

say "2. take rs1's link down"
T0=$(now_ms)
nsx "$NS_R1" ip link set eth0 down
T=$(wait_weight 198.18.1.11:80 0 10000) || die "rs1 not quiesced within 10 s"
ctl -L -c -n > "$WORK/conns.2"
D2=$((T - T0))
WINDOWS="$WINDOWS $T0:$T:$WORK/conns.2"
say "   quiesced after ${D2} ms (bound ${DETECT_BOUND} ms)"
sleep 1
T0=$(now_ms)
nsx "$NS_R1" ip link set eth0 up
nsx "$NS_R1" ip route replace default via 198.18.1.1
T=$(wait_weight 198.18.1.11:80 1 10000) || die "rs1 not restored within 10 s"
R2=$((T - T0))
say "   link up: weight 1 again after ${R2} ms (bound ${RECOVER_BOUND} ms)"
sleep 2
rm -f "$WORK/load.on"
wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=

TOTAL=$(wc -l < "$WORK/load.log")
FAILED=$(awk '$3 != "200"' "$WORK/load.log" | wc -l)
# failed requests not in flight on the dead server between a failure and its detection
awk -v w="$WINDOWS" '
  BEGIN {
    n = split(w, ws, " ")
    for (i = 1; i <= n; i++) {
      split(ws[i], p, ":"); t0[i] = p[1]; t1[i] = p[2]
      # pro expire state source virtual destination
      while ((getline line < p[3]) > 0) {
        split(line, f, " ")
        if (f[6] == "198.18.1.11:80") { port = f[4]; sub(/.*:/, "", port); dead[i, port] = 1 }
      }
    }
  }
  $3 != "200" {
    ok = 0
    for (i = 1; i <= n; i++) if ($1 <= t1[i] && $2 >= t0[i] && ((i, $4) in dead)) ok = 1
    if (!ok) print
  }' "$WORK/load.log" > "$WORK/outside"
OUTSIDE=$(wc -l < "$WORK/outside")
say "$TOTAL requests, $FAILED failed, $OUTSIDE of them not in flight on the dead server before its detection"
[ "$TOTAL" -gt 100 ] || die "the load loop made only $TOTAL requests"
if [ "$OUTSIDE" != 0 ]; then
  say "   failures (start_ms end_ms code port) outside [failure, detection] on rs1, windows$WINDOWS:"
  sed 's/^/     /' "$WORK/outside"
  die "$OUTSIDE requests failed that were not in flight on the dead server"
fi
for d in "$D1" "$D2"; do
  [ "$d" -le "$DETECT_BOUND" ] || die "detection took $d ms > $DETECT_BOUND ms"
done
for r in "$R1" "$R2"; do
  [ "$r" -le "$RECOVER_BOUND" ] || die "recovery took $r ms > $RECOVER_BOUND ms"
done
grep -q "health: -e -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 0" "$WORK/lvsd.err" \
  || die "lvsd did not log the quiesce"
# the hooks: quorum-down at each failure, quorum-up at each recovery, in that order (the
# hooks run asynchronously: give the last one a moment)
for _ in $(seq 1 20); do [ "$(grep -c . "$WORK/quorum.log" 2>/dev/null)" -ge 4 ] && break; sleep 0.1; done
EVENTS=$(awk '{ printf "%s ", $1 }' "$WORK/quorum.log" 2>/dev/null)
say "quorum hooks ran: $EVENTS"
[ "$EVENTS" = "quorum-down quorum-up quorum-down quorum-up " ] \
  || die "quorum hooks: expected down, up, down, up; got: $EVENTS"
grep -q "^quorum-down -t 198.18.0.10:80 " "$WORK/quorum.log" || die "hook environment: $(cat "$WORK/quorum.log")"

DETECT=$((D1 > D2 ? D1 : D2))
RECOVERED=$((R1 > R2 ? R1 : R2))
echo "HEALTH detect_ms=$DETECT failed=$FAILED recovered_ms=$RECOVERED"
echo "HEALTH metrics=$HEALTH_METRIC"   # lvs_backend_health_up followed rs1 down and up
echo "HEALTH PASSED"
