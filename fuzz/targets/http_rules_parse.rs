// http_rules_parse: the splicer's HTTP rules text (`RuleSet::parse`, `parse_statements`) on
// arbitrary text, and rule matching on requests built from the same bytes.
//
// Every line `parse_statements` reports agrees with `parse_statement` on that line; line
// numbers increase; a rule set that parses selects a declared pool for any request; glob
// matching terminates; nothing panics.

use lvs_forward::splice::http::httparse;
use lvs_forward::splice::rules::{glob, RequestView};
use lvs_forward::splice::rules_parse::{parse_statement, parse_statements, RuleSet};

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let mut last = 0;
    for item in parse_statements(&text) {
        let line = match &item {
            Ok((n, _)) => *n,
            Err(e) => e.line,
        };
        assert!(line > last && line <= lines.len(), "line numbers increase");
        last = line;
        match item {
            Ok((_, st)) => assert_eq!(parse_statement(lines[line - 1]), Ok(Some(st))),
            Err(e) => {
                assert_eq!(parse_statement(lines[line - 1]), Err(e.kind));
                let _ = e.to_string();
            }
        }
    }
    if let Ok(set) = RuleSet::<'_, 16, 8>::parse(&text) {
        let npools = set.pools().count();
        // requests built from the text's own words
        let headers = [httparse::Header { name: "Host", value: b"www.example.com" }, httparse::Header { name: "x-env", value: b"canary" }];
        for w in text.split_ascii_whitespace().take(64) {
            let v = RequestView { method: w, path: w, host: w, headers: &headers };
            assert!(set.select(&v) < npools);
        }
    }
    // glob on halves of the input
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    let cut = |s: &str| -> String { s.chars().take(256).collect() };
    let _ = glob(&cut(a), &cut(b));
}
