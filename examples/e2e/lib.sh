# Shared by the e2e scripts (sourced after START and LIMIT are set): progress lines with the
# elapsed seconds, a bounded run, a command inside a namespace, and tearing namespaces down.

# A progress line, `[ 12s] text`, on stdout (SAY_FD=2: on stderr, for scripts whose stdout is data).
say() { printf '[%3ds] %s\n' "$((SECONDS - START))" "$*" >&"${SAY_FD:-1}"; }
# Fails the test with a reason.
die() { say "FAIL: $*"; exit 1; }
# Fails once the script's time budget (LIMIT seconds) is spent: every loop calls it.
in_time() { [ $((SECONDS - START)) -lt "$LIMIT" ] || die "time limit of ${LIMIT}s reached"; }
# Runs a command in a namespace.
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# Deletes the namespaces that exist among the arguments, their processes first (TERM, then KILL).
ns_purge() {
  local ns pid
  for ns in "$@"; do
    ip netns list | grep -qw "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    sleep 0.1
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  return 0
}
