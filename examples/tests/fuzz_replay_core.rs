//! Replays the fuzz corpus and any saved crashes of the lvs-core fuzz targets through the same
//! `run` functions libFuzzer calls, so that stable `cargo test` guards against regressions.

use std::path::{Path, PathBuf};

mod sync_decode {
    include!("../../fuzz/targets/sync_decode.rs");
}

mod director_stateful {
    include!("../../fuzz/targets/director_stateful.rs");
}

mod rules_parse {
    include!("../../fuzz/targets/rules_parse.rs");
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Runs every file of `fuzz/corpus/<name>/` and `fuzz/artifacts/<name>/` (when present) through
/// `run`; returns how many corpus files there were.
fn replay(name: &str, run: fn(&[u8])) -> usize {
    let mut corpus = 0;
    for (kind, required) in [("corpus", true), ("artifacts", false)] {
        let dir = fuzz_dir().join(kind).join(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if !required => {
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{}", dir.display());
                continue;
            }
            Err(e) => panic!("{}: {e}", dir.display()),
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{name}: {} panicked", path.display());
            if kind == "corpus" {
                corpus += 1;
            }
        }
    }
    corpus
}

#[test]
fn sync_decode_corpus_and_artifacts() {
    let n = replay("sync_decode", sync_decode::run);
    assert!(n >= 6, "the hand-made seeds are missing ({n} files)");
}

#[test]
fn sync_decode_seeds_decode_as_laid_out() {
    use lvs_core::sync::{SyncError, SyncRecords};
    let dir = fuzz_dir().join("corpus/sync_decode");
    let decode = |f: &str| -> Vec<Result<(), SyncError>> {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        SyncRecords::new(&bytes)
            .unwrap()
            .map(|r| r.map(|_| ()))
            .collect()
    };
    assert_eq!(decode("v4_tcp_v6_udp"), vec![Ok(()); 2]);
    assert_eq!(decode("seq_pe_padding"), vec![Ok(()); 4]);
    assert_eq!(decode("v0_two_records"), vec![Ok(()); 2]);
    assert_eq!(
        decode("unknown_options"),
        vec![Err(SyncError::UnknownMandatoryOption(5)), Ok(())]
    );
}

#[test]
fn director_stateful_corpus_and_artifacts() {
    let n = replay("director_stateful", director_stateful::run);
    assert!(n >= 6, "the hand-made seeds are missing ({n} files)");
}

#[test]
fn rules_parse_corpus_and_artifacts() {
    let n = replay("rules_parse", rules_parse::run);
    assert!(n >= 6, "the hand-made seeds are missing ({n} files)");
}

/// Fixed pseudo-random inputs through the stateful target, so that stable runs exercise it
/// beyond the corpus.
#[test]
fn director_stateful_pseudo_random_inputs() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for len in [64usize, 256, 1024, 4096] {
        for _ in 0..16 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            director_stateful::run(&data);
        }
    }
}
