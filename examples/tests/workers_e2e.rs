//! End-to-end test of lvsd with two workers: build lvsd, run `examples/e2e/workers.sh`
//! (network namespaces named `wk-*`: client → lvsd NAT director with `--workers 2` → server)
//! under a hard timeout, print its output and its `WORKERS workers=.. downloads=.. broken=..
//! misrouted=..` line, and fail if it fails: 48 downloads (half through a service added at run
//! time by the control socket) byte-exact, both workers forwarding, and no reply dropped by a
//! worker that lacks its flow (the fanout program's steering, examples/lvsd/fanout.rs); and
//! the ipvsadm listings cover both shards: `-L -n -c` lists as many connections as both shards
//! hold (`listed=N`), `-L -n` and `--stats` sum them (examples/lvsd/views.rs).
//!
//! The second test runs it with `vrrp` (`--vrrp d0`, examples/e2e/workers_vrrp.sh): worker 0
//! runs the virtual router and mirrors master/backup to worker 1; while a priority-200 peer
//! advertises both workers stop forwarding (counted as silenced), then both forward again and
//! 8 downloads stalled across the backup period finish byte-exact, as do 16 new ones after
//! (`WORKERS_VRRP ...` line).
//! The third runs `examples/e2e/persist.sh`: with `--workers 2` and persistent services (`-p`,
//! IPv4 rr and IPv6 wlc over two real servers each) lvsd steers by client address
//! (`--steer auto`, examples/lvsd/steering.rs), and many connections of each client address,
//! from different source ports, all reach one real server, for 14 clients over both workers
//! (`PERSIST workers=2 clients=14 conns=168 split=0 servers=4 shards=2 refused=2`); under
//! `--steer flow` a persistent service is refused at start and by `ctl -A -p`.
//! The fourth runs `examples/e2e/pmtu.sh`: a router between the clients and lvsd (`--workers
//! 2`) has a 1280-byte link toward the clients and sends "fragmentation needed" to the VIP for
//! the real server's full-size segments; the fanout program steers each error by the packet it
//! quotes to the worker holding the flow, which relates it to the connection and passes it on,
//! so 16 downloads finish byte-exact, both workers relay errors (`fwd.icmp_errors`), and the
//! server's route cache holds the lowered path MTU toward every client
//! (`PMTU workers=2 downloads=16 broken=0 icmp_relayed0=N icmp_relayed1=N lowered=8 misrouted=0`).
//! The tests take turns (a lock), not to share the two vCPUs' time.
//!
//! Needs root, `ip netns`, curl and python3: without them it prints `SKIPPED:` and passes,
//! except under CI (`CI=true` or `CI=1`), where it fails. Run the suite under
//! `flock /tmp/lvs-netns.lock` (this test does not take the lock itself).

mod common;

use common::{prepare, run_script, skipped, summary_numbers, BASE_TOOLS};
use std::sync::Mutex;
use std::time::Duration;

/// One script at a time.
static TURN: Mutex<()> = Mutex::new(());

/// workers.sh takes about 20 s; its processes stop themselves after 60 s.
const WORKERS_TIMEOUT: Duration = Duration::from_secs(90);
/// With `vrrp` it takes about 30 s; its processes stop themselves after 100 s.
const VRRP_TIMEOUT: Duration = Duration::from_secs(140);
/// persist.sh takes about 20 s (40 s on a busy machine); its processes stop themselves after
/// 120 s.
const PERSIST_TIMEOUT: Duration = Duration::from_secs(150);

#[test]
fn two_workers_keep_both_directions_of_nat_flows_together() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
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
        fields[..4],
        [
            ("workers", 2),
            ("downloads", 48),
            ("broken", 0),
            ("misrouted", 0)
        ],
        "{line}"
    );
    // the script checked that `-L -n -c` listed both shards' connections (their sum)
    assert!(
        fields.get(4).is_some_and(|(k, v)| *k == "listed" && *v > 0),
        "{line}"
    );
}
/// pmtu.sh takes about 12 s (its downloads are bounded at 30 s); its processes stop themselves
/// after 100 s.
const PMTU_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn two_workers_relay_icmp_errors_to_the_flows_shard() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = prepare("WORKERS", BASE_TOOLS, &["lvsd"]) else {
        return;
    };
    let out = run_script("pmtu.sh", &[&bin.join("lvsd")], PMTU_TIMEOUT, "PMTU PASSED");
    if skipped(&out) {
        return;
    }
    let (line, fields) = summary_numbers(&out, "PMTU", "workers");
    let get = |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    assert_eq!(get("workers"), Some(2), "{line}");
    assert_eq!(get("downloads"), Some(16), "{line}");
    assert_eq!(get("broken"), Some(0), "{line}");
    assert!(get("icmp_relayed0") > Some(0), "{line}");
    assert!(get("icmp_relayed1") > Some(0), "{line}");
    assert_eq!(get("lowered"), Some(8), "{line}");
    assert_eq!(get("misrouted"), Some(0), "{line}");
}

#[test]
fn two_workers_follow_the_leads_vrrp_state() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = prepare("WORKERS", BASE_TOOLS, &["lvsd"]) else {
        return;
    };
    let out = run_script(
        "workers.sh",
        &[&bin.join("lvsd"), std::path::Path::new("vrrp")],
        VRRP_TIMEOUT,
        "WORKERS PASSED",
    );
    if skipped(&out) {
        return;
    }
    let (line, fields) = summary_numbers(&out, "WORKERS_VRRP", "workers");
    let get = |k: &str| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    assert_eq!(get("workers"), Some(2), "{line}");
    assert_eq!(get("downloads"), Some(24), "{line}");
    assert_eq!(get("broken"), Some(0), "{line}");
    assert_eq!(get("backup_fwd"), Some(0), "{line}");
    assert!(get("silenced0") > Some(0), "{line}");
    assert!(get("silenced1") > Some(0), "{line}");
}

#[test]
fn two_workers_keep_persistence_per_client_address() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = prepare("WORKERS", BASE_TOOLS, &["lvsd"]) else {
        return;
    };
    let out = run_script(
        "persist.sh",
        &[&bin.join("lvsd")],
        PERSIST_TIMEOUT,
        "PERSIST PASSED",
    );
    if skipped(&out) {
        return;
    }
    let (line, fields) = summary_numbers(&out, "PERSIST", "workers");
    assert_eq!(
        fields,
        [
            ("workers", 2),
            ("clients", 14),
            ("conns", 168),
            ("split", 0),
            ("servers", 4),
            ("shards", 2),
            ("refused", 2)
        ],
        "{line}"
    );
}
