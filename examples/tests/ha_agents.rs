//! Load agents end to end: builds lvsd and lvs_agent and runs `examples/e2e/agents.sh`
//! (network namespaces, two real servers with memory cgroups and agents, a memory hog on one:
//! its weight must drop within three report periods and new connections shift away).
//!
//! Needs root, `ip netns`, curl, python3 and a memory cgroup. Without them it prints a
//! `SKIPPED:` line and passes, except under CI (`CI=true`), where the script fails instead.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The script takes about 30 s and stops itself after 120 s.
const TIMEOUT: Duration = Duration::from_secs(200);

/// Builds the examples into this test's target directory and profile.
fn build(examples: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let profile = profile_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "debug".into());
    let target = profile_dir.parent().expect("target dir");
    let mut b = Command::new(env!("CARGO"));
    b.args(["build", "-q", "-p", "lvs-examples"]);
    for e in examples {
        b.args(["--example", e]);
    }
    b.arg("--target-dir")
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile == "release" {
        b.arg("--release");
    }
    assert!(
        b.status().expect("cargo build").success(),
        "building {examples:?} failed"
    );
    target.join(profile).join("examples")
}

#[test]
fn ha_agents_weight_follows_memory_load() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/agents.sh");
    let bin = build(&["lvsd", "lvs_agent"]);
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(bin.join("lvsd"))
        .arg(bin.join("lvs_agent"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("starting agents.sh");
    let mut out = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for agents.sh") {
            break Some(st);
        }
        if start.elapsed() > TIMEOUT {
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
    eprintln!("{output}");
    let st = status.expect("agents.sh did not finish in time");
    assert!(st.success(), "agents.sh failed ({st})");
    if output.contains("SKIPPED:") {
        return;
    }
    let line = output
        .lines()
        .find(|l| l.starts_with("AGENT weight_before="))
        .expect("the AGENT line");
    let nums: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 2, "{line}");
    assert!(nums[1] < nums[0], "{line}");
    assert!(output.contains("AGENTS PASSED"));
}
