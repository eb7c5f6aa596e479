//! End-to-end tests of the lvsd example: build it, run `examples/e2e/run.sh` (network
//! namespaces, veth pairs, a bridge, python HTTP servers, curl) and `examples/e2e/failover.sh`
//! (a master and a backup director with connection sync, downloads surviving a takeover), each
//! under a hard timeout, one after the other; print the script's output and fail if it fails.
//!
//! `examples/e2e/mgmt.sh` checks the management plane (`--http`): /metrics read back with the
//! `prometheus-parse` crate against the director's `--stats` listing, the JSON API, refusals,
//! argon2 logins and their throttle, every OpenAPI operation, Server-Sent Events, an LDAP login
//! against its own slapd and an `snmpwalk` through its own snmpd against the listing.
//!
//! Need root, `ip netns`, tc, curl and python3. Without them each prints a `SKIPPED:` line (on the
//! real stderr, so that it shows even when output is captured) and passes, except under CI
//! (`CI=true` or `CI=1` in the environment), where a test that cannot run its real components
//! fails.

mod common;

use common::{loud, prepare, run_script, BASE_TOOLS};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// run.sh takes about 20 s here and is written to stay under 3 minutes; past this it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// failover.sh takes about 15 s and stops itself after 100 s.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(150);
/// mgmt.sh takes about 30 s and stops itself after 60 s.
const MGMT_TIMEOUT: Duration = Duration::from_secs(90);

/// The scripts share the machine's two cores and time their traffic: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// lvsd, built, or `None` when the test cannot run here.
fn lvsd(what: &str) -> Option<PathBuf> {
    prepare(what, BASE_TOOLS, &["lvsd"]).map(|d| d.join("lvsd"))
}

#[test]
fn lvsd_end_to_end_in_network_namespaces() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lvsd) = lvsd("end-to-end") {
        run_script("run.sh", &[&lvsd], RUN_TIMEOUT, "E2E PASSED");
    }
}

#[test]
fn lvsd_failover_with_connection_sync() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lvsd) = lvsd("failover") {
        run_script("failover.sh", &[&lvsd], FAILOVER_TIMEOUT, "FAILOVER PASSED");
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
    let Some(lvsd) = lvsd("management plane") else {
        return;
    };
    let out = lvsd.with_file_name("mgmt-e2e");
    let _ = std::fs::remove_dir_all(&out);
    run_script("mgmt.sh", &[&lvsd, &out], MGMT_TIMEOUT, "MGMT api-drain=ok");
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
    // a level among the status lines is a gauge, not an event (examples/lvsd/gauges.rs)
    let conns = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "lvsd_status_gauge" && s.labels.get("name") == Some("director.connections")
        })
        .unwrap_or_else(|| panic!("no director.connections gauge in /metrics:\n{text}"));
    assert!(
        matches!(conns.value, prometheus_parse::Value::Gauge(_)),
        "director.connections: {:?}",
        conns.value
    );
    assert_eq!(
        value("lvsd_status_gauge", &[("name", "director.connections")]),
        value("lvs_table_entries", &[]),
        "director.connections is the table fill"
    );
    assert!(
        !text.contains("event=\"director.connections\""),
        "a level as an event:\n{text}"
    );
    let status: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("status.json")).expect("status.json"),
    )
    .expect("the API answers JSON");
    assert_eq!(status["services"][0]["traffic"]["conns"], requests);
    loud("MGMT metrics-parse=ok");
}
