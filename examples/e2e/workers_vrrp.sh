# The VRRP part of workers.sh (sourced by it with `vrrp`; see its header): lvsd --workers 2
# --vrrp goes backup while a priority-200 peer advertises, both workers stop forwarding, and
# both forward again when lvsd is master once more (/metrics shows the backup state as the
# gauges lvsd_status_state and worker 1's lvsd_worker_status_gauge vrrp.mirrored_master 0);
# stalled downloads finish byte-exact, and 16 new ones after.
[ "$(val vrrp.state)" = master ] || die "lvsd is not VRRP master: $(echo "$ST" | grep vrrp)"
[ "$(val worker1.vrrp.mirrored_master)" = 1 ] || die "worker 1 does not mirror master: $ST"
say "lvsd master, worker 1 mirrors it; 8 downloads at 1 MB/s, then 4 s of priority-200 adverts"
SIL0=$(val worker0.vrrp.silenced_frames) SIL1=$(val worker1.vrrp.silenced_frames)
# a small receive buffer, so that the rate limit holds the server back (not its buffer)
nsx "$NS_C" sysctl -qw net.ipv4.tcp_rmem="4096 65536 131072"
pids=()
for i in $(seq 1 8); do
  ( got=$(nsx "$NS_C" curl -s -m 40 --limit-rate 1M "http://$VIP/blob" | sha256sum | cut -d' ' -f1 || true)
    [ "$got" = "$WANT" ] && echo ok || echo broken ) > "$WORK/slow.$i" &
  pids+=($!)
done
sleep 1
# the peer: VRRPv3 adverts (vrid 51, priority 200, interval 0.1 s, the same VIP list) from
# 198.18.0.7 on the client's segment, every 0.1 s for 4 s
nsx "$NS_C" python3 "$(dirname "$0")/vrrp_advert.py" "$VIP" c0 repeat 200 4 &
PEER=$!
sleep 0.3
# new connections while backup: spread over both workers by their source ports
quick=()
for i in $(seq 1 8); do
  nsx "$NS_C" curl -s -o /dev/null -m 0.5 "http://$VIP/blob" &
  quick+=($!)
done
wait "${quick[@]}" || true
sleep 1.1 # worker 1 publishes once a second
ST=$("$LVSD" ctl "$CTL" status)
[ "$(val vrrp.state)" = backup ] || die "lvsd did not go backup: $(echo "$ST" | grep vrrp)"
[ "$(val worker1.vrrp.mirrored_master)" = 0 ] || die "worker 1 did not mirror backup: $ST"
A0=$(($(val worker0.fwd.masq) + $(val worker0.fwd.reply))) A1=$(($(val worker1.fwd.masq) + $(val worker1.fwd.reply)))
# /metrics: the lead's state and priority as gauges, worker 1's mirrored state its own gauge
METRICS=$(nsx "$NS_D" curl -sf --max-time 5 http://127.0.0.1:9181/metrics || true)
echo "$METRICS" | grep -qx 'lvsd_status_state{name="vrrp.state",state="backup"} 1' &&
  echo "$METRICS" | grep -qx 'lvsd_worker_status_gauge{worker="1",name="vrrp.mirrored_master"} 0' &&
  echo "$METRICS" | grep -q '^lvsd_status_gauge{name="vrrp.priority"} [0-9]' &&
  ! echo "$METRICS" | grep -q 'event="vrrp.priority"' ||
  die "/metrics does not show the backup state as gauges: $(echo "$METRICS" | grep vrrp)"
sleep 1.2 # worker 1 publishes once a second
ST=$("$LVSD" ctl "$CTL" status)
[ "$(val vrrp.state)" = backup ] || die "lvsd left backup while the peer advertised"
B0=$(($(val worker0.fwd.masq) + $(val worker0.fwd.reply))) B1=$(($(val worker1.fwd.masq) + $(val worker1.fwd.reply)))
BACKUP_FWD=$((B0 - A0 + B1 - A1))
say "backup: worker 0 fwd $A0 -> $B0, worker 1 fwd $A1 -> $B1"
wait "$PEER"
for _ in $(seq 1 30); do
  ST=$("$LVSD" ctl "$CTL" status)
  [ "$(val vrrp.state)" = master ] && break
  sleep 0.1
done
[ "$(val vrrp.state)" = master ] || die "lvsd did not take over again: $(echo "$ST" | grep vrrp)"
say "peer silent: lvsd master again; waiting for the stalled downloads"
wait "${pids[@]}"
# and 16 new ones at full speed (16 client ports: both workers get some)
nsx "$NS_C" sysctl -qw net.ipv4.tcp_rmem="4096 131072 6291456"
DOWNLOADS=0 BROKEN=0
round $VIP:80 16
sleep 1.2
ST=$("$LVSD" ctl "$CTL" status)
[ "$(val worker1.vrrp.mirrored_master)" = 1 ] || die "worker 1 did not mirror master again"
SLOW_BROKEN=0
for i in $(seq 1 8); do grep -q ok "$WORK/slow.$i" || SLOW_BROKEN=$((SLOW_BROKEN + 1)); done
BROKEN=$((BROKEN + SLOW_BROKEN))
C0=$(($(val worker0.fwd.masq) + $(val worker0.fwd.reply))) C1=$(($(val worker1.fwd.masq) + $(val worker1.fwd.reply)))
SIL0=$(($(val worker0.vrrp.silenced_frames) - SIL0)) SIL1=$(($(val worker1.vrrp.silenced_frames) - SIL1))
say "master again: worker 0 fwd $B0 -> $C0, worker 1 fwd $B1 -> $C1"
echo "WORKERS_VRRP workers=2 downloads=$((DOWNLOADS + 8)) broken=$BROKEN backup_fwd=$BACKUP_FWD silenced0=$SIL0 silenced1=$SIL1"
[ "$BROKEN" = 0 ] || die "$BROKEN downloads broke ($SLOW_BROKEN of them across the backup period)"
[ "$BACKUP_FWD" = 0 ] || die "the workers forwarded $BACKUP_FWD frames as backup"
[ "$SIL0" -gt 0 ] && [ "$SIL1" -gt 0 ] || die "a worker silenced nothing as backup"
[ "$C0" -gt "$B0" ] && [ "$C1" -gt "$B1" ] || die "a worker did not forward again as master"
