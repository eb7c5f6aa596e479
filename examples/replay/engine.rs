//! The replay itself: a director built from ipvsadm rules, fed the capture's frames at the
//! capture's times, each output frame framed for its next hop and handed back.
//!
//! Per frame, as lvsd does on a link: frames for another MAC (with `--mac`) are dropped, ARP
//! teaches neighbours, IPv4/IPv6 go through [`process_frame`] (the library's per-packet path)
//! and what it transmits or answers gets an Ethernet header: the director's MAC as source, the
//! next hop's as destination. Next hops are found in `--neigh`, else learned from the capture
//! (ARP senders, and the source MAC of each IP packet's source address: a reply goes back the
//! way its client's packets came).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use lvs_core::dest::{DestId, DestSet};
use lvs_core::director::{Director, DropReason};
use lvs_core::ipvsadm::SchedFlags;
use lvs_core::sched::{SchedRequest, Scheduler};
use lvs_core::{Endpoint, Instant, IpAddr, Protocol};
use lvs_forward::checksum;
use lvs_forward::parse::{parse_ethernet, parse_ip, Parsed};
use lvs_forward::process::{process_frame, Action, DropCause, Peer, ProcessConfig};
use lvs_forward::wire::{self, MacAddr};
use lvs_sched::registry::{self, AnyScheduler, SchedOptions};

use crate::flows::{FlowRow, Flows};

/// Room in front of each frame for tunnel headers.
const HEADROOM: usize = 128;

/// Any scheduler of `lvs-sched` by ipvsadm name (mh, lblc and lblcr with their tables on the
/// heap), with its `-b` flags.
#[derive(Debug)]
pub struct Sched {
    inner: AnyScheduler<'static>,
    flags: SchedFlags,
}

impl Sched {
    /// The scheduler ipvsadm calls `name`.
    ///
    /// # Errors
    /// The registry's reason, for a name it does not know.
    pub fn from_name(name: &str, flags: SchedFlags, seed: u64) -> Result<Sched, String> {
        let mut opts = SchedOptions::default();
        opts.flags = registry::SchedFlags::from_svc_bits(flags.kernel_bits());
        opts.twos_seed = seed;
        let inner =
            AnyScheduler::from_name(name, &opts).map_err(|e| format!("scheduler {name:?}: {e}"))?;
        Ok(Sched { inner, flags })
    }
}

impl Scheduler for Sched {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn init_service(&mut self, dests: &DestSet<'_>) {
        self.inner.init_service(dests)
    }
    fn add_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner.add_dest(dests, id)
    }
    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        self.inner.del_dest(dests, id, position)
    }
    fn upd_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner.upd_dest(dests, id)
    }
    fn counts_changed(&mut self, dests: &DestSet<'_>, id: DestId) {
        self.inner.counts_changed(dests, id)
    }
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        self.inner.schedule(dests, req)
    }
    fn tick(&mut self, dests: &DestSet<'_>, now: Instant) {
        self.inner.tick(dests, now)
    }
    fn tick_interval_ms(&self) -> u64 {
        self.inner.tick_interval_ms()
    }
    fn sched_flags(&self) -> SchedFlags {
        self.flags
    }
    fn is_consistent(&self) -> bool {
        self.inner.is_consistent()
    }
}

/// How the replay frames and filters.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The director's MAC: frames for other unicast MACs are dropped, output frames come
    /// from it. Without it every frame is taken and output frames come from the MAC the
    /// input frame was sent to.
    pub mac: Option<MacAddr>,
    /// Next hops' MACs given on the command line (they win over learned ones).
    pub neigh: Vec<(IpAddr, MacAddr)>,
    /// Largest IP packet taken; longer frames are dropped as `oversize`.
    pub mtu: u32,
    /// Recompute TCP/UDP checksums of input packets first (captures taken on a host with
    /// checksum offload hold partial checksums).
    pub fix_checksums: bool,
    /// The per-packet path's configuration (tunnel sources, MTU toward real servers).
    pub process: ProcessConfig,
}

/// What happened to the frames.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Frames read.
    pub frames: u64,
    /// Forwarded to a real server.
    pub to_real: u64,
    /// NAT replies forwarded to a client.
    pub to_client: u64,
    /// ICMP errors the director answered with.
    pub icmp_errors: u64,
    /// ARP frames (used to learn neighbours, not forwarded).
    pub arp: u64,
    /// IP packets for the host, not a virtual service.
    pub local: u64,
    /// Frames written to the output.
    pub written: u64,
    /// Frames whose next hop's MAC was unknown (written with a zero destination MAC).
    pub unresolved: u64,
    /// Frames whose timestamp was earlier than the one before (taken at the later time).
    pub time_backwards: u64,
    /// Dropped frames by cause.
    pub drops: BTreeMap<&'static str, u64>,
}

impl Counts {
    /// All dropped frames.
    pub fn dropped(&self) -> u64 {
        self.drops.values().sum()
    }

    /// Drops that mean the capture holds frames this replay cannot take as the director would
    /// have seen them (`--strict` fails on these): over the MTU, cut by the snap length.
    pub fn anomalies(&self) -> u64 {
        self.time_backwards
            + ["oversize", "snapped", "link_header"]
                .iter()
                .map(|k| self.drops.get(k).copied().unwrap_or(0))
                .sum::<u64>()
    }
}

/// The replay state.
pub struct Replay<'m> {
    /// The director.
    pub dir: Director<'m, Sched>,
    settings: Settings,
    neigh: HashMap<IpAddr, MacAddr>,
    fixed: HashMap<IpAddr, MacAddr>,
    first: Option<Duration>,
    last: Duration,
    buf: Vec<u8>,
    icmp: Vec<u8>,
    out: Vec<u8>,
    /// Per-flow rows.
    pub flows: Flows,
    /// Frame counts.
    pub counts: Counts,
}

impl std::fmt::Debug for Replay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

/// The short name of a drop cause (lvsd's counter names without `drop.`).
fn drop_name(cause: &DropCause) -> &'static str {
    match cause {
        DropCause::Parse(wire::Error::NonFirstFragment) => "fragment",
        DropCause::Parse(_) => "parse",
        DropCause::Director(r) => match r {
            DropReason::TableFull => "table_full",
            DropReason::NoDestination => "no_destination",
            DropReason::DestUnavailable => "dest_unavailable",
            DropReason::Fragment => "fragment",
            _ => "malformed",
        },
        DropCause::Forward(_) => "rewrite",
    }
}

fn verdict_of(drop: &'static str) -> &'static str {
    match drop {
        "fragment" => "drop:fragment",
        "parse" => "drop:parse",
        "table_full" => "drop:table_full",
        "no_destination" => "drop:no_destination",
        "dest_unavailable" => "drop:dest_unavailable",
        "rewrite" => "drop:rewrite",
        "oversize" => "drop:oversize",
        "other_mac" => "drop:other_mac",
        _ => "drop:malformed",
    }
}

/// Recomputes the TCP or UDP checksum of the packet parsed as `p` in `frame` (first
/// fragments and whole packets only; an IPv4 UDP checksum of 0, "none", is left alone).
fn fix_l4_checksum(frame: &mut [u8], p: &Parsed) {
    let end = p.l3 + p.ip_len;
    if p.frag.is_fragment || end > frame.len() {
        return;
    }
    let (field, udp) = match p.flow.proto {
        Protocol::Tcp => (p.l4 + 16, false),
        Protocol::Udp => (p.l4 + 6, true),
        _ => return,
    };
    if field + 2 > end {
        return;
    }
    if udp && p.flow.src.addr.is_ipv4() && frame[field..field + 2] == [0, 0] {
        return;
    }
    frame[field..field + 2].fill(0);
    let len = (end - p.l4) as u32;
    let sum = checksum::pseudo_header(
        &p.flow.src.addr,
        &p.flow.dst.addr,
        p.flow.proto.number(),
        len,
    );
    let mut v = !checksum::fold(checksum::add(sum, &frame[p.l4..end]));
    if udp && v == 0 {
        v = 0xffff;
    }
    frame[field..field + 2].copy_from_slice(&v.to_be_bytes());
}

impl<'m> Replay<'m> {
    /// A replay of `dir` with `settings`.
    pub fn new(dir: Director<'m, Sched>, settings: Settings) -> Self {
        let fixed: HashMap<_, _> = settings.neigh.iter().copied().collect();
        Replay {
            dir,
            neigh: fixed.clone(),
            fixed,
            settings,
            first: None,
            last: Duration::ZERO,
            buf: vec![0; HEADROOM + 65_536],
            icmp: vec![0; 1280],
            out: Vec::with_capacity(2048),
            flows: Flows::default(),
            counts: Counts::default(),
        }
    }

    fn drop(&mut self, why: &'static str) {
        *self.counts.drops.entry(why).or_default() += 1;
    }

    fn learn(&mut self, ip: IpAddr, mac: MacAddr) {
        if !self.fixed.contains_key(&ip) && !mac.is_multicast() && mac != MacAddr([0; 6]) {
            self.neigh.insert(ip, mac);
        }
    }

    /// The director's time for a capture timestamp: milliseconds since the first frame, never
    /// going back.
    fn clock(&mut self, ts: Duration) -> Instant {
        let first = *self.first.get_or_insert(ts);
        if ts < self.last {
            self.counts.time_backwards += 1;
        } else {
            self.last = ts;
        }
        let ms = self.last.saturating_sub(first).as_millis();
        Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// Takes one captured frame (`snapped`: the capture cut it short; `bad_link`: its link
    /// header could not be read) and calls `emit` with each frame the director sends and its
    /// time (the frame's timestamp, or the latest before it if time went backwards).
    pub fn frame(
        &mut self,
        ts: Duration,
        frame: &[u8],
        snapped: bool,
        bad_link: bool,
        emit: &mut dyn FnMut(Duration, &[u8]),
    ) {
        self.counts.frames += 1;
        let now = self.clock(ts);
        if self.dir.poll_timeout().is_some_and(|t| t <= now) {
            self.dir.handle_timeout(now);
        }
        if bad_link {
            return self.drop("link_header");
        }
        if snapped {
            return self.drop("snapped");
        }
        if frame.len() < 14 {
            return self.drop("runt");
        }
        let dst_mac = MacAddr(frame[..6].try_into().unwrap_or([0; 6]));
        let src_mac = MacAddr(frame[6..12].try_into().unwrap_or([0; 6]));
        if let Some(own) = self.settings.mac {
            if dst_mac != own && !dst_mac.is_multicast() {
                return self.drop("other_mac");
            }
        }
        let own_mac = self.settings.mac.unwrap_or(dst_mac);
        match u16::from_be_bytes([frame[12], frame[13]]) {
            0x0806 => {
                self.counts.arp += 1;
                if let Ok(m) = wire::arp::parse(&frame[14..]) {
                    if !m.sender_ip.is_unspecified() {
                        self.learn(IpAddr::V4(m.sender_ip), m.sender_mac);
                    }
                }
                return;
            }
            0x0800 | 0x86dd | 0x8100 | 0x88a8 => {}
            _ => return self.drop("ethertype"),
        }
        let len = frame.len();
        if len > self.buf.len() - HEADROOM {
            return self.drop("oversize");
        }
        self.buf[HEADROOM..HEADROOM + len].copy_from_slice(frame);
        let parsed = parse_ethernet(&self.buf[HEADROOM..HEADROOM + len]).ok();
        // longer than an MTU (and a VLAN tag): an offload super-frame, not what a link carries
        let mtu = self.settings.mtu as usize;
        if len > mtu + 18 || parsed.as_ref().is_some_and(|p| p.ip_len > mtu) {
            self.drop("oversize");
            if let Some(p) = &parsed {
                let row = FlowRow {
                    proto: p.flow.proto,
                    client: p.flow.src,
                    vip: p.flow.dst,
                    real: None,
                    verdict: "drop:oversize",
                };
                self.flows.count(row, p.ip_len as u64);
            }
            return;
        }
        if let Some(p) = &parsed {
            self.learn(p.flow.src.addr, src_mac);
            if self.settings.fix_checksums {
                fix_l4_checksum(&mut self.buf[HEADROOM..HEADROOM + len], p);
            }
        }
        let cfg = self.settings.process;
        let action = process_frame(
            &mut self.dir,
            now,
            &mut self.buf,
            HEADROOM,
            len,
            0,
            &cfg,
            &mut self.icmp,
        );
        let ip_bytes = parsed.as_ref().map_or(0, |p| p.ip_len as u64);
        let row = |verdict, real| {
            parsed.as_ref().map(|p| FlowRow {
                proto: p.flow.proto,
                client: p.flow.src,
                vip: p.flow.dst,
                real,
                verdict,
            })
        };
        match action {
            Action::Transmit {
                start,
                len,
                next_hop,
                to,
            } => {
                let row = match to {
                    Peer::RealServer { dest, .. } => {
                        self.counts.to_real += 1;
                        let real: Option<Endpoint> = self.dir.dest(dest).map(|d| d.addr);
                        row("to-real", real)
                    }
                    Peer::Client => {
                        self.counts.to_client += 1;
                        let out = parse_ip(&self.buf[start..start + len]).ok();
                        match (out, &parsed) {
                            (Some(o), Some(p)) => Some(FlowRow {
                                proto: o.flow.proto,
                                client: o.flow.dst,
                                vip: o.flow.src,
                                real: Some(p.flow.src),
                                verdict: "to-client",
                            }),
                            _ => None,
                        }
                    }
                };
                if let Some(r) = row {
                    self.flows.count(r, ip_bytes);
                }
                self.send(own_mac, next_hop, start, len, false, emit);
            }
            Action::Respond { len, dst } => {
                self.counts.icmp_errors += 1;
                if let Some(r) = row("icmp-error", None) {
                    self.flows.count(r, ip_bytes);
                }
                self.send(own_mac, dst, 0, len, true, emit);
            }
            Action::Deliver => {
                self.counts.local += 1;
                if let Some(r) = row("local", None) {
                    self.flows.count(r, ip_bytes);
                }
            }
            Action::Drop(cause) => {
                let name = drop_name(&cause);
                self.drop(name);
                if let Some(r) = row(verdict_of(name), None) {
                    self.flows.count(r, ip_bytes);
                }
            }
        }
    }

    /// Frames the IP packet at `buf[start..start + len]` (or the ICMP buffer's) for `next_hop`
    /// and emits it.
    fn send(
        &mut self,
        src: MacAddr,
        next_hop: IpAddr,
        start: usize,
        len: usize,
        icmp: bool,
        emit: &mut dyn FnMut(Duration, &[u8]),
    ) {
        let dst = match self.neigh.get(&next_hop) {
            Some(m) => *m,
            None => {
                self.counts.unresolved += 1;
                MacAddr([0; 6])
            }
        };
        let ip = if icmp {
            &self.icmp[start..start + len]
        } else {
            &self.buf[start..start + len]
        };
        let ethertype: u16 = if ip.first().is_some_and(|b| b >> 4 == 6) {
            0x86dd
        } else {
            0x0800
        };
        self.out.clear();
        self.out.extend_from_slice(&dst.0);
        self.out.extend_from_slice(&src.0);
        self.out.extend_from_slice(&ethertype.to_be_bytes());
        self.out.extend_from_slice(ip);
        self.counts.written += 1;
        emit(self.last, &self.out);
    }
}
