//! The view of one connection record inside a sync message.

use super::*;

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

    getters! {
        /// Connection flags as sent (`IP_VS_CONN_F_*`).
        flags: u32 = be32(FLAGS);
        /// Connection state.
        state: u16 = be16(STATE);
        /// Client port.
        cport: u16 = be16(CPORT);
        /// Virtual port.
        vport: u16 = be16(VPORT);
        /// Real-server port.
        dport: u16 = be16(DPORT);
        /// Firewall mark.
        fwmark: u32 = be32(FWMARK);
        /// Timeout in seconds.
        timeout: u32 = be32(TIMEOUT);
    }

    pub(super) fn addr(&self, index: usize) -> IpAddr {
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

    setters! {
        /// Sets the flags.
        ///
        /// # Panics
        /// If the buffer is shorter than the fixed part.
        set_flags(flags: u32) = FLAGS;
        /// Sets the state.
        ///
        /// # Panics
        /// If the buffer is shorter than the fixed part.
        set_state(state: u16) = STATE;
        /// Sets the firewall mark.
        ///
        /// # Panics
        /// If the buffer is shorter than the fixed part.
        set_fwmark(fwmark: u32) = FWMARK;
        /// Sets the timeout in seconds.
        ///
        /// # Panics
        /// If the buffer is shorter than the fixed part.
        set_timeout(secs: u32) = TIMEOUT;
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

    /// Writes the three addresses at the layout of their family; an address of the other
    /// family than `caddr` is written as zeros.
    ///
    /// # Panics
    /// If the buffer is shorter than the fixed part for `caddr`'s family.
    pub fn set_addrs(&mut self, caddr: &IpAddr, vaddr: &IpAddr, daddr: &IpAddr) {
        let b = self.buffer.as_mut();
        let v6 = caddr.is_ipv6();
        let width = if v6 { 16 } else { 4 };
        for (i, a) in [caddr, vaddr, daddr].into_iter().enumerate() {
            let at = field::ADDRS + width * i;
            let slot = &mut b[at..at + width];
            match a {
                IpAddr::V4(a) if !v6 => slot.copy_from_slice(&a.octets()),
                IpAddr::V6(a) if v6 => slot.copy_from_slice(&a.octets()),
                _ => slot.fill(0),
            }
        }
    }
}
