//! The one-pass path of established flows against the general path: identical directors see
//! the same generated traffic (established and new flows over TCP and UDP, IPv4 and IPv6,
//! every TCP flag mix, replies from real servers, unknown flows, IPv4 options, fragments,
//! VLAN tags, TTL 1, oversized DF packets, short frames, garbage, time steps that expire
//! entries, real servers removed or quiesced), under several director configurations
//! (`secure_tcp`, a sync master, `conn_reuse_mode`, `expire_nodest_conn`).
//!
//! - `fused`: [`process_frame`] with [`Standard`], which takes the one-pass path;
//! - `general`: the same rewriter behind a wrapper that keeps the trait's defaults for
//!   [`Rewriter::pre_classify_is_noop`] (so every packet takes the general path, with its
//!   NAT shortcut);
//! - `plain`: a wrapper that also declines the NAT shortcut (every rewrite by `nat_in`);
//! - `burst`: [`process_burst`] with [`Standard`], in bursts of random sizes.
//!
//! Every action, every byte of every frame and ICMP answer, and the directors' counters,
//! statistics (total, per service, per real server), real servers' connection counts, the
//! connection table (every slot, timers included) and listings must agree.

use etherparse::PacketBuilder;
use lvs_core::director::{
    Defense, Director, DirectorConfig, Forward, OwnedMemory, Reply, SyncRole,
};
use lvs_core::hash::SipKey;
use lvs_core::service::Persistence;
use lvs_core::sync::SyncPolicy;
use lvs_core::{
    DestConfig, DestId, DestSet, Duration, Endpoint, FwdMethod, Instant, Protocol, SchedRequest,
    Scheduler, ServiceConfig, ServiceId, ServiceKey,
};
use lvs_forward::process::{
    process_burst, process_frame, process_frame_with, Action, BurstFrame, ProcessConfig,
};
use lvs_forward::rewrite::{Emitted, PacketBuf, Room, Standard};
use lvs_forward::Rewriter;
use proptest::prelude::*;

/// Least total connections, first in list order on ties.
struct Least;
impl Scheduler for Least {
    fn name(&self) -> &'static str {
        "least"
    }
    fn schedule(&mut self, d: &DestSet<'_>, _: &SchedRequest) -> Option<DestId> {
        d.iter()
            .filter(|(_, d)| d.weight > 0)
            .min_by_key(|(_, d)| d.active + d.inactive)
            .map(|(i, _)| i)
    }
}

/// [`Standard`] with the trait's default `pre_classify_is_noop` (false): the general path.
/// With `shortcut` false it also declines the NAT shortcut.
struct General {
    shortcut: bool,
}

impl Rewriter for General {
    type Error = lvs_forward::ForwardError;
    fn room(&self, f: &Forward) -> Room {
        Standard.room(f)
    }
    fn nat_shortcut(&self, f: &Forward) -> bool {
        self.shortcut && Standard.nat_shortcut(f)
    }
    fn forward(&mut self, pkt: PacketBuf<'_>, f: &Forward, cfg: &ProcessConfig) -> Emitted {
        Standard.forward(pkt, f, cfg)
    }
    fn reply(&mut self, pkt: PacketBuf<'_>, r: &Reply, cfg: &ProcessConfig) -> Emitted {
        Standard.reply(pkt, r, cfg)
    }
}

const HEADROOM: usize = 48;
const VIP: [u8; 4] = [198, 18, 0, 1];
const VIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const RS: [[u8; 4]; 3] = [[10, 0, 1, 1], [10, 0, 1, 2], [10, 0, 1, 3]];
const RS6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const CMAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const DMAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

type Mem = OwnedMemory<Least>;

/// The director configurations the test runs under.
fn config(variant: u8) -> DirectorConfig {
    let mut c = DirectorConfig::new(SipKey(5, 6));
    match variant % 5 {
        1 => c.secure_tcp = Defense::Always,
        2 => c.sync = SyncRole::Master(SyncPolicy::DEFAULT),
        3 => c.conn_reuse_mode = 0,
        4 => c.expire_nodest_conn = true,
        _ => {}
    }
    c
}

fn director(mem: &mut Mem, variant: u8) -> Director<'_, Least> {
    let mut d = Director::new(config(variant), mem.borrow(), Instant::ZERO).unwrap();
    for (proto, port, method, rport, persist) in [
        (Protocol::Tcp, 80, FwdMethod::Masq, 8080, false),
        (Protocol::Udp, 53, FwdMethod::Masq, 8053, false),
        // real servers on port 0: the virtual port is kept
        (Protocol::Tcp, 8000, FwdMethod::Masq, 0, false),
        (Protocol::Tcp, 8443, FwdMethod::Masq, 9443, true),
        (Protocol::Tcp, 443, FwdMethod::Tunnel, 443, false),
        (Protocol::Tcp, 22, FwdMethod::DirectRoute, 22, false),
    ] {
        let mut sc = ServiceConfig::new(ServiceKey::Addr {
            proto,
            vip: Endpoint::v4(VIP, port),
        });
        if persist {
            sc = sc.with_persistence(Persistence::new(Duration::from_secs(60)));
        }
        let s = d.add_service(sc, Least).unwrap();
        for rs in RS {
            d.add_dest(s, DestConfig::new(Endpoint::v4(rs, rport), method, 1))
                .unwrap();
        }
    }
    let s = d
        .add_service(
            ServiceConfig::new(ServiceKey::Addr {
                proto: Protocol::Tcp,
                vip: Endpoint::v6(VIP6, 80),
            }),
            Least,
        )
        .unwrap();
    d.add_dest(
        s,
        DestConfig::new(Endpoint::v6(RS6, 8080), FwdMethod::Masq, 1),
    )
    .unwrap();
    d
}

/// One generated event.
#[derive(Debug, Clone)]
enum Gen {
    /// Client `c` to VIP:`port` over TCP with `flags` (FIN 1, SYN 2, RST 4, PSH 8, ACK 16),
    /// TTL, payload length, IPv4 options (`opts` words), DF.
    Tcp {
        c: u8,
        port: u16,
        flags: u8,
        ttl: u8,
        payload: u16,
        opts: u8,
        df: bool,
    },
    /// Client to VIP:`port` over UDP (checksum zeroed with `nocsum`).
    Udp {
        c: u8,
        port: u16,
        ttl: u8,
        nocsum: bool,
    },
    /// IPv6 TCP to the IPv6 service.
    Tcp6 { c: u8, flags: u8 },
    /// A real server's reply to a client.
    Reply { c: u8, rs: u8, flags: u8 },
    /// A fragment of a client's TCP packet (`first`: offset 0 with MF, else a later one).
    Frag { c: u8, first: bool },
    /// A VLAN-tagged ACK of an established flow.
    Vlan { c: u8 },
    /// An established flow's ACK cut short (frame shorter than 54 bytes after the header).
    Short { c: u8 },
    /// Random bytes.
    Junk(Vec<u8>),
    /// Time passes; the directors' timers run if `timers` (else entries past their deadline
    /// stay in the table until a packet finds them).
    Wait { ms: u64, timers: bool },
    /// Real server `rs` of the HTTP service removed (or given weight 0).
    Remove { rs: u8, quiesce: bool },
}

fn client(c: u8) -> ([u8; 4], u16) {
    ([198, 19, c >> 3, c & 7], 40_000 + u16::from(c))
}

fn tcp_flags<T>(
    b: etherparse::PacketBuilderStep<etherparse::TcpHeader>,
    flags: u8,
    f: impl FnOnce(etherparse::PacketBuilderStep<etherparse::TcpHeader>) -> T,
) -> T {
    let mut b = b;
    if flags & 1 != 0 {
        b = b.fin();
    }
    if flags & 2 != 0 {
        b = b.syn();
    }
    if flags & 4 != 0 {
        b = b.rst();
    }
    if flags & 8 != 0 {
        b = b.psh();
    }
    if flags & 16 != 0 {
        b = b.ack(1);
    }
    f(b)
}

/// Recomputes the IPv4 header checksum of the frame's header at 14.
fn fix_ip_csum(v: &mut [u8]) {
    let ihl = usize::from(v[14] & 0x0f) * 4;
    v[24] = 0;
    v[25] = 0;
    let mut sum: u32 = 0;
    for i in (14..14 + ihl).step_by(2) {
        sum += u32::from(u16::from_be_bytes([v[i], v[i + 1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    v[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

fn build(g: &Gen) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    match g {
        Gen::Tcp {
            c,
            port,
            flags,
            ttl,
            payload,
            opts,
            df,
        } => {
            let (a, p) = client(*c);
            let mut ip =
                etherparse::Ipv4Header::new(0, *ttl, etherparse::IpNumber::TCP, a, VIP).unwrap();
            ip.dont_fragment = *df;
            if *opts > 0 {
                let o = vec![1u8; usize::from(*opts) * 4]; // NOPs
                ip.options = o[..].try_into().unwrap();
            }
            let b = PacketBuilder::ethernet2(CMAC, DMAC)
                .ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
                .tcp(p, *port, 1000, 65535);
            tcp_flags(b, *flags, |b| {
                b.write(&mut v, &vec![0x5a; usize::from(*payload)])
            })
            .unwrap();
        }
        Gen::Udp {
            c,
            port,
            ttl,
            nocsum,
        } => {
            let (a, p) = client(*c);
            PacketBuilder::ethernet2(CMAC, DMAC)
                .ipv4(a, VIP, *ttl)
                .udp(p, *port)
                .write(&mut v, b"query")
                .unwrap();
            if *nocsum {
                v[40] = 0;
                v[41] = 0;
            }
        }
        Gen::Tcp6 { c, flags } => {
            let mut s = [0u8; 16];
            s[0] = 0x20;
            s[1] = 0x01;
            s[2] = 0x0d;
            s[3] = 0xb8;
            s[4] = 9;
            s[15] = *c;
            let b = PacketBuilder::ethernet2(CMAC, DMAC).ipv6(s, VIP6, 64).tcp(
                40_000 + u16::from(*c),
                80,
                1,
                65535,
            );
            tcp_flags(b, *flags, |b| b.write(&mut v, b"")).unwrap();
        }
        Gen::Reply { c, rs, flags } => {
            let (a, p) = client(*c);
            let b = PacketBuilder::ethernet2(DMAC, CMAC)
                .ipv4(RS[usize::from(*rs) % 3], a, 64)
                .tcp(8080, p, 5000, 65535);
            tcp_flags(b, *flags, |b| b.write(&mut v, b"")).unwrap();
        }
        Gen::Frag { c, first } => {
            let (a, p) = client(*c);
            PacketBuilder::ethernet2(CMAC, DMAC)
                .ipv4(a, VIP, 64)
                .tcp(p, 80, 1, 65535)
                .ack(1)
                .write(&mut v, &[7u8; 16])
                .unwrap();
            // MF set; a later fragment also gets an offset
            let off: u16 = if *first { 0x2000 } else { 0x2000 | 4 };
            v[20..22].copy_from_slice(&off.to_be_bytes());
            fix_ip_csum(&mut v);
        }
        Gen::Vlan { c } => {
            let (a, p) = client(*c);
            PacketBuilder::ethernet2(CMAC, DMAC)
                .single_vlan(etherparse::VlanId::try_new(7).unwrap())
                .ipv4(a, VIP, 64)
                .tcp(p, 80, 1, 65535)
                .ack(1)
                .write(&mut v, b"")
                .unwrap();
        }
        Gen::Short { c } => {
            let (a, p) = client(*c);
            PacketBuilder::ethernet2(CMAC, DMAC)
                .ipv4(a, VIP, 64)
                .udp(p, 53)
                .write(&mut v, b"")
                .unwrap();
        }
        Gen::Junk(b) => v.extend_from_slice(b),
        Gen::Wait { .. } | Gen::Remove { .. } => return None,
    }
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(&v);
    Some(buf)
}

fn gen() -> impl Strategy<Value = Gen> {
    let c = 0u8..12;
    let flags = prop_oneof![
        6 => Just(16u8), 3 => Just(16 | 8), 2 => Just(2u8), 1 => Just(1 | 16), 1 => Just(4u8),
        1 => Just(0u8), 1 => 0u8..32,
    ];
    let port = prop_oneof![
        6 => Just(80u16), 1 => Just(8000), 1 => Just(8443), 1 => Just(443), 1 => Just(22),
        1 => Just(81),
    ];
    prop_oneof![
        12 => (c.clone(), port, flags.clone(), prop_oneof![8 => Just(64u8), 1 => Just(1u8), 1 => Just(2u8)],
               prop_oneof![8 => Just(0u16), 1 => Just(1500u16), 1 => 1u16..40],
               prop_oneof![8 => Just(0u8), 1 => 1u8..3], any::<bool>())
            .prop_map(|(c, port, flags, ttl, payload, opts, df)| Gen::Tcp { c, port, flags, ttl, payload, opts, df }),
        3 => (c.clone(), prop_oneof![4 => Just(53u16), 1 => Just(54)],
              prop_oneof![4 => Just(64u8), 1 => Just(1u8)], any::<bool>())
            .prop_map(|(c, port, ttl, nocsum)| Gen::Udp { c, port, ttl, nocsum }),
        2 => (c.clone(), flags.clone()).prop_map(|(c, flags)| Gen::Tcp6 { c, flags }),
        3 => (c.clone(), 0u8..3, flags).prop_map(|(c, rs, flags)| Gen::Reply { c, rs, flags }),
        1 => (c.clone(), any::<bool>()).prop_map(|(c, first)| Gen::Frag { c, first }),
        1 => c.clone().prop_map(|c| Gen::Vlan { c }),
        1 => c.prop_map(|c| Gen::Short { c }),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Gen::Junk),
        2 => (prop_oneof![3 => 0u64..2_000, 1 => 50_000u64..400_000], any::<bool>())
            .prop_map(|(ms, timers)| Gen::Wait { ms, timers }),
        1 => (0u8..3, any::<bool>()).prop_map(|(rs, quiesce)| Gen::Remove { rs, quiesce }),
    ]
}

fn cfg(mtu: u32, dec: bool) -> ProcessConfig {
    let mut c = ProcessConfig::new(
        [198, 18, 0, 254].into(),
        "2001:db8::fe".parse().unwrap(),
        SipKey(1, 1),
    );
    c.mtu = mtu;
    c.decrement_ttl = dec;
    c
}

/// Everything observable about a director's state.
fn state(d: &Director<'_, Least>, now: Instant) -> String {
    let mut s = format!("{:?}\n{:?}\n", d.counters(), d.total_stats());
    for i in 0..7 {
        s += &format!("{:?}\n", d.service(ServiceId(i)).map(|x| x.stats));
    }
    for i in 0..24 {
        s += &format!(
            "{:?} {:?}\n",
            d.dest(DestId(i))
                .map(|x| (x.active, x.inactive, x.persistent, x.flags)),
            d.dest_stats(DestId(i))
        );
    }
    for (h, e) in d.table().iter() {
        s += &format!(
            "{h:?} {:?} {:?} {} {} {} {:?}\n",
            e.key(),
            e.flags(),
            e.state(),
            e.counter(),
            e.sync_byte(),
            e.dest()
        );
    }
    d.write_conns(&mut s, now).unwrap();
    s += &format!("{}\n", d.sync_pending());
    s
}

/// Applies a control event to a director.
fn control(d: &mut Director<'_, Least>, g: &Gen) {
    if let Gen::Remove { rs, quiesce } = g {
        let svc = ServiceId(0);
        let addr = Endpoint::v4(RS[usize::from(*rs) % 3], 8080);
        if *quiesce {
            let _ = d.edit_dest(svc, DestConfig::new(addr, FwdMethod::Masq, 0));
        } else {
            let _ = d.remove_dest(svc, &addr);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn fused_equals_general(
        events in proptest::collection::vec(gen(), 1..160),
        variant in 0u8..5,
        mtu in prop_oneof![3 => Just(1500u32), 1 => Just(0u32), 1 => Just(576u32)],
        dec in prop_oneof![4 => Just(true), 1 => Just(false)],
        burst_sizes in proptest::collection::vec(1usize..40, 1..8),
        small_table in any::<bool>(),
    ) {
        let cap = if small_table { 16 } else { 1024 };
        let mut mems: Vec<Mem> = (0..4).map(|_| Mem::new(cap, 8, 32)).collect();
        let mut dirs: Vec<Director<'_, Least>> =
            mems.iter_mut().map(|m| director(m, variant)).collect();
        let cfg = cfg(mtu, dec);
        let mut now = Instant::ZERO;
        let mut sizes = burst_sizes.iter().cycle();
        let mut want = *sizes.next().unwrap();
        let mut run = Vec::new();
        for ev in &events {
            match build(ev) {
                Some(b) => {
                    run.push(b);
                    if run.len() >= want {
                        check_run(&mut dirs, now, &cfg, &run)?;
                        run.clear();
                        want = *sizes.next().unwrap();
                    }
                }
                None => {
                    check_run(&mut dirs, now, &cfg, &run)?;
                    run.clear();
                    if let Gen::Wait { ms, timers } = ev {
                        now += Duration::from_millis(*ms);
                        for d in dirs.iter_mut().filter(|_| *timers) {
                            let _ = d.handle_timeout(now);
                        }
                    }
                    for d in dirs.iter_mut() {
                        control(d, ev);
                    }
                }
            }
        }
        check_run(&mut dirs, now, &cfg, &run)?;
    }
}

/// One run of frames through the four directors (see the module docs), then every comparison.
fn check_run(
    dirs: &mut [Director<'_, Least>],
    now: Instant,
    cfg: &ProcessConfig,
    run: &[Vec<u8>],
) -> Result<(), TestCaseError> {
    let [d0, d1, d2, d3] = dirs else {
        panic!("four directors")
    };
    let mut bufs = [run.to_vec(), run.to_vec(), run.to_vec()];
    let mut acts: [Vec<Action>; 3] = Default::default();
    let mut outs: [Vec<u8>; 3] = Default::default();
    for j in 0..run.len() {
        let n = run[j].len() - HEADROOM;
        for (i, d) in [&mut *d0, &mut *d1, &mut *d2].into_iter().enumerate() {
            let b = &mut bufs[i][j];
            let mut out = [0u8; 1500];
            let a = match i {
                0 => process_frame(d, now, b, HEADROOM, n, 0, cfg, &mut out),
                _ => {
                    let mut g = General { shortcut: i == 1 };
                    process_frame_with(d, &mut g, now, b, HEADROOM, n, 0, cfg, &mut out)
                }
            };
            if let Action::Respond { len, .. } = a {
                outs[i].extend_from_slice(&out[..len]);
            }
            acts[i].push(a);
        }
    }
    let mut many = run.to_vec();
    let mut bacts = vec![Action::Deliver; many.len()];
    let mut bout = vec![0u8; 1500 * many.len()];
    let mut fs: Vec<BurstFrame<'_>> = many
        .iter_mut()
        .map(|b| {
            let n = b.len() - HEADROOM;
            BurstFrame::new(b, HEADROOM, n)
        })
        .collect();
    process_burst(d3, now, &mut fs, cfg, &mut bacts, &mut bout);
    for i in 1..3 {
        prop_assert_eq!(&acts[0], &acts[i]);
        prop_assert_eq!(&bufs[0], &bufs[i]);
        prop_assert_eq!(&outs[0], &outs[i]);
    }
    prop_assert_eq!(&acts[0], &bacts);
    prop_assert_eq!(&bufs[0], &many);
    prop_assert_eq!(&outs[0][..], &bout[..outs[0].len()]);
    let s0 = state(d0, now);
    prop_assert_eq!(&s0, &state(d1, now));
    prop_assert_eq!(&s0, &state(d2, now));
    prop_assert_eq!(&s0, &state(d3, now));
    let t0: Vec<_> = d0.table().iter().map(|(h, e)| (h, *e)).collect();
    for d in [&*d1, &*d2, &*d3] {
        let t: Vec<_> = d.table().iter().map(|(h, e)| (h, *e)).collect();
        prop_assert!(t0 == t, "connection slots differ");
    }
    Ok(())
}

/// The path is taken: established NAT packets of a flow are answered by the one-pass code
/// with the general path's bytes (a sanity check that the proptest compares something).
#[test]
fn established_flow_goes_through() {
    let (mut ma, mut mb) = (Mem::new(64, 8, 32), Mem::new(64, 8, 32));
    let (mut da, mut db) = (director(&mut ma, 0), director(&mut mb, 0));
    let cfg = cfg(1500, true);
    // SYN, ACKs, a DF packet over the MTU, an ACK after the entry's deadline (no timer run),
    // a new handshake, FIN
    let steps = [
        (2u8, 0u16, 0u64, true),
        (16, 10, 10, true),
        (16 | 8, 10, 20, true),
        (16, 1500, 30, false),
        (16 | 8, 10, 40, true),
        (16, 10, 1_000_000, false),
        (2, 0, 1_000_010, true),
        (16, 10, 1_000_020, true),
        (1 | 16, 10, 1_000_030, true),
    ];
    for (flags, payload, ms, fits) in steps {
        let now = Instant::ZERO + Duration::from_millis(ms);
        let mk = |flags| {
            build(&Gen::Tcp {
                c: 1,
                port: 80,
                flags,
                ttl: 64,
                payload,
                opts: 0,
                df: true,
            })
            .unwrap()
        };
        let (mut a, mut b) = (mk(flags), mk(flags));
        let n = a.len() - HEADROOM;
        let mut out = [0u8; 1500];
        let x = process_frame(&mut da, now, &mut a, HEADROOM, n, 0, &cfg, &mut out);
        let mut g = General { shortcut: false };
        let y = process_frame_with(&mut db, &mut g, now, &mut b, HEADROOM, n, 0, &cfg, &mut out);
        match fits {
            true => assert!(matches!(x, Action::Transmit { .. }), "{x:?}"),
            false => assert!(!matches!(x, Action::Transmit { .. }), "{x:?}"),
        }
        assert_eq!(x, y);
        assert_eq!(a, b);
        assert_eq!(state(&da, now), state(&db, now));
    }
}
