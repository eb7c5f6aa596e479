// rules_parse: lvs-core's ipvsadm rule parser (`parse_rule`, `parse_rules`) on arbitrary text.
//
// The input is read as UTF-8 (lossily when it is not). Every line `parse_rules` reports must
// agree with `parse_rule` on that line; every accepted rule must print to its canonical
// `ipvsadm-save -n` form, which parses back to the same rule and prints identically; the
// canonical lines of all accepted rules, as one save file, must read back to the same rules;
// and nothing may panic.

use lvs_core::ipvsadm::{parse_rule, parse_rules, RuleErrorKind};

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let mut last = 0;
    let mut reported = vec![false; lines.len()];
    let mut accepted = Vec::new();
    for item in parse_rules(&text) {
        let line = match item {
            Ok((n, _)) => n,
            Err(e) => e.line,
        };
        assert!(line > last && line <= lines.len(), "line numbers increase");
        last = line;
        reported[line - 1] = true;
        let src = lines[line - 1];
        match item {
            Ok((_, rule)) => {
                assert_eq!(parse_rule(src), Ok(rule), "{src:?}");
                let canon = rule.to_string();
                assert!(!canon.contains('\n'));
                let back = parse_rule(&canon);
                assert_eq!(back, Ok(rule), "{src:?} -> {canon:?}");
                assert_eq!(
                    back.map(|r| r.to_string()).ok().as_deref(),
                    Some(canon.as_str())
                );
                accepted.push((rule, canon));
            }
            Err(e) => {
                assert_eq!(parse_rule(src), Err(e.kind), "{src:?}");
                let _ = e.to_string();
            }
        }
    }
    // a line the iterator skipped has no command (it is blank or a comment)
    for (l, _) in lines.iter().zip(&reported).filter(|(_, r)| !**r) {
        assert_eq!(parse_rule(l), Err(RuleErrorKind::MissingCommand), "{l:?}");
    }
    let save: String = accepted.iter().map(|(_, c)| format!("{c}\n")).collect();
    let again: Vec<_> = parse_rules(&save)
        .map(|r| r.expect("a save file parses").1)
        .collect();
    assert_eq!(again.len(), accepted.len());
    for (got, (want, _)) in again.iter().zip(&accepted) {
        assert_eq!(got, want);
    }
    let _ = parse_rule(&text);
}
