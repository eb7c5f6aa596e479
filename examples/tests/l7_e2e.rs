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

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this runs under CI (`CI=true`, as GitHub Actions, GitLab and most others set it, or
/// `CI=1`): there a missing prerequisite is a failure, not a skip.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Writes to the process's stderr directly, past the test harness's capture.
fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
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

/// Checks the prerequisites and builds lvsd; `None` (after a `SKIPPED:` line) when the test
/// cannot run here.
fn prepare(what: &str) -> Option<PathBuf> {
    let skip = |why: &str| {
        assert!(
            !under_ci(),
            "lvsd {what} test cannot run under CI: {why} (CI must run it as root with `ip netns`)"
        );
        loud(&format!("SKIPPED: lvsd {what} test: {why}"));
        None
    };
    if !is_root() {
        return skip("not root (network namespaces and AF_PACKET need it)");
    }
    for tool in [
        "ip",
        "curl",
        "python3",
        "sha256sum",
        "wrk",
        "nstat",
        "ss",
        "/usr/sbin/nginx",
    ] {
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
    Some(lvsd)
}

/// Runs `examples/e2e/SCRIPT LVSD` in its own process group under `timeout`, prints its output,
/// and checks that it succeeded and printed `marker`.
fn run_script(script: &str, lvsd: &Path, args: &[&Path], timeout: Duration, marker: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("e2e")
        .join(script);
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(lvsd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // its own process group, so that a timeout ends the script and everything it started
        .process_group(0)
        .spawn()
        .expect("starting the script");
    let mut out = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for the script") {
            break Some(st);
        }
        if start.elapsed() > timeout {
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
    let name = script.display();
    match status {
        None => panic!("{name} did not finish within {timeout:?}"),
        Some(st) => assert!(st.success(), "{name} failed ({st})"),
    }
    assert!(output.contains(marker), "{name} did not report success");
}

/// l7.sh takes about 100 s and limits itself to 170 s.
const L7_TIMEOUT: Duration = Duration::from_secs(220);

#[test]
fn lvsd_splices_content_aware_in_network_namespaces() {
    if let Some(lvsd) = prepare("content-aware (l7)") {
        run_script("l7.sh", &lvsd, &[], L7_TIMEOUT, "L7 PASSED");
    }
}
