//! End-to-end test of lvsd with two workers: build lvsd, run `examples/e2e/workers.sh`
//! (network namespaces named `wk-*`: client → lvsd NAT director with `--workers 2` → server)
//! under a hard timeout, print its output and its `WORKERS workers=.. downloads=.. broken=..
//! misrouted=..` line, and fail if it fails: 48 downloads (half through a service added at run
//! time by the control socket) byte-exact, both workers forwarding, and no reply dropped by a
//! worker that lacks its flow (the fanout program's steering, examples/lvsd/fanout.rs).
//!
//! Needs root, `ip netns`, curl and python3: without them it prints `SKIPPED:` and passes,
//! except under CI (`CI=true` or `CI=1`), where it fails. Run the suite under
//! `flock /tmp/lvs-netns.lock` (this test does not take the lock itself).

mod common;

use common::{prepare, run_script, skipped, summary_numbers, BASE_TOOLS};
use std::time::Duration;

/// workers.sh takes about 20 s; its processes stop themselves after 60 s.
const WORKERS_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn two_workers_keep_both_directions_of_nat_flows_together() {
    let Some(bin) = prepare("WORKERS", BASE_TOOLS, &["lvsd"]) else {
        return;
    };
    let out = run_script(
        "workers.sh",
        &[&bin.join("lvsd")],
        WORKERS_TIMEOUT,
        "WORKERS PASSED",
    );
    if skipped(&out) {
        return;
    }
    let (line, fields) = summary_numbers(&out, "WORKERS", "workers");
    assert_eq!(
        fields,
        [
            ("workers", 2),
            ("downloads", 48),
            ("broken", 0),
            ("misrouted", 0)
        ],
        "{line}"
    );
}
