//! End-to-end test of lvsd's AF_XDP frame path (`--xdp`): build lvsd, run
//! `examples/e2e/xdp.sh` (network namespaces named `xdp-*`: client → lvsd NAT director with
//! `--xdp` → server) under a hard timeout, print its output and its `XDP frames=N download=ok
//! udp=ok` line, and fail if it fails: lvsd's XDP programs attached to both interfaces, 8 TCP
//! downloads byte-exact and 50 UDP datagrams echoed through the VIP, every frame lvsd read
//! taken from the AF_XDP socket (`xdp.rx_frames` = `rx.frames`), and the programs gone once
//! lvsd exits; then a second lvsd with `--xdp-busy-poll` (the interfaces' NAPI deferral set
//! while it runs and put back after, UDP echoed through it).
//!
//! Needs root, `ip netns`, curl, python3 and ethtool: without them it prints `SKIPPED:` and passes,
//! except under CI (`CI=true` or `CI=1`), where it fails. A kernel refusing AF_XDP or BPF fails
//! it everywhere. Run it under `flock /tmp/lvs-netns.lock` (this test does not take the lock
//! itself).

mod common;

use common::{prepare, run_script, skipped, BASE_TOOLS};
use std::time::Duration;

/// xdp.sh takes about 15 s and stops itself after 60 s.
const XDP_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn lvsd_forwards_nat_over_af_xdp() {
    let tools: Vec<&str> = BASE_TOOLS.iter().copied().chain(["ethtool"]).collect();
    let Some(bin) = prepare("XDP", &tools, &["lvsd"]) else {
        return;
    };
    let out = run_script("xdp.sh", &[&bin.join("lvsd")], XDP_TIMEOUT, "XDP PASSED");
    if skipped(&out) {
        return;
    }
    let line = out
        .lines()
        .find(|l| l.starts_with("XDP frames="))
        .expect("no `XDP frames=` line");
    let mut f = line.split_whitespace().skip(1);
    let frames: u64 = f
        .next()
        .and_then(|kv| kv.strip_prefix("frames="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(frames > 2000, "{line}");
    assert_eq!(f.collect::<Vec<_>>(), ["download=ok", "udp=ok"], "{line}");
}
