//! Replays the corpus and any crash artifacts of the `agentx_parse` fuzz target through the
//! same `run` function libFuzzer calls, on stable.

use std::path::Path;

mod agentx_parse {
    include!("../../fuzz/targets/agentx_parse.rs");
}

#[test]
fn replay_agentx_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join("agentx_parse")) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            agentx_parse::run(&std::fs::read(p).unwrap());
            n += 1;
        }
    }
    assert!(n >= 10, "seed corpus missing ({n} files)");
}
