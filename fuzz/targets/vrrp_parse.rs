// vrrp_parse: the VRRP version 3 advert parser (`lvs_forward::wire::vrrp`) and the state
// machine's receive path (`lvs_forward::vrrp::Router`) on arbitrary bytes.
//
// The input is read as an IP packet (`Received::from_ip_packet`) and, with its first byte
// choosing the family, as a bare VRRP message. Every advert that parses must emit and parse back
// to the same value; a router (backup, then master) fed the bytes either accepts them or drops
// them with its state, timer and outputs untouched.

use lvs_core::time::Instant;
use lvs_forward::vrrp::{Config, Received, Router};
use lvs_forward::wire::vrrp::{AddrList, Packet, Repr};
use lvs_forward::wire::Checksum;
use std::net::IpAddr;

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let (src, dst): (IpAddr, IpAddr) = if sel & 1 == 0 {
        ([198, 18, 0, 3].into(), [224, 0, 0, 18].into())
    } else {
        (
            "fe80::1".parse().expect("literal"),
            "ff02::12".parse().expect("literal"),
        )
    };
    if let Ok(r) = Repr::parse(&Packet::new_unchecked(msg), &src, &dst, Checksum::Both) {
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), &src, &dst, Checksum::Both);
        let back = Repr::parse(&Packet::new_unchecked(&buf[..]), &src, &dst, Checksum::Both);
        assert_eq!(back, Ok(r));
    }
    let bare = Received {
        src,
        dst,
        hop_limit: if sel & 2 == 0 { 255 } else { sel },
        message: msg,
    };
    feed(&bare, sel & 4 != 0);
    if let Ok(rx) = Received::from_ip_packet(data) {
        feed(&rx, sel & 4 != 0);
    }
}

fn feed(rx: &Received<'_>, master: bool) {
    let v4 = rx.src.is_ipv4();
    let vips: [IpAddr; 2] = if v4 {
        [[198, 18, 0, 10].into(), [198, 18, 0, 20].into()]
    } else {
        [
            "2001:db8::10".parse().expect("literal"),
            "2001:db8::20".parse().expect("literal"),
        ]
    };
    let cfg = Config {
        vrid: 51,
        priority: 100,
        adver_int: 100,
        preempt: true,
        accept_mode: true,
        addrs: AddrList::new(&vips).expect("two addresses"),
        primary: if v4 {
            [198, 18, 0, 1].into()
        } else {
            "fe80::2".parse().expect("literal")
        },
    };
    let mut r = Router::new(cfg).expect("valid config");
    r.start(Instant::from_millis(0));
    if master {
        r.handle_timeout(Instant::from_millis(10_000));
    }
    while r.poll_action().is_some() {}
    let before = (r.state(), r.poll_timeout(), *r.counters());
    let now = Instant::from_millis(10_001);
    if let Err(why) = r.handle_packet(now, rx) {
        assert_eq!((r.state(), r.poll_timeout()), (before.0, before.1));
        assert_eq!(r.counters().dropped(why), before.2.dropped(why) + 1);
        assert!(r.poll_action().is_none());
    }
}
