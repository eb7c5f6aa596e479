//! Zero-copy views and the owned representation of sync messages and records.
//!
//! The views follow the smoltcp contract: after `new_checked` (or a successful `check_len`) no
//! accessor panics; views made with `new_unchecked` over short buffers may panic in accessors
//! and setters. Untrusted bytes must go through `new_checked`, [`SyncRecords::new`] or
//! [`SyncConn::parse`], which check every length and never panic.

use super::{
    conn_flags, protocol_num_states, tpl_state, SyncError, SyncVersion, HEADER_LEN,
    MAX_MESSAGE_LEN, MAX_RECORDS, PROTO_VERSION, RECORD_V4_LEN, RECORD_V6_LEN, V0_HEADER_LEN,
    V0_RECORD_LEN, V0_RECORD_SEQ_LEN,
};
use crate::addr::{AddrFamily, Endpoint, IpAddr, Ipv4Addr, Ipv6Addr, Protocol};
use crate::time::Duration;
use core::fmt;

/// Read accessors over a view's `buffer`, one line a field: `name: Type = reader(FIELD)` reads
/// `field::FIELD` with `reader` (`u8_at`, `be16` or `be32`: zero where the buffer is short).
macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $read:ident($f:ident);)*) => {$(
        $(#[$doc])*
        pub fn $name(&self) -> $ty {
            $read(self.buffer.as_ref(), field::$f)
        }
    )*};
}

/// Write accessors over a view's `buffer`, one line a field: `name(arg: Type) = FIELD` writes
/// `arg` big-endian at `field::FIELD` (a range; it panics where the buffer is short).
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) = $f:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(&mut self, $arg: $ty) {
            self.buffer.as_mut()[field::$f].copy_from_slice(&$arg.to_be_bytes());
        }
    )*};
}

mod record;
pub use record::*;
mod repr;
pub use repr::*;
mod decode;
pub use decode::*;
mod builder;
pub use builder::*;

/// Byte offsets of header and record fields.
mod field {
    pub(super) type Field = core::ops::Range<usize>;

    // Version-1 message header (`struct ip_vs_sync_mesg`).
    pub(super) const RESERVED: usize = 0;
    pub(super) const SYNCID: usize = 1;
    pub(super) const SIZE: Field = 2..4;
    pub(super) const NR_CONNS: usize = 4;
    pub(super) const VERSION: usize = 5;
    pub(super) const SPARE: Field = 6..8;
    // Version-0 header (`struct ip_vs_sync_mesg_v0`): nr_conns where v1 has `reserved`.
    pub(super) const V0_NR_CONNS: usize = 0;

    // Version-1 record (`struct ip_vs_sync_v4` / `ip_vs_sync_v6`).
    pub(super) const TYPE: usize = 0;
    pub(super) const PROTOCOL: usize = 1;
    pub(super) const VER_SIZE: Field = 2..4;
    pub(super) const FLAGS: Field = 4..8;
    pub(super) const STATE: Field = 8..10;
    pub(super) const CPORT: Field = 10..12;
    pub(super) const VPORT: Field = 12..14;
    pub(super) const DPORT: Field = 14..16;
    pub(super) const FWMARK: Field = 16..20;
    pub(super) const TIMEOUT: Field = 20..24;
    pub(super) const ADDRS: usize = 24;

    // Version-0 record (`struct ip_vs_sync_conn_v0`).
    pub(super) const V0_PROTOCOL: usize = 1;
    pub(super) const V0_CPORT: Field = 2..4;
    pub(super) const V0_VPORT: Field = 4..6;
    pub(super) const V0_DPORT: Field = 6..8;
    pub(super) const V0_CADDR: Field = 8..12;
    pub(super) const V0_VADDR: Field = 12..16;
    pub(super) const V0_DADDR: Field = 16..20;
    pub(super) const V0_FLAGS: Field = 20..22;
    pub(super) const V0_STATE: Field = 22..24;
    pub(super) const V0_OPTIONS: Field = 24..48;
}

/// Record type bit: the addresses are IPv6 (`STYPE_F_INET6`).
const TYPE_F_INET6: u8 = 0x01;
/// Record `ver_size`: shift of the version nibble (`SVER_SHIFT`).
const VER_SHIFT: u16 = 12;
/// Record `ver_size`: mask of the size (`SVER_MASK`).
const SIZE_MASK: u16 = 0x0fff;
/// Option: sequence data (`IPVS_OPT_SEQ_DATA`).
const OPT_SEQ_DATA: u8 = 1;
/// Option: persistence-engine data (`IPVS_OPT_PE_DATA`).
const OPT_PE_DATA: u8 = 2;
/// Option: persistence-engine name (`IPVS_OPT_PE_NAME`).
const OPT_PE_NAME: u8 = 3;
/// Option type bit: optional, skip when unknown (`IPVS_OPT_F_PARAM`).
const OPT_F_PARAM: u8 = 1 << 6;
/// Length of the sequence option's value (`sizeof(struct ip_vs_sync_conn_options)`).
const SEQ_OPTION_LEN: usize = 24;

/// The `N` bytes of `b` from `at`, zeros where `b` is short.
#[inline]
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = b.get(at..at + N) {
        a.copy_from_slice(s);
    }
    a
}

/// The byte of `b` at `at`, zero where `b` is short.
#[inline]
fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

#[inline]
fn be16(b: &[u8], r: field::Field) -> u16 {
    u16::from_be_bytes(bytes_at(b, r.start))
}

#[inline]
fn be32(b: &[u8], r: field::Field) -> u32 {
    u32::from_be_bytes(bytes_at(b, r.start))
}

#[inline]
fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(bytes_at::<4>(b, at))
}

#[inline]
fn ipv6_at(b: &[u8], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(bytes_at::<16>(b, at))
}

/// `N` 32-bit words read from `b` (big- or little-endian), zeros where `b` is short.
fn be32_words<const N: usize>(b: &[u8], little_endian: bool) -> [u32; N] {
    let mut out = [0u32; N];
    for (slot, c) in out.iter_mut().zip(b.chunks_exact(4)) {
        let mut a = [0u8; 4];
        a.copy_from_slice(c);
        *slot = if little_endian {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        };
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Message view
// ---------------------------------------------------------------------------------------------

/// A read/write view of one sync datagram (`struct ip_vs_sync_mesg` and the records after it).
///
/// [`new_checked`](Self::new_checked) applies the kernel's message-level checks: at least the
/// 4-byte version-0 header, and a `size` field equal to the datagram length. Whether the message
/// is version 1 is decided as the kernel does ([`version`](Self::version)); anything else is
/// treated as version 0.
///
/// ```
/// use lvs_core::sync::{SyncMessage, SyncVersion};
/// let bytes = [0, 7, 0, 8, 0, 1, 0, 0]; // an empty version-1 message, syncid 7
/// let msg = SyncMessage::new_checked(&bytes[..]).unwrap();
/// assert_eq!(msg.version(), SyncVersion::V1);
/// assert_eq!((msg.syncid(), msg.nr_conns()), (7, 0));
/// assert_eq!(msg.records().count(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncMessage<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SyncMessage<T> {
    /// A view without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        SyncMessage { buffer }
    }

    /// A view of a received datagram, after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// [`SyncError::HeaderTruncated`] or [`SyncError::SizeMismatch`].
    pub fn new_checked(buffer: T) -> Result<Self, SyncError> {
        let m = Self::new_unchecked(buffer);
        m.check_len()?;
        Ok(m)
    }

    /// Checks that the buffer holds a header and that the header's `size` equals its length
    /// (the kernel drops the datagram otherwise).
    ///
    /// # Errors
    /// [`SyncError::HeaderTruncated`] or [`SyncError::SizeMismatch`].
    pub fn check_len(&self) -> Result<(), SyncError> {
        let len = self.buffer.as_ref().len();
        if len < V0_HEADER_LEN {
            return Err(SyncError::HeaderTruncated {
                required: V0_HEADER_LEN,
                len,
            });
        }
        let size = self.size();
        if usize::from(size) != len {
            return Err(SyncError::SizeMismatch { size, len });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message format: version 1 when the header is at least 8 bytes with `version == 1`,
    /// `reserved == 0` and `spare == 0`; version 0 otherwise (as `ip_vs_process_message`).
    pub fn version(&self) -> SyncVersion {
        let b = self.buffer.as_ref();
        let v1 = b.len() >= HEADER_LEN
            && b.get(field::VERSION) == Some(&PROTO_VERSION)
            && b.get(field::RESERVED) == Some(&0)
            && be16(b, field::SPARE) == 0;
        if v1 {
            SyncVersion::V1
        } else {
            SyncVersion::V0
        }
    }

    /// Length of the header for this message's version (8 or 4).
    pub fn header_len(&self) -> usize {
        match self.version() {
            SyncVersion::V1 => HEADER_LEN,
            SyncVersion::V0 => V0_HEADER_LEN,
        }
    }

    getters! {
        /// The `reserved` byte (version 1; the record count in version 0).
        reserved: u8 = u8_at(RESERVED);
        /// The sync ID the master was started with.
        syncid: u8 = u8_at(SYNCID);
        /// The `size` field: the whole message length.
        size: u16 = be16(SIZE);
    }

    /// The number of records the header announces (at its version's position).
    pub fn nr_conns(&self) -> u8 {
        let at = match self.version() {
            SyncVersion::V1 => field::NR_CONNS,
            SyncVersion::V0 => field::V0_NR_CONNS,
        };
        u8_at(self.buffer.as_ref(), at)
    }

    getters! {
        /// The header's version byte (0 if the buffer is shorter than a version-1 header).
        proto_version: u8 = u8_at(VERSION);
        /// The `spare` field (0 if the buffer is shorter than a version-1 header).
        spare: u16 = be16(SPARE);
    }

    /// Whether a backup started with `backup_syncid` processes this message: a backup with sync
    /// ID 0 takes every message, others only their own ID.
    pub fn accepts_syncid(&self, backup_syncid: u8) -> bool {
        backup_syncid == 0 || self.syncid() == backup_syncid
    }

    /// The records, decoded one by one (see [`SyncRecords`]). On a view that fails
    /// [`check_len`](Self::check_len) the iterator yields that error once.
    pub fn records(&self) -> SyncRecords<'_> {
        match SyncRecords::new(self.buffer.as_ref()) {
            Ok(r) => r,
            Err(e) => SyncRecords::failed(e),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SyncMessage<T> {
    /// Writes a version-1 header: reserved 0, `syncid`, `size`, `nr_conns`, version 1, spare 0.
    ///
    /// # Panics
    /// If the buffer is shorter than 8 bytes.
    pub fn init_v1_header(&mut self, syncid: u8, size: u16, nr_conns: u8) {
        let b = self.buffer.as_mut();
        b[field::RESERVED] = 0;
        b[field::SYNCID] = syncid;
        b[field::SIZE].copy_from_slice(&size.to_be_bytes());
        b[field::NR_CONNS] = nr_conns;
        b[field::VERSION] = PROTO_VERSION;
        b[field::SPARE].copy_from_slice(&0u16.to_be_bytes());
    }

    /// Sets the sync ID.
    ///
    /// # Panics
    /// If the buffer is shorter than 2 bytes.
    pub fn set_syncid(&mut self, syncid: u8) {
        self.buffer.as_mut()[field::SYNCID] = syncid;
    }

    setters! {
        /// Sets the `size` field.
        ///
        /// # Panics
        /// If the buffer is shorter than 4 bytes.
        set_size(size: u16) = SIZE;
    }

    /// Sets the version-1 record count.
    ///
    /// # Panics
    /// If the buffer is shorter than 5 bytes.
    pub fn set_nr_conns(&mut self, nr_conns: u8) {
        self.buffer.as_mut()[field::NR_CONNS] = nr_conns;
    }
}
