//! The poll-mode loop of `examples/pollmode.rs` (`lvs_examples::pollmode`) against
//! `process_frame`: the same frames through the rings, in bursts of irregular size with fewer
//! buffers than frames, must come out as the frame-by-frame path sends them, with every buffer
//! recycled; a next hop without a MAC and a bad descriptor are counted losses, not panics.

use etherparse::PacketBuilder;
use lvs_core::director::Director;
use lvs_core::director::{DirectorConfig, OwnedMemory};
use lvs_core::hash::SipKey;
use lvs_core::Instant;
use lvs_core::{DestConfig, Endpoint, FwdMethod, Protocol, ServiceConfig, ServiceKey};
use lvs_examples::pollmode::{nic, Desc, PollLoop, Rings, FRAME_SIZE, HEADROOM};
use lvs_forward::process::process_frame;
use lvs_forward::process::{Action, ProcessConfig};
use lvs_forward::wire::MacAddr;
use lvs_sched::Rr;

const OWN: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xfe]);
const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);

fn director(mem: &mut OwnedMemory<Rr>) -> Director<'_, Rr> {
    let mut dir = Director::new(
        DirectorConfig::new(SipKey(1, 2)),
        mem.borrow(),
        Instant::ZERO,
    )
    .unwrap();
    let key = ServiceKey::Addr {
        proto: Protocol::Tcp,
        vip: Endpoint::v4([198, 18, 0, 10], 80),
    };
    let s = dir.add_service(ServiceConfig::new(key), Rr::new()).unwrap();
    for i in 0..3 {
        let ep = Endpoint::v4([198, 18, 1, 11 + i], 8080);
        dir.add_dest(s, DestConfig::new(ep, FwdMethod::Masq, 1))
            .unwrap();
    }
    dir
}

/// Frame `k` of the test traffic: SYNs of new clients, their second packets, a TTL of 1
/// (an ICMP error back), a port with no service, and garbage.
fn frame(k: usize, buf: &mut [u8]) -> usize {
    if k % 11 == 10 {
        let n = 20 + k % 30;
        buf[..n]
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (i * k) as u8);
        return n;
    }
    let c = (k / 2) as u8;
    let ttl = if k % 13 == 12 { 1 } else { 64 };
    let port = if k % 17 == 16 { 81 } else { 80 };
    let b = PacketBuilder::ethernet2(PEER.0, OWN.0)
        .ipv4([198, 19, 0, c], [198, 18, 0, 10], ttl)
        .tcp(40_000 + u16::from(c), port, 1000, 64_000);
    let b = if k.is_multiple_of(2) {
        b.syn()
    } else {
        b.ack(1)
    };
    let mut v = Vec::new();
    b.write(&mut v, &[0x5a; 10]).unwrap();
    buf[..v.len()].copy_from_slice(&v);
    v.len()
}

#[test]
fn the_loop_sends_what_process_frame_decides_and_recycles_every_buffer() {
    const FRAMES: usize = 200;
    // frame by frame through process_frame: the expected output
    let mut mem = OwnedMemory::new(1024, 2, 4);
    let mut dir = director(&mut mem);
    let cfg = ProcessConfig::new(
        [198, 18, 0, 254].into(),
        "2001:db8::fe".parse().unwrap(),
        SipKey(3, 4),
    );
    let mut want = Vec::new();
    for k in 0..FRAMES {
        let mut buf = vec![0u8; FRAME_SIZE];
        let len = frame(k, &mut buf[HEADROOM..]);
        let mut icmp = [0u8; 1280];
        match process_frame(
            &mut dir,
            Instant::ZERO,
            &mut buf,
            HEADROOM,
            len,
            0,
            &cfg,
            &mut icmp,
        ) {
            Action::Transmit { start, len, .. } => {
                eth(&mut buf, start - 14);
                want.push(buf[start - 14..start + len].to_vec());
            }
            Action::Respond { len, .. } => {
                let mut f = vec![0u8; 14 + len];
                f[14..].copy_from_slice(&icmp[..len]);
                eth(&mut f, 0);
                want.push(f);
            }
            _ => {}
        }
    }

    // the same frames through the rings, 64 buffers for 200 frames: they must come back
    let mut mem = OwnedMemory::new(1024, 2, 4);
    let mut dir = director(&mut mem);
    let mut umem = vec![[0u8; FRAME_SIZE]; 64];
    let mut rings: Rings<64> = Rings::new(64);
    let mut pl = PollLoop::new(OWN);
    let mut got = Vec::new();
    let mut k = 0;
    while k < FRAMES {
        // bursts of irregular size, as a NIC delivers them
        let n = [32, 7, 1, 19][k % 4].min(FRAMES - k);
        let r = nic::receive(&mut umem, &mut rings, n, |b| {
            k += 1;
            frame(k - 1, b)
        });
        assert_eq!(r, n, "the fill ring ran dry: buffers leak");
        pl.poll(
            &mut dir,
            Instant::ZERO,
            &cfg,
            &mut umem,
            &mut rings,
            &mut |_| Some(PEER),
        );
        nic::transmit(&umem, &mut rings, |f| got.push(f.to_vec()));
    }
    assert!(got == want, "the loop's frames differ from process_frame's");
    let s = pl.stats;
    assert_eq!(s.rx, FRAMES as u64);
    assert_eq!(s.tx, want.len() as u64);
    assert!(s.icmp > 0 && s.dropped > 0 && s.host > 0, "{s:?}");
    assert_eq!(s.tx + s.host + s.dropped + s.lost, s.rx);
    pl.poll(
        &mut dir,
        Instant::ZERO,
        &cfg,
        &mut umem,
        &mut rings,
        &mut |_| Some(PEER),
    );
    assert_eq!(
        rings.fill.len(),
        64,
        "every buffer is back on the fill ring"
    );

    // an unknown next hop loses the frame, counted, and keeps the buffer
    nic::receive(&mut umem, &mut rings, 1, |b| frame(0, b));
    pl.poll(
        &mut dir,
        Instant::ZERO,
        &cfg,
        &mut umem,
        &mut rings,
        &mut |_| None,
    );
    assert_eq!(pl.stats.lost, 1);
    assert_eq!(rings.fill.len(), 64);
    // a descriptor past the region is lost too, without a panic
    rings.rx.push(Desc {
        buf: 999,
        off: 0,
        len: 60,
    });
    pl.poll(
        &mut dir,
        Instant::ZERO,
        &cfg,
        &mut umem,
        &mut rings,
        &mut |_| Some(PEER),
    );
    assert_eq!(pl.stats.lost, 2);
}

/// The Ethernet header the loop writes: PEER from OWN, IPv4.
fn eth(buf: &mut [u8], at: usize) {
    buf[at..at + 6].copy_from_slice(&PEER.0);
    buf[at + 6..at + 12].copy_from_slice(&OWN.0);
    buf[at + 12..at + 14].copy_from_slice(&[0x08, 0x00]);
}
