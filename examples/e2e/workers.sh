#!/usr/bin/env bash
# End-to-end test of lvsd with two workers: NAT downloads through a director whose frames are
# steered to two workers by the fanout program (examples/lvsd/fanout.rs) finish byte-exact, both
# workers forward, and no reply lands on a worker without its flow; a service added at run time
# through the control socket reaches both workers' shards.
#
#   workers.sh /path/to/lvsd        (as root; about 20 s)
#
# Topology (198.18.0.0/15 only; namespaces wk-<pid>-*):
#
#   client ns                 director ns (lvsd --workers 2)     server ns
#   c0 198.18.0.2 ----------- d0 198.18.0.1                      s0 198.18.1.2
#                             d1 198.18.1.1 -------------------- (default via 198.18.1.1)
#
# A reply steered to the wrong worker finds no connection in that shard and is dropped as
# drop.not_for_service: the test counts those (must be 0) and each worker's forwarded frames
# (`status`: worker0.fwd.masq, worker0.fwd.reply, worker1.fwd.*; both must move; the unprefixed
# fwd.* lines are their sums).
# The listings cover both shards (examples/lvsd/views.rs): after the downloads, once only
# TIME_WAIT entries are left (the tables are then still), `-L -n -c` lists as many connections
# as the two shards' tables hold together (`status`: worker0.director.connections and
# worker1.director.connections, both non-zero, and their sum director.connections); `-L -n`'s
# ActiveConn + InActConn sum to the same, as do /metrics' table fill and backend connections
# (`--http`: the snapshot the status page and the JSON API show), and its gauges
# lvsd_status_gauge{name="director.connections"} and the shards' lvsd_worker_status_gauge
# (a level, never an event); `--stats` of the run-time
# service counts all 24 of its connections.
# Prints `WORKERS workers=2 downloads=N broken=0 misrouted=0 listed=N` from the counted
# results (listed: the connections `-L -n -c` listed).
#
#   workers.sh /path/to/lvsd vrrp   (about 40 s)
#
# The same with `--vrrp d0` (priority 100, advert interval 0.1 s): worker 0 runs the virtual
# router and mirrors master/backup to worker 1 (examples/lvsd/workers.rs). After the downloads
# above (lvsd master: both workers forward), 8 rate-limited downloads start; a peer on the
# client's segment then sends priority-200 adverts for 4 s: lvsd goes backup and both workers
# stop forwarding (their fwd counters stay, both count silenced frames, worker 1's status says
# vrrp.mirrored_master 0); when the adverts stop lvsd is master again after its
# Master_Down_Interval, both workers forward again: the stalled downloads finish byte-exact, and
# 16 new ones. Prints `WORKERS_VRRP workers=2 downloads=24 broken=0 backup_fwd=0 silenced0=N
# silenced1=N` (frames each worker dropped as backup).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: workers.sh /path/to/lvsd [vrrp]}
VRRP=${2:-}
LIFE=60 VRRP_ARGS=()
if [ "$VRRP" = vrrp ]; then
  LIFE=100
  VRRP_ARGS=(--vrrp d0 --vrrp-priority 100 --vrrp-advert-int 0.1 --vrrp-src 198.18.0.1 --vrrp-vip 198.18.2.10)
fi
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v curl >/dev/null; then
  echo "SKIPPED: workers test needs root, ip(8) and curl"
  exit 0
fi
P=wk-$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s
WORK=$(mktemp -d /tmp/lvs-workers.XXXXXX)
chmod 755 "$WORK"
CTL=$WORK/ctl.sock
VIP=198.18.2.10 VIP2=198.18.2.11 RS=198.18.1.2
START=$SECONDS
LVSD_PID=

lvsd_trap "$NS_C" "$NS_D" "$NS_S"

three_ns "$NS_C" "$NS_D" "$NS_S" $RS

head -c $((3 << 20)) /dev/urandom > "$WORK/blob"
WANT=$(sha256sum < "$WORK/blob" | cut -d' ' -f1)
serve_dir "$NS_S" "$WORK" $RS $LIFE

cat > "$WORK/rules" <<EOF
-A -t $VIP:80 -s rr
-a -t $VIP:80 -r $RS:80 -m -w 1
EOF
nsx "$NS_D" timeout $LIFE "$LVSD" --rules "$WORK/rules" --iface d0 --iface d1 $( [ "${WK_WORKERS:-2}" = 1 ] || echo --workers ${WK_WORKERS:-2}) \
  "${VRRP_ARGS[@]}" --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 --control "$CTL" --http 127.0.0.1:9181 \
  > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
for _ in $(seq 1 100); do [ -S "$CTL" ] && break; sleep 0.1; done
[ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err" | head -1)
[ "${WK_WORKERS:-2}" = 1 ] || grep -q "2 workers" "$WORK/lvsd.err" || die "lvsd did not start two workers: $(cat "$WORK/lvsd.err")"
for _ in $(seq 1 50); do
  nsx "$NS_C" curl -s -o /dev/null -m 1 "http://$VIP/blob" && break
  sleep 0.2
done

sleep 1.2 # the other worker publishes its counters once a second
ST=$("$LVSD" ctl "$CTL" status)
val() { echo "$ST" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }
# replies the waiting above left without a flow (the server not listening yet: its RST ends
# the flow, the retransmitted handshake then finds none) are not the steering's
# (drop.not_for_service: the sum over the workers)
MIS0=$(val drop.not_for_service)
DOWNLOADS=0 BROKEN=0
round() { # vip:port, downloads (8 at a time)
  local target=$1 n=$2 i pids=()
  for i in $(seq 1 "$n"); do
    ( got=$(nsx "$NS_C" curl -s -m 20 "http://$target/blob" | sha256sum | cut -d' ' -f1 || true)
      [ "$got" = "$WANT" ] && echo ok || echo broken ) > "$WORK/dl.$target.$i" &
    pids+=($!)
    if [ $((i % 8)) = 0 ]; then wait "${pids[@]}"; pids=(); fi
  done
  [ ${#pids[@]} = 0 ] || wait "${pids[@]}"
  for i in $(seq 1 "$n"); do
    [ -n "${WK_DEBUG:-}" ] && say "$target $i: $(cat "$WORK/dl.$target.$i")"
    DOWNLOADS=$((DOWNLOADS + 1))
    grep -q ok "$WORK/dl.$target.$i" || BROKEN=$((BROKEN + 1))
  done
}
say "24 downloads of 3 MiB through $VIP:80"
round $VIP:80 24
say "a service added at run time: $VIP2:8080"
"$LVSD" ctl "$CTL" -A -t $VIP2:8080 -s wlc > /dev/null || die "ctl -A refused"
"$LVSD" ctl "$CTL" -a -t $VIP2:8080 -r $RS:80 -m -w 1 > /dev/null || die "ctl -a refused"
sleep 0.2
round $VIP2:8080 24
sleep 1.5 # the other worker publishes its counters once a second
ST=$("$LVSD" ctl "$CTL" status)
say "worker 0: fwd.masq=$(val worker0.fwd.masq) fwd.reply=$(val worker0.fwd.reply); worker 1: fwd.masq=$(val worker1.fwd.masq) fwd.reply=$(val worker1.fwd.reply)"
MIS=$(($(val drop.not_for_service) - MIS0))
[ "$(val workers)" = 2 ] || die "status does not list 2 workers: $ST"
for k in worker0.fwd.masq worker0.fwd.reply worker1.fwd.masq worker1.fwd.reply; do
  [ "$(val $k)" -gt 100 ] || die "$k = $(val $k): a worker did not forward"
done
# the unprefixed counters are the workers' sums
for k in fwd.masq fwd.reply drop.not_for_service rx.frames; do
  [ "$(val $k)" = $(($(val worker0.$k) + $(val worker1.$k))) ] ||
    die "$k = $(val $k), not worker0.$k + worker1.$k = $(val worker0.$k) + $(val worker1.$k)"
done
DUP=$(echo "$ST" | awk '{ print $1 }' | sort | uniq -d)
[ -z "$DUP" ] || die "status lists these more than once: $DUP"
# the listings cover both shards. The tables are still once only TIME_WAIT entries (2 min) are
# left: wait for the others (CLOSE: 10 s) to expire, then compare one listing with the shards'
# counts (worker 1's is published once a second: read after a second of stillness)
for _ in $(seq 1 20); do
  "$LVSD" ctl "$CTL" -L -n -c | tail -n +3 | awk '$3 != "TIME_WAIT" { f = 1 } END { exit f }' && break
  sleep 1
done
sleep 1.2
ST=$("$LVSD" ctl "$CTL" status)
C0=$(val worker0.director.connections) C1=$(val worker1.director.connections)
[ "$(val director.connections)" = $((C0 + C1)) ] ||
  die "director.connections = $(val director.connections), not $C0 + $C1"
LIST=$("$LVSD" ctl "$CTL" -L -n -c)
LISTED=$(echo "$LIST" | tail -n +3 | grep -c . || true)
say "listed connections: $LISTED; shards' tables: worker 0 $C0, worker 1 $C1"
[ "$C0" -gt 0 ] && [ "$C1" -gt 0 ] || die "a shard holds no connections: worker 0 $C0, worker 1 $C1"
[ "$LISTED" = $((C0 + C1)) ] || die "-L -n -c listed $LISTED connections, the shards hold $((C0 + C1)):
$LIST"
COUNTS=$("$LVSD" ctl "$CTL" -L -n | awk '$1 == "->" && $2 ~ /^[0-9]/ { n += $5 + $6 } END { print n + 0 }')
[ "$COUNTS" = "$LISTED" ] || die "-L -n: ActiveConn + InActConn = $COUNTS, listed $LISTED:
$LIST
$("$LVSD" ctl "$CTL" -L -n)"
METRICS=$(nsx "$NS_D" curl -sf --max-time 5 http://127.0.0.1:9181/metrics || true)
M_TABLE=$(echo "$METRICS" | awk '$1 == "lvs_table_entries" { print $2 }')
M_CONNS=$(echo "$METRICS" | awk '$1 ~ /^node_ipvs_backend_connections_(active|inactive)[{]/ { n += $2 } END { print n + 0 }')
[ "$M_TABLE" = "$LISTED" ] && [ "$M_CONNS" = "$LISTED" ] ||
  die "/metrics: lvs_table_entries $M_TABLE, backend connections $M_CONNS; listed $LISTED"
# the table fill as a level (gauge) of status, the total and each shard's (summed: each holds its own)
M_LEVEL=$(echo "$METRICS" | awk '$1 == "lvsd_status_gauge{name=\"director.connections\"}" { print $2 }')
M_SHARDS=$(echo "$METRICS" | awk '$1 ~ /^lvsd_worker_status_gauge[{]worker="[0-9]+",name="director.connections"[}]$/ { n += $2 } END { print n + 0 }')
echo "$METRICS" | grep -qx '# TYPE lvsd_worker_status_gauge gauge' &&
  ! echo "$METRICS" | grep -q 'event="director.connections"' &&
  [ "$M_LEVEL" = "$LISTED" ] && [ "$M_SHARDS" = "$LISTED" ] ||
  die "/metrics: director.connections gauge $M_LEVEL, shards' $M_SHARDS; listed $LISTED"
CONNS2=$("$LVSD" ctl "$CTL" -L -n --stats -t $VIP2:8080 | awk '$1 == "TCP" { print $3 }')
[ "$CONNS2" = 24 ] || die "--stats -t $VIP2:8080: $CONNS2 connections scheduled, not 24"
echo "WORKERS workers=2 downloads=$DOWNLOADS broken=$BROKEN misrouted=$MIS listed=$LISTED"
[ "$BROKEN" = 0 ] || die "$BROKEN downloads broke"
[ "$MIS" = 0 ] || die "$MIS replies reached a worker without their flow"
[ "$VRRP" = vrrp ] && . "$(dirname "$0")/workers_vrrp.sh"
echo "WORKERS PASSED"
