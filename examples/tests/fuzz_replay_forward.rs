//! Replays the fuzz corpora and any crash artifacts of lvs-forward's fuzz targets through the
//! same `run` functions libFuzzer calls, on stable.

use std::path::Path;

macro_rules! target {
    ($name:ident) => {
        mod $name {
            include!(concat!("../../fuzz/targets/", stringify!($name), ".rs"));
        }
    };
}

target!(parse_packet);
target!(rewrite_nat);
target!(rewrite_tunnel);
target!(icmp_nat);

fn replay(name: &str, run: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_file() {
                let data = std::fs::read(&p).unwrap();
                run(&data);
                n += 1;
            }
        }
    }
    n
}

#[test]
fn replay_parse_packet() {
    assert!(
        replay("parse_packet", parse_packet::run) >= 30,
        "seed corpus missing"
    );
}

#[test]
fn replay_rewrite_nat() {
    assert!(
        replay("rewrite_nat", rewrite_nat::run) >= 30,
        "seed corpus missing"
    );
}

#[test]
fn replay_rewrite_tunnel() {
    assert!(
        replay("rewrite_tunnel", rewrite_tunnel::run) >= 30,
        "seed corpus missing"
    );
}

#[test]
fn replay_icmp_nat() {
    assert!(
        replay("icmp_nat", icmp_nat::run) >= 30,
        "seed corpus missing"
    );
}

/// The targets also survive inputs no corpus holds.
#[test]
fn targets_on_edge_inputs() {
    let inputs: [&[u8]; 6] = [
        &[],
        &[0],
        &[0x45],
        &[0x60; 60],
        &[0xff; 100],
        &[0, 0x45, 0, 0, 20],
    ];
    for i in inputs {
        parse_packet::run(i);
        rewrite_nat::run(i);
        rewrite_tunnel::run(i);
        icmp_nat::run(i);
    }
}
