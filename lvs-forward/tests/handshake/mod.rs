//! The client's side of a cookie handshake, as the splice tests send it: a SYN offering MSS
//! 1460 and timestamps (with the window scale and SACK-permitted given), then the request that
//! acknowledges the SYN-ACK's cookie.
#![allow(dead_code)]

use lvs_forward::splice::emit::{Addr, Segment};
use lvs_forward::splice::options::OptionsEmit;

/// A SYN from `src` to `dst` with sequence number `seq`, window 64240, MSS 1460, window scale
/// `wscale`, SACK-permitted if `sack` and the timestamp `tsval`.
pub fn syn(
    src: Addr,
    dst: Addr,
    seq: u32,
    wscale: Option<u8>,
    sack: bool,
    tsval: u32,
) -> Segment<'static> {
    Segment {
        src,
        dst,
        seq,
        ack: None,
        flags: 0x02,
        window: 64_240,
        options: OptionsEmit {
            mss: Some(1460),
            wscale,
            sack_permitted: sack,
            timestamp: Some((tsval, 0)),
        },
        payload: &[],
    }
}

/// A data segment (PSH and ACK, no options): `payload` at `seq`, acknowledging `ack`, with
/// window `window`.
pub fn data<'a>(
    src: Addr,
    dst: Addr,
    seq: u32,
    ack: u32,
    window: u16,
    payload: &'a [u8],
) -> Segment<'a> {
    Segment {
        src,
        dst,
        seq,
        ack: Some(ack),
        flags: 0x18,
        window,
        options: OptionsEmit::default(),
        payload,
    }
}

/// The request completing the handshake: [`data`] at `seq` with window 502, acknowledging the
/// SYN-ACK with cookie `cookie`, with timestamps `ts`.
pub fn request<'a>(
    src: Addr,
    dst: Addr,
    seq: u32,
    cookie: u32,
    ts: (u32, u32),
    payload: &'a [u8],
) -> Segment<'a> {
    Segment {
        options: OptionsEmit {
            timestamp: Some(ts),
            ..OptionsEmit::default()
        },
        ..data(src, dst, seq, cookie.wrapping_add(1), 502, payload)
    }
}
