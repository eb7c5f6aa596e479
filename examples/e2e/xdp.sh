#!/usr/bin/env bash
# End-to-end test of lvsd's AF_XDP frame path (`--xdp`, examples/lvsd/xsk.rs and xdp_prog.rs):
# NAT through a director whose frames come and go by an AF_XDP socket on each interface, fed
# by lvsd's XDP program in the veth driver, instead of the packet socket's rings.
#
#   xdp.sh /path/to/lvsd        (as root; about 15 s)
#
# Topology (198.18.0.0/15 only; namespaces xdp-<pid>-*):
#
#   client ns                 director ns (lvsd --xdp)          server ns
#   c0 198.18.0.2 ----------- d0 198.18.0.1                      s0 198.18.1.2
#                             d1 198.18.1.1 -------------------- (default via 198.18.1.1)
#
# The client's and server's veths compute checksums in software (`ethtool -K tx off`, see
# below: what `--xdp` needs of a veth peer). Checks: lvsd's program is attached to d0 and d1 (`ip link` shows an xdp program); 8
# downloads of 3 MiB through VIP:80 (TCP, NAT) finish byte-exact; 50 UDP datagrams to VIP:53
# are echoed back by the server through lvsd; lvsd's `xdp.rx_frames` and `xdp.tx_frames`
# counters (`ctl status`) cover what was forwarded and it dropped nothing for want of a
# transmit chunk; once lvsd has exited the programs are gone (the BPF link's lifetime is
# lvsd's) and the kernel has the interfaces back.
# Then lvsd again with `--xdp-busy-poll 100,32 --sched-fifo 1`: the interfaces'
# napi_defer_hard_irqs and gro_flush_timeout set while it runs and put back once it exits, lvsd
# under SCHED_FIFO priority 1, 50 UDP echoes through it.
# Prints `XDP frames=N download=ok udp=ok` from lvsd's counters (frames: xdp.rx_frames).
# lvsd failing to open AF_XDP is a failure (not a skip): the test is for that path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: xdp.sh /path/to/lvsd}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v curl >/dev/null ||
  ! command -v python3 >/dev/null || ! command -v ethtool >/dev/null; then
  echo "SKIPPED: xdp test needs root, ip(8), curl, python3 and ethtool"
  exit 0
fi
P=xdp-$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s
WORK=$(mktemp -d /tmp/lvs-xdp.XXXXXX)
chmod 755 "$WORK"
CTL=$WORK/ctl.sock
VIP=198.18.2.10 RS=198.18.1.2
START=$SECONDS LIMIT=60 LIFE=50
LVSD_PID=

lvsd_trap "$NS_C" "$NS_D" "$NS_S"

three_ns "$NS_C" "$NS_D" "$NS_S" $RS
# A veth with transmit checksum offload hands its peer TCP/UDP frames whose checksum is only
# partial (the skb says so; a frame on a wire never is): XDP sees the bare frame, and an AF_XDP
# socket gets no word of it, so lvsd would forward a bad checksum. The peers of lvsd's
# interfaces compute checksums in software, as a NIC's link partner in effect does.
nsx "$NS_C" ethtool -K c0 tx off > /dev/null
nsx "$NS_S" ethtool -K s0 tx off > /dev/null

head -c $((3 << 20)) /dev/urandom > "$WORK/blob"
WANT=$(sha256sum < "$WORK/blob" | cut -d' ' -f1)
serve_dir "$NS_S" "$WORK" $RS $LIFE
cat > "$WORK/echo.py" <<'EOF_PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
EOF_PY
nsx "$NS_S" timeout $LIFE python3 "$WORK/echo.py" $RS > /dev/null 2>&1 &

cat > "$WORK/rules" <<EOF
-A -t $VIP:80 -s rr
-a -t $VIP:80 -r $RS:80 -m -w 1
-A -u $VIP:53 -s rr
-a -u $VIP:53 -r $RS:53 -m -w 1
EOF
# Starts lvsd --xdp (more options in the arguments) on d0/d1 with the rules, waits for its
# control socket and sets LVSD_PID.
start_lvsd() {
  nsx "$NS_D" timeout $LIFE "$LVSD" --xdp "$@" --rules "$WORK/rules" --iface d0 --iface d1 \
    --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 --control "$CTL" \
    > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
  local job=$!
  for _ in $(seq 1 100); do
    [ -S "$CTL" ] && break
    kill -0 $job 2>/dev/null || break
    sleep 0.1
  done
  [ -S "$CTL" ] || die "lvsd --xdp $* did not start: $(cat "$WORK/lvsd.err")"
  LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err" | head -1)
}
start_lvsd
for d in d0 d1; do
  nsx "$NS_D" ip link show $d | grep -q "prog/xdp" || die "no XDP program on $d: $(nsx "$NS_D" ip link show $d)"
done
say "lvsd --xdp up (programs on d0, d1)"
for _ in $(seq 1 50); do
  in_time
  nsx "$NS_C" curl -s -o /dev/null -m 1 "http://$VIP/" && break
  sleep 0.2
done

say "8 downloads of 3 MiB through $VIP:80"
pids=()
for i in $(seq 1 8); do
  ( got=$(nsx "$NS_C" curl -s -m 20 "http://$VIP/blob" | sha256sum | cut -d' ' -f1 || true)
    [ "$got" = "$WANT" ] && echo ok || echo broken ) > "$WORK/dl.$i" &
  pids+=($!)
done
wait "${pids[@]}"
BROKEN=0
for i in $(seq 1 8); do grep -q ok "$WORK/dl.$i" || BROKEN=$((BROKEN + 1)); done
[ "$BROKEN" = 0 ] || die "$BROKEN of 8 downloads broke"

say "50 UDP datagrams to $VIP:53, echoed by the server"
cat > "$WORK/udp.py" <<'EOF_PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
ok = 0
for i in range(50):
    msg = b"lvsd-xdp-%d" % i
    for _ in range(3):
        s.sendto(msg, (sys.argv[1], 53))
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            continue
        if data == msg and peer[0] == sys.argv[1]:
            ok += 1
        break
print(ok)
EOF_PY
UDP=$(nsx "$NS_C" timeout 20 python3 "$WORK/udp.py" $VIP || true)
[ "$UDP" = 50 ] || die "UDP: ${UDP:-none} of 50 datagrams echoed through the VIP"

sleep 1.2 # lvsd adds the sockets' counters to its own once a second
ST=$("$LVSD" ctl "$CTL" status)
val() { echo "$ST" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }
FRAMES=$(val xdp.rx_frames) TXF=$(val xdp.tx_frames)
FWD=$(($(val fwd.masq) + $(val fwd.reply)))
say "lvsd: xdp.rx_frames=$FRAMES xdp.tx_frames=$TXF rx.frames=$(val rx.frames) fwd.masq=$(val fwd.masq) fwd.reply=$(val fwd.reply) xdp.tx_no_chunk=$(val xdp.tx_no_chunk) rx.ring_drops=$(val rx.ring_drops) xdp.rx_dropped=$(val xdp.rx_dropped)"
# every frame lvsd read came by the XSK: 8 x 3 MiB of replies alone are over 2,000 frames
[ "$FRAMES" -gt 2000 ] || die "xdp.rx_frames=$FRAMES: the downloads did not come through AF_XDP"
[ "$FRAMES" = "$(val rx.frames)" ] || die "rx.frames=$(val rx.frames), xdp.rx_frames=$FRAMES: frames came another way"
[ "$TXF" -ge "$FWD" ] || die "xdp.tx_frames=$TXF < forwarded $FWD"
[ "$(val xdp.tx_no_chunk)" = 0 ] || die "xdp.tx_no_chunk=$(val xdp.tx_no_chunk)"

# the link's lifetime is lvsd's: once it exits the interfaces are the kernel's again
kill "$LVSD_PID"
for _ in $(seq 1 50); do kill -0 "$LVSD_PID" 2>/dev/null || break; sleep 0.1; done
LVSD_PID=
for d in d0 d1; do
  for _ in $(seq 1 20); do
    nsx "$NS_D" ip link show $d | grep -q "prog/xdp" || break
    sleep 0.1
  done
  ! nsx "$NS_D" ip link show $d | grep -q "prog/xdp" || die "the XDP program stayed on $d after lvsd exited"
done
# --xdp-busy-poll: lvsd sets the interfaces' NAPI deferral while it runs and puts it back after;
# the NAT still works (on veth no NAPI is tied to a queue, so the busy poll itself is a no-op)
defer() { nsx "$NS_D" cat /sys/class/net/$1/napi_defer_hard_irqs /sys/class/net/$1/gro_flush_timeout | tr '\n' ' '; }
BEFORE="$(defer d0)$(defer d1)"
rm -f "$CTL"
start_lvsd --xdp-busy-poll 100,32 --sched-fifo 1
DURING="$(defer d0)$(defer d1)"
# --sched-fifo 1: the frame path's thread (lvsd's main thread here) under SCHED_FIFO (policy 1)
# at priority 1 (/proc/PID/stat fields 40 and 41)
SCHED=$(awk '{ print $40, $41 }' "/proc/$LVSD_PID/stat")
[ "$SCHED" = "1 1" ] || die "--sched-fifo 1: lvsd's rt_priority and policy are '$SCHED', not '1 1'"
[ "$DURING" = "2 100000 2 100000 " ] || die "--xdp-busy-poll: deferral on d0, d1 is '$DURING', not 2 / 100000 ns"
NAPI=$(grep -c 'NAPI' "$WORK/lvsd.err" || true)
[ "$NAPI" = 2 ] || die "--xdp-busy-poll: no NAPI line for each interface: $(cat "$WORK/lvsd.err")"
UDP=$(nsx "$NS_C" timeout 20 python3 "$WORK/udp.py" $VIP || true)
[ "$UDP" = 50 ] || die "--xdp-busy-poll: UDP ${UDP:-none} of 50 datagrams echoed through the VIP"
kill "$LVSD_PID"
for _ in $(seq 1 50); do kill -0 "$LVSD_PID" 2>/dev/null || break; sleep 0.1; done
LVSD_PID=
AFTER="$(defer d0)$(defer d1)"
[ "$AFTER" = "$BEFORE" ] || die "--xdp-busy-poll: deferral not put back: '$AFTER', was '$BEFORE'"
say "lvsd --xdp --xdp-busy-poll 100,32 --sched-fifo 1: SCHED_FIFO priority 1; deferral '$DURING' while it ran, '$AFTER' after; 50 UDP echoes; $(grep -h 'NAPI' "$WORK/lvsd.err" | head -1)"

echo "XDP frames=$FRAMES download=ok udp=ok"
echo "XDP PASSED"
