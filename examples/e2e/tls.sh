#!/usr/bin/env bash
# TLS-aware distribution end to end: lvsd's TLS splicer (--tls-rules, SNI pools and the `tls`
# persistence engine) beside a plain layer-4 rr service of the same lvsd, three nginx real
# servers with distinct certificates and distinct ticket keys, clients `openssl s_client
# -sess_out/-sess_in` and Python `ssl` reusing sessions over TLS 1.2 and TLS 1.3.
#
#   tls.sh /path/to/lvsd      prints `TLS-REUSE mode=<rr|engine> tls=<1.2|1.3> resumed=N
#                             attempts=N` (four lines), `TLS-SNI misrouted=N`, `TLS-KILL ...`,
#                             `TLS-RATE ...` and `TLS PASSED` (~1 min)
#   tls.sh /path/to/lvsd N    the same with `--workers N` (--steer auto: by client address, as
#                             --tls-rules asks; examples/lvsd/steering.rs): each worker runs its
#                             own TLS engine; the client namespace has 8 addresses and the
#                             python identities connect from them in turn (s_client from the
#                             first), so every worker serves clients; counters are summed over
#                             the workers, each must have resumed sessions by its engine:
#                             prints `TLS_WORKERS workers=N hits0=.. hits1=..`
#
# As root; run under flock /tmp/lvs-netns.lock. TLS_IDENTS (16) python identities per mode and
# version, TLS_REPS (5) returns of each, TLS_RATE_S (3) seconds of each s_time run.
#
# Topology (198.18.0.0/15 only; every name starts with tls-):
#
#   client ns              director ns (lvsd)                 switch ns    real servers
#   c0 198.18.0.2 -------- d0 (lvsd: 198.18.0.1; VIPs .10:443 TLS engine, .20:8443 L4 rr)
#                          d1 (lvsd: 198.18.1.1) ------------ br0 -------- r1 r2 r3
#                                                                          198.18.1.11-13
#
# Pools: a.tls.test -> pool a (r1 r2), *.b.tls.test -> pool b (r2 r3); other names are refused
# with an unrecognized_name alert, hellos without a name go to a; non-TLS bytes are reset. The rr service spreads the same
# three servers (port 8443) without looking at TLS. Each nginx answers `rN`, so each response
# says who served it; each has its own certificate (CN=rN) and its own ticket key file, whose
# first 16 bytes (the key name) lvsd is told (`ticket-key`).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=2

LVSD=${1:?usage: tls.sh /path/to/lvsd [workers]}
NW=${2:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
P=tls-$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s
SERVERS="1 2 3"
WORK=$(mktemp -d /tmp/tls-e2e.XXXXXX)
chmod 755 "$WORK"
CTL=$WORK/ctl.sock
START=$SECONDS
LIMIT=${TLS_LIMIT:-150}
IDENTS=${TLS_IDENTS:-16}
REPS=${TLS_REPS:-5}
RATE_S=${TLS_RATE_S:-3}
ENGINE=198.18.0.10:443
RR=198.18.0.20:8443
ALLOWED="a.tls.test=r1+r2;x.b.tls.test=r2+r3;y.b.tls.test=r2+r3"
LVSD_PID=

cleanup() {
  local rc=$?
  set +e
  [ -n "$LVSD_PID" ] && kill "$LVSD_PID" 2>/dev/null
  for ns in "$NS_C" "$NS_D" "$NS_S" $(for i in $SERVERS; do echo "$P-r$i"; done); do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
      sleep 0.2
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
      ip netns del "$ns" 2>/dev/null
    fi
  done
  if [ "$rc" != 0 ]; then
    echo "---- lvsd stderr ----"; tail -40 "$WORK/lvsd.err" 2>/dev/null
    echo "---- lvsd status ----"; cat "$WORK/status.last" 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

ctl() { "$LVSD" ctl "$CTL" "$@"; }
# a status counter (with --workers N: the sum over the workers; `worker<k>.NAME` is worker k's)
stat_of() {
  ctl status | tee "$WORK/status.last" | awk -v k="$1" '$1 == k { n = $2; f = 1 } END { if (f) print n }'
}
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

say "topology: client, director, switch, 3 real servers"
for ns in "$NS_C" "$NS_D" "$NS_S" $(for i in $SERVERS; do echo "$P-r$i"; done); do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
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
# more workers: more client addresses (steering by client address spreads them)
SRCS=
if [ "$NW" != 1 ]; then
  for i in $(seq 3 9); do nsx "$NS_C" ip addr add 198.18.0.$i/24 dev c0; done
  SRCS=$(seq -f "198.18.0.%g" 2 9 | paste -sd,)
fi
export TLS_CLIENT_SOURCES=$SRCS
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip route add default via 198.18.0.1
nsx "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1

KEYS=
for i in $SERVERS; do
  ns=$P-r$i
  d=$WORK/rs$i
  mkdir -p "$d"
  nsx "$ns" ip addr add "198.18.1.1$i/24" dev eth0
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via 198.18.1.1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=r$i" -keyout "$d/key.pem" -out "$d/cert.pem" 2> /dev/null
  # nginx's ticket key file: 80 bytes, the first 16 the key name (RFC 5077 key_name)
  head -c 80 /dev/urandom > "$d/ticket.key"
  name=$(od -An -tx1 -N16 "$d/ticket.key" | tr -d ' \n')
  KEYS="$KEYS ticket-key 198.18.1.1$i:443 $name
"
  cat > "$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $d; proxy_temp_path $d; fastcgi_temp_path $d;
  uwsgi_temp_path $d; scgi_temp_path $d;
  ssl_certificate $d/cert.pem;
  ssl_certificate_key $d/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:S$i:4m;
  ssl_session_timeout 10m;
  ssl_session_tickets on;
  ssl_session_ticket_key $d/ticket.key;
  server {
    listen 198.18.1.1$i:443 ssl backlog=4096;
    listen 198.18.1.1$i:8443 ssl backlog=4096;
    location / { return 200 "r$i\n"; }
  }
}
EOF
  nsx "$ns" /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -g 'daemon on;' \
    2>> "$d/error.log" || die "nginx r$i: $(cat "$d/error.log")"
done
for i in $SERVERS; do
  for _ in $(seq 1 50); do
    nsx "$P-r$i" curl -sk -o /dev/null --max-time 1 "https://198.18.1.1$i/" && break
    sleep 0.1
  done
done

cat > "$WORK/tls.rules" <<EOF
# TLS-aware pools for $ENGINE
pool a rr 198.18.1.11:443 198.18.1.12:443
pool b rr 198.18.1.12:443 198.18.1.13:443
sni a.tls.test -> a
sni *.b.tls.test -> b
default a
refuse-unknown
timeout 300
non-tls reset
hold-down 5
$KEYS
EOF
cat > "$WORK/rules" <<EOF
-A -t $RR -s rr
-a -t $RR -r 198.18.1.11:8443 -m -w 1
-a -t $RR -r 198.18.1.12:8443 -m -w 1
-a -t $RR -r 198.18.1.13:8443 -m -w 1
EOF

say "a rules file with a bad line is refused with its line number"
printf 'pool a rr 198.18.1.11:443\nsni x.test -> nosuch\n' > "$WORK/bad.rules"
if "$LVSD" --rules "$WORK/rules" --tls-rules "$WORK/bad.rules" --tls-vip $ENGINE --check \
  > "$WORK/bad.out" 2>&1; then
  die "lvsd accepted an sni line to an unknown pool"
fi
grep -q "line 2: no pool" "$WORK/bad.out" || die "no line-2 error: $(cat "$WORK/bad.out")"

say "starting lvsd: TLS engine on $ENGINE, layer-4 rr on $RR"
nsx "$NS_D" "$LVSD" --rules "$WORK/rules" --tls-rules "$WORK/tls.rules" --tls-vip $ENGINE \
  --iface d0 --iface d1 --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 --control "$CTL" \
  $( [ "$NW" = 1 ] || echo --workers "$NW") > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
for _ in $(seq 1 100); do [ -S "$CTL" ] && break; sleep 0.1; done
[ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err")
grep -q "tls splicing on $ENGINE with 2 pool(s) (a, b), 2 server name(s), 3 ticket key(s)" \
  "$WORK/lvsd.err" || die "no tls start line: $(cat "$WORK/lvsd.err")"
[ "$NW" = 1 ] || grep -q "^lvsd: $NW workers, steered by .*(--steer addr)" "$WORK/lvsd.err" ||
  die "not $NW workers steered by client address: $(cat "$WORK/lvsd.err")"
for vip in $ENGINE $RR; do
  ok=
  for _ in $(seq 1 50); do
    nsx "$NS_C" curl -sk -o /dev/null --max-time 1 --resolve "a.tls.test:${vip#*:}:${vip%:*}" \
      "https://a.tls.test:${vip#*:}/" && { ok=1; break; }
    sleep 0.1
  done
  [ -n "$ok" ] || die "no answer through $vip"
done

# one s_client connection: NAME VIP VERSION [s_client session options...]; prints
# `<New|Reused> <server>` or `FAILED`
sc() {
  local name=$1 vip=$2 ver=$3; shift 3
  local out
  out=$(printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$name" |
    nsx "$NS_C" timeout 5 openssl s_client -connect "$vip" -servername "$name" "-tls$ver" \
      -ign_eof "$@" 2>&1) || true
  local how srv
  how=$(printf '%s\n' "$out" | sed -n 's/^\(New\|Reused\), .*/\1/p' | head -1)
  srv=$(printf '%s\n' "$out" | grep -x 'r[0-9]' | head -1)
  if [ -n "$how" ] && [ -n "$srv" ]; then echo "$how $srv"; else echo FAILED; fi
}

# s_client identities: NAME VIP VERSION IDENTS REPS [extra]; each keeps the session of its first
# connection and offers it REPS times (the python client instead keeps its latest session);
# prints `attempts resumed misrouted failed`
sclient_run() {
  local name=$1 vip=$2 ver=$3 n=$4 reps=$5; shift 5
  local att=0 res=0 mis=0 fail=0 k r f o
  for k in $(seq 1 "$n"); do
    f=$WORK/sess.$ver.$k
    rm -f "$f"
    o=$(sc "$name" "$vip" "${ver/./_}" -sess_out "$f" "$@")
    [ "$o" = FAILED ] && { fail=$((fail + 1)); continue; }
    for r in $(seq 1 "$reps"); do
      o=$(sc "$name" "$vip" "${ver/./_}" -sess_in "$f" "$@")
      att=$((att + 1))
      [ "$o" = FAILED ] && { fail=$((fail + 1)); continue; }
      case "$o" in Reused*) res=$((res + 1)) ;; esac
      if [ "$vip" = "$ENGINE" ]; then
        case "$name:${o#* }" in
          a.tls.test:r1 | a.tls.test:r2 | *.b.tls.test:r2 | *.b.tls.test:r3) ;;
          *) mis=$((mis + 1)); say "misrouted: $name -> ${o#* }" ;;
        esac
      fi
    done
  done
  echo "$att $res $mis $fail"
}

MISROUTED=0
FAILED=0
for mode in rr engine; do
  vip=$RR
  [ $mode = engine ] && vip=$ENGINE
  for ver in 1.2 1.3; do
    in_time
    att=0 res=0
    # s_client: with tickets; TLS 1.2 also session IDs only (-no_ticket: the engine learns
    # the session ID from the ServerHello)
    read -r a r m f < <(sclient_run a.tls.test $vip $ver 4 "$REPS")
    att=$((att + a)) res=$((res + r)) MISROUTED=$((MISROUTED + m)) FAILED=$((FAILED + f))
    read -r a r m f < <(sclient_run x.b.tls.test $vip $ver 2 "$REPS")
    att=$((att + a)) res=$((res + r)) MISROUTED=$((MISROUTED + m)) FAILED=$((FAILED + f))
    if [ $ver = 1.2 ]; then
      read -r a r m f < <(sclient_run a.tls.test $vip $ver 2 "$REPS" -no_ticket)
      att=$((att + a)) res=$((res + r)) MISROUTED=$((MISROUTED + m)) FAILED=$((FAILED + f))
    fi
    allowed=
    [ $mode = engine ] && allowed=$ALLOWED
    line=$(nsx "$NS_C" python3 "$HERE/tls_client.py" "${vip%:*}" "${vip#*:}" $ver "$IDENTS" \
      "$REPS" 4 a.tls.test,x.b.tls.test,y.b.tls.test "$allowed" 2> "$WORK/py.err" |
      grep '^RESULT') || die "python client: $(cat "$WORK/py.err")"
    say "python $mode $ver: $line"
    att=$((att + $(echo "$line" | field attempts)))
    res=$((res + $(echo "$line" | field resumed)))
    MISROUTED=$((MISROUTED + $(echo "$line" | field misrouted)))
    FAILED=$((FAILED + $(echo "$line" | field failed)))
    eval "HS_${mode}_${ver/./_}=\"$(echo "$line" | field hs_full_us)/$(echo "$line" | field hs_resumed_us)\""
    echo "TLS-REUSE mode=$mode tls=$ver resumed=$res attempts=$att"
    eval "R_${mode}_${ver/./_}=$res A_${mode}_${ver/./_}=$att"
  done
done
echo "TLS-SNI misrouted=$MISROUTED"
[ "$FAILED" = 0 ] || die "$FAILED connection(s) failed with every server up"
[ "$MISROUTED" = 0 ] || die "$MISROUTED connection(s) reached a server outside their name's pool"
for ver in 1_2 1_3; do
  eval "r=\$R_engine_$ver a=\$A_engine_$ver rr=\$R_rr_$ver ra=\$A_rr_$ver"
  [ "$a" -ge 50 ] || die "only $a resumption attempts through the engine (tls ${ver/_/.})"
  [ $((r * 100)) -ge $((a * 99)) ] || die "engine resumed $r of $a (tls ${ver/_/.}), goal 99 %"
  # layer 4 rr over three servers: about a third; anything near the engine means no spreading
  [ $((rr * 100)) -le $((ra * 60)) ] || die "rr resumed $rr of $ra: the servers share sessions?"
  [ "$rr" -gt 0 ] || die "rr resumed nothing: session reuse broken"
done
say "handshake mean (full/resumed, us, python): rr 1.2 $HS_rr_1_2, 1.3 $HS_rr_1_3; engine 1.2 $HS_engine_1_2, 1.3 $HS_engine_1_3"
echo "TLS-HANDSHAKE-US rr_1.2=$HS_rr_1_2 rr_1.3=$HS_rr_1_3 engine_1.2=$HS_engine_1_2 engine_1.3=$HS_engine_1_3"

say "refused name and non-TLS bytes"
before=$(stat_of tls.refused)
o=$(printf '' | nsx "$NS_C" timeout 5 openssl s_client -connect $ENGINE -servername c.other.test \
  -tls1_3 2>&1) || true
echo "$o" | grep -qi "unrecognized name" || die "no unrecognized_name alert: $o"
[ "$(stat_of tls.refused)" = $((before + 1)) ] || die "refusal not counted"
before=$(stat_of tls.not_tls)
if nsx "$NS_C" curl -s -o /dev/null --max-time 3 "http://${ENGINE%:*}:443/"; then
  die "plain HTTP on the TLS VIP was answered"
fi
[ "$(stat_of tls.not_tls)" = $((before + 1)) ] || die "non-TLS bytes not counted"

say "listing and counters"
ctl -L -n -c --persistent-conn > "$WORK/list"
grep -q "pe name" "$WORK/list" || die "no persistent-conn header"
# configured key names (`key`) and TLS 1.2 session IDs learned from full handshakes (`sid`);
# the servers' tickets all carry configured key names, so none is learned (`ticket`)
for kind in key sid; do
  grep -Eq "^TCP [0-9:never ]+ $kind .* tls +[0-9a-f]+$" "$WORK/list" ||
    die "no $kind row in the listing: $(head -20 "$WORK/list")"
done
say "$(grep -c ' tls ' "$WORK/list") tls entries; e.g. $(grep ' sid ' "$WORK/list" | head -1)"
for k in tls.hits tls.misses tls.learned tls.expired; do
  v=$(stat_of $k)
  [ -n "$v" ] || die "no counter $k"
  say "$k $v"
done
[ "$(stat_of tls.hits)" -gt 0 ] && [ "$(stat_of tls.learned)" -gt 0 ] || die "no hits or nothing learned"
if [ "$NW" != 1 ]; then
  worker_counts TLS_WORKERS "$NW" hits tls.hits "resumed no session in its engine"
fi

say "r1 killed in the middle of a run: its clients fall back to full handshakes on r2"
WORKERS=4
nsx "$NS_C" python3 "$HERE/tls_client.py" ${ENGINE%:*} ${ENGINE#*:} 1.3 24 12 $WORKERS \
  a.tls.test "$ALLOWED" 20 > "$WORK/kill.out" 2> "$WORK/kill.err" &
KPID=$!
sleep 1.5
for pid in $(ip netns pids "$P-r1"); do kill -9 "$pid" 2>/dev/null || true; done
say "r1 killed"
wait $KPID || die "kill-phase client: $(cat "$WORK/kill.err")"
line=$(grep '^RESULT' "$WORK/kill.out")
say "python kill phase: $line"
grep -E "FAILED|MISROUTED" "$WORK/kill.err" >&2 || true
kfail=$(echo "$line" | field failed)
kmoved=$(echo "$line" | field moved_full)
kmis=$(echo "$line" | field misrouted)
echo "TLS-KILL failed=$kfail in_flight_max=$WORKERS fallback_full=$kmoved misrouted=$kmis reconnects=$(stat_of tls.splice.reconnects) fallbacks=$(stat_of tls.fallbacks)"
[ "$kfail" -le $WORKERS ] || die "$kfail failed connections, more than the $WORKERS in flight"
[ "$kmoved" -gt 0 ] || die "no client of r1 fell back to another server"
[ "$kmis" = 0 ] || die "misrouted during the kill phase"

say "new TLS connections per second through lvsd (openssl s_time, single client)"
rate() { # VIP VERSION new|reuse
  nsx "$NS_C" openssl s_time -connect "$1" "-tls$2" "-$3" -time "$RATE_S" 2>&1 |
    sed -n 's/^\([0-9]*\) connections in \([0-9]*\) real seconds.*/\1 \2/p' | head -1
}
# r1 is gone: the rr service is told so, as a health checker would (the engine's pools found
# out by themselves); hellos without a name (s_time sends none) go to the default pool, a
ctl -d -t $RR -r 198.18.1.11:8443 > /dev/null
for ver in 1_3 1_2; do
  for mode in rr engine; do
    vip=$RR
    [ $mode = engine ] && vip=$ENGINE
    read -r n s < <(rate $vip $ver new)
    [ -n "$n" ] && [ "$n" -gt 0 ] || die "s_time -new through $vip failed"
    read -r rn rs < <(rate $vip $ver reuse)
    echo "TLS-RATE mode=$mode tls=${ver/_/.} new_per_s=$(awk -v n="$n" -v s="$s" 'BEGIN { printf "%.0f", n / s }') reuse_per_s=$(awk -v n="${rn:-0}" -v s="${rs:-1}" 'BEGIN { printf "%.0f", n / s }')"
  done
done

echo "TLS PASSED"
