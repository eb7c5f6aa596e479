//! Read-only views over every shard (`--workers N`): the ipvsadm listings (`-L`, `--stats`,
//! `--rate`, `-c`), the stats listing (SIGUSR1, exit) and the management plane's snapshot
//! (status page, JSON API, Prometheus metrics, SNMP) show one table, as the kernel does, not
//! worker 0's shard; `status` sums every shard's counters and lists each shard's as
//! `worker<k>.<name>`, read at the time ([`Ask::Status`], [`crate::status_merge`]).
//!
//! Worker 0 (the lead) answers these on its own thread. For one it asks every other worker for
//! a [`ShardView`] over the channel the rules go down ([`crate::workers::Msg::View`]) and wakes
//! it; a worker answers between two bursts (its loop reads its messages after each pass), so
//! nothing on the packet path takes a lock. The lead waits for the answers at most
//! [`VIEW_TIMEOUT`] in all; a shard that misses it is left out of that view and counted
//! (`workers.view_timeouts`). While it waits, worker 0's own frames wait in its rings.
//!
//! Merging: the lead's rules are the ones listed (a shard's service or real server the lead
//! does not have, mirrored a moment ago or not yet, is left out); each service's and real
//! server's counters, rates (the sum of the shards' 2 s estimates) and active, inactive and
//! persistent counts are summed over the shards; connections are the lead's followed by each
//! other shard's, in worker order (ipvsadm's `-c` lists in hash-table order anyway); the
//! table's fill and capacity are summed. `-Z` zeroes every shard's counters
//! ([`crate::workers::Msg::Zero`]).

use crate::control::{self, ListOpts};
use crate::daemon::{ms_instant, Daemon};
use lvs_core::ipvsadm::{DestRow, ServiceRow};
use lvs_core::stats::{Counters, Rates};
use std::time::Duration;

/// How long the lead waits for every other shard's answer to one view.
pub const VIEW_TIMEOUT: Duration = Duration::from_secs(1);

/// One service's listing row with its real servers.
pub type Row = ServiceRow<'static, Vec<DestRow>>;

/// What a view needs of a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Services, real servers, totals and table fill.
    Rows,
    /// The connection lines too (`-L -c`; `pe`: `--persistent-conn`).
    Conns {
        /// `--persistent-conn`.
        pe: bool,
        /// The TLS persistence engine's entries too (`--persistent-conn` of every service).
        tls: bool,
    },
    /// Its `status` lines only.
    Status,
}

/// One shard's state for a view (or, merged, every shard's).
#[derive(Debug, Default)]
pub struct ShardView {
    /// Its services and real servers.
    pub rows: Vec<Row>,
    /// With [`Ask::Conns`], its `ipvsadm -L -n -c` lines without the two title lines.
    pub conns: String,
    /// Counters over all its services (`/proc/net/ip_vs_stats`).
    pub total: Counters,
    /// Rates over all its services.
    pub total_rates: Rates,
    /// Connection-table entries in use.
    pub table_len: usize,
    /// Connection-table capacity.
    pub table_cap: usize,
    /// With [`Ask::Status`], its `status` lines.
    pub status: String,
}

fn add_counters(a: &mut Counters, b: &Counters) {
    a.conns = a.conns.saturating_add(b.conns);
    a.inpkts = a.inpkts.saturating_add(b.inpkts);
    a.outpkts = a.outpkts.saturating_add(b.outpkts);
    a.inbytes = a.inbytes.saturating_add(b.inbytes);
    a.outbytes = a.outbytes.saturating_add(b.outbytes);
}

fn add_rates(a: &mut Rates, b: &Rates) {
    a.cps = a.cps.saturating_add(b.cps);
    a.inpps = a.inpps.saturating_add(b.inpps);
    a.outpps = a.outpps.saturating_add(b.outpps);
    a.inbps = a.inbps.saturating_add(b.inbps);
    a.outbps = a.outbps.saturating_add(b.outbps);
}

/// Adds `from`'s counters, rates and connection counts to the same services and real servers
/// in `into` (services and real servers only in `from` are left out).
pub fn merge_rows(into: &mut [Row], from: &[Row]) {
    let by_key: std::collections::HashMap<_, _> = from.iter().map(|r| (r.key, r)).collect();
    for row in into.iter_mut() {
        let Some(other) = by_key.get(&row.key) else {
            continue;
        };
        add_counters(&mut row.counters, &other.counters);
        add_rates(&mut row.rates, &other.rates);
        for d in &mut row.dests {
            let Some(o) = other.dests.iter().find(|o| o.addr == d.addr) else {
                continue;
            };
            d.active = d.active.saturating_add(o.active);
            d.inactive = d.inactive.saturating_add(o.inactive);
            d.persistent = d.persistent.saturating_add(o.persistent);
            add_counters(&mut d.counters, &o.counters);
            add_rates(&mut d.rates, &o.rates);
        }
    }
}

impl ShardView {
    /// Adds another shard's view to this one.
    pub fn merge(&mut self, other: &ShardView) {
        merge_rows(&mut self.rows, &other.rows);
        self.conns.push_str(&other.conns);
        add_counters(&mut self.total, &other.total);
        add_rates(&mut self.total_rates, &other.total_rates);
        self.table_len = self.table_len.saturating_add(other.table_len);
        self.table_cap = self.table_cap.saturating_add(other.table_cap);
    }
}

/// `text` without its first two lines (the titles of a connection listing).
fn without_titles(text: &str) -> &str {
    text.splitn(3, '\n').nth(2).unwrap_or("")
}

impl Daemon<'_> {
    /// This shard's view: its rows as `opts` selects and sorts them, with [`Ask::Conns`] its
    /// connection lines.
    pub(crate) fn own_view(&self, ask: Ask, opts: &ListOpts) -> ShardView {
        if ask == Ask::Status {
            return ShardView {
                status: self.shard_status(),
                ..ShardView::default()
            };
        }
        let mut conns = String::new();
        if let Ask::Conns { pe, tls } = ask {
            let mut all = String::new();
            let _ = self
                .dir
                .write_conns_mode(&mut all, ms_instant(self.now_ms()), pe);
            conns.push_str(without_titles(&all));
            if tls {
                self.tls_listing(&mut conns);
            }
        }
        let total = self.dir.total_stats();
        ShardView {
            rows: control::rows(&self.dir, opts),
            conns,
            total: total.counters,
            total_rates: total.rates(),
            table_len: self.dir.table().len(),
            table_cap: self.dir.table().capacity(),
            status: String::new(),
        }
    }

    /// Every shard's view merged: this one's (rows as `opts` selects and sorts them) with every
    /// other worker's ([`Daemon::workers_ask`]).
    pub(crate) fn view(&self, ask: Ask, opts: &ListOpts) -> ShardView {
        let mut v = self.own_view(ask, opts);
        for (_, other) in self.workers_ask(ask) {
            v.merge(&other);
        }
        v
    }

    /// An `ipvsadm -L` listing over every shard, with ipvsadm's exit code.
    pub(crate) fn list_all(&self, opts: &ListOpts) -> control::Exit {
        if opts.conns {
            let pe = opts.mode == lvs_core::ipvsadm::ListMode::PersistentConn;
            let tls = pe && opts.service.is_none();
            let v = self.view(Ask::Conns { pe, tls }, opts);
            let mut out = String::new();
            let _ = lvs_core::ipvsadm::write_conns_mode(&mut out, std::iter::empty(), pe);
            out.push_str(&v.conns);
            return (control::exit::OK, out);
        }
        let v = self.view(Ask::Rows, opts);
        let cap = self.dir.table().capacity();
        control::list_rows(v.rows, cap, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_core::ipvsadm::ListMode;
    use lvs_core::{Endpoint, FwdMethod, Protocol, ServiceConfig, ServiceKey};

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Addr {
            proto: Protocol::Tcp,
            vip: Endpoint::v4([198, 18, 2, 10], port),
        }
    }

    /// A service with two real servers, each with `n` active and `n` inactive connections,
    /// `n` scheduled and `n * 10` packets in; the service the sums.
    fn row(port: u16, n: u32) -> Row {
        let dests = [11u8, 12]
            .iter()
            .map(|h| {
                let mut d = DestRow::new(Endpoint::v4([198, 18, 1, *h], 80), FwdMethod::Masq, 1);
                d.active = n;
                d.inactive = n;
                d.counters.conns = u64::from(n);
                d.counters.inpkts = u64::from(n) * 10;
                d.rates.cps = u64::from(n);
                d
            })
            .collect();
        let mut r = ServiceRow::new(&ServiceConfig::new(key(port)), "rr", dests);
        r.counters.conns = u64::from(n) * 2;
        r.counters.inpkts = u64::from(n) * 20;
        r.rates.cps = u64::from(n) * 2;
        r
    }

    #[test]
    fn shards_sum_per_service_and_real_server() {
        let mut lead = vec![row(80, 3), row(8080, 1)];
        // the other shard lacks 8080 (not mirrored yet) and has 443 (removed on the lead)
        let other = vec![row(443, 9), row(80, 4)];
        merge_rows(&mut lead, &other);
        assert_eq!(lead.len(), 2);
        assert_eq!(lead[0].key, key(80));
        assert_eq!(lead[0].counters.conns, 14);
        assert_eq!(lead[0].counters.inpkts, 140);
        assert_eq!(lead[0].rates.cps, 14);
        for d in &lead[0].dests {
            assert_eq!((d.active, d.inactive, d.counters.conns), (7, 7, 7));
            assert_eq!((d.counters.inpkts, d.rates.cps), (70, 7));
        }
        // unchanged where the other shard has nothing
        assert_eq!(lead[1].counters.conns, 2);
        assert_eq!(lead[1].dests[0].active, 1);
    }

    #[test]
    fn listing_of_merged_views_is_one_table() {
        let mut a = ShardView {
            rows: vec![row(80, 3)],
            conns: "TCP 14:59  ESTABLISHED a\n".into(),
            table_len: 6,
            table_cap: 100,
            ..ShardView::default()
        };
        a.total.conns = 6;
        let mut b = ShardView {
            rows: vec![row(80, 2)],
            conns: "TCP 14:59  ESTABLISHED b\nTCP 01:59  TIME_WAIT   c\n".into(),
            table_len: 4,
            table_cap: 100,
            ..ShardView::default()
        };
        b.total.conns = 4;
        a.merge(&b);
        assert_eq!(a.conns.lines().count(), 3);
        assert_eq!((a.table_len, a.table_cap, a.total.conns), (10, 200, 10));
        let opts = ListOpts {
            mode: ListMode::Stats { exact: false },
            ..ListOpts::default()
        };
        let (code, out) = control::list_rows(a.rows, 100, &opts);
        assert_eq!(code, control::exit::OK);
        // one service line and two real-server lines, with the summed connection counts
        let svc = out.lines().find(|l| l.starts_with("TCP")).unwrap_or("");
        assert!(svc.split_whitespace().nth(2) == Some("10"), "{out}");
        assert_eq!(out.lines().filter(|l| l.contains("->")).count(), 3, "{out}");
    }

    #[test]
    fn connection_titles_are_cut_once() {
        let mut out = String::new();
        let _ = lvs_core::ipvsadm::write_conns_mode(&mut out, std::iter::empty(), false);
        assert_eq!(without_titles(&out), "");
        out.push_str("TCP x\n");
        assert_eq!(without_titles(&out), "TCP x\n");
        assert_eq!(without_titles(""), "");
    }
}
