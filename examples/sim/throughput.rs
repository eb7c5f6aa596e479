//! The throughput experiment: file downloads through a bandwidth-limited director.

use super::*;

/// A file set of the throughput experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSet {
    /// Name.
    pub name: String,
    /// File sizes in bytes, drawn uniformly.
    pub sizes: Vec<u64>,
}

impl FileSet {
    /// The published sets: `light`, `heavy`, `mixed`.
    pub fn named(name: &str) -> Option<FileSet> {
        const K: u64 = 1000;
        let sizes = match name {
            "light" => vec![76 * K, 103 * K, 505 * K, 1_800 * K],
            "heavy" => vec![41 * K, 4_000 * K, 10_000 * K, 50_000 * K],
            "mixed" => (1..=10).map(|i| i * 100 * K).chain([10_000 * K]).collect(),
            _ => return None,
        };
        Some(FileSet {
            name: name.to_string(),
            sizes,
        })
    }
}

/// The per-request setup time fitted to the thesis's rr/light/2-server point (1281 output
/// packets/s with four clients downloading one file at a time), ms.
pub const THESIS_SETUP_MS: f64 = 660.0;

/// Concurrent downloads per client in the thesis (four clients, one download loop each).
pub const THESIS_STREAMS: u32 = 1;

/// The throughput experiment's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputConfig {
    /// Seed.
    pub seed: u64,
    /// Schedulers.
    pub schedulers: Vec<SchedKind>,
    /// Server counts.
    pub server_counts: Vec<usize>,
    /// File sets.
    pub sets: Vec<FileSet>,
    /// The director's internal link, Mbit/s.
    pub link_mbps: f64,
    /// What one real server can serve, Mbit/s (disk, CPU and NIC together).
    pub server_mbps: f64,
    /// Per-request setup time at a server, ms; a server prepares one request at a time (the
    /// throughput model's one fitted parameter, docs/simulation.md).
    pub server_setup_ms: f64,
    /// Each client's NIC, Mbit/s.
    pub client_mbps: f64,
    /// Clients.
    pub clients: u32,
    /// Concurrent downloads per client: the offered-load sweep (one run per value).
    pub streams: Vec<u32>,
    /// Round-trip time, ms.
    pub rtt_ms: f64,
    /// Warm-up before measuring, s.
    pub warmup_s: f64,
    /// Measured window, s.
    pub window_s: f64,
    /// Make every other server twice as fast (weights 2 for wrr and wlc).
    pub hetero: bool,
}

impl Default for ThroughputConfig {
    fn default() -> Self {
        ThroughputConfig {
            seed: 1,
            schedulers: vec![SchedKind::Rr, SchedKind::Wrr, SchedKind::Lc],
            server_counts: (2..=8).collect(),
            sets: ["light", "heavy", "mixed"]
                .iter()
                .filter_map(|s| FileSet::named(s))
                .collect(),
            link_mbps: 100.0,
            server_mbps: 100.0,
            server_setup_ms: THESIS_SETUP_MS,
            client_mbps: 100.0,
            clients: 4,
            streams: vec![1, 2, 4, 8],
            rtt_ms: 0.5,
            warmup_s: 20.0,
            window_s: 120.0,
            hetero: false,
        }
    }
}

impl ThroughputConfig {
    /// Checks that the parameters describe a possible testbed.
    ///
    /// # Errors
    /// [`SimError::BadConfig`] naming the first impossible parameter.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |s: String| Err(SimError::BadConfig(s));
        if self.server_counts.is_empty()
            || self
                .server_counts
                .iter()
                .any(|&n| n == 0 || n > MAX_SERVERS)
        {
            return bad(format!("--servers-list: server counts 1..={MAX_SERVERS}"));
        }
        if !(1..=1000).contains(&self.clients)
            || self.streams.is_empty()
            || self.streams.iter().any(|s| !(1..=1000).contains(s))
        {
            return bad("--clients, --streams: 1..=1000 each".into());
        }
        for (name, v) in [
            ("link-mbps", self.link_mbps),
            ("server-mbps", self.server_mbps),
            ("client-mbps", self.client_mbps),
            ("window-s", self.window_s),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 1e6) {
                return bad(format!("--{name} {v}: must be above 0"));
            }
        }
        for (name, v) in [
            ("setup-ms", self.server_setup_ms),
            ("rtt-ms", self.rtt_ms),
            ("warmup-s", self.warmup_s),
        ] {
            if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
                return bad(format!("--{name} {v}: must be a number from 0 to 1000000"));
            }
        }
        if self.sets.is_empty() || self.sets.iter().any(|s| s.sizes.is_empty()) {
            return bad("--sets: at least one non-empty file set".into());
        }
        if self.schedulers.is_empty() {
            return bad("--schedulers: at least one".into());
        }
        Ok(())
    }
}

/// One measured point.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputRow {
    /// Scheduler.
    pub sched: &'static str,
    /// Real servers.
    pub servers: usize,
    /// File set.
    pub set: String,
    /// Concurrent downloads per client (the offered load).
    pub streams: u32,
    /// Connections per second.
    pub cps: f64,
    /// Output (director to clients) bytes per second.
    pub out_bps: f64,
    /// Output packets per second.
    pub out_pps: f64,
}

/// The throughput experiment's results.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputResult {
    /// Points, in configuration order.
    pub rows: Vec<ThroughputRow>,
    /// Link capacity in bytes per second.
    pub link_bps: f64,
}

impl ThroughputResult {
    /// CSV with the header `scheduler,servers,file_set,cps,out_bps,out_pps`.
    pub fn csv(&self) -> String {
        let mut s = String::from("scheduler,servers,file_set,streams,cps,out_bps,out_pps\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{:.3},{:.0},{:.1}",
                r.sched, r.servers, r.set, r.streams, r.cps, r.out_bps, r.out_pps
            );
        }
        s
    }

    /// The largest output packet rate over the offered-load sweep for each scheduler, file
    /// set and server count (the thesis reports the maximum over its load range), in row order.
    pub fn peaks(&self) -> Vec<&ThroughputRow> {
        let mut out: Vec<&ThroughputRow> = Vec::new();
        for r in &self.rows {
            match out
                .iter_mut()
                .find(|p| p.sched == r.sched && p.set == r.set && p.servers == r.servers)
            {
                Some(p) if p.out_pps < r.out_pps => *p = r,
                Some(_) => {}
                None => out.push(r),
            }
        }
        out
    }

    /// A plain-text table of the rows at the thesis's offered load, with the thesis's point
    /// where it gives one.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<5} {:>7} {:<6} {:>7} {:>9} {:>10} {:>10} {:>8} {:>12}",
            "sched",
            "servers",
            "set",
            "streams",
            "conn/s",
            "out MB/s",
            "out pkt/s",
            "of link",
            "thesis pkt/s"
        );
        let points = thesis_points();
        for r in self.rows.iter().filter(|r| r.streams == THESIS_STREAMS) {
            let thesis = points
                .iter()
                .find(|p| {
                    p.sched == r.sched
                        && p.set == r.set
                        && p.servers == r.servers
                        && p.out_pps > 0.0
                })
                .map_or(String::from("-"), |p| format!("{:.0}", p.out_pps));
            let _ = writeln!(
                s,
                "{:<5} {:>7} {:<6} {:>7} {:>9.2} {:>10.3} {:>10.0} {:>7.1}% {:>12}",
                r.sched,
                r.servers,
                r.set,
                r.streams,
                r.cps,
                r.out_bps / 1e6,
                r.out_pps,
                100.0 * r.out_bps / self.link_bps,
                thesis
            );
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TpEv {
    Start(u32),
    Ready(u32),
    Done(u64),
    Emit,
    Expire,
    Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowState {
    Free,
    Pending,
    Active,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Flow {
    state: FlowState,
    stream: u32,
    server: usize,
    port: u16,
    size: u64,
    sent: f64,
    emitted: u64,
    rate: f64,
}

/// Runs every combination of the throughput experiment.
///
/// # Errors
/// [`SimError::BadConfig`] for inconsistent parameters, [`SimError::Director`] if the director
/// refuses its setup.
pub fn run_throughput(cfg: &ThroughputConfig) -> Result<ThroughputResult, SimError> {
    cfg.validate()?;
    let mut rows = Vec::new();
    for set in &cfg.sets {
        for &sched in &cfg.schedulers {
            for &n in &cfg.server_counts {
                for &streams in &cfg.streams {
                    rows.push(run_throughput_point(cfg, sched, n, set, streams)?);
                }
            }
        }
    }
    Ok(ThroughputResult {
        rows,
        link_bps: cfg.link_mbps * 1e6 / 8.0,
    })
}

/// Max-min fair rates (payload bytes/µs) for the active flows under the link, per-server and
/// per-client capacities, by progressive filling.
pub(crate) fn fair_rates(flows: &mut [Flow], caps: &Caps, streams: u32) {
    // constraints: 0 = link, 1..=servers, then clients
    let ns = caps.server.len();
    let mut cap: Vec<f64> = std::iter::once(caps.link)
        .chain(caps.server.iter().copied())
        .chain(std::iter::repeat_n(caps.client, caps.clients))
        .collect();
    let members = |f: &Flow| [0usize, 1 + f.server, 1 + ns + (f.stream / streams) as usize];
    let mut open: Vec<bool> = flows.iter().map(|f| f.state == FlowState::Active).collect();
    for f in flows.iter_mut() {
        f.rate = 0.0;
    }
    let mut count = vec![0usize; cap.len()];
    loop {
        count.iter_mut().for_each(|c| *c = 0);
        for (f, &o) in flows.iter().zip(&open) {
            if o {
                for m in members(f) {
                    count[m] += 1;
                }
            }
        }
        let mut best: Option<(f64, usize)> = None;
        for (k, &c) in count.iter().enumerate() {
            if c > 0 {
                let share = cap[k].max(0.0) / c as f64;
                if best.is_none_or(|(b, _)| share < b) {
                    best = Some((share, k));
                }
            }
        }
        let Some((share, k)) = best else { break };
        for (i, f) in flows.iter_mut().enumerate() {
            if open[i] && members(f).contains(&k) {
                f.rate = share;
                open[i] = false;
                for m in members(f) {
                    cap[m] -= share;
                }
            }
        }
    }
}

pub(crate) struct Caps {
    link: f64,
    server: Vec<f64>,
    client: f64,
    clients: usize,
}

pub(crate) fn run_throughput_point(
    cfg: &ThroughputConfig,
    sched: SchedKind,
    n: usize,
    set: &FileSet,
    streams: u32,
) -> Result<ThroughputRow, SimError> {
    let fast = |i: usize| cfg.hetero && i % 2 == 1;
    let weights: Vec<u32> = (0..n).map(|i| if fast(i) { 2 } else { 1 }).collect();
    let mut mem = OwnedMemory::<SimSched>::new(1 << 15, 1, n);
    let (built, _) = sched.build(cfg.seed, P2cConfig::DEFAULT);
    let (mut dir, _svc, _) = setup(&mut mem, cfg.seed, built, &weights, FwdMethod::Masq)?;
    // capacities in payload bytes per µs (the wire also carries 40 header bytes per segment)
    let wire = (MSS + HDR) as f64 / MSS as f64;
    let caps = Caps {
        link: cfg.link_mbps / 8.0 / wire,
        server: (0..n)
            .map(|i| cfg.server_mbps / 8.0 / wire * if fast(i) { 2.0 } else { 1.0 })
            .collect(),
        client: cfg.client_mbps / 8.0 / wire,
        clients: cfg.clients as usize,
    };
    let streams_total = cfg.clients * streams;
    let mut rng: Vec<Rng> = (0..streams_total)
        .map(|s| Rng::new(cfg.seed, 10_000_000 + s as u64))
        .collect();
    let mut port = vec![0u32; streams_total as usize];
    let mut flows: Vec<Flow> = Vec::new();
    let mut free_slots: Vec<u32> = Vec::new();
    let mut q: Queue<TpEv> = Queue::new();
    for s in 0..streams_total {
        // stagger the streams over the first 100 ms
        q.push(s as u64 * 100_000 / streams_total as u64, TpEv::Start(s));
    }
    let emit_us = 10_000u64;
    q.push(emit_us, TpEv::Emit);
    q.push(1_000_000, TpEv::Expire);
    let warm = (cfg.warmup_s * 1e6) as u64;
    let end = warm + (cfg.window_s * 1e6) as u64;
    q.push(warm, TpEv::Mark);
    q.push(end, TpEv::Mark);
    let mut marks = Vec::new();
    let mut last = 0u64;
    let mut gen = 0u64;
    let rtt = (cfg.rtt_ms * 1000.0) as u64;
    let setup_us = (cfg.server_setup_ms * 1000.0) as u64;
    // each server prepares one request at a time (FIFO): when its worker is free again
    let mut setup_free = vec![0u64; n];
    let client_of = move |s: u32| s / streams;
    while let Some((now, ev)) = q.pop() {
        if now > end {
            break;
        }
        // progress every active flow to `now`, emitting the segments it has sent
        let dt = (now - last) as f64;
        last = now;
        for f in flows.iter_mut().filter(|f| f.state == FlowState::Active) {
            f.sent = (f.sent + f.rate * dt).min(f.size as f64);
            let whole = if f.sent >= f.size as f64 - 0.5 {
                f.size
            } else {
                f.sent as u64
            };
            let (full, rest) = segments(whole);
            let target = full + u64::from(whole == f.size && rest > 0);
            if f.emitted < target {
                let ep = client_ep(client_of(f.stream), f.port);
                let rs = rs_addr(f.server);
                while f.emitted < target {
                    let len = if f.emitted < full { MSS } else { rest };
                    outbound(&mut dir, now, rs, ep, TcpFlags::ACK, (len + HDR) as u32);
                    f.emitted += 1;
                    // a delayed ACK for every second segment
                    if f.emitted % 2 == 0 || f.emitted == target {
                        inbound(&mut dir, now, ep, TcpFlags::ACK, HDR as u32);
                    }
                }
            }
        }
        let mut reshare = false;
        match ev {
            TpEv::Start(s) => {
                let r = &mut rng[s as usize];
                let size = set.sizes[r.below(set.sizes.len() as u64) as usize];
                // each stream of a client cycles through its own range of source ports
                let span = (64_000 / streams).max(1);
                let p = &mut port[s as usize];
                *p = (*p + 1) % span;
                let p = (1024 + (s % streams) * span + *p) as u16;
                let ep = client_ep(client_of(s), p);
                match syn(&mut dir, now, ep) {
                    Some(d) => {
                        let server = d.index();
                        outbound(&mut dir, now, rs_addr(server), ep, SYNACK, 60);
                        inbound(&mut dir, now, ep, PSHACK, 300);
                        let flow = Flow {
                            state: FlowState::Pending,
                            stream: s,
                            server,
                            port: p,
                            size,
                            sent: 0.0,
                            emitted: 0,
                            rate: 0.0,
                        };
                        let idx = match free_slots.pop() {
                            Some(i) => {
                                flows[i as usize] = flow;
                                i
                            }
                            None => {
                                flows.push(flow);
                                (flows.len() - 1) as u32
                            }
                        };
                        let ready = (now + rtt).max(setup_free[server]) + setup_us;
                        setup_free[server] = ready;
                        q.push(ready, TpEv::Ready(idx));
                    }
                    None => q.push(now + 1_000_000, TpEv::Start(s)),
                }
            }
            TpEv::Ready(i) => {
                flows[i as usize].state = FlowState::Active;
                reshare = true;
            }
            TpEv::Done(g) => {
                if g == gen {
                    for (k, f) in flows.iter_mut().enumerate() {
                        if f.state == FlowState::Active
                            && f.emitted >= segments(f.size).0 + u64::from(f.size % MSS > 0)
                        {
                            let ep = client_ep(client_of(f.stream), f.port);
                            let rs = rs_addr(f.server);
                            outbound(&mut dir, now, rs, ep, FINACK, 40);
                            inbound(&mut dir, now, ep, FINACK, 40);
                            outbound(&mut dir, now, rs, ep, TcpFlags::ACK, 40);
                            q.push(now + rtt, TpEv::Start(f.stream));
                            f.state = FlowState::Free;
                            free_slots.push(k as u32);
                        }
                    }
                    reshare = true;
                }
            }
            TpEv::Emit => q.push(now + emit_us, TpEv::Emit),
            TpEv::Expire => {
                expire(&mut dir, now);
                q.push(now + 1_000_000, TpEv::Expire);
            }
            TpEv::Mark => marks.push(dir.total_stats().counters),
        }
        if reshare {
            fair_rates(&mut flows, &caps, streams);
            gen += 1;
            let next = flows
                .iter()
                .filter(|f| f.state == FlowState::Active && f.rate > 0.0)
                .map(|f| (f.size as f64 - f.sent).max(0.0) / f.rate)
                .min_by(|a, b| a.total_cmp(b));
            if let Some(dt) = next {
                q.push(now + dt.ceil() as u64, TpEv::Done(gen));
            }
        }
    }
    let (a, b) = match marks.as_slice() {
        [a, b, ..] => (*a, *b),
        _ => return Err(SimError::BadConfig("window did not complete".into())),
    };
    let w = cfg.window_s;
    Ok(ThroughputRow {
        sched: sched.name(),
        servers: n,
        set: set.name.clone(),
        streams,
        cps: (b.conns - a.conns) as f64 / w,
        out_bps: (b.outbytes - a.outbytes) as f64 / w,
        out_pps: (b.outpkts - a.outpkts) as f64 / w,
    })
}
