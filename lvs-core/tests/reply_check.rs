//! The reply check of `handle_packet` remembers a bucket without any entry of the checked
//! client until the next insert, and the burst path uses the slots it read ahead only while
//! they still hold the packet's connection: replies that become possible through an insert
//! earlier in the same call, or in the same burst, are still found.

mod common;

use common::*;
use lvs_core::director::{Director, DirectorConfig, Verdict};
use lvs_core::hash::SipKey;
use lvs_core::{DestConfig, Endpoint, FwdMethod, Protocol, ServiceConfig, ServiceKey, TcpFlags};

fn setup(mem: &mut Mem) -> Director<'_, TestRr> {
    let mut d = Director::new(DirectorConfig::new(SipKey(3, 4)), mem.borrow(), t(0)).unwrap();
    let s = d
        .add_service(
            ServiceConfig::new(ServiceKey::addr(Protocol::Tcp, VIP)),
            TestRr::default(),
        )
        .unwrap();
    d.add_dest(s, DestConfig::new(rs(1), FwdMethod::Masq, 1))
        .unwrap();
    d
}

/// A packet of `c` with `flags` is forwarded, then the real server's reply with `reply_flags`
/// is found as a reply.
fn round_trip(d: &mut Director<'_, TestRr>, c: Endpoint, flags: TcpFlags, reply_flags: TcpFlags) {
    assert!(matches!(
        d.handle_packet(t(0), &pkt(c, flags)),
        Verdict::Forward(_)
    ));
    assert!(matches!(
        d.handle_packet(t(0), &reply(rs(1), c, reply_flags)),
        Verdict::Reply(_)
    ));
}

#[test]
fn a_reply_is_found_once_its_connection_is_inserted() {
    let mut mem = Mem::new(64);
    let mut d = setup(&mut mem);
    let c = client(7, 40001);
    // before the connection exists, twice (the second from the remembered empty bucket)
    for _ in 0..2 {
        assert_eq!(
            d.handle_packet(t(0), &reply(rs(1), c, SYNACK)),
            Verdict::Deliver
        );
    }
    round_trip(&mut d, c, SYN, SYNACK);
    // established traffic toward the service in between does not hide it
    for _ in 0..3 {
        round_trip(&mut d, c, ACK, ACK);
    }
}

#[test]
fn in_one_burst_a_reply_after_the_syn_is_found() {
    let mut mem = Mem::new(64);
    let mut d = setup(&mut mem);
    let c = client(9, 40002);
    let other = client(10, 40003);
    let pkts = [
        reply(rs(1), c, SYNACK),
        reply(rs(1), c, SYNACK),
        pkt(other, SYN),
        pkt(c, SYN),
        reply(rs(1), c, SYNACK),
        pkt(c, ACK),
        pkt(c, RST),
        pkt(c, ACK),
        reply(rs(1), c, ACK),
    ];
    let mut burst = [Verdict::Deliver; 9];
    assert_eq!(d.handle_packet_burst(t(0), &pkts, &mut burst), 9);
    // the same packets one at a time on a second director
    let mut mem2 = Mem::new(64);
    let mut d2 = setup(&mut mem2);
    let single: Vec<Verdict> = pkts.iter().map(|p| d2.handle_packet(t(0), p)).collect();
    assert_eq!(&burst[..], &single[..]);
    assert_eq!(burst[0], Verdict::Deliver);
    assert!(matches!(burst[3], Verdict::Forward(_)));
    assert!(matches!(burst[4], Verdict::Reply(_)));
}
