//! `sched_trace`: the sample scenarios against hand-checked outputs, error reporting, and the
//! binary's exit codes.

#[path = "../sched_trace.rs"]
#[allow(dead_code)]
mod sched_trace;

use std::path::Path;
use std::process::Command;

fn scenario(name: &str) -> (String, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let input = std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).unwrap();
    let expected = std::fs::read_to_string(dir.join(format!("{name}.expected"))).unwrap();
    (input, expected)
}

fn trace(input: &str, seed: u64) -> Result<String, sched_trace::LineError> {
    let mut out = Vec::new();
    sched_trace::run(input, seed, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

fn failure(input: &str) -> (usize, String) {
    let e = trace(input, 0).unwrap_err();
    (e.line, e.reason)
}

/// wrr with servers added one by one to a live service: cw is 1 after the adds, so the first
/// pass takes everyone once, then the kernel's 4,3,2 cycle AABABCABC follows; then weight
/// edits and a deletion reset the cursor, and all weights 0 give none.
#[test]
fn wrr_cycle() {
    let (input, expected) = scenario("wrr_cycle");
    assert_eq!(trace(&input, 0).unwrap(), expected);
}

/// wlc with upper threshold 2: OVERLOAD set at bind, cleared below 3/4 at unbind and by
/// raising the threshold.
#[test]
fn wlc_thresholds() {
    let (input, expected) = scenario("wlc_thresholds");
    assert_eq!(trace(&input, 0).unwrap(), expected);
}

/// rr over IPv6: deleting the cursor's server moves the cursor back, a re-added server goes to
/// the head without moving it, quiesced servers are skipped.
#[test]
fn rr_ipv6_cursor() {
    let (input, expected) = scenario("rr_ipv6_cursor");
    assert_eq!(trace(&input, 0).unwrap(), expected);
}

/// mh, a server deleted and added back from the trash with weight 0: the kernel's add path
/// (`__ip_vs_update_dest(..., add=1)`) sets `last_weight` to 0, so the server gets no slots and
/// its clients go to the other server instead of finding no server; an edit back to weight 1
/// gives it its slots again.
#[test]
fn mh_revive_weight0() {
    let (input, expected) = scenario("mh_revive_weight0");
    let out = trace(&input, 0).unwrap();
    assert_eq!(out, expected);
    assert!(
        !out.contains("none"),
        "no client may go unscheduled:\n{out}"
    );
}

#[test]
fn bad_lines_are_reported_with_their_number() {
    let svc = "{\"op\":\"service\",\"scheduler\":\"rr\"}\n";
    let add = "{\"op\":\"add\",\"dest\":\"198.18.1.1:80\",\"weight\":1}\n";
    let cases: &[(String, usize, &str)] = &[
        (add.to_string(), 1, "first operation must be \"service\""),
        ("{\"op\":\"service\",\"scheduler\":\"maglev\"}".into(), 1, "unknown scheduler name"),
        ("{\"op\":\"service\",\"scheduler\":\"mh\",\"mh_table_size\":4000}".into(), 1, "mh"),
        ("{\"op\":\"service\",\"scheduler\":\"sh\",\"flags\":[\"x\"]}".into(), 1, "unknown scheduler flag"),
        (format!("{svc}\n{add}{add}"), 4, "already exists"),
        (format!("{svc}{{\"op\":\"add\",\"dest\":\"198.18.1.1\",\"weight\":1}}"), 2, "bad address"),
        (format!("{svc}{{\"op\":\"add\",\"dest\":\"198.18.1.1:80\",\"weight\":65536}}"), 2, "out of range"),
        (format!("{svc}{{\"op\":\"add\",\"dest\":\"198.18.1.1:80\",\"weight\":1,\"upper\":2,\"lower\":3}}"), 2, "lower threshold"),
        (format!("{svc}{{\"op\":\"del\",\"dest\":\"198.18.1.1:80\"}}"), 2, "no real server"),
        (format!("{svc}{{\"op\":\"close\",\"conn\":0}}"), 2, "no connection 0"),
        (format!("{svc}{add}{{\"op\":\"connect\",\"client\":\"1.1.1.1:1\"}}\n{{\"op\":\"deactivate\",\"conn\":0}}"), 4, "not active"),
        (format!("{svc}{{\"op\":\"jump\"}}"), 2, "unknown variant"),
        (format!("{svc}{{\"op\":\"tick\"}}"), 2, "missing field `ms`"),
        (format!("{svc}{svc}"), 2, "already defined"),
        ("[1,2]".into(), 1, ""),
    ];
    for (input, line, reason) in cases {
        let (l, r) = failure(input);
        assert_eq!(
            (l, r.contains(reason)),
            (*line, true),
            "{input:?}: line {l}: {r}"
        );
    }
}

#[test]
fn output_stops_at_the_bad_line() {
    let input = "{\"op\":\"service\",\"scheduler\":\"lc\"}\n\
                 {\"op\":\"add\",\"dest\":\"198.18.1.1:80\",\"weight\":1}\n\
                 {\"op\":\"connect\",\"client\":\"1.1.1.1:1\"}\n\
                 oops\n\
                 {\"op\":\"connect\",\"client\":\"1.1.1.1:2\"}\n";
    let mut out = Vec::new();
    let e = sched_trace::run(input, 0, &mut out).unwrap_err();
    assert_eq!(e.line, 4);
    assert_eq!(String::from_utf8(out).unwrap(), "0 198.18.1.1:80\n");
}

#[test]
fn seed_drives_twos() {
    let mut input = String::from("{\"op\":\"service\",\"scheduler\":\"twos\"}\n");
    for i in 1..=4 {
        input += &format!("{{\"op\":\"add\",\"dest\":\"198.18.1.{i}:80\",\"weight\":1}}\n");
    }
    for i in 0..40 {
        input += &format!(
            "{{\"op\":\"connect\",\"client\":\"198.19.0.1:{}\"}}\n",
            40000 + i
        );
    }
    let a = trace(&input, 1).unwrap();
    assert_eq!(a, trace(&input, 1).unwrap());
    assert_ne!(a, trace(&input, 2).unwrap());
    assert_eq!(a.lines().count(), 40);
    assert!(!a.contains("none"));
}

#[test]
fn lblc_follows_the_destination_address_and_ticks() {
    // lblc keys on the packet's destination: the same dst keeps its server, another dst
    // may go elsewhere; a tick of an hour runs the collection without disturbing a hit.
    let input = "{\"op\":\"service\",\"scheduler\":\"lblc\"}\n\
        {\"op\":\"add\",\"dest\":\"198.18.1.2:80\",\"weight\":1}\n\
        {\"op\":\"add\",\"dest\":\"198.18.1.1:80\",\"weight\":1}\n\
        {\"op\":\"connect\",\"client\":\"198.19.0.1:1\",\"dst\":\"203.0.113.9:80\"}\n\
        {\"op\":\"connect\",\"client\":\"198.19.0.2:2\",\"dst\":\"203.0.113.10:80\"}\n\
        {\"op\":\"tick\",\"ms\":3600000}\n\
        {\"op\":\"connect\",\"client\":\"198.19.0.3:3\",\"dst\":\"203.0.113.9:80\"}\n";
    // 0: both idle, wlc pick → first listed (.1); 1: .1 has 1 inactive → .2;
    // 2: cached .1 for 203.0.113.9 (not lblc-overloaded)
    assert_eq!(
        trace(input, 0).unwrap(),
        "0 198.18.1.1:80\n1 198.18.1.2:80\n2 198.18.1.1:80\n"
    );
}

/// The example binary itself: output on stdout, `line N: reason` and exit code 2 on a bad
/// line, exit code 1 on usage errors.
#[test]
fn binary_exit_codes() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO"))
            .args([
                "run",
                "-q",
                "-p",
                "lvs-examples",
                "--example",
                "sched_trace",
                "--",
            ])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    let ok = run(&["scenarios/wrr_cycle.jsonl"]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        String::from_utf8(ok.stdout).unwrap(),
        scenario("wrr_cycle").1
    );

    let dir = std::env::temp_dir().join(format!("sched_trace_test_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"op\":\"service\",\"scheduler\":\"rr\"}\n{\"op\":\"del\"}\n",
    )
    .unwrap();
    let out = run(&[bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .starts_with("line 2: missing field `dest`"));
    let usage = run(&[]);
    assert_eq!(usage.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}
