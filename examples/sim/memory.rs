//! The memory-balance experiment: Apache/Perl-CGI servers behind the director.

use super::*;

/// The memory-balance experiment's parameters (defaults: the published testbed; the model is
/// documented in docs/simulation.md).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// Seed.
    pub seed: u64,
    /// Physical memory of each server, MB (one entry per server).
    pub mem_mb: Vec<f64>,
    /// CPU speed of each server relative to the reference (1.0), one entry per server.
    pub cpu_speed: Vec<f64>,
    /// Memory in use without any httpd process (kernel, daemons, cache floor), MB.
    pub base_mb: f64,
    /// Free memory the kernel keeps before it swaps (watermark), MB.
    pub min_free_mb: f64,
    /// Resident memory of one httpd process, MB.
    pub httpd_mb: f64,
    /// Memory of one CGI child, MB.
    pub cgi_mb: f64,
    /// CPU slowdown per unit of swapped-out fraction of memory.
    pub swap_slowdown: f64,
    /// Apache prefork: StartServers, MinSpareServers, MaxSpareServers, MaxClients.
    pub apache: [u32; 4],
    /// Virtual clients created per batch.
    pub clients_per_batch: u32,
    /// Seconds between batches.
    pub batch_interval_s: f64,
    /// Seconds during which batches are created.
    pub duration_s: f64,
    /// HTML page visits (each followed by `gifs_per_page` images), board reads and posts per
    /// agenda.
    pub agenda: [u32; 3],
    /// Images per page.
    pub gifs_per_page: u32,
    /// Mean think time between page views, s.
    pub think_s: f64,
    /// Client round-trip time, ms.
    pub rtt_ms: f64,
    /// Client bandwidth, kbit/s.
    pub client_kbps: f64,
    /// Mean memory per connection the published controllers assume, KiB.
    pub mem_per_conn_kb: u32,
    /// The variants to compare.
    pub variants: Vec<Variant>,
    /// Sampling period of the free-memory series, s.
    pub sample_s: f64,
    /// Settings of the LVS dynamic feedback controller.
    pub classic: ClassicConfig,
    /// Settings of the headroom controller (its memory per connection is `mem_per_conn_kb`).
    pub headroom: HeadroomConfig,
    /// Settings of the p2c scheduler.
    pub p2c: P2cConfig,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        let k = 100;
        MemoryConfig {
            seed: 1,
            mem_mb: vec![128.0; 2],
            cpu_speed: vec![1.0; 2],
            base_mb: 32.0,
            min_free_mb: 2.0,
            httpd_mb: 3.6,
            cgi_mb: 1.7,
            swap_slowdown: 20.0,
            apache: [5, 5, 10, 150],
            clients_per_batch: 100,
            batch_interval_s: 30.0,
            duration_s: 900.0,
            agenda: [8, 4, 4],
            gifs_per_page: 3,
            think_s: 7.0,
            rtt_ms: 80.0,
            client_kbps: 1000.0,
            mem_per_conn_kb: 3500,
            variants: [
                "wlc",
                "rr",
                "wlc+alt1@60",
                "wlc+alt2@60",
                "wlc+lvs-dfb@5",
                "wlc+alt2@2",
                "wlc+headroom@2",
                "twos",
                "p2c:3500:0@1",
                "p2c@1",
            ]
            .iter()
            .filter_map(|s| Variant::parse(s, k, 60.0))
            .collect(),
            sample_s: 1.0,
            classic: ClassicConfig::DEFAULT,
            headroom: HeadroomConfig::DEFAULT,
            p2c: P2cConfig::DEFAULT,
        }
    }
}

/// Per-variant result of the memory-balance experiment.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MemEv {
    ClientStart(u32),
    ClientNext(u32),
    Arrive(u32),
    CpuDone(u16, u64),
    XferDone(u32),
    Maintain(u16),
    Report,
    Sample,
    Expire,
}

#[derive(Debug, Default)]
pub(crate) struct Httpd {
    total_mb: f64,
    speed: f64,
    pool: u32,
    busy: u32,
    cgi: u32,
    backlog: VecDeque<u32>,
    jobs: Vec<(u32, f64)>,
    last_us: u64,
    gen: u64,
    spawn_rate: u32,
    busy_us: u64,
    report_from_us: u64,
    max_swapped: f64,
}

pub(crate) struct MemSim<'c> {
    cfg: &'c MemoryConfig,
    q: Queue<MemEv>,
    clients: Vec<Client>,
    reqs: Vec<Req>,
    free_reqs: Vec<u32>,
    srv: Vec<Httpd>,
    requests: u64,
    latency_sum_us: u64,
    live_clients: u32,
}

impl Httpd {
    fn used_mb(&self, c: &MemoryConfig) -> f64 {
        c.base_mb + c.httpd_mb * self.pool as f64 + c.cgi_mb * self.cgi as f64
    }
    fn swapped_mb(&self, c: &MemoryConfig) -> f64 {
        (self.used_mb(c) - (self.total_mb - c.min_free_mb)).max(0.0)
    }
    fn free_mb(&self, c: &MemoryConfig) -> f64 {
        (self.total_mb - self.used_mb(c)).max(c.min_free_mb.min(self.total_mb))
    }
    /// Memory the running processes touch: the base, busy httpd processes and CGI children
    /// (idle processes are the kernel's first victims and cost nothing when swapped out).
    fn working_set_mb(&self, c: &MemoryConfig) -> f64 {
        c.base_mb + c.httpd_mb * self.busy as f64 + c.cgi_mb * self.cgi as f64
    }
    /// Working set that does not fit: every CPU step of a running process waits for page-ins.
    fn thrash_mb(&self, c: &MemoryConfig) -> f64 {
        (self.working_set_mb(c) - (self.total_mb - c.min_free_mb)).max(0.0)
    }
    /// CPU progress per µs of a lone job.
    fn rate(&self, c: &MemoryConfig) -> f64 {
        self.speed / (1.0 + c.swap_slowdown * self.thrash_mb(c) / self.total_mb)
    }
    fn advance(&mut self, c: &MemoryConfig, now: u64) {
        let dt = now.saturating_sub(self.last_us);
        if dt > 0 && !self.jobs.is_empty() {
            let per = dt as f64 * self.rate(c) / self.jobs.len() as f64;
            for j in &mut self.jobs {
                j.1 -= per;
            }
            self.busy_us += dt;
        }
        self.last_us = now;
    }
}

impl<'c> MemSim<'c> {
    fn reschedule(&mut self, s: usize, now: u64) {
        let h = &mut self.srv[s];
        h.gen += 1;
        if let Some(min) = h.jobs.iter().map(|j| j.1).min_by(|a, b| a.total_cmp(b)) {
            let dt = (min.max(0.0) * h.jobs.len() as f64 / h.rate(self.cfg)).ceil() as u64;
            let g = h.gen;
            self.q.push(now + dt, MemEv::CpuDone(s as u16, g));
        }
    }

    fn start(&mut self, s: usize, r: u32) {
        let class = CLASSES[self.reqs[r as usize].class as usize];
        let work = self.reqs[r as usize].work_us;
        let h = &mut self.srv[s];
        h.busy += 1;
        if class.cgi {
            h.cgi += 1;
        }
        h.jobs.push((r, work));
    }

    fn new_req(&mut self, rq: Req) -> u32 {
        if let Some(i) = self.free_reqs.pop() {
            self.reqs[i as usize] = rq;
            i
        } else {
            self.reqs.push(rq);
            (self.reqs.len() - 1) as u32
        }
    }

    fn issue(&mut self, dir: &mut Director<'_, SimSched>, now: u64, c: u32) {
        let cl = &mut self.clients[c as usize];
        let Some(&class) = cl.agenda.get(cl.pos) else {
            self.live_clients -= 1;
            return;
        };
        let port = 1024 + cl.pos as u16;
        let k = CLASSES[class as usize];
        let work_us = cl.rng.exp(k.cpu_ms * 1000.0);
        let ep = client_ep(c, port);
        match syn(dir, now, ep) {
            Some(d) => {
                let server = self.by_id(d);
                let r = self.new_req(Req {
                    client: c,
                    port,
                    class,
                    server: server as u16,
                    work_us,
                    start_us: now,
                });
                let rtt = (self.cfg.rtt_ms * 1000.0) as u64;
                self.q.push(now + rtt, MemEv::Arrive(r));
            }
            None => {
                // refused: the client moves on after its think time
                self.next_of(now, c);
            }
        }
    }

    fn by_id(&self, d: DestId) -> usize {
        // rs index is the DestId order in which setup() added servers
        d.index()
    }

    fn next_of(&mut self, now: u64, c: u32) {
        let cl = &mut self.clients[c as usize];
        cl.pos += 1;
        if cl.pos >= cl.agenda.len() {
            self.live_clients -= 1;
            return;
        }
        let think = (cl.think[cl.pos] * 1e6) as u64;
        self.q.push(now + think, MemEv::ClientNext(c));
    }

    fn report(&mut self, now: u64, s: usize, active: u32) -> LoadReport {
        let c = self.cfg;
        let h = &mut self.srv[s];
        let span = now.saturating_sub(h.report_from_us).max(1);
        let idle = 1000u64.saturating_sub(h.busy_us * 1000 / span) as u16;
        h.busy_us = 0;
        h.report_from_us = now;
        let rate = h.rate(c) / h.speed;
        let run = h.jobs.len() as u32;
        let blocked = (run as f64 * (1.0 - rate)).round() as u32;
        let swapped = (h.swapped_mb(c) / c.httpd_mb).ceil() as u32;
        LoadReport::new((h.free_mb(c) * 1024.0) as u64, (h.total_mb * 1024.0) as u64)
            .with_cpu_idle(idle)
            .with_procs(run - blocked.min(run), blocked, swapped)
            .with_conns(active)
    }
}
/// [`SimError::BadConfig`] for inconsistent parameters, [`SimError::Director`] if the director
/// refuses its setup.
/// Runs every variant of the memory-balance experiment.
///
/// # Errors
/// [`SimError::BadConfig`] for inconsistent parameters, [`SimError::Director`] if the director
/// refuses its setup.
pub fn run_memory_balance(cfg: &MemoryConfig) -> Result<MemoryResult, SimError> {
    let n = cfg.mem_mb.len();
    if !(2..=MAX_SERVERS).contains(&n) || cfg.cpu_speed.len() != n {
        return Err(SimError::BadConfig(format!(
            "need 2..={MAX_SERVERS} servers with one memory size and one CPU speed each"
        )));
    }
    if cfg.clients_per_batch == 0 || cfg.batch_interval_s <= 0.0 || cfg.duration_s <= 0.0 {
        return Err(SimError::BadConfig("empty workload".into()));
    }
    if cfg.variants.is_empty() {
        return Err(SimError::BadConfig("no scheduler to compare".into()));
    }
    let mut runs = Vec::new();
    for v in &cfg.variants {
        runs.push(run_memory_variant(cfg, v)?);
    }
    Ok(MemoryResult { runs })
}

pub(crate) fn run_memory_variant(cfg: &MemoryConfig, v: &Variant) -> Result<MemoryRun, SimError> {
    let n = cfg.mem_mb.len();
    let mut mem = OwnedMemory::<SimSched>::new(1 << 16, 1, n);
    let mut weights = vec![1u32; n];
    let (built, p2c) = v.sched.build(cfg.seed, v.p2c_config(cfg));
    let (mut dir, svc, by_id) = setup(&mut mem, cfg.seed, built, &weights)?;
    debug_assert!(by_id.iter().take(n).enumerate().all(|(i, &s)| s == i));
    let mut ctrl = v.build(cfg);
    let (clients, starts) = build_clients(cfg);
    let [start_servers, _, _, _] = cfg.apache;
    let mut sim = MemSim {
        cfg,
        q: Queue::new(),
        live_clients: clients.len() as u32,
        clients,
        reqs: Vec::new(),
        free_reqs: Vec::new(),
        srv: (0..n)
            .map(|i| Httpd {
                total_mb: cfg.mem_mb[i],
                speed: cfg.cpu_speed[i].max(1e-3),
                pool: start_servers,
                spawn_rate: 1,
                ..Httpd::default()
            })
            .collect(),
        requests: 0,
        latency_sum_us: 0,
    };
    for (i, &t) in starts.iter().enumerate() {
        sim.q.push(t, MemEv::ClientStart(i as u32));
    }
    for s in 0..n {
        // Apache's maintenance runs once a second; stagger the servers a little
        sim.q
            .push(1_000_000 + s as u64 * 1000, MemEv::Maintain(s as u16));
    }
    let report_us = (v.interval_s * 1e6) as u64;
    if ctrl.is_some() || p2c.is_some() {
        sim.q.push(report_us, MemEv::Report);
    }
    let sample_us = (cfg.sample_s.max(0.01) * 1e6) as u64;
    sim.q.push(0, MemEv::Sample);
    sim.q.push(1_000_000, MemEv::Expire);
    let hard_end = ((cfg.duration_s + cfg.batch_interval_s + 3600.0) * 1e6) as u64;
    let mut times = Vec::new();
    let mut free: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut last_t = 0;
    while let Some((now, ev)) = sim.q.pop() {
        if now > hard_end || (sim.live_clients == 0 && now > last_t) {
            break;
        }
        match ev {
            MemEv::ClientStart(c) | MemEv::ClientNext(c) => sim.issue(&mut dir, now, c),
            MemEv::Arrive(r) => {
                let rq = sim.reqs[r as usize];
                let s = rq.server as usize;
                let ep = client_ep(rq.client, rq.port);
                let rs = rs_addr(s);
                outbound(&mut dir, now, rs, ep, SYNACK, 60);
                let k = CLASSES[rq.class as usize];
                inbound(&mut dir, now, ep, PSHACK, (k.req_bytes + HDR) as u32);
                sim.srv[s].advance(cfg, now);
                if sim.srv[s].pool > sim.srv[s].busy {
                    sim.start(s, r);
                    sim.reschedule(s, now);
                } else {
                    sim.srv[s].backlog.push_back(r);
                }
            }
            MemEv::CpuDone(s16, g) => {
                let s = s16 as usize;
                if sim.srv[s].gen != g {
                    continue;
                }
                sim.srv[s].advance(cfg, now);
                let mut done = Vec::new();
                sim.srv[s].jobs.retain(|&(r, rem)| {
                    if rem <= 1e-6 {
                        done.push(r);
                        false
                    } else {
                        true
                    }
                });
                for r in done {
                    let rq = sim.reqs[r as usize];
                    let k = CLASSES[rq.class as usize];
                    if k.cgi {
                        sim.srv[s].cgi -= 1;
                    }
                    // response to the client at its bandwidth, plus half a round trip
                    let xfer = k.resp_bytes as f64 * 8.0 / (cfg.client_kbps * 1000.0) * 1e6
                        + cfg.rtt_ms * 500.0;
                    sim.q.push(now + xfer as u64, MemEv::XferDone(r));
                }
                sim.reschedule(s, now);
            }
            MemEv::XferDone(r) => {
                let rq = sim.reqs[r as usize];
                let s = rq.server as usize;
                let ep = client_ep(rq.client, rq.port);
                let rs = rs_addr(s);
                let k = CLASSES[rq.class as usize];
                let (full, rest) = segments(k.resp_bytes);
                for _ in 0..full {
                    outbound(&mut dir, now, rs, ep, TcpFlags::ACK, (MSS + HDR) as u32);
                }
                if rest > 0 {
                    outbound(&mut dir, now, rs, ep, PSHACK, (rest + HDR) as u32);
                }
                inbound(&mut dir, now, ep, TcpFlags::ACK, 40);
                // Apache closes; the client answers with its own FIN; the server ACKs it
                outbound(&mut dir, now, rs, ep, FINACK, 40);
                inbound(&mut dir, now, ep, FINACK, 40);
                outbound(&mut dir, now, rs, ep, TcpFlags::ACK, 40);
                sim.requests += 1;
                sim.latency_sum_us += now - rq.start_us;
                sim.free_reqs.push(r);
                sim.srv[s].advance(cfg, now);
                sim.srv[s].busy -= 1;
                if let Some(next) = sim.srv[s].backlog.pop_front() {
                    sim.start(s, next);
                }
                sim.reschedule(s, now);
                sim.next_of(now, rq.client);
            }
            MemEv::Maintain(s16) => {
                let s = s16 as usize;
                let [_, min_spare, max_spare, max_clients] = cfg.apache;
                sim.srv[s].advance(cfg, now);
                let h = &mut sim.srv[s];
                let idle = h.pool - h.busy;
                if idle > max_spare {
                    h.pool -= 1;
                    h.spawn_rate = 1;
                } else if idle < min_spare {
                    let room = max_clients.saturating_sub(h.pool);
                    h.pool += h.spawn_rate.min(room);
                    h.spawn_rate = (h.spawn_rate * 2).min(32);
                } else {
                    h.spawn_rate = 1;
                }
                while sim.srv[s].pool > sim.srv[s].busy {
                    let Some(r) = sim.srv[s].backlog.pop_front() else {
                        break;
                    };
                    sim.start(s, r);
                }
                let sw = sim.srv[s].swapped_mb(cfg);
                sim.srv[s].max_swapped = sim.srv[s].max_swapped.max(sw);
                sim.reschedule(s, now);
                sim.q.push(now + 1_000_000, MemEv::Maintain(s16));
            }
            MemEv::Report => {
                let mut reports = Vec::with_capacity(n);
                for s in 0..n {
                    sim.srv[s].advance(cfg, now);
                    let active = dir.dest(DestId(s as u16)).map(|d| d.active).unwrap_or(0);
                    reports.push(sim.report(now, s, active));
                }
                if let Some(h) = &p2c {
                    // n <= MAX_SERVERS was checked: the reports always fit
                    let _ = h.borrow_mut().set_reports(&reports);
                }
                if let Some(c) = ctrl.as_mut() {
                    let old = weights.clone();
                    if c.update(&reports, &mut weights).is_ok() {
                        for s in 0..n {
                            if weights[s] != old[s] {
                                set_weight(&mut dir, svc, s, weights[s]);
                            }
                        }
                    } else {
                        weights = old;
                    }
                }
                sim.q.push(now + report_us, MemEv::Report);
            }
            MemEv::Sample => {
                times.push(now as f64 / 1e6);
                for (f, h) in free.iter_mut().zip(&sim.srv) {
                    f.push(h.free_mb(cfg));
                }
                sim.q.push(now + sample_us, MemEv::Sample);
            }
            MemEv::Expire => {
                expire(&mut dir, now);
                sim.q.push(now + 1_000_000, MemEv::Expire);
            }
        }
        last_t = now;
    }
    let samples = times.len().max(1) as f64;
    let avg_free_mb = free
        .iter()
        .map(|f| f.iter().sum::<f64>() / samples)
        .collect();
    let mut diff = 0.0;
    let pairs = (n * (n - 1) / 2) as f64;
    for (i, fi) in free.iter().enumerate() {
        for fj in &free[i + 1..] {
            diff += fi.iter().zip(fj).map(|(a, b)| (a - b).abs()).sum::<f64>();
        }
    }
    Ok(MemoryRun {
        label: v.label.clone(),
        avg_free_mb,
        mean_abs_diff_mb: diff / pairs / samples,
        requests: sim.requests,
        mean_latency_ms: sim.latency_sum_us as f64 / sim.requests.max(1) as f64 / 1000.0,
        max_swapped_mb: sim.srv.iter().map(|h| h.max_swapped).fold(0.0, f64::max),
        times,
        free,
    })
}
