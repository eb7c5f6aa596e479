//! The harness the end-to-end tests share: prerequisites (root, `ip netns`, tools), building
//! the example programs into the test's own target directory and profile, and running an
//! `examples/e2e/` script in its own process group under a hard timeout.
//!
//! A test that cannot run prints a `SKIPPED:` line (on the real stderr, so that it shows even
//! when output is captured) and passes, except under CI (`CI=true` or `CI=1`), where it fails.
//! The scripts make network namespaces: run the suite under `flock /tmp/lvs-netns.lock`.

// each test crate uses its own part of the harness
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The tools every script uses.
pub const BASE_TOOLS: &[&str] = &["ip", "tc", "curl", "python3", "sha256sum", "timeout"];

/// Whether this runs under CI (`CI=true`, as GitHub Actions, GitLab and most others set it, or
/// `CI=1`): there a missing prerequisite is a failure, not a skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Writes to the process's stderr directly, past the test harness's capture.
pub fn loud(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Whether `tool` is on the `PATH`.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this process may make network namespaces (root in a container may not).
pub fn netns_works() -> bool {
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

/// The target directory and profile this test was built into (`target/debug/deps/<test>-*`).
pub fn target_and_profile() -> (PathBuf, String) {
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

/// Builds the `examples` of lvs-examples into this test's target directory and profile;
/// returns the directory they are in.
pub fn build_examples(examples: &[&str]) -> PathBuf {
    let (target, profile) = target_and_profile();
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-q", "-p", "lvs-examples"])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for e in examples {
        build.args(["--example", e]);
    }
    if profile == "release" {
        build.arg("--release");
    }
    let st = build.status().expect("running cargo build");
    assert!(st.success(), "cargo build of {examples:?} failed");
    let dir = target.join(&profile).join("examples");
    for e in examples {
        assert!(dir.join(e).exists(), "{e} was not built");
    }
    dir
}

/// Checks the prerequisites (root, `ip netns`, `tools`) and builds `examples`; the directory
/// of the built programs, or `None` (after a `SKIPPED:` line) when the test cannot run here.
///
/// # Panics
/// Under CI, when a prerequisite is missing.
pub fn prepare(what: &str, tools: &[&str], examples: &[&str]) -> Option<PathBuf> {
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
    for tool in tools {
        if !have(tool) {
            return skip(&format!("{tool} is not installed"));
        }
    }
    if !netns_works() {
        return skip("`ip netns add` is not permitted here");
    }
    Some(build_examples(examples))
}

/// Runs `bash examples/e2e/SCRIPT ARGS...` in its own process group under `timeout`, prints
/// its output, checks that it succeeded and printed `marker` (or, outside CI, skipped itself
/// with a `SKIPPED:` line), and returns the output.
///
/// # Panics
/// The script failed, timed out, or did not print `marker`.
pub fn run_script(script: &str, args: &[&Path], timeout: Duration, marker: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("e2e")
        .join(script);
    let mut child = Command::new("bash")
        .arg(&script)
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
    let skipped = !under_ci() && output.contains("SKIPPED:");
    assert!(
        output.contains(marker) || skipped,
        "{name} did not report success"
    );
    output
}

/// Whether `output` is that of a script that skipped itself (outside CI).
pub fn skipped(output: &str) -> bool {
    !under_ci() && output.contains("SKIPPED:")
}

/// The `key=number` fields of the summary line `TAG first_key=...` in `output` (for instance
/// `summary_numbers(out, "ECMP", "directors")` for `ECMP directors=3 downloads=12 broken=0`),
/// with the line. Panics (failing the test) when the line is missing or a field is not
/// `key=number`: a summary line is the test's evidence.
pub fn summary_numbers<'a>(
    output: &'a str,
    tag: &str,
    first_key: &str,
) -> (&'a str, Vec<(&'a str, u64)>) {
    let start = format!("{tag} {first_key}=");
    let line = output
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no line starting with {start:?}"));
    let fields = line[tag.len() + 1..]
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("{kv:?} in {line:?} is not key=value"));
            let n = v
                .parse()
                .unwrap_or_else(|_| panic!("{kv:?} in {line:?} is not a number"));
            (k, n)
        })
        .collect();
    (line, fields)
}
