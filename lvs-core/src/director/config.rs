//! The director's tunables, the kernel's sysctls.

use super::*;

/// Tunables that the kernel exposes as sysctls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct DirectorConfig {
    /// Key of the connection-table hash. Choose it at random at start-up.
    pub hash_seed: SipKey,
    /// Per-state timeouts.
    pub timeouts: Timeouts,
    /// `secure_tcp`: the stricter TCP state table (replies must confirm a handshake), never,
    /// under table pressure, or always. See the module docs.
    pub secure_tcp: Defense,
    /// `drop_entry`: evict embryonic TCP entries to make room for new flows when fewer than
    /// `defense_threshold` + 1 slots are free. See the module docs.
    pub drop_entry: bool,
    /// Free table slots at or below which the table is under pressure (the kernel's
    /// `amemthresh`, counted in slots). 0: only a full table is.
    pub defense_threshold: u32,
    /// `sloppy_tcp`: schedule TCP on any packet, not only SYN.
    pub sloppy_tcp: bool,
    /// Consistent sloppy TCP (no kernel counterpart): a TCP packet other than a SYN or RST of
    /// a flow with no entry is scheduled, and gets an entry, when its service's scheduler is
    /// consistent ([`Scheduler::is_consistent`]: sh, mh, dh) and the service has no
    /// persistence. Directors behind an ECMP router that share a service configuration then
    /// pick the same real server for a flow that the router moves to one of them mid-stream.
    /// Off by default; such packets are counted in
    /// [`DirectorCounters::sloppy_scheduled`](super::DirectorCounters).
    pub sloppy_tcp_consistent: bool,
    /// `expire_nodest_conn`: expire a connection whose real server was removed on its next
    /// packet (and reschedule it) instead of dropping its packets until it times out.
    pub expire_nodest_conn: bool,
    /// `expire_quiescent_template`: a persistence template pointing to a weight-0 server is not
    /// used for new connections.
    pub expire_quiescent_template: bool,
    /// `conn_reuse_mode` (default 1): a SYN on a connection in TIME_WAIT or CLOSE reschedules it;
    /// bit 2 also for FIN_WAIT on DR/tunnel connections; 0 disables.
    pub conn_reuse_mode: u8,
    /// Most connection entries examined per [`Director::handle_timeout`] call (also the slots
    /// swept per call after a real server was removed with `expire_nodest_conn`).
    pub expire_budget: u32,
    /// Connection synchronisation role.
    pub sync: SyncRole,
    /// Largest sync message in bytes (`sync_maxlen`); 0 for the default, 1472 (a 1500-byte MTU
    /// less the IPv4 and UDP headers).
    pub sync_max_len: u16,
}

impl DirectorConfig {
    /// The kernel's defaults with the given hash seed.
    pub const fn new(hash_seed: SipKey) -> Self {
        DirectorConfig {
            hash_seed,
            timeouts: Timeouts::DEFAULT,
            secure_tcp: Defense::Off,
            drop_entry: false,
            defense_threshold: 0,
            sloppy_tcp: false,
            sloppy_tcp_consistent: false,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            conn_reuse_mode: 1,
            expire_budget: 4096,
            sync: SyncRole::None,
            sync_max_len: 0,
        }
    }

    /// Checks what the director cannot do: a sync policy with a refresh period (it needs
    /// per-connection storage this table does not keep) or emitting version 0.
    ///
    /// # Errors
    /// [`ConfigError::BadValue`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(p) = self.sync.policy() {
            if p.refresh_period() != Duration::ZERO || p.version() != crate::sync::SyncVersion::V1 {
                return Err(ConfigError::BadValue);
            }
        }
        if self.sync_max_len != 0 && usize::from(self.sync_max_len) < crate::sync::HEADER_LEN {
            return Err(ConfigError::BadValue);
        }
        Ok(())
    }
}
