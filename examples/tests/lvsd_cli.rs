//! lvsd's command line as a user meets it, run as a program: `--help`, and `--check` on rules
//! files with the mistakes ipvsadm users make (exit codes and messages).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Builds lvsd into this test's target directory and returns its path.
fn lvsd() -> PathBuf {
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
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-q", "-p", "lvs-examples", "--example", "lvsd"])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile == "release" {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo build").success());
    target.join(&profile).join("examples").join("lvsd")
}

fn check(lvsd: &Path, name: &str, rules: &[u8]) -> Output {
    let dir = std::env::temp_dir().join(format!("lvsd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(name);
    std::fs::write(&file, rules).expect("writing rules");
    let out = Command::new(lvsd)
        .arg("--rules")
        .arg(&file)
        .arg("--check")
        .output()
        .expect("running lvsd");
    let _ = std::fs::remove_file(&file);
    out
}

#[test]
fn lvsd_command_line() {
    let lvsd = lvsd();

    // --help: usage on stdout, exit 0 (as ipvsadm -h)
    let out = Command::new(&lvsd)
        .arg("--help")
        .output()
        .expect("lvsd --help");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let usage = String::from_utf8_lossy(&out.stdout);
    assert!(usage.starts_with("usage: lvsd --rules FILE"), "{usage}");
    assert!(out.stderr.is_empty());
    let out = Command::new(&lvsd).arg("-h").output().expect("lvsd -h");
    assert_eq!(out.status.code(), Some(0));

    // a good file prints itself back
    let out = check(
        &lvsd,
        "ok",
        b"-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.1 -m\n",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.1:80 -m -w 1\n"
    );

    // a non-UTF-8 byte: its line and column, the other lines still checked
    let out = check(
        &lvsd,
        "latin1",
        b"# caf\xe9\n-A -t 198.18.0.1:80 -s rr\n-a -t 198.18.0.1:80 -r 198.18.1.1 -w 70000\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 rejected line(s)"), "{err}");
    assert!(
        err.contains("latin1: line 1: invalid UTF-8: byte 0xe9 at column 6"),
        "{err}"
    );
    assert!(err.contains("latin1: line 3: illegal weight"), "{err}");

    // a bad -A: one error, not one per real server
    let out = check(
        &lvsd,
        "cascade",
        b"-A -t 198.18.0.1:80 -s rr -p 0\n\
          -a -t 198.18.0.1:80 -r 198.18.1.1 -m\n\
          -a -t 198.18.0.1:80 -r 198.18.1.2 -m\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 rejected line(s)"), "{err}");
    assert!(
        err.contains("line 1: invalid persistence timeout (1..=2678400) (and 2 later line(s)"),
        "{err}"
    );
    assert!(!err.contains("no such service"), "{err}");

    // an address error quotes the address
    let out = check(&lvsd, "addr", b"-A -t 198.18.0.256:80\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"198.18.0.256:80\""), "{err}");
}
