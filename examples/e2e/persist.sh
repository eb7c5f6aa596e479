#!/usr/bin/env bash
# End-to-end test of persistence (`-p`) with two workers: lvsd --workers 2 starts with a
# persistent rr service (IPv4 and IPv6, two real servers each), so `--steer auto` steers by the
# client's address alone (examples/lvsd/steering.rs): every connection of a client, whatever its
# source port, reaches the same shard, whose persistence template sends it to the same real
# server. Then, under `--steer flow`, a persistent service is refused at start and by
# `lvsd ctl -A ... -p` at run time, with a message naming --steer addr.
#
#   persist.sh /path/to/lvsd        (as root; about 20 s, 40 s on a busy machine)
#
# Topology (198.18.0.0/15 and 2001:db8::/32 only; namespaces pe-<pid>-*):
#
#   client ns                   director ns (lvsd --workers 2)    server ns
#   c0 198.18.0.2-.11 --------- d0 198.18.0.1, 2001:db8::1         s0 198.18.1.2, .3
#      2001:db8::2-5            d1 198.18.1.1, 2001:db8:1::1 ----- 2001:db8:1::2, ::3
#
# Each client address opens CONNS connections (curl, a new source port each) to the VIP of its
# family; each answer names the real server's address. Prints `PERSIST workers=2 clients=N
# conns=N split=0 servers=4 shards=2 refused=2` from the counted results: split = clients whose
# connections reached more than one real server (must be 0), servers = real servers that
# answered someone (all 4: rr spread the clients), shards = workers that forwarded (both),
# refused = the two refusals under --steer flow.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: persist.sh /path/to/lvsd}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v curl >/dev/null; then
  echo "SKIPPED: persistence test needs root, ip(8) and curl"
  exit 0
fi
P=pe-$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s
WORK=$(mktemp -d /tmp/lvs-persist.XXXXXX)
chmod 755 "$WORK"
VIP=198.18.2.10 VIP6=2001:db8::10
RS=(198.18.1.2 198.18.1.3 2001:db8:1::2 2001:db8:1::3)
CLIENTS4=10 CLIENTS6=4 CONNS=12 LIFE=120
START=$SECONDS
LVSD_PID=

lvsd_trap "$NS_C" "$NS_D" "$NS_S"

for ns in "$NS_C" "$NS_D" "$NS_S"; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
done
ip link add c0 netns "$NS_C" type veth peer name d0 netns "$NS_D"
ip link add d1 netns "$NS_D" type veth peer name s0 netns "$NS_S"
for i in $(seq 2 $((CLIENTS4 + 1))); do nsx "$NS_C" ip addr add 198.18.0.$i/24 dev c0; done
for i in $(seq 2 $((CLIENTS6 + 1))); do nsx "$NS_C" ip -6 addr add 2001:db8::$i/64 dev c0 nodad; done
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip route add default via 198.18.0.1
nsx "$NS_C" ip -6 route add default via 2001:db8::1
nsx "$NS_S" ip addr add 198.18.1.2/24 dev s0
nsx "$NS_S" ip addr add 198.18.1.3/24 dev s0
nsx "$NS_S" ip -6 addr add 2001:db8:1::2/64 dev s0 nodad
nsx "$NS_S" ip -6 addr add 2001:db8:1::3/64 dev s0 nodad
nsx "$NS_S" ip link set s0 up
nsx "$NS_S" ip route add default via 198.18.1.1
nsx "$NS_S" ip -6 route add default via 2001:db8:1::1
# the director: no routing, no addresses, no IPv6 on lvsd's interfaces (lvsd answers for them)
nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 \
  net.ipv6.conf.d0.disable_ipv6=1 net.ipv6.conf.d1.disable_ipv6=1
nsx "$NS_D" ip link set d0 up
nsx "$NS_D" ip link set d1 up

# each real server answers with its own address
cat > "$WORK/serve.py" <<'EOF_PY'
import http.server, socket, sys
class Who(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (self.server.server_address[0] + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
Server((sys.argv[1], 80), Who).serve_forever()
EOF_PY
for rs in "${RS[@]}"; do
  nsx "$NS_S" timeout $LIFE python3 "$WORK/serve.py" "$rs" > /dev/null 2>&1 &
done

cat > "$WORK/rules" <<EOF
-A -t $VIP:80 -s rr -p 60
-a -t $VIP:80 -r ${RS[0]}:80 -m -w 1
-a -t $VIP:80 -r ${RS[1]}:80 -m -w 1
-A -t [$VIP6]:80 -s wlc -p 60
-a -t [$VIP6]:80 -r [${RS[2]}]:80 -m -w 1
-a -t [$VIP6]:80 -r [${RS[3]}]:80 -m -w 1
EOF
IFACES=(--iface d0 --iface d1 --addr d0=198.18.0.1/24 --addr d0=2001:db8::1/64
  --addr d1=198.18.1.1/24 --addr d1=2001:db8:1::1/64)
start_lvsd() { # control socket, extra arguments
  CTL=$1; shift
  rm -f "$CTL"
  nsx "$NS_D" timeout $LIFE "$LVSD" --rules "$WORK/rules" "${IFACES[@]}" --workers 2 \
    --control "$CTL" "$@" > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
  for _ in $(seq 1 300); do [ -S "$CTL" ] && break; sleep 0.1; done
  [ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
  LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err" | head -1)
}
start_lvsd "$WORK/ctl.sock"
grep -q "2 workers, steered by .*client address (--steer addr)" "$WORK/lvsd.err" ||
  die "lvsd did not steer by client address: $(cat "$WORK/lvsd.err")"
for _ in $(seq 1 50); do
  nsx "$NS_C" curl -s -o /dev/null -m 1 "http://$VIP/" && nsx "$NS_C" curl -s -o /dev/null -m 1 "http://[$VIP6]/" && break
  sleep 0.2
done

say "$((CLIENTS4 + CLIENTS6)) clients, $CONNS connections each from new source ports"
pids=()
client() { # address, url
  local i
  for i in $(seq 1 $CONNS); do
    nsx "$NS_C" curl -s -m 3 --interface "$1" "$2" || echo "no-answer"
  done > "$WORK/who.$1"
}
for i in $(seq 2 $((CLIENTS4 + 1))); do client 198.18.0.$i "http://$VIP/" & pids+=($!); done
for i in $(seq 2 $((CLIENTS6 + 1))); do client 2001:db8::$i "http://[$VIP6]/" & pids+=($!); done
wait "${pids[@]}"
CLIENTS=0 CONNS_ALL=0 SPLIT=0
for f in "$WORK"/who.*; do
  CLIENTS=$((CLIENTS + 1))
  CONNS_ALL=$((CONNS_ALL + $(grep -c . "$f")))
  n=$(sort -u "$f" | grep -c .)
  [ -n "${PE_DEBUG:-}" ] && say "${f##*/who.}: $(sort "$f" | uniq -c | tr '\n' ' ')"
  grep -q no-answer "$f" && die "${f##*/who.}: a connection got no answer: $(sort "$f" | uniq -c)"
  [ "$n" = 1 ] || SPLIT=$((SPLIT + 1))
done
SERVERS=$(cat "$WORK"/who.* | sort -u | grep -c .)
ST=$("$LVSD" ctl "$CTL" status)
val() { echo "$ST" | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }
SHARDS=0
[ "$(val worker0.fwd.masq)" -gt 0 ] && SHARDS=$((SHARDS + 1))
[ "$(val worker1.fwd.masq)" -gt 0 ] && SHARDS=$((SHARDS + 1))
say "worker 0: fwd.masq=$(val worker0.fwd.masq); worker 1: fwd.masq=$(val worker1.fwd.masq)"
# lvsd is not this shell's child (ip netns exec is): wait for it to be gone
kill "$LVSD_PID"
for _ in $(seq 1 100); do kill -0 "$LVSD_PID" 2>/dev/null || break; sleep 0.1; done
LVSD_PID=

say "--steer flow: a persistent service is refused"
REFUSED=0
if nsx "$NS_D" timeout 10 "$LVSD" --rules "$WORK/rules" "${IFACES[@]}" --workers 2 --steer flow \
  --control "$WORK/no.sock" > /dev/null 2> "$WORK/start.err"; then
  die "lvsd started --steer flow with persistent services"
fi
grep -q -- "--steer addr" "$WORK/start.err" && REFUSED=$((REFUSED + 1))
sed -i '/-p 60/s/ -p 60//' "$WORK/rules"
start_lvsd "$WORK/ctl2.sock" --steer flow
rc=0
OUT=$("$LVSD" ctl "$CTL" -A -t 198.18.2.11:80 -s rr -p 300 2>&1) || rc=$?
[ "$rc" != 0 ] && echo "$OUT" | grep -q -- "--steer addr" && REFUSED=$((REFUSED + 1))
say "ctl -A -p under --steer flow: exit $rc: $OUT"
"$LVSD" ctl "$CTL" -A -t 198.18.2.11:80 -s rr > /dev/null || die "ctl -A without -p refused"

echo "PERSIST workers=2 clients=$CLIENTS conns=$CONNS_ALL split=$SPLIT servers=$SERVERS shards=$SHARDS refused=$REFUSED"
[ "$SPLIT" = 0 ] || die "$SPLIT clients reached more than one real server"
[ "$CONNS_ALL" = $(((CLIENTS4 + CLIENTS6) * CONNS)) ] || die "$CONNS_ALL connections answered"
[ "$SERVERS" = 4 ] || die "only $SERVERS real servers answered: rr did not spread the clients"
[ "$SHARDS" = 2 ] || die "only $SHARDS workers forwarded"
[ "$REFUSED" = 2 ] || die "--steer flow took a persistent service"
echo "PERSIST PASSED"
