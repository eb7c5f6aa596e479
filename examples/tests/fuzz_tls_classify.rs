//! Replays the corpus and any crash artifacts of the `tls_classify` fuzz target through the same
//! `run` function libFuzzer calls, on stable.

use std::path::Path;

mod tls_classify {
    include!("../../fuzz/targets/tls_classify.rs");
}

#[test]
fn replay_tls_classify() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("tls_classify")) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            tls_classify::run(&std::fs::read(p).unwrap());
            n += 1;
        }
    }
    assert!(n >= 10, "seed corpus missing ({n} files)");
}
