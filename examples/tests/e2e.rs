//! End-to-end tests of the lvsd example: build it, run `examples/e2e/run.sh` (network
//! namespaces, veth pairs, a bridge, python HTTP servers, curl) and `examples/e2e/failover.sh`
//! (a master and a backup director with connection sync, downloads surviving a takeover), each
//! under a hard timeout, one after the other; print the script's output and fail if it fails.
//!
//! `examples/e2e/mgmt.sh` checks the management plane (`--http`): /metrics read back with the
//! `prometheus-parse` crate against the director's `--stats` listing, the JSON API, refusals.
//!
//! Need root, `ip netns`, tc, curl and python3. Without them each prints a `SKIPPED:` line (on the
//! real stderr, so that it shows even when output is captured) and passes, except under CI
//! (`CI=true` or `CI=1` in the environment), where a test that cannot run its real components
//! fails.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// run.sh takes about 20 s here and is written to stay under 3 minutes; past this it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// failover.sh takes about 15 s and stops itself after 100 s.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(150);
/// mgmt.sh takes about 10 s and stops itself after 60 s.
const MGMT_TIMEOUT: Duration = Duration::from_secs(90);

/// The scripts share the machine's two cores and time their traffic: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

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
    for tool in ["ip", "tc", "curl", "python3", "sha256sum", "timeout"] {
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

#[test]
fn lvsd_end_to_end_in_network_namespaces() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lvsd) = prepare("end-to-end") {
        run_script("run.sh", &lvsd, &[], RUN_TIMEOUT, "E2E PASSED");
    }
}

#[test]
fn lvsd_failover_with_connection_sync() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lvsd) = prepare("failover") {
        run_script(
            "failover.sh",
            &lvsd,
            &[],
            FAILOVER_TIMEOUT,
            "FAILOVER PASSED",
        );
    }
}

/// `(conns, inpkts, outpkts, inbytes, outbytes)` of each `-L -n --stats --exact` line, keyed
/// by the service (`TCP 198.18.0.10:80`) or `service -> real server`.
fn stats_listing(text: &str) -> std::collections::BTreeMap<String, [u64; 5]> {
    let mut out = std::collections::BTreeMap::new();
    let mut svc = String::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let nums = |from: usize| -> Option<[u64; 5]> {
            let v: Vec<u64> = f
                .get(from..from + 5)?
                .iter()
                .filter_map(|x| x.parse().ok())
                .collect();
            v.try_into().ok()
        };
        match f.first() {
            Some(&("TCP" | "UDP" | "SCTP")) if f.len() == 7 => {
                svc = format!("{} {}", f[0], f[1]);
                out.insert(svc.clone(), nums(2).expect("service counters"));
            }
            Some(&"->") if f.len() == 7 && f[1].contains(':') => {
                out.insert(
                    format!("{svc} -> {}", f[1]),
                    nums(2).expect("server counters"),
                );
            }
            _ => {}
        }
    }
    out
}

#[test]
fn lvsd_management_plane() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(lvsd) = prepare("management plane") else {
        return;
    };
    let out = lvsd.with_file_name("mgmt-e2e");
    let _ = std::fs::remove_dir_all(&out);
    run_script("mgmt.sh", &lvsd, &[&out], MGMT_TIMEOUT, "MGMT api-drain=ok");
    // /metrics through an independent parser, against the director's own listing
    let text = std::fs::read_to_string(out.join("metrics.txt")).expect("metrics.txt");
    let stats = stats_listing(&std::fs::read_to_string(out.join("stats.txt")).expect("stats.txt"));
    let requests: u64 = std::fs::read_to_string(out.join("requests"))
        .expect("requests")
        .trim()
        .parse()
        .expect("a count");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("/metrics parses");
    let value = |name: &str, labels: &[(&str, &str)]| -> u64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(k).unwrap_or_default() == *v)
            })
            .unwrap_or_else(|| panic!("no {name} {labels:?} in /metrics:\n{text}"));
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v as u64,
            ref v => panic!("{name}: {v:?}"),
        }
    };
    let svc = stats["TCP 198.18.0.10:80"];
    assert_eq!(svc[0], requests, "every request was one connection");
    let names = [
        "connections",
        "incoming_packets",
        "outgoing_packets",
        "incoming_bytes",
        "outgoing_bytes",
    ];
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            value(&format!("node_ipvs_{n}_total"), &[]),
            svc[i],
            "node_ipvs_{n}_total"
        );
        assert_eq!(
            value(
                &format!("lvs_service_{n}_total"),
                &[("local_address", "198.18.0.10"), ("local_port", "80")]
            ),
            svc[i],
            "lvs_service_{n}_total"
        );
    }
    let mut servers = 0;
    for (key, c) in &stats {
        let Some((_, rs)) = key.split_once(" -> ") else {
            continue;
        };
        let (addr, port) = rs.rsplit_once(':').expect("ADDR:PORT");
        let l = [
            ("remote_address", addr),
            ("remote_port", port),
            ("proto", "TCP"),
        ];
        for (i, n) in names.iter().enumerate() {
            assert_eq!(
                value(&format!("lvs_backend_{n}_total"), &l),
                c[i],
                "{rs} {n}"
            );
        }
        assert_eq!(value("node_ipvs_backend_weight", &l), 1, "{rs} weight");
        servers += 1;
    }
    assert_eq!(servers, 2);
    let status: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("status.json")).expect("status.json"),
    )
    .expect("the API answers JSON");
    assert_eq!(status["services"][0]["traffic"]["conns"], requests);
    loud("MGMT metrics-parse=ok");
}
