//! VIP failover with VRRP version 3 (RFC 5798), sans-I/O.
//!
//! A [`Router`] is one virtual router (one VRID on one link, one IP family). It reads no clock,
//! opens no socket and draws no random number: the caller hands it received IP packets
//! ([`Received`]) and the time, asks it when to wake up ([`Router::poll_timeout`]) and takes its
//! outputs as values ([`Router::poll_action`]): advertisement bytes to send ([`Advert`], the VRRP
//! message and, with [`Advert::write_ip`], the IP packet around it), and the transitions the
//! caller acts on, [`Action::EnterMaster`] (start answering ARP/NDP for the virtual addresses
//! and announce them with gratuitous ARP / unsolicited neighbour advertisements),
//! [`Action::EnterBackup`] (stop answering for them) and [`Action::EnterInitialize`] (after
//! [`Router::shutdown`]).
//!
//! The wire format is in [`crate::wire::vrrp`]. Received packets are validated as RFC 5798
//! section 7.1 lists; every packet that fails is dropped, counted per [`DropReason`] in
//! [`Counters`], and changes nothing.
//!
//! Timers follow section 6.1 in milliseconds: `Skew_Time = ((256 - Priority) *
//! Master_Adver_Interval) / 256` and `Master_Down_Interval = 3 * Master_Adver_Interval +
//! Skew_Time`, where a backup adopts the master's advertised interval.

mod router;

pub use router::{Action, Advert, Router, State};

use crate::wire::vrrp::{AddrList, AdvertError, MAX_ADVER_INT, PROTOCOL};
use crate::wire::{Ipv4Packet, Ipv6Packet};
use core::fmt;
use core::net::IpAddr;

/// The settings of one virtual router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Virtual router ID, 1..=255.
    pub vrid: u8,
    /// Priority, 1..=255; 255 means this router owns the addresses.
    pub priority: u8,
    /// Advertisement interval in centiseconds, 1..=4095.
    pub adver_int: u16,
    /// Whether a higher-priority backup preempts a lower-priority master (the RFC's default).
    pub preempt: bool,
    /// Whether the master accepts packets addressed to the virtual addresses it does not own
    /// (a load balancer must: the addresses are its services).
    pub accept_mode: bool,
    /// The virtual addresses (one family).
    pub addrs: AddrList,
    /// This router's primary address on the link: the adverts' source, and the tie-breaker
    /// between equal priorities.
    pub primary: IpAddr,
}

/// Why a [`Config`] is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// VRID 0.
    ZeroVrid,
    /// Priority 0 (reserved for a master that stops).
    ZeroPriority,
    /// An interval of 0 or above 4095 centiseconds.
    BadInterval(u16),
    /// No virtual address.
    NoAddress,
    /// The primary address is not of the virtual addresses' family.
    FamilyMismatch,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroVrid => f.write_str("VRRP virtual router ID must be 1..=255"),
            ConfigError::ZeroPriority => f.write_str("VRRP priority must be 1..=255"),
            ConfigError::BadInterval(i) => {
                write!(f, "VRRP advert interval {i} cs out of 1..=4095")
            }
            ConfigError::NoAddress => f.write_str("VRRP needs at least one virtual address"),
            ConfigError::FamilyMismatch => {
                f.write_str("VRRP primary address and virtual addresses differ in family")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

impl Config {
    /// Checks the settings.
    ///
    /// # Errors
    /// A [`ConfigError`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::ZeroVrid);
        }
        if self.priority == 0 {
            return Err(ConfigError::ZeroPriority);
        }
        if self.adver_int == 0 || self.adver_int > MAX_ADVER_INT {
            return Err(ConfigError::BadInterval(self.adver_int));
        }
        match self.addrs.first() {
            None => Err(ConfigError::NoAddress),
            Some(a) if a.is_ipv4() != self.primary.is_ipv4() => Err(ConfigError::FamilyMismatch),
            Some(_) => Ok(()),
        }
    }
}

/// A received IP packet that may carry VRRP: the IP facts validation needs and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// TTL or hop limit as received.
    pub hop_limit: u8,
    /// The IP payload (the VRRP message).
    pub message: &'a [u8],
}

impl<'a> Received<'a> {
    /// Reads a bare IPv4 or IPv6 packet (as an `AF_PACKET` socket sees it after the Ethernet
    /// header, or a raw IPv4 socket). IPv4 options are skipped; an IPv6 packet must carry VRRP
    /// directly (no extension headers).
    ///
    /// # Errors
    /// [`DropReason::BadIp`] for a malformed or fragmented packet or a bad IPv4 header
    /// checksum, [`DropReason::NotVrrp`] for another protocol.
    pub fn from_ip_packet(b: &'a [u8]) -> Result<Received<'a>, DropReason> {
        match b.first().map(|v| v >> 4) {
            Some(4) => {
                let p = Ipv4Packet::new_checked(b).map_err(|_| DropReason::BadIp)?;
                if p.more_frags() || p.frag_offset() != 0 || !p.verify_checksum() {
                    return Err(DropReason::BadIp);
                }
                if p.protocol() != PROTOCOL {
                    return Err(DropReason::NotVrrp);
                }
                Ok(Received {
                    src: IpAddr::V4(p.src_addr()),
                    dst: IpAddr::V4(p.dst_addr()),
                    hop_limit: p.ttl(),
                    message: &b[p.header_len()..usize::from(p.total_len())],
                })
            }
            Some(6) => {
                let p = Ipv6Packet::new_checked(b).map_err(|_| DropReason::BadIp)?;
                if p.next_header() != PROTOCOL {
                    return Err(DropReason::NotVrrp);
                }
                let end = crate::wire::ipv6::HEADER_LEN + usize::from(p.payload_len());
                Ok(Received {
                    src: IpAddr::V6(p.src_addr()),
                    dst: IpAddr::V6(p.dst_addr()),
                    hop_limit: p.hop_limit(),
                    message: &b[crate::wire::ipv6::HEADER_LEN..end],
                })
            }
            _ => Err(DropReason::BadIp),
        }
    }
}

/// Why a received packet was dropped (RFC 5798 section 7.1), one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed, unfragmented IP packet.
    BadIp,
    /// Not IP protocol 112.
    NotVrrp,
    /// TTL / hop limit other than 255: it crossed a router.
    BadTtl,
    /// The message is shorter or longer than its address count says.
    BadLength,
    /// Version other than 3 (a version 2 advert, with its authentication, lands here).
    BadVersion,
    /// Type other than advertisement.
    BadType,
    /// The checksum does not verify.
    BadChecksum,
    /// No addresses or more than the wire module holds.
    BadAddrCount,
    /// A Max Advertise Interval of zero.
    ZeroInterval,
    /// Another virtual router's advert.
    VridMismatch,
    /// An advert of the other IP family.
    FamilyMismatch,
    /// The address list differs from ours and the sender is not the address owner.
    AddressMismatch,
    /// Our own advert, looped back.
    OwnAdvert,
    /// We own the addresses (priority 255): adverts of others are ignored.
    Owner,
    /// The router is not running (initial state or shut down).
    NotRunning,
}

impl DropReason {
    /// Every reason, in [`Counters`] order.
    pub const ALL: [DropReason; 15] = [
        DropReason::BadIp,
        DropReason::NotVrrp,
        DropReason::BadTtl,
        DropReason::BadLength,
        DropReason::BadVersion,
        DropReason::BadType,
        DropReason::BadChecksum,
        DropReason::BadAddrCount,
        DropReason::ZeroInterval,
        DropReason::VridMismatch,
        DropReason::FamilyMismatch,
        DropReason::AddressMismatch,
        DropReason::OwnAdvert,
        DropReason::Owner,
        DropReason::NotRunning,
    ];

    /// A short snake_case name, for counters.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::BadIp => "bad_ip",
            DropReason::NotVrrp => "not_vrrp",
            DropReason::BadTtl => "bad_ttl",
            DropReason::BadLength => "bad_length",
            DropReason::BadVersion => "bad_version",
            DropReason::BadType => "bad_type",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::BadAddrCount => "bad_addr_count",
            DropReason::ZeroInterval => "zero_interval",
            DropReason::VridMismatch => "vrid_mismatch",
            DropReason::FamilyMismatch => "family_mismatch",
            DropReason::AddressMismatch => "address_mismatch",
            DropReason::OwnAdvert => "own_advert",
            DropReason::Owner => "owner",
            DropReason::NotRunning => "not_running",
        }
    }
}

impl From<AdvertError> for DropReason {
    fn from(e: AdvertError) -> Self {
        match e {
            AdvertError::BadLength => DropReason::BadLength,
            AdvertError::BadVersion(_) => DropReason::BadVersion,
            AdvertError::BadType(_) => DropReason::BadType,
            AdvertError::BadChecksum => DropReason::BadChecksum,
            AdvertError::BadAddrCount(_) => DropReason::BadAddrCount,
            AdvertError::ZeroInterval => DropReason::ZeroInterval,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a [`Router`] counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Adverts accepted (valid, ours, from another router).
    pub rx_adverts: u64,
    /// Adverts with priority 0 accepted (a master stepping down).
    pub rx_priority_zero: u64,
    /// Valid adverts of a lower priority a preempting backup or a master ignored.
    pub rx_lower_ignored: u64,
    /// Adverts produced.
    pub tx_adverts: u64,
    /// Transitions to master.
    pub became_master: u64,
    /// Transitions to backup.
    pub became_backup: u64,
    /// Drops, indexed like [`DropReason::ALL`].
    pub drops: [u64; 15],
}

impl Counters {
    /// The drop counter of `r`.
    pub fn dropped(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }

    /// All drops.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().sum()
    }
}
