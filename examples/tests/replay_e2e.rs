//! The replay tool against lvsd on real traffic (`examples/e2e/replay.sh`): tcpdump records
//! what reaches lvsd's interface and what lvsd sends, `replay` runs the input capture with the
//! same rules, and its output frames must equal lvsd's byte for byte (scapy reads both). The
//! script prints `REPLAY-E2E lvsd-frames=<n> replay-frames=<n> identical=yes ...`.
//!
//! Needs root, `ip netns`, tcpdump, curl and /usr/bin/python3 with scapy. Without them it
//! prints a `SKIPPED:` line and passes, except under CI (`CI=true` or `CI=1`), where it fails.
//! Run it like the other namespace tests: `flock /tmp/lvs-netns.lock cargo test ...`.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The script takes about 15 s and stops itself after 60 s.
const TIMEOUT: Duration = Duration::from_secs(120);

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn ok(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds lvsd and replay into this test's target directory.
fn build() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("test path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let target = profile_dir.parent().expect("target");
    let profile = profile_dir.file_name().expect("profile").to_string_lossy();
    let mut b = Command::new(env!("CARGO"));
    b.args(["build", "-q", "-p", "lvs-examples"])
        .args(["--example", "lvsd", "--example", "replay"])
        .arg("--target-dir")
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile == "release" {
        b.arg("--release");
    }
    assert!(
        b.status().expect("cargo").success(),
        "building lvsd and replay"
    );
    let dir = target.join(&*profile).join("examples");
    (dir.join("lvsd"), dir.join("replay"))
}

#[test]
fn replay_of_an_lvsd_capture_matches_lvsd_byte_for_byte() {
    let need = [
        ("root", "[ \"$(id -u)\" = 0 ]"),
        ("ip", "command -v ip"),
        ("tcpdump", "command -v tcpdump"),
        ("curl", "command -v curl"),
        ("scapy", "/usr/bin/python3 -c 'import scapy.all'"),
    ];
    for (what, cmd) in need {
        if !ok(cmd) {
            assert!(!under_ci(), "replay e2e cannot run under CI: no {what}");
            return loud(&format!("SKIPPED: replay e2e: no {what}"));
        }
    }
    let probe = format!("rp-probe-{}", std::process::id());
    if !ok(&format!("ip netns add {probe} && ip netns del {probe}")) {
        assert!(
            !under_ci(),
            "replay e2e cannot run under CI: `ip netns add` refused"
        );
        return loud("SKIPPED: replay e2e: `ip netns add` is not permitted here");
    }
    let (lvsd, replay) = build();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/replay.sh");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(&lvsd)
        .arg(&replay)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("starting replay.sh");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting") {
            break Some(st);
        }
        if start.elapsed() > TIMEOUT {
            // TERM lets the script's trap remove its namespaces
            let pg = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &pg]).status();
            std::thread::sleep(Duration::from_secs(3));
            let _ = Command::new("kill").args(["-KILL", "--", &pg]).status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = reader.join().unwrap_or_default();
    loud(&output);
    let st = status.expect("replay.sh did not finish in time");
    assert!(st.success(), "replay.sh failed ({st})");
    let line = output
        .lines()
        .find(|l| l.starts_with("REPLAY-E2E "))
        .expect("no REPLAY-E2E line");
    assert!(line.contains("identical=yes"), "{line}");
    println!("{line}");
}
