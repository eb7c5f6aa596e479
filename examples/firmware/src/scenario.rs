//! The firmware's scripted run, shared word for word by the Cortex-M binary (`main.rs`) and the
//! host test (`examples/tests/firmware.rs` includes this file), so both put the same frames
//! through the same code and must print the same lines.
//!
//! A director with three services on caller-provided storage (1,024 connections, 8 real
//! servers): NAT with wlc (`198.18.0.10:80`, four servers), DR with sh (`198.18.0.20:80`,
//! three servers) and UDP `198.18.0.10:53` on one IPIP tunnel server. Frames come from a
//! scripted source behind a smoltcp [`Device`] ([`ScriptedMac`], standing in for a MAC's
//! receive ring): ARP requests go to a smoltcp [`Interface`] that owns the two VIPs and answers
//! them; everything else goes to [`process_frame`], and what it sends is framed and transmitted
//! through the same device. Every transmitted frame prints `tx <n> len=<bytes> fnv=<hex>` (32-bit
//! FNV-1a of the bytes); the end prints the director's stats.
//!
//! No heap: the director works in the slices it is given, the rest lives in [`Firmware`].

use core::fmt::Write;

use lvs_core::conn::ConnSlot;
use lvs_core::dest::DestSet;
use lvs_core::director::{
    ConfigError, Director, DirectorConfig, DirectorFixed, DirectorMemory, Service,
};
use lvs_core::hash::SipKey;
use lvs_core::sched::SchedFlags;
use lvs_core::stats::Stats;
use lvs_core::{
    Dest, DestConfig, DestId, Endpoint, FwdMethod, Instant, IpAddr, Ipv4Addr, Ipv6Addr, Protocol,
    SchedRequest, Scheduler, ServiceConfig, ServiceKey, TcpFlags,
};
use lvs_forward::process::{process_frame, Action, Peer, ProcessConfig};
use lvs_forward::wire::{self, ChecksumCaps, MacAddr};
use lvs_sched::sh::Sh;
use lvs_sched::Wlc;
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::phy::Device;

use crate::mac::{ScriptedMac, FRAME_MAX};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, IpCidr,
};

/// Connection-table capacity (64 bytes a slot).
pub const CONNS: usize = 1024;
/// Real-server capacity.
pub const DESTS: usize = 8;
/// Service capacity.
pub const SERVICES: usize = 3;
/// Room in front of a received frame for tunnel headers.
const HEADROOM: usize = 64;

/// The director's MAC.
const OWN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
/// The router every client is behind.
const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const GATEWAY_IP: [u8; 4] = [198, 18, 0, 1];
/// The NAT and tunnel VIP.
pub const VIP_A: [u8; 4] = [198, 18, 0, 10];
/// The direct-routing VIP.
pub const VIP_B: [u8; 4] = [198, 18, 0, 20];
/// The director's own address (outer source of tunnels).
const OWN_IP: [u8; 4] = [198, 18, 0, 254];
/// Clients in the script.
const CLIENTS: u8 = 12;

/// The two schedulers the firmware uses, by value (a few hundred bytes, not every algorithm's
/// state at once).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // no heap to box sh's 516-byte table in
pub enum FwSched {
    /// Weighted least-connection.
    Wlc(Wlc),
    /// Source hashing.
    Sh(Sh),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            FwSched::Wlc($s) => $e,
            FwSched::Sh($s) => $e,
        }
    };
}

impl Scheduler for FwSched {
    fn name(&self) -> &'static str {
        delegate!(self, s => s.name())
    }
    fn init_service(&mut self, dests: &DestSet<'_>) {
        delegate!(self, s => s.init_service(dests))
    }
    fn add_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        delegate!(self, s => s.add_dest(dests, id))
    }
    fn del_dest(&mut self, dests: &DestSet<'_>, id: DestId, position: usize) {
        delegate!(self, s => s.del_dest(dests, id, position))
    }
    fn upd_dest(&mut self, dests: &DestSet<'_>, id: DestId) {
        delegate!(self, s => s.upd_dest(dests, id))
    }
    fn counts_changed(&mut self, dests: &DestSet<'_>, id: DestId) {
        delegate!(self, s => s.counts_changed(dests, id))
    }
    fn schedule(&mut self, dests: &DestSet<'_>, req: &SchedRequest) -> Option<DestId> {
        delegate!(self, s => s.schedule(dests, req))
    }
    fn tick(&mut self, dests: &DestSet<'_>, now: Instant) {
        delegate!(self, s => s.tick(dests, now))
    }
    fn sched_flags(&self) -> SchedFlags {
        delegate!(self, s => s.sched_flags())
    }
    fn is_consistent(&self) -> bool {
        delegate!(self, s => s.is_consistent())
    }
}

/// Everything the director needs besides the connection table.
#[derive(Debug)]
pub struct SmallMemory {
    services: [Option<Service<FwSched>>; SERVICES],
    dests: [Dest; DESTS],
    stats: [Stats; DESTS],
    order: [DestId; DESTS],
}

impl SmallMemory {
    /// Empty storage (usable in a `static`).
    pub const fn new() -> Self {
        const NO_SERVICE: Option<Service<FwSched>> = None;
        const BLANK: Dest = Dest::new(&DestConfig::new(
            Endpoint::v4([0; 4], 0),
            FwdMethod::Masq,
            0,
        ));
        SmallMemory {
            services: [NO_SERVICE; SERVICES],
            dests: [BLANK; DESTS],
            stats: [Stats::new(Instant::ZERO); DESTS],
            order: [DestId(0); DESTS],
        }
    }
}

impl Default for SmallMemory {
    fn default() -> Self {
        Self::new()
    }
}

/// What happened to the received frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Frames received.
    pub rx: u32,
    /// ARP frames handed to smoltcp.
    pub arp: u32,
    /// Frames forwarded (to a real server or a client).
    pub forwarded: u32,
    /// ICMP errors sent instead.
    pub responded: u32,
    /// Frames for the host stack (not a virtual service).
    pub delivered: u32,
    /// Frames dropped.
    pub dropped: u32,
}

/// The director, its network interface and buffers.
pub struct Firmware<'d, 'a> {
    dir: &'d mut Director<'a, FwSched>,
    cfg: ProcessConfig,
    iface: Interface,
    work: [u8; HEADROOM + FRAME_MAX],
    icmp: [u8; 576],
    /// The real server each NAT client was sent to (learned from the output, for the
    /// scripted servers' replies).
    nat_real: [Option<Endpoint>; CLIENTS as usize],
    clock_ms: u64,
    /// Frame counts.
    pub tally: Tally,
}

/// The MAC a next hop is reached at: servers by their address, everything else via the router.
fn neighbour(ip: &IpAddr) -> MacAddr {
    match ip {
        IpAddr::V4(a) if a.octets()[..2] == [198, 18] => {
            let o = a.octets();
            MacAddr([0x02, 0, o[0], o[1], o[2], o[3]])
        }
        _ => MacAddr(GATEWAY_MAC),
    }
}

fn client_ip(c: u8) -> [u8; 4] {
    [198, 19, 0, 1 + c]
}

fn client_port(c: u8) -> u16 {
    40_000 + u16::from(c)
}

/// Writes an Ethernet + IPv4 + TCP/UDP frame into `buf` and returns its length.
#[allow(clippy::too_many_arguments)]
fn l4_frame(
    buf: &mut [u8],
    src_mac: [u8; 6],
    src: Endpoint,
    dst: Endpoint,
    tcp: Option<(TcpFlags, u32, u32)>,
    payload: usize,
    ttl: u8,
) -> usize {
    let caps = ChecksumCaps::software();
    let (IpAddr::V4(s4), IpAddr::V4(d4)) = (src.addr, dst.addr) else {
        return 0;
    };
    let l4_hdr = if tcp.is_some() { 20 } else { 8 };
    let l4_len = l4_hdr + payload;
    let total = 14 + 20 + l4_len;
    if total > buf.len() {
        return 0;
    }
    for (i, b) in buf[14 + 20 + l4_hdr..total].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7) ^ 0x5a;
    }
    let l4 = &mut buf[34..total];
    match tcp {
        Some((flags, seq, ack)) => wire::tcp::Repr {
            src_port: src.port,
            dst_port: dst.port,
            seq_number: seq,
            ack_number: ack,
            flags,
            window: 64_240,
        }
        .emit(
            &mut wire::tcp::Packet::new_unchecked(l4),
            &src.addr,
            &dst.addr,
            &caps,
        ),
        None => wire::udp::Repr {
            src_port: src.port,
            dst_port: dst.port,
        }
        .emit(
            &mut wire::udp::Packet::new_unchecked(l4),
            payload,
            &src.addr,
            &dst.addr,
            true,
            &caps,
        ),
    }
    wire::ipv4::Repr {
        src_addr: s4,
        dst_addr: d4,
        protocol: if tcp.is_some() { 6 } else { 17 },
        payload_len: l4_len,
        ttl,
        tos: 0,
        ident: 0x4242,
        dont_frag: true,
    }
    .emit(
        &mut wire::ipv4::Packet::new_unchecked(&mut buf[14..total]),
        &caps,
    );
    wire::ethernet::Repr {
        src_addr: MacAddr(src_mac),
        dst_addr: MacAddr(OWN_MAC),
        ethertype: wire::ethernet::EtherType::Ipv4,
    }
    .emit(&mut wire::ethernet::Frame::new_unchecked(&mut buf[..total]));
    total
}

/// Writes an ARP request from the router for `target` into `buf`.
fn arp_request(buf: &mut [u8], target: [u8; 4]) -> usize {
    let len = 14 + 28;
    let mut eth = EthernetFrame::new_unchecked(&mut buf[..len]);
    EthernetRepr {
        src_addr: EthernetAddress(GATEWAY_MAC),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut eth);
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(GATEWAY_MAC),
        source_protocol_addr: Ipv4Addr::from(GATEWAY_IP),
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: Ipv4Addr::from(target),
    }
    .emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    len
}

/// One scripted frame.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The router asks who has this address.
    Arp([u8; 4]),
    /// Client `c` to a service: TCP flags (None: UDP), payload, TTL.
    ToVip {
        c: u8,
        vip: Endpoint,
        tcp: Option<TcpFlags>,
        payload: usize,
        ttl: u8,
    },
    /// The NAT server that client `c` was given answers it.
    FromReal {
        c: u8,
        flags: TcpFlags,
        payload: usize,
    },
    /// Bytes that are not a frame we can read.
    Garbage(usize),
}

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;

fn syn_ack() -> TcpFlags {
    TcpFlags::SYN | TcpFlags::ACK
}
fn psh_ack() -> TcpFlags {
    TcpFlags::PSH | TcpFlags::ACK
}
fn fin_ack() -> TcpFlags {
    TcpFlags::FIN | TcpFlags::ACK
}

/// Calls `f` with each step of the script in order.
fn script(mut f: impl FnMut(Step)) {
    let nat = Endpoint::v4(VIP_A, 80);
    let dr = Endpoint::v4(VIP_B, 80);
    let dns = Endpoint::v4(VIP_A, 53);
    let to = |c, vip, tcp, payload| Step::ToVip {
        c,
        vip,
        tcp,
        payload,
        ttl: 64,
    };
    for t in [VIP_A, VIP_B, [198, 18, 0, 99]] {
        f(Step::Arp(t));
    }
    for c in 0..CLIENTS {
        f(to(c, nat, Some(SYN), 0));
        f(Step::FromReal {
            c,
            flags: syn_ack(),
            payload: 0,
        });
        f(to(c, nat, Some(ACK), 0));
        f(to(c, nat, Some(psh_ack()), 100 + usize::from(c)));
        f(Step::FromReal {
            c,
            flags: psh_ack(),
            payload: 300 + usize::from(c) * 10,
        });
    }
    for c in 0..10 {
        f(to(c, dr, Some(SYN), 0));
        f(to(c, dr, Some(ACK), 0));
        f(to(c, dr, Some(psh_ack()), 200));
    }
    for c in 0..4 {
        f(to(c, dns, None, 40 + usize::from(c)));
    }
    // a port with no service, a stray ACK, a TTL about to expire, a runt, an unknown EtherType
    f(to(0, Endpoint::v4(VIP_A, 81), Some(SYN), 0));
    f(to(11, dr, Some(ACK), 0));
    f(Step::ToVip {
        c: 1,
        vip: nat,
        tcp: Some(ACK),
        payload: 10,
        ttl: 1,
    });
    f(Step::Garbage(10));
    f(Step::Garbage(60));
    for c in 0..4 {
        f(to(c, nat, Some(fin_ack()), 0));
        f(Step::FromReal {
            c,
            flags: fin_ack(),
            payload: 0,
        });
        f(to(c, nat, Some(ACK), 0));
    }
}

/// Sets up the director (three services, eight servers) in the given storage.
///
/// # Errors
/// The director's, if the storage does not fit the configuration.
#[inline(never)]
pub fn director<'a>(
    conns: &'a mut [ConnSlot],
    small: &'a mut SmallMemory,
    fixed: &'a mut DirectorFixed,
) -> Result<Director<'a, FwSched>, ConfigError> {
    let mem = DirectorMemory {
        conns,
        services: &mut small.services,
        dests: &mut small.dests,
        dest_stats: &mut small.stats,
        order: &mut small.order,
        fixed,
    };
    // built where it is returned (a director is tens of KiB: no copies on a small stack)
    let mut r = Director::new(
        DirectorConfig::new(SipKey(0x5eed, 0xf00d)),
        mem,
        Instant::ZERO,
    );
    if let Ok(dir) = &mut r {
        if let Err(e) = add_services(dir) {
            r = Err(e);
        }
    }
    r
}

/// The three services and their servers.
fn add_services(dir: &mut Director<'_, FwSched>) -> Result<(), ConfigError> {
    let tcp = |vip| ServiceKey::Addr {
        proto: Protocol::Tcp,
        vip,
    };
    let nat = dir.add_service(
        ServiceConfig::new(tcp(Endpoint::v4(VIP_A, 80))),
        FwSched::Wlc(Wlc::new()),
    )?;
    for (i, w) in [1, 2, 3, 1].into_iter().enumerate() {
        let ep = Endpoint::v4([198, 18, 1, 1 + i as u8], 8080);
        dir.add_dest(nat, DestConfig::new(ep, FwdMethod::Masq, w))?;
    }
    let dr = dir.add_service(
        ServiceConfig::new(tcp(Endpoint::v4(VIP_B, 80))),
        FwSched::Sh(Sh::new(false, false)),
    )?;
    for (i, w) in [1, 1, 2].into_iter().enumerate() {
        let ep = Endpoint::v4([198, 18, 2, 1 + i as u8], 80);
        dir.add_dest(dr, DestConfig::new(ep, FwdMethod::DirectRoute, w))?;
    }
    let dns = dir.add_service(
        ServiceConfig::new(ServiceKey::Addr {
            proto: Protocol::Udp,
            vip: Endpoint::v4(VIP_A, 53),
        }),
        FwSched::Wlc(Wlc::new()),
    )?;
    let tun = Endpoint::v4([198, 18, 3, 1], 53);
    dir.add_dest(dns, DestConfig::new(tun, FwdMethod::Tunnel, 1))?;
    Ok(())
}

impl<'d, 'a> Firmware<'d, 'a> {
    /// The firmware around a configured director.
    pub fn new(dir: &'d mut Director<'a, FwSched>) -> Self {
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(OWN_MAC)));
        config.random_seed = 0x1f1f;
        let mut sink = NullWrite;
        let mut mac = ScriptedMac::new(&mut sink);
        let mut iface = Interface::new(config, &mut mac, smoltcp::time::Instant::ZERO);
        iface.update_ip_addrs(|a| {
            for vip in [VIP_A, VIP_B] {
                let _ = a.push(IpCidr::new(Ipv4Addr::from(vip).into(), 24));
            }
        });
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe);
        Firmware {
            dir,
            cfg: ProcessConfig::new(Ipv4Addr::from(OWN_IP), v6, SipKey(7, 9)),
            iface,
            work: [0; HEADROOM + FRAME_MAX],
            icmp: [0; 576],
            nat_real: [None; CLIENTS as usize],
            clock_ms: 0,
            tally: Tally::default(),
        }
    }

    /// Runs the script, printing a digest line per transmitted frame to `out`; returns the
    /// number of frames transmitted.
    pub fn run_script<W: Write>(&mut self, out: &mut W) -> u32 {
        let mut mac = ScriptedMac::new(out);
        script(|step| {
            self.clock_ms += 1;
            let now = Instant::from_millis(self.clock_ms);
            let smol_now = smoltcp::time::Instant::from_millis(self.clock_ms as i64);
            let nat_real = self.nat_real;
            mac.load(|buf| build(step, &nat_real, buf));
            self.tally.rx += 1;
            if mac.rx_ethertype() == 0x0806 {
                self.tally.arp += 1;
                let mut none: [SocketStorage<'_>; 0] = [];
                let mut sockets = SocketSet::new(&mut none[..]);
                let _ = self.iface.poll(smol_now, &mut mac, &mut sockets);
                return;
            }
            let Some((rx, tx)) = mac.receive(smol_now) else {
                return;
            };
            let work = &mut self.work;
            let len = smoltcp::phy::RxToken::consume(rx, |f| {
                work[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
                f.len()
            });
            let action = process_frame(
                self.dir,
                now,
                work,
                HEADROOM,
                len,
                0,
                &self.cfg,
                &mut self.icmp,
            );
            match action {
                Action::Transmit {
                    start,
                    len,
                    next_hop,
                    to,
                } => {
                    if let (
                        Peer::RealServer {
                            method: FwdMethod::Masq,
                            ..
                        },
                        Step::ToVip { c, .. },
                    ) = (to, step)
                    {
                        learn(&mut self.nat_real, c, &work[start..start + len]);
                    }
                    self.tally.forwarded += 1;
                    let frame = &mut work[start - 14..start + len];
                    frame_header(frame, &next_hop);
                    send(tx, frame);
                }
                Action::Respond { len, dst } => {
                    self.tally.responded += 1;
                    let frame = &mut work[..14 + len];
                    frame[14..].copy_from_slice(&self.icmp[..len]);
                    frame_header(frame, &dst);
                    send(tx, frame);
                }
                Action::Deliver => self.tally.delivered += 1,
                Action::Drop(_) => self.tally.dropped += 1,
            }
        });
        // time passes: the finished connections expire
        self.clock_ms += 3 * 60_000;
        let _ = self.dir.handle_timeout(Instant::from_millis(self.clock_ms));
        mac.tx.frames
    }

    /// Prints the final stats.
    pub fn print_stats<W: Write>(&self, out: &mut W) {
        let t = &self.tally;
        let _ = writeln!(
            out,
            "frames rx={} arp={} forwarded={} responded={} delivered={} dropped={}",
            t.rx, t.arp, t.forwarded, t.responded, t.delivered, t.dropped
        );
        let s = &self.dir.total_stats().counters;
        let _ = writeln!(
            out,
            "total conns={} inpkts={} outpkts={} inbytes={} outbytes={} active={}",
            s.conns,
            s.inpkts,
            s.outpkts,
            s.inbytes,
            s.outbytes,
            self.dir.table().len()
        );
        for (sid, svc) in self.dir.services() {
            let _ = writeln!(out, "service {} {}", svc.config.key, svc.sched.name());
            for (id, d) in self.dir.dests(sid).iter() {
                let c = self
                    .dir
                    .dest_stats(id)
                    .map(|s| s.counters)
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  -> {} w={} conns={} inpkts={} outpkts={} active={} inactive={}",
                    d.addr, d.weight, c.conns, c.inpkts, c.outpkts, d.active, d.inactive
                );
            }
        }
        let k = self.dir.counters();
        let _ = writeln!(
            out,
            "counters no_destination={} expired={} refused_full={}",
            k.no_destination, k.expired, k.refused_full
        );
    }

    /// Forwards `n` packets of established NAT connections (client to server), timing each
    /// [`process_frame`] call with `timed`, which runs the closure it is given and returns the
    /// ticks it took; returns the total ticks and how many of the packets were forwarded.
    pub fn established(
        &mut self,
        n: u32,
        mut timed: impl FnMut(&mut dyn FnMut()) -> u32,
    ) -> (u64, u32) {
        let mut total = 0u64;
        let mut forwarded = 0;
        for k in 0..n {
            // clients 4.. keep their connections open to the end of the script
            let c = 4 + (k % u32::from(CLIENTS - 4)) as u8;
            self.clock_ms += 1;
            let now = Instant::from_millis(self.clock_ms);
            let step = Step::ToVip {
                c,
                vip: Endpoint::v4(VIP_A, 80),
                tcp: Some(ACK),
                payload: 64,
                ttl: 64,
            };
            let len = build(step, &self.nat_real, &mut self.work[HEADROOM..]);
            let (dir, work, cfg, icmp) =
                (&mut *self.dir, &mut self.work, &self.cfg, &mut self.icmp);
            let mut sent = false;
            total += u64::from(timed(&mut || {
                let a = process_frame(dir, now, work, HEADROOM, len, 0, cfg, icmp);
                sent = matches!(a, Action::Transmit { .. });
            }));
            forwarded += u32::from(sent);
        }
        (total, forwarded)
    }
}

/// Records the NAT server a client's packet went to: the rewritten destination of `ip`.
fn learn(nat_real: &mut [Option<Endpoint>], c: u8, ip: &[u8]) {
    if ip.len() >= 24 {
        let addr = [ip[16], ip[17], ip[18], ip[19]];
        let port = u16::from_be_bytes([ip[22], ip[23]]);
        if let Some(slot) = nat_real.get_mut(usize::from(c)) {
            *slot = Some(Endpoint::v4(addr, port));
        }
    }
}

/// Writes the Ethernet header of an outgoing IP packet (`frame[14..]`) toward `next_hop`.
fn frame_header(frame: &mut [u8], next_hop: &IpAddr) {
    let ethertype = match next_hop {
        IpAddr::V4(_) => wire::ethernet::EtherType::Ipv4,
        IpAddr::V6(_) => wire::ethernet::EtherType::Ipv6,
    };
    wire::ethernet::Repr {
        src_addr: MacAddr(OWN_MAC),
        dst_addr: neighbour(next_hop),
        ethertype,
    }
    .emit(&mut wire::ethernet::Frame::new_unchecked(frame));
}

/// Transmits `frame` through a token.
fn send<T: smoltcp::phy::TxToken>(tx: T, frame: &[u8]) {
    tx.consume(frame.len(), |b| b.copy_from_slice(&frame[..b.len()]));
}

/// Writes step `s` into `buf`, returning the frame length.
fn build(s: Step, nat_real: &[Option<Endpoint>], buf: &mut [u8]) -> usize {
    match s {
        Step::Arp(t) => arp_request(buf, t),
        Step::ToVip {
            c,
            vip,
            tcp,
            payload,
            ttl,
        } => {
            let src = Endpoint::v4(client_ip(c), client_port(c));
            let seq = 1000 + u32::from(c) * 7919;
            let tcp = tcp.map(|f| (f, seq, if f == SYN { 0 } else { 5000 }));
            l4_frame(buf, GATEWAY_MAC, src, vip, tcp, payload, ttl)
        }
        Step::FromReal { c, flags, payload } => {
            let Some(real) = nat_real.get(usize::from(c)).copied().flatten() else {
                return 0;
            };
            let client = Endpoint::v4(client_ip(c), client_port(c));
            let IpAddr::V4(a) = real.addr else {
                return 0;
            };
            let o = a.octets();
            let tcp = Some((flags, 5000, 1001 + u32::from(c) * 7919));
            l4_frame(
                buf,
                [0x02, 0, o[0], o[1], o[2], o[3]],
                real,
                client,
                tcp,
                payload,
                64,
            )
        }
        Step::Garbage(n) => {
            let n = n.min(buf.len());
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = if i == 12 { 0x88 } else { i as u8 };
            }
            n
        }
    }
}

/// A writer that discards.
struct NullWrite;

impl Write for NullWrite {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}
