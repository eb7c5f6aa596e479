//! End-to-end test of several lvsd directors behind an ECMP router: build lvsd, run
//! `examples/e2e/ecmp.sh` (network namespaces named `ecmp-*`: a client, a router with a kernel
//! multipath route to the VIP over three directors, three direct-routing real servers; the same
//! `mh` service with `sloppy_tcp_consistent=1` on every director) under a hard timeout, print
//! its output and its `ECMP directors=.. downloads=.. broken=..` line, and fail if it fails or
//! a download broke: paced 32 MiB downloads must finish byte-exact, without stalling, while a
//! director leaves the route and comes back, and while one is killed, withdrawn, restarted and
//! put back.
//!
//! Needs root, `ip netns`, curl and python3: without them it prints `SKIPPED:` and passes,
//! except under CI (`CI=true` or `CI=1`), where it fails. Run the suite under
//! `flock /tmp/lvs-netns.lock` (this test does not take the lock itself).

mod common;

use common::{prepare, run_script, skipped, summary_numbers, BASE_TOOLS};
use std::time::Duration;

/// ecmp.sh takes about 50 s and stops itself after 100 s.
const ECMP_TIMEOUT: Duration = Duration::from_secs(115);

#[test]
fn lvsd_directors_behind_ecmp_take_over_flows() {
    let Some(bin) = prepare("ECMP", BASE_TOOLS, &["lvsd"]) else {
        return;
    };
    let out = run_script("ecmp.sh", &[&bin.join("lvsd")], ECMP_TIMEOUT, "ECMP PASSED");
    if skipped(&out) {
        return;
    }
    let (line, fields) = summary_numbers(&out, "ECMP", "directors");
    assert_eq!(
        fields,
        [("directors", 3), ("downloads", 12), ("broken", 0)],
        "{line}"
    );
}
