//! End-to-end test of lvsd's content-aware distribution (`--l7-rules`): build lvsd, run
//! `examples/e2e/l7.sh` (network namespaces named `l7-*`, nginx real servers in five pools
//! behind lvsd's TCP splicer, curl, wrk and python clients; routing by Host, path and
//! extension, keep-alive, pipelining, 100 MB byte-exact transfers both ways, resets from
//! either side, the hybrid policy's cache affinity, and transfers under 1 % loss and
//! reordering) under a hard timeout, print its output and its `L7 routed=.. misrouted=0
//! sha256-ok=yes loss-ok=yes cache-affinity=..` line, and fail if it fails.
//!
//! The second test runs the same with `--workers 2` (a splicer in each worker's shard,
//! examples/lvsd/workers.rs): the same checks, counters summed over the workers, and both
//! workers must have spliced connections (`L7_WORKERS workers=2 spliced0=N spliced1=N`). The two
//! tests take turns (a lock), not to share the two vCPUs' time.
//!
//! Needs root, `ip netns`, nginx, wrk, curl and python3: without them it prints `SKIPPED:` and
//! passes, except under CI (`CI=true` or `CI=1`), where it fails. Run the suite under
//! `flock /tmp/lvs-netns.lock` (this test does not take the lock itself).

mod common;

use common::{prepare, run_script, skipped, summary_numbers};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// One script at a time.
static TURN: Mutex<()> = Mutex::new(());

/// l7.sh takes about 100 s and limits itself to 170 s.
const L7_TIMEOUT: Duration = Duration::from_secs(220);

/// What l7.sh runs besides lvsd.
const TOOLS: &[&str] = &[
    "ip",
    "curl",
    "python3",
    "sha256sum",
    "wrk",
    "nstat",
    "ss",
    "/usr/sbin/nginx",
];

#[test]
fn lvsd_splices_content_aware_in_network_namespaces() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = prepare("content-aware (l7)", TOOLS, &["lvsd"]) {
        run_script("l7.sh", &[&bin.join("lvsd")], L7_TIMEOUT, "L7 PASSED");
    }
}

#[test]
fn two_workers_each_splice_their_own_clients() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = prepare("content-aware (l7, 2 workers)", TOOLS, &["lvsd"]) else {
        return;
    };
    let args = [&bin.join("lvsd"), Path::new("e2e"), Path::new("2")];
    let out = run_script("l7.sh", &args, L7_TIMEOUT, "L7 PASSED");
    if skipped(&out) {
        return;
    }
    let (line, fields) = summary_numbers(&out, "L7_WORKERS", "workers");
    assert_eq!(fields.first(), Some(&("workers", 2)), "{line}");
    for k in ["spliced0", "spliced1"] {
        let n = fields.iter().find(|(n, _)| *n == k).map_or(0, |(_, v)| *v);
        assert!(n > 0, "{line}");
    }
    let l7 = out
        .lines()
        .find(|l| l.starts_with("L7 routed="))
        .unwrap_or_default();
    assert!(
        l7.contains(" misrouted=0 ") && l7.contains("sha256-ok=yes"),
        "{l7}"
    );
}
