#!/usr/bin/env bash
# End-to-end test of lvsd's management plane (`--http`): a known workload through a NAT service,
# then /metrics, the JSON API and the stats listing saved for the Rust test to compare with an
# independent parser; every operation of the OpenAPI description answered; the API's refusals
# (no token, viewer token, forged token, oversized body, bad command, path traversal, wrong
# method, wrong password, form-style posts, a logged-out session) each checked to change
# nothing; login throttled per source address; no password, hash or token in the log or the
# JSON; a drain through the API shown by the director's own listing; a Server-Sent Event
# after a change; HTTPS with --http-cert/--http-key (plain HTTP to that port refused); registry
# clusters labelled for this director (--registry-director) added, changed and removed in the
# director's listing.
#
#   mgmt.sh /path/to/lvsd OUTDIR      (as root; about 10 s)
#
# Topology (198.18.0.0/15 only): client ns c0 198.18.0.2 -- d0 director ns d1 -- br0 -- rs1, rs2
# (198.18.1.11, .12, python http.server on :8080, default route via lvsd's 198.18.1.1).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SAY_FD=1

LVSD=${1:?usage: mgmt.sh /path/to/lvsd OUTDIR}
OUT=${2:?usage: mgmt.sh /path/to/lvsd OUTDIR}
P=lvsmg$$
NS_C=$P-c NS_D=$P-d NS_S=$P-s NS_R1=$P-r1 NS_R2=$P-r2
WORK=$(mktemp -d /tmp/lvs-mgmt.XXXXXX)
CTL=$WORK/ctl.sock
START=$SECONDS
LIMIT=60
LVSD_PID=
N=24
API=http://127.0.0.1:9180
VIEWER=viewer-0123456789abcdef
OPERATOR=operator-fedcba9876543210

cleanup() {
  local rc=$?
  set +e
  [ -n "$LVSD_PID" ] && kill "$LVSD_PID" 2>/dev/null
  ns_purge "$NS_C" "$NS_D" "$NS_S" "$NS_R1" "$NS_R2"
  [ "$rc" != 0 ] && { echo "---- lvsd stderr ----"; tail -30 "$WORK/lvsd.err" 2>/dev/null; }
  [ -n "${KEEP_WORK:-}" ] && cp -r "$WORK" "$KEEP_WORK"
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

ctl() { "$LVSD" ctl "$CTL" "$@"; }
# http CODE-FILE curl-args...: the status code of one request from the director namespace
# (with CURL_TLS set, over https checked against that CA)
CURL_TLS=()
HTTP_TLS_ARGS=()
http() { nsx "$NS_D" curl -s "${CURL_TLS[@]}" -o "$WORK/body" -w '%{http_code}' --max-time 5 "$@" || echo 000; }

mkdir -p "$OUT"
say "topology: client, director, switch, two real servers"
for ns in "$NS_C" "$NS_D" "$NS_S" "$NS_R1" "$NS_R2"; do
  ip netns add "$ns"
  nsx "$ns" ip link set lo up
done
nsx "$NS_S" ip link add br0 type bridge
nsx "$NS_S" ip link set br0 up
ip link add c0 netns "$NS_C" type veth peer name d0 netns "$NS_D"
ip link add d1 netns "$NS_D" type veth peer name sd netns "$NS_S"
nsx "$NS_S" ip link set sd master br0 up
for i in 1 2; do
  ns=$P-r$i
  ip link add eth0 netns "$ns" type veth peer name "s$i" netns "$NS_S"
  nsx "$NS_S" ip link set "s$i" master br0 up
  nsx "$ns" ip addr add "198.18.1.1$i/24" dev eth0
  nsx "$ns" ip link set eth0 up
  nsx "$ns" ip route add default via 198.18.1.1
  mkdir -p "$WORK/rs$i"
  echo "rs$i" > "$WORK/rs$i/name"
  nsx "$ns" python3 -m http.server 8080 --bind 198.18.1.1$i --directory "$WORK/rs$i" \
    >/dev/null 2>&1 &
done
nsx "$NS_D" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.disable_ipv6=1
nsx "$NS_D" ip link set d0 up
nsx "$NS_D" ip link set d1 up
nsx "$NS_C" ip addr add 198.18.0.2/24 dev c0
nsx "$NS_C" ip link set c0 up
nsx "$NS_C" ip route add default via 198.18.0.1
for i in 1 2; do
  for _ in $(seq 1 50); do
    nsx "$P-r$i" curl -sf -o /dev/null --max-time 1 "http://198.18.1.1$i:8080/name" && break
    sleep 0.1
  done
done

cat > "$WORK/rules" <<EOF
-A -t 198.18.0.10:80 -s rr
-a -t 198.18.0.10:80 -r 198.18.1.11:8080 -m -w 1
-a -t 198.18.0.10:80 -r 198.18.1.12:8080 -m -w 1
EOF
ADMIN=admin-00112233445566778899
printf 'viewer %s\noperator %s ops\nadmin %s\n' "$VIEWER" "$OPERATOR" "$ADMIN" > "$WORK/tokens"
# users in the registry, passwords argon2id-hashed by `lvsd user` (read from stdin)
PW_ANN="ann-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PW_VIC="vic-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$PW_ANN" | "$LVSD" user "$WORK/registry.db" ann operator || die "lvsd user ann"
printf '%s\n' "$PW_VIC" | "$LVSD" user "$WORK/registry.db" vic viewer || die "lvsd user vic"
printf '%s\n' "$PW_VIC" | "$LVSD" user "$WORK/registry.db" vic viewer 2>/dev/null \
  && die "a second user vic was accepted"
# lena's password lives in an LDAP directory: our own slapd (own config, database, CA and
# certificate) on the director namespace's loopback; binds need TLS (simple_bind=128)
LDAP_ARGS=()
PW_LENA="lena-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
LDAP_DN="uid=lena,ou=people,dc=lvs,dc=test"
if command -v slapd >/dev/null && command -v slapadd >/dev/null && command -v ldapwhoami >/dev/null; then
  L=$WORK/ldap
  mkdir -p "$L/db"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=lvs-test-ca -keyout "$L/ca.key" -out "$L/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$L/srv.key" -out "$L/srv.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$L/ext"
  openssl x509 -req -in "$L/srv.csr" -CA "$L/ca.pem" -CAkey "$L/ca.key" -CAcreateserial -days 1 \
    -extfile "$L/ext" -out "$L/srv.pem" 2>/dev/null
  cat > "$L/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile $L/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCACertificateFile $L/ca.pem
TLSCertificateFile $L/srv.pem
TLSCertificateKeyFile $L/srv.key
security simple_bind=128
database mdb
suffix "dc=lvs,dc=test"
rootdn "cn=admin,dc=lvs,dc=test"
directory $L/db
CONF
  cat > "$L/base.ldif" <<LDIF
dn: dc=lvs,dc=test
objectClass: dcObject
objectClass: organization
o: lvs
dc: lvs

dn: ou=people,dc=lvs,dc=test
objectClass: organizationalUnit
ou: people

dn: $LDAP_DN
objectClass: inetOrgPerson
uid: lena
cn: Lena
sn: Lena
userPassword: $(slappasswd -h '{SSHA}' -s "$PW_LENA")
LDIF
  slapadd -q -f "$L/slapd.conf" -l "$L/base.ldif" || die "slapadd"
  LDAP_ARGS=(--ldap ldap://127.0.0.1:6389 --ldap-user-dn 'uid={user},ou=people,dc=lvs,dc=test'
             --ldap-ca "$L/ca.pem")
  "$LVSD" user "$WORK/registry.db" lena operator --ldap || die "lvsd user lena"
elif [ "${CI:-}" = true ]; then
  die "slapd, slapadd and ldapwhoami (apt slapd, ldap-utils) are needed under CI"
fi
# net-snmp's snmpd as the AgentX master, with its own config (-C: no system files) and
# persistent directory, on the director namespace's loopback; lvsd is its sub-agent
SNMP_ARGS=()
if command -v snmpd >/dev/null && command -v snmpwalk >/dev/null; then
  SN=$WORK/snmp
  mkdir -p "$SN/persist"
  cat > "$SN/snmpd.conf" <<CONF
master agentx
agentXSocket unix:$SN/agentx.sock
agentXPerms 0600 0700
rocommunity lvstest 127.0.0.1 .1.3.6.1.4.1.8225.4711
CONF
  SNMP_ARGS=(--snmp-agentx "unix:$SN/agentx.sock")
elif [ "${CI:-}" = true ]; then
  die "snmpd and snmpwalk (apt snmpd, snmp) are needed under CI"
fi
start_lvsd() {
  nsx "$NS_D" "$LVSD" --rules "$WORK/rules" --iface d0 --iface d1 \
    --addr d0=198.18.0.1/24 --addr d1=198.18.1.1/24 --control "$CTL" \
    --http 127.0.0.1:9180 --http-tokens "$WORK/tokens" --registry "$WORK/registry.db" \
    "${LDAP_ARGS[@]}" "${SNMP_ARGS[@]}" "${HTTP_TLS_ARGS[@]}" > "$WORK/lvsd.out" 2> "$WORK/lvsd.err" &
  for _ in $(seq 1 50); do [ -S "$CTL" ] && break; sleep 0.1; done
  [ -S "$CTL" ] || die "lvsd did not start: $(cat "$WORK/lvsd.err")"
  LVSD_PID=$(sed -n 's/^lvsd: .* pid \([0-9]*\)$/\1/p' "$WORK/lvsd.err")
  for _ in $(seq 1 50); do [ "$(http "$API/metrics")" = 200 ] && break; sleep 0.1; done
}

if [ ${#SNMP_ARGS[@]} -gt 0 ]; then
  SNMP_PERSISTENT_DIR="$SN/persist" nsx "$NS_D" snmpd -f -C -c "$SN/snmpd.conf" -Lf "$SN/snmpd.log" \
    udp:127.0.0.1:16161 &
  for _ in $(seq 1 50); do [ -S "$SN/agentx.sock" ] && break; sleep 0.1; done
  [ -S "$SN/agentx.sock" ] || die "snmpd did not open its AgentX socket: $(cat "$SN/snmpd.log")"
fi
say "starting lvsd with --http and --registry"
start_lvsd

say "a known workload: $N requests through the VIP"
ok=0
for _ in $(seq 1 $N); do
  in_time
  name=$(nsx "$NS_C" curl -sf --max-time 5 http://198.18.0.10/name) && ok=$((ok + 1))
  case "$name" in rs1|rs2) ;; *) die "unexpected answer: $name" ;; esac
done
[ "$ok" = "$N" ] || die "$ok of $N requests served"
# every connection closed: let the last FIN/ACK exchange finish before reading counters
sleep 1

say "scrape /metrics, the JSON API and the stats listing"
[ "$(http "$API/metrics")" = 200 ] || die "/metrics: $(cat "$WORK/body")"
cp "$WORK/body" "$OUT/metrics.txt"
ctl -L -n --stats --exact > "$OUT/stats.txt" || die "ctl --stats failed"
[ "$(http -H "Authorization: Bearer $VIEWER" "$API/api/v1/status")" = 200 ] || die "status API"
cp "$WORK/body" "$OUT/status.json"
echo "$N" > "$OUT/requests"
[ "$(http "$API/")" = 200 ] && grep -q "<title>lvsd</title>" "$WORK/body" || die "status page"

if [ ${#SNMP_ARGS[@]} -gt 0 ]; then
  say "SNMP: snmpwalk through snmpd and lvsd's AgentX sub-agent, against the listing"
  walk() {
    nsx "$NS_D" snmpwalk -m '' -v2c -c lvstest -On -Oq -t 2 -r 1 udp:127.0.0.1:16161 \
      .1.3.6.1.4.1.8225.4711 > "$WORK/walk" 2> "$WORK/walk.err"
  }
  for _ in $(seq 1 50); do
    walk && grep -q '^\.1\.3\.6\.1\.4\.1\.8225\.4711\.18\.' "$WORK/walk" && break
    sleep 0.2
  done
  compared=
  for _ in 1 2 3; do
    ctl -L -n > "$WORK/list.before"; ctl -L -n --stats --exact > "$WORK/stats.before"
    walk || die "snmpwalk: $(cat "$WORK/walk.err")"
    ctl -L -n > "$WORK/list.after"; ctl -L -n --stats --exact > "$WORK/stats.after"
    # only a walk between two equal listings is compared (nothing moved meanwhile)
    if cmp -s "$WORK/list.before" "$WORK/list.after" && cmp -s "$WORK/stats.before" "$WORK/stats.after"; then
      compared=$(python3 "$(dirname "$0")/snmpcheck.py" "$WORK/walk" "$WORK/list.after" \
        "$WORK/stats.after") || die "snmpwalk differs from the listing: $compared"
      break
    fi
    sleep 1
  done
  [ -n "$compared" ] || die "the listing kept changing during the walk"
  set -- $compared
  echo "MGMT snmpwalk=ok $3 $4 $5"
else
  say "SKIPPED: SNMP (no snmpd/snmpwalk)"
fi

say "logins: argon2id users, sessions in a header, no secret anywhere"
login() { # login USER PASSWORD [curl-args...]: the status; the session token in $WORK/session
  local u=$1 p=$2; shift 2
  local code
  code=$(http -D "$WORK/login.headers" -X POST -H "Content-Type: application/json" "$@" \
    --data-binary "{\"user\":\"$u\",\"password\":\"$p\"}" "$API/api/v1/login")
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("token",""))' "$WORK/body" \
    > "$WORK/session" 2>/dev/null || : > "$WORK/session"
  echo "$code"
}
[ "$(login ann "$PW_ANN")" = 200 ] || die "ann's login: $(cat "$WORK/body")"
grep -qi '^set-cookie' "$WORK/login.headers" && die "the login set a cookie"
ANN=$(cat "$WORK/session")
[ "${#ANN}" = 64 ] || die "session token of ${#ANN} characters"
[ "$(http -H "Authorization: Bearer $ANN" "$API/api/v1/whoami")" = 200 ] \
  && python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != {"user":"ann","role":"operator"})' \
  "$WORK/body" || die "whoami: $(cat "$WORK/body")"
[ "$(login vic "$PW_VIC")" = 200 ] || die "vic's login"
VIC=$(cat "$WORK/session")
[ "$(http -H "Authorization: Bearer $ADMIN" "$API/api/v1/users")" = 200 ] || die "users list"
python3 -c 'import json,sys; u=[x for x in json.load(open(sys.argv[1])) if x["name"] != "lena"]; sys.exit(u != [{"name":"ann","role":"operator","source":"password"},{"name":"vic","role":"viewer","source":"password"}])' \
  "$WORK/body" || die "users: $(cat "$WORK/body")"
grep -q 'argon2\|"password":\|"secret"\|"hash"' "$WORK/body" && die "a hash in the users JSON"
[ "$(login ann "$PW_ANN")" = 200 ] || die "ann's second login"
OLD=$(cat "$WORK/session")
[ "$(http -X POST -H "Authorization: Bearer $OLD" "$API/api/v1/logout")" = 200 ] || die "logout"

say "login throttle: per source address, counted"
for i in 1 2 3 4 5; do
  [ "$(login ann "wrong-password-$i" --interface 127.0.0.2)" = 401 ] || die "wrong password $i: not 401"
done
[ "$(login ann "$PW_ANN" --interface 127.0.0.2)" = 429 ] || die "6th login from 127.0.0.2 not throttled"
grep -qi '^retry-after: [0-9]' "$WORK/login.headers" || die "429 without Retry-After"
[ "$(login ann "$PW_ANN")" = 200 ] || die "127.0.0.1 was throttled with 127.0.0.2"
[ "$(http "$API/metrics")" = 200 ] || die "/metrics"
throttled=$(sed -n 's/^lvsd_events_total{event="http_login_throttled"} \([0-9]*\)$/\1/p' "$WORK/body")
failed=$(sed -n 's/^lvsd_events_total{event="http_login_failed"} \([0-9]*\)$/\1/p' "$WORK/body")
[ "$throttled" = 1 ] && [ "$failed" = 5 ] || die "metrics: throttled=$throttled failed=$failed"
echo "MGMT login=ok sessions=argon2id throttled=$throttled failed=$failed per-address=ok"

if [ ${#LDAP_ARGS[@]} -gt 0 ]; then
  say "LDAP: lena's password checked by a simple bind to slapd over StartTLS"
  nsx "$NS_D" slapd -f "$L/slapd.conf" -h "ldap://127.0.0.1:6389/ ldaps://127.0.0.1:6636/" \
    || die "slapd did not start"
  for _ in $(seq 1 50); do
    LDAPTLS_CACERT="$L/ca.pem" nsx "$NS_D" ldapwhoami -x -ZZ -H ldap://127.0.0.1:6389 \
      -D "$LDAP_DN" -w "$PW_LENA" >/dev/null 2>&1 && break
    sleep 0.1
  done
  # the control: the same bind without TLS is refused by this slapd
  plain=$(nsx "$NS_D" ldapwhoami -x -H ldap://127.0.0.1:6389 -D "$LDAP_DN" -w "$PW_LENA" 2>&1 || true)
  case "$plain" in *"onfidentiality required"*) ;; *) die "slapd took a plain bind: $plain" ;; esac
  good=$(login lena "$PW_LENA")
  [ "$good" = 200 ] || die "lena's LDAP login: $good $(cat "$WORK/body")"
  LENA=$(cat "$WORK/session")
  [ "$(http -H "Authorization: Bearer $LENA" "$API/api/v1/whoami")" = 200 ] \
    && python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != {"user":"lena","role":"operator"})' \
    "$WORK/body" || die "lena's whoami: $(cat "$WORK/body")"
  bad=$(login lena "not-$PW_LENA" --interface 127.0.0.3)
  [ "$bad" = 401 ] || die "a wrong LDAP password: $bad $(cat "$WORK/body")"
  empty=$(login lena "" --interface 127.0.0.3)
  [ "$empty" = 401 ] || die "an empty LDAP password (unauthenticated bind): $empty"
  # the same bind over ldaps (TLS from the first byte), as `lvsd ldap-check` does it
  ldaps() { printf '%s\n' "$1" | nsx "$NS_D" "$LVSD" ldap-check ldaps://127.0.0.1:6636 \
    'uid={user},ou=people,dc=lvs,dc=test' "$L/ca.pem" lena; }
  [ "$(ldaps "$PW_LENA")" = accepted ] || die "ldaps: the right password was not accepted"
  [ "$(ldaps "not-$PW_LENA" || true)" = refused ] || die "ldaps: a wrong password was not refused"
  echo "MGMT ldap-login=ok good=$good bad=$bad empty=$empty tls=starttls,ldaps plain-bind=refused"
else
  say "SKIPPED: LDAP login (no slapd/ldap-utils)"
fi

say "every operation of the OpenAPI description is answered"
nsx "$NS_D" python3 "$(dirname "$0")/mgmt_api.py" openapi "$API" "$ADMIN" > "$WORK/openapi.out"
read -r _ ops unanswered < "$WORK/openapi.out"
echo "MGMT openapi-${ops} ${unanswered}"
[ "$unanswered" = unanswered=0 ] || die "operations the server does not answer: $(cat "$WORK/openapi.out")"

say "refusals change nothing"
reg() {
  http -H "Authorization: Bearer $ADMIN" "$API/api/v1/registry" >/dev/null; cat "$WORK/body"
  http -H "Authorization: Bearer $ADMIN" "$API/api/v1/users" >/dev/null; cat "$WORK/body"
}
ctl -S -n > "$WORK/save.before"
reg > "$WORK/reg.before"
refused=0
expect() { # expect CODE WHAT curl-args...
  local want=$1 what=$2; shift 2
  local got
  got=$(http "$@")
  [ "$got" = "$want" ] || die "$what: HTTP $got, expected $want ($(cat "$WORK/body"))"
  refused=$((refused + 1))
}
DRAIN="-e -t 198.18.0.10:80 -r 198.18.1.11:8080 -m -w 0"
expect 401 "write without a token" -X POST --data-binary "$DRAIN" "$API/api/v1/command"
expect 403 "write with a viewer token" -X POST -H "Authorization: Bearer $VIEWER" \
  --data-binary "$DRAIN" "$API/api/v1/command"
expect 401 "write with a forged token" -X POST -H "Authorization: Bearer operator-fedcba987654321X" \
  --data-binary "$DRAIN" "$API/api/v1/command"
expect 401 "read with a forged token" -H "Authorization: Bearer nope-nope-nope-nope" "$API/api/v1/status"
head -c 20000 /dev/zero | tr '\0' 'a' > "$WORK/big"
expect 413 "oversized body" -X POST -H "Authorization: Bearer $OPERATOR" \
  --data-binary @"$WORK/big" "$API/api/v1/command"
expect 400 "SQL-looking address" -X POST -H "Authorization: Bearer $OPERATOR" \
  --data-binary "-a -t 198.18.0.10:80 -r 1';DROP TABLE hosts;--:80 -m" "$API/api/v1/command"
expect 400 "two commands in one body" -X POST -H "Authorization: Bearer $OPERATOR" \
  --data-binary $'-Z\n-C' "$API/api/v1/command"
expect 404 "path traversal" --path-as-is "$API/../../etc/passwd"
expect 405 "wrong method" -X PUT -H "Authorization: Bearer $OPERATOR" \
  --data-binary "$DRAIN" "$API/api/v1/command"
H='{"name":"rs9","role":"real-server","addresses":["198.18.1.19"]}'
OP=(-H "Authorization: Bearer $OPERATOR" -H "Content-Type: application/json")
expect 401 "registry write without a token" -X POST --data-binary "$H" "$API/api/v1/hosts"
expect 403 "registry write with a viewer token" -X POST -H "Authorization: Bearer $VIEWER" \
  --data-binary "$H" "$API/api/v1/hosts"
expect 400 "SQL-looking host name" -X POST "${OP[@]}" \
  --data-binary '{"name":"x\u0027;DROP TABLE hosts;--","role":"other"}' "$API/api/v1/hosts"
expect 400 "path traversal in a host name" -X POST "${OP[@]}" \
  --data-binary '{"name":"../../etc/passwd","role":"other"}' "$API/api/v1/hosts"
expect 400 "unknown JSON field" -X POST "${OP[@]}" \
  --data-binary '{"name":"rs9","role":"other","is_admin":true}' "$API/api/v1/hosts"
expect 413 "oversized JSON" -X POST "${OP[@]}" --data-binary @"$WORK/big" "$API/api/v1/hosts"
expect 403 "the audit log with an operator token" -H "Authorization: Bearer $OPERATOR" \
  "$API/api/v1/audit"
expect 404 "deleting a host that is not there" -X DELETE "${OP[@]}" "$API/api/v1/hosts/nosuch"
expect 401 "a wrong password" -X POST -H "Content-Type: application/json" \
  --data-binary '{"user":"vic","password":"not-vics-password"}' "$API/api/v1/login"
expect 401 "an unknown user" -X POST -H "Content-Type: application/json" \
  --data-binary '{"user":"root","password":"not-a-password"}' "$API/api/v1/login"
expect 401 "a SQL-looking user" -X POST -H "Content-Type: application/json" \
  --data-binary '{"user":"x\u0027 OR 1=1;--","password":"x"}' "$API/api/v1/login"
expect 415 "a form-style login (cross-site form)" -X POST \
  -H "Content-Type: application/x-www-form-urlencoded" --data-binary "user=ann&password=$PW_ANN" \
  "$API/api/v1/login"
expect 415 "a form-style registry write" -X POST -H "Authorization: Bearer $OPERATOR" \
  -H "Content-Type: text/plain" --data-binary "$H" "$API/api/v1/hosts"
expect 401 "a write with a cookie but no header" -X POST -H "Cookie: lvsd-token=$ANN" \
  --data-binary "$DRAIN" "$API/api/v1/command"
expect 403 "a write with a viewer session" -X POST -H "Authorization: Bearer $VIC" \
  --data-binary "$DRAIN" "$API/api/v1/command"
expect 401 "a write with a logged-out session" -X POST -H "Authorization: Bearer $OLD" \
  --data-binary "$DRAIN" "$API/api/v1/command"
expect 403 "the users list with an operator session" -H "Authorization: Bearer $ANN" \
  "$API/api/v1/users"
expect 403 "adding an admin with an operator session" -X POST -H "Authorization: Bearer $ANN" \
  -H "Content-Type: application/json" \
  --data-binary '{"name":"mallory","role":"admin","password":"0123456789"}' "$API/api/v1/users"
expect 400 "a user with an unknown field" -X POST -H "Authorization: Bearer $ADMIN" \
  -H "Content-Type: application/json" \
  --data-binary '{"name":"mallory","role":"admin","password":"0123456789","uid":0}' "$API/api/v1/users"
expect 400 "a user with a short password" -X POST -H "Authorization: Bearer $ADMIN" \
  -H "Content-Type: application/json" \
  --data-binary '{"name":"mallory","role":"admin","password":"short"}' "$API/api/v1/users"
expect 401 "users without a credential" "$API/api/v1/users"
ctl -S -n > "$WORK/save.after"
changed=0
cmp -s "$WORK/save.before" "$WORK/save.after" || changed=1
reg > "$WORK/reg.after"
cmp -s "$WORK/reg.before" "$WORK/reg.after" || changed=1
grep -q "DROP\|etc/passwd\|$OPERATOR\|$VIEWER\|$PW_ANN\|$PW_VIC\|$PW_LENA\|$ANN\|$VIC\|argon2" "$WORK/lvsd.err" \
  && die "a secret or hostile input reached the log"
echo "MGMT authz-refused=$refused changed=$changed"
[ "$changed" = 0 ] || die "a refused request changed the rules"

say "the registry: a host whose description is markup, audited"
[ "$(http -X POST "${OP[@]}" --data-binary \
  '{"name":"xss","role":"other","description":"<script>window.__xss=1</script><img src=x onerror=\"window.__xss=1\">"}' \
  "$API/api/v1/hosts")" = 201 ] || die "host create: $(cat "$WORK/body")"
[ "$(http -H "Authorization: Bearer $ADMIN" "$API/api/v1/audit")" = 200 ] || die "audit"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))[0]; sys.exit(not (a["who"], a["action"], a["object"]) == ("ops", "create", "host/xss"))' \
  "$WORK/body" || die "audit: $(cat "$WORK/body")"

say "headless Chromium: login, live counts by events, drain button, screenshots"
if command -v chromedriver >/dev/null && command -v chromium >/dev/null; then
  nsx "$NS_D" chromedriver --port=9515 > "$WORK/chromedriver.log" 2>&1 &
  for _ in $(seq 1 50); do
    nsx "$NS_D" curl -sf -o /dev/null --max-time 1 http://127.0.0.1:9515/status && break
    sleep 0.1
  done
  nsx "$NS_D" timeout 60 python3 "$(dirname "$0")/browser.py" http://127.0.0.1:9515 "$API/" \
    "$NS_C" http://198.18.0.10/name 198.18.1.12:8080 "ann:$PW_ANN" "$OUT" | tee "$WORK/browser.out"
  shots=$(sed -n 's/^BROWSER ok screenshots=\([0-9]*\)$/\1/p' "$WORK/browser.out")
  [ -n "$shots" ] || die "the browser run failed"
  ctl -L -n | grep -Eq '198\.18\.1\.12:8080 +Masq +0 ' || die "page drain not applied: $(ctl -L -n)"
  echo "MGMT browser=ok drained=ok screenshots=$shots"
elif [ "${CI:-}" = true ]; then
  die "chromium and chromedriver are needed under CI"
else
  say "SKIPPED: browser test (no chromium/chromedriver)"
fi

say "an operator drains a real server through the API"
[ "$(http -X POST -H "Authorization: Bearer $OPERATOR" --data-binary "$DRAIN" "$API/api/v1/command")" = 200 ] \
  || die "drain refused: $(cat "$WORK/body")"
ctl -L -n | grep -Eq '198\.18\.1\.11:8080 +Masq +0 ' || die "weight not 0: $(ctl -L -n)"
echo "MGMT api-drain=ok"

say "live updates: a Server-Sent Event after a change"
RESTORE="-e -t 198.18.0.10:80 -r 198.18.1.11:8080 -m -w 1"
nsx "$NS_D" timeout 20 python3 "$(dirname "$0")/mgmt_api.py" sse "$API" "$VIEWER" "$OPERATOR" \
  "$RESTORE" 198.18.1.11:8080 1 > "$WORK/sse.out" || die "events: $(cat "$WORK/sse.out")"
read -r _ _ change_ms status_ms < "$WORK/sse.out"
ctl -L -n | grep -Eq '198\.18\.1\.11:8080 +Masq +1 ' || die "weight not restored: $(ctl -L -n)"
echo "MGMT sse=ok ${change_ms/_ms/-event-ms} ${status_ms/_ms/-event-ms}"

say "crash safety: kill -9 during a burst of registry writes"
cat > "$WORK/writer.py" <<'PY'
import json, sys, urllib.request
api, token, acked = sys.argv[1:4]
with open(acked, "w") as out:
    for i in range(2000):
        body = json.dumps({"name": f"h{i:04}", "role": "real-server",
                           "addresses": [f"198.19.{i // 250}.{i % 250 + 1}"], "cpu": "x86_64",
                           "memory_mb": 1024 + i, "description": "written under fire"}).encode()
        req = urllib.request.Request(api + "/api/v1/hosts", data=body, method="POST",
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status == 201:
                    out.write(f"h{i:04}\n"); out.flush()
        except Exception:
            break
PY
nsx "$NS_D" python3 "$WORK/writer.py" "$API" "$OPERATOR" "$WORK/acked" &
WRITER=$!
for _ in $(seq 1 100); do [ "$( { wc -l < "$WORK/acked"; } 2>/dev/null || echo 0)" -ge 40 ] && break; sleep 0.05; done
kill -9 "$LVSD_PID"
wait "$WRITER" 2>/dev/null || true
rm -f "$CTL"
acked=$(wc -l < "$WORK/acked")
[ "$acked" -ge 1 ] || die "no write was acknowledged before the kill"
start_lvsd
[ "$(http -H "Authorization: Bearer $VIEWER" "$API/api/v1/hosts")" = 200 ] || die "hosts after restart"
python3 - "$WORK/body" "$WORK/acked" "$WORK/registry.db" > "$WORK/crash.out" <<'PY'
import json, sqlite3, sys
hosts = {h["name"]: h for h in json.load(open(sys.argv[1]))}
acked = [l.strip() for l in open(sys.argv[2]) if l.strip()]
lost = [n for n in acked if n not in hosts]
# every stored record is whole: all fields, the values the writer sent
half = [n for n, h in hosts.items() if n.startswith("h") and n != "h" and
        (h["description"] != "written under fire" or h["memory_mb"] != 1024 + int(n[1:]))]
db = sqlite3.connect(sys.argv[3])
ok = db.execute("pragma integrity_check").fetchone()[0]
print(len(acked), len(lost), len(half), ok)
PY
read -r n lost half integrity < "$WORK/crash.out"
echo "MGMT crash-writes-acked=$n lost=$lost"
[ "$lost" = 0 ] && [ "$half" = 0 ] && [ "$integrity" = ok ] \
  || die "after kill -9: lost=$lost half-written=$half integrity=$integrity"

say "TLS on the management port: --http-cert/--http-key, curl --cacert"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=lvsd \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/http-key.pem" -out "$WORK/http-cert.pem" \
  2> /dev/null || die "openssl could not make a certificate"
kill "$LVSD_PID"
for _ in $(seq 1 50); do kill -0 "$LVSD_PID" 2>/dev/null || break; sleep 0.1; done
rm -f "$CTL"
HTTP_TLS_ARGS=(--http-cert "$WORK/http-cert.pem" --http-key "$WORK/http-key.pem"
  --registry-director d1)
CURL_TLS=(--cacert "$WORK/http-cert.pem")
API=https://127.0.0.1:9180
start_lvsd
grep -q "on https://127.0.0.1:9180/" "$WORK/lvsd.err" || die "lvsd did not announce https"
[ "$(http -H "Authorization: Bearer $VIEWER" "$API/api/v1/status")" = 200 ] \
  && grep -q '"services"' "$WORK/body" || die "status over https: $(cat "$WORK/body")"
code=$(http -H "Authorization: Bearer nope-nope-nope-nope" "$API/api/v1/status")
[ "$code" = 401 ] || { nsx "$NS_D" curl -sv "${CURL_TLS[@]}" --max-time 5 -H "Authorization: Bearer nope-nope-nope-nope" "$API/api/v1/status" 2>&1 | tail -20; die "https with a forged token answered $code"; }
CURL_TLS=()
code=$(http "http://127.0.0.1:9180/api/v1/status")
[ "${code:0:3}" = 000 ] || die "plain http to the TLS port answered $code"
echo "MGMT https=ok plain-http-to-tls=refused"

say "registry clusters labelled director=d1 reconciled into the running director"
CURL_TLS=(--cacert "$WORK/http-cert.pem")
cluster() { # cluster METHOD PATH REAL-SERVERS-JSON: the status of one cluster write
  http -X "$1" -H "Authorization: Bearer $OPERATOR" -H "Content-Type: application/json" \
    --data-binary "{\"name\":\"web2\",\"vip\":\"198.18.0.20:80\",\"scheduler\":\"rr\",
      \"real_servers\":$3,\"labels\":{\"director\":\"d1\"}}" "$API$2"
}
listed() { ctl -L -n | grep -Eq "$1"; }
[ "$(cluster POST /api/v1/clusters '["198.18.1.11:8080"]')" = 201 ] || die "cluster: $(cat "$WORK/body")"
listed 'TCP +198\.18\.0\.20:80 rr' && listed '198\.18\.1\.11:8080 +Masq +1 ' \
  || die "the registry's cluster is not in the listing: $(ctl -L -n)"
[ "$(cluster PUT /api/v1/clusters/web2 '["198.18.1.11:8080","198.18.1.12:8080"]')" = 200 ] \
  || die "cluster add: $(cat "$WORK/body")"
[ "$(ctl -L -n | grep -cE '198\.18\.1\.12:8080 +Masq')" = 2 ] \
  || die "the added real server is not listed: $(ctl -L -n)"
[ "$(cluster PUT /api/v1/clusters/web2 '["198.18.1.11:8080"]')" = 200 ] || die "cluster rm: $(cat "$WORK/body")"
[ "$(ctl -L -n | grep -cE '198\.18\.1\.12:8080 +Masq')" = 1 ] \
  || die "the removed real server is still listed: $(ctl -L -n)"
code=$(http -X DELETE -H "Authorization: Bearer $OPERATOR" "$API/api/v1/clusters/web2")
[ "$code" = 200 ] || die "cluster delete: $code $(cat "$WORK/body")"
listed '198\.18\.0\.20:80' && die "the deleted cluster is still listed: $(ctl -L -n)"
listed 'TCP +198\.18\.0\.10:80' || die "the rules file's service went: $(ctl -L -n)"
echo "MGMT registry-reconcile=ok added=listed removed=gone deleted=gone"
say "done"
