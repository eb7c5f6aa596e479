#!/usr/bin/env bash
# Content-aware distribution end to end: lvsd splicing TCP (--l7-rules) between kernel TCP
# stacks, nginx real servers with distinct content per pool, curl, wrk and python clients.
#
#   l7.sh /path/to/lvsd            the e2e checks; prints the `L7 routed=...` line (~2 min)
#   l7.sh /path/to/lvsd e2e N      the same with `--workers N`: a splicer in every worker's
#                                  shard (examples/lvsd/workers.rs); counters are summed over the
#                                  workers, and each worker must have spliced connections:
#                                  prints `L7_WORKERS workers=N spliced0=.. spliced1=..`
#   l7.sh /path/to/lvsd compare    lvsd vs HAProxy (nbthread 1, same rules) on the same
#                                  topology; prints `RESULT ...` lines for examples/l7compare.rs
#
# As root; run under flock /tmp/lvs-netns.lock. Environment: L7_BIG_MB (100) the clean
# transfer, L7_LOSS_MB (32) the transfer under 1 % loss and reordering, L7_WRK_S (8) the
# duration of each wrk run.
#
# Topology (198.18.0.0/15 only; every name starts with l7-):
#
#   client ns              director ns (lvsd)                switch ns    real servers
#   c0 198.18.0.2 -------- d0 (lvsd: 198.18.0.1, VIP .10:80)
#                          d1 (lvsd: 198.18.1.1) ----------- br0 -------- r11 r12 (cache)
#                                                                  \------ r21 r22 (app; r21
#                                                                          also :8080 uploads,
#                                                                          r22 :8081 resets)
#                                                                  \------ r31 (api by Host)
#
# Each server's nginx answers `NAME PATH` and a header `X-Server: NAME`, so every response says
# who served it; /big/ and /obj/1k come from files. The real servers route to 198.18.1.1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=2

LVSD=${1:?usage: l7.sh /path/to/lvsd [compare]}
MODE=${2:-e2e}
WORKERS=${3:-1}
P=l7-$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s NS_L=$P-l NS_X=$P-x
SERVERS="11 12 21 22 31"
WORK=$(mktemp -d /tmp/l7-e2e.XXXXXX)
chmod 755 "$WORK"
CTL=$WORK/ctl.sock
START=$SECONDS
LIMIT=${L7_LIMIT:-170}
BIG_MB=${L7_BIG_MB:-100}
LOSS_MB=${L7_LOSS_MB:-32}
WRK_S=${L7_WRK_S:-8}
VIP=198.18.0.10
LVSD_PID=
HAP_PID=
RELAY_PID=

cleanup() {
  local rc=$?
  set +e
  [ -n "$LVSD_PID" ] && kill "$LVSD_PID" 2>/dev/null
  [ -n "$HAP_PID" ] && kill "$HAP_PID" 2>/dev/null
  [ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null
  for ns in "$NS_C" "$NS_L" "$NS_X" "$NS_D" "$NS_S" $(for i in $SERVERS; do echo "$P-r$i"; done); do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
      sleep 0.2
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
      ip netns del "$ns" 2>/dev/null
    fi
  done
  if [ "$rc" != 0 ]; then
    echo "---- lvsd stderr ----"; tail -60 "$WORK/lvsd.err" 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

ctl() { "$LVSD" ctl "$CTL" "$@"; }
# a status counter (with --workers N: the sum over the workers; `worker<k>.NAME` is worker k's)
stat_of() {
  ctl status | awk -v k="$1" '$1 == k { n = $2; f = 1 } END { if (f) print n }'
}

say "topology: client, lossy client behind an impairing relay, director, switch, 5 real servers"
for ns in "$NS_C" "$NS_L" "$NS_X" "$NS_D" "$NS_S" $(for i in $SERVERS; do echo "$P-r$i"; done); do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.tcp_sack=1 net.ipv4.tcp_timestamps=1 net.ipv4.tcp_window_scaling=1
done
nsx "$NS_S" ip link add br0 type bridge
nsx "$NS_S" ip link set br0 up
ip link add c0 netns "$NS_C" type veth peer name d0 netns "$NS_D"
ip link add d1 netns "$NS_D" type veth peer name sd netns "$NS_S"
nsx "$NS_S" ip link set sd master br0 up
for i in $SERVERS; do
  ip link add eth0 netns "$P-r$i" type veth peer name "s$i" netns "$NS_S"
  nsx "$NS_S" ip link set "s$i" master br0 up
done
nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.disable_ipv6=1
nsx "$NS_D" ip link set d0 up
nsx "$NS_D" ip link set d1 up
nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip route add default via 198.18.0.1
nsx "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1
# the lossy client: l0 -- relay (x0 | x1, drops 1 % and reorders 10 % each way) -- d2
ip link add l0 netns "$NS_L" type veth peer name x0 netns "$NS_X"
ip link add x1 netns "$NS_X" type veth peer name d2 netns "$NS_D"
nsx "$NS_D" ip link set d2 up
nsx "$NS_L" ip addr add 198.18.2.2/24 dev l0
# one MSS per frame, so that the relay drops and reorders segments, not GSO bursts
nsx "$NS_L" ip link set dev l0 gso_max_segs 1
nsx "$NS_D" ip link set dev d2 gso_max_segs 1
nsx "$NS_L" ip link set l0 up
nsx "$NS_L" ip route add default via 198.18.2.1
for x in x0 x1; do nsx "$NS_X" ip link set "$x" promisc on up; done

mkdir -p "$WORK/www/big" "$WORK/www/obj" "$WORK/up"
chmod 777 "$WORK/up"
head -c $((BIG_MB << 20)) /dev/urandom > "$WORK/www/big/blob"
head -c $((LOSS_MB << 20)) /dev/urandom > "$WORK/www/big/small"
head -c 1024 /dev/urandom > "$WORK/www/obj/1k"
chmod -R a+rX "$WORK/www"
BIG_SHA=$(sha256sum < "$WORK/www/big/blob" | cut -d' ' -f1)
SMALL_SHA=$(sha256sum < "$WORK/www/big/small" | cut -d' ' -f1)

for i in $SERVERS; do
  ns=$P-r$i
  nsx "$ns" ip addr add "198.18.1.$i/24" dev eth0
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via 198.18.1.1
  mkdir -p "$WORK/rs$i"
  extra=
  if [ "$i" = 21 ]; then
    extra="server { listen 198.18.1.21:8080; root $WORK/up; client_max_body_size 1g;
      client_body_temp_path $WORK/up; dav_methods PUT; add_header X-Server rs21-up always; }"
  fi
  cat > "$WORK/rs$i/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/rs$i/nginx.pid;
error_log $WORK/rs$i/error.log warn;
events { worker_connections 8192; }
http {
  log_format u '\$uri';
  access_log $WORK/rs$i/access.log u;
  keepalive_requests 100000;
  sendfile on;
  types { }
  default_type application/octet-stream;
  client_body_temp_path $WORK/rs$i;
  proxy_temp_path $WORK/rs$i;
  fastcgi_temp_path $WORK/rs$i;
  uwsgi_temp_path $WORK/rs$i;
  scgi_temp_path $WORK/rs$i;
  server {
    listen 198.18.1.$i:80 backlog=8192 default_server;
    root $WORK/www;
    add_header X-Server rs$i always;
    location /big/ { }
    location = /obj/1k { }
    location / { return 200 "rs$i \$uri\n"; }
  }
  $extra
}
EOF
  nsx "$ns" /usr/sbin/nginx -p "$WORK/rs$i" -c "$WORK/rs$i/nginx.conf" -g 'daemon on;' \
    2>> "$WORK/rs$i/error.log" || die "nginx rs$i: $(cat "$WORK/rs$i/error.log")"
done
# rs22:8081 resets every connection after reading the request head
cat > "$WORK/reset.py" <<'EOF'
import socket, struct
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.1.22", 8081)); s.listen(64)
while True:
    c, _ = s.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        b = c.recv(4096)
        if not b: break
        data += b
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
EOF
nsx "$P-r22" python3 "$WORK/reset.py" > /dev/null 2>&1 &
for i in $SERVERS; do
  for _ in $(seq 1 50); do
    nsx "$P-r$i" curl -s -o /dev/null --max-time 1 "http://198.18.1.$i/ready" && break
    sleep 0.1
  done
done

cat > "$WORK/l7.rules" <<EOF
# content-aware pools for $VIP:80
pool cache  mh key=url 198.18.1.11:80 198.18.1.12:80
pool app    wlc        198.18.1.21:80 198.18.1.22:80
pool api    rr         198.18.1.31:80
pool upload rr         198.18.1.21:8080
pool reset  rr         198.18.1.22:8081
route method=PUT              -> upload
route header=x-reset          -> reset
route host=api.example        -> api
route host=.api.example       -> api
route ext=jpg,png,css,js      -> cache
route prefix=/static/         -> cache
default app
EOF
# an ipvsadm rules file beside it (lvsd needs one; its service is not used here)
cat > "$WORK/rules" <<EOF
-A -t 198.18.0.20:80 -s rr
-a -t 198.18.0.20:80 -r 198.18.1.31:80 -m -w 1
EOF

say "a rules file with a bad line is refused with its line number"
printf 'pool a rr 198.18.1.11:80\nroute ext=png -> nosuch\ndefault a\n' > "$WORK/bad.rules"
if "$LVSD" --rules "$WORK/rules" --l7-rules "$WORK/bad.rules" --l7-vip $VIP:80 --check \
  > "$WORK/bad.out" 2>&1; then
  die "lvsd accepted a route to an unknown pool"
fi
grep -q "line 2: no pool of that name" "$WORK/bad.out" || die "no line-2 error: $(cat "$WORK/bad.out")"

start_lvsd() {
  nsx "$NS_D" "$LVSD" --rules "$WORK/rules" --l7-rules "$WORK/l7.rules" --l7-vip $VIP:80 \
    --iface d0 --iface d1 --iface d2 --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 \
    --addr d2=198.18.2.1/24 --control "$CTL" $( [ "$WORKERS" = 1 ] || echo --workers "$WORKERS") \
    > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
  for _ in $(seq 1 100); do [ -S "$CTL" ] && break; sleep 0.1; done
  [ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
  LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err")
  grep -q "l7 splicing on $VIP:80 with 5 pool(s)" "$WORK/lvsd.err" || die "no l7 start line"
  [ "$WORKERS" = 1 ] || grep -q "^lvsd: $WORKERS workers" "$WORK/lvsd.err" || die "not $WORKERS workers"
}

say "starting lvsd with the splicer"
start_lvsd
for _ in $(seq 1 50); do
  nsx "$NS_C" curl -s -o /dev/null --max-time 1 "http://$VIP/ready" && break
  sleep 0.1
done

if [ "$MODE" = hold ]; then
  echo "HOLD $P $CTL"; sleep "${L7_HOLD_S:-300}"; exit 0
fi

# ---------------------------------------------------------------------------------------------
if [ "$MODE" = compare ]; then
  cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
  hz=$(getconf CLK_TCK)
  # wrk latency summary: requests, errors, seconds, p50/p99 (ms), bytes read
  run_wrk() { # system workload wrk-args...
    local sys=$1 wl=$2 pid=$3; shift 3
    local t0 t1 c0 c1
    c0=$(cpu_ticks "$pid"); t0=$(date +%s%N)
    nsx "$NS_C" wrk "$@" > "$WORK/wrk.out" 2>&1 || true
    t1=$(date +%s%N); c1=$(cpu_ticks "$pid")
    python3 - "$sys" "$wl" "$WORK/wrk.out" $(( (c1 - c0) )) "$hz" $(( (t1 - t0) / 1000000 )) <<'PY'
import re, sys
sysname, wl, path, ticks, hz, wall_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
t = open(path).read()
def ms(s):
    v, u = float(re.match(r"([\d.]+)", s).group(1)), re.sub(r"[\d.]+", "", s)
    return v * {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}.get(u, 1.0)
p50 = p99 = float("nan")
for line in t.splitlines():
    m = re.match(r"\s+(50|99)(?:\.0+)?%\s+(\S+)", line)
    if m:
        if m.group(1) == "50": p50 = ms(m.group(2))
        else: p99 = ms(m.group(2))
m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", t)
req, secs = int(m.group(1)), float(m.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
byt = float(m.group(4)) * {"B": 1, "KB": 1024, "MB": 1 << 20, "GB": 1 << 30}[m.group(5)]
err = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
if m: err += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if m: err += int(m.group(1))
print(f"RESULT system={sysname} workload={wl} served={req} failed={err} secs={secs:.3f} "
      f"p50_ms={p50:.3f} p99_ms={p99:.3f} bytes={int(byt)} cpu_s={ticks / hz:.3f}")
PY
  }
  bench() { # system pid
    local sys=$1 pid=$2
    say "$sys: 1 KiB objects with keep-alive"
    run_wrk "$sys" 1k-keepalive "$pid" -t2 -c32 -d"${WRK_S}s" --latency "http://$VIP/obj/1k"
    in_time
    say "$sys: 1 KiB objects, a connection per request"
    run_wrk "$sys" 1k-close "$pid" -t2 -c32 -d"${WRK_S}s" --latency -H "Connection: close" \
      "http://$VIP/obj/1k"
    in_time
    say "$sys: 100 MB objects"
    run_wrk "$sys" 100m "$pid" -t1 -c2 -d"${WRK_S}s" --timeout 30s --latency "http://$VIP/big/blob"
    in_time
  }
  bench lvs "$LVSD_PID"
  ctl status | grep '^l7\.' | grep -v '\.active ' >&2 || true
  kill "$LVSD_PID"; wait "$LVSD_PID" 2>/dev/null || true; LVSD_PID=
  say "HAProxy on the director's kernel stack, same rules"
  nsx "$NS_D" ip addr add 198.18.0.1/24 dev d0
  nsx "$NS_D" ip addr add $VIP/32 dev d0
  nsx "$NS_D" ip addr add 198.18.1.1/24 dev d1
  cat > "$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 9000
  pidfile $WORK/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend web
  bind $VIP:80
  acl m_put method PUT
  acl h_reset req.hdr(x-reset) -m found
  acl h_api hdr(host) -i api.example
  acl h_api_s hdr_end(host) -i .api.example
  acl p_ext path_end -i .jpg .png .css .js
  acl p_static path_beg /static/
  use_backend upload if m_put
  use_backend reset if h_reset
  use_backend api if h_api || h_api_s
  use_backend cache if p_ext || p_static
  default_backend app
backend cache
  balance uri
  hash-type consistent
  server r11 198.18.1.11:80
  server r12 198.18.1.12:80
backend app
  balance leastconn
  server r21 198.18.1.21:80
  server r22 198.18.1.22:80
backend api
  server r31 198.18.1.31:80
backend upload
  server r21u 198.18.1.21:8080
backend reset
  server r22r 198.18.1.22:8081
EOF
  # not through nsx (a function, so a subshell): $! must be haproxy itself for its CPU time
  ip netns exec "$NS_D" /usr/sbin/haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &
  HAP_PID=$!
  nsx "$NS_C" ip neigh flush dev c0
  for _ in $(seq 1 100); do
    nsx "$NS_C" curl -s -o /dev/null --max-time 1 "http://$VIP/ready" && break
    sleep 0.1
  done
  nsx "$NS_C" curl -sf -o /dev/null --max-time 5 "http://$VIP/ready" || die "haproxy does not answer:
$(cat "$WORK/haproxy.log"; nsx "$NS_D" ss -ltn; nsx "$NS_D" ip -br addr; nsx "$NS_C" ip neigh)"
  bench haproxy "$HAP_PID"
  echo "COMPARE DONE"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
ROUTED=0
MISROUTED=0

say "1. routing by Host, path and extension: 400 requests, a connection each (python)"
cat > "$WORK/route.py" <<'EOF'
import http.client, random, sys, collections
vip, n = sys.argv[1], int(sys.argv[2])
pools = {"rs11": "cache", "rs12": "cache", "rs21": "app", "rs22": "app", "rs31": "api"}
rnd = random.Random(14)
ok = bad = 0
home = collections.defaultdict(set)
for i in range(n):
    k = i % 6
    host, path = "www.example", f"/page/{rnd.randrange(10**6)}"
    want = "app"
    if k == 0: path, want = f"/img/{rnd.randrange(10**6)}." + rnd.choice(["jpg", "PNG", "css", "js"]), "cache"
    elif k == 1: path, want = f"/static/{rnd.randrange(10**6)}", "cache"
    elif k == 2: host, want = rnd.choice(["api.example", "API.example:80", "v2.api.example"]), "api"
    elif k == 3: path = f"/img/{rnd.randrange(10**6)}.gif"   # not a cached extension
    elif k == 4: host, path = "notapi.example", f"/x/{rnd.randrange(10**6)}.jsx"
    c = http.client.HTTPConnection(vip, 80, timeout=10)
    c.request("GET", path, headers={"Host": host})
    r = c.getresponse()
    body = r.read().decode()
    srv = r.getheader("X-Server")
    c.close()
    good = r.status == 200 and pools.get(srv) == want and body == f"{srv} {path.split('?')[0]}\n"
    if want == "cache": home[path].add(srv)
    if good: ok += 1
    else:
        bad += 1
        print(f"misrouted: {host} {path} -> {r.status} {srv} {body!r} (want {want})", file=sys.stderr)
print(ok, bad)
EOF
read -r OK BAD < <(nsx "$NS_C" python3 "$WORK/route.py" $VIP 400)
say "   $OK routed as the rules say, $BAD not"
ROUTED=$((ROUTED + OK)); MISROUTED=$((MISROUTED + BAD))
in_time

say "2. keep-alive: curl, 5 requests on one connection, the first request decides"
KA=$(nsx "$NS_C" curl -s --max-time 10 -w '%{num_connects}\n' \
  "http://$VIP/app/k1" "http://$VIP/app/k2" "http://$VIP/app/k3" "http://$VIP/app/k4" \
  "http://$VIP/app/k5")
echo "$KA" | grep -c '^rs2[12] /app/k[1-5]$' | grep -qx 5 || die "keep-alive responses: $KA"
[ "$(echo "$KA" | grep -o '^rs2[12]' | sort -u | wc -l)" = 1 ] || die "keep-alive changed server: $KA"
[ "$(echo "$KA" | grep -xE '[01]' | tr -d '\n')" = 10000 ] || die "not one connection: $KA"
ROUTED=$((ROUTED + 5))

say "3. pipelined requests: 4 GETs in one write, 4 responses in order"
cat > "$WORK/pipe.py" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
paths = [f"/pipe/{i}" for i in range(4)]
s.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: www.example\r\n\r\n".encode() for p in paths))
data = b""
while data.count(b"HTTP/1.1 200") < 4 or not data.endswith(b"/pipe/3\n"):
    b = s.recv(65536)
    if not b: break
    data += b
t = data.decode()
srvs = {l.split(": ")[1] for l in t.split("\r\n") if l.startswith("X-Server")}
bodies = [p for p in paths if f"{p}\n" in t]
print("ok" if t.count("HTTP/1.1 200") == 4 and bodies == paths and len(srvs) == 1 else "bad " + repr(t))
EOF
PIPE=$(nsx "$NS_C" python3 "$WORK/pipe.py" $VIP)
[ "$PIPE" = ok ] || die "pipelining: $PIPE"
ROUTED=$((ROUTED + 4))

say "4. $BIG_MB MB download and upload through the splice, byte-exact"
T0=$(date +%s%N)
GOT=$(nsx "$NS_C" curl -sf --max-time 60 "http://$VIP/big/blob" | sha256sum | cut -d' ' -f1)
T1=$(date +%s%N)
[ "$GOT" = "$BIG_SHA" ] || die "download sha256 $GOT != $BIG_SHA"
# the servers' TSO super-frames went through the splice whole (checksum left partial)
WHOLE=$(stat_of l7.whole)
say "   download ok: $(( BIG_MB * 8 * 1000 / ((T1 - T0) / 1000000 + 1) )) Mbit/s, ${WHOLE:-0} frames spliced whole"
[ "${WHOLE:-0}" -gt 0 ] || die "no super-frame was spliced whole (l7.whole=${WHOLE:-0})"
nsx "$NS_C" curl -sf --max-time 60 -H 'Expect:' -T "$WORK/www/big/blob" "http://$VIP/up1" \
  -o /dev/null || die "upload failed"
UP=$(sha256sum < "$WORK/up/up1" | cut -d' ' -f1)
[ "$UP" = "$BIG_SHA" ] || die "upload sha256 $UP != $BIG_SHA"
rm -f "$WORK/up/up1"
say "   upload ok"
SHA_OK=yes
in_time

say "5. client and server resets"
R0=$(stat_of l7.resets)
cat > "$WORK/rst.py" <<'EOF'
import socket, struct, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.sendall(b"GET /big/blob HTTP/1.1\r\nHost: www.example\r\n\r\n")
got = 0
while got < 1 << 20:
    got += len(s.recv(65536))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("sent-rst")
EOF
[ "$(nsx "$NS_C" python3 "$WORK/rst.py" $VIP)" = sent-rst ] || die "client reset script"
sleep 1
for i in 21 22; do
  n=$(nsx "$P-r$i" ss -Htn state established '( sport = :80 )' | wc -l)
  [ "$n" = 0 ] || die "rs$i still has $n connections after the client's reset"
done
set +e
nsx "$NS_C" curl -s --max-time 5 -H 'x-reset: 1' "http://$VIP/boom" -o /dev/null
RC=$?
set -e
[ "$RC" = 56 ] || die "curl through a server reset exited $RC, not 56 (connection reset)"
sleep 0.3
R1=$(stat_of l7.resets)
[ $((R1 - R0)) -ge 2 ] || die "l7.resets went from $R0 to $R1"
say "   both resets relayed (l7.resets +$((R1 - R0)))"

say "6. hybrid policy: wrk, a connection per request, 400 cacheable URLs for ${WRK_S}s"
for i in 11 12 21 22; do : > "$WORK/rs$i/access.log"; done
cat > "$WORK/urls.lua" <<'EOF'
local n = 0
request = function()
  n = n + 1
  local path = string.format("/obj/%d.%s", math.random(1, 400), ({"jpg", "png", "css", "js"})[n % 4 + 1])
  return wrk.format("GET", path, { ["Host"] = "www.example", ["Connection"] = "close" })
end
EOF
nsx "$NS_C" wrk -t2 -c16 -d"${WRK_S}s" -s "$WORK/urls.lua" "http://$VIP/" > "$WORK/wrk.out" 2>&1 \
  || die "wrk failed: $(cat "$WORK/wrk.out")"
sleep 0.5
WRK_REQ=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/wrk.out")
WRK_ERR=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p' "$WORK/wrk.out")
WRK_ERR=$(( ${WRK_ERR:-0} ))
read -r CACHED ON_APP URLS ONE < <(python3 - "$WORK" <<'EOF'
import sys, collections
w = sys.argv[1]
home = collections.defaultdict(set); cached = 0
for s in ("11", "12"):
    for u in open(f"{w}/rs{s}/access.log"):
        u = u.strip()
        if u.startswith("/obj/"): home[u].add(s); cached += 1
on_app = sum(1 for s in ("21", "22") for u in open(f"{w}/rs{s}/access.log") if u.startswith("/obj/"))
print(cached, on_app, len(home), sum(1 for v in home.values() if len(v) == 1))
EOF
)
say "   wrk: $WRK_REQ requests ($WRK_ERR socket errors); caches served $CACHED, app servers $ON_APP; $ONE of $URLS URLs on exactly one cache"
[ "$CACHED" -ge 1000 ] || die "only $CACHED cacheable requests reached the caches"
ROUTED=$((ROUTED + CACHED)); MISROUTED=$((MISROUTED + ON_APP))
AFF=$(python3 -c "print(f'{$ONE / $URLS:.3f}')")
in_time

say "7. under 1 % loss and 10 % reordering each way (relay), SACK and timestamps on: $LOSS_MB MB"
cat > "$WORK/relay.py" <<'EOF'
# A two-port impairing bridge over AF_PACKET (the kernel here has no netem): each frame is
# dropped with probability LOSS, or held back with probability REORDER and sent after the next
# frame in its direction (or after 3 ms). Virtio headers pass through, so checksum offload
# works. Counts go to the file OUT, rewritten at most every 100 ms.
import os, random, select, signal, socket, sys, time
LOSS, REORDER = float(sys.argv[3]), float(sys.argv[4])
rnd = random.Random(7)
def open_(name):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.setsockopt(263, 15, 1)  # SOL_PACKET, PACKET_VNET_HDR
    s.bind((name, 0))
    return s
a, b = open_(sys.argv[1]), open_(sys.argv[2])
peer = {a.fileno(): b, b.fileno(): a}
held = {a.fileno(): None, b.fileno(): None}
n = {"frames": 0, "dropped": 0, "reordered": 0}
last = 0.0
def report():
    with open(sys.argv[5] + ".tmp", "w") as f:
        f.write(" ".join(f"{k}={v}" for k, v in n.items()) + "\n")
    os.replace(sys.argv[5] + ".tmp", sys.argv[5])
while True:
    if time.monotonic() - last > 0.1:
        report(); last = time.monotonic()
    r, _, _ = select.select([a, b], [], [], 0.003)
    now = time.monotonic()
    for fd, h in held.items():
        if h and (now - h[1] > 0.003 or not r):
            peer[fd].send(h[0]); held[fd] = None
    for s in r:
        f = s.recv(70000)
        n["frames"] += 1
        fd = s.fileno()
        if len(f) > 70 and rnd.random() < LOSS:
            n["dropped"] += 1; continue
        if held[fd] is None and len(f) > 70 and rnd.random() < REORDER:
            held[fd] = (f, now); n["reordered"] += 1; continue
        peer[fd].send(f)
        if held[fd]:
            peer[fd].send(held[fd][0]); held[fd] = None
EOF
ip netns exec "$NS_X" python3 "$WORK/relay.py" x0 x1 0.01 0.10 "$WORK/relay.out" &
RELAY_PID=$!
sleep 0.5
nsx "$NS_L" nstat -n > /dev/null 2>&1 || true
T0=$(date +%s%N)
GOT=$(nsx "$NS_L" curl -sf --max-time 90 "http://$VIP/big/small" | sha256sum | cut -d' ' -f1)
T1=$(date +%s%N)
[ "$GOT" = "$SMALL_SHA" ] || die "download under loss: sha256 $GOT != $SMALL_SHA"
say "   download ok: $(( LOSS_MB * 8 * 1000 / ((T1 - T0) / 1000000 + 1) )) Mbit/s"
nsx "$NS_L" curl -sf --max-time 90 -H 'Expect:' -T "$WORK/www/big/small" "http://$VIP/up2" \
  -o /dev/null || die "upload under loss failed"
UP=$(sha256sum < "$WORK/up/up2" | cut -d' ' -f1)
[ "$UP" = "$SMALL_SHA" ] || die "upload under loss: sha256 $UP != $SMALL_SHA"
NST=$(nsx "$NS_L" nstat -az 2>/dev/null)
SACKS=$(echo "$NST" | awk '$1 ~ /^TcpExt(TCPSackRecovery|TCPSACKReorder|TCPSackShifted|TCPSackMerged|TCPSACKReneging)$/ { s += $2 } END { print s + 0 }')
TSREO=$(echo "$NST" | awk '$1 == "TcpExtTCPTSReorder" { print $2 + 0 }')
sleep 0.2
kill "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null || true
RELAY_PID=
say "   upload ok; relay: $(cat "$WORK/relay.out"); client SACK events $SACKS, TS reorder ${TSREO:-0}; lvsd retransmits $(stat_of l7.retransmits)"
grep -q "dropped=[1-9]" "$WORK/relay.out" || die "the relay dropped nothing"
[ "$SACKS" -gt 0 ] || die "no SACK processing seen on the client under loss"
LOSS_OK=yes
in_time

ctl status | grep '^l7\.' | grep -v '\.active ' >&2 || true
[ "$(stat_of l7.no_room)" = 0 ] || die "the splicer ran out of room for frames"
if [ "$WORKERS" != 1 ]; then
  worker_counts L7_WORKERS "$WORKERS" spliced l7.spliced "spliced no connection"
fi
echo "L7 routed=$ROUTED misrouted=$MISROUTED sha256-ok=$SHA_OK loss-ok=$LOSS_OK cache-affinity=$AFF"
[ "$MISROUTED" = 0 ] || die "$MISROUTED requests misrouted"
[ "$AFF" = 1.000 ] || die "cache affinity $AFF"
echo "L7 PASSED"
