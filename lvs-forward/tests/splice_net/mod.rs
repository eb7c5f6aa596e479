//! An in-memory network with virtual time: smoltcp TCP stacks as the client and the real
//! servers, the splicer in between, and a wire that can lose and reorder packets (seeded).

#![allow(dead_code)]

pub mod apps;

use core::cell::Cell;
use core::net::{Ipv4Addr, SocketAddrV4};
use lvs_core::hash::SipKey;
use lvs_forward::splice::{ContentClassifier, SpliceConfig, SpliceVerdict, Splicer, Toward};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::collections::VecDeque;

thread_local! {
    static NOW_MS: Cell<u64> = const { Cell::new(0) };
}

/// TCP timestamp clock for smoltcp sockets: the virtual time in ms.
pub fn tsval() -> u32 {
    NOW_MS.with(|n| n.get() as u32)
}

pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 100), 80);

pub fn server_addr(n: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 1 + n as u8), 8080)
}

#[derive(Default)]
pub struct Dev {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
}

pub struct Rx(Vec<u8>);
pub struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0; len];
        let r = f(&mut b);
        self.0.push_back(b);
        r
    }
}

impl phy::Device for Dev {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _t: SInstant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }
    fn transmit(&mut self, _t: SInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }
}

pub struct Host {
    pub ip: Ipv4Addr,
    pub iface: Interface,
    pub dev: Dev,
    pub sockets: SocketSet<'static>,
}

impl Host {
    pub fn new(ip: Ipv4Addr, gw: Ipv4Addr, seed: u64, now: u64) -> Host {
        let mut dev = Dev::default();
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut dev, SInstant::from_millis(now as i64));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(ip), 24)).unwrap());
        iface.routes_mut().add_default_ipv4_route(gw).unwrap();
        Host {
            ip,
            iface,
            dev,
            sockets: SocketSet::new(vec![]),
        }
    }

    pub fn poll(&mut self, now: u64) {
        self.iface.poll(
            SInstant::from_millis(now as i64),
            &mut self.dev,
            &mut self.sockets,
        );
    }

    pub fn poll_at(&mut self, now: u64) -> Option<u64> {
        self.iface
            .poll_at(SInstant::from_millis(now as i64), &self.sockets)
            .map(|t| t.total_millis().max(0) as u64)
    }
}

/// Where a packet on the wire is going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dest {
    Splicer,
    Client,
    Server(usize),
}

/// Seeded xorshift.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

/// Impairments on every hop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Impair {
    pub loss_per_mille: u64,
    pub reorder_per_mille: u64,
}

pub struct Net<C: ContentClassifier> {
    pub now: u64,
    pub client: Host,
    pub servers: Vec<Host>,
    pub splicer: Splicer<'static, C, 1024>,
    wire: Vec<(u64, u64, Dest, Vec<u8>)>,
    seq: u64,
    pub rng: Rng,
    pub impair: Impair,
    pub packets: u64,
    pub dropped_by_wire: u64,
    pub drops: Vec<lvs_forward::splice::SpliceDrop>,
    pub trace: VecDeque<String>,
}

/// One line about a packet, for traces.
pub fn describe(p: &[u8]) -> String {
    if p.len() < 40 {
        return format!("short {}", p.len());
    }
    let ihl = usize::from(p[0] & 15) * 4;
    let t = &p[ihl..];
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let doff = usize::from(t[12] >> 4) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    format!(
        "{}.{}:{} > {}.{}:{} f={:02x} seq={} ack={} win={} len={}",
        p[14],
        p[15],
        u16::from_be_bytes([t[0], t[1]]),
        p[18],
        p[19],
        u16::from_be_bytes([t[2], t[3]]),
        t[13],
        be(&t[4..]),
        be(&t[8..]),
        u16::from_be_bytes([t[14], t[15]]),
        total - ihl - doff
    )
}

/// Cookie period 31 (top ISN bits all ones with MSS index 7): the splicer's ISN toward the
/// client then sits within 16 MiB of 2^32, so downloads cross the sequence wrap.
pub const START_MS: u64 = 31 * 64 * 1000 + 500;

pub fn config() -> SpliceConfig {
    let mut c = SpliceConfig::new(SipKey(0x1234, 0x5678));
    c.header_timeout = lvs_core::Duration::from_secs(10);
    c.idle_timeout = lvs_core::Duration::from_secs(900);
    c
}

impl<C: ContentClassifier> Net<C> {
    pub fn new(classifier: C, nservers: usize, seed: u64) -> Net<C> {
        Self::with_config(classifier, nservers, seed, config())
    }

    pub fn with_config(classifier: C, nservers: usize, seed: u64, cfg: SpliceConfig) -> Net<C> {
        let now = START_MS;
        NOW_MS.with(|n| n.set(now));
        let slab: &'static mut [u8] = Box::leak(vec![0u8; 64 * 8192].into_boxed_slice());
        let client = Host::new(CLIENT_IP, Ipv4Addr::new(198, 18, 0, 254), seed, now);
        let servers = (0..nservers)
            .map(|n| {
                Host::new(
                    *server_addr(n).ip(),
                    Ipv4Addr::new(198, 18, 1, 254),
                    seed.wrapping_mul(31).wrapping_add(n as u64 + 1),
                    now,
                )
            })
            .collect();
        Net {
            now,
            client,
            servers,
            splicer: Splicer::new(cfg, classifier, slab, 8192),
            wire: Vec::new(),
            seq: 0,
            rng: Rng(seed | 1),
            impair: Impair::default(),
            packets: 0,
            dropped_by_wire: 0,
            drops: Vec::new(),
            trace: VecDeque::new(),
        }
    }

    fn put(&mut self, dest: Dest, p: Vec<u8>) {
        if self.trace.len() > 60 {
            self.trace.pop_front();
        }
        self.trace
            .push_back(format!("{} {:?} {}", self.now, dest, describe(&p)));
        if self.rng.chance(self.impair.loss_per_mille) {
            self.trace.push_back("   (lost)".into());
            self.dropped_by_wire += 1;
            return;
        }
        let extra = if self.rng.chance(self.impair.reorder_per_mille) {
            1 + self.rng.next() % 3
        } else {
            0
        };
        self.seq += 1;
        self.wire.push((self.now + 1 + extra, self.seq, dest, p));
    }

    /// Injects a raw IPv4 packet into the splicer as if it came off the wire, returning the
    /// verdict and whatever it wrote.
    pub fn inject(&mut self, pkt: &[u8]) -> (SpliceVerdict, Vec<u8>) {
        let mut buf = vec![0u8; 2048];
        buf[..pkt.len()].copy_from_slice(pkt);
        let v = self.splicer.handle_packet(
            lvs_core::Instant::from_millis(self.now),
            &mut buf,
            pkt.len(),
        );
        let out = match v {
            SpliceVerdict::Transmit(t) => buf[..t.len].to_vec(),
            _ => vec![],
        };
        (v, out)
    }

    fn deliver_to_splicer(&mut self, p: Vec<u8>) {
        let now = lvs_core::Instant::from_millis(self.now);
        let mut buf = vec![0u8; 2048];
        let n = p.len().min(buf.len());
        buf[..n].copy_from_slice(&p[..n]);
        match self.splicer.handle_packet(now, &mut buf, n) {
            SpliceVerdict::Transmit(t) => {
                buf.truncate(t.len);
                let d = self.route(t.to, &buf);
                self.put(d, buf);
            }
            SpliceVerdict::Consumed => {}
            SpliceVerdict::Drop(d) => self.drops.push(d),
        }
        self.drain_splicer();
    }

    fn route(&self, to: Toward, pkt: &[u8]) -> Dest {
        match to {
            Toward::Client => Dest::Client,
            Toward::Server => {
                let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
                let n = self
                    .servers
                    .iter()
                    .position(|s| s.ip == dst)
                    .expect("a known server");
                Dest::Server(n)
            }
        }
    }

    fn drain_splicer(&mut self) {
        let now = lvs_core::Instant::from_millis(self.now);
        let mut out = vec![0u8; 1500];
        for _ in 0..10_000 {
            let Some(t) = self.splicer.poll_transmit(now, &mut out) else {
                break;
            };
            let p = out[..t.len].to_vec();
            let d = self.route(t.to, &p);
            self.put(d, p);
        }
    }

    /// One step: poll the stacks, move packets, run timers, advance time.
    pub fn step(&mut self) {
        NOW_MS.with(|n| n.set(self.now));
        self.client.poll(self.now);
        for s in &mut self.servers {
            s.poll(self.now);
        }
        while let Some(p) = self.client.dev.tx.pop_front() {
            self.packets += 1;
            self.put(Dest::Splicer, p);
        }
        for i in 0..self.servers.len() {
            while let Some(p) = self.servers[i].dev.tx.pop_front() {
                self.packets += 1;
                self.put(Dest::Splicer, p);
            }
        }
        let now = self.now;
        let mut due: Vec<_> = Vec::new();
        self.wire.retain(|e| {
            if e.0 <= now {
                due.push(e.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|e| (e.0, e.1));
        for (_, _, d, p) in due {
            match d {
                Dest::Splicer => self.deliver_to_splicer(p),
                Dest::Client => self.client.dev.rx.push_back(p),
                Dest::Server(n) => self.servers[n].dev.rx.push_back(p),
            }
        }
        if let Some(t) = self.splicer.poll_timeout() {
            if t.total_millis() <= self.now {
                self.splicer
                    .handle_timeout(lvs_core::Instant::from_millis(self.now));
                self.drain_splicer();
            }
        }
        // advance: one tick while anything moves, else jump to the next timer
        let busy = !self.wire.is_empty()
            || !self.client.dev.rx.is_empty()
            || self.servers.iter().any(|s| !s.dev.rx.is_empty());
        let mut next = self.now + 1;
        if !busy {
            let mut t = u64::MAX;
            if let Some(x) = self.client.poll_at(self.now) {
                t = t.min(x);
            }
            for s in &mut self.servers {
                if let Some(x) = s.poll_at(self.now) {
                    t = t.min(x);
                }
            }
            if let Some(x) = self.splicer.poll_timeout() {
                t = t.min(x.total_millis());
            }
            if t != u64::MAX {
                next = t.max(self.now + 1);
            }
        }
        self.now = next;
    }
}
