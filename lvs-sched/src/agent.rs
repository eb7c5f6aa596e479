//! Load reports from agents on the real servers, on the wire: versioned, fixed-size,
//! authenticated with HMAC-SHA256 under a shared key, and ordered against replay.
//!
//! An agent on each real server measures its load every few seconds and sends one UDP
//! datagram of [`LEN`] bytes to the director; the director checks it ([`Report::decode`]),
//! checks its sequence number against the last one accepted from that source
//! ([`ReplayWindow`]) and turns it into a [`LoadReport`] for a
//! [`WeightController`](crate::feedback::WeightController).
//!
//! ```text
//!  0      4   5   6       8               16      18      20              28
//! +------+---+---+-------+---------------+-------+-------+---------------+
//! | LVSA | v | 0 |  len  |   sequence    | idle  |   0   | MemAvailable  |
//! +------+---+---+-------+---------------+-------+-------+---------------+
//!  28              36      40      44      48                              80
//! +---------------+-------+-------+-------+--------------------------------+
//! |   MemTotal    | swap  | load1 | conns |  HMAC-SHA256 of bytes 0..48    |
//! +---------------+-------+-------+-------+--------------------------------+
//! ```
//!
//! All integers are big-endian: the version (1), the length (80), the sequence number (the
//! agent's wall clock in milliseconds when it sent the report: increasing across agent
//! restarts, and comparable to the director's clock for a freshness check), CPU idle in
//! per-mille, `MemAvailable` and `MemTotal` in KiB, swap activity in pages per second
//! (swapped in plus out), the 1-minute load average in thousandths, and the agent's count of
//! established TCP connections. The tag covers everything before it; a datagram of any other
//! length, magic or version, or with a wrong tag, is refused before any field is believed.

use crate::feedback::LoadReport;
use core::fmt;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The magic bytes.
pub const MAGIC: [u8; 4] = *b"LVSA";
/// The only version.
pub const VERSION: u8 = 1;
/// The length of every report.
pub const LEN: usize = 80;
/// Where the tag starts (the length of what it covers).
pub const TAG_OFFSET: usize = 48;
/// The UDP port agents send to by default.
pub const DEFAULT_PORT: u16 = 4455;

type HmacSha256 = Hmac<Sha256>;

/// One agent's measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Report {
    /// Sequence number: the agent's wall clock in milliseconds at sending.
    pub seq: u64,
    /// CPU idle since the previous report, per-mille.
    pub cpu_idle_permille: u16,
    /// `MemAvailable`, KiB.
    pub mem_available_kb: u64,
    /// `MemTotal`, KiB.
    pub mem_total_kb: u64,
    /// Pages swapped in plus out per second since the previous report.
    pub swap_pages_per_s: u32,
    /// 1-minute load average, thousandths.
    pub load1_milli: u32,
    /// Established TCP connections on the server.
    pub conns: u32,
}

/// Why a datagram is not a report to believe. Each is a counted drop for the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentError {
    /// Shorter than [`LEN`].
    Short,
    /// Longer than [`LEN`].
    Oversized,
    /// Not the magic bytes, or a length field other than [`LEN`].
    BadMagic,
    /// A version other than [`VERSION`].
    BadVersion,
    /// The tag does not verify under the shared key.
    BadKey,
    /// A sequence number not above the last one accepted from this source.
    Replayed,
    /// A sequence number (send time) too far from the receiver's clock.
    Stale,
    /// From an address that is not a known real server.
    UnknownSource,
}

impl AgentError {
    /// Every error, in a fixed order for counters.
    pub const ALL: [AgentError; 8] = [
        AgentError::Short,
        AgentError::Oversized,
        AgentError::BadMagic,
        AgentError::BadVersion,
        AgentError::BadKey,
        AgentError::Replayed,
        AgentError::Stale,
        AgentError::UnknownSource,
    ];

    /// A snake_case name for counters.
    pub const fn name(self) -> &'static str {
        match self {
            AgentError::Short => "short",
            AgentError::Oversized => "oversized",
            AgentError::BadMagic => "bad_magic",
            AgentError::BadVersion => "bad_version",
            AgentError::BadKey => "bad_key",
            AgentError::Replayed => "replayed",
            AgentError::Stale => "stale",
            AgentError::UnknownSource => "unknown_source",
        }
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AgentError::Short => "agent report too short",
            AgentError::Oversized => "agent report too long",
            AgentError::BadMagic => "not an agent report",
            AgentError::BadVersion => "unknown agent report version",
            AgentError::BadKey => "agent report tag does not verify (wrong key or altered)",
            AgentError::Replayed => "agent report replayed or out of order",
            AgentError::Stale => "agent report send time too far from now",
            AgentError::UnknownSource => "agent report from an unknown source",
        })
    }
}

impl core::error::Error for AgentError {}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key"))
}

impl Report {
    /// Writes the report, tagged under `key`.
    pub fn encode(&self, key: &[u8]) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = VERSION;
        b[6..8].copy_from_slice(&(LEN as u16).to_be_bytes());
        b[8..16].copy_from_slice(&self.seq.to_be_bytes());
        b[16..18].copy_from_slice(&self.cpu_idle_permille.to_be_bytes());
        b[20..28].copy_from_slice(&self.mem_available_kb.to_be_bytes());
        b[28..36].copy_from_slice(&self.mem_total_kb.to_be_bytes());
        b[36..40].copy_from_slice(&self.swap_pages_per_s.to_be_bytes());
        b[40..44].copy_from_slice(&self.load1_milli.to_be_bytes());
        b[44..48].copy_from_slice(&self.conns.to_be_bytes());
        let mut m = mac(key);
        m.update(&b[..TAG_OFFSET]);
        b[TAG_OFFSET..].copy_from_slice(&m.finalize().into_bytes());
        b
    }

    /// Checks and reads a datagram: length, magic, version, then the tag (in constant time),
    /// and only then the fields.
    ///
    /// # Errors
    /// [`AgentError::Short`], [`AgentError::Oversized`], [`AgentError::BadMagic`],
    /// [`AgentError::BadVersion`], [`AgentError::BadKey`].
    pub fn decode(b: &[u8], key: &[u8]) -> Result<Report, AgentError> {
        if b.len() < LEN {
            return Err(AgentError::Short);
        }
        if b.len() > LEN {
            return Err(AgentError::Oversized);
        }
        if b[0..4] != MAGIC || b[6..8] != (LEN as u16).to_be_bytes() {
            return Err(AgentError::BadMagic);
        }
        if b[4] != VERSION {
            return Err(AgentError::BadVersion);
        }
        let mut m = mac(key);
        m.update(&b[..TAG_OFFSET]);
        m.verify_slice(&b[TAG_OFFSET..])
            .map_err(|_| AgentError::BadKey)?;
        let u64_at = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            u64::from_be_bytes(x)
        };
        let u32_at = |o: usize| u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Ok(Report {
            seq: u64_at(8),
            cpu_idle_permille: u16::from_be_bytes([b[16], b[17]]),
            mem_available_kb: u64_at(20),
            mem_total_kb: u64_at(28),
            swap_pages_per_s: u32_at(36),
            load1_milli: u32_at(40),
            conns: u32_at(44),
        })
    }

    /// The report as the feedback controllers read it: free memory is `MemAvailable`, the run
    /// queue the rounded load average, and swap activity counts as one swapped process per
    /// 256 pages per second (a server paging at that rate lacks about a process's memory).
    pub fn to_load_report(&self) -> LoadReport {
        LoadReport::new(self.mem_available_kb, self.mem_total_kb)
            .with_cpu_idle(self.cpu_idle_permille.min(1000))
            .with_procs(
                (self.load1_milli.saturating_add(500)) / 1000,
                0,
                self.swap_pages_per_s.div_ceil(256),
            )
            .with_conns(self.conns)
    }
}

/// Replay protection for one source: sequence numbers must increase, and the send time must
/// be within `window_ms` of the receiver's clock (which bounds what a receiver that restarted,
/// and so forgot the last sequence number, can be made to accept again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    last: Option<u64>,
}

impl ReplayWindow {
    /// A window that has accepted nothing yet.
    pub const fn new() -> Self {
        ReplayWindow { last: None }
    }

    /// The last sequence number accepted.
    pub const fn last(&self) -> Option<u64> {
        self.last
    }

    /// Accepts `seq` if it is above the last one and within `window_ms` of `now_ms` (the
    /// receiver's wall clock in milliseconds), and remembers it.
    ///
    /// # Errors
    /// [`AgentError::Replayed`] or [`AgentError::Stale`]; nothing is remembered then.
    pub fn check(&mut self, seq: u64, now_ms: u64, window_ms: u64) -> Result<(), AgentError> {
        if self.last.is_some_and(|l| seq <= l) {
            return Err(AgentError::Replayed);
        }
        if seq.abs_diff(now_ms) > window_ms {
            return Err(AgentError::Stale);
        }
        self.last = Some(seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"shared secret";

    fn report() -> Report {
        Report {
            seq: 1_765_000_000_000,
            cpu_idle_permille: 900,
            mem_available_kb: 400_000,
            mem_total_kb: 524_288,
            swap_pages_per_s: 300,
            load1_milli: 1_600,
            conns: 12,
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let b = report().encode(KEY);
        assert_eq!(&b[..8], b"LVSA\x01\x00\x00\x50");
        assert_eq!(Report::decode(&b, KEY), Ok(report()));
        let l = report().to_load_report();
        assert!(l.fresh);
        assert_eq!(
            (l.free_kb, l.total_kb, l.cpu_idle_permille),
            (400_000, 524_288, 900)
        );
        assert_eq!((l.run_queue, l.swapped, l.active_conns), (2, 2, 12));
    }

    #[test]
    fn refusals() {
        let b = report().encode(KEY);
        assert_eq!(Report::decode(&b[..79], KEY), Err(AgentError::Short));
        assert_eq!(Report::decode(&[], KEY), Err(AgentError::Short));
        let mut long = [0u8; 81];
        long[..80].copy_from_slice(&b);
        assert_eq!(Report::decode(&long, KEY), Err(AgentError::Oversized));
        assert_eq!(Report::decode(&b, b"other key"), Err(AgentError::BadKey));
        for i in 8..LEN {
            let mut x = b;
            x[i] ^= 0x40;
            assert_eq!(Report::decode(&x, KEY), Err(AgentError::BadKey), "byte {i}");
        }
        let mut x = b;
        x[0] = b'X';
        assert_eq!(Report::decode(&x, KEY), Err(AgentError::BadMagic));
        let mut x = b;
        x[7] = 81;
        assert_eq!(Report::decode(&x, KEY), Err(AgentError::BadMagic));
        let mut x = b;
        x[4] = 2;
        assert_eq!(Report::decode(&x, KEY), Err(AgentError::BadVersion));
    }

    #[test]
    fn replay_window() {
        let mut w = ReplayWindow::new();
        let now = 1_765_000_000_000;
        assert_eq!(w.check(now, now, 30_000), Ok(()));
        assert_eq!(w.check(now, now + 10, 30_000), Err(AgentError::Replayed));
        assert_eq!(
            w.check(now - 1, now + 10, 30_000),
            Err(AgentError::Replayed)
        );
        assert_eq!(w.check(now + 40_000, now, 30_000), Err(AgentError::Stale));
        assert_eq!(w.last(), Some(now));
        assert_eq!(w.check(now + 2_000, now + 2_000, 30_000), Ok(()));
        let mut fresh = ReplayWindow::new();
        assert_eq!(
            fresh.check(now - 60_000, now, 30_000),
            Err(AgentError::Stale)
        );
        assert_eq!(fresh.last(), None);
    }
}
