#!/usr/bin/env bash
# End-to-end test of lvsd: network namespaces, veth pairs, a bridge, real TCP stacks.
#
#   run.sh /path/to/lvsd        (as root; takes well under 3 minutes)
#
# Topology (addresses from 198.18.0.0/15 and 2001:db8::/32 only):
#
#   client ns           director ns (lvsd)            switch ns         real servers
#   c0 198.18.0.2 ---- d0 (no kernel address)
#      2001:db8::2        lvsd: 198.18.0.1, 2001:db8::1
#                         VIPs 198.18.0.10/.20/.30, 2001:db8::10
#                      d1 (no kernel address) ------ br0 ------------- rsN eth0 198.18.1.1N
#                         lvsd: 198.18.1.1, 2001:db8:1::1  |                 2001:db8:1::1N
#   c1 198.18.1.2 ------------------------------------------+                 lo: 198.18.0.20 (DR VIP)
#
# The director namespace has IP forwarding off, IPv6 disabled on d0/d1 and no addresses on
# them: its kernel neither routes nor answers; lvsd does everything through AF_PACKET.
# NAT real servers route back through lvsd (default via 198.18.1.1 / 2001:db8:1::1). DR real
# servers hold the VIP on lo (arp_ignore=1, arp_announce=2) and answer the client directly
# through the client's second leg c1 (source-based rule: from the DR VIP, via 198.18.1.2).
# Tunnel mode is checked on the wire (this kernel has no ipip/fou modules to decapsulate).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: run.sh /path/to/lvsd}
HERE=$(cd "$(dirname "$0")" && pwd)
NRS=4
P=lvse2e$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s
WORK=$(mktemp -d /tmp/lvs-e2e.XXXXXX)
CTL=$WORK/ctl.sock
START=$SECONDS
LIMIT=170 # seconds: every loop below also checks this
LVSD_PID=
FAILS=0
SUMMARY=$WORK/summary

rs_ns() { echo "$P-r$1"; }
rip() { echo "198.18.1.$((10 + $1))"; }
rip6() { echo "2001:db8:1::$((10 + $1))"; }

cleanup() {
  local rc=$?
  set +e
  [ -n "$LVSD_PID" ] && kill "$LVSD_PID" 2>/dev/null
  ns_purge "$NS_C" "$NS_D" "$NS_S" $(for i in $(seq 1 $NRS); do rs_ns "$i"; done)
  if [ "$rc" != 0 ]; then
    echo "---- lvsd stderr ----"; cat "$WORK/lvsd.err" 2>/dev/null | tail -40
    echo "---- lvsd status ----"; cat "$WORK/status.last" 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

ctl() { "$LVSD" ctl "$CTL" "$@"; }
status() { ctl status | tee "$WORK/status.last" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }

# ---------------------------------------------------------------------------------------------
say "topology: client, director, switch and $NRS real servers"
for ns in "$NS_C" "$NS_D" "$NS_S" $(for i in $(seq 1 $NRS); do rs_ns "$i"; done); do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
nsx "$NS_S" ip link add br0 type bridge
nsx "$NS_S" ip link set br0 up

# client <-> director
ip link add c0 netns "$NS_C" type veth peer name d0 netns "$NS_D"
# director, client's second leg and real servers on the switch
ip link add d1 netns "$NS_D" type veth peer name sd netns "$NS_S"
ip link add c1 netns "$NS_C" type veth peer name sc netns "$NS_S"
for i in $(seq 1 $NRS); do
  ip link add eth0 netns "$(rs_ns "$i")" type veth peer name "s$i" netns "$NS_S"
done
for port in sd sc $(for i in $(seq 1 $NRS); do echo "s$i"; done); do
  nsx "$NS_S" ip link set "$port" master br0 up
done

# the director: no routing, no addresses, no IPv6 on lvsd's interfaces
nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 \
  net.ipv6.conf.d0.disable_ipv6=1 net.ipv6.conf.d1.disable_ipv6=1
nsx "$NS_D" ip link set d0 up
nsx "$NS_D" ip link set d1 up

# the client
nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip -6 addr add 2001:db8::2/64 dev c0 nodad
nsx "$NS_C" ip addr add 198.18.1.2/24 dev c1
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip link set c1 up
nsx "$NS_C" sysctl -qw net.ipv4.conf.c1.rp_filter=0 net.ipv4.conf.c0.rp_filter=0

# real servers: a page naming themselves, a 64 KiB blob and a 2 MiB file, all random
declare -A WHO   # sha256 -> server
for i in $(seq 1 $NRS); do
  ns=$(rs_ns "$i")
  nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
  nsx "$ns" ip addr add "$(rip "$i")/24" dev eth0
  nsx "$ns" ip -6 addr add "$(rip6 "$i")/64" dev eth0 nodad
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via 198.18.1.1
  nsx "$ns" ip -6 route add default via 2001:db8:1::1
  nsx "$ns" ip addr add 198.18.0.20/32 dev lo
  nsx "$ns" ip rule add from 198.18.0.20 lookup 100
  nsx "$ns" ip route add default via 198.18.1.2 dev eth0 table 100
  mkdir -p "$WORK/rs$i"
  echo "rs$i" > "$WORK/rs$i/name"
  head -c 65536 /dev/urandom > "$WORK/rs$i/blob"
  head -c 2097152 /dev/urandom > "$WORK/rs$i/big"
  WHO[$(sha256sum < "$WORK/rs$i/blob" | cut -d' ' -f1)]=rs$i
  WHO[$(sha256sum < "$WORK/rs$i/big" | cut -d' ' -f1)]=rs$i-big
  nsx "$ns" python3 -m http.server 80 --bind :: --directory "$WORK/rs$i" \
    >/dev/null 2>&1 &
done
for i in $(seq 1 $NRS); do
  for _ in $(seq 1 50); do
    nsx "$(rs_ns "$i")" curl -s -o /dev/null --max-time 1 http://127.0.0.1/name && break
    sleep 0.1
  done
  nsx "$(rs_ns "$i")" curl -sf -o /dev/null --max-time 1 http://127.0.0.1/name \
    || die "http server on rs$i did not start"
done

# ---------------------------------------------------------------------------------------------
cat > "$WORK/rules" <<EOF
# NAT, round robin, all four servers
-A -t 198.18.0.10:80 -s rr
$(for i in $(seq 1 $NRS); do echo "-a -t 198.18.0.10:80 -r $(rip "$i"):80 -m -w 1"; done)
# NAT, weighted round robin 3:2:1, port 81 mapped to 80
-A -t 198.18.0.10:81 -s wrr
-a -t 198.18.0.10:81 -r $(rip 1):80 -m -w 3
-a -t 198.18.0.10:81 -r $(rip 2):80 -m -w 2
-a -t 198.18.0.10:81 -r $(rip 3):80 -m -w 1
# NAT over IPv6
-A -t [2001:db8::10]:80 -s rr
$(for i in $(seq 1 $NRS); do echo "-a -t [2001:db8::10]:80 -r [$(rip6 "$i")]:80 -m -w 1"; done)
# direct routing
-A -t 198.18.0.20:80 -s rr
$(for i in $(seq 1 $NRS); do echo "-a -t 198.18.0.20:80 -r $(rip "$i") -g -w 1"; done)
# tunnels: IPIP to rs1, GUE to rs2
-A -t 198.18.0.30:80 -s rr
-a -t 198.18.0.30:80 -r $(rip 1) -i -w 1
-a -t 198.18.0.30:80 -r $(rip 2) -i --tun-type gue --tun-port 6080 -w 1
# least connections, and weighted least connections 1:2:3
-A -t 198.18.0.10:82 -s lc
$(for i in 1 2 3; do echo "-a -t 198.18.0.10:82 -r $(rip "$i"):80 -m -w 1"; done)
-A -t 198.18.0.10:83 -s wlc
$(for i in 1 2 3; do echo "-a -t 198.18.0.10:83 -r $(rip "$i"):80 -m -w $i"; done)
# quiescing, and removal/re-adding (one server to start with)
-A -t 198.18.0.10:84 -s rr
-a -t 198.18.0.10:84 -r $(rip 1):80 -m -w 1
-A -t 198.18.0.10:85 -s rr
-a -t 198.18.0.10:85 -r $(rip 1):80 -m -w 1
EOF

say "malformed rules are rejected with line numbers before anything starts"
printf -- '-A -t 198.18.0.10:80 -s rr\n-a -t 198.18.0.10:80 -r 198.18.1.11 -m -w 99999\n-A -t 198.18.0.11:80 -s nosuch\n' > "$WORK/bad.rules"
if "$LVSD" --rules "$WORK/bad.rules" --iface lo > "$WORK/bad.out" 2>&1; then
  die "lvsd accepted a bad rules file"
fi
grep -q "line 2: illegal weight" "$WORK/bad.out" || die "no line-2 error: $(cat "$WORK/bad.out")"
grep -q "line 3: .*unknown scheduler" "$WORK/bad.out" || die "no line-3 error: $(cat "$WORK/bad.out")"
"$LVSD" --rules "$WORK/rules" --check > "$WORK/check.out" || die "--check failed"

say "starting lvsd in the director namespace"
nsx "$NS_D" "$LVSD" --rules "$WORK/rules" --iface d0 --iface d1 \
  --addr d0=198.18.0.1/24 --addr d0=2001:db8::1/64 \
  --addr d1=198.18.1.1/24 --addr d1=2001:db8:1::1/64 \
  --control "$CTL" > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
WRAP_PID=$! # `ip netns exec` may stay as lvsd's parent: signal lvsd itself, wait for both
for _ in $(seq 1 50); do [ -S "$CTL" ] && break; sleep 0.1; done
[ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err")
[ -n "$LVSD_PID" ] || die "no pid in lvsd's start message"
ctl -L -n > "$WORK/list0" || die "ctl -L failed"

# ---------------------------------------------------------------------------------------------
# fetch URL [curl options...]: prints the server whose file came back intact, or FAIL
fetch() {
  local url=$1; shift
  local sum
  sum=$(nsx "$NS_C" curl -sf -g --max-time 10 "$@" "$url" | sha256sum | cut -d' ' -f1) || true
  echo "${WHO[$sum]:-FAIL}"
}

# run_loop NAME MODE SCHED URL N: N sequential requests, per-server counts into COUNT[]
declare -A COUNT
run_loop() {
  local name=$1 mode=$2 sched=$3 url=$4 n=$5 w fails=0 per=""
  COUNT=()
  for _ in $(seq 1 "$n"); do
    in_time
    w=$(fetch "$url")
    if [ "$w" = FAIL ]; then fails=$((fails + 1)); else COUNT[$w]=$((${COUNT[$w]:-0} + 1)); fi
  done
  for k in $(printf '%s\n' "${!COUNT[@]}" | sort); do per="$per $k=${COUNT[$k]}"; done
  printf '%-24s %-6s %-6s %-8s %8s %8s %s\n' "$name" "$mode" "$sched" "${#COUNT[@]}" "$n" "$fails" "$per" >> "$SUMMARY"
  FAILS=$((FAILS + fails))
  [ "$fails" = 0 ] || die "$name: $fails of $n requests failed"
}

expect_counts() { # name rsN=count...
  local name=$1 kv k v; shift
  for kv in "$@"; do
    k=${kv%%=*} v=${kv#*=}
    [ "${COUNT[$k]:-0}" = "$v" ] || die "$name: $k served ${COUNT[$k]:-0}, expected $v"
  done
}

snmp() { # client's TCP counter by name
  nsx "$NS_C" awk -v k="$1" '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c[k] }' /proc/net/snmp
}

svc_stats() { # VIP:PORT -> "Conns InPkts OutPkts" of the service line
  ctl -L -n --stats --exact -t "$1" | awk 'NR > 2 && $1 == "TCP" { print $3, $4, $5; exit }'
}

active_of() { # VIP:PORT RIP:PORT -> ActiveConn
  ctl -L -n -t "$1" | awk -v r="$2" '$2 == r { print $5 }'
}

# ---------------------------------------------------------------------------------------------
say "NAT IPv4, rr over $NRS servers: 40 requests, counters against the client's TCP MIB"
out0=$(snmp OutSegs) re0=$(snmp RetransSegs) in0=$(snmp InSegs)
run_loop "nat4 198.18.0.10:80" NAT rr http://198.18.0.10/blob 40
expect_counts nat4-rr rs1=10 rs2=10 rs3=10 rs4=10
sleep 1 # let the last FIN/ACK exchanges pass
out1=$(snmp OutSegs) re1=$(snmp RetransSegs) in1=$(snmp InSegs)
read -r conns inpkts outpkts <<< "$(svc_stats 198.18.0.10:80)"
sent=$((out1 - out0)) retr=$((re1 - re0)) recv=$((in1 - in0))
say "  --stats: Conns=$conns InPkts=$inpkts OutPkts=$outpkts; client TCP: OutSegs=$sent RetransSegs=$retr InSegs=$recv"
[ "$conns" = 40 ] || die "Conns is $conns, 40 requests were made"
# every segment the client's TCP sent went to the VIP and crossed lvsd once; OutSegs leaves
# out retransmissions, which lvsd counts too
[ "$inpkts" -ge "$sent" ] && [ "$inpkts" -le $((sent + retr)) ] \
  || die "InPkts $inpkts not within the client's OutSegs $sent (+ $retr retransmitted)"
# every segment the client's TCP received came from lvsd (NAT replies)
[ "$outpkts" = "$recv" ] || die "OutPkts $outpkts != the client's InSegs $recv"

say "NAT IPv4, wrr 3:2:1: 4 full cycles"
run_loop "nat4 198.18.0.10:81" NAT wrr http://198.18.0.10:81/blob 24
expect_counts nat4-wrr rs1=12 rs2=8 rs3=4

say "NAT IPv6, rr: 20 requests"
run_loop "nat6 [2001:db8::10]:80" NAT rr "http://[2001:db8::10]/blob" 20
expect_counts nat6-rr rs1=5 rs2=5 rs3=5 rs4=5

say "direct routing, rr: 20 requests (replies bypass lvsd)"
run_loop "dr 198.18.0.20:80" DR rr http://198.18.0.20/blob 20
expect_counts dr-rr rs1=5 rs2=5 rs3=5 rs4=5
read -r conns inpkts outpkts <<< "$(svc_stats 198.18.0.20:80)"
[ "$conns" = 20 ] && [ "$outpkts" = 0 ] || die "DR stats: Conns=$conns OutPkts=$outpkts"

say "big downloads through NAT (GSO super-frames from the servers are segmented)"
run_loop "nat4-big 198.18.0.10:80" NAT rr http://198.18.0.10/big 4
expect_counts nat4-big rs1-big=1 rs2-big=1 rs3-big=1 rs4-big=1

# ---------------------------------------------------------------------------------------------
say "tunnels: capture what rs1 (IPIP) and rs2 (GUE) receive"
# the client's capture runs before and after the real servers' captures, so that it holds
# every packet they can have seen (a late SYN retransmission included)
nsx "$NS_C" python3 "$HERE/tuncheck.py" capture c0 20 "$WORK/cap.c" 2>/dev/null &
cpid=$!
rpids=""
for i in 1 2; do
  nsx "$(rs_ns "$i")" python3 "$HERE/tuncheck.py" capture eth0 20 "$WORK/cap.r$i" 2>/dev/null &
  rpids="$rpids $!"
done
for f in cap.c cap.r1 cap.r2; do
  for _ in $(seq 1 100); do [ -e "$WORK/$f.ready" ] && break; sleep 0.05; done
  [ -e "$WORK/$f.ready" ] || die "capture $f did not start"
done
tpids=""
for k in 1 2 3 4; do
  nsx "$NS_C" curl -s -o /dev/null --max-time 1.5 http://198.18.0.30/blob &
  tpids="$tpids $!"
  sleep 0.2
done
wait $tpids || true
sleep 0.2
touch "$WORK/cap.r1.stop" "$WORK/cap.r2.stop"
wait $rpids
touch "$WORK/cap.c.stop"
wait $cpid
nsx "$NS_C" python3 "$HERE/tuncheck.py" check "$WORK/cap.c" 198.18.0.30:80 198.18.1.1 \
  "$WORK/cap.r1:$(rip 1):ipip" "$WORK/cap.r2:$(rip 2):gue:6080" | tee "$WORK/tun.out" \
  || die "tunnel frames are wrong"
f1=$(awk '$2 == "ipip" { sub("flows=", "", $4); print $4 }' "$WORK/tun.out")
f2=$(awk '$2 == "gue" { sub("flows=", "", $4); print $4 }' "$WORK/tun.out")
[ "$f1" = 2 ] && [ "$f2" = 2 ] || die "tunnel rr: flows rs1=$f1 rs2=$f2, expected 2 each"
printf '%-24s %-6s %-6s %-8s %8s %8s %s\n' "tun 198.18.0.30:80" TUN rr 2 4 0 " rs1=$f1(ipip) rs2=$f2(gue)" >> "$SUMMARY"

# ---------------------------------------------------------------------------------------------
# slow N VIP:PORT: start N rate-limited downloads one after another; PIDs in SLOW
slow_start() {
  SLOW=""
  for _ in $(seq 1 "$1"); do
    nsx "$NS_C" curl -s -o /dev/null --max-time 60 --limit-rate 20k "http://$2/big" &
    SLOW="$SLOW $!"
    sleep 0.3
  done
}
slow_stop() { kill $SLOW 2>/dev/null || true; wait $SLOW 2>/dev/null || true; }

say "lc: 6 concurrent downloads over 3 equal servers"
slow_start 6 198.18.0.10:82
lc="$(active_of 198.18.0.10:82 "$(rip 1):80") $(active_of 198.18.0.10:82 "$(rip 2):80") $(active_of 198.18.0.10:82 "$(rip 3):80")"
slow_stop
printf '%-24s %-6s %-6s %-8s %8s %8s %s\n' "lc 198.18.0.10:82" NAT lc 3 6 0 " active: $lc" >> "$SUMMARY"
[ "$lc" = "2 2 2" ] || die "lc active connections: $lc, expected 2 2 2"

say "wlc: 6 concurrent downloads over weights 1:2:3"
slow_start 6 198.18.0.10:83
wlc="$(active_of 198.18.0.10:83 "$(rip 1):80") $(active_of 198.18.0.10:83 "$(rip 2):80") $(active_of 198.18.0.10:83 "$(rip 3):80")"
slow_stop
printf '%-24s %-6s %-6s %-8s %8s %8s %s\n' "wlc 198.18.0.10:83" NAT wlc 3 6 0 " active: $wlc" >> "$SUMMARY"
[ "$wlc" = "1 2 3" ] || die "wlc active connections: $wlc, expected 1 2 3"

# ---------------------------------------------------------------------------------------------
say "quiescing: weight 0 moves new connections away, the in-flight download completes"
nsx "$NS_C" curl -sf --max-time 30 --limit-rate 1M -o "$WORK/q.big" http://198.18.0.10:84/big &
qpid=$!
sleep 0.5
ctl -a -t 198.18.0.10:84 -r "$(rip 2)":80 -m -w 1
ctl -e -t 198.18.0.10:84 -r "$(rip 1)":80 -m -w 0
ctl -L -n -t 198.18.0.10:84 | grep -q "$(rip 1):80 *Masq *0 " || die "rs1 is not at weight 0"
run_loop "quiesce 198.18.0.10:84" NAT rr http://198.18.0.10:84/blob 8
expect_counts quiesce rs1=0 rs2=8
# still in flight after the new connections went elsewhere
kill -0 $qpid 2>/dev/null || die "the download ended before the new connections were made"
ctl -L -n -c | grep -q "198.18.0.10:84 *$(rip 1):80" || die "the quiesced server's connection is gone"
wait $qpid || die "the download from the quiesced server failed"
[ "${WHO[$(sha256sum < "$WORK/q.big" | cut -d' ' -f1)]:-}" = rs1-big ] || die "quiesced download corrupted"

say "removing a server drops its flow's packets (expire_nodest_conn=0); re-adding revives it"
nsx "$NS_C" curl -sf --max-time 40 --limit-rate 500k -o "$WORK/r.big" http://198.18.0.10:85/big &
rpid=$!
sleep 0.5
ctl -a -t 198.18.0.10:85 -r "$(rip 2)":80 -m -w 1
du0=$(status director.dest_unavailable)
ctl -d -t 198.18.0.10:85 -r "$(rip 1)":80
run_loop "remove 198.18.0.10:85" NAT rr http://198.18.0.10:85/blob 5
expect_counts remove rs1=0 rs2=5
sleep 1.5
kill -0 $rpid 2>/dev/null || die "the download ended while its server was removed"
du1=$(status director.dest_unavailable)
ctl -L -n -c | grep -q "198.18.0.10:85 *$(rip 1):80" || die "the removed server's connection is gone"
[ "$du1" -gt "$du0" ] || die "no packet of the removed server's flow was dropped ($du0 -> $du1)"
say "  $((du1 - du0)) packets of the flow dropped while rs1 was removed"
ctl -a -t 198.18.0.10:85 -r "$(rip 1)":80 -m -w 1
wait $rpid || die "the revived download failed"
[ "${WHO[$(sha256sum < "$WORK/r.big" | cut -d' ' -f1)]:-}" = rs1-big ] || die "revived download corrupted"

# ---------------------------------------------------------------------------------------------
say "SIGHUP reload: edit, remove and add services while a download runs"
nsx "$NS_C" curl -sf --max-time 30 --limit-rate 1M -o "$WORK/h.big" http://198.18.0.10/big &
hpid=$!
sleep 0.3
sed -i -e 's/^\(-a -t 198.18.0.10:81 .*\) -w [0-9]*$/\1 -w 1/' \
  -e '/198.18.0.10:82/d' "$WORK/rules"
printf -- '-A -t 198.18.0.10:86 -s rr\n-a -t 198.18.0.10:86 -r %s:80 -m -w 1\n' "$(rip 4)" >> "$WORK/rules"
kill -HUP "$LVSD_PID"
sleep 0.5
grep -q "reloaded" "$WORK/lvsd.err" || die "no reload message"
ctl -L -n > "$WORK/list1"
grep -q "198.18.0.10:86" "$WORK/list1" && ! grep -q "198.18.0.10:82" "$WORK/list1" \
  || die "reload did not apply: $(cat "$WORK/list1")"
run_loop "wrr-reloaded :81" NAT wrr http://198.18.0.10:81/blob 6
expect_counts reload-wrr rs1=2 rs2=2 rs3=2
run_loop "added 198.18.0.10:86" NAT rr http://198.18.0.10:86/blob 2
expect_counts reload-add rs4=2
wait $hpid || die "the download across the reload failed"
[ "${WHO[$(sha256sum < "$WORK/h.big" | cut -d' ' -f1)]:-}" != "" ] || die "download across reload corrupted"

# ---------------------------------------------------------------------------------------------
say "SIGUSR1 prints the --stats listing; SIGTERM prints it again and exits"
kill -USR1 "$LVSD_PID"
sleep 0.3
grep -q "Conns   InPkts  OutPkts  InBytes OutBytes" "$WORK/lvsd.out" || die "no stats on SIGUSR1"
ctl status > "$WORK/status.last"
kill -TERM "$LVSD_PID"
wait "$WRAP_PID" || die "lvsd exited with an error"
LVSD_PID=
[ "$(grep -c "Conns   InPkts" "$WORK/lvsd.out")" = 2 ] || die "no stats listing at exit"

echo
echo "==== lvsd end-to-end summary ($((SECONDS - START)) s) ===="
printf '%-24s %-6s %-6s %-8s %8s %8s %s\n' service mode sched servers requests failures per-server
cat "$SUMMARY"
echo "---- final ipvsadm -L -n --stats (printed by lvsd on SIGTERM) ----"
awk '/^IP Virtual Server/ { n++ } n == 2' "$WORK/lvsd.out"
echo "---- lvsd status ----"
grep -E "^(fwd|drop|rx.gso|icmp|neigh)" "$WORK/status.last" || true
echo "E2E PASSED: $FAILS failed requests"
