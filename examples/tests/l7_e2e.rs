//! End-to-end test of lvsd's content-aware distribution (`--l7-rules`): build lvsd, run
//! `examples/e2e/l7.sh` (network namespaces named `l7-*`, nginx real servers in five pools
//! behind lvsd's TCP splicer, curl, wrk and python clients; routing by Host, path and
//! extension, keep-alive, pipelining, 100 MB byte-exact transfers both ways, resets from
//! either side, the hybrid policy's cache affinity, and transfers under 1 % loss and
//! reordering) under a hard timeout, print its output and its `L7 routed=.. misrouted=0
//! sha256-ok=yes loss-ok=yes cache-affinity=..` line, and fail if it fails.
//!
//! Needs root, `ip netns`, nginx, wrk, curl and python3: without them it prints `SKIPPED:` and
//! passes, except under CI (`CI=true` or `CI=1`), where it fails. Run the suite under
//! `flock /tmp/lvs-netns.lock` (this test does not take the lock itself).

mod common;

use common::{prepare, run_script};
use std::time::Duration;

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
    if let Some(bin) = prepare("content-aware (l7)", TOOLS, &["lvsd"]) {
        run_script("l7.sh", &[&bin.join("lvsd")], L7_TIMEOUT, "L7 PASSED");
    }
}
