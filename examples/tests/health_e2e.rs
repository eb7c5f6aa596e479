//! End-to-end test of lvsd's health checks: build lvsd, run `examples/e2e/health.sh` (network
//! namespaces named `hc-*`, two real servers behind a NAT service, a curl load loop; an HTTP
//! process killed, then a link taken down, each detected and recovered within the configured
//! bounds, every failed request one in flight on the dead server before its detection, the
//! quorum hooks run) under a hard timeout, print its output and its `HEALTH detect_ms=..
//! failed=.. recovered_ms=..` line, and fail if it fails.
//!
//! Needs root, `ip netns`, curl and python3: without them it prints `SKIPPED:` and passes,
//! except under CI (`CI=true` or `CI=1`), where it fails. Run the suite under
//! `flock /tmp/lvs-netns.lock` (this test does not take the lock itself).

mod common;

use common::{prepare, run_script, summary_numbers, BASE_TOOLS};
use std::time::Duration;

/// health.sh takes about 25 s and limits itself to 150 s.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(200);

#[test]
fn lvsd_health_checks_in_network_namespaces() {
    let Some(bin) = prepare("health-check", BASE_TOOLS, &["lvsd"]) else {
        return;
    };
    let out = run_script(
        "health.sh",
        &[&bin.join("lvsd")],
        HEALTH_TIMEOUT,
        "HEALTH PASSED",
    );
    let (line, fields) = summary_numbers(&out, "HEALTH", "detect_ms");
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["detect_ms", "failed", "recovered_ms"], "{line}");
    assert!(fields[0].1 > 0 && fields[2].1 > 0, "{line}");
}
