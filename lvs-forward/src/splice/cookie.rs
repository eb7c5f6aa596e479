//! SYN cookies (RFC 4987 section 3.6): the splicer answers a SYN without keeping any state and
//! rebuilds what it negotiated from the client's ACK.
//!
//! The initial sequence number the splicer sends is
//!
//! ```text
//!  31     27 26   24 23                                0
//! +---------+-------+-----------------------------------+
//! | t mod 32| mss ix|  MAC(secret, 4-tuple, c_isn, t, mss ix, opts) mod 2^24 |
//! +---------+-------+-----------------------------------+
//! ```
//!
//! where `t` counts 64-second periods of the caller's clock, `mss ix` indexes [`MSS_TABLE`], and
//! the MAC is SipHash-1-3 keyed by the caller's secret. When the client offered timestamps, the
//! window scale (4 bits, 15 = none) and SACK-permitted (1 bit) travel in the low 5 bits of the
//! TSval of the SYN-ACK (the "timestamp trick" Linux uses): the client echoes them in TSecr and
//! the MAC covers them. Without timestamps, window scaling and SACK are not offered (as in
//! Linux), since there is nowhere to keep them. A cookie is valid for the period it was made in
//! and the next one (64 to 128 seconds).

use lvs_core::hash::{siphash, SipKey};
use lvs_core::Instant;

/// The MSS values a cookie can encode (3 bits), ascending.
pub const MSS_TABLE: [u16; 8] = [536, 1200, 1300, 1360, 1400, 1440, 1452, 1460];

/// Length of a cookie period in seconds.
pub const PERIOD_SECS: u64 = 64;

/// How many periods after its own a cookie stays valid.
pub const MAX_AGE_PERIODS: u32 = 1;

const NO_WSCALE: u8 = 15;

/// What a cookie carries: the client's options, compactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOptions {
    /// Index into [`MSS_TABLE`].
    pub mss_index: u8,
    /// The client's window scale shift, if it offered one (kept only with timestamps).
    pub wscale: Option<u8>,
    /// SACK-permitted (kept only with timestamps).
    pub sack_permitted: bool,
    /// Whether the client offered timestamps.
    pub timestamps: bool,
}

impl CookieOptions {
    /// What a SYN's options reduce to: the largest table MSS not above the client's MSS (536
    /// when absent or smaller), and window scale and SACK only when timestamps are on.
    pub fn from_syn(mss: Option<u16>, wscale: Option<u8>, sack: bool, ts: bool) -> CookieOptions {
        let mss = mss.unwrap_or(536);
        let mss_index = MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0) as u8;
        CookieOptions {
            mss_index,
            wscale: if ts { wscale.map(|w| w.min(14)) } else { None },
            sack_permitted: ts && sack,
            timestamps: ts,
        }
    }

    /// The MSS this cookie stands for.
    pub fn mss(&self) -> u16 {
        MSS_TABLE[usize::from(self.mss_index & 7)]
    }

    /// The 5 bits carried in the TSval (zero without timestamps).
    pub fn ts_bits(&self) -> u32 {
        if !self.timestamps {
            return 0;
        }
        u32::from(self.wscale.unwrap_or(NO_WSCALE)) | (u32::from(self.sack_permitted) << 4)
    }
}

/// The addresses of a handshake as the client sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieFlow {
    /// Client address and port.
    pub client: ([u8; 4], u16),
    /// Virtual (listening) address and port.
    pub vip: ([u8; 4], u16),
}

fn period(now: Instant) -> u32 {
    (now.secs() / PERIOD_SECS) as u32
}

fn mac(key: SipKey, flow: &CookieFlow, c_isn: u32, t: u32, mss_index: u8, bits: u32) -> u32 {
    let mut m = [0u8; 26];
    m[0..4].copy_from_slice(&flow.client.0);
    m[4..6].copy_from_slice(&flow.client.1.to_be_bytes());
    m[6..10].copy_from_slice(&flow.vip.0);
    m[10..12].copy_from_slice(&flow.vip.1.to_be_bytes());
    m[12..16].copy_from_slice(&c_isn.to_be_bytes());
    m[16..20].copy_from_slice(&t.to_be_bytes());
    m[20] = mss_index;
    m[21..25].copy_from_slice(&bits.to_be_bytes());
    m[25] = 0xc0;
    (siphash::<1, 3>(key, &m) & 0x00ff_ffff) as u32
}

/// Makes the ISN for a SYN-ACK, and the TSval to send with it when the client offered
/// timestamps (`ts_clock` is the splicer's timestamp clock now; the low 5 bits are replaced).
pub fn make(
    key: SipKey,
    flow: &CookieFlow,
    c_isn: u32,
    opts: &CookieOptions,
    now: Instant,
    ts_clock: u32,
) -> (u32, u32) {
    let t = period(now) & 31;
    let bits = opts.ts_bits();
    let isn = (t << 27)
        | (u32::from(opts.mss_index & 7) << 24)
        | mac(key, flow, c_isn, t, opts.mss_index & 7, bits);
    (isn, (ts_clock & !31) | bits)
}

/// Why a cookie did not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieError {
    /// Made more than [`MAX_AGE_PERIODS`] periods ago (or in the future).
    Expired,
    /// The MAC does not match: not ours, or forged.
    BadMac,
}

impl core::fmt::Display for CookieError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CookieError::Expired => "SYN cookie expired",
            CookieError::BadMac => "SYN cookie MAC mismatch",
        })
    }
}

impl core::error::Error for CookieError {}

/// Checks the ACK that completes a handshake: `ack` and `seq` are the segment's numbers (the
/// cookie is `ack - 1`, the client's ISN `seq - 1`), `tsecr` its echoed timestamp if it carries
/// one. Returns the options the SYN negotiated.
///
/// # Errors
/// [`CookieError`] when the cookie is stale or not authentic.
pub fn check(
    key: SipKey,
    flow: &CookieFlow,
    seq: u32,
    ack: u32,
    tsecr: Option<u32>,
    now: Instant,
) -> Result<CookieOptions, CookieError> {
    let cookie = ack.wrapping_sub(1);
    let c_isn = seq.wrapping_sub(1);
    let t = cookie >> 27;
    let age = (period(now) & 31).wrapping_sub(t) & 31;
    if age > MAX_AGE_PERIODS {
        return Err(CookieError::Expired);
    }
    let mss_index = ((cookie >> 24) & 7) as u8;
    let bits = tsecr.map_or(0, |e| e & 31);
    if mac(key, flow, c_isn, t, mss_index, bits) != cookie & 0x00ff_ffff {
        return Err(CookieError::BadMac);
    }
    let ws = (bits & 15) as u8;
    Ok(CookieOptions {
        mss_index,
        wscale: (tsecr.is_some() && ws != NO_WSCALE).then_some(ws.min(14)),
        sack_permitted: bits & 16 != 0,
        timestamps: tsecr.is_some(),
    })
}

#[cfg(test)]
mod test {
    use super::*;

    const KEY: SipKey = SipKey(1, 2);
    const FLOW: CookieFlow = CookieFlow {
        client: ([198, 18, 0, 1], 40000),
        vip: ([198, 18, 0, 100], 80),
    };

    #[test]
    fn round_trip_all_options() {
        let now = Instant::from_secs(1000);
        for mss in [
            None,
            Some(100),
            Some(536),
            Some(1400),
            Some(1460),
            Some(9000),
        ] {
            for ws in [None, Some(0), Some(7), Some(14)] {
                for sack in [false, true] {
                    for ts in [false, true] {
                        let o = CookieOptions::from_syn(mss, ws, sack, ts);
                        let (isn, tsval) = make(KEY, &FLOW, 0xffff_fff0, &o, now, 123_456);
                        let echo = ts.then_some(tsval);
                        let got =
                            check(KEY, &FLOW, 0xffff_fff1, isn.wrapping_add(1), echo, now).unwrap();
                        assert_eq!(got, o);
                        assert!(o.mss() <= mss.unwrap_or(536).max(536));
                        // a period later still valid, two periods later not
                        let later = Instant::from_secs(1000 + PERIOD_SECS);
                        assert!(
                            check(KEY, &FLOW, 0xffff_fff1, isn.wrapping_add(1), echo, later)
                                .is_ok()
                        );
                        let stale = Instant::from_secs(1000 + 2 * PERIOD_SECS);
                        assert_eq!(
                            check(KEY, &FLOW, 0xffff_fff1, isn.wrapping_add(1), echo, stale),
                            Err(CookieError::Expired)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn forgeries_fail() {
        let now = Instant::from_secs(5);
        let o = CookieOptions::from_syn(Some(1460), Some(7), true, true);
        let (isn, tsval) = make(KEY, &FLOW, 77, &o, now, 5000);
        let ok = check(KEY, &FLOW, 78, isn + 1, Some(tsval), now);
        assert!(ok.is_ok());
        // other client ISN, port, key, bits in TSecr, MSS index
        assert_eq!(
            check(KEY, &FLOW, 79, isn + 1, Some(tsval), now),
            Err(CookieError::BadMac)
        );
        let other = CookieFlow {
            client: ([198, 18, 0, 1], 40001),
            ..FLOW
        };
        assert_eq!(
            check(KEY, &other, 78, isn + 1, Some(tsval), now),
            Err(CookieError::BadMac)
        );
        assert_eq!(
            check(SipKey(1, 3), &FLOW, 78, isn + 1, Some(tsval), now),
            Err(CookieError::BadMac)
        );
        assert_eq!(
            check(KEY, &FLOW, 78, isn + 1, Some(tsval ^ 1), now),
            Err(CookieError::BadMac)
        );
        assert_eq!(
            check(KEY, &FLOW, 78, (isn ^ (1 << 24)) + 1, Some(tsval), now),
            Err(CookieError::BadMac)
        );
        // a blind guess over many ACK numbers almost never passes (2^-24 each)
        let hits = (0..20_000u32)
            .filter(|g| check(KEY, &FLOW, 78, g.wrapping_mul(2_654_435_761), None, now).is_ok())
            .count();
        assert!(hits <= 1);
    }
}
