#!/usr/bin/env bash
# The director's dataplane against the kernel's: kernel nftables DNAT (conntrack) and lvsd NAT
# forwarding the same loads over the same namespaces, in one run.
#
#   dataplane.sh LVSD SENDER SYSTEMS   SYSTEMS: e.g. "nftables:1 lvsd:1 lvsd:2 lvsdcap:1"
#
# LVSD is the lvsd binary; SENDER the dataplane example binary (its `udp-send` subcommand is the
# bounded sendmmsg sender). Prints `RESULT system=.. workers=.. workload=.. value=.. unit=..
# cpu_cores=..` lines for examples/dataplane.rs and `DATAPLANE DONE` at the end. As root; run
# under flock /tmp/lvs-netns.lock. Environment: DP_SECS (4) seconds per measured run, DP_CAP
# (0.30) the CPU share of `lvsdcap`, DP_CAP_PERIOD_US (10000) its CFS period, DP_REPEAT (1) how
# many times to measure all of SYSTEMS (in order, on the same namespaces; with more than one,
# `DATAPLANE RUN k` starts repeat k), DP_NAPI (inline) below, DP_PROFILE (unset) at profile_lvsd and profile_cpu1,
# DP_LVSD_ARGS (unset) more arguments for every lvsd started (e.g. `--busy-poll 200`),
# DP_KERNEL_DROP (1) at kernel_drop_on.
#
# `lvsdxdp:W` is lvsd with `--xdp` (AF_XDP frames; W must be 1), see xdp_peers below.
# `lvsdcap:W` is lvsd with W workers held to DP_CAP of one CPU by a CFS quota (a cpu cgroup,
# 10 ms periods), UDP only: the peak (`udp64_capped_pps`) and the same offered at twice it
# (`udp64_capped_overload_pps`). Two cores cannot offer twice an uncapped director's peak (the
# sender is the limit, and a second sender takes the director's CPU); capped, the director's
# capacity is a known fraction of a core and one sender on the other core offers 2x, so the
# overload behaviour (shed early, stay at the peak) is measured on its own.
#
# Topology (198.18.0.0/15 only; every name starts with dp-):
#
#   client ns                 director ns                      server ns
#   c0 198.18.0.2 ----------- d0 198.18.0.1                    (VIP 198.18.2.10 is routed
#                             d1 198.18.1.1 ------------------ s0 198.18.1.2   via 198.18.0.1)
#
# The server routes back through 198.18.1.1 (NAT needs the replies). UDP to VIP:5001 is counted
# and dropped by an nftables counter in the server namespace (the sink); TCP VIP:5201 is
# iperf3, VIP:80 nginx (an empty 204 per request, `Connection: close` from wrk).
#
# The client's programs run on CPU 0 and lvsd on CPU 1 (with more workers: on every CPU), all of them (and the server's) at nice
# -20 for the run, so that other work on a shared machine disturbs the systems alike.
#
# DP_NAPI (inline) says where each namespace's receive work runs, and so what the director's
# CPU is:
# - `threaded`: every veth end gets NAPI (GRO on) in its own kernel thread
#   (`/sys/class/net/DEV/threaded`; TSO off, see napi_thread_on), as a NIC's receive runs on
#   its own machine's CPU. The
#   director namespace's threads (d0, d1) run on CPU 1 beside lvsd, the client's and server's
#   (c0, s0) on CPU 0 beside the sender and the sink, all at nice -20. A veth transmit then only
#   queues the frame for the peer's thread: the sender no longer runs the director's receive in
#   its own system call, nor lvsd the server's. Director CPU, for every system alike: utime +
#   stime of d0's and d1's NAPI threads (/proc/TID/stat; the kernel's whole forwarding runs in
#   them), plus lvsd's process.
#   TCP is slower for every system in this mode (software segmentation on each side).
# - `inline` (default; the setup of every run recorded before 2026-12-07): no NAPI, each veth
#   transmit runs the peer namespace's receive inline, as softirq on the transmitting CPU. This
#   kernel accounts CPU by the tick without IRQ time accounting: a tick in softirq goes to the
#   softirq column of /proc/stat and to the interrupted task's stime. lvsd: utime + stime of the
#   process (the server namespace's receive inside its transmits included; the director
#   namespace's receive into its ring, run in the sender's system call, not). Kernel: the softirq
#   column summed over every CPU (the director namespace's receive and forwarding and the server
#   namespace's receive, all inside the sender's system call).
set -euo pipefail

LVSD=${1:?usage: dataplane.sh LVSD SENDER SYSTEMS}
SENDER=${2:?usage: dataplane.sh LVSD SENDER SYSTEMS}
SYSTEMS=${3:-"nftables:1 lvsd:1"}
NAPI=${DP_NAPI:-inline}
case $NAPI in threaded|inline) ;; *) echo "DP_NAPI must be threaded or inline" >&2; exit 2 ;; esac
SECS=${DP_SECS:-4}
REPEAT=${DP_REPEAT:-1}
P=dp-$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s
WORK=$(mktemp -d /tmp/dp.XXXXXX)
chmod 755 "$WORK"
CTL=$WORK/ctl.sock
VIP=198.18.2.10
RS=198.18.1.2
START=$SECONDS
# the machine is shared: the measured processes run at a raised priority, all systems alike
PRIO="nice -n -20"
LVSD_PID=
CAP=${DP_CAP:-0.30}
CAP_PERIOD=${DP_CAP_PERIOD_US:-10000}
CGROUP=

cleanup() {
  local rc=$?
  set +e
  [ -n "$LVSD_PID" ] && kill "$LVSD_PID" 2>/dev/null
  if [ -n "$CGROUP" ]; then sleep 0.2; rmdir "$CGROUP" 2>/dev/null; fi
  for ns in "$NS_C" "$NS_D" "$NS_S"; do
    if ip netns list | grep -qw "$ns"; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
      sleep 0.2
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
      ip netns del "$ns" 2>/dev/null
    fi
  done
  if [ "$rc" != 0 ]; then
    echo "---- lvsd stderr ----" >&2; tail -30 "$WORK/lvsd.err" >&2 2>/dev/null
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

say() { printf '[%3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

say "topology: client -- director -- server"
for ns in "$NS_C" "$NS_D" "$NS_S"; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
  nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add c0 netns "$NS_C" type veth peer name d0 netns "$NS_D"
ip link add d1 netns "$NS_D" type veth peer name s0 netns "$NS_S"
nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip route add default via 198.18.0.1
nsx "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1
nsx "$NS_S" ip addr add $RS/24 dev s0
nsx "$NS_S" ip link set s0 up
nsx "$NS_S" ip route add default via 198.18.1.1
nsx "$NS_S" sysctl -qw net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
nsx "$NS_D" ip link set d0 up
nsx "$NS_D" ip link set d1 up
# the kernel threads named napi/DEV-ID (DEV cut to the 15 characters of a task name)
napi_threads() { ps -e -o pid=,comm= | awk -v d="napi/$1-" 'index($2, d) == 1 { print $1 }' | sort; }
# NAPI in its own thread for DEV in NS, pinned to CPU, nice -20; prints the thread ids (the ones
# that appeared, so another namespace's device of the same name is never taken)
napi_thread_on() { # ns dev cpu
  local before after new t
  before=$(napi_threads "$2")
  # veth hands a frame to the peer's NAPI only if it may pass it on unsegmented: with TSO on,
  # only frames of a local socket (and only to a peer with GRO fraglist or UDP forwarding), so
  # the kernel's forwarded frames would still run the peer's receive inline. TSO off on every
  # end (each side segments in software, the director's side included, for every system alike).
  nsx "$1" ethtool -K "$2" gro on tso off > /dev/null
  nsx "$1" sh -c "echo 1 > /sys/class/net/$2/threaded"
  after=$(napi_threads "$2")
  new=$(comm -13 <(echo "$before") <(echo "$after"))
  [ -n "$new" ] || die "no NAPI thread appeared for $2"
  for t in $new; do
    taskset -pc "$3" "$t" > /dev/null
    renice -n -20 -p "$t" > /dev/null
  done
  echo $new
}
DIR_NAPI=
if [ "$NAPI" = threaded ]; then
  command -v ethtool > /dev/null || die "DP_NAPI=threaded needs ethtool (apt install ethtool)"
  napi_thread_on "$NS_C" c0 0 > /dev/null
  napi_thread_on "$NS_S" s0 0 > /dev/null
  DIR_NAPI="$(napi_thread_on "$NS_D" d0 1) $(napi_thread_on "$NS_D" d1 1)"
  say "NAPI threads: director (CPU 1) $DIR_NAPI"
fi
# the sender writes whole frames: the director's MAC on d0 (the kernel's and lvsd's alike)
DMAC=$(nsx "$NS_D" cat /sys/class/net/d0/address)

# the sink: count and drop UDP to :5001 before any socket lookup
nsx "$NS_S" nft -f - <<EOF
table inet sink {
  counter udp5001 { }
  chain pre { type filter hook prerouting priority -300; udp dport 5001 counter name udp5001 drop; }
}
EOF
sink_packets() { nsx "$NS_S" nft list counter inet sink udp5001 | awk '/packets/ { print $2 }'; }

mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx; uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  server { listen $RS:80 backlog=8192 reuseport; location / { return 204; } }
}
EOF
nsx "$NS_S" $PRIO /usr/sbin/nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon on;' \
  || die "nginx did not start"
nsx "$NS_S" $PRIO iperf3 -s -B $RS -D --logfile "$WORK/iperf3-s.log" || die "iperf3 -s did not start"

cat > "$WORK/rules" <<EOF
-A -u $VIP:5001 -s rr
-a -u $VIP:5001 -r $RS:5001 -m -w 1
-A -t $VIP:5201 -s rr
-a -t $VIP:5201 -r $RS:5201 -m -w 1
-A -t $VIP:80 -s rr
-a -t $VIP:80 -r $RS:80 -m -w 1
EOF

HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
softirq_ticks() { awk '$1 == "cpu" { print $8 }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now_ns() { date +%s%N; }
# director CPU ticks so far (DP_NAPI above): threaded, the director's NAPI threads plus the lvsd
# process; inline, the lvsd process or the kernel's softirq time
CUR_SYS=
cpu_ticks() {
  local t sum=0
  if [ "$NAPI" = threaded ]; then
    for t in $DIR_NAPI; do sum=$((sum + $(proc_ticks "$t"))); done
    case $CUR_SYS in lvsd|lvsdxdp) sum=$((sum + $(proc_ticks "$LVSD_PID"))) ;; esac
    echo "$sum"
  else
    case $CUR_SYS in lvsd|lvsdxdp) proc_ticks "$LVSD_PID" ;; *) softirq_ticks ;; esac
  fi
}
result() { # workload value unit ticks wall_ns [extra key=value fields]
  awk -v s="$CUR_SYS" -v w="$CUR_W" -v wl="$1" -v v="$2" -v u="$3" -v t="$4" -v ns="$5" -v hz="$HZ" -v x="${6:-}" \
    'BEGIN { printf "RESULT system=%s workers=%s workload=%s value=%.3f unit=%s cpu_cores=%.3f%s\n", s, w, wl, v, u, (t / hz) / (ns / 1e9), (x == "" ? "" : " " x) }'
}

# one UDP run: offered rate ($1, 0 = as fast as the sender goes) for $2 seconds, by senders on
# the CPUs $3 (default 0; with two, each offers half the rate); prints
# "offered_pps delivered_pps ticks wall_ns tried_pps": offered is what c0 accepted, tried what
# the senders presented (accepted or refused by a full ring: `ENOBUFS`, the director's
# back-pressure). The sender writes prebuilt frames on a packet socket on c0
# (`udp-send --raw`), 64 flows interleaved, `sendmmsg` bursts of 64.
udp_run() {
  local rate=$1 secs=$2 cpus=${3:-0} p0 p1 c0 c1 t0 t1 sent=0 tried=0 a b n cpu k=0 per pids=()
  n=$(wc -w <<< "${cpus//,/ }")
  per=$(awk -v r="$rate" -v n="$n" 'BEGIN { printf "%.0f", r / n }')
  p0=$(sink_packets); c0=$(cpu_ticks); t0=$(now_ns)
  for cpu in ${cpus//,/ }; do
    nsx "$NS_C" $PRIO taskset -c "$cpu" "$SENDER" udp-send --dst $VIP:5001 --flows 64 --payload 18 \
      --secs "$secs" --rate "$per" --raw c0 --src 198.18.0.2 --dst-mac "$DMAC" > "$WORK/send.$k" &
    pids+=($!) k=$((k + 1))
  done
  wait "${pids[@]}"
  t1=$(now_ns); c1=$(cpu_ticks)
  for ((k = 0; k < n; k++)); do
    read -r a b < "$WORK/send.$k"
    sent=$((sent + a)) tried=$((tried + b))
  done
  sleep 0.2
  p1=$(sink_packets)
  awk -v s="$sent" -v d=$((p1 - p0)) -v ns=$((t1 - t0)) -v c=$((c1 - c0)) -v tr="$tried" \
    'BEGIN { printf "%.0f %.0f %.0f %.0f %.0f\n", s / (ns / 1e9), d / (ns / 1e9), c, ns, tr / (ns / 1e9) }'
}

# the UDP peak and the overload: PEAK_WORKLOAD OVERLOAD_WORKLOAD EXTRA_FIELDS RATES...
measure_udp() {
  local wl_peak=$1 wl_over=$2 extra=$3
  shift 3
  say "$CUR_SYS ($CUR_W worker(s)): UDP warm-up"
  udp_run 10000 1 > /dev/null
  # the peak: a sweep of offered rates up to the sender's own limit; the best delivered rate
  local best=0 best_line="" line off del rate tr
  for rate in "$@"; do
    line=$(udp_run $rate 2)
    read -r off del _ _ tr <<< "$line"
    say "  offered $off pps (tried $tr) -> delivered $del pps"
    if [ "$del" -gt "$best" ]; then best=$del best_line=$line; fi
    [ "$best" -gt 0 ] || die "nothing reached the server at $off pps offered"
    # past the point where more offered load no longer helps
    [ "$del" -lt $((off * 7 / 10)) ] && [ "$rate" != 0 ] && [ "$best" -gt 0 ] && break
  done
  read -r off del ticks ns _ <<< "$best_line"
  result "$wl_peak" "$del" pps "$ticks" "$ns" "$extra"
  # twice the peak presented to the director's interface: what c0 accepts of it (offered) falls
  # short when the director pushes back (a full ring refuses frames, as a NIC's drops them)
  local over=$((best * 2)) senders=1 factor
  line=$(udp_run "$over" "$SECS")
  read -r off del ticks ns tr <<< "$line"
  factor=$(awk -v t="$tr" -v b="$best" 'BEGIN { printf "%.2f", t / b }')
  say "  overload, one sender on CPU 0: tried $tr pps (${factor}x the peak $best), offered $off pps -> delivered $del pps"
  if awk -v f="$factor" 'BEGIN { exit !(f < 1.9) }'; then
    # one sender core cannot present 2x: a second sender on CPU 1, which competes with the
    # director for that CPU (lvsd x1 is pinned there; the kernel's softirq runs there too)
    line=$(udp_run "$over" "$SECS" 0,1)
    read -r off del ticks ns tr <<< "$line"
    senders=2
    factor=$(awk -v t="$tr" -v b="$best" 'BEGIN { printf "%.2f", t / b }')
    say "  overload, senders on CPUs 0 and 1: tried $tr pps (${factor}x the peak $best), offered $off pps -> delivered $del pps"
  fi
  result "$wl_over" "$del" pps "$ticks" "$ns" "offered=$off senders=$senders attempted=$tr${extra:+ $extra}"
  sleep 1
}

# DP_PROFILE=RATE: before lvsd's measurements, offer RATE pps of UDP for 3 s under
# `perf record` of the lvsd process and print a PROFILE line: frames delivered, lvsd's CPU per
# frame, its threads' voluntary context switches (sleeps in poll) per 1000 frames, and the five
# symbols with the most samples (perf report's shares of lvsd's own samples)
# offers RATE pps of UDP for 3 s while `perf record` (its target options after OUT and RATE)
# samples into OUT; prints udp_run's line
udp_under_perf() { # out rate perf-target-options...
  local out=$1 rate=$2 pp line
  shift 2
  command -v perf > /dev/null || die "DP_PROFILE needs perf"
  perf record -F 2999 -o "$out" "$@" -- sleep 3.3 > /dev/null 2>&1 &
  pp=$!
  sleep 0.1
  line=$(udp_run "$rate" 3)
  wait "$pp" || true
  echo "$line"
}

profile_lvsd() {
  local rate=$1 line sw0 sw1 t f0 f1 top
  udp_run 10000 1 > /dev/null
  sw0=$(cat /proc/"$LVSD_PID"/task/*/status | awk '/^voluntary_ctxt/ { s += $2 } END { print s }')
  line=$(udp_under_perf "$WORK/perf.data" "$rate" -p "$LVSD_PID")
  sw1=$(cat /proc/"$LVSD_PID"/task/*/status | awk '/^voluntary_ctxt/ { s += $2 } END { print s }')
  read -r _ f0 t f1 _ <<< "$line"
  top=$(perf report -i "$WORK/perf.data" --no-children --sort sym --stdio 2> /dev/null \
    | awk '/^ +[0-9.]+%/ && n < 5 { printf "%s%s %s", (n++ ? ", " : ""), $1, $3 }')
  awk -v s="$CUR_SYS" -v w="$CUR_W" -v r="$rate" -v d="$f0" -v t="$t" -v ns="$f1" -v hz="$HZ" -v sw=$((sw1 - sw0)) -v top="$top" \
    'BEGIN { n = d * ns / 1e9; printf "PROFILE system=%s workers=%s offered=%s delivered_pps=%.0f cpu_us_per_frame=%.3f sleeps_per_1000_frames=%.1f top=[%s]\n", s, w, r, d, (t / hz) * 1e6 / n, sw * 1000 / n, top }'
}

# DP_PROFILE=RATE with DP_NAPI=threaded: every system's forwarding runs on CPU 1 (the
# director's NAPI threads, and lvsd), so the profile is of CPU 1 as a whole (`perf record -C 1`),
# the kernel's forwarding and lvsd's alike. A PROFILE_CPU1 line: frames delivered, the
# director's CPU per frame (as the RESULT lines count it), the idle share of CPU 1's samples, the
# shares of its busy samples in user space (lvsd's code and libc) and in the kernel, and the ten
# symbols with the most busy samples (their shares of the busy samples)
profile_cpu1() {
  local rate=$1 line t f0 f1 top user
  udp_run 10000 1 > /dev/null
  line=$(udp_under_perf "$WORK/perf1.data" "$rate" -C 1)
  read -r _ f0 t f1 _ <<< "$line"
  # shares of the busy samples (the idle loop's left out): perf's `[.]` is user space, `[k]`
  # the kernel
  perf report -i "$WORK/perf1.data" --no-children --sort sym --stdio 2> /dev/null \
    | awk '/^ +[0-9.]+%/ { sub(/%/, "", $1); print }' > "$WORK/perf1.txt"
  user=$(awk '$3 ~ /(safe_halt|_idle|cpuidle)/ { i += $1; next } { if ($2 == "[.]") u += $1; else k += $1 }
      END { b = u + k; printf "idle_pct=%.1f busy_user_pct=%.1f busy_kernel_pct=%.1f", i, (b ? 100 * u / b : 0), (b ? 100 * k / b : 0) }' "$WORK/perf1.txt")
  top=$(awk '$3 ~ /(safe_halt|_idle|cpuidle)/ { next } { l[++n] = $0; t += $1 }
      END { for (j = 1; j <= n && j <= 10; j++) { split(l[j], f, " "); printf "%s%.1f%% %s %s", (j > 1 ? ", " : ""), 100 * f[1] / t, f[2], f[3] } }' "$WORK/perf1.txt")
  awk -v s="$CUR_SYS" -v w="$CUR_W" -v r="$rate" -v d="$f0" -v t="$t" -v ns="$f1" -v hz="$HZ" -v u="$user" -v top="$top" \
    'BEGIN { n = d * ns / 1e9; printf "PROFILE_CPU1 system=%s workers=%s offered=%s delivered_pps=%.0f cpu_us_per_frame=%.3f %s top=[%s]\n", s, w, r, d, (t / hz) * 1e6 / n, u, top }'
}

measure() { # system workers
  CUR_SYS=$1 CUR_W=$2
  if [ -n "${DP_PROFILE:-}" ] && [ "$NAPI" = threaded ]; then
    profile_cpu1 "$DP_PROFILE"
  else
    case $CUR_SYS in lvsd|lvsdxdp) [ -z "${DP_PROFILE:-}" ] || profile_lvsd "$DP_PROFILE" ;; esac
  fi
  measure_udp udp64_pps udp64_overload_pps "" 100000 200000 300000 450000 650000 900000 1300000 0

  say "$CUR_SYS: TCP bulk (iperf3, $SECS s)"
  local c0 c1 t0 t1 bps
  c0=$(cpu_ticks); t0=$(now_ns)
  nsx "$NS_C" $PRIO taskset -c 0 iperf3 -c $VIP -t "$SECS" -J > "$WORK/iperf3.json" || die "iperf3 failed"
  t1=$(now_ns); c1=$(cpu_ticks)
  bps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"])' "$WORK/iperf3.json")
  say "  $(awk -v b="$bps" 'BEGIN { printf "%.2f Gbit/s", b / 1e9 }')"
  result tcp_bulk_gbit "$(awk -v b="$bps" 'BEGIN { print b / 1e9 }')" gbit_s $((c1 - c0)) $((t1 - t0))
  sleep 1

  say "$CUR_SYS: new TCP connections (wrk, Connection: close, $SECS s)"
  c0=$(cpu_ticks); t0=$(now_ns)
  nsx "$NS_C" $PRIO taskset -c 0 wrk -t 1 -c 32 -d "${SECS}s" --latency -H 'Connection: close' \
    "http://$VIP/" > "$WORK/wrk.out" 2>&1 || true
  t1=$(now_ns); c1=$(cpu_ticks)
  local req
  req=$(awk '/requests in/ { print $1 }' "$WORK/wrk.out")
  [ -n "$req" ] || die "wrk: $(cat "$WORK/wrk.out")"
  grep -q "Non-2xx" "$WORK/wrk.out" && die "wrk saw errors: $(cat "$WORK/wrk.out")"
  say "  $(grep -E 'requests in|Socket errors' "$WORK/wrk.out" | tr -s ' ' | tr '\n' ' ')"
  # wrk's request latency (connect to response) at the 50th and 99th percentile, in us
  local lat
  lat=$(awk '$1 == "50%" || $1 == "99%" {
      v = $2; m = 1
      if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /s$/) m = 1000000
      sub(/[a-z]+$/, "", v); printf "%sp%s_us=%.0f", (n++ ? " " : ""), substr($1, 1, 2), v * m }' "$WORK/wrk.out")
  result tcp_cps "$(awk -v r="$req" -v ns=$((t1 - t0)) 'BEGIN { print r / (ns / 1e9) }')" conn_s \
    $((c1 - c0)) $((t1 - t0)) "$lat"
  sleep 1
}

kernel_on() {
  nsx "$NS_D" ip addr add 198.18.0.1/24 dev d0
  nsx "$NS_D" ip addr add 198.18.1.1/24 dev d1
  nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=1
  nsx "$NS_D" nft -f - <<EOF
table ip dpnat {
  chain pre { type nat hook prerouting priority dstnat; ip daddr $VIP dnat to $RS; }
  chain post { type nat hook postrouting priority srcnat; }
}
EOF
}
kernel_off() {
  nsx "$NS_D" nft delete table ip dpnat
  nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0
  nsx "$NS_D" ip addr flush dev d0
  nsx "$NS_D" ip addr flush dev d1
  nsx "$NS_D" conntrack -F 2>/dev/null || true
  # the neighbours learnt the kernel's MACs for .1; lvsd has the same MACs (same interfaces)
}

# a cpu cgroup holding its members to CAP of one CPU (10 ms CFS periods): cgroup v1's cpu
# controller, else cgroup v2's cpu.max; sets CGROUP to the directory to join (cgroup.procs)
cap_group() {
  local quota
  quota=$(awk -v c="$CAP" -v p="$CAP_PERIOD" 'BEGIN { printf "%d", c * p }')
  [ "$quota" -ge 1000 ] || die "DP_CAP=$CAP is too small for a $CAP_PERIOD us period"
  if [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    CGROUP=/sys/fs/cgroup/cpu/$P
    mkdir "$CGROUP"
    echo "$CAP_PERIOD" > "$CGROUP/cpu.cfs_period_us"
    echo "$quota" > "$CGROUP/cpu.cfs_quota_us"
  elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
    CGROUP=/sys/fs/cgroup/$P
    mkdir "$CGROUP"
    echo "$quota $CAP_PERIOD" > "$CGROUP/cpu.max"
  else
    die "no cpu cgroup controller to cap lvsd with"
  fi
}

# DP_KERNEL_DROP (1): while lvsd runs, an nftables netdev ingress rule on d0 and d1 drops every
# frame after the packet taps (where lvsd's sockets read), so that the director namespace's own IP
# stack, which has no address on these interfaces in lvsd's runs, does not also take each frame
# through ip_rcv and a route lookup to drop it as not its own (IpInAddrErrors), in the sender's
# system call. A director that owns its interfaces, as lvsd does here, would do the same.
kernel_drop_on() {
  [ "${DP_KERNEL_DROP:-1}" = 1 ] || return 0
  nsx "$NS_D" nft -f - <<EOF
table netdev lvsd_owns {
  chain d0 { type filter hook ingress device d0 priority 0; policy drop; }
  chain d1 { type filter hook ingress device d1 priority 0; policy drop; }
}
EOF
}
kernel_drop_off() { nsx "$NS_D" nft delete table netdev lvsd_owns 2> /dev/null || true; }
# the director namespace's own IP stack: frames it received and dropped as not its own, since
# the namespace was made (the kernel's forwarding adds none; with DP_KERNEL_DROP=1 lvsd's runs
# add next to none, with 0 about one per frame)
kernel_ip() {
  nsx "$NS_D" awk '$1 == "Ip:" { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1 } else for (i = 2; i <= NF; i++) v[k[i]] = $i }
    END { printf "kernel.InAddrErrors_so_far %s", v["InAddrErrors"] }' /proc/net/snmp
}

# packets the director namespace's kernel received by busy polling (lvsd --xdp-busy-poll)
kernel_busy_poll() {
  nsx "$NS_D" awk '$1 == "TcpExt:" { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1 } else for (i = 2; i <= NF; i++) v[k[i]] = $i }
    END { printf " kernel.BusyPollRxPackets_so_far %s", v["BusyPollRxPackets"] }' /proc/net/netstat
}

# lvsdxdp (lvsd --xdp): the peers c0 and s0 compute checksums in software while it runs (`tx
# off`; a veth with transmit checksum offload hands XDP frames whose checksum is only partial,
# unmarked), which also turns their TSO off (veth turns off its peers' TSO anyway while an XDP
# program runs); their sending costs run on CPU 0, not the director's. No kernel drop rule: the
# XDP program takes every frame before the stack.
xdp_peers() { # off|on
  nsx "$NS_C" ethtool -K c0 tx "$1" > /dev/null
  nsx "$NS_S" ethtool -K s0 tx "$1" > /dev/null
}
lvsd_on() { # workers [capped|xdp]
  local extra=() cpus=1 join=()
  if [ "${2:-}" = xdp ]; then
    command -v ethtool > /dev/null || die "lvsdxdp needs ethtool (apt install ethtool)"
    xdp_peers off
    extra=(--xdp)
  else
    kernel_drop_on
  fi
  # more workers: every CPU (the sender's too: efficiency per CPU second shows the scaling)
  [ "$1" -gt 1 ] && extra+=(--workers "$1") cpus=0-$((NCPU - 1))
  if [ "${2:-}" = capped ]; then
    # on CPU 1 whatever the workers: CPU 0 is the sender's
    cap_group
    cpus=1
    join=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CGROUP")
  fi
  rm -f "$CTL"
  # the cgroup is joined before entering the namespace (`ip netns exec` mounts its own /sys)
  "${join[@]}" ip netns exec "$NS_D" $PRIO taskset -c "$cpus" "$LVSD" --rules "$WORK/rules" --iface d0 --iface d1 \
    --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 --control "$CTL" --conns 1048576 --steer flow \
    "${extra[@]}" ${DP_LVSD_ARGS:-} > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
  for _ in $(seq 1 100); do [ -S "$CTL" ] && break; sleep 0.1; done
  [ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
  LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err" | head -1)
  [ -n "$LVSD_PID" ] || die "no lvsd pid: $(cat "$WORK/lvsd.err")"
  if [ "${2:-}" = xdp ]; then
    local t
    for t in $DIR_NAPI; do [ -d "/proc/$t" ] || die "NAPI thread $t went away when XDP was attached"; done
    say "lvsd --xdp: $(nsx "$NS_D" ip -d link show d0 | grep -o 'prog/xdp id [0-9]*' || echo 'no program on d0!'); c0 $(nsx "$NS_C" ethtool -k c0 | grep -E '^(tx-checksumming|tcp-segmentation-offload):' | tr -s ' ' | tr '\n' ' ')$(grep -h 'busy poll' "$WORK/lvsd.err" | tr '\n' ' ')"
  fi
}
lvsd_off() {
  kill "$LVSD_PID" 2>/dev/null || true
  wait "$LVSD_PID" 2>/dev/null || true
  LVSD_PID=
  if [ -n "$CGROUP" ]; then sleep 0.2; rmdir "$CGROUP"; CGROUP=; fi
  kernel_drop_off
  if [ "${1:-}" = xdp ]; then xdp_peers on; fi
}

for ((rep = 1; rep <= REPEAT; rep++)); do
  if [ "$REPEAT" -gt 1 ]; then say "repeat $rep of $REPEAT"; echo "DATAPLANE RUN $rep"; fi
  for s in $SYSTEMS; do
    sys=${s%%:*} w=${s#*:}
    case $sys in
      nftables) kernel_on; measure nftables 1; kernel_off ;;
      lvsd) lvsd_on "$w"; measure lvsd "$w"; say "lvsd counters: $("$LVSD" ctl "$CTL" status | grep -E '^(worker[0-9]+\.)?(drop|rx|tx)' | tr -s ' ' | tr '\n' ' ')$(kernel_ip)"; lvsd_off ;;
      lvsdxdp)
        lvsd_on "$w" xdp; measure lvsdxdp "$w"
        say "lvsd --xdp counters: $("$LVSD" ctl "$CTL" status | grep -E '^(drop|rx|tx|xdp)' | tr -s ' ' | tr '\n' ' ')$(kernel_ip)$(kernel_busy_poll)"
        lvsd_off xdp ;;
      lvsdcap)
        lvsd_on "$w" capped
        CUR_SYS=lvsd CUR_W=$w
        say "lvsd ($w worker(s)) held to $CAP CPU: $(grep -E ':cpu[,:]' "/proc/$LVSD_PID/cgroup" | head -1)"
        measure_udp udp64_capped_pps udp64_capped_overload_pps "cap=$CAP" \
          20000 40000 60000 90000 130000 180000 250000 350000
        say "cgroup: $(tr '\n' ' ' < "$CGROUP/cpu.stat")"
        say "lvsd counters: $("$LVSD" ctl "$CTL" status | grep -E '^(worker[0-9]+\.)?(drop|rx|tx)' | tr -s ' ' | tr '\n' ' ')$(kernel_ip)"
        lvsd_off ;;
      *) die "unknown system $sys" ;;
    esac
  done
done
say "done in $((SECONDS - START)) s"
echo "DATAPLANE DONE"
