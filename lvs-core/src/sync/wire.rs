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

#[inline]
fn be16(b: &[u8], r: field::Field) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(r) {
        a.copy_from_slice(s);
    }
    u16::from_be_bytes(a)
}

#[inline]
fn be32(b: &[u8], r: field::Field) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(r) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

#[inline]
fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    Ipv4Addr::from(a)
}

#[inline]
fn ipv6_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(at..at + 16) {
        a.copy_from_slice(s);
    }
    Ipv6Addr::from(a)
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

    /// The `reserved` byte (version 1; the record count in version 0).
    pub fn reserved(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::RESERVED)
            .copied()
            .unwrap_or(0)
    }

    /// The sync ID the master was started with.
    pub fn syncid(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::SYNCID)
            .copied()
            .unwrap_or(0)
    }

    /// The `size` field: the whole message length.
    pub fn size(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SIZE)
    }

    /// The number of records the header announces (at its version's position).
    pub fn nr_conns(&self) -> u8 {
        let at = match self.version() {
            SyncVersion::V1 => field::NR_CONNS,
            SyncVersion::V0 => field::V0_NR_CONNS,
        };
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// The header's version byte (0 if the buffer is shorter than a version-1 header).
    pub fn proto_version(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::VERSION)
            .copied()
            .unwrap_or(0)
    }

    /// The `spare` field (0 if the buffer is shorter than a version-1 header).
    pub fn spare(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SPARE)
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

    /// Sets the `size` field.
    ///
    /// # Panics
    /// If the buffer is shorter than 4 bytes.
    pub fn set_size(&mut self, size: u16) {
        self.buffer.as_mut()[field::SIZE].copy_from_slice(&size.to_be_bytes());
    }

    /// Sets the version-1 record count.
    ///
    /// # Panics
    /// If the buffer is shorter than 5 bytes.
    pub fn set_nr_conns(&mut self, nr_conns: u8) {
        self.buffer.as_mut()[field::NR_CONNS] = nr_conns;
    }
}

// ---------------------------------------------------------------------------------------------
// Record view
// ---------------------------------------------------------------------------------------------

/// A read/write view of one version-1 connection record (`union ip_vs_sync_conn` and its
/// options). The buffer may extend past the record (the rest of the message); the record's own
/// `size` delimits it.
///
/// [`check_len`](Self::check_len) applies the kernel's per-record checks in the kernel's order:
/// the IPv4 fixed part fits, `size` fits, version nibble 0, a known type, and `size` covers the
/// fixed part of that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnRecord<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ConnRecord<T> {
    /// A view without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        ConnRecord { buffer }
    }

    /// A view after [`check_len`](Self::check_len).
    ///
    /// # Errors
    /// See [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, SyncError> {
        let r = Self::new_unchecked(buffer);
        r.check_len()?;
        Ok(r)
    }

    /// Checks the record's framing.
    ///
    /// # Errors
    /// [`SyncError::RecordTruncated`], [`SyncError::RecordOverrun`],
    /// [`SyncError::RecordVersion`], [`SyncError::RecordType`] or
    /// [`SyncError::RecordTooShort`], all fatal for the message.
    pub fn check_len(&self) -> Result<(), SyncError> {
        let b = self.buffer.as_ref();
        let available = b.len();
        if available < RECORD_V4_LEN {
            return Err(SyncError::RecordTruncated {
                required: RECORD_V4_LEN,
                available,
            });
        }
        let vs = be16(b, field::VER_SIZE);
        let size = vs & SIZE_MASK;
        if usize::from(size) > available {
            return Err(SyncError::RecordOverrun { size, available });
        }
        if vs >> VER_SHIFT != 0 {
            return Err(SyncError::RecordVersion((vs >> VER_SHIFT) as u8));
        }
        let ty = b.get(field::TYPE).copied().unwrap_or(0);
        let required = if ty & TYPE_F_INET6 != 0 {
            RECORD_V6_LEN
        } else if ty == 0 {
            RECORD_V4_LEN
        } else {
            return Err(SyncError::RecordType(ty));
        };
        if usize::from(size) < required {
            return Err(SyncError::RecordTooShort { size, required });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The type byte. The kernel reads bit 0 (IPv6) and rejects other bits only on IPv4
    /// records.
    pub fn record_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Whether the addresses are IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.record_type() & TYPE_F_INET6 != 0
    }

    /// The IP protocol number.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// The raw `ver_size` field.
    pub fn ver_size(&self) -> u16 {
        be16(self.buffer.as_ref(), field::VER_SIZE)
    }

    /// The record version (the top nibble of `ver_size`; only 0 is defined).
    pub fn record_version(&self) -> u8 {
        (self.ver_size() >> VER_SHIFT) as u8
    }

    /// The record length with options, without alignment padding.
    pub fn size(&self) -> u16 {
        self.ver_size() & SIZE_MASK
    }

    /// The distance to the next record: `size` rounded up to 4.
    pub fn padded_len(&self) -> usize {
        (usize::from(self.size()) + 3) & !3
    }

    /// Length of the fixed part (36 or 72).
    pub fn fixed_len(&self) -> usize {
        if self.is_ipv6() {
            RECORD_V6_LEN
        } else {
            RECORD_V4_LEN
        }
    }

    /// Connection flags as sent (`IP_VS_CONN_F_*`).
    pub fn flags(&self) -> u32 {
        be32(self.buffer.as_ref(), field::FLAGS)
    }

    /// Connection state.
    pub fn state(&self) -> u16 {
        be16(self.buffer.as_ref(), field::STATE)
    }

    /// Client port.
    pub fn cport(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CPORT)
    }

    /// Virtual port.
    pub fn vport(&self) -> u16 {
        be16(self.buffer.as_ref(), field::VPORT)
    }

    /// Real-server port.
    pub fn dport(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DPORT)
    }

    /// Firewall mark.
    pub fn fwmark(&self) -> u32 {
        be32(self.buffer.as_ref(), field::FWMARK)
    }

    /// Timeout in seconds.
    pub fn timeout(&self) -> u32 {
        be32(self.buffer.as_ref(), field::TIMEOUT)
    }

    fn addr(&self, index: usize) -> IpAddr {
        let b = self.buffer.as_ref();
        if self.is_ipv6() {
            IpAddr::V6(ipv6_at(b, field::ADDRS + 16 * index))
        } else {
            IpAddr::V4(ipv4_at(b, field::ADDRS + 4 * index))
        }
    }

    /// Client address.
    pub fn caddr(&self) -> IpAddr {
        self.addr(0)
    }

    /// Virtual address.
    pub fn vaddr(&self) -> IpAddr {
        self.addr(1)
    }

    /// Real-server address.
    pub fn daddr(&self) -> IpAddr {
        self.addr(2)
    }

    /// The option bytes: from the end of the fixed part to `size`.
    pub fn options(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.fixed_len()..usize::from(self.size()))
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ConnRecord<T> {
    /// Sets the type byte.
    ///
    /// # Panics
    /// If the buffer is empty.
    pub fn set_record_type(&mut self, ty: u8) {
        self.buffer.as_mut()[field::TYPE] = ty;
    }

    /// Sets the protocol.
    ///
    /// # Panics
    /// If the buffer is shorter than 2 bytes.
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol;
    }

    /// Sets `ver_size` to version 0 and `size`.
    ///
    /// # Panics
    /// If the buffer is shorter than 4 bytes.
    pub fn set_size(&mut self, size: u16) {
        self.buffer.as_mut()[field::VER_SIZE].copy_from_slice(&(size & SIZE_MASK).to_be_bytes());
    }

    /// Sets the flags.
    ///
    /// # Panics
    /// If the buffer is shorter than the fixed part.
    pub fn set_flags(&mut self, flags: u32) {
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&flags.to_be_bytes());
    }

    /// Sets the state.
    ///
    /// # Panics
    /// If the buffer is shorter than the fixed part.
    pub fn set_state(&mut self, state: u16) {
        self.buffer.as_mut()[field::STATE].copy_from_slice(&state.to_be_bytes());
    }

    /// Sets the client, virtual and real-server ports.
    ///
    /// # Panics
    /// If the buffer is shorter than the fixed part.
    pub fn set_ports(&mut self, cport: u16, vport: u16, dport: u16) {
        let b = self.buffer.as_mut();
        b[field::CPORT].copy_from_slice(&cport.to_be_bytes());
        b[field::VPORT].copy_from_slice(&vport.to_be_bytes());
        b[field::DPORT].copy_from_slice(&dport.to_be_bytes());
    }

    /// Sets the firewall mark.
    ///
    /// # Panics
    /// If the buffer is shorter than the fixed part.
    pub fn set_fwmark(&mut self, fwmark: u32) {
        self.buffer.as_mut()[field::FWMARK].copy_from_slice(&fwmark.to_be_bytes());
    }

    /// Sets the timeout in seconds.
    ///
    /// # Panics
    /// If the buffer is shorter than the fixed part.
    pub fn set_timeout(&mut self, secs: u32) {
        self.buffer.as_mut()[field::TIMEOUT].copy_from_slice(&secs.to_be_bytes());
    }

    /// Writes the three addresses at the layout of their family; an address of the other
    /// family than `caddr` is written as zeros.
    ///
    /// # Panics
    /// If the buffer is shorter than the fixed part for `caddr`'s family.
    pub fn set_addrs(&mut self, caddr: &IpAddr, vaddr: &IpAddr, daddr: &IpAddr) {
        let b = self.buffer.as_mut();
        match caddr {
            IpAddr::V4(_) => {
                for (i, a) in [caddr, vaddr, daddr].into_iter().enumerate() {
                    let o = match a {
                        IpAddr::V4(a) => a.octets(),
                        IpAddr::V6(_) => [0; 4],
                    };
                    let at = field::ADDRS + 4 * i;
                    b[at..at + 4].copy_from_slice(&o);
                }
            }
            IpAddr::V6(_) => {
                for (i, a) in [caddr, vaddr, daddr].into_iter().enumerate() {
                    let o = match a {
                        IpAddr::V6(a) => a.octets(),
                        IpAddr::V4(_) => [0; 16],
                    };
                    let at = field::ADDRS + 16 * i;
                    b[at..at + 16].copy_from_slice(&o);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Owned representation
// ---------------------------------------------------------------------------------------------

/// One direction's TCP sequence adjustment (`struct ip_vs_seq`), used by NAT application
/// helpers such as FTP that resize payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqAdjust {
    /// Add `delta` from this sequence number on.
    pub init_seq: u32,
    /// Current delta.
    pub delta: u32,
    /// Delta before the last resized packet.
    pub previous_delta: u32,
}

/// The sequence option of a record (`struct ip_vs_sync_conn_options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqOptions {
    /// Input direction.
    pub in_seq: SeqAdjust,
    /// Output direction.
    pub out_seq: SeqAdjust,
}

impl SeqOptions {
    fn from_words(w: [u32; 6]) -> Self {
        let [a, b, c, d, e, f] = w;
        SeqOptions {
            in_seq: SeqAdjust {
                init_seq: a,
                delta: b,
                previous_delta: c,
            },
            out_seq: SeqAdjust {
                init_seq: d,
                delta: e,
                previous_delta: f,
            },
        }
    }

    fn words(&self) -> [u32; 6] {
        [
            self.in_seq.init_seq,
            self.in_seq.delta,
            self.in_seq.previous_delta,
            self.out_seq.init_seq,
            self.out_seq.delta,
            self.out_seq.previous_delta,
        ]
    }
}

/// Persistence-engine data (for example a SIP Call-ID): 1 to 255 bytes
/// (`IP_VS_PEDATA_MAXLEN`), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeData {
    len: u8,
    bytes: [u8; 255],
}

impl PeData {
    /// The longest value the wire allows.
    pub const MAX_LEN: usize = 255;

    /// A value from its bytes.
    ///
    /// # Errors
    /// [`SyncError::PeLength`] if `data` is empty or longer than [`Self::MAX_LEN`].
    pub fn new(data: &[u8]) -> Result<Self, SyncError> {
        let mut bytes = [0u8; 255];
        match (u8::try_from(data.len()), bytes.get_mut(..data.len())) {
            (Ok(len), Some(dst)) if len != 0 => {
                dst.copy_from_slice(data);
                Ok(PeData { len, bytes })
            }
            _ => Err(SyncError::PeLength(data.len())),
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The length in bytes (1..=255).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always `false`: an empty value cannot be built.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for PeData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PeData").field(&self.as_bytes()).finish()
    }
}

/// A persistence-engine name (for example `sip`): 1 to 16 bytes (`IP_VS_PENAME_MAXLEN`), stored
/// inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeName {
    len: u8,
    bytes: [u8; 16],
}

impl PeName {
    /// The longest name the kernel accepts.
    pub const MAX_LEN: usize = 16;

    /// A name from its bytes.
    ///
    /// # Errors
    /// [`SyncError::PeLength`] if `name` is empty or longer than [`Self::MAX_LEN`].
    pub fn new(name: &[u8]) -> Result<Self, SyncError> {
        let mut bytes = [0u8; 16];
        match (u8::try_from(name.len()), bytes.get_mut(..name.len())) {
            (Ok(len), Some(dst)) if len != 0 => {
                dst.copy_from_slice(name);
                Ok(PeName { len, bytes })
            }
            _ => Err(SyncError::PeLength(name.len())),
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The name as text, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
    }

    /// The length in bytes (1..=16).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always `false`: an empty name cannot be built.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for PeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => f.debug_tuple("PeName").field(&s).finish(),
            None => f.debug_tuple("PeName").field(&self.as_bytes()).finish(),
        }
    }
}

/// One synchronised connection or persistence template: the owned form of a record.
///
/// The address family is that of `caddr`; `vaddr` and `daddr` must be of the same family to be
/// emitted (the kernel does not sync heterogeneous pools). About 370 bytes, because the
/// persistence-engine values are stored inline at their wire limits.
///
/// Emission writes the sequence option iff `seq` is `Some` (a kernel master sends it iff
/// `flags & IP_VS_CONN_F_SEQ_MASK`), then PE data, then the PE name (a kernel master sends the
/// name only with data). Parsing keeps the flags exactly as sent;
/// [`backup_flags`](Self::backup_flags) gives what a backup stores.
///
/// ```
/// use lvs_core::addr::{Endpoint, Protocol};
/// use lvs_core::sync::{tcp_state, ConnRecord, SyncConn};
/// let mut c = SyncConn::new(
///     Protocol::Tcp,
///     Endpoint::v4([198, 51, 100, 7], 40000),
///     Endpoint::v4([192, 0, 2, 1], 80),
///     Endpoint::v4([10, 0, 0, 2], 80),
/// );
/// c.state = tcp_state::ESTABLISHED;
/// c.timeout = 900;
/// let mut buf = [0u8; 64];
/// let n = c.emit(&mut buf).unwrap();
/// assert_eq!(n, c.buffer_len());
/// let back = SyncConn::parse(&ConnRecord::new_checked(&buf[..n]).unwrap()).unwrap();
/// assert_eq!(back, c);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyncConn {
    /// Transport protocol (IPPROTO_IP, 0, for fwmark templates).
    pub protocol: Protocol,
    /// Connection flags as sent (`IP_VS_CONN_F_*`, see [`conn_flags`](super::conn_flags)).
    pub flags: u32,
    /// Protocol state (`IP_VS_TCP_S_*`, ...) or template state (`IP_VS_CTPL_S_*`).
    pub state: u16,
    /// Client port.
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Real-server port.
    pub dport: u16,
    /// Firewall mark.
    pub fwmark: u32,
    /// Timeout in whole seconds (0 lets the backup use its protocol default).
    pub timeout: u32,
    /// Client address.
    pub caddr: IpAddr,
    /// Virtual address (for fwmark templates, the mark as an address).
    pub vaddr: IpAddr,
    /// Real-server address.
    pub daddr: IpAddr,
    /// Sequence adjustments.
    pub seq: Option<SeqOptions>,
    /// Persistence-engine data.
    pub pe_data: Option<PeData>,
    /// Persistence-engine name.
    pub pe_name: Option<PeName>,
}

impl SyncConn {
    /// A connection with zero flags, state, fwmark and timeout and no options.
    pub const fn new(protocol: Protocol, client: Endpoint, virt: Endpoint, dest: Endpoint) -> Self {
        SyncConn {
            protocol,
            flags: 0,
            state: 0,
            cport: client.port,
            vport: virt.port,
            dport: dest.port,
            fwmark: 0,
            timeout: 0,
            caddr: client.addr,
            vaddr: virt.addr,
            daddr: dest.addr,
            seq: None,
            pe_data: None,
            pe_name: None,
        }
    }

    /// The flags a master puts on the wire for a connection with `conn_flags`: everything but
    /// `IP_VS_CONN_F_HASHED` (version 1 sends all 32 bits; the backup masks them).
    pub const fn wire_flags(conn_flags: u32) -> u32 {
        conn_flags & !conn_flags::HASHED
    }

    /// Sets `timeout` from a duration, truncated to whole seconds like `cp->timeout / HZ`.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = u32::try_from(timeout.secs()).unwrap_or(u32::MAX);
    }

    /// `timeout` as a duration.
    pub const fn timeout_duration(&self) -> Duration {
        Duration::from_secs(self.timeout as u64)
    }

    /// The address family (that of `caddr`).
    pub const fn family(&self) -> AddrFamily {
        AddrFamily::of(&self.caddr)
    }

    /// Whether this is a persistence template.
    pub const fn is_template(&self) -> bool {
        self.flags & conn_flags::TEMPLATE != 0
    }

    /// The flags a backup stores for a new entry from this record: for version 1,
    /// `flags & IP_VS_CONN_F_BACKUP_MASK | IP_VS_CONN_F_SYNC`; for version 0,
    /// `flags | IP_VS_CONN_F_SYNC` without `IP_VS_CONN_F_HASHED`.
    pub const fn backup_flags(&self, version: SyncVersion) -> u32 {
        match version {
            SyncVersion::V1 => (self.flags & conn_flags::BACKUP_MASK) | conn_flags::SYNC,
            SyncVersion::V0 => (self.flags | conn_flags::SYNC) & !conn_flags::HASHED,
        }
    }

    /// Length of the record this emits (without alignment padding).
    pub fn buffer_len(&self) -> usize {
        let fixed = match self.caddr {
            IpAddr::V4(_) => RECORD_V4_LEN,
            IpAddr::V6(_) => RECORD_V6_LEN,
        };
        fixed
            + self.seq.map_or(0, |_| 2 + SEQ_OPTION_LEN)
            + self.pe_data.as_ref().map_or(0, |d| 2 + d.len())
            + self.pe_name.as_ref().map_or(0, |n| 2 + n.len())
    }

    /// Parses a version-1 record, its options included, the way `ip_vs_proc_sync_conn` does:
    /// options may come in any order; an option type with bit 6 set is optional and skipped
    /// when unknown; known types are matched with bit 6 cleared.
    ///
    /// This checks the framing and the options only; [`validate`](Self::validate) adds the
    /// protocol/state checks a backup applies.
    ///
    /// # Errors
    /// Any framing error of [`ConnRecord::check_len`], [`SyncError::OptionTruncated`],
    /// [`SyncError::OptionLength`], [`SyncError::SeqOptionLength`],
    /// [`SyncError::DuplicateOption`], [`SyncError::PeNameTooLong`] (all fatal), or
    /// [`SyncError::UnknownMandatoryOption`] (the kernel skips the record).
    pub fn parse<T: AsRef<[u8]>>(record: &ConnRecord<T>) -> Result<SyncConn, SyncError> {
        record.check_len()?;
        let mut conn = SyncConn {
            protocol: Protocol::from(record.protocol()),
            flags: record.flags(),
            state: record.state(),
            cport: record.cport(),
            vport: record.vport(),
            dport: record.dport(),
            fwmark: record.fwmark(),
            timeout: record.timeout(),
            caddr: record.caddr(),
            vaddr: record.vaddr(),
            daddr: record.daddr(),
            seq: None,
            pe_data: None,
            pe_name: None,
        };
        let opts = record.options();
        let mut p = 0usize;
        while p < opts.len() {
            let (Some(&kind), Some(&len)) = (opts.get(p), opts.get(p + 1)) else {
                return Err(SyncError::OptionTruncated);
            };
            p += 2;
            let plen = usize::from(len);
            let value = match opts.get(p..p + plen) {
                Some(v) if plen != 0 => v,
                _ => return Err(SyncError::OptionLength { kind, len }),
            };
            match kind & !OPT_F_PARAM {
                OPT_SEQ_DATA => {
                    if plen != SEQ_OPTION_LEN {
                        return Err(SyncError::SeqOptionLength(len));
                    }
                    if conn.seq.is_some() {
                        return Err(SyncError::DuplicateOption(OPT_SEQ_DATA));
                    }
                    conn.seq = Some(SeqOptions::from_words(be32_words(value, false)));
                }
                OPT_PE_DATA => {
                    if conn.pe_data.is_some() {
                        return Err(SyncError::DuplicateOption(OPT_PE_DATA));
                    }
                    conn.pe_data = Some(PeData::new(value)?);
                }
                OPT_PE_NAME => {
                    if plen > PeName::MAX_LEN {
                        return Err(SyncError::PeNameTooLong(len));
                    }
                    if conn.pe_name.is_some() {
                        return Err(SyncError::DuplicateOption(OPT_PE_NAME));
                    }
                    conn.pe_name = Some(PeName::new(value)?);
                }
                _ => {
                    if kind & OPT_F_PARAM == 0 {
                        return Err(SyncError::UnknownMandatoryOption(kind));
                    }
                }
            }
            p += plen;
        }
        Ok(conn)
    }

    /// Parses a version-0 record (`struct ip_vs_sync_conn_v0`, 24 bytes, or 48 when its
    /// 16-bit flags carry `IP_VS_CONN_F_SEQ_MASK`). Version 0 is IPv4-only and carries no
    /// fwmark or timeout (both come out 0).
    ///
    /// The kernel copies the sequence option of version 0 in the sender's *host* byte order;
    /// this decodes it as little-endian (x86, arm64 and most other current hosts).
    ///
    /// # Errors
    /// [`SyncError::RecordTruncated`] if `record` is too short.
    pub fn parse_v0(record: &[u8]) -> Result<SyncConn, SyncError> {
        if record.len() < V0_RECORD_LEN {
            return Err(SyncError::RecordTruncated {
                required: V0_RECORD_LEN,
                available: record.len(),
            });
        }
        let flags = u32::from(be16(record, field::V0_FLAGS));
        let seq = if flags & conn_flags::SEQ_MASK != 0 {
            let opts = record
                .get(field::V0_OPTIONS)
                .ok_or(SyncError::RecordTruncated {
                    required: V0_RECORD_SEQ_LEN,
                    available: record.len(),
                })?;
            Some(SeqOptions::from_words(be32_words(opts, true)))
        } else {
            None
        };
        let addr = |r: field::Field| IpAddr::V4(ipv4_at(record, r.start));
        Ok(SyncConn {
            protocol: Protocol::from(record.get(field::V0_PROTOCOL).copied().unwrap_or(0)),
            flags,
            state: be16(record, field::V0_STATE),
            cport: be16(record, field::V0_CPORT),
            vport: be16(record, field::V0_VPORT),
            dport: be16(record, field::V0_DPORT),
            fwmark: 0,
            timeout: 0,
            caddr: addr(field::V0_CADDR),
            vaddr: addr(field::V0_VADDR),
            daddr: addr(field::V0_DADDR),
            seq,
            pe_data: None,
            pe_name: None,
        })
    }

    /// The semantic checks a backup applies before creating an entry
    /// (`ip_vs_proc_sync_conn`, `ip_vs_conn_fill_param_sync`): a connection's protocol must be
    /// one IPVS handles and its state below that protocol's state count; a template's state
    /// must be below `IP_VS_CTPL_S_LAST` (its protocol is not checked); PE data needs a PE
    /// name. Whether the named engine exists is the embedder's question.
    ///
    /// # Errors
    /// [`SyncError::UnsupportedProtocol`], [`SyncError::InvalidState`] or
    /// [`SyncError::PeDataWithoutName`]; the kernel skips such a record and goes on.
    pub fn validate(&self) -> Result<(), SyncError> {
        let protocol = self.protocol.number();
        if !self.is_template() {
            let n =
                protocol_num_states(protocol).ok_or(SyncError::UnsupportedProtocol(protocol))?;
            if self.state >= n {
                return Err(SyncError::InvalidState {
                    protocol,
                    state: self.state,
                });
            }
        } else if self.state >= tpl_state::LAST {
            return Err(SyncError::InvalidState {
                protocol,
                state: self.state,
            });
        }
        if self.pe_data.is_some() && self.pe_name.is_none() {
            return Err(SyncError::PeDataWithoutName);
        }
        Ok(())
    }

    /// Writes the version-1 record into the start of `buf` and returns its length
    /// ([`buffer_len`](Self::buffer_len)). `buf` is not modified on error.
    ///
    /// # Errors
    /// [`SyncError::MixedFamilies`] if `vaddr` or `daddr` is not of `caddr`'s family,
    /// [`SyncError::NoRoom`] if `buf` is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, SyncError> {
        let family = self.family();
        if AddrFamily::of(&self.vaddr) != family || AddrFamily::of(&self.daddr) != family {
            return Err(SyncError::MixedFamilies);
        }
        let len = self.buffer_len();
        let available = buf.len();
        let out = buf.get_mut(..len).ok_or(SyncError::NoRoom {
            required: len,
            available,
        })?;
        let mut rec = ConnRecord::new_unchecked(&mut *out);
        rec.set_record_type(match family {
            AddrFamily::Ipv4 => 0,
            AddrFamily::Ipv6 => TYPE_F_INET6,
        });
        rec.set_protocol(self.protocol.number());
        // `len` is at most 72 + 26 + 257 + 18, well under the 12-bit size limit.
        rec.set_size(len as u16);
        rec.set_flags(self.flags);
        rec.set_state(self.state);
        rec.set_ports(self.cport, self.vport, self.dport);
        rec.set_fwmark(self.fwmark);
        rec.set_timeout(self.timeout);
        rec.set_addrs(&self.caddr, &self.vaddr, &self.daddr);
        let fixed = rec.fixed_len();
        let mut w = Writer {
            buf: out,
            pos: fixed,
        };
        if let Some(seq) = &self.seq {
            w.put(&[OPT_SEQ_DATA, SEQ_OPTION_LEN as u8]);
            for word in seq.words() {
                w.put(&word.to_be_bytes());
            }
        }
        if let Some(d) = &self.pe_data {
            w.put(&[OPT_PE_DATA, d.len]);
            w.put(d.as_bytes());
        }
        if let Some(n) = &self.pe_name {
            w.put(&[OPT_PE_NAME, n.len]);
            w.put(n.as_bytes());
        }
        Ok(len)
    }
}

/// A cursor over a slice already sized for what is written.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.pos += bytes.len();
    }
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

/// The records of a message, decoded in order as `ip_vs_process_message` does.
///
/// Yields at most `nr_conns` items; bytes after the last announced record are ignored, as are
/// the contents of alignment padding. For each record:
/// - a *malformed* record (framing or option error, [`SyncError::is_fatal`]) yields its error and
///   ends the iteration — the kernel drops the rest of the message;
/// - a *rejected* record (unknown mandatory option, unsupported protocol, invalid state, PE data
///   without a name) yields its error and decoding goes on with the next record — the kernel
///   skips it;
/// - otherwise the record is yielded as a [`SyncConn`].
///
/// Version-0 messages are decoded too (see [`SyncConn::parse_v0`]); their records are 24 or 48
/// bytes and are validated the same way.
///
/// Every yielded record occupies at least 36 bytes (24 in version 0) of the message, so a
/// message of `len` bytes yields at most `(len - 8) / 36` records.
#[derive(Debug, Clone)]
pub struct SyncRecords<'a> {
    buf: &'a [u8],
    pos: usize,
    remaining: u8,
    version: SyncVersion,
    pending: Option<SyncError>,
}

impl<'a> SyncRecords<'a> {
    /// Decodes the datagram `datagram`.
    ///
    /// # Errors
    /// The message-level errors of [`SyncMessage::check_len`].
    pub fn new(datagram: &'a [u8]) -> Result<Self, SyncError> {
        let msg = SyncMessage::new_checked(datagram)?;
        let version = msg.version();
        Ok(SyncRecords {
            buf: datagram,
            pos: msg.header_len(),
            remaining: msg.nr_conns(),
            version,
            pending: None,
        })
    }

    fn failed(e: SyncError) -> Self {
        SyncRecords {
            buf: &[],
            pos: 0,
            remaining: 0,
            version: SyncVersion::V1,
            pending: Some(e),
        }
    }

    /// The message format.
    pub fn version(&self) -> SyncVersion {
        self.version
    }

    /// Offset in the message where the next record starts.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn next_v1(&mut self) -> Result<SyncConn, SyncError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let rec = ConnRecord::new_checked(rest)?;
        self.pos = self.pos.saturating_add(rec.padded_len());
        let conn = SyncConn::parse(&rec)?;
        conn.validate()?;
        Ok(conn)
    }

    fn next_v0(&mut self) -> Result<SyncConn, SyncError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if rest.len() < V0_RECORD_LEN {
            return Err(SyncError::RecordTruncated {
                required: V0_RECORD_LEN,
                available: rest.len(),
            });
        }
        let flags = u32::from(be16(rest, field::V0_FLAGS));
        let need = if flags & conn_flags::SEQ_MASK != 0 {
            V0_RECORD_SEQ_LEN
        } else {
            V0_RECORD_LEN
        };
        let record = rest.get(..need).ok_or(SyncError::RecordTruncated {
            required: need,
            available: rest.len(),
        })?;
        self.pos = self.pos.saturating_add(need);
        let conn = SyncConn::parse_v0(record)?;
        conn.validate()?;
        Ok(conn)
    }
}

impl Iterator for SyncRecords<'_> {
    type Item = Result<SyncConn, SyncError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let r = match self.version {
            SyncVersion::V1 => self.next_v1(),
            SyncVersion::V0 => self.next_v0(),
        };
        if matches!(&r, Err(e) if e.is_fatal()) {
            self.remaining = 0;
        }
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let pending = usize::from(self.pending.is_some());
        (0, Some(usize::from(self.remaining) + pending))
    }
}

// ---------------------------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------------------------

/// Builds a version-1 message in a caller buffer, record by record, as a master fills its
/// current `sync_buff`: each record after the first is preceded by zero padding to a 4-byte
/// boundary, and the header's `size` and `nr_conns` are kept up to date after every record.
///
/// When [`push`](Self::push) reports [`SyncError::NoRoom`] or [`SyncError::TooManyRecords`],
/// send the message and start a new one (the kernel queues the full buffer and allocates a new
/// one); a master also sends a non-empty message that is [`FLUSH_TIME`](super::FLUSH_TIME) old.
///
/// ```
/// use lvs_core::addr::{Endpoint, Protocol};
/// use lvs_core::sync::{default_max_len, SyncConn, SyncMessageBuilder, SyncRecords};
/// use lvs_core::AddrFamily;
/// let conn = SyncConn::new(
///     Protocol::Udp,
///     Endpoint::v4([198, 51, 100, 7], 5353),
///     Endpoint::v4([192, 0, 2, 1], 53),
///     Endpoint::v4([10, 0, 0, 2], 53),
/// );
/// let mut buf = [0u8; 1500];
/// let mut b = SyncMessageBuilder::new(&mut buf, 9, default_max_len(AddrFamily::Ipv4)).unwrap();
/// b.push(&conn).unwrap();
/// b.push(&conn).unwrap();
/// let len = b.finish();
/// let got: Vec<_> = SyncRecords::new(&buf[..len]).unwrap().collect();
/// assert_eq!(got, [Ok(conn), Ok(conn)]);
/// ```
#[derive(Debug)]
pub struct SyncMessageBuilder<'a> {
    buf: &'a mut [u8],
    limit: usize,
    len: usize,
    count: u8,
    syncid: u8,
}

impl<'a> SyncMessageBuilder<'a> {
    /// Starts an empty message with `syncid` in `buf`, never growing past `max_len` bytes (the
    /// master's `sync_maxlen`, for example [`default_max_len`](super::default_max_len)), nor past
    /// `buf`, nor past 65535.
    ///
    /// # Errors
    /// [`SyncError::NoRoom`] if fewer than 8 bytes are allowed.
    pub fn new(buf: &'a mut [u8], syncid: u8, max_len: usize) -> Result<Self, SyncError> {
        let limit = buf.len().min(max_len).min(MAX_MESSAGE_LEN);
        if limit < HEADER_LEN {
            return Err(SyncError::NoRoom {
                required: HEADER_LEN,
                available: limit,
            });
        }
        let mut b = SyncMessageBuilder {
            buf,
            limit,
            len: HEADER_LEN,
            count: 0,
            syncid,
        };
        b.write_header();
        Ok(b)
    }

    fn write_header(&mut self) {
        if let Some(h) = self.buf.get_mut(..HEADER_LEN) {
            // `len` never exceeds `limit`, which is at most 65535.
            SyncMessage::new_unchecked(h).init_v1_header(self.syncid, self.len as u16, self.count);
        }
    }

    /// The bytes a record would take here, padding included.
    pub fn required_for(&self, conn: &SyncConn) -> usize {
        (self.len.wrapping_neg() & 3) + conn.buffer_len()
    }

    /// Whether `conn` fits.
    pub fn fits(&self, conn: &SyncConn) -> bool {
        usize::from(self.count) < MAX_RECORDS && self.required_for(conn) <= self.remaining()
    }

    /// Appends `conn`. Nothing is written on error.
    ///
    /// # Errors
    /// [`SyncError::TooManyRecords`] after 255 records, [`SyncError::NoRoom`] if the record
    /// does not fit, [`SyncError::MixedFamilies`] from [`SyncConn::emit`].
    pub fn push(&mut self, conn: &SyncConn) -> Result<(), SyncError> {
        if usize::from(self.count) >= MAX_RECORDS {
            return Err(SyncError::TooManyRecords);
        }
        let pad = self.len.wrapping_neg() & 3;
        let required = pad + conn.buffer_len();
        let available = self.remaining();
        if required > available {
            return Err(SyncError::NoRoom {
                required,
                available,
            });
        }
        let region = self
            .buf
            .get_mut(self.len..self.len + required)
            .ok_or(SyncError::NoRoom {
                required,
                available,
            })?;
        let (padding, record) = region.split_at_mut(pad);
        conn.emit(record)?;
        padding.fill(0);
        self.len += required;
        self.count += 1;
        self.write_header();
        Ok(())
    }

    /// The message length so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no record was added yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records added.
    pub fn count(&self) -> u8 {
        self.count
    }

    /// Bytes left before the limit.
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.len)
    }

    /// The message so far (a complete, valid message at every step).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Ends the message and returns its length: send `&buf[..len]`.
    pub fn finish(self) -> usize {
        self.len
    }
}
