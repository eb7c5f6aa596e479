#!/usr/bin/env bash
# The replay tool against lvsd on real traffic: tcpdump records what reaches lvsd's interface
# and what lvsd puts on the wire, `replay` runs the input capture with the same rules, and the
# frames it writes must equal lvsd's, byte for byte and in order.
#
#   replay.sh /path/to/lvsd /path/to/replay     (as root; about 15 s)
#
# One Ethernet segment (a bridge in its own namespace), namespaces prefixed rp-<pid>:
#
#   client c0 198.19.0.2/24 --+
#      (198.18.0.0/24 via lvsd)  |
#   director d0 (no kernel address; lvsd: 198.18.0.1/24 and 198.19.0.1/24) --+-- br0
#   rs1 eth0 198.18.0.11/24 ---+   default via 198.18.0.1 (NAT replies go back through lvsd)
#   rs2 eth0 198.18.0.12/24 ---+   lo: 198.18.0.20 (DR VIP); from it, 198.19.0.0/24 on-link
#
# Services: NAT 198.18.0.10:80 rr and DR 198.18.0.20:80 rr over both servers (rr: decisions
# do not depend on timing, so the replay makes the same ones).
#
# What is compared: every frame lvsd transmitted on d0 except its own ARP (neighbour
# resolution the replay does not do), against every frame the replay wrote. Nothing in the
# frames is normalised. The replay gets the director's MAC (--mac), the servers' MACs
# (--neigh; lvsd learned them before the captures started) and --fix-checksums: the local TCP
# stacks hand veth frames with partial checksums (checksum offload) that tcpdump records as
# they are and lvsd completes before forwarding; the replay completes them the same way.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: replay.sh LVSD REPLAY}
REPLAY=${2:?usage: replay.sh LVSD REPLAY}
PY=/usr/bin/python3
P=rp-$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s NS_R1=$P-r1 NS_R2=$P-r2
ALL="$NS_C $NS_D $NS_S $NS_R1 $NS_R2"
WORK=$(mktemp -d /tmp/lvs-rp.XXXXXX)
START=$SECONDS
LIMIT=60
PIDS=""

cleanup() {
  local rc=$?
  set +e
  for pid in $PIDS; do kill "$pid" 2>/dev/null; done
  ns_purge $ALL
  if [ "$rc" != 0 ]; then
    echo "---- lvsd stderr ----"; tail -20 "$WORK/lvsd.err" 2>/dev/null
    echo "---- replay stderr ----"; cat "$WORK/replay.err" 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM


say "topology: client, director, two real servers on one bridge"
for ns in $ALL; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
nsx "$NS_S" ip link add br0 type bridge
nsx "$NS_S" ip link set br0 up
ip link add c0 netns "$NS_C" type veth peer name sc netns "$NS_S"
ip link add d0 netns "$NS_D" type veth peer name sd netns "$NS_S"
ip link add eth0 netns "$NS_R1" type veth peer name s1 netns "$NS_S"
ip link add eth0 netns "$NS_R2" type veth peer name s2 netns "$NS_S"
for port in sc sd s1 s2; do nsx "$NS_S" ip link set "$port" master br0 up; done

nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.d0.disable_ipv6=1
nsx "$NS_D" ip link set d0 up

nsx "$NS_C" sysctl -qw net.ipv6.conf.c0.disable_ipv6=1
nsx "$NS_C" ip addr add 198.19.0.2/24 dev c0
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip route add 198.18.0.0/24 via 198.19.0.1

i=0
for ns in "$NS_R1" "$NS_R2"; do
  i=$((i + 1))
  nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv6.conf.eth0.disable_ipv6=1
  nsx "$ns" ip addr add "198.18.0.1$i/24" dev eth0
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via 198.18.0.1
  nsx "$ns" ip addr add 198.18.0.20/32 dev lo
  nsx "$ns" ip rule add from 198.18.0.20 lookup 100
  nsx "$ns" ip route add 198.19.0.0/24 dev eth0 table 100
  mkdir -p "$WORK/rs$i"
  echo "rs$i" > "$WORK/rs$i/name"
  nsx "$ns" "$PY" -m http.server 80 --bind 0.0.0.0 --directory "$WORK/rs$i" >/dev/null 2>&1 &
  PIDS="$PIDS $!"
done
for ns in "$NS_R1" "$NS_R2"; do
  for _ in $(seq 1 50); do
    nsx "$ns" curl -s -o /dev/null --max-time 1 http://127.0.0.1/name && break
    sleep 0.1
  done
done

cat > "$WORK/rules" <<EOF
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.0.11:80 -m -w 1
-a -t 198.18.0.10:80 -r 198.18.0.12:80 -m -w 1
-A -t 198.18.0.20:80 -s rr
-a -t 198.18.0.20:80 -r 198.18.0.11 -g -w 1
-a -t 198.18.0.20:80 -r 198.18.0.12 -g -w 1
EOF

say "lvsd on d0"
nsx "$NS_D" "$LVSD" --rules "$WORK/rules" --iface d0 \
  --addr d0=198.18.0.1/24 --addr d0=198.19.0.1/24 > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
PIDS="$PIDS $!"
for _ in $(seq 1 50); do grep -q "pid" "$WORK/lvsd.err" 2>/dev/null && break; sleep 0.1; done

fetch() { nsx "$NS_C" curl -sf --max-time 5 "http://$1/name" || echo FAIL; }

say "warm-up: two requests per service, so lvsd knows every neighbour (rr comes full circle)"
for vip in 198.18.0.10 198.18.0.10 198.18.0.20 198.18.0.20; do
  in_time
  [ "$(fetch $vip)" != FAIL ] || die "warm-up request to $vip failed"
done
sleep 0.3

say "captures on d0: what arrives (-Q in) and what lvsd sends (-Q out)"
# `ip netns exec` may stay as the parent: tcpdump writes its own pid, to be stopped by it;
# --immediate-mode: without it frames wait in the capture ring's block until it times out
TD_WRAP=""
for dir in in out; do
  nsx "$NS_D" sh -c 'echo $$ > "$1"; exec tcpdump -i d0 -Q "$2" -n -s 0 -U --immediate-mode -Z root -w "$3"' \
    sh "$WORK/tcpdump.$dir.pid" "$dir" "$WORK/$dir.pcap" 2> "$WORK/tcpdump.$dir" &
  TD_WRAP="$TD_WRAP $!"
done
for dir in in out; do
  for _ in $(seq 1 50); do grep -q "listening on" "$WORK/tcpdump.$dir" && break; sleep 0.1; done
  grep -q "listening on" "$WORK/tcpdump.$dir" || die "tcpdump -Q $dir did not start"
done

say "traffic: 6 requests over NAT, 4 over direct routing"
got=""
for vip in 198.18.0.10 198.18.0.10 198.18.0.10 198.18.0.10 198.18.0.10 198.18.0.10 \
  198.18.0.20 198.18.0.20 198.18.0.20 198.18.0.20; do
  in_time
  w=$(fetch $vip)
  [ "$w" != FAIL ] || die "request to $vip failed"
  got="$got $w"
done
say "  served by:$got"
sleep 0.5
for dir in in out; do kill -INT "$(cat "$WORK/tcpdump.$dir.pid")"; done
# shellcheck disable=SC2086
wait $TD_WRAP 2>/dev/null || true
for dir in in out; do
  say "  tcpdump -Q $dir: $(grep -E "captured|dropped by kernel" "$WORK/tcpdump.$dir" | tr '\n' ' ')"
done

MAC_D=$(nsx "$NS_D" cat /sys/class/net/d0/address)
MAC_1=$(nsx "$NS_R1" cat /sys/class/net/eth0/address)
MAC_2=$(nsx "$NS_R2" cat /sys/class/net/eth0/address)

say "replay of the input capture"
set +e
"$REPLAY" --rules "$WORK/rules" --mac "$MAC_D" \
  --neigh "198.18.0.11=$MAC_1" --neigh "198.18.0.12=$MAC_2" --fix-checksums \
  --out "$WORK/replay.pcap" --csv "$WORK/flows.csv" "$WORK/in.pcap" \
  > "$WORK/replay.out" 2> "$WORK/replay.err"
rc=$?
set -e
[ "$rc" = 0 ] || die "replay exited with $rc"
cat "$WORK/replay.err"
cat "$WORK/replay.out"

say "lvsd's frames against the replay's (scapy reads both captures)"
"$PY" - "$WORK/out.pcap" "$WORK/replay.pcap" "$WORK/flows.csv" <<'PYEOF'
import csv, sys
from scapy.all import rdpcap, Ether, ARP, IP

lvsd = [bytes(p) for p in rdpcap(sys.argv[1]) if not p.haslayer(ARP)]
rep = [bytes(p) for p in rdpcap(sys.argv[2])]
def kind(b):
    dst = Ether(b)[IP].dst
    return "dr" if dst == "198.18.0.20" else ("nat" if dst in ("198.18.0.11", "198.18.0.12") else "reply")
# Frames of different flows (and the two directions of one) reach lvsd's ring and tcpdump's
# from softirqs on either CPU, so their relative order may differ between the two taps; within
# one direction of one flow the order is fixed. Compare byte for byte per direction, in order.
def by_direction(frames):
    seqs = {}
    for b in frames:
        ip = Ether(b)[IP]
        l4 = ip.payload
        ports = (l4.sport, l4.dport) if hasattr(l4, "sport") else (0, 0)
        seqs.setdefault((ip.src, ip.dst, ip.proto) + ports, []).append(b)
    return seqs
mine, theirs = by_direction(lvsd), by_direction(rep)
for key in sorted(set(mine) | set(theirs), key=str):
    a_seq, b_seq = mine.get(key, []), theirs.get(key, [])
    for i, (a, b) in enumerate(zip(a_seq, b_seq)):
        if a != b:
            print(f"{key}: frame {i} differs:\n  lvsd   {a.hex()}\n  replay {b.hex()}")
            Ether(a).show2(); Ether(b).show2()
            sys.exit(1)
    if len(a_seq) != len(b_seq):
        print(f"{key}: lvsd sent {len(a_seq)} frames, the replay wrote {len(b_seq)}")
        sys.exit(1)
if len(lvsd) != len(rep):
    print(f"lvsd sent {len(lvsd)} frames, the replay wrote {len(rep)}")
    sys.exit(1)
kinds = {}
for b in rep:
    k = kind(b)
    kinds[k] = kinds.get(k, 0) + 1
rows = list(csv.DictReader(open(sys.argv[3])))
flows = {(r["client"], r["vip"]) for r in rows if r["verdict"] == "to-real"}
print(f"REPLAY-E2E lvsd-frames={len(lvsd)} replay-frames={len(rep)} identical=yes "
      f"to-nat={kinds.get('nat', 0)} to-dr={kinds.get('dr', 0)} replies={kinds.get('reply', 0)} "
      f"flows={len(flows)}")
if len(flows) != 10 or kinds.get("nat", 0) == 0 or kinds.get("dr", 0) == 0 or kinds.get("reply", 0) == 0:
    print("expected 10 flows with NAT, DR and reply frames")
    sys.exit(1)
PYEOF
say "REPLAY E2E PASSED"
