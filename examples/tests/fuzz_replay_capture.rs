//! Replays the corpus and any crash artifacts of the `replay_capture` fuzz target through the
//! same `run` function libFuzzer calls, on stable.

use std::path::Path;

#[path = "../replay/capture.rs"]
#[allow(dead_code)]
mod capture;
#[path = "../replay/engine.rs"]
#[allow(dead_code)]
mod engine;
#[path = "../replay/flows.rs"]
#[allow(dead_code)]
mod flows;

mod replay_capture {
    include!("../../fuzz/targets/replay_capture.rs");
}

#[test]
fn replay_replay_capture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("replay_capture")) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            replay_capture::run(&std::fs::read(p).unwrap());
            n += 1;
        }
    }
    assert!(n >= 10, "seed corpus missing ({n} files)");
}
