//! Registry clusters run by this director (`--registry-director NAME`, with `--registry FILE`).
//!
//! The desired rules are the rules file followed by one service per registry cluster whose
//! label `director` is `NAME`: `-A` with the cluster's protocol, VIP and scheduler, and `-a`
//! for each of its real servers with weight 1 and the forwarding method of its label
//! `forward` (`nat`, the default, `dr` or `tun`). Only those fields are applied; hosts, backup
//! directors, service type and other labels are records, not rules. The rules file and the
//! registry are read at start, on every reload (SIGHUP, `lvsd ctl reload`) and after every
//! accepted write to `/api/v1/clusters`, and the director is brought to them by
//! [`crate::rules::sync`] (`lvs_core::ipvsadm::reconcile`): unchanged services keep their
//! state. A cluster that the rule loader refuses (a service the rules file already has, an
//! unknown scheduler) fails the whole reload, which then changes nothing.

use crate::registry::{Cluster, Registry};
use lvs_core::ipvsadm::reconcile::RuleSet;
use std::path::Path;

/// Removes `--registry-director NAME` (also `=NAME`) from `args`.
///
/// # Errors
/// A missing or invalid name.
pub fn take_args(args: &mut Vec<String>) -> Result<Option<String>, String> {
    let mut name = None;
    let mut rest = Vec::new();
    let mut it = std::mem::take(args).into_iter();
    while let Some(a) = it.next() {
        let v = if a == "--registry-director" {
            it.next().ok_or("--registry-director needs a name")?
        } else if let Some(v) = a.strip_prefix("--registry-director=") {
            v.to_string()
        } else {
            rest.push(a);
            continue;
        };
        if !crate::registry::valid_name(&v) {
            return Err(format!(
                "--registry-director {v:?}: 1-64 of A-Z a-z 0-9 . _ -"
            ));
        }
        name = Some(v);
    }
    *args = rest;
    Ok(name)
}

/// The ipvsadm-restore lines of the clusters labelled `director=name`.
pub fn restore_text(clusters: &[Cluster], name: &str) -> String {
    let mut s = String::new();
    for c in clusters
        .iter()
        .filter(|c| c.labels.get("director").map(String::as_str) == Some(name))
    {
        let proto = if c.protocol == "udp" { "-u" } else { "-t" };
        let fwd = match c.labels.get("forward").map(String::as_str) {
            Some("dr") => "-g",
            Some("tun") => "-i",
            _ => "-m",
        };
        s.push_str(&format!("-A {proto} {} -s {}\n", c.vip, c.scheduler));
        for r in &c.real_servers {
            s.push_str(&format!("-a {proto} {} -r {r} {fwd} -w 1\n", c.vip));
        }
    }
    s
}

/// The desired rules: the rules file, then this director's registry clusters.
///
/// # Errors
/// A file that cannot be read, or the loader's rejected lines (numbered over both parts).
pub fn desired(rules: &Path, registry: Option<(&Path, &str)>) -> Result<RuleSet, String> {
    let mut bytes = std::fs::read(rules).map_err(|e| format!("{}: {e}", rules.display()))?;
    if let Some((db, name)) = registry {
        let reg = Registry::open(db).map_err(|e| format!("{}: {e:?}", db.display()))?;
        let clusters = reg
            .clusters()
            .map_err(|e| format!("{}: {e:?}", db.display()))?;
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(restore_text(&clusters, name).as_bytes());
    }
    // each error names the file it is in, as before registry clusters were appended (their
    // lines are numbered after the file's)
    let file = if registry.is_some() {
        format!("{} (+ registry)", rules.display())
    } else {
        rules.display().to_string()
    };
    crate::rulefile::load(&bytes).map_err(|errs| {
        let mut s = format!("{file}: {} rejected line(s):", errs.len());
        for e in errs {
            s.push_str(&format!("\n  {file}: {e}"));
        }
        s
    })
}

#[cfg(test)]
mod test {
    use super::*;

    fn cluster(name: &str, director: Option<&str>, forward: Option<&str>) -> Cluster {
        let mut labels = std::collections::BTreeMap::new();
        if let Some(d) = director {
            labels.insert("director".to_string(), d.to_string());
        }
        if let Some(f) = forward {
            labels.insert("forward".to_string(), f.to_string());
        }
        Cluster {
            name: name.into(),
            vip: "198.18.0.20:80".into(),
            protocol: "tcp".into(),
            scheduler: "rr".into(),
            backup_directors: vec![],
            real_servers: vec!["198.18.1.11:8080".into(), "198.18.1.12:8080".into()],
            service_type: "web".into(),
            labels,
        }
    }

    #[test]
    fn only_this_directors_clusters() {
        let cs = [
            cluster("web", Some("d1"), None),
            cluster("other", Some("d2"), None),
            cluster("none", None, None),
        ];
        assert_eq!(
            restore_text(&cs, "d1"),
            "-A -t 198.18.0.20:80 -s rr\n-a -t 198.18.0.20:80 -r 198.18.1.11:8080 -m -w 1\n\
             -a -t 198.18.0.20:80 -r 198.18.1.12:8080 -m -w 1\n"
        );
        let dr = restore_text(&[cluster("web", Some("d1"), Some("dr"))], "d1");
        assert!(dr.contains("-r 198.18.1.11:8080 -g -w 1"), "{dr}");
        assert_eq!(restore_text(&cs, "d3"), "");
    }

    #[test]
    fn options() {
        let mut a: Vec<String> = ["--rules", "r", "--registry-director", "d1"]
            .map(String::from)
            .to_vec();
        assert_eq!(take_args(&mut a).unwrap().as_deref(), Some("d1"));
        assert_eq!(a, ["--rules", "r"]);
        assert!(take_args(&mut vec!["--registry-director".into()]).is_err());
        assert!(take_args(&mut vec!["--registry-director=../x".into()]).is_err());
    }
}
