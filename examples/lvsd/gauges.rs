//! Which `status` lines are levels (gauges) rather than counts of events.
//!
//! Most `status` lines count events since lvsd started (frames, drops by reason, verdicts,
//! refusals, sync messages, `l7.pool.<pool>.requests`, `tls.pool.<pool>.connections`: the
//! connections scheduled on a pool, not open ones) and only ever go up; `/metrics` exports them
//! as the counters `lvsd_events_total`. The lines below are levels: their value can go down, so
//! `/metrics` exports them as gauges ([`crate::metrics`]). With `--workers N` (N > 1) the
//! unprefixed line of a level is, as [`crate::status_merge`] merges it ([`Total`]):
//!
//! | line | what | unprefixed with workers |
//! |---|---|---|
//! | `director.connections` | connection-table entries | sum ([`Total::Sum`]) |
//! | `l7.live` | connections the L7 splicer holds open | sum |
//! | `l7.pool.<pool>.<server>.active` | L7 connections open to a server | sum |
//! | `tls.splice.live` | connections the TLS splicer holds open | sum |
//! | `tls.pool.<pool>.<server>.active` | TLS connections open to a server | sum |
//! | `tls.sessions` | learned session IDs in the session cache | sum (each shard's cache) |
//! | `tls.tickets` | learned ticket key names in the cache | sum (each shard's cache) |
//! | `agent.sources` | hosts whose load reports lvsd holds | sum (the lead alone has it) |
//! | `workers` | worker threads | the process's own line ([`Total::Process`]) |
//! | `vrrp.priority` | the router's priority | worker 0's ([`Total::Lead`]) |
//! | `vrrp.master_adver_int_cs` | the master's advert interval (learned) | worker 0's |
//! | `vrrp.master_down_ms` | the master-down interval | worker 0's |
//! | `vrrp.mirrored_master` | 1 while a worker mirrors a master | only `worker<k>.` |
//! | `vrrp.state` | `initialize`, `backup` or `master` (not a number) | worker 0's |
//!
//! A sum is kept where it means something for the whole director (connections open, entries
//! held: each shard holds its own); a setting or state of the one virtual router is worker 0's
//! (the lead runs it), never a sum.

/// How the unprefixed line of a level totals the shards with `--workers N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// The sum over the shards (each holds its own connections or entries).
    Sum,
    /// Worker 0's value (a setting or state of the lead's virtual router).
    Lead,
    /// A line of the process, given once, not a shard's (`workers`).
    Process,
}

/// The levels named in full, with how the shards total them (see the module's table).
pub const LEVELS: &[(&str, Total)] = &[
    ("director.connections", Total::Sum),
    ("l7.live", Total::Sum),
    ("tls.splice.live", Total::Sum),
    ("tls.sessions", Total::Sum),
    ("tls.tickets", Total::Sum),
    ("agent.sources", Total::Sum),
    ("workers", Total::Process),
    ("vrrp.priority", Total::Lead),
    ("vrrp.master_adver_int_cs", Total::Lead),
    ("vrrp.master_down_ms", Total::Lead),
    ("vrrp.mirrored_master", Total::Lead),
    ("vrrp.state", Total::Lead),
];

/// Whether `name` is a server's open connections in an L7 or TLS pool:
/// `l7.pool.<pool>.<server>.active` or `tls.pool.<pool>.<server>.active`.
fn pool_server_active(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("l7.pool.")
        .or_else(|| name.strip_prefix("tls.pool."))
    else {
        return false;
    };
    // a pool's name, a dot, a server's address (with dots of its own), `.active`
    rest.strip_suffix(".active")
        .is_some_and(|r| r.contains('.'))
}

/// How the shards total the level `name`, or `None` when the line counts events.
pub fn level(name: &str) -> Option<Total> {
    if pool_server_active(name) {
        return Some(Total::Sum);
    }
    LEVELS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Whether the `status` line `name` (without a `worker<k>.` prefix) is a level.
pub fn is_gauge(name: &str) -> bool {
    level(name).is_some()
}

/// The levels among `status` lines, in order, after checking that the listing has `lines`
/// lines in all (so that a test of a producer fails when a line is added, until it is
/// classified here or counted as an event there).
#[cfg(test)]
pub fn levels_of(status: &str, lines: usize) -> Vec<&str> {
    assert_eq!(
        status.lines().count(),
        lines,
        "a new status line: a level?\n{status}"
    );
    status
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, _)| n)
        .filter(|n| is_gauge(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_events() {
        for name in [
            "director.connections",
            "l7.live",
            "tls.splice.live",
            "tls.sessions",
            "tls.tickets",
            "agent.sources",
            "workers",
            "vrrp.priority",
            "vrrp.mirrored_master",
            "l7.pool.api.198.18.1.11:80.active",
            "tls.pool.web.198.18.1.12:443.active",
        ] {
            assert!(is_gauge(name), "{name}");
        }
        for name in [
            "rx.frames",
            "drop.parse",
            "director.expired",
            "l7.accepted",
            "l7.closed",
            "l7.pool.api.requests",
            // connections scheduled on the pool since start, not open ones
            "tls.pool.web.connections",
            // a pool named `active`: its requests are events
            "l7.pool.active.requests",
            "tls.learned",
            "tls.evicted",
            "vrrp.rx_adverts",
            "vrrp.became_master",
            "agent.rounds",
            "workers.view_timeouts",
            "http_login_failed",
        ] {
            assert!(!is_gauge(name), "{name}");
        }
    }

    /// The levels the merge does not sum are exactly its kept lines (and `vrrp.state`, which
    /// is kept for not being a number).
    #[test]
    fn the_merge_keeps_the_settings_and_sums_the_rest() {
        for (name, t) in LEVELS {
            let kept = crate::status_merge::KEPT.contains(name);
            match t {
                Total::Lead => assert!(kept || *name == "vrrp.state", "{name} is summed"),
                Total::Sum | Total::Process => assert!(!kept, "{name} is not summed"),
            }
        }
        for name in crate::status_merge::KEPT {
            assert_eq!(level(name), Some(Total::Lead), "{name}");
        }
    }

    /// Merged over two shards, each level is the sum or worker 0's, as [`level`] says.
    #[test]
    fn merged_levels_are_sums_or_the_leads() {
        let mut names: Vec<&str> = LEVELS
            .iter()
            .filter(|(_, t)| *t != Total::Process)
            .map(|(n, _)| *n)
            .collect();
        names.push("l7.pool.api.198.18.1.11:80.active");
        names.push("tls.pool.web.198.18.1.12:443.active");
        let shard = |v: u64| -> String {
            names
                .iter()
                .map(|n| match *n {
                    "vrrp.state" => format!("{n} master\n"),
                    _ => format!("{n} {v}\n"),
                })
                .collect()
        };
        let (lead, other) = (shard(3), shard(5));
        let merged = crate::status_merge::merge(&[(0, &lead), (1, &other)], "");
        let line = |n: &str| -> &str {
            merged
                .lines()
                .find_map(|l| l.strip_prefix(n)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("no {n} in\n{merged}"))
        };
        for n in names {
            match (n, level(n)) {
                ("vrrp.state", _) => assert_eq!(line(n), "master"),
                (_, Some(Total::Sum)) => assert_eq!(line(n), "8", "{n} summed"),
                (_, Some(Total::Lead)) => assert_eq!(line(n), "3", "{n} worker 0's"),
                (_, t) => panic!("{n}: {t:?}"),
            }
        }
    }
}
