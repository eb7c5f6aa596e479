#!/usr/bin/env bash
# End-to-end test of many lvsd directors behind an ECMP router: long downloads through the
# group survive a director leaving the multipath route, a director being killed, and
# directors coming back.
#
#   ecmp.sh /path/to/lvsd        (as root; about 60 s)
#
# Topology (addresses from 198.18.0.0/15 only; namespaces ecmp-<pid>-*):
#
#   client ns            router ns                      directors (lvsd)      real servers
#   c0 198.18.0.2 ---- r0 198.18.0.1
#                      br0 198.18.1.1 ---+-- dN eth0 lvsd 198.18.1.1N (N = 1..3)
#                      (a bridge: the    +-- sN eth0 198.18.1.2N, lo: VIP 198.18.2.10
#                       LAN to all)
#
# The router routes the VIP over the three directors with a kernel multipath route
# (`nexthop via 198.18.1.11 nexthop via 198.18.1.12 nexthop via 198.18.1.13`) and
# fib_multipath_hash_policy=1, so each TCP flow (5-tuple hash) goes to one director. Every
# director runs the same rules: the VIP with `mh -b mh-port` over the three real servers by
# direct routing (`-g`), and `--sysctl sloppy_tcp_consistent=1`, so a director that the router
# hands a flow mid-stream schedules it with Maglev hashing and picks the server the flow's
# first director picked. The real servers hold the VIP on lo (arp_ignore=1, arp_announce=2) and
# answer the client directly through the router (default via 198.18.1.1): the directors see
# only the client's side of each flow. A director's namespace has no kernel address and IP
# forwarding off; lvsd does everything through AF_PACKET.
#
# Two rounds of parallel paced downloads (1.6 MB/s each) of one 32 MiB random file, each checked by
# sha256 against the original:
#   route: the busiest director (most packets in the last second) leaves the multipath route
#          (`ip route replace`) while alive, then comes back;
#   kill:  the busiest director's lvsd is killed -9, withdrawn from the route a second later
#          (as a routing daemon's hold timer would), then restarted empty and put back.
# The other directors must take over (their sloppy_scheduled counters rise), no download may
# break, and the line `ECMP directors=3 downloads=N broken=0` comes from the counted results.
# ECMP_SLOPPY=0 runs the same with the option off (downloads then break: the check can fail).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: ecmp.sh /path/to/lvsd}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v curl >/dev/null; then
  echo "SKIPPED: ecmp test needs root, ip(8) and curl"
  exit 0
fi
SLOPPY=${ECMP_SLOPPY:-1}
P=ecmp-$$
ND=3 NPAR=6
VIP=198.18.2.10
SIZE_MB=32 RATE=1600000 # bytes per second per download: about 21 s each
NS_C=$P-c NS_R=$P-r
dns() { echo "$P-d$1"; }
sns() { echo "$P-s$1"; }
dip() { echo "198.18.1.$((10 + $1))"; }
sip() { echo "198.18.1.$((20 + $1))"; }
ALL_NS="$NS_C $NS_R $(for i in $(seq 1 $ND); do dns "$i"; sns "$i"; done)"
WORK=$(mktemp -d /tmp/lvs-ecmp.XXXXXX)
START=$SECONDS
LIMIT=100 # seconds: every loop below also checks this
declare -A DPID # director -> lvsd's pid

cleanup() {
  local rc=$?
  set +e
  trap - ERR
  for p in "${DPID[@]}"; do kill "$p" 2>/dev/null; done
  ns_purge $ALL_NS
  if [ "$rc" != 0 ]; then
    for i in $(seq 1 $ND); do
      echo "---- lvsd d$i stderr ----"; tail -20 "$WORK/d$i.err" 2>/dev/null
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM
set -E
trap 'echo "ecmp.sh: line $LINENO: a command failed ($?)"' ERR

ctl() { local i=$1; shift; "$LVSD" ctl "$WORK/d$i.sock" "$@"; }
# a director's counter from `lvsd ctl status`
status_of() { ctl "$1" status | awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }
# packets a director forwarded to the VIP's service so far
inpkts_of() {
  ctl "$1" -L -n --stats --exact -t "$VIP:80" | awk 'NR > 2 && $1 == "TCP" { print $4; exit }'
}

# ---------------------------------------------------------------------------------------------
say "topology: client, router (bridge to the LAN), $ND directors, $ND real servers"
for ns in $ALL_NS; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add c0 netns "$NS_C" type veth peer name r0 netns "$NS_R"
nsx "$NS_R" ip link add br0 type bridge
for i in $(seq 1 $ND); do
  ip link add eth0 netns "$(dns "$i")" type veth peer name d$i netns "$NS_R"
  ip link add eth0 netns "$(sns "$i")" type veth peer name s$i netns "$NS_R"
  nsx "$NS_R" ip link set d$i master br0 up
  nsx "$NS_R" ip link set s$i master br0 up
done

nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip route add default via 198.18.0.1

nsx "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 \
  net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0
nsx "$NS_R" ip addr add 198.18.0.1/24 dev r0
nsx "$NS_R" ip addr add 198.18.1.1/24 dev br0
nsx "$NS_R" ip link set r0 up
nsx "$NS_R" ip link set br0 up

for i in $(seq 1 $ND); do
  # the director: no routing, no kernel address on lvsd's interface
  nsx "$(dns "$i")" sysctl -qw net.ipv4.ip_forward=0
  nsx "$(dns "$i")" ip link set eth0 up
  # the real server: the VIP on lo, never announced; answers through the router
  ns=$(sns "$i")
  nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
  nsx "$ns" ip addr add "$(sip "$i")/24" dev eth0
  nsx "$ns" ip addr add "$VIP/32" dev lo
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via 198.18.1.1
done

# one file on every server, so that a flow is intact only if it stayed with its server (a
# different server would answer a mid-stream segment with a reset)
mkdir -p "$WORK/www"
head -c $((SIZE_MB * 1048576)) /dev/urandom > "$WORK/www/big"
head -c 4096 /dev/urandom > "$WORK/www/small"
SUM=$(sha256sum < "$WORK/www/big" | cut -d' ' -f1)
# an HTTP server that paces each response to RATE bytes/s (curl's --limit-rate reads in bursts
# with seconds-long pauses; this keeps every flow sending, and its client acknowledging, evenly)
cat > "$WORK/paced_http.py" <<'EOF_PY'
import functools, http.server, sys, time
ROOT, RATE, CHUNK = sys.argv[1], int(sys.argv[2]), 32768

class Paced(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, src, dst):
        start, sent = time.monotonic(), 0
        while True:
            b = src.read(CHUNK)
            if not b:
                return
            dst.write(b)
            sent += len(b)
            ahead = sent / RATE - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(
    ("0.0.0.0", 80), functools.partial(Paced, directory=ROOT)).serve_forever()
EOF_PY
for i in $(seq 1 $ND); do
  nsx "$(sns "$i")" python3 "$WORK/paced_http.py" "$WORK/www" $RATE > /dev/null 2>&1 &
done
for i in $(seq 1 $ND); do
  for _ in $(seq 1 50); do
    nsx "$(sns "$i")" curl -s -o /dev/null --max-time 1 "http://$(sip "$i")/small" && break
    sleep 0.1
  done
  nsx "$(sns "$i")" curl -sf -o /dev/null --max-time 1 "http://$(sip "$i")/small" \
    || die "http server on s$i did not start"
done

cat > "$WORK/rules" <<EOF
-A -t $VIP:80 -s mh -b mh-port
$(for i in $(seq 1 $ND); do echo "-a -t $VIP:80 -r $(sip "$i"):80 -g -w 1"; done)
EOF

start_lvsd() { # N: start director N's lvsd, its pid in DPID[N]
  local i=$1 pid
  rm -f "$WORK/d$i.sock"
  nsx "$(dns "$i")" "$LVSD" --rules "$WORK/rules" --iface eth0 --addr "eth0=$(dip "$i")/24" \
    --sysctl "sloppy_tcp_consistent=$SLOPPY" --control "$WORK/d$i.sock" \
    > "$WORK/d$i.out" 2> "$WORK/d$i.err" &
  disown # killed on purpose below: no job report
  for _ in $(seq 1 50); do
    pid=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/d$i.err" 2>/dev/null) || true
    [ -S "$WORK/d$i.sock" ] && [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -S "$WORK/d$i.sock" ] || die "lvsd d$i did not start: $(cat "$WORK/d$i.err")"
  [ -n "$pid" ] || die "no pid in lvsd d$i's start message"
  DPID[$i]=$pid
}
say "starting $ND directors: mh over $ND DR servers, sloppy_tcp_consistent=$SLOPPY"
for i in $(seq 1 $ND); do start_lvsd "$i"; done

route_over() { # director numbers: the VIP's multipath route over them
  local hops="" i
  for i in "$@"; do hops="$hops nexthop via $(dip "$i") dev br0"; done
  # shellcheck disable=SC2086
  nsx "$NS_R" ip route replace "$VIP/32" $hops
}
route_over $(seq 1 $ND)
nsx "$NS_R" ip route show "$VIP/32" | sed 's/^/    /'

say "every director answers, and 30 short flows are spread over all of them"
for _ in $(seq 1 30); do
  in_time
  nsx "$NS_C" curl -sf -o /dev/null --max-time 5 "http://$VIP/small" \
    || die "a short request through the group failed"
done
for i in $(seq 1 $ND); do
  n=$(inpkts_of "$i")
  say "  d$i forwarded $n packets"
  [ "${n:-0}" -gt 0 ] || die "the router sent no flow to d$i"
done

# ---------------------------------------------------------------------------------------------
# A download is broken if curl fails (a reset, or under 1 byte/s for 8 s), if its file differs
# from the original, or if it made no progress across a window after an event (a flow left
# stalled by a director that drops it).
DOWNLOADS=0 BROKEN=0
FULL=$((SIZE_MB * 1048576))
start_downloads() { # ROUND: NPAR parallel downloads, pids in DL
  DL=""
  STALLED=()
  for k in $(seq 1 $NPAR); do
    nsx "$NS_C" curl -sf --max-time 60 --speed-limit 1 --speed-time 8 \
      -o "$WORK/$1.$k" "http://$VIP/big" &
    DL="$DL $!"
  done
}
running() { # how many downloads of DL are still running
  local n=0 p
  for p in $DL; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
  echo $n
}
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
in_flight() { # ROUND WHEN: no download may have finished yet (a broken one is counted later)
  local k
  for k in $(seq 1 $NPAR); do
    [ "$(size_of "$WORK/$1.$k")" -lt $FULL ] \
      || die "download $k finished $2: the events must happen mid-transfer"
  done
  say "  $(running) of $NPAR downloads running $2"
}
declare -A SNAP STALLED
snap() { local k; for k in $(seq 1 $NPAR); do SNAP[$k]=$(size_of "$WORK/$1.$k"); done; }
progress() { # ROUND WHEN SECONDS: every download grows over the next SECONDS
  local k n=0 grew
  snap "$1"
  sleep "$3"
  for k in $(seq 1 $NPAR); do
    grew=$(($(size_of "$WORK/$1.$k") - ${SNAP[$k]}))
    if [ "$grew" -le 0 ]; then
      STALLED[$k]=1
      n=$((n + 1))
      say "  $1 download $k made no progress $2"
    fi
  done
  say "  $((NPAR - n)) of $NPAR downloads progressed $2"
}
finish_downloads() { # ROUND: wait, then check every file
  local k=0 p bad=0 sum
  for p in $DL; do
    k=$((k + 1))
    DOWNLOADS=$((DOWNLOADS + 1))
    if ! wait "$p"; then
      bad=$((bad + 1)); say "  $1 download $k failed (curl)"; continue
    fi
    sum=$(sha256sum < "$WORK/$1.$k" | cut -d' ' -f1)
    if [ "$sum" != "$SUM" ]; then
      bad=$((bad + 1)); say "  $1 download $k corrupted"
    elif [ -n "${STALLED[$k]:-}" ]; then
      bad=$((bad + 1)); say "  $1 download $k finished after a stall"
    fi
    rm -f "$WORK/$1.$k"
  done
  BROKEN=$((BROKEN + bad))
  say "  $1: $NPAR downloads, $bad broken"
}
busiest() { # the director with most packets in the last second, among the arguments
  local i best=0 max=-1
  declare -A a
  for i in "$@"; do a[$i]=$(inpkts_of "$i"); done
  sleep 1
  for i in "$@"; do
    d=$(($(inpkts_of "$i") - ${a[$i]}))
    [ "$d" -gt "$max" ] && { max=$d; best=$i; }
  done
  echo "$best"
}
sloppy_total() { # sloppy_scheduled over the directors given
  local i s=0
  for i in "$@"; do s=$((s + $(status_of "$i" director.sloppy_scheduled))); done
  echo $s
}
others() { local i; for i in $(seq 1 $ND); do if [ "$i" != "$1" ]; then echo "$i"; fi; done; }

say "round 1: $NPAR downloads of $SIZE_MB MiB at $RATE B/s; the busiest director leaves the route"
start_downloads route
sleep 2
V=$(busiest $(seq 1 $ND))
REST=$(others "$V" | tr '\n' ' ')
s0=$(sloppy_total $REST)
in_flight route "before removing d$V"
route_over $REST
say "  d$V removed from the multipath route (still running): $(nsx "$NS_R" ip route show "$VIP/32" | tr -s ' \n' ' ')"
sleep 1
progress route "while d$V was out of the route" 3
s1=$(sloppy_total $REST)
say "  the others took over $((s1 - s0)) flows mid-stream (sloppy_scheduled)"
[ "$SLOPPY" = 0 ] || [ $((s1 - s0)) -gt 0 ] || die "no flow moved when d$V left the route"
in_flight route "before adding d$V back"
route_over $(seq 1 $ND)
say "  d$V back in the route"
sleep 1
progress route "after d$V came back" 2
in_flight route "after adding d$V back"
finish_downloads route
in_time

say "round 2: $NPAR downloads; the busiest director is killed, withdrawn, restarted, put back"
start_downloads kill
sleep 2
V=$(busiest $(seq 1 $ND))
REST=$(others "$V" | tr '\n' ' ')
s0=$(sloppy_total $REST)
in_flight kill "before killing d$V"
kill -9 "${DPID[$V]}"
unset "DPID[$V]"
say "  d$V's lvsd killed; the router still sends it its flows for a second"
sleep 1
route_over $REST
say "  d$V withdrawn from the route"
# the senders' retransmission timers back off while the dead director eats their flows
sleep 2
progress kill "after d$V was withdrawn" 3
s1=$(sloppy_total $REST)
say "  the others took over $((s1 - s0)) flows mid-stream (sloppy_scheduled)"
[ "$SLOPPY" = 0 ] || [ $((s1 - s0)) -gt 0 ] || die "no flow moved when d$V died"
in_flight kill "before restarting d$V"
start_lvsd "$V"
route_over $(seq 1 $ND)
say "  d$V restarted with an empty table and back in the route"
sleep 1
progress kill "after d$V came back" 2
say "  d$V took over $(status_of "$V" director.sloppy_scheduled) flows mid-stream"
in_flight kill "after adding d$V back"
finish_downloads kill

echo
for i in $(seq 1 $ND); do
  say "d$i: sloppy_scheduled=$(status_of "$i" director.sloppy_scheduled) connections=$(status_of "$i" director.connections)"
done
echo "ECMP directors=$ND downloads=$DOWNLOADS broken=$BROKEN"
[ "$BROKEN" = 0 ] || die "$BROKEN of $DOWNLOADS downloads broke"
echo "ECMP PASSED ($((SECONDS - START)) s)"
