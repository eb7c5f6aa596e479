//! Regression (found by lvsd's end-to-end test against Linux clients): the splicer's TSvals
//! toward a client must never go below the TSval of its cookie SYN-ACK. The cookie replaces the
//! low 5 bits of the SYN-ACK's TSval; when those were taken from the shifted clock the later
//! segments use, the SYN-ACK could carry a TSval up to 31 ms ahead, and Linux dropped every
//! following segment of ours (the ACK of the request, the spliced response) by PAWS until the
//! clock caught up, so each request waited for a 200 ms retransmission.

mod handshake;

use lvs_core::hash::SipKey;
use lvs_core::Instant;
use lvs_forward::splice::emit::build_ipv4_tcp;
use lvs_forward::splice::options::Options;
use lvs_forward::splice::{Classification, FlowInfo, SpliceConfig, SpliceVerdict, Splicer};

const CLIENT: ([u8; 4], u16) = ([198, 18, 0, 2], 40000);
const VIP: ([u8; 4], u16) = ([198, 18, 0, 10], 80);

fn tcp_fields(p: &[u8]) -> (u32, u32, Options) {
    let ihl = usize::from(p[0] & 15) * 4;
    let t = &p[ihl..];
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]);
    let hl = usize::from(t[12] >> 4) * 4;
    (seq, ack, Options::parse(&t[20..hl]).expect("options"))
}

#[test]
fn tsval_never_goes_below_the_cookie_syn_ack() {
    let mut slab = vec![0u8; 256 * 64];
    let never = |_: &FlowInfo, _: &[u8]| Classification::NeedMore;
    let mut sp: Box<Splicer<'_, _, 512>> = Box::new(Splicer::new(
        SpliceConfig::new(SipKey(3, 4)),
        never,
        &mut slab,
        64,
    ));
    // every position of the clock's low bits, for every option combination the cookie encodes
    for ms in 5_000u64..5_064 {
        for (k, ws) in [None, Some(0u8), Some(7), Some(14)].into_iter().enumerate() {
            let now = Instant::from_millis(ms);
            let port = 20_000 + (ms as u16 - 5_000) * 8 + k as u16;
            let client = (CLIENT.0, port);
            let mut buf = [0u8; 256];
            let syn = handshake::syn(client, VIP, 1_000, ws, ms % 2 == 0, 777);
            let n = build_ipv4_tcp(&mut buf, &syn).unwrap();
            let SpliceVerdict::Transmit(t) = sp.handle_packet(now, &mut buf, n) else {
                panic!("no SYN-ACK");
            };
            let (cookie, _, o) = tcp_fields(&buf[..t.len]);
            let (syn_ack_tsval, _) = o.timestamp.expect("SYN-ACK timestamps");
            // the same millisecond: the client completes the handshake with its request
            let req = handshake::request(
                client,
                VIP,
                1_001,
                cookie,
                (778, syn_ack_tsval),
                b"GET / HTTP/1.1\r\n",
            );
            let n = build_ipv4_tcp(&mut buf, &req).unwrap();
            let SpliceVerdict::Transmit(t) = sp.handle_packet(now, &mut buf, n) else {
                panic!("no ACK for the request at {ms} ms");
            };
            let (_, ack, o) = tcp_fields(&buf[..t.len]);
            assert_eq!(ack, 1_001 + 16);
            let (tsval, tsecr) = o.timestamp.expect("ACK timestamps");
            assert_eq!(tsecr, 778);
            assert!(
                tsval >= syn_ack_tsval,
                "at {ms} ms (wscale {ws:?}): ACK TSval {tsval} < SYN-ACK TSval {syn_ack_tsval}"
            );
        }
    }
}
