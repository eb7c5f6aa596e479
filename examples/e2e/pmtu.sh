#!/usr/bin/env bash
# End-to-end test of path MTU discovery through lvsd with two workers: a router between the
# clients and the director has a 1280-byte link toward the clients, so the real server's
# full-size segments (the clients' SYNs announce a 1460-byte MSS: their own link is 1500) do not
# fit: the router answers each with an ICMP "fragmentation needed" addressed to the VIP (the
# source of the NAT reply), quoting the VIP → client reply. lvsd must relate it to the
# connection and pass it on to the real server, which then lowers its path MTU; the fanout
# program (examples/lvsd/fanout.rs) steers the error by the quoted packet to the worker that
# holds the flow. Without that (every ICMP to worker 0) the flows of worker 1 stall.
#
#   pmtu.sh /path/to/lvsd        (as root; about 15 s)
#
# Topology (198.18.0.0/15 only; namespaces pm-<pid>-*):
#
#   client ns               router ns                director ns (lvsd --workers 2)   server ns
#   c0 198.18.0.2-.9 ------ r0 198.18.0.1 mtu 1280
#      (mtu 1500)           r1 198.18.3.1 ---------- d0 198.18.3.2
#                                                    d1 198.18.1.1 ------------------ s0 198.18.1.2
#
# Each client address downloads a 3 MB file twice at once (curl, its own source port each), 16
# downloads in all, checked byte-exact (sha256) within a bounded time. Afterwards: lvsd's
# `status` counts the ICMP errors each worker related to a connection and forwarded
# (`worker0.fwd.icmp_errors`, `worker1.fwd.icmp_errors`: both must be > 0), and the server's route
# cache must hold the lowered path MTU (1280) toward every client address (`lowered`), so the
# downloads went through PMTU discovery, not an MSS clamp; and no frame (nor ICMP error) reached
# a worker without its flow during the downloads (`drop.not_for_service` of both workers, which
# moves while lvsd starts, does not move: `misrouted`). Prints `PMTU workers=2 downloads=16
# broken=0 icmp_relayed0=N icmp_relayed1=N lowered=8 misrouted=0`.
#
# A control run with a build whose program sends all ICMP to worker 0 (2026-12-07): `broken=4
# icmp_relayed0=21 icmp_relayed1=0 lowered=6`: the flows of worker 1 stalled.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: pmtu.sh /path/to/lvsd}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v curl >/dev/null ||
  ! command -v python3 >/dev/null; then
  echo "SKIPPED: pmtu test needs root, ip(8), curl and python3"
  exit 0
fi
P=pm-$$
NS_C=$P-c NS_R=$P-r NS_D=$P-d NS_S=$P-s
WORK=$(mktemp -d /tmp/lvs-pmtu.XXXXXX)
chmod 755 "$WORK"
CTL=$WORK/ctl.sock
VIP=198.18.2.10 RS=198.18.1.2
CLIENTS=8 PER=2 LIFE=100 LIMIT=90
START=$SECONDS
LVSD_PID=

lvsd_trap "$NS_C" "$NS_R" "$NS_D" "$NS_S"

for ns in "$NS_C" "$NS_R" "$NS_D" "$NS_S"; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
done
ip link add c0 netns "$NS_C" type veth peer name r0 netns "$NS_R"
ip link add r1 netns "$NS_R" type veth peer name d0 netns "$NS_D"
ip link add d1 netns "$NS_D" type veth peer name s0 netns "$NS_S"
for i in $(seq 2 $((CLIENTS + 1))); do nsx "$NS_C" ip addr add 198.18.0.$i/24 dev c0; done
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip route add default via 198.18.0.1
# the router: the narrow link toward the clients; its errors not rate-limited (all go to one
# VIP, which the per-destination limit would throttle to about one a second)
nsx "$NS_R" ip addr add 198.18.0.1/24 dev r0
nsx "$NS_R" ip link set r0 mtu 1280 up
nsx "$NS_R" ip addr add 198.18.3.1/24 dev r1
nsx "$NS_R" ip link set r1 up
nsx "$NS_R" ip route add 198.18.2.0/24 via 198.18.3.2
nsx "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0
nsx "$NS_S" ip addr add $RS/24 dev s0
nsx "$NS_S" ip link set s0 up
nsx "$NS_S" ip route add default via 198.18.1.1
# PMTU discovery on, no probing fallback (the defaults, said out loud)
nsx "$NS_S" sysctl -qw net.ipv4.ip_no_pmtu_disc=0 net.ipv4.tcp_mtu_probing=0
nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 \
  net.ipv6.conf.d0.disable_ipv6=1 net.ipv6.conf.d1.disable_ipv6=1
nsx "$NS_D" ip link set d0 up
nsx "$NS_D" ip link set d1 up

mkdir "$WORK/www"
head -c 3000000 /dev/urandom > "$WORK/www/blob"
WANT=$(sha256sum < "$WORK/www/blob" | cut -d' ' -f1)
serve_dir "$NS_S" "$WORK/www" $RS $LIFE

echo "-A -t $VIP:80 -s rr" > "$WORK/rules"
echo "-a -t $VIP:80 -r $RS:80 -m -w 1" >> "$WORK/rules"
rm -f "$CTL"
nsx "$NS_D" timeout $LIFE "$LVSD" --rules "$WORK/rules" --iface d0 --iface d1 \
  --addr d0=198.18.3.2/24 --addr d1=198.18.1.1/24 --route default=198.18.3.1 \
  --workers 2 --steer flow --control "$CTL" > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
for _ in $(seq 1 300); do [ -S "$CTL" ] && break; sleep 0.1; done
[ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err" | head -1)
# a small answer (fits the narrow link) shows the path works
for _ in $(seq 1 50); do
  in_time
  nsx "$NS_C" curl -s -o /dev/null -m 1 -r 0-99 "http://$VIP/blob" && break
  sleep 0.2
done
nsx "$NS_C" curl -s -o /dev/null -m 2 -r 0-99 "http://$VIP/blob" || die "no answer through lvsd"
nsx "$NS_S" ip route flush cache
ST=$("$LVSD" ctl "$CTL" status)
val() { echo "$ST" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }
# frames a worker dropped for lack of their flow, before the downloads (lvsd starting)
NFS=$(val drop.not_for_service) # the sum over the workers

say "$((CLIENTS * PER)) downloads of 3 MB from $CLIENTS client addresses"
for i in $(seq 2 $((CLIENTS + 1))); do
  for k in $(seq 1 $PER); do
    ( got=$(nsx "$NS_C" curl -s -m 30 --interface 198.18.0.$i "http://$VIP/blob" |
      sha256sum | cut -d' ' -f1 || true)
      [ "$got" = "$WANT" ] && echo ok > "$WORK/res.$i.$k" || echo broken > "$WORK/res.$i.$k" ) &
  done
done
wait_downloads() {
  while [ "$(ls "$WORK" | grep -c '^res\.')" -lt $((CLIENTS * PER)) ]; do
    in_time
    sleep 0.2
  done
}
wait_downloads
DOWNLOADS=$(cat "$WORK"/res.* | grep -c . || true)
BROKEN=$(cat "$WORK"/res.* | grep -c broken || true)
ST=$("$LVSD" ctl "$CTL" status)
R0=$(val worker0.fwd.icmp_errors) R1=$(val worker1.fwd.icmp_errors)
say "worker 0: fwd.masq=$(val worker0.fwd.masq) fwd.icmp_errors=$R0 drop.not_for_service=$(val worker0.drop.not_for_service)"
say "worker 1: fwd.masq=$(val worker1.fwd.masq) fwd.icmp_errors=$R1 drop.not_for_service=$(val worker1.drop.not_for_service)"
MISROUTED=$(($(val drop.not_for_service) - NFS))
LOWERED=0
for i in $(seq 2 $((CLIENTS + 1))); do
  r=$(nsx "$NS_S" ip -4 route get 198.18.0.$i)
  echo "$r" | grep -q "mtu 1280" && LOWERED=$((LOWERED + 1))
done
say "server's route to 198.18.0.2: $(nsx "$NS_S" ip -4 route get 198.18.0.2 | tr '\n' ' ')"

echo "PMTU workers=2 downloads=$DOWNLOADS broken=$BROKEN icmp_relayed0=$R0 icmp_relayed1=$R1 lowered=$LOWERED misrouted=$MISROUTED"
[ "$DOWNLOADS" = $((CLIENTS * PER)) ] || die "$DOWNLOADS downloads counted"
[ "$BROKEN" = 0 ] || die "$BROKEN downloads broken"
[ "$R0" -gt 0 ] && [ "$R1" -gt 0 ] || die "a worker related no ICMP error"
[ "$MISROUTED" = 0 ] || die "$MISROUTED frames during the downloads reached a worker without their flow"
[ "$LOWERED" = $CLIENTS ] || die "the server lowered its path MTU toward $LOWERED of $CLIENTS clients"
echo "PMTU PASSED"
