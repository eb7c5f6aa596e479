#!/usr/bin/env bash
# End-to-end test of lvsd's VIP failover with VRRP version 3 (RFC 5798), against itself and
# against keepalived.
#
#   vrrp.sh /path/to/lvsd        (as root; about 60 s; needs ip, tc, curl, python3, keepalived)
#   vrrp.sh /path/to/lvsd 2      part 1 only, both lvsd with --workers 2 (examples/lvsd/workers.rs:
#                                each shard sends its own sync messages, B's lead splits what it
#                                receives by the clients' shard); prints `VRRP workers=2 ...`
#
# Topology (addresses from 198.18.0.0/15 only), all ports plugged in at once:
#
#   client ns               switch ns                    directors                 real servers
#   c0 198.18.0.2 -- sc --[brc]-- a0 -- d0 lvsd A (prio 150, vrrp src 198.18.0.101)  y0 .9.1
#                            |--- b0 -- d0 lvsd B (prio 100, vrrp src 198.18.0.102)  y0 .9.2
#                            '--- k0 -- k0 keepalived K (198.18.0.5), part 2
#   c1 198.18.1.2 -- scr -[brr]-- a1 -- d1 A,  b1 -- d1 B
#                            '--- s1/s2 -------------------------------- rs1/rs2 eth0 (NAT)
#
# Both directors run the same rules and own addresses (198.18.0.1, 198.18.1.1: the NAT
# gateway) with MACs of their own, sync connections both ways over y0 and run VRRP (vrid 51,
# VIP 198.18.0.10) on d0: only the master answers ARP and forwards.
#
# Part 1: a 100 MB NAT download through master A (rate-limited at the servers so that it lasts
# several seconds); once B holds the synced connection, kill -9 A. B's VRRP sees the adverts
# stop, becomes master after Master_Down_Interval, announces the VIP and the gateway address,
# and the download completes byte-exact through B. Prints `VRRP takeover_ms=<n> download=ok`,
# the time from the kill to B reporting master.
#
# Part 2, keepalived 2.x (`version 3`) in the same group as a fresh lvsd B:
#  - keepalived at priority 50 stays BACKUP past its Master_Down_Interval: it hears lvsd's
#    adverts (else it would become master);
#  - keepalived at priority 200 preempts: it takes the VIP, and lvsd (100) goes BACKUP on its
#    adverts;
#  - kill -9 keepalived (and unplug its port, as a dead node): lvsd takes over, and a 100 MB
#    download through the VIP completes byte-exact through lvsd. (keepalived itself forwards
#    nothing here, as this kernel has no IPVS: the download starts at the kill.) Prints the
#    same `VRRP takeover_ms=<n> download=ok` line.
#  - forged adverts to lvsd, now master, each with a priority that would preempt it: a bad
#    checksum, TTL 254, version 2 with authentication (RFC 5798 section 7.1): each dropped and
#    counted under its reason, lvsd stays master; a well-formed lower-priority advert sent with
#    them is heard (the frames do reach lvsd).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: vrrp.sh /path/to/lvsd [WORKERS]}
WORKERS=${2:-1}
cant() {
  if [ "${CI:-}" = true ]; then echo "FAIL: vrrp test cannot run under CI: $*"; exit 1; fi
  echo "SKIPPED: vrrp test: $*"; exit 0
}
[ "$(id -u)" = 0 ] || cant "needs root"
for t in ip tc curl python3 sha256sum keepalived; do
  command -v $t >/dev/null || cant "$t is not installed"
done
P=ha-v$$
NS_C=$P-c NS_A=$P-a NS_B=$P-b NS_S=$P-s NS_K=$P-k NS_R1=$P-r1 NS_R2=$P-r2
ALL_NS="$NS_C $NS_A $NS_B $NS_S $NS_K $NS_R1 $NS_R2"
WORK=$(mktemp -d /tmp/ha-vrrp.XXXXXX)
START=$SECONDS
LIMIT=240 # seconds: every loop below also checks this
A_PID= B_PID= K_PID=
SIZE=104857600 RATE=100mbit # about 9 s per download
VIP=198.18.0.10

cleanup() {
  local rc=$?
  set +e
  for p in $A_PID $B_PID $K_PID; do kill "$p" 2>/dev/null; done
  ns_purge $ALL_NS
  if [ "$rc" != 0 ]; then
    for x in a b b2; do
      [ -f "$WORK/$x.err" ] || continue
      echo "---- lvsd $x stderr ----"; tail -20 "$WORK/$x.err"
      echo "---- lvsd $x status ----"; cat "$WORK/$x.status" 2>/dev/null
    done
    for k in k1 k2; do
      [ -f "$WORK/$k.log" ] && { echo "---- keepalived $k ----"; tail -20 "$WORK/$k.log"; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

ctl() { local x=$1; shift; "$LVSD" ctl "$WORK/$x.sock" "$@"; }
stat_of() { # a|b NAME: a status value (0 when absent)
  ctl "$1" status > "$WORK/$1.status" 2>/dev/null || { echo none; return; }
  awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$WORK/$1.status"
}
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
wait_state() { # a|b STATE SECONDS
  local i
  for i in $(seq 1 $(($3 * 50))); do
    [ "$(stat_of "$1" vrrp.state)" = "$2" ] && return 0
    in_time
    sleep 0.02
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
say "topology: client, two directors with a sync link, keepalived's node, switch, 2 servers"
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
nsx "$NS_S" ip link set sc master brc up
nsx "$NS_S" ip link set scr master brr up
for x in a b; do
  ns=$NS_A; [ $x = b ] && ns=$NS_B
  ip link add d0 netns "$ns" type veth peer name "${x}0" netns "$NS_S"
  ip link add d1 netns "$ns" type veth peer name "${x}1" netns "$NS_S"
  nsx "$NS_S" ip link set "${x}0" master brc up
  nsx "$NS_S" ip link set "${x}1" master brr up
  nsx "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 \
    net.ipv6.conf.d0.disable_ipv6=1 net.ipv6.conf.d1.disable_ipv6=1
  nsx "$ns" ip link set d0 up
  nsx "$ns" ip link set d1 up
done
ip link add k0 netns "$NS_K" type veth peer name k0 netns "$NS_S"
nsx "$NS_S" ip link set k0 master brc up
nsx "$NS_K" sysctl -qw net.ipv6.conf.k0.disable_ipv6=1
nsx "$NS_K" ip addr add 198.18.0.5/24 dev k0
nsx "$NS_K" ip link set k0 up

ip link add y0 netns "$NS_A" type veth peer name y0 netns "$NS_B"
for x in A B; do
  ns=$NS_A; n=1; [ $x = B ] && { ns=$NS_B; n=2; }
  nsx "$ns" sysctl -qw net.ipv6.conf.y0.disable_ipv6=1
  nsx "$ns" ip addr add "198.18.9.$n/24" dev y0
  nsx "$ns" ip link set y0 up
done

nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip addr add 198.18.1.2/24 dev c1
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip link set c1 up
nsx "$NS_C" sysctl -qw net.ipv4.conf.c0.rp_filter=0 net.ipv4.conf.c1.rp_filter=0

mkdir -p "$WORK/www"
echo ok > "$WORK/www/name"
head -c $SIZE /dev/urandom > "$WORK/www/big"
SUM=$(sha256sum < "$WORK/www/big" | cut -d' ' -f1)
for i in 1 2; do
  ns=$P-r$i
  ip link add eth0 netns "$ns" type veth peer name "s$i" netns "$NS_S"
  nsx "$NS_S" ip link set "s$i" master brr up
  nsx "$ns" ip addr add "198.18.1.1$i/24" dev eth0
  nsx "$ns" ip link set eth0 up
  nsx "$ns" tc qdisc add dev eth0 root tbf rate "$RATE" burst 256kb latency 200ms
  nsx "$ns" ip route add default via 198.18.1.1 # NAT: back through the director
  nsx "$ns" python3 -m http.server 80 --bind 0.0.0.0 --directory "$WORK/www" >/dev/null 2>&1 &
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
-A -t $VIP:80 -s rr
-a -t $VIP:80 -r 198.18.1.11:80 -m -w 1
-a -t $VIP:80 -r 198.18.1.12:80 -m -w 1
EOF

start_lvsd() { # NAME NS OPTIONS...: lvsd's pid in LAST_PID
  local x=$1 ns=$2 pid; shift 2
  nsx "$ns" "$LVSD" --rules "$WORK/rules" --iface d0 --iface d1 \
    --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 --control "$WORK/$x.sock" \
    --sync both --sync-iface y0 --syncid 7 --vrrp d0 --vrrp-vrid 51 --workers "$WORKERS" "$@" \
    > "$WORK/$x.out" 2> "$WORK/$x.err" &
  disown
  for _ in $(seq 1 50); do [ -S "$WORK/$x.sock" ] && break; sleep 0.1; done
  [ -S "$WORK/$x.sock" ] || die "lvsd $x did not start: $(cat "$WORK/$x.err")"
  pid=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/$x.err")
  [ -n "$pid" ] || die "no pid in lvsd $x's start message"
  LAST_PID=$pid
}

download() { # OUT: a background curl of the big file through the VIP; pid in DL_PID
  nsx "$NS_C" curl -sSf --max-time 120 \
    -o "$1" "http://$VIP/big" 2> "$1.curl" &
  DL_PID=$!
}

# ---------------------------------------------------------------------------------------------
say "part 1: lvsd A (priority 150) and lvsd B (priority 100), advert interval 0.3 s"
start_lvsd a "$NS_A" --vrrp-priority 150 --vrrp-src 198.18.0.101 --vrrp-advert-int 0.3
A_PID=$LAST_PID
start_lvsd b "$NS_B" --vrrp-priority 100 --vrrp-src 198.18.0.102 --vrrp-advert-int 0.3
B_PID=$LAST_PID
say "  $(grep -m1 'vrrp on' "$WORK/a.err")"
wait_state a master 10 || die "A did not become master"
wait_state b backup 5 || die "B is not backup"
sleep 1
rx=$(stat_of b vrrp.rx_adverts)
[ "$rx" -ge 2 ] || die "B heard $rx adverts from A"
[ "$(stat_of a vrrp.became_master)" = 1 ] && [ "$(stat_of b vrrp.became_master)" = 0 ] \
  || die "more than one master: A $(stat_of a vrrp.became_master), B $(stat_of b vrrp.became_master)"
w=$(nsx "$NS_C" curl -sf --max-time 5 "http://$VIP/name") || die "the VIP does not answer"
[ "$(stat_of b fwd.masq)" = 0 ] || die "the backup forwarded"
say "  A master, B backup ($rx adverts heard, $(stat_of b vrrp.silenced_frames) frames ignored); VIP answers '$w'"

say "a $SIZE-byte download through A at $RATE"
download "$WORK/dl1"
DL1=$DL_PID
synced=
for _ in $(seq 1 100); do
  in_time
  # the download's own entry (every shard's, with workers): counting applied sync messages
  # instead let the earlier /name connection's message stand for it, and A was killed before
  # B knew the download
  synced=$(ctl b -L -n -c | awk -v v="$VIP:80" '$3 == "ESTABLISHED" && $5 == v' | wc -l)
  [ "$synced" -ge 1 ] && [ "$(size_of "$WORK/dl1")" -ge 20000000 ] && break
  sleep 0.1
done
[ "$synced" -ge 1 ] || die "B did not learn the connection"
at=$(size_of "$WORK/dl1")
[ "$at" -lt $SIZE ] || die "the download finished before the kill"
say "  B holds the synced connection; $at bytes received: kill -9 A"
t0=$(now_ms)
kill -9 "$A_PID"
A_PID=
wait_state b master 10 || die "B did not take over"
t1=$(now_ms)
TAKEOVER1=$((t1 - t0))
say "  B master after $TAKEOVER1 ms (Master_Down_Interval $(stat_of b vrrp.master_down_ms) ms)"
wait $DL1 || die "the download failed: $(cat "$WORK/dl1.curl")"
[ "$(sha256sum < "$WORK/dl1" | cut -d' ' -f1)" = "$SUM" ] \
  || die "the download is corrupted ($(size_of "$WORK/dl1") bytes)"
sleep 1.2 # worker 1 publishes its counters once a second
masq=$(stat_of b fwd.masq) # summed over the workers
[ "$masq" -gt 1000 ] || die "B forwarded only $masq frames"
drops=$(awk '$1 ~ /^vrrp\.drop\./ { s += $2 } END { print s + 0 }' "$WORK/b.status")
[ "$drops" = 0 ] || die "B dropped $drops adverts: $(grep '^vrrp.drop' "$WORK/b.status")"
say "  download complete, sha256 ok; B forwarded $masq frames"
# what B's shards applied of A's sync messages
A1=$(stat_of b worker0.director.sync.applied) A2=$(stat_of b worker1.director.sync.applied)
echo "lvsd peer: VRRP takeover_ms=$TAKEOVER1 download=ok"
RESULT1="VRRP takeover_ms=$TAKEOVER1 download=ok"
kill -TERM "$B_PID"
for _ in $(seq 1 50); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.1; done
B_PID=
rm -f "$WORK/dl1"
if [ "$WORKERS" != 1 ]; then
  echo "VRRP workers=$WORKERS takeover_ms=$TAKEOVER1 download=ok applied0=$A1 applied1=$A2"
  echo "VRRP PASSED: lvsd --workers $WORKERS took over from lvsd --workers $WORKERS, download intact"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
say "part 2: lvsd B (priority 100, advert interval 1 s) and keepalived"
keepalived_conf() { # PRIORITY
  cat <<EOF
global_defs {
  router_id ha_k
  enable_script_security
}
vrrp_instance VI_51 {
  state BACKUP
  interface k0
  virtual_router_id 51
  priority $1
  advert_int 1
  version 3
  virtual_ipaddress {
    $VIP/24
  }
}
EOF
}
start_keepalived() { # NAME PRIORITY
  keepalived_conf "$2" > "$WORK/$1.conf"
  nsx "$NS_K" keepalived -n -l -D -f "$WORK/$1.conf" -p "$WORK/$1.pid" -r "$WORK/$1.vpid" \
    -c "$WORK/$1.cpid" > "$WORK/$1.log" 2>&1 &
  K_PID=$!
  disown # killed on purpose below: no job report
}
rm -f "$WORK/b.sock"
start_lvsd b2 "$NS_B" --vrrp-priority 100 --vrrp-src 198.18.0.102
B_PID=$LAST_PID
wait_state b2 master 10 || die "lvsd alone did not become master"
say "  lvsd master alone; keepalived at priority 50 joins"
start_keepalived k1 50
sleep 6 # keepalived's Master_Down_Interval is 3.8 s
in_time
grep -q "Entering BACKUP STATE" "$WORK/k1.log" || die "keepalived (50) did not start as backup"
! grep -q "Entering MASTER STATE" "$WORK/k1.log" \
  || die "keepalived (50) became master: it does not hear lvsd's adverts"
[ "$(stat_of b2 vrrp.state)" = master ] || die "lvsd left master for a lower priority"
say "  keepalived (50) stays BACKUP past its Master_Down_Interval: it hears lvsd's adverts"
kill -TERM "$K_PID"
for _ in $(seq 1 50); do kill -0 "$K_PID" 2>/dev/null || break; sleep 0.1; done
K_PID=

start_keepalived k2 200
wait_state b2 backup 10 || die "lvsd did not back off to keepalived (200)"
for _ in $(seq 1 50); do grep -q "Entering MASTER STATE" "$WORK/k2.log" && break; sleep 0.1; done
grep -q "Entering MASTER STATE" "$WORK/k2.log" || die "keepalived (200) is not master"
sleep 2
rx=$(stat_of b2 vrrp.rx_adverts)
drops=$(awk '$1 ~ /^vrrp\.drop\./ { s += $2 } END { print s + 0 }' "$WORK/b2.status")
[ "$drops" = 0 ] || die "lvsd dropped keepalived's adverts: $(grep '^vrrp.drop' "$WORK/b2.status")"
say "  keepalived (200) preempted and is MASTER; lvsd BACKUP on $rx of its adverts, none dropped"
nsx "$NS_K" ip -4 addr show dev k0 | grep -q "$VIP" || die "keepalived did not take the VIP"

say "kill -9 keepalived, unplug its node"
t0=$(now_ms)
kill -9 "$K_PID"
nsx "$NS_S" ip link set k0 down
K_PID=
download "$WORK/dl2"
DL2=$DL_PID
wait_state b2 master 10 || die "lvsd did not take over from keepalived"
t1=$(now_ms)
TAKEOVER2=$((t1 - t0))
say "  lvsd master after $TAKEOVER2 ms (Master_Down_Interval $(stat_of b2 vrrp.master_down_ms) ms)"
wait $DL2 || die "the download after the takeover failed: $(cat "$WORK/dl2.curl")"
[ "$(sha256sum < "$WORK/dl2" | cut -d' ' -f1)" = "$SUM" ] || die "the download is corrupted"
[ "$(stat_of b2 fwd.masq)" -gt 1000 ] || die "lvsd did not carry the download"
say "  download through lvsd complete, sha256 ok"
echo "keepalived peer: VRRP takeover_ms=$TAKEOVER2 download=ok"
say "forged adverts to the master (priority 254, each would preempt it): dropped and counted"
# RFC 5798 section 7.1: a bad checksum, TTL 254 (it crossed a router), version 2 with an
# authentication (RFC 3768), then a well-formed advert of priority 50 as a control (heard,
# lower: the master stays). Sent as raw frames from the client's port on the same segment.
base_rx=$(stat_of b2 vrrp.rx_adverts)
nsx "$NS_C" python3 "$(dirname "$0")/vrrp_advert.py" "$VIP" c0 forged
sleep 0.5
for c in bad_checksum bad_ttl bad_version; do
  [ "$(stat_of b2 vrrp.drop.$c)" = 1 ] || die "the forged advert ($c) was not counted: $(grep '^vrrp' "$WORK/b2.status")"
done
[ "$(stat_of b2 vrrp.rx_adverts)" = $((base_rx + 1)) ] \
  || die "the control advert was not heard ($base_rx -> $(stat_of b2 vrrp.rx_adverts))"
[ "$(stat_of b2 vrrp.state)" = master ] || die "a forged advert moved lvsd out of master"
say "  bad_checksum=1 bad_ttl=1 bad_version=1 dropped, the control advert heard, lvsd still master"
kill -TERM "$B_PID"
for _ in $(seq 1 50); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.1; done
B_PID=

echo
echo "==== lvsd VRRP summary ($((SECONDS - START)) s) ===="
echo "$RESULT1"
echo "VRRP takeover_ms=$TAKEOVER2 download=ok"
echo "VRRP PASSED: lvsd took over from lvsd and from keepalived, downloads intact"
