//! End-to-end test of the lvsd example: builds it, runs `examples/e2e/run.sh` (network
//! namespaces, veth pairs, a bridge, python HTTP servers, curl) under a hard timeout, prints the
//! script's output and fails if the script fails.
//!
//! Needs root, `ip netns`, curl and python3. Without them it prints a `SKIPPED:` line (on the
//! real stderr, so that it shows even when output is captured) and passes.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The script takes about 20 s here and is written to stay under 3 minutes; past this it is
/// killed.
const HARD_TIMEOUT: Duration = Duration::from_secs(300);

/// Writes to the process's stderr directly, past the test harness's capture.
fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn skip(why: &str) {
    loud(&format!("SKIPPED: lvsd end-to-end test: {why}"));
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this process may make network namespaces (root in a container may not).
fn netns_works() -> bool {
    let name = format!("lvse2e-probe-{}", std::process::id());
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
    }
    ok
}

/// The target directory and profile this test was built into (`target/debug/deps/e2e-*`).
fn target_and_profile() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let profile = profile_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "debug".into());
    let target = profile_dir.parent().expect("target dir").to_path_buf();
    (target, profile)
}

#[test]
fn lvsd_end_to_end_in_network_namespaces() {
    if !is_root() {
        return skip("not root (network namespaces and AF_PACKET need it)");
    }
    for tool in ["ip", "curl", "python3", "sha256sum", "timeout"] {
        if !have(tool) {
            return skip(&format!("{tool} is not installed"));
        }
    }
    if !netns_works() {
        return skip("`ip netns add` is not permitted here");
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (target, profile) = target_and_profile();
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-q", "-p", "lvs-examples", "--example", "lvsd"])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(manifest);
    if profile == "release" {
        build.arg("--release");
    }
    let st = build.status().expect("running cargo build");
    assert!(st.success(), "cargo build --example lvsd failed");
    let lvsd = target.join(&profile).join("examples").join("lvsd");
    assert!(lvsd.exists(), "{} was not built", lvsd.display());

    let script = manifest.join("e2e").join("run.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(&lvsd)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // its own process group, so that a timeout ends the script and everything it started
        .process_group(0)
        .spawn()
        .expect("starting run.sh");
    let mut out = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for run.sh") {
            break Some(st);
        }
        if start.elapsed() > HARD_TIMEOUT {
            // TERM lets the script's trap remove its namespaces; KILL if it does not go
            let pg = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &pg]).status();
            std::thread::sleep(Duration::from_secs(5));
            let _ = Command::new("kill").args(["-KILL", "--", &pg]).status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = reader.join().unwrap_or_default();
    loud(&output);
    match status {
        None => panic!("run.sh did not finish within {HARD_TIMEOUT:?}"),
        Some(st) => assert!(st.success(), "run.sh failed ({st})"),
    }
    assert!(
        output.contains("E2E PASSED"),
        "run.sh did not report success"
    );
}
