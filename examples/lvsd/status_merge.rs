//! `status` over every shard (`--workers N`, N > 1): one listing, as the other views show one
//! table ([`crate::views`]), with each shard's own lines kept.
//!
//! The lead merges its own shard's `name value` lines with every other worker's (asked for at
//! the time, [`crate::views::Ask::Status`]):
//!
//! - Every unprefixed line whose value is a whole number is the SUM over the shards that have
//!   it: frames, drops, forwarding verdicts, `director.*` (with `director.connections`, the
//!   table entries of all shards, as `-L -n -c` lists them), `director.sync.*`, `sync.*`,
//!   `neigh.*`, `l7.*` and `tls.*` (their `live`, `sessions`, `tickets` and per-server `active`
//!   gauges too: each shard holds its own), `vrrp.silenced_frames` (every worker drops frames
//!   while the lead is not master) and the lead-only counters (`vrrp.rx_adverts`, `agent.*`,
//!   ...: a sum over the one shard that has them). Of the levels ([`crate::gauges`]), those
//!   summed are the ones whose sum means something for the whole director (connections open,
//!   entries held, `agent.sources`).
//! - Lines that are not additive stay the lead's, unprefixed and not summed: a value that is
//!   not a whole number (`vrrp.state master`) and the state and configuration of the one
//!   virtual router, [`KEPT`] (`vrrp.priority`, `vrrp.master_adver_int_cs`,
//!   `vrrp.master_down_ms`, `vrrp.mirrored_master`: the levels [`crate::gauges::Total::Lead`]
//!   marks, checked by a test there). Such a line only another worker has
//!   (`vrrp.mirrored_master`) appears only under its `worker<k>.` prefix.
//! - Then the lines of the process, given by the caller (`workers N`, `workers.view_timeouts`).
//! - Then every shard's own lines, worker 0's included, prefixed `worker<k>.`, in worker order.
//!
//! Order: the lead's lines in its order; a summed name the lead lacks (a counter that never
//! moved in the lead is absent from its listing) goes where that shard lists it: among the
//! named counters at the head (sorted by name, as one shard lists them) when it is one of them,
//! otherwise after the line the shard lists before it. A shard that did not answer in time is
//! left out of the sums and of the per-worker lines (`workers.view_timeouts` counts it).
//! With one worker nothing of this runs: `status` is the shard's listing as it is.

use std::fmt::Write as _;

/// Lines with whole-number values that are not summed (the lead's, or only a worker's).
pub const KEPT: &[&str] = &[
    "vrrp.priority",
    "vrrp.master_adver_int_cs",
    "vrrp.master_down_ms",
    "vrrp.mirrored_master",
];

/// The first line after a shard's named counters (which it lists sorted by name, at the head);
/// every shard lists it.
pub const FIRST_FIXED: &str = "director.refused_full";

/// One line: its name and value (the value empty when the line has no space).
fn split(line: &str) -> (&str, &str) {
    line.split_once(' ').unwrap_or((line, ""))
}

/// Whether a line of this name and value is summed over the shards.
fn additive(name: &str, value: &str) -> bool {
    !KEPT.contains(&name) && value.parse::<u64>().is_ok()
}

/// One merged line: its name and the lead's value, or the sum.
enum Merged<'a> {
    Kept(&'a str, &'a str),
    Sum(&'a str, u64),
}

impl<'a> Merged<'a> {
    fn name(&self) -> &'a str {
        match self {
            Merged::Kept(n, _) | Merged::Sum(n, _) => n,
        }
    }
}

/// The unprefixed lines: the lead's (`shards[0]`) with every shard's additive values summed.
fn merge_lines<'a>(shards: &[(usize, &'a str)]) -> Vec<Merged<'a>> {
    let mut out: Vec<Merged<'a>> = Vec::new();
    // the number of lines of the named counters at the head of `out`
    let mut named = 0;
    let pos = |out: &[Merged<'_>], name: &str| out.iter().position(|m| m.name() == name);
    for (i, (_, text)) in shards.iter().enumerate() {
        let mut in_named = true;
        // where this shard's previous line is in `out`
        let mut last: Option<usize> = None;
        for line in text.lines() {
            let (name, value) = split(line);
            if name == FIRST_FIXED {
                in_named = false;
            }
            let add = additive(name, value);
            if let Some(p) = pos(&out, name) {
                if let (Merged::Sum(_, s), true) = (&mut out[p], add) {
                    *s = s.saturating_add(value.parse().unwrap_or(0));
                }
                last = Some(p);
                continue;
            }
            if i > 0 && !add {
                // another worker's own state: only under its prefix
                continue;
            }
            let m = if add {
                Merged::Sum(name, value.parse().unwrap_or(0))
            } else {
                Merged::Kept(name, value)
            };
            let at = if i == 0 {
                out.len()
            } else if in_named {
                out[..named]
                    .iter()
                    .position(|m| m.name() > name)
                    .unwrap_or(named)
            } else {
                last.map_or(named, |p| p + 1)
            };
            out.insert(at, m);
            if in_named {
                named += 1;
            }
            last = Some(at);
        }
    }
    out
}

/// The `status` of a lead with other workers: `shards` are (worker number, its `status`
/// lines), the lead's first; `process` the lines of the process, after the merged ones (see the
/// module's documentation for the rule).
pub fn merge(shards: &[(usize, &str)], process: &str) -> String {
    let mut out = String::new();
    for m in merge_lines(shards) {
        // writing into a String cannot fail
        let _ = match m {
            Merged::Kept(n, "") => writeln!(out, "{n}"),
            Merged::Kept(n, v) => writeln!(out, "{n} {v}"),
            Merged::Sum(n, s) => writeln!(out, "{n} {s}"),
        };
    }
    out.push_str(process);
    for (k, text) in shards {
        for l in text.lines() {
            let _ = writeln!(out, "worker{k}.{l}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAD: &str = "\
drop.parse 2
rx.frames 100
tx.frames 90
director.refused_full 0
director.connections 7
neigh.dropped 0
l7.live 3
l7.pool.a.198.18.1.1:80.active 2
vrrp.state master
vrrp.priority 100
vrrp.silenced_frames 4
director.sync.applied 5
";

    const W1: &str = "\
fwd.masq 30
rx.frames 50
tx.frames 40
vrrp.silenced_frames 6
director.refused_full 1
director.connections 9
neigh.dropped 0
l7.live 1
l7.pool.a.198.18.1.1:80.active 1
l7.pool.b.198.18.1.2:80.active 8
vrrp.mirrored_master 1
director.sync.applied 6
";

    #[test]
    fn counters_are_summed_non_additive_lines_are_the_leads() {
        let got = merge(
            &[(0, LEAD), (1, W1)],
            "workers 2\nworkers.view_timeouts 0\n",
        );
        let merged = "\
drop.parse 2
fwd.masq 30
rx.frames 150
tx.frames 130
director.refused_full 1
director.connections 16
neigh.dropped 0
l7.live 4
l7.pool.a.198.18.1.1:80.active 3
l7.pool.b.198.18.1.2:80.active 8
vrrp.state master
vrrp.priority 100
vrrp.silenced_frames 10
director.sync.applied 11
workers 2
workers.view_timeouts 0
";
        let mut want = merged.to_string();
        for (k, t) in [(0, LEAD), (1, W1)] {
            for l in t.lines() {
                want.push_str(&format!("worker{k}.{l}\n"));
            }
        }
        assert_eq!(got, want);
        // a worker's own state is only under its prefix
        assert!(!got.lines().any(|l| l.starts_with("vrrp.mirrored_master")));
        assert!(got.contains("\nworker1.vrrp.mirrored_master 1\n"));
        assert!(got.contains("\nworker0.rx.frames 100\n"));
    }

    #[test]
    fn a_shard_that_did_not_answer_is_left_out() {
        // workers 0 and 2 answered
        let w2 = "rx.frames 1\ndirector.refused_full 0\n";
        let got = merge(
            &[(0, "rx.frames 5\ndirector.refused_full 0\n"), (2, w2)],
            "",
        );
        assert_eq!(
            got,
            "rx.frames 6\ndirector.refused_full 0\nworker0.rx.frames 5\n\
             worker0.director.refused_full 0\nworker2.rx.frames 1\nworker2.director.refused_full 0\n"
        );
    }

    #[test]
    fn one_shard_merges_to_itself() {
        // the rule keeps a lone shard's lines as they are (lvsd with one worker does not merge
        // at all: its `status` is the shard's listing, byte for byte)
        let got = merge(&[(0, LEAD)], "");
        let (unprefixed, prefixed) = got.split_at(LEAD.len());
        assert_eq!(unprefixed, LEAD);
        assert_eq!(prefixed.lines().count(), LEAD.lines().count());
    }

    #[test]
    fn names_only_other_shards_have_go_where_they_list_them() {
        let lead = "rx.frames 1\ndirector.refused_full 0\nl7.live 0\n";
        let w1 = "drop.arp 1\nzz.last 2\ndirector.refused_full 0\nl7.live 1\nl7.pool.x 3\n";
        let got = merge(&[(0, lead), (1, w1)], "");
        let names: Vec<&str> = got
            .lines()
            .take_while(|l| !l.starts_with("worker"))
            .map(|l| split(l).0)
            .collect();
        assert_eq!(
            names,
            [
                "drop.arp",
                "rx.frames",
                "zz.last",
                "director.refused_full",
                "l7.live",
                "l7.pool.x"
            ]
        );
    }
}
