//! VIP failover end to end: builds lvsd and runs `examples/e2e/vrrp.sh` (network namespaces,
//! two lvsd directors with connection sync and VRRP, then lvsd with keepalived in one VRRP
//! group; 100 MB downloads that must survive the takeovers byte-exact).
//!
//! Needs root, `ip netns`, tc, curl, python3 and keepalived. Without them it prints a
//! `SKIPPED:` line and passes, except under CI (`CI=true`), where the script fails instead.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The script takes about 45 s here and stops itself after 240 s.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Builds lvsd into this test's target directory and profile.
fn build_lvsd() -> PathBuf {
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
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-q", "-p", "lvs-examples", "--example", "lvsd"])
        .arg("--target-dir")
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile == "release" {
        build.arg("--release");
    }
    assert!(
        build.status().expect("cargo build").success(),
        "building lvsd failed"
    );
    target.join(profile).join("examples").join("lvsd")
}

#[test]
fn ha_vrrp_failover_with_lvsd_and_keepalived() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/vrrp.sh");
    let lvsd = build_lvsd();
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(&lvsd)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .spawn()
        .expect("starting vrrp.sh");
    let mut out = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for vrrp.sh") {
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
    let st = status.expect("vrrp.sh did not finish in time");
    assert!(st.success(), "vrrp.sh failed ({st})");
    if output.contains("SKIPPED:") {
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
    assert!(output.contains("VRRP PASSED"));
}
