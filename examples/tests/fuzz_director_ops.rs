//! Replays the corpus and any crash artifacts of the `director_ops` fuzz target (structured:
//! `arbitrary` sequences of control operations and packets against the director) through the
//! same `run` function libFuzzer calls, on stable.

use std::path::Path;

mod director_ops {
    include!("../../fuzz/targets/director_ops.rs");
}

#[test]
fn replay_director_ops() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("director_ops")) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            director_ops::run(&std::fs::read(p).unwrap());
            n += 1;
        }
    }
    assert!(n >= 10, "seed corpus missing ({n} files)");
}
