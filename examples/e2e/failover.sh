#!/usr/bin/env bash
# End-to-end failover test of lvsd's connection sync: a master and a backup director side by
# side, a sync link between them, long downloads over NAT and DR through the master, then the
# master is killed and traffic moves to the backup; the downloads must finish intact.
#
#   failover.sh /path/to/lvsd        (as root; about 30 s)
#
# Topology (addresses from 198.18.0.0/15 only):
#
#   client ns                 switch ns                   directors               real servers
#   c0 198.18.0.2 ---- sc --[brc]-- a0 ---- d0 master (lvsd A)  y0 198.18.9.1
#                              \--- b0 ---- d0 backup (lvsd B)  y0 198.18.9.2   (sync veth A<->B)
#   c1 198.18.1.2 ---- scr -[brr]-- a1 ---- d1 master
#                            |  \-- b1 ---- d1 backup
#                            +----- s1/s2 ------------------------------- rs1/rs2 eth0
#
# Both directors run the same rules with the same own addresses (198.18.0.1, 198.18.1.1) and
# VIPs, each with its own MACs. Only one of them is plugged into the bridges at a time (both
# would answer ARP for the VIPs): the backup's switch ports b0/b1 stay down until takeover.
# Takeover, as a VRRP daemon would do it: kill -9 the master, unplug its ports a0/a1, plug the
# backup's b0/b1 in, and `lvsd ctl announce` on the backup: gratuitous ARP for the VIPs and its
# own addresses moves the client's and the NAT real servers' ARP entries to the backup's MACs.
# The master sends sync messages (224.0.0.81:8848, TTL 1, syncid 7) out of its y0, the backup
# applies them: the connections it never saw continue through it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: failover.sh /path/to/lvsd}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
  echo "SKIPPED: failover test needs root, ip(8) and tc(8)"
  exit 0
fi
P=lvsfo$$
NS_C=$P-c NS_A=$P-a NS_B=$P-b NS_S=$P-s NS_R1=$P-r1 NS_R2=$P-r2
ALL_NS="$NS_C $NS_A $NS_B $NS_S $NS_R1 $NS_R2"
WORK=$(mktemp -d /tmp/lvs-failover.XXXXXX)
START=$SECONDS
LIMIT=100 # seconds: every loop below also checks this
A_PID= B_PID=
SIZE=3145728 RATE=2400kbit # 300 kB/s: about 10 s per download

cleanup() {
  local rc=$?
  set +e
  for p in $A_PID $B_PID; do kill "$p" 2>/dev/null; done
  ns_purge $ALL_NS
  if [ "$rc" != 0 ]; then
    for x in a b; do
      echo "---- lvsd $x stderr ----"; tail -30 "$WORK/$x.err" 2>/dev/null
      echo "---- lvsd $x status ----"; cat "$WORK/$x.status" 2>/dev/null
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

ctl() { local x=$1; shift; "$LVSD" ctl "$WORK/$x.sock" "$@"; }
stat_of() { # a|b NAME: a status counter (0 when absent)
  ctl "$1" status > "$WORK/$1.status" || die "lvsd $1: status failed"
  awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$WORK/$1.status"
}
svc_stats() { # a|b VIP:PORT -> "Conns InPkts OutPkts InBytes OutBytes"
  ctl "$1" -L -n --stats --exact -t "$2" | awk 'NR > 2 && $1 == "TCP" { print $3, $4, $5, $6, $7; exit }'
}
conn_rs() { # a|b VIP:PORT: real servers of the established connections to VIP:PORT
  ctl "$1" -L -n -c | awk -v v="$2" '$3 == "ESTABLISHED" && $5 == v { print $6 }' | sort | tr '\n' ' '
}
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------------------------------------
say "topology: client, master and backup directors with a sync link, switch, 2 real servers"
for ns in $ALL_NS; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
nsx "$NS_S" ip link add brc type bridge
nsx "$NS_S" ip link add brr type bridge
nsx "$NS_S" ip link set brc up
nsx "$NS_S" ip link set brr up

ip link add c0 netns "$NS_C" type veth peer name sc netns "$NS_S"
ip link add c1 netns "$NS_C" type veth peer name scr netns "$NS_S"
for x in a b; do
  ns=$NS_A; [ $x = b ] && ns=$NS_B
  ip link add d0 netns "$ns" type veth peer name "${x}0" netns "$NS_S"
  ip link add d1 netns "$ns" type veth peer name "${x}1" netns "$NS_S"
  nsx "$NS_S" ip link set "${x}0" master brc
  nsx "$NS_S" ip link set "${x}1" master brr
  # no kernel addresses, no IPv6, no forwarding
  nsx "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 \
    net.ipv6.conf.d0.disable_ipv6=1 net.ipv6.conf.d1.disable_ipv6=1
  nsx "$ns" ip link set d0 up
  nsx "$ns" ip link set d1 up
done
# only the master is plugged in
nsx "$NS_S" ip link set a0 up
nsx "$NS_S" ip link set a1 up
nsx "$NS_S" ip link set sc master brc up
nsx "$NS_S" ip link set scr master brr up

# the sync link: a veth with kernel addresses, which the sync sockets use
ip link add y0 netns "$NS_A" type veth peer name y0 netns "$NS_B"
nsx "$NS_A" sysctl -qw net.ipv6.conf.y0.disable_ipv6=1
nsx "$NS_B" sysctl -qw net.ipv6.conf.y0.disable_ipv6=1
nsx "$NS_A" ip addr add 198.18.9.1/24 dev y0
nsx "$NS_B" ip addr add 198.18.9.2/24 dev y0
nsx "$NS_A" ip link set y0 up
nsx "$NS_B" ip link set y0 up

nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip addr add 198.18.1.2/24 dev c1
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip link set c1 up
nsx "$NS_C" sysctl -qw net.ipv4.conf.c0.rp_filter=0 net.ipv4.conf.c1.rp_filter=0
# a small receive window: little of a download sits in flight or in the client's socket buffer
nsx "$NS_C" sysctl -qw net.ipv4.tcp_rmem="4096 65536 131072"

declare -A WHO # sha256 -> server
for i in 1 2; do
  ns=$P-r$i
  ip link add eth0 netns "$ns" type veth peer name "s$i" netns "$NS_S"
  nsx "$NS_S" ip link set "s$i" master brr up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
  nsx "$ns" ip addr add "198.18.1.1$i/24" dev eth0
  nsx "$ns" ip link set eth0 up
  # the servers send at RATE (curl's --limit-rate lets some transfers run ahead of it)
  nsx "$ns" tc qdisc add dev eth0 root tbf rate "$RATE" burst 32kb latency 400ms
  nsx "$ns" ip route add default via 198.18.1.1 # NAT: back through the director
  nsx "$ns" ip addr add 198.18.0.20/32 dev lo # DR: the VIP, answered directly
  nsx "$ns" ip rule add from 198.18.0.20 lookup 100
  nsx "$ns" ip route add default via 198.18.1.2 dev eth0 table 100
  mkdir -p "$WORK/rs$i"
  echo "rs$i" > "$WORK/rs$i/name"
  head -c $SIZE /dev/urandom > "$WORK/rs$i/big"
  WHO[$(sha256sum < "$WORK/rs$i/big" | cut -d' ' -f1)]=rs$i
  nsx "$ns" python3 -m http.server 80 --bind 0.0.0.0 --directory "$WORK/rs$i" >/dev/null 2>&1 &
done
for i in 1 2; do
  for _ in $(seq 1 50); do
    nsx "$P-r$i" curl -s -o /dev/null --max-time 1 http://127.0.0.1/name && break
    sleep 0.1
  done
  nsx "$P-r$i" curl -sf -o /dev/null --max-time 1 http://127.0.0.1/name \
    || die "http server on rs$i did not start"
done

cat > "$WORK/rules" <<EOF
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:80 -m -w 1
-a -t 198.18.0.10:80 -r 198.18.1.12:80 -m -w 1
-A -t 198.18.0.20:80 -s rr -p 120
-a -t 198.18.0.20:80 -r 198.18.1.11 -g -w 1
-a -t 198.18.0.20:80 -r 198.18.1.12 -g -w 1
EOF

# ---------------------------------------------------------------------------------------------
say "starting the master (ipvsadm's spelling) and the backup (lvsd's)"
start_lvsd() { # a|b NS SYNC-OPTIONS...: lvsd's pid in LAST_PID
  local x=$1 ns=$2 pid; shift 2
  nsx "$ns" "$LVSD" --rules "$WORK/rules" --iface d0 --iface d1 \
    --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 --control "$WORK/$x.sock" "$@" \
    > "$WORK/$x.out" 2> "$WORK/$x.err" &
  disown # killed on purpose below: no job report
  for _ in $(seq 1 50); do [ -S "$WORK/$x.sock" ] && break; sleep 0.1; done
  [ -S "$WORK/$x.sock" ] || die "lvsd $x did not start: $(cat "$WORK/$x.err")"
  pid=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/$x.err")
  [ -n "$pid" ] || die "no pid in lvsd $x's start message"
  LAST_PID=$pid
}
start_lvsd a "$NS_A" --start-daemon master --mcast-interface y0 --syncid 7
A_PID=$LAST_PID
# the backup runs both daemons, as a pair that can fail back would; it must not apply its own
start_lvsd b "$NS_B" --sync both --sync-iface y0 --syncid 7
B_PID=$LAST_PID
ctl a -L --daemon > "$WORK/a.daemon"
ctl b -L --daemon > "$WORK/b.daemon"
grep -qx "master sync daemon (mcast=y0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)" \
  "$WORK/a.daemon" || die "master's -L --daemon: $(cat "$WORK/a.daemon")"
grep -q "^master sync daemon (mcast=y0, syncid=7, " "$WORK/b.daemon" \
  && grep -q "^backup sync daemon (mcast=y0, syncid=7, " "$WORK/b.daemon" \
  || die "backup's -L --daemon: $(cat "$WORK/b.daemon")"
say "  A: $(cat "$WORK/a.daemon")"
while read -r l; do say "  B: $l"; done < "$WORK/b.daemon"

say "through the master: NAT and DR answer"
for vip in 198.18.0.10 198.18.0.20; do
  w=$(nsx "$NS_C" curl -sf --max-time 5 "http://$vip/name") || die "$vip does not answer"
  say "  $vip -> $w"
done

# ---------------------------------------------------------------------------------------------
say "two long downloads ($SIZE bytes at $RATE each): NAT 198.18.0.10 and DR 198.18.0.20"
nsx "$NS_C" curl -sSf --max-time 60 -o "$WORK/nat.big" http://198.18.0.10/big 2> "$WORK/nat.curl" &
NAT_PID=$!
nsx "$NS_C" curl -sSf --max-time 60 -o "$WORK/dr.big" http://198.18.0.20/big 2> "$WORK/dr.curl" &
DR_PID=$!

say "waiting for the backup to learn both connections from the master's sync messages"
nat_rs= dr_rs=
for _ in $(seq 1 60); do # records wait up to 2 s for a message to fill
  in_time
  nat_rs=$(conn_rs b 198.18.0.10:80) dr_rs=$(conn_rs b 198.18.0.20:80)
  [ -n "$nat_rs" ] && [ -n "$dr_rs" ] && break
  sleep 0.1
done
if [ -z "$nat_rs" ] || [ -z "$dr_rs" ]; then
  kill -0 $NAT_PID 2>/dev/null && say "  the NAT download still runs" || say "  the NAT download ended"
  kill -0 $DR_PID 2>/dev/null && say "  the DR download still runs" || say "  the DR download ended"
  say "  curl: $(cat "$WORK/nat.curl" "$WORK/dr.curl"); sizes nat $(size_of "$WORK/nat.big") dr $(size_of "$WORK/dr.big")"
  say "  master's connections:"; ctl a -L -n -c; ctl a status > "$WORK/a.status"
  say "  backup's connections:"; ctl b -L -n -c; ctl b status > "$WORK/b.status"
  die "the backup did not learn the connections"
fi
[ "$nat_rs" = "$(conn_rs a 198.18.0.10:80)" ] && [ "$dr_rs" = "$(conn_rs a 198.18.0.20:80)" ] \
  || die "master and backup disagree: backup nat=$nat_rs dr=$dr_rs; master $(ctl a -L -n -c)"
ctl b -L -n -c > "$WORK/b.conns"
synced=$(($(wc -l < "$WORK/b.conns") - 2))
templates=$(awk 'NR > 2 && $4 ~ /:0$/' "$WORK/b.conns" | wc -l)
say "  backup holds $synced entries ($templates persistence templates): nat -> $nat_rs, dr -> $dr_rs"
sed 's/^/    /' "$WORK/b.conns"
[ "$templates" -ge 1 ] || die "no persistence template on the backup"
[ "$(stat_of b fwd.masq)" = 0 ] && [ "$(stat_of b fwd.route)" = 0 ] \
  || die "the backup forwarded before the takeover"
sleep 2 # let the downloads run on the master a little longer
kill -0 $NAT_PID 2>/dev/null && kill -0 $DR_PID 2>/dev/null \
  || die "a download ended early: nat $(size_of "$WORK/nat.big") bytes $(cat "$WORK/nat.curl"), dr $(size_of "$WORK/dr.big") bytes $(cat "$WORK/dr.curl")"
sent=$(stat_of a director.sync.messages_sent) records=$(stat_of a director.sync.records_sent)
master_fwd=$(( $(stat_of a fwd.masq) + $(stat_of a fwd.route) ))

# ---------------------------------------------------------------------------------------------
say "takeover: kill -9 the master, unplug it, plug the backup in, announce"
kill -9 "$A_PID"
A_PID=
nat_at=$(size_of "$WORK/nat.big") dr_at=$(size_of "$WORK/dr.big")
nsx "$NS_S" ip link set a0 down
nsx "$NS_S" ip link set a1 down
nsx "$NS_S" ip link set b0 up
nsx "$NS_S" ip link set b1 up
ctl b announce > "$WORK/announce" || die "announce failed"
say "  backup: $(cat "$WORK/announce")"
mac_b0=$(nsx "$NS_B" cat /sys/class/net/d0/address)
mac_b1=$(nsx "$NS_B" cat /sys/class/net/d1/address)
for _ in $(seq 1 20); do
  nsx "$NS_C" ip neigh show 198.18.0.10 dev c0 | grep -q "$mac_b0" && break
  sleep 0.1
done
for a in 198.18.0.10 198.18.0.20; do
  nsx "$NS_C" ip neigh show $a dev c0 | grep -q "$mac_b0" \
    || die "the client's ARP entry for $a is not the backup's: $(nsx "$NS_C" ip neigh show $a)"
done
say "  at takeover: curl had written nat $nat_at bytes, dr $dr_at bytes"
[ "$nat_at" -lt $SIZE ] && [ "$dr_at" -lt $SIZE ] || die "a download had finished before the takeover"

ok=1
wait $NAT_PID || { ok=0; say "  the NAT download failed: $(cat "$WORK/nat.curl")"; }
wait $DR_PID || { ok=0; say "  the DR download failed: $(cat "$WORK/dr.curl")"; }
[ $ok = 1 ] || die "the downloads did not survive the takeover"
in_time
nat_who=${WHO[$(sha256sum < "$WORK/nat.big" | cut -d' ' -f1)]:-}
dr_who=${WHO[$(sha256sum < "$WORK/dr.big" | cut -d' ' -f1)]:-}
[ -n "$nat_who" ] || die "NAT download corrupted ($(size_of "$WORK/nat.big") bytes)"
[ -n "$dr_who" ] || die "DR download corrupted ($(size_of "$WORK/dr.big") bytes)"
[ "$nat_rs" = "198.18.1.1${nat_who#rs}:80 " ] || die "NAT download came from $nat_who, synced $nat_rs"
[ "$dr_rs" = "198.18.1.1${dr_who#rs}:80 " ] || die "DR download came from $dr_who, synced $dr_rs"

gw=$(nsx "$P-r${nat_who#rs}" ip neigh show 198.18.1.1 dev eth0)
echo "$gw" | grep -q "$mac_b1" || die "$nat_who's gateway entry is not the backup's: $gw"
read -r _ nat_in _ _ nat_out <<< "$(svc_stats b 198.18.0.10:80)"
read -r _ dr_in _ _ _ <<< "$(svc_stats b 198.18.0.20:80)"
say "  through the backup: NAT InPkts=$nat_in OutBytes=$nat_out, DR InPkts=$dr_in"
# what the client's TCP had received but curl not yet written (at most its window, 128 KiB)
# went through the master
[ "$nat_out" -ge $((SIZE - nat_at - 131072)) ] \
  || die "the backup relayed only $nat_out bytes of the NAT download"
# the real server waits for an acknowledgement at least once per window (128 KiB)
[ "$dr_in" -ge $(((SIZE - dr_at - 131072) / 131072)) ] \
  || die "only $dr_in of the DR download's ACKs went through the backup"

say "after the takeover: persistence kept (synced template), new NAT connections served"
per=""
for _ in 1 2 3; do
  w=$(nsx "$NS_C" curl -sf --max-time 5 http://198.18.0.20/name) || die "DR VIP does not answer"
  per="$per $w"
  [ "$w" = "$dr_who" ] || die "persistent client went to $w, its template says $dr_who"
done
w=$(nsx "$NS_C" curl -sf --max-time 5 http://198.18.0.10/name) || die "NAT VIP does not answer"
applied=$(stat_of b director.sync.applied) dgrams=$(stat_of b sync.rx_datagrams)
unbound=$(stat_of b director.sync.unbound) rx_err=$(stat_of b sync.rx_errors)
rx_own=$(stat_of b sync.rx_own) b_sent=$(stat_of b director.sync.messages_sent)
[ "$rx_err" = 0 ] && [ "$unbound" = 0 ] || die "backup: $rx_err bad datagrams, $unbound unbound records"
[ "$rx_own" = 0 ] || die "the backup received $rx_own of its own messages"
kill -TERM "$B_PID"
for _ in $(seq 1 50); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.1; done
B_PID=

echo
echo "==== lvsd failover summary ($((SECONDS - START)) s) ===="
echo "master: $master_fwd frames forwarded, $sent sync messages / $records records sent, killed (-9)"
echo "backup: $dgrams datagrams, $applied records applied, $synced entries held ($templates templates) before takeover; $(cat "$WORK/announce")"
echo "nat 198.18.0.10:80 -> $nat_who: $SIZE bytes, sha256 ok; $nat_at written before the takeover, $((SIZE - nat_at)) after (backup OutBytes $nat_out)"
echo "dr  198.18.0.20:80 -> $dr_who: $SIZE bytes, sha256 ok; $dr_at written before the takeover, $((SIZE - dr_at)) after (backup InPkts $dr_in)"
echo "after takeover: persistent DR client ->$per; new NAT connection -> $w; the backup (also master) sent $b_sent sync messages"
echo "FAILOVER PASSED: 2 downloads survived the takeover intact"
