//! VIP failover end to end: builds lvsd and runs `examples/e2e/vrrp.sh` (network namespaces,
//! two lvsd directors with connection sync and VRRP, then lvsd with keepalived in one VRRP
//! group; 100 MB downloads that must survive the takeovers byte-exact).
//!
//! The second test runs part 1 with `--workers 2` on both directors (`vrrp.sh LVSD 2`): each
//! shard of A sends its own sync messages, B's worker 0 splits what it receives by the clients'
//! shard, and the download survives the takeover.
//!
//! Needs root, `ip netns`, tc, curl, python3 and keepalived. Without them it prints a
//! `SKIPPED:` line and passes, except under CI (`CI=true`), where it fails instead.

mod common;

use common::{prepare, run_script, skipped, BASE_TOOLS};
use std::sync::Mutex;
use std::time::Duration;

/// One script at a time (the timings share two vCPUs).
static TURN: Mutex<()> = Mutex::new(());

/// The script takes about 45 s here and stops itself after 240 s.
const TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn ha_vrrp_failover_with_lvsd_and_keepalived() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let tools = [BASE_TOOLS, &["keepalived"]].concat();
    let Some(bin) = prepare("VRRP", &tools, &["lvsd"]) else {
        return;
    };
    let output = run_script("vrrp.sh", &[&bin.join("lvsd")], TIMEOUT, "VRRP PASSED");
    if skipped(&output) {
        return;
    }
    let lines: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("VRRP takeover_ms=") && l.ends_with(" download=ok"))
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "expected the lvsd and keepalived takeover lines"
    );
    for l in lines {
        let ms: u64 = l["VRRP takeover_ms=".len()..l.len() - " download=ok".len()]
            .parse()
            .expect("a number of milliseconds");
        assert!(ms > 0, "{l}");
    }
}

#[test]
fn ha_vrrp_failover_with_two_workers_and_sync() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let tools = [BASE_TOOLS, &["keepalived"]].concat();
    let Some(bin) = prepare("VRRP", &tools, &["lvsd"]) else {
        return;
    };
    let output = run_script(
        "vrrp.sh",
        &[&bin.join("lvsd"), std::path::Path::new("2")],
        TIMEOUT,
        "VRRP PASSED",
    );
    if skipped(&output) {
        return;
    }
    let line = output
        .lines()
        .find(|l| l.starts_with("VRRP workers=2 takeover_ms="))
        .expect("the two-worker takeover line");
    assert!(line.contains(" download=ok "), "{line}");
}
