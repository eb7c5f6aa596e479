//! The memory-balance experiment: Apache/Perl-CGI servers behind the director, the published
//! testbed of the memory-feedback study by default.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MemEv {
    ClientStart(u32),
    ClientNext(u32),
    Arrive(u32),
    CpuDone(u16, u64),
    IoDone(u32),
    DiskDone(u16),
    XferDone(u32),
    Maintain(u16),
    Report,
    Sample,
    Expire,
    /// The lagged oracle bound's periodic look at the servers.
    Look,
}

#[derive(Debug, Clone, Copy)]
struct Req {
    client: u32,
    port: u16,
    class: u8,
    server: u16,
    work_us: f64,
    io_us: u64,
    /// Disk service time of the post-response writes (0: none).
    tail_us: u64,
    start_us: u64,
}

#[derive(Debug, Default)]
struct Httpd {
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
    swapped: f64,
    max_swapped: f64,
    swap_out_mb: f64,
    disk: Disk,
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
    /// Accounts memory pushed out to swap since the last call.
    fn track_swap(&mut self, c: &MemoryConfig) {
        let sw = self.swapped_mb(c);
        if sw > self.swapped {
            self.swap_out_mb += sw - self.swapped;
        }
        self.swapped = sw;
        self.max_swapped = self.max_swapped.max(sw);
    }
}

struct MemSim<'c> {
    cfg: &'c MemoryConfig,
    q: Queue<MemEv>,
    clients: Vec<Client>,
    reqs: Vec<Req>,
    free_reqs: Vec<u32>,
    srv: Vec<Httpd>,
    live_clients: u32,
    offered: u64,
    refused: u64,
    served: u64,
    late: u64,
    latencies_ms: Vec<u32>,
    /// Connections the director sent to any server since the last report.
    scheduled: u64,
    /// Connections sent to each server that have not reached it yet.
    on_wire: Vec<u32>,
    /// The oracle bound's view (module `oracle`), and whether it is refreshed before every
    /// decision (else by [`MemEv::Look`]).
    oracle: Option<(OracleHandle, bool)>,
}

impl MemSim<'_> {
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
        let rq = self.reqs[r as usize];
        let h = &mut self.srv[s];
        h.busy += 1;
        if self.cfg.classes[rq.class as usize].cgi {
            h.cgi += 1;
        }
        h.jobs.push((r, rq.work_us));
    }

    /// An httpd process is free for the next connection (the oldest waiting one, if any).
    fn release_httpd(&mut self, s: usize) {
        self.srv[s].busy -= 1;
        if let Some(next) = self.srv[s].backlog.pop_front() {
            self.start(s, next);
        }
    }

    /// The oracle bound looks at the servers' true state.
    fn look(&self) {
        let Some((view, _)) = &self.oracle else {
            return;
        };
        let c = self.cfg;
        let mut v = view.borrow_mut();
        for (s, h) in self.srv.iter().enumerate() {
            v.free_kb[s] = (h.total_mb - h.used_mb(c)) * 1024.0;
            v.idle[s] =
                h.pool as i64 - h.busy as i64 - h.backlog.len() as i64 - self.on_wire[s] as i64;
        }
        v.httpd_kb = c.httpd_mb * 1024.0;
        v.cgi_kb = c.cgi_mb * 1024.0;
        v.min_spare = c.apache[1] as i64;
        v.looks += 1;
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
        let pos = self.clients[c as usize].pos;
        let Some(&class) = self.cfg.agenda.get(pos) else {
            self.live_clients -= 1;
            return;
        };
        self.offered += 1;
        let k = self.cfg.classes[class as usize];
        let cl = &mut self.clients[c as usize];
        let work_us = cl.rng.exp(k.cpu_ms * 1000.0);
        let io_us = cl.rng.exp(k.io_ms * 1000.0) as u64;
        // drawn only when there is a tail, so a model without one keeps its random streams
        let tail_us = if k.cgi && k.tail_ms > 0.0 {
            cl.rng.exp(k.tail_ms * 1000.0).max(1.0) as u64
        } else {
            0
        };
        let port = 1024 + pos as u16;
        let ep = client_ep(c, port);
        if let Some((view, live)) = &self.oracle {
            view.borrow_mut().cgi_next = k.cgi;
            if *live {
                self.look();
            }
        }
        match syn(dir, now, ep) {
            Some(d) => {
                self.scheduled += 1;
                self.on_wire[d.index()] += 1;
                let r = self.new_req(Req {
                    client: c,
                    port,
                    class,
                    server: d.index() as u16,
                    work_us,
                    io_us,
                    tail_us,
                    start_us: now,
                });
                let rtt = (self.cfg.rtt_ms * 1000.0) as u64;
                self.q.push(now + rtt, MemEv::Arrive(r));
            }
            None => {
                // refused: the client moves on after its think time
                self.refused += 1;
                self.next_of(now, c);
            }
        }
    }

    fn next_of(&mut self, now: u64, c: u32) {
        let cl = &mut self.clients[c as usize];
        cl.pos += 1;
        if cl.pos >= self.cfg.agenda.len() {
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
        // vmstat's b: processes stalled on page-ins, and the CGIs in disk wait
        let blocked = (run as f64 * (1.0 - rate)).round() as u32;
        let in_disk = h.disk.waiting();
        let swapped = (h.swapped_mb(c) / c.httpd_mb).ceil() as u32;
        LoadReport::new((h.free_mb(c) * 1024.0) as u64, (h.total_mb * 1024.0) as u64)
            .with_cpu_idle(idle)
            .with_procs(run - blocked.min(run), blocked + in_disk, swapped)
            .with_conns(active)
    }

    /// The response leaves the server: at the client's bandwidth plus half a round trip.
    fn send_response(&mut self, now: u64, r: u32) {
        let rq = self.reqs[r as usize];
        let k = self.cfg.classes[rq.class as usize];
        let xfer = k.resp_bytes as f64 * 8.0 / (self.cfg.client_kbps * 1000.0) * 1e6
            + self.cfg.rtt_ms * 500.0;
        self.q.push(now + xfer as u64, MemEv::XferDone(r));
    }
}

/// Runs every variant of the memory-balance experiment.
///
/// # Errors
/// [`SimError::BadConfig`] for impossible parameters, [`SimError::Director`] if the director
/// refuses its setup.
pub fn run_memory_balance(cfg: &MemoryConfig) -> Result<MemoryResult, SimError> {
    cfg.validate()?;
    let mut runs = Vec::new();
    for v in &cfg.variants {
        runs.push(run_memory_variant(cfg, v)?);
    }
    Ok(MemoryResult {
        runs,
        window_s: cfg.duration_s,
    })
}

fn run_memory_variant(cfg: &MemoryConfig, v: &Variant) -> Result<MemoryRun, SimError> {
    let n = cfg.mem_mb.len();
    let fwd = cfg.forwarding.method();
    let nat = cfg.forwarding == Forwarding::Nat;
    let mut mem = OwnedMemory::<SimSched>::new(1 << 17, 1, n);
    let mut weights = vec![1u32; n];
    let (built, feed) = v.sched.build(cfg.seed, v.p2c_config(cfg));
    let p2c = feed.p2c;
    let (mut dir, svc, _) = setup(&mut mem, cfg.seed, built, &weights, fwd)?;
    let mut ctrl = v.build(cfg);
    let (clients, starts) = build_clients(cfg);
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
                speed: cfg.cpu_speed[i],
                pool: cfg.apache[0],
                spawn_rate: 1,
                ..Httpd::default()
            })
            .collect(),
        offered: 0,
        refused: 0,
        served: 0,
        late: 0,
        latencies_ms: Vec::new(),
        scheduled: 0,
        on_wire: vec![0; n],
        oracle: feed.oracle.map(|h| (h, v.interval_s <= 0.0)),
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
    if v.uses_reports() {
        sim.q.push(report_us, MemEv::Report);
    }
    let sample_us = (cfg.sample_s * 1e6) as u64;
    let look_us = (v.interval_s * 1e6) as u64;
    if v.is_bound() && look_us > 0 {
        sim.q.push(0, MemEv::Look);
    }
    sim.q.push(0, MemEv::Sample);
    sim.q.push(1_000_000, MemEv::Expire);
    let hard_end = ((cfg.duration_s + cfg.batch_interval_s + 3600.0) * 1e6) as u64;
    let timeout_us = (cfg.timeout_s * 1e6) as u64;
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
                sim.on_wire[s] -= 1;
                let ep = client_ep(rq.client, rq.port);
                if nat {
                    outbound(&mut dir, now, rs_addr(s), ep, SYNACK, 60);
                } else {
                    // the handshake's last ACK; the request follows in the same instant
                    inbound(&mut dir, now, ep, TcpFlags::ACK, HDR as u32);
                }
                let k = cfg.classes[rq.class as usize];
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
                    let io = sim.reqs[r as usize].io_us;
                    if io > 0 {
                        sim.q.push(now + io, MemEv::IoDone(r));
                    } else {
                        sim.q.push(now, MemEv::IoDone(r));
                    }
                }
                sim.reschedule(s, now);
            }
            MemEv::IoDone(r) => {
                let rq = sim.reqs[r as usize];
                if cfg.classes[rq.class as usize].cgi && rq.tail_us == 0 {
                    sim.srv[rq.server as usize].cgi -= 1;
                }
                sim.send_response(now, r);
            }
            MemEv::XferDone(r) => {
                let rq = sim.reqs[r as usize];
                let s = rq.server as usize;
                let ep = client_ep(rq.client, rq.port);
                let rs = rs_addr(s);
                let k = cfg.classes[rq.class as usize];
                if nat {
                    let (full, rest) = segments(k.resp_bytes);
                    for _ in 0..full {
                        outbound(&mut dir, now, rs, ep, TcpFlags::ACK, (MSS + HDR) as u32);
                    }
                    if rest > 0 {
                        outbound(&mut dir, now, rs, ep, PSHACK, (rest + HDR) as u32);
                    }
                }
                inbound(&mut dir, now, ep, TcpFlags::ACK, 40);
                // Apache closes; the client answers with its own FIN; the server ACKs it
                if nat {
                    outbound(&mut dir, now, rs, ep, FINACK, 40);
                }
                inbound(&mut dir, now, ep, FINACK, 40);
                if nat {
                    outbound(&mut dir, now, rs, ep, TcpFlags::ACK, 40);
                }
                let lat = now - rq.start_us;
                if lat > timeout_us {
                    sim.late += 1;
                } else {
                    sim.served += 1;
                    sim.latencies_ms
                        .push(lat.div_ceil(1000).min(u32::MAX as u64) as u32);
                }
                sim.srv[s].advance(cfg, now);
                if rq.tail_us > 0 {
                    // the CGI's writes go to the disk after the close (module disk)
                    if sim.srv[s].disk.enqueue(r) {
                        sim.q.push(now + rq.tail_us, MemEv::DiskDone(s as u16));
                    }
                } else {
                    sim.free_reqs.push(r);
                }
                if rq.tail_us == 0 || !cfg.tail_holds_httpd {
                    sim.release_httpd(s);
                }
                sim.reschedule(s, now);
                sim.next_of(now, rq.client);
            }
            MemEv::DiskDone(s16) => {
                let s = s16 as usize;
                sim.srv[s].advance(cfg, now);
                let (done, next) = sim.srv[s].disk.finish();
                if let Some(next) = next {
                    let t = sim.reqs[next as usize].tail_us;
                    sim.q.push(now + t, MemEv::DiskDone(s16));
                }
                if let Some(r) = done {
                    sim.srv[s].cgi -= 1;
                    if cfg.tail_holds_httpd {
                        sim.release_httpd(s);
                    }
                    sim.free_reqs.push(r);
                }
                sim.reschedule(s, now);
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
                sim.srv[s].track_swap(cfg);
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
                if let Some(Ctrl::Free(f)) = ctrl.as_mut() {
                    if f.k().is_some() && cfg.alt2_k.is_none() {
                        // the published k: accesses per real server in the last minute
                        let per_min = sim.scheduled as f64 * 60.0 / v.interval_s / n as f64;
                        f.set_k((per_min.round() as u32).clamp(1, K_MAX));
                    }
                }
                sim.scheduled = 0;
                if let Some(c) = ctrl.as_mut() {
                    let old = weights.clone();
                    if c.update(&reports, &mut weights) {
                        for s in 0..n {
                            if weights[s] != old[s] {
                                set_weight(&mut dir, svc, s, weights[s], fwd);
                            }
                        }
                    } else {
                        weights = old;
                    }
                }
                if cfg.trace {
                    trace_report(v, now, ctrl.as_ref(), &reports, &weights, &dir);
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
            MemEv::Look => {
                sim.look();
                sim.q.push(now + look_us, MemEv::Look);
            }
            MemEv::Expire => {
                expire(&mut dir, now);
                sim.q.push(now + 1_000_000, MemEv::Expire);
            }
        }
        last_t = now;
    }
    let window = times.iter().take_while(|&&t| t <= cfg.duration_s).count();
    Ok(MemoryRun::measure(
        v,
        cfg.seed,
        RunCounts {
            offered: sim.offered,
            served: sim.served,
            refused: sim.refused,
            late: sim.late,
        },
        sim.latencies_ms,
        sim.srv.iter().map(|h| h.swap_out_mb).sum(),
        sim.srv.iter().map(|h| h.max_swapped).fold(0.0, f64::max),
        times,
        free,
        window,
    ))
}

/// `--trace`: one line per report.
fn trace_report(
    v: &Variant,
    now: u64,
    ctrl: Option<&Ctrl>,
    reports: &[LoadReport],
    weights: &[u32],
    dir: &Director<'_, SimSched>,
) {
    let k = match ctrl {
        Some(Ctrl::Free(f)) => f.k().map_or("-".to_string(), |k| k.to_string()),
        _ => "-".to_string(),
    };
    let mut line = format!("trace {} t={:.0}s k={k}", v.label, now as f64 / 1e6);
    for (s, (r, w)) in reports.iter().zip(weights).enumerate() {
        let (a, i) = dir
            .dest(DestId(s as u16))
            .map_or((0, 0), |d| (d.active, d.inactive));
        let _ = write!(
            line,
            " | s{} free={} b={} w={w} act={a} inact={i}",
            s + 1,
            r.free(),
            r.blocked
        );
    }
    eprintln!("{line}");
}
