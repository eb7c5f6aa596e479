//! Shared helpers for the lvs benchmarks: reading criterion's results back as a table.
//!
//! `cargo run -p lvs-benches --bin bench-report` prints, for every group criterion has
//! measured (under `$CARGO_TARGET_DIR/criterion`, or the directory given as the first
//! argument), the median of each function, and for groups with an `lvs` function the ratio
//! of every other function's median to it: the table in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// One measured function: its group, its name, and the median time per iteration in
/// nanoseconds (criterion's `estimates.json`, `median.point_estimate`), with the elements per
/// iteration when the group declared a throughput.
#[derive(Debug, Clone, PartialEq)]
pub struct Median {
    /// Criterion group, e.g. `fastpath/nat_established_1M`.
    pub group: String,
    /// Function within the group, e.g. `lvs`.
    pub function: String,
    /// Median time per iteration, nanoseconds.
    pub ns: f64,
    /// Elements per iteration (`Throughput::Elements`), 1 when none was declared.
    pub elements: u64,
}

/// The number after `"key":` in `json` (criterion writes plain JSON; no parser needed).
fn number_after(json: &str, key: &str) -> Option<f64> {
    let at = json.find(key)? + key.len();
    let rest = json[at..].trim_start_matches([':', ' ']);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The string after `"key":` in `json`.
fn string_after(json: &str, key: &str) -> Option<String> {
    let at = json.find(key)? + key.len();
    let rest = json[at..]
        .trim_start_matches([':', ' '])
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// Every median under `root` (criterion's output directory), sorted by group and function.
pub fn read_medians(root: &Path) -> Vec<Median> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "new") {
                    let (Ok(b), Ok(est)) = (
                        fs::read_to_string(p.join("benchmark.json")),
                        fs::read_to_string(p.join("estimates.json")),
                    ) else {
                        continue;
                    };
                    let median = est.find("\"median\"").map(|i| &est[i..]);
                    // `BenchmarkId::from_parameter` names the function in `value_str`
                    let function = string_after(&b, "\"function_id\"")
                        .or_else(|| string_after(&b, "\"value_str\""));
                    let (Some(group), Some(function), Some(ns)) = (
                        string_after(&b, "\"group_id\""),
                        function,
                        median.and_then(|m| number_after(m, "\"point_estimate\"")),
                    ) else {
                        continue;
                    };
                    let elements = number_after(&b, "\"Elements\"").map_or(1, |e| e as u64);
                    out.push(Median {
                        group,
                        function,
                        ns,
                        elements,
                    });
                } else if p.file_name().is_none_or(|n| n != "report") {
                    stack.push(p);
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.group, &a.function).cmp(&(&b.group, &b.function)));
    out
}

/// A time for a table: ns below 1 µs, then µs, then ms.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The Markdown table of `medians`: one row per group, `lvs` first, then every other
/// function with its ratio to `lvs` (above 1: slower than lvs); per-element times for groups
/// that process several elements per iteration.
pub fn markdown(medians: &[Median]) -> String {
    let mut groups: BTreeMap<&str, Vec<&Median>> = BTreeMap::new();
    for m in medians {
        groups.entry(&m.group).or_default().push(m);
    }
    let mut s = String::from(
        "| group | lvs | per element | others (median, ratio to lvs) |\n|---|---|---|---|\n",
    );
    for (g, fs) in groups {
        let lvs = fs.iter().find(|m| m.function == "lvs");
        let per = lvs
            .filter(|m| m.elements > 1)
            .map_or(String::new(), |m| fmt_ns(m.ns / m.elements as f64));
        let others: Vec<String> = fs
            .iter()
            .filter(|m| m.function != "lvs")
            .map(|m| match lvs {
                Some(l) => format!("{} {} (×{:.2})", m.function, fmt_ns(m.ns), m.ns / l.ns),
                None => format!("{} {}", m.function, fmt_ns(m.ns)),
            })
            .collect();
        s += &format!(
            "| `{g}` | {} | {per} | {} |\n",
            lvs.map_or("–".to_string(), |m| fmt_ns(m.ns)),
            others.join("; ")
        );
    }
    s
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn reads_criterion_json() {
        let b = r#"{"group_id":"sched/rr_8","function_id":"lvs","value_str":null,"throughput":{"Elements":32},"full_id":"x"}"#;
        let e = r#"{"mean":{"point_estimate":5.0},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5e2,"standard_error":0.1}}"#;
        assert_eq!(
            string_after(b, "\"group_id\"").as_deref(),
            Some("sched/rr_8")
        );
        assert_eq!(number_after(b, "\"Elements\""), Some(32.0));
        let m = &e[e.find("\"median\"").unwrap()..];
        assert_eq!(number_after(m, "\"point_estimate\""), Some(150.0));
        let dir = std::env::temp_dir().join(format!("lvs-bench-report-{}", std::process::id()));
        let new = dir.join("sched_rr_8").join("lvs").join("new");
        fs::create_dir_all(&new).unwrap();
        fs::write(new.join("benchmark.json"), b).unwrap();
        fs::write(new.join("estimates.json"), e).unwrap();
        let got = read_medians(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            got,
            vec![Median {
                group: "sched/rr_8".into(),
                function: "lvs".into(),
                ns: 150.0,
                elements: 32
            }]
        );
        let t = markdown(&got);
        assert!(t.contains("| `sched/rr_8` | 150.0 ns | 4.7 ns |"), "{t}");
    }
}
