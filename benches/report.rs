//! Prints the table of medians of the last criterion run (see `lvs_benches`):
//! `cargo run -p lvs-benches --bin bench-report [CRITERION_DIR]`.

use std::path::PathBuf;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
                PathBuf::from,
            );
            target.join("criterion")
        });
    let medians = lvs_benches::read_medians(&dir);
    if medians.is_empty() {
        eprintln!("no criterion results under {}", dir.display());
        std::process::exit(1);
    }
    print!("{}", lvs_benches::markdown(&medians));
}
