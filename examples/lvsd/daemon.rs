//! The director on interfaces: frames in, the library's verdicts, rewritten frames out.
//!
//! Per frame: virtio header (finish checksums, cut TSO/GRO super-frames) → ARP/NDP for lvsd's
//! own addresses and VIPs → `lvs_forward::parse` → `Director::handle_packet` (or
//! `handle_icmp_error` for ICMP errors quoting a flow) → TTL, MTU → the method's rewriter
//! (`nat`, `dr`, `tunnel`, `icmp`) → next hop from lvsd's routes → MAC from the neighbour
//! cache (or a queue while ARP/NDP asks) → `AF_PACKET` send.
//!
//! With `--sync`, the loop also reads the sync socket (each datagram to
//! `Director::apply_sync`) and sends what `Director::poll_sync` has due; its poll timeout
//! includes `Director::sync_poll_at` ([`crate::syncd`]).
//!
//! lvsd never hands packets to its host: what is neither for a virtual service nor an ARP, NDP
//! or ping for one of lvsd's addresses is counted and dropped, like a director whose kernel
//! has IP forwarding off.

use crate::config::{mac_str, IfaceInfo, Options, Prefix, Routes};
use crate::control::{self, Command, ListOpts};
use crate::neigh::{self, NeighCache, Resolved};
use crate::offload;
use crate::rules;
use crate::sched::Sched;
use crate::syncd::SyncLink;
use crate::sys::{self, vnet, PacketSocket, VnetHdr, VNET_HDR_LEN};
use lvs_core::director::{Director, DropReason};
use lvs_core::hash::SipKey;
use lvs_core::ipvsadm::ListMode;
use lvs_core::{AddrFamily, FwdMethod, Instant, IpAddr, Ipv4Addr, Ipv6Addr, Protocol, ServiceKey};
use lvs_forward::dr;
use lvs_forward::parse::parse_ethernet;
use lvs_forward::process::{process_frame, Action, DropCause, Peer, ProcessConfig};
use lvs_forward::wire::{self, arp, icmpv6::ndp, EtherType, EthernetRepr, MacAddr};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bytes kept free in front of every frame: room for the virtio header and for the outer
/// headers of a tunnel (IPv6 + UDP + GUE) plus a new Ethernet header.
pub const HEADROOM: usize = 128;
/// Largest frame read (a 64 KiB GSO frame and its headers).
pub const RX_LEN: usize = 65536 + 256;
/// Frames read from one interface before looking at the others.
const BATCH: usize = 64;

/// An interface lvsd serves.
#[derive(Debug)]
pub struct Iface {
    /// Name, index, MAC, MTU.
    pub info: IfaceInfo,
    /// The packet socket.
    pub sock: PacketSocket,
}

/// Signals the loop reacts to.
#[derive(Debug, Default, Clone)]
pub struct SignalFlags {
    /// SIGUSR1: print the stats listing.
    pub usr1: Arc<AtomicBool>,
    /// SIGHUP: reload the rules.
    pub hup: Arc<AtomicBool>,
    /// SIGTERM or SIGINT: stop.
    pub term: Arc<AtomicBool>,
}

/// The running director.
pub struct Daemon<'d> {
    /// The library's director.
    pub dir: Director<'d, Sched>,
    /// Interfaces, in `--iface` order.
    pub ifaces: Vec<Iface>,
    /// lvsd's own addresses: (interface, prefix).
    pub own: Vec<(usize, Prefix)>,
    /// Routes.
    pub routes: Routes,
    /// Virtual addresses and the interface ARP/NDP answers them on (`None`: every interface).
    pub vips: Vec<(IpAddr, Option<usize>)>,
    /// Neighbours.
    pub neigh: NeighCache,
    /// Packet counters by name (`status`).
    pub counters: BTreeMap<&'static str, u64>,
    /// Options.
    pub opts: Options,
    /// Connection sync sockets (`--sync`).
    pub sync: Option<SyncLink>,
    /// Requests from the HTTP management thread (`--http`).
    pub mgmt: Option<std::sync::mpsc::Receiver<crate::mgmt::Request>>,
    /// The VRRP virtual router (`--vrrp`, [`crate::vrrp`]).
    pub vrrp: Option<crate::vrrp::Vrrp>,
    /// Load agents (`--agent-key`, [`crate::agents`]).
    pub agents: Option<crate::agents::Agents>,
    seed: u64,
    pcfg: ProcessConfig,
    start: std::time::Instant,
    seg: Vec<u8>,
    out: Vec<u8>,
}

fn ms_instant(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

impl<'d> Daemon<'d> {
    /// A daemon over a configured director.
    #[allow(clippy::too_many_arguments)] // one call site, each part built separately
    pub fn new(
        dir: Director<'d, Sched>,
        ifaces: Vec<Iface>,
        own: Vec<(usize, Prefix)>,
        routes: Routes,
        opts: Options,
        seed: u64,
        tun_key: SipKey,
        start: std::time::Instant,
    ) -> Self {
        let mut d = Daemon {
            dir,
            ifaces,
            own,
            routes,
            vips: Vec::new(),
            neigh: NeighCache::default(),
            counters: BTreeMap::new(),
            opts,
            sync: None,
            mgmt: None,
            vrrp: None,
            agents: None,
            seed,
            pcfg: ProcessConfig::new(Ipv4Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED, tun_key),
            start,
            seg: Vec::new(),
            out: Vec::new(),
        };
        // MTU checks use the smallest link MTU (the library's per-packet path has one MTU)
        d.pcfg.mtu = d.ifaces.iter().map(|i| i.info.mtu).min().unwrap_or(1500);
        d.refresh_vips();
        d
    }

    /// Milliseconds since start.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn count(&mut self, what: &'static str) {
        *self.counters.entry(what).or_insert(0) += 1;
    }

    pub(crate) fn log(&self, msg: &str) {
        eprintln!("lvsd: {msg}");
    }

    // ----- configuration ---------------------------------------------------------------------

    /// Recomputes the VIP list from the director's services, and announces new IPv4 VIPs with
    /// a gratuitous ARP.
    pub fn refresh_vips(&mut self) {
        let mut vips: Vec<IpAddr> = self
            .dir
            .services()
            .filter_map(|(_, s)| match s.config.key {
                ServiceKey::Addr { vip, .. } => Some(vip.addr),
                ServiceKey::Fwmark { .. } => None,
            })
            .collect();
        vips.sort();
        vips.dedup();
        let new: Vec<(IpAddr, Option<usize>)> = vips
            .iter()
            .map(|v| {
                let ifc = self
                    .own
                    .iter()
                    .filter(|(_, p)| p.contains(v))
                    .max_by_key(|(_, p)| p.len)
                    .map(|(i, _)| *i);
                (*v, ifc)
            })
            .collect();
        let announce: Vec<_> = new
            .iter()
            .filter(|n| !self.vips.contains(n))
            .copied()
            .collect();
        self.vips = new;
        self.pick_tunnel_sources();
        for (v, ifc) in announce {
            if v.is_ipv4() && !self.vrrp_silent() {
                self.announce_on(v, ifc);
            }
        }
    }

    /// Announces `a` on interface `ifc` (every interface for `None`): a gratuitous ARP for an
    /// IPv4 address, an unsolicited neighbour advertisement for an IPv6 one.
    fn announce_on(&mut self, a: IpAddr, ifc: Option<usize>) {
        let targets: Vec<usize> = match ifc {
            Some(i) => vec![i],
            None => (0..self.ifaces.len()).collect(),
        };
        for i in targets {
            let mac = self.ifaces[i].info.mac;
            match a {
                IpAddr::V4(a) => {
                    let mut f = [0u8; neigh::ARP_FRAME_LEN];
                    neigh::arp_request(mac, a, a, &mut f);
                    self.send_copy(i, &f);
                }
                IpAddr::V6(a) => {
                    let mut f = [0u8; neigh::NA_FRAME_LEN];
                    neigh::unsolicited_advert(mac, a, &mut f);
                    self.send_copy(i, &f);
                }
            }
            self.count("tx.announcements");
        }
    }

    /// `announce`: announces every VIP and every address of lvsd's own on the interfaces it
    /// answers for them on, so that neighbours move their entries to this director's MACs (a
    /// backup taking over, with MACs of its own). Returns the addresses announced.
    pub fn announce(&mut self) -> Vec<IpAddr> {
        let mut all: Vec<(IpAddr, Option<usize>)> = self.vips.clone();
        all.extend(self.own.iter().map(|(i, p)| (p.addr, Some(*i))));
        for &(a, ifc) in &all {
            self.announce_on(a, ifc);
        }
        all.into_iter().map(|(a, _)| a).collect()
    }

    /// The outer source of tunnels, per family: lvsd's address on the interface toward the
    /// first tunnelled real server of that family, else its first address of the family.
    fn pick_tunnel_sources(&mut self) {
        let mut rs: Vec<IpAddr> = Vec::new();
        for (id, _) in self.dir.services() {
            for (_, d) in self.dir.dests(id).iter() {
                if d.fwd == FwdMethod::Tunnel {
                    rs.push(d.addr.addr);
                }
            }
        }
        let pick = |v4: bool| -> Option<IpAddr> {
            rs.iter()
                .filter(|a| a.is_ipv4() == v4)
                .find_map(|a| {
                    let (oif, _) = self.routes.lookup(a)?;
                    self.own_addr(oif, a)
                })
                .or_else(|| {
                    self.own
                        .iter()
                        .find(|(_, p)| p.addr.is_ipv4() == v4)
                        .map(|(_, p)| p.addr)
                })
        };
        let (v4, v6) = (pick(true), pick(false));
        if let Some(IpAddr::V4(a)) = v4 {
            self.pcfg.tunnel_src_v4 = a;
        }
        if let Some(IpAddr::V6(a)) = v6 {
            self.pcfg.tunnel_src_v6 = a;
        }
    }

    /// Re-reads the rules file and applies what changed.
    ///
    /// # Errors
    /// The file's rejected lines (nothing is applied then), or the director's refusal.
    pub fn reload(&mut self) -> Result<rules::Changes, String> {
        let bytes = std::fs::read(&self.opts.rules)
            .map_err(|e| format!("{}: {e}", self.opts.rules.display()))?;
        let set = crate::rulefile::load(&bytes).map_err(|errs| {
            errs.iter()
                .map(|e| format!("{}: {e}", self.opts.rules.display()))
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let now = ms_instant(self.now_ms());
        let r = rules::sync(&mut self.dir, &set, self.seed, now).map_err(|e| e.to_string());
        self.refresh_vips();
        r
    }

    /// Runs one control command: (success, output).
    pub fn control(&mut self, line: &str) -> (bool, String) {
        let (code, out) = self.control_exit(line);
        (code == control::exit::OK, out)
    }

    /// Runs one control command: (ipvsadm's exit code for it, output).
    pub fn control_exit(&mut self, line: &str) -> control::Exit {
        use control::exit;
        let now = self.now_ms();
        let cmd = match control::parse_command(line) {
            Ok(c) => c,
            Err(e) => return (exit::USAGE, format!("{e}\n")),
        };
        if let Command::List(o) = &cmd {
            return control::list(&self.dir, o, ms_instant(now));
        }
        let (ok, out) = self.control_cmd(cmd, now);
        (if ok { exit::OK } else { exit::REFUSED }, out)
    }

    fn control_cmd(&mut self, cmd: Command<'_>, now: u64) -> (bool, String) {
        match cmd {
            Command::Rule(r) => {
                let seed = self.seed ^ now;
                match rules::apply_rule(&mut self.dir, &r, seed) {
                    Ok(()) => {
                        if self.opts.verbose {
                            self.log(&format!("control: {r}"));
                        }
                        self.refresh_vips();
                        (true, String::new())
                    }
                    Err(e) => (false, format!("{e}\n")),
                }
            }
            Command::List(o) => {
                let (code, out) = control::list(&self.dir, &o, ms_instant(now));
                (code == control::exit::OK, out)
            }
            Command::Timeout => (true, control::timeouts(&self.dir)),
            Command::SetTimeout([tcp, fin, udp]) => {
                let mut c = *self.dir.config();
                c.timeouts.set(tcp, fin, udp);
                self.dir.set_config(c);
                (true, String::new())
            }
            Command::Save => (true, control::save(&self.dir)),
            Command::Zero => {
                self.dir.zero_stats(ms_instant(now));
                (true, String::new())
            }
            Command::Reload => match self.reload() {
                Ok(ch) => (true, format!("{ch}\n")),
                Err(e) => (false, format!("{e}\n")),
            },
            Command::Status => (true, self.status()),
            Command::Announce => {
                let a = self.announce();
                let list: Vec<String> = a.iter().map(ToString::to_string).collect();
                (true, format!("announced {}\n", list.join(" ")))
            }
            Command::Daemon => (
                true,
                self.sync
                    .as_ref()
                    .map(SyncLink::daemon_listing)
                    .unwrap_or_default(),
            ),
            Command::Neigh => {
                let mut out = String::new();
                for (i, ip, mac, age) in self.neigh.entries(now) {
                    let m = mac.map_or("INCOMPLETE".to_string(), |m| mac_str(&m));
                    out.push_str(&format!(
                        "{} {} {} {}ms\n",
                        self.ifaces[i].info.name, ip, m, age
                    ));
                }
                (true, out)
            }
            Command::Sysctl(None) => {
                let c = self.dir.config();
                let mut out = String::new();
                for (n, _) in crate::config::SYSCTLS {
                    control::kv(&mut out, n, crate::config::sysctl_value(c, n));
                }
                (true, out)
            }
            Command::Sysctl(Some((name, v))) => {
                let mut c = *self.dir.config();
                crate::config::apply_sysctl(&mut c, &name, v);
                self.dir.set_config(c);
                (true, String::new())
            }
        }
    }

    /// `status`: lvsd's and the director's counters, one `name value` per line.
    pub fn status(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.counters {
            control::kv(&mut out, k, v);
        }
        let c = self.dir.counters();
        control::kv(&mut out, "director.refused_full", c.refused_full);
        control::kv(&mut out, "director.no_destination", c.no_destination);
        control::kv(&mut out, "director.dest_unavailable", c.dest_unavailable);
        control::kv(&mut out, "director.expired", c.expired);
        control::kv(&mut out, "director.rescheduled", c.rescheduled);
        control::kv(&mut out, "director.connections", self.dir.table().len());
        control::kv(&mut out, "neigh.dropped", self.neigh.dropped);
        self.vrrp_status(&mut out);
        self.agents_status(&mut out);
        if let Some(l) = &self.sync {
            let s = c.sync;
            for (k, v) in [
                ("director.sync.queued", s.queued),
                ("director.sync.queue_full", s.queue_full),
                ("director.sync.messages_sent", s.messages_sent),
                ("director.sync.records_sent", s.records_sent),
                ("director.sync.stale", s.stale),
                ("director.sync.applied", s.applied),
                ("director.sync.rejected", s.rejected),
                ("director.sync.malformed", s.malformed),
                ("director.sync.ignored", s.ignored),
                ("director.sync.unbound", s.unbound),
                ("director.sync.superseded", s.superseded),
                ("director.sync.table_full", s.table_full),
                ("sync.rx_datagrams", l.counters.rx_datagrams),
                ("sync.rx_errors", l.counters.rx_errors),
                ("sync.rx_own", l.counters.rx_own),
                ("sync.tx_messages", l.counters.tx_messages),
                ("sync.tx_errors", l.counters.tx_errors),
            ] {
                control::kv(&mut out, k, v);
            }
        }
        out
    }

    /// The `--stats` listing.
    pub fn stats_listing(&self) -> String {
        let o = ListOpts {
            mode: ListMode::Stats { exact: false },
            ..ListOpts::default()
        };
        control::list(&self.dir, &o, ms_instant(self.now_ms())).1
    }

    // ----- addresses -------------------------------------------------------------------------

    fn is_own(&self, a: &IpAddr) -> bool {
        self.own.iter().any(|(_, p)| p.addr == *a)
    }

    fn is_vip(&self, a: &IpAddr) -> bool {
        self.vips.iter().any(|(v, _)| v == a)
    }

    /// Whether lvsd answers ARP/NDP for `a` on interface `ifc`.
    fn answers_for(&self, ifc: usize, a: &IpAddr) -> bool {
        self.own.iter().any(|(i, p)| *i == ifc && p.addr == *a)
            || self
                .vips
                .iter()
                .any(|(v, i)| v == a && i.is_none_or(|i| i == ifc))
    }

    fn on_link(&self, ifc: usize, a: &IpAddr) -> bool {
        self.own.iter().any(|(i, p)| *i == ifc && p.contains(a))
    }

    /// lvsd's address on `ifc` of `a`'s family, preferring one whose prefix holds `a`.
    fn own_addr(&self, ifc: usize, a: &IpAddr) -> Option<IpAddr> {
        let same = |p: &&(usize, Prefix)| p.0 == ifc && p.1.addr.is_ipv4() == a.is_ipv4();
        self.own
            .iter()
            .filter(same)
            .find(|(_, p)| p.contains(a))
            .or_else(|| self.own.iter().find(same))
            .map(|(_, p)| p.addr)
    }

    // ----- transmit --------------------------------------------------------------------------

    /// Sends the frame at `buf[start..start + len]`, writing a zero virtio header in front.
    fn send_at(&mut self, ifc: usize, buf: &mut [u8], start: usize, len: usize) {
        if start < VNET_HDR_LEN {
            let f = buf[start..start + len].to_vec();
            return self.send_copy(ifc, &f);
        }
        buf[start - VNET_HDR_LEN..start].fill(0);
        let r = self.ifaces[ifc]
            .sock
            .send(&buf[start - VNET_HDR_LEN..start + len]);
        self.sent(r);
    }

    pub(crate) fn send_copy(&mut self, ifc: usize, frame: &[u8]) {
        let mut b = vec![0u8; VNET_HDR_LEN + frame.len()];
        b[VNET_HDR_LEN..].copy_from_slice(frame);
        let r = self.ifaces[ifc].sock.send(&b);
        self.sent(r);
    }

    fn sent(&mut self, r: std::io::Result<()>) {
        match r {
            Ok(()) => self.count("tx.frames"),
            Err(e) => {
                self.count("tx.errors");
                if self.opts.verbose {
                    self.log(&format!("send: {e}"));
                }
            }
        }
    }

    /// Asks for `ip`'s MAC on `ifc`.
    fn solicit(&mut self, ifc: usize, ip: IpAddr) {
        let mac = self.ifaces[ifc].info.mac;
        match ip {
            IpAddr::V4(t) => {
                let src = match self.own_addr(ifc, &ip) {
                    Some(IpAddr::V4(a)) => a,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                let mut f = [0u8; neigh::ARP_FRAME_LEN];
                neigh::arp_request(mac, src, t, &mut f);
                self.send_copy(ifc, &f);
            }
            IpAddr::V6(t) => {
                let src = match self.own_addr(ifc, &ip) {
                    Some(IpAddr::V6(a)) => a,
                    _ => lvs_core::Ipv6Addr::UNSPECIFIED,
                };
                let mut f = [0u8; neigh::NS_FRAME_LEN];
                neigh::neighbour_solicit(mac, src, t, &mut f);
                self.send_copy(ifc, &f);
            }
        }
        self.count("neigh.requests");
    }

    /// Sends the IP packet framed at `buf[start..start + len]` (Ethernet header present) to
    /// next hop `nh` out of `ifc`: fills in the MACs, or queues it while the neighbour is
    /// resolved.
    fn transmit(&mut self, ifc: usize, nh: IpAddr, buf: &mut [u8], start: usize, len: usize) {
        let now = self.now_ms();
        let src = self.ifaces[ifc].info.mac;
        match self.neigh.resolve(ifc, nh, now) {
            Resolved::Known { mac, probe } => {
                let _ = dr::dr_rewrite(&mut buf[start..start + len], mac, src);
                self.send_at(ifc, buf, start, len);
                if probe {
                    self.solicit(ifc, nh);
                }
            }
            Resolved::Pending { probe } => {
                let _ = dr::dr_rewrite(&mut buf[start..start + len], MacAddr([0; 6]), src);
                self.neigh
                    .enqueue(ifc, nh, buf[start..start + len].to_vec());
                self.count("neigh.queued");
                if probe {
                    self.solicit(ifc, nh);
                }
            }
            Resolved::Failed => self.count("drop.neigh_failed"),
        }
    }

    fn flush(&mut self, ifc: usize, mac: MacAddr, frames: Vec<Vec<u8>>) {
        for mut f in frames {
            f[..6].copy_from_slice(&mac.0);
            self.send_copy(ifc, &f);
        }
    }

    // ----- receive ---------------------------------------------------------------------------

    /// Handles one received frame at `buf[head..head + len]`, its virtio header just before.
    pub fn on_frame(&mut self, ifc: usize, buf: &mut [u8], head: usize, len: usize) {
        self.count("rx.frames");
        let h = VnetHdr::read(&buf[head - VNET_HDR_LEN..head]).unwrap_or_default();
        if len < 14 {
            return self.count("drop.runt");
        }
        let frame = &buf[head..head + len];
        let dst = MacAddr([frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]]);
        if dst != self.ifaces[ifc].info.mac && !dst.is_multicast() {
            return self.count("drop.other_mac");
        }
        if self.vrrp_gate(ifc, frame) {
            return;
        }
        match u16::from_be_bytes([frame[12], frame[13]]) {
            0x0806 => self.on_arp(ifc, frame),
            0x0800 | 0x86dd => {
                if frame.len() > 54
                    && frame[12] == 0x86
                    && frame[20] == 58
                    && (frame[54] == 135 || frame[54] == 136)
                {
                    let f = frame.to_vec();
                    return self.on_ndp(ifc, &f);
                }
                self.on_ip_offloaded(ifc, buf, head, len, &h)
            }
            0x8100 | 0x88a8 => self.count("drop.vlan"),
            _ => self.count("drop.ethertype"),
        }
    }

    fn on_ip_offloaded(
        &mut self,
        ifc: usize,
        buf: &mut [u8],
        head: usize,
        len: usize,
        h: &VnetHdr,
    ) {
        if h.flags & vnet::F_NEEDS_CSUM == 0 && !offload::needs_segmentation(h) {
            return self.on_ip(ifc, buf, head, len);
        }
        let p = match parse_ethernet(&buf[head..head + len]) {
            Ok(p) => p,
            Err(_) => return self.count("drop.parse"),
        };
        if offload::needs_segmentation(h) {
            self.count("rx.gso_frames");
            let mut seg = std::mem::take(&mut self.seg);
            let frame = buf[head..head + len].to_vec();
            let r = offload::segment(&frame, &p, h, &mut seg, HEADROOM, |b, hd, l| {
                self.on_ip(ifc, b, hd, l)
            });
            self.seg = seg;
            if r.is_err() {
                self.count("drop.gso");
            }
            return;
        }
        let udp = p.flow.proto == Protocol::Udp;
        match offload::complete_csum(
            &mut buf[head..head + len],
            usize::from(h.csum_start),
            usize::from(h.csum_offset),
            p.end(),
            udp,
        ) {
            Ok(()) => self.on_ip(ifc, buf, head, len),
            Err(_) => self.count("drop.csum_offsets"),
        }
    }

    fn on_arp(&mut self, ifc: usize, frame: &[u8]) {
        let Ok(m) = arp::parse(&frame[14..]) else {
            return self.count("drop.arp");
        };
        self.count("rx.arp");
        let now = self.now_ms();
        let sender = IpAddr::V4(m.sender_ip);
        let target = IpAddr::V4(m.target_ip);
        let for_us = self.answers_for(ifc, &target);
        if !m.sender_ip.is_unspecified() && self.on_link(ifc, &sender) {
            let create = (for_us && m.operation == 1) || m.operation == 2;
            let q = self.neigh.learn(ifc, sender, m.sender_mac, now, create);
            self.flush(ifc, m.sender_mac, q);
        }
        if m.operation == 1 && for_us {
            let mut out = [0u8; arp::REPLY_FRAME_LEN];
            if let Ok(Some(n)) =
                arp::reply_for(frame, m.target_ip, self.ifaces[ifc].info.mac, &mut out)
            {
                self.send_copy(ifc, &out[..n]);
                self.count("tx.arp_replies");
            }
        }
    }

    fn on_ndp(&mut self, ifc: usize, frame: &[u8]) {
        let now = self.now_ms();
        if frame[54] == 136 {
            if let Some((target, mac)) = neigh::parse_advert(frame) {
                let q = self.neigh.learn(ifc, IpAddr::V6(target), mac, now, false);
                self.flush(ifc, mac, q);
            }
            return;
        }
        let Ok(Some(ns)) = ndp::parse_solicitation(frame) else {
            return self.count("drop.ndp");
        };
        self.count("rx.ndp");
        let target = IpAddr::V6(ns.target);
        let for_us = self.answers_for(ifc, &target);
        if !ns.src.is_unspecified() {
            if let Some(mac) = ns.src_mac {
                let q = self.neigh.learn(ifc, IpAddr::V6(ns.src), mac, now, for_us);
                self.flush(ifc, mac, q);
            }
        }
        if for_us {
            let mut out = [0u8; ndp::ADVERT_FRAME_LEN];
            if let Ok(Some(n)) =
                ndp::advert_for(frame, ns.target, self.ifaces[ifc].info.mac, &mut out)
            {
                self.send_copy(ifc, &out[..n]);
                self.count("tx.ndp_adverts");
            }
        }
    }

    /// An IPv4/IPv6 frame with complete checksums, at most one MTU long: the library's
    /// per-packet path (`lvs_forward::process::process_frame`), then routing and the link.
    fn on_ip(&mut self, ifc: usize, buf: &mut [u8], head: usize, len: usize) {
        let _ = ifc;
        let now = ms_instant(self.now_ms());
        let cfg = self.pcfg;
        if self.out.len() < HEADROOM + 1280 {
            self.out.resize(HEADROOM + 1280, 0);
        }
        let a = process_frame(
            &mut self.dir,
            now,
            buf,
            head,
            len,
            0,
            &cfg,
            &mut self.out[HEADROOM..],
        );
        match a {
            Action::Transmit {
                start,
                len,
                next_hop,
                to,
            } => {
                let Some((oif, nh)) = self.routes.lookup(&next_hop) else {
                    return self.count("drop.no_route");
                };
                self.count(match to {
                    Peer::Client => "fwd.reply",
                    Peer::RealServer { method, .. } => match method {
                        FwdMethod::Masq => "fwd.masq",
                        FwdMethod::DirectRoute => "fwd.route",
                        FwdMethod::Tunnel => "fwd.tunnel",
                    },
                });
                if matches!(
                    to,
                    Peer::RealServer {
                        method: FwdMethod::DirectRoute,
                        ..
                    }
                ) && nh != next_hop
                {
                    // direct routing only reaches servers on a connected network
                    return self.count("drop.dr_not_on_link");
                }
                self.send_ip(oif, nh, buf, start, len);
            }
            Action::Respond { len, dst } => {
                self.count("icmp.sent");
                let Some((oif, nh)) = self.routes.lookup(&dst) else {
                    return self.count("drop.no_route");
                };
                let mut out = std::mem::take(&mut self.out);
                self.send_ip(oif, nh, &mut out, HEADROOM, len);
                self.out = out;
            }
            Action::Deliver => self.deliver(buf, head, len),
            Action::Drop(cause) => self.count(match cause {
                DropCause::Parse(wire::Error::NonFirstFragment) => "drop.fragment",
                DropCause::Parse(_) => "drop.parse",
                DropCause::Director(r) => match r {
                    DropReason::TableFull => "drop.table_full",
                    DropReason::NoDestination => "drop.no_destination",
                    DropReason::DestUnavailable => "drop.dest_unavailable",
                    DropReason::Fragment => "drop.fragment",
                    _ => "drop.malformed",
                },
                DropCause::Forward(_) => "drop.rewrite",
            }),
        }
    }

    /// Frames the IP packet at `buf[start..start + len]` (Ethernet header written into the
    /// headroom) and sends it to `nh` out of `oif`.
    fn send_ip(&mut self, oif: usize, nh: IpAddr, buf: &mut [u8], start: usize, len: usize) {
        let repr = EthernetRepr {
            src_addr: self.ifaces[oif].info.mac,
            dst_addr: MacAddr([0; 6]),
            ethertype: EtherType::Unknown(0),
        };
        match dr::push_ethernet(buf, start, &repr) {
            Ok(f) => self.transmit(oif, nh, buf, f, len + 14),
            Err(_) => self.count("drop.headroom"),
        }
    }

    /// Not for a service: answer pings to lvsd's addresses and VIPs, drop the rest.
    fn deliver(&mut self, buf: &mut [u8], head: usize, len: usize) {
        let Ok(p) = parse_ethernet(&buf[head..head + len]) else {
            return self.count("drop.parse");
        };
        let len = p.end();
        let dst = p.flow.dst.addr;
        let local = self.is_own(&dst) || self.is_vip(&dst);
        if local && self.agent_datagram(&buf[head..head + len], &p) {
            return;
        }
        let echo = match p.family {
            AddrFamily::Ipv4 => p.flow.proto.number() == 1 && buf[head + p.l4] == 8,
            AddrFamily::Ipv6 => p.flow.proto.number() == 58 && buf[head + p.l4] == 128,
        };
        if !(local && echo) {
            return self.count(if local {
                "drop.local"
            } else {
                "drop.not_for_service"
            });
        }
        let Some((oif, nh)) = self.routes.lookup(&p.flow.src.addr) else {
            return self.count("drop.no_route");
        };
        let f = &mut buf[head..head + len];
        let (l3, l4, end) = (p.l3, p.l4, p.end());
        match p.family {
            AddrFamily::Ipv4 => {
                let (s, d) = (f[l3 + 12..l3 + 16].to_vec(), f[l3 + 16..l3 + 20].to_vec());
                f[l3 + 12..l3 + 16].copy_from_slice(&d);
                f[l3 + 16..l3 + 20].copy_from_slice(&s);
                f[l3 + 8] = 64;
                f[l3 + 10..l3 + 12].fill(0);
                let c = lvs_forward::checksum::checksum(&f[l3..l4]);
                f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
                f[l4] = 0;
                f[l4 + 2..l4 + 4].fill(0);
                let c = lvs_forward::checksum::checksum(&f[l4..end]);
                f[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
            }
            AddrFamily::Ipv6 => {
                let (s, d) = (f[l3 + 8..l3 + 24].to_vec(), f[l3 + 24..l3 + 40].to_vec());
                f[l3 + 8..l3 + 24].copy_from_slice(&d);
                f[l3 + 24..l3 + 40].copy_from_slice(&s);
                f[l3 + 7] = 64;
                f[l4] = 129;
                f[l4 + 2..l4 + 4].fill(0);
                let mut src = [0u8; 16];
                let mut dst6 = [0u8; 16];
                src.copy_from_slice(&d);
                dst6.copy_from_slice(&s);
                let ph =
                    lvs_forward::checksum::pseudo_header_v6(&src, &dst6, 58, (end - l4) as u32);
                let c = lvs_forward::checksum::finish(lvs_forward::checksum::add(ph, &f[l4..end]));
                f[l4 + 2..l4 + 4].copy_from_slice(&c.to_be_bytes());
            }
        }
        self.count("tx.echo_replies");
        self.transmit(oif, nh, buf, head, len);
    }

    // ----- the loop --------------------------------------------------------------------------

    /// Runs until SIGTERM/SIGINT.
    ///
    /// # Errors
    /// A failing `poll`.
    pub fn run(
        &mut self,
        control: Option<&UnixListener>,
        sig_wake: &UnixStream,
        signals: &SignalFlags,
    ) -> std::io::Result<()> {
        let mut rx = vec![0u8; HEADROOM + RX_LEN];
        let mut fds: Vec<RawFd> = self.ifaces.iter().map(|i| i.sock.as_raw_fd()).collect();
        let n_if = fds.len();
        fds.push(sig_wake.as_raw_fd());
        let mut slot = |fd: Option<RawFd>| {
            fd.map(|fd| {
                fds.push(fd);
                fds.len() - 1
            })
        };
        let control_slot = slot(control.map(AsRawFd::as_raw_fd));
        let sync_slot = slot(self.sync.as_ref().and_then(SyncLink::rx_fd));
        let mut ready = Vec::new();
        self.vrrp_start();
        loop {
            if signals.term.swap(false, Ordering::SeqCst) {
                self.vrrp_shutdown();
                return Ok(());
            }
            if signals.usr1.swap(false, Ordering::SeqCst) {
                let l = self.stats_listing();
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(l.as_bytes());
                let _ = out.flush();
            }
            if signals.hup.swap(false, Ordering::SeqCst) {
                match self.reload() {
                    Ok(ch) => self.log(&format!("reloaded {}: {ch}", self.opts.rules.display())),
                    Err(e) => self.log(&format!("reload failed, rules unchanged:\n{e}")),
                }
            }
            let now = self.now_ms();
            let mut deadline = now + 1000;
            if let Some(t) = self.dir.poll_timeout() {
                deadline = deadline.min(t.total_millis());
            }
            if let Some(t) = self.neigh.next_deadline() {
                deadline = deadline.min(t);
            }
            if let Some(t) = self.vrrp_deadline() {
                deadline = deadline.min(t);
            }
            if let Some(t) = self.agents_deadline() {
                deadline = deadline.min(t);
            }
            if self.sync.as_ref().is_some_and(SyncLink::sends) {
                if let Some(t) = self.dir.sync_poll_at() {
                    deadline = deadline.min(t.total_millis());
                }
            }
            let timeout = deadline.saturating_sub(now) as i32;
            sys::poll_readable(&fds, timeout, &mut ready)?;
            for (i, r) in ready.iter().enumerate().take(n_if) {
                if !*r {
                    continue;
                }
                for _ in 0..BATCH {
                    let cap = rx.len() - (HEADROOM - VNET_HDR_LEN);
                    match self.ifaces[i].sock.recv(&mut rx[HEADROOM - VNET_HDR_LEN..]) {
                        Ok(Some(n)) if n > cap => self.count("drop.truncated"),
                        Ok(Some(n)) if n < VNET_HDR_LEN => self.count("drop.runt"),
                        Ok(Some(n)) => self.on_frame(i, &mut rx, HEADROOM, n - VNET_HDR_LEN),
                        Ok(None) => break,
                        Err(e) => {
                            self.count("rx.errors");
                            if self.opts.verbose {
                                self.log(&format!("recv {}: {e}", self.ifaces[i].info.name));
                            }
                            break;
                        }
                    }
                }
            }
            if ready.get(n_if) == Some(&true) {
                let mut b = [0u8; 64];
                while matches!((&*sig_wake).read(&mut b), Ok(n) if n > 0) {}
            }
            let is_ready = |slot: Option<usize>| slot.is_some_and(|i| ready.get(i) == Some(&true));
            if is_ready(control_slot) {
                if let Some(c) = control {
                    while let Ok((s, _)) = c.accept() {
                        self.serve_control(s);
                    }
                }
            }
            if is_ready(sync_slot) {
                self.sync_receive();
            }
            self.serve_mgmt();
            let now = self.now_ms();
            if self
                .dir
                .poll_timeout()
                .is_some_and(|t| t.total_millis() <= now)
            {
                self.dir.handle_timeout(ms_instant(now));
            }
            for (ifc, ip) in self.neigh.poll(now) {
                self.solicit(ifc, ip);
            }
            self.vrrp_poll();
            self.agents_poll();
            self.sync_send();
        }
    }

    /// Applies the sync messages waiting on the sync socket.
    fn sync_receive(&mut self) {
        let Some(mut link) = self.sync.take() else {
            return;
        };
        let now = ms_instant(self.now_ms());
        let verbose = self.opts.verbose;
        link.receive(&mut self.dir, now, |m| {
            if verbose {
                eprintln!("lvsd: {m}");
            }
        });
        self.sync = Some(link);
    }

    /// Sends the sync messages the director has due. Send errors are logged when verbose, and
    /// the first one always.
    fn sync_send(&mut self) {
        let Some(mut link) = self.sync.take() else {
            return;
        };
        let now = ms_instant(self.now_ms());
        let quiet = !self.opts.verbose && link.counters.tx_errors > 0;
        link.send(&mut self.dir, now, |m| {
            if !quiet {
                eprintln!("lvsd: {m}");
            }
        });
        self.sync = Some(link);
    }

    fn serve_control(&mut self, mut s: UnixStream) {
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        let mut line = Vec::new();
        let mut b = [0u8; 4096];
        while line.len() < 65536 && !line.contains(&b'\n') {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => line.extend_from_slice(&b[..n]),
            }
        }
        let text = String::from_utf8_lossy(&line);
        let cmd = text.lines().next().unwrap_or("").trim().to_string();
        let (code, out) = self.control_exit(&cmd);
        let _ = s.write_all(format!("{code}\n").as_bytes());
        let _ = s.write_all(out.as_bytes());
    }
}

/// `lvsd ctl SOCKET COMMAND...`: sends the command, prints the answer; the exit code is the
/// one ipvsadm exits with for the same command (0 success, 1 `-L` of a missing service, 2 a
/// command line it rejects, 255 a change the director refused), or 2 when lvsd cannot be
/// reached.
pub fn ctl(socket: &str, command: &str) -> u8 {
    let mut s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lvsd ctl: {socket}: {e}");
            return 2;
        }
    };
    if s.write_all(format!("{command}\n").as_bytes()).is_err() {
        eprintln!("lvsd ctl: write failed");
        return 2;
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    if s.read_to_string(&mut out).is_err() {
        eprintln!("lvsd ctl: read failed");
        return 2;
    }
    let (status, body) = out
        .split_once('\n')
        .unwrap_or(("2", "lvsd ctl: no answer\n"));
    let code = status.parse::<u8>().unwrap_or(2);
    if code == 0 {
        print!("{body}");
    } else {
        // the message alone, as ipvsadm prints it
        eprint!("{body}");
    }
    code
}
