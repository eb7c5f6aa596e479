//! The director on interfaces: the [`Daemon`] (the library's director, lvsd's interfaces,
//! addresses, routes, neighbours and optional parts), its VIP bookkeeping and its event loop.
//!
//! The packet path is in [`crate::datapath`]: per frame, virtio header (finish checksums, cut
//! TSO/GRO super-frames) → ARP/NDP for lvsd's own addresses and VIPs → `lvs_forward::parse` →
//! `Director::handle_packet` (or `handle_icmp_error` for ICMP errors quoting a flow) → TTL, MTU
//! → the method's rewriter (`nat`, `dr`, `tunnel`, `icmp`) → next hop from lvsd's routes → MAC
//! from the neighbour cache (or a queue while ARP/NDP asks) → `AF_PACKET` send. The control
//! socket's commands are in [`crate::ctl`].
//!
//! With `--sync`, the loop also reads the sync socket (each datagram to
//! `Director::apply_sync`) and sends what `Director::poll_sync` has due; its poll timeout
//! includes `Director::sync_poll_at` ([`crate::syncd`]).
//!
//! lvsd never hands packets to its host: what is neither for a virtual service nor an ARP, NDP
//! or ping for one of lvsd's addresses is counted and dropped, like a director whose kernel
//! has IP forwarding off.

use crate::config::{IfaceInfo, Options, Prefix, Routes};
use crate::l7::L7;
use crate::neigh::{self, NeighCache};
use crate::sched::Sched;
use crate::syncd::SyncLink;
use crate::sys::{self, PacketSocket, VNET_HDR_LEN};
use crate::tls::Tls;
use lvs_core::director::Director;
use lvs_core::hash::SipKey;
use lvs_core::{FwdMethod, Instant, IpAddr, Ipv4Addr, Ipv6Addr, ServiceKey};
use lvs_forward::process::ProcessConfig;
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
/// The same with receive rings, where a frame costs no system call.
const RING_BATCH: usize = 256;

/// An interface lvsd serves.
#[derive(Debug)]
pub struct Iface {
    /// Name, index, MAC, MTU.
    pub info: IfaceInfo,
    /// The packet socket.
    pub sock: PacketSocket,
    /// Its frame path: the packet socket's rings ([`crate::ring`]) or, with `--xdp`, an
    /// `AF_XDP` socket ([`crate::xsk`]); `None`: one system call per frame on the packet socket.
    pub io: Option<crate::frame_io::FrameIo>,
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
    /// Packet counters by name (`status`), for the rare events.
    pub counters: BTreeMap<&'static str, u64>,
    /// The per-frame counters, as fields ([`crate::counters`]).
    pub hot: crate::counters::Hot,
    /// Options.
    pub opts: Options,
    /// Connection sync sockets (`--sync`).
    pub sync: Option<SyncLink>,
    /// Requests from the HTTP management thread (`--http`).
    pub mgmt: Option<std::sync::mpsc::Receiver<crate::mgmt::Request>>,
    /// What the health checks (`--health`) last said of each checked real server: up or down.
    pub health: std::collections::HashMap<(lvs_core::ServiceKey, lvs_core::Endpoint), bool>,
    /// The VRRP virtual router (`--vrrp`, [`crate::vrrp`]).
    pub vrrp: Option<crate::vrrp::Vrrp>,
    /// A worker other than the lead with `--vrrp`: the lead's virtual router is not master as
    /// the lead last said ([`crate::workers`]), so this shard forwards nothing.
    pub vrrp_standby: bool,
    /// Load agents (`--agent-key`, [`crate::agents`]).
    pub agents: Option<crate::agents::Agents>,
    /// The content-aware splicer (`--l7-rules`, [`crate::l7`]).
    pub l7: Option<Box<crate::l7::L7>>,
    /// The TLS-aware splicer (`--tls-rules`, [`crate::tls`]).
    pub tls: Option<Box<crate::tls::Tls>>,
    /// Registry clusters labelled for this director (`--registry-director`,
    /// [`crate::registry_apply`]) join the rules file on every reload.
    pub registry_director: Option<String>,
    pub(crate) seed: u64,
    pub(crate) pcfg: ProcessConfig,
    pub(crate) start: std::time::Instant,
    pub(crate) seg: Vec<u8>,
    pub(crate) out: Vec<u8>,
    pub(crate) burst: crate::burst::BurstBufs,
    /// The virtio header the next transmission carries (all zero but for a GSO super-frame
    /// forwarded whole).
    pub(crate) tx_vnet: crate::sys::VnetHdr,
    /// The time (ms since start) of the receive batch being handled: one clock read per batch
    /// instead of one per transmitted frame, for the neighbour cache only (the director's clock
    /// is read afresh, as it must never go back).
    pub(crate) batch_now: Option<u64>,
    /// This worker's part with `--workers N` > 1 ([`crate::workers`]).
    pub(crate) workers: Option<crate::workers::Role>,
    /// Whether some real server is reached by a tunnel (super-frames are then cut in software).
    pub(crate) has_tunnels: bool,
}

pub(crate) fn ms_instant(ms: u64) -> Instant {
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
            hot: Default::default(),
            opts,
            sync: None,
            mgmt: None,
            health: std::collections::HashMap::new(),
            vrrp: None,
            vrrp_standby: false,
            agents: None,
            l7: None,
            tls: None,
            registry_director: None,
            seed,
            pcfg: ProcessConfig::new(Ipv4Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED, tun_key),
            start,
            seg: Vec::new(),
            out: Vec::new(),
            burst: Default::default(),
            tx_vnet: Default::default(),
            batch_now: None,
            workers: None,
            has_tunnels: false,
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

    pub(crate) fn count(&mut self, what: &'static str) {
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
        vips.extend(self.l7.as_ref().map(|l| l.vip_addrs()).unwrap_or_default());
        vips.extend(self.tls.as_ref().map(|t| t.vip_addrs()).unwrap_or_default());
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
            if v.is_ipv4() && !self.vrrp_silent() && !self.is_follower() {
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
        self.has_tunnels = !rs.is_empty();
        if let Some(IpAddr::V4(a)) = v4 {
            self.pcfg.tunnel_src_v4 = a;
        }
        if let Some(IpAddr::V6(a)) = v6 {
            self.pcfg.tunnel_src_v6 = a;
        }
    }

    // ----- addresses -------------------------------------------------------------------------

    pub(crate) fn is_own(&self, a: &IpAddr) -> bool {
        self.own.iter().any(|(_, p)| p.addr == *a)
    }

    pub(crate) fn is_vip(&self, a: &IpAddr) -> bool {
        self.vips.iter().any(|(v, _)| v == a)
    }

    /// Whether lvsd answers ARP/NDP for `a` on interface `ifc`.
    pub(crate) fn answers_for(&self, ifc: usize, a: &IpAddr) -> bool {
        self.own.iter().any(|(i, p)| *i == ifc && p.addr == *a)
            || self
                .vips
                .iter()
                .any(|(v, i)| v == a && i.is_none_or(|i| i == ifc))
    }

    pub(crate) fn on_link(&self, ifc: usize, a: &IpAddr) -> bool {
        self.own.iter().any(|(i, p)| *i == ifc && p.contains(a))
    }

    /// lvsd's address on `ifc` of `a`'s family, preferring one whose prefix holds `a`.
    pub(crate) fn own_addr(&self, ifc: usize, a: &IpAddr) -> Option<IpAddr> {
        let same = |p: &&(usize, Prefix)| p.0 == ifc && p.1.addr.is_ipv4() == a.is_ipv4();
        self.own
            .iter()
            .filter(same)
            .find(|(_, p)| p.contains(a))
            .or_else(|| self.own.iter().find(same))
            .map(|(_, p)| p.addr)
    }

    // ----- the loop --------------------------------------------------------------------------

    /// Whether some interface's receive ring holds a frame.
    fn rings_ready(&self) -> bool {
        self.ifaces
            .iter()
            .any(|i| i.io.as_ref().is_some_and(crate::frame_io::FrameIo::ready))
    }

    /// `--busy-poll` and `--xdp-busy-poll`: with every receive ring empty, looks at the rings
    /// for up to the configured time; `true` as soon as one holds a frame (the caller then polls
    /// without sleeping, so the frame is taken without a wakeup), `false` when the time ran out
    /// (or neither option is on: sleep; with both, the longer time counts). With
    /// `--xdp-busy-poll` each look first runs every `AF_XDP` socket's NAPI poll in lvsd's
    /// context ([`crate::xsk::Xsk::busy_poll`]; nothing where the kernel tied the socket to no
    /// NAPI, as on veth); the kernel's deferral timer hands the interfaces back once lvsd
    /// sleeps. See [`crate::busy_poll`].
    fn spin_until_ready(&mut self) -> bool {
        let (us, drive) = match self.opts.xdp_busy_poll {
            Some(bp) => (bp.usec.max(self.opts.busy_poll_us), true),
            None => (self.opts.busy_poll_us, false),
        };
        if us == 0 {
            return false;
        }
        let until = std::time::Instant::now() + std::time::Duration::from_micros(u64::from(us));
        loop {
            if drive {
                for i in &mut self.ifaces {
                    if let Some(crate::frame_io::FrameIo::Xdp(x)) = &mut i.io {
                        x.busy_poll();
                    }
                }
            }
            if self.rings_ready() {
                return true;
            }
            // the clock only every 64 looks: reading it costs more than a look
            for _ in 0..64 {
                std::hint::spin_loop();
            }
            if std::time::Instant::now() >= until {
                return false;
            }
        }
    }

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
        let mut fds: Vec<RawFd> = self
            .ifaces
            .iter()
            .map(|i| {
                i.io.as_ref()
                    .map_or(i.sock.as_raw_fd(), |f| f.poll_fd(&i.sock))
            })
            .collect();
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
        let mut ring_stats_at = 0;
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
            let mut changed = false;
            if signals.hup.swap(false, Ordering::SeqCst) {
                changed = true;
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
            if let Some(t) = self.splice_poll_at::<L7>() {
                deadline = deadline.min(t);
            }
            if let Some(t) = self.splice_poll_at::<Tls>() {
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
            let mut timeout = deadline.saturating_sub(now) as i32;
            self.kick_all();
            if now >= ring_stats_at {
                ring_stats_at = now + 1000;
                self.ring_stats();
            }
            if timeout > 0 && self.spin_until_ready() {
                timeout = 0;
            }
            sys::poll_readable(&fds, timeout, &mut ready)?;
            for (i, r) in ready.iter().enumerate().take(n_if) {
                if !*r {
                    continue;
                }
                if self.ifaces[i].io.is_some() {
                    self.rx_ring_batch(i, RING_BATCH, &mut rx);
                    self.kick_all();
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
                changed = true;
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
            self.splice_timers::<L7>(now);
            self.splice_timers::<Tls>(now);
            for (ifc, ip) in self.neigh.poll(now) {
                self.solicit(ifc, ip);
            }
            self.vrrp_poll();
            self.agents_poll();
            self.sync_send();
            self.workers_poll(changed);
        }
    }

    /// Applies the sync messages waiting on the sync socket.
    fn sync_receive(&mut self) {
        let Some(mut link) = self.sync.take() else {
            return;
        };
        let now = ms_instant(self.now_ms());
        let verbose = self.opts.verbose;
        let shards = (self.workers_count(), self.workers_steering());
        let mut fwd = Vec::new();
        link.receive(
            &mut self.dir,
            now,
            |m| {
                if verbose {
                    eprintln!("lvsd: {m}");
                }
            },
            shards,
            |k, m| fwd.push((k, m)),
        );
        self.sync = Some(link);
        for (k, m) in fwd {
            self.workers_sync(k, m);
        }
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
}
