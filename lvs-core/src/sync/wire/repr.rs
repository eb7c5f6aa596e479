//! Owned representations: a connection record's fields, its options, and their emission.

use super::*;

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
    pub(super) fn from_words(w: [u32; 6]) -> Self {
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

    pub(super) fn words(&self) -> [u32; 6] {
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

/// 1 to `N` bytes stored inline (`N` at most 255): the storage of [`PeData`] and [`PeName`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct InlineBytes<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineBytes<N> {
    /// `data` copied in.
    ///
    /// # Errors
    /// [`SyncError::PeLength`] if `data` is empty or longer than `N`.
    fn new(data: &[u8]) -> Result<Self, SyncError> {
        let mut bytes = [0u8; N];
        match (u8::try_from(data.len()), bytes.get_mut(..data.len())) {
            (Ok(len), Some(dst)) if len != 0 => {
                dst.copy_from_slice(data);
                Ok(InlineBytes { len, bytes })
            }
            _ => Err(SyncError::PeLength(data.len())),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// The accessors [`PeData`] and [`PeName`] share over their [`InlineBytes`].
macro_rules! inline_bytes_api {
    ($ty:ident, $max:literal, $what:literal) => {
        #[doc = concat!("The longest ", $what, " the wire allows.")]
        pub const MAX_LEN: usize = $max;

        #[doc = concat!("A ", $what, " from its bytes.")]
        ///
        /// # Errors
        /// [`SyncError::PeLength`] if `bytes` is empty or longer than [`Self::MAX_LEN`].
        pub fn new(bytes: &[u8]) -> Result<Self, SyncError> {
            InlineBytes::new(bytes).map($ty)
        }

        /// The bytes.
        pub fn as_bytes(&self) -> &[u8] {
            self.0.as_bytes()
        }

        #[doc = concat!("The length in bytes (1..=", $max, ").")]
        pub fn len(&self) -> usize {
            usize::from(self.0.len)
        }

        #[doc = concat!("Always `false`: an empty ", $what, " cannot be built.")]
        pub fn is_empty(&self) -> bool {
            self.0.len == 0
        }
    };
}

/// Persistence-engine data (for example a SIP Call-ID): 1 to 255 bytes
/// (`IP_VS_PEDATA_MAXLEN`), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeData(InlineBytes<255>);

impl PeData {
    inline_bytes_api!(PeData, 255, "value");
}

impl fmt::Debug for PeData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PeData").field(&self.as_bytes()).finish()
    }
}

/// A persistence-engine name (for example `sip`): 1 to 16 bytes (`IP_VS_PENAME_MAXLEN`), stored
/// inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeName(InlineBytes<16>);

impl PeName {
    inline_bytes_api!(PeName, 16, "name");

    /// The name as text, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        core::str::from_utf8(self.as_bytes()).ok()
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
    /// Connection flags as sent (`IP_VS_CONN_F_*`, see [`conn_flags`](crate::sync::conn_flags)).
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

    /// The length of the version-0 record `record` starts with: 24 bytes, or 48 when its flags
    /// carry `IP_VS_CONN_F_SEQ_MASK` (the buffer may be shorter than that).
    ///
    /// # Errors
    /// [`SyncError::RecordTruncated`] if `record` is shorter than 24 bytes.
    pub(crate) fn v0_len(record: &[u8]) -> Result<usize, SyncError> {
        if record.len() < V0_RECORD_LEN {
            return Err(SyncError::RecordTruncated {
                required: V0_RECORD_LEN,
                available: record.len(),
            });
        }
        let flags = u32::from(be16(record, field::V0_FLAGS));
        Ok(if flags & conn_flags::SEQ_MASK != 0 {
            V0_RECORD_SEQ_LEN
        } else {
            V0_RECORD_LEN
        })
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
        let with_seq = Self::v0_len(record)? == V0_RECORD_SEQ_LEN;
        let flags = u32::from(be16(record, field::V0_FLAGS));
        let seq = if with_seq {
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
            w.put(&[OPT_PE_DATA, d.0.len]);
            w.put(d.as_bytes());
        }
        if let Some(n) = &self.pe_name {
            w.put(&[OPT_PE_NAME, n.0.len]);
            w.put(n.as_bytes());
        }
        Ok(len)
    }
}

/// A cursor over a slice already sized for what is written.
pub(super) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    pub(super) fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.pos += bytes.len();
    }
}
