//! Connection synchronisation between directors (`ip_vs_sync.c`): the master decides what to
//! send with [`SyncPolicy`] and queues connection handles, [`Director::poll_sync`] fills
//! version-1 messages, and [`Director::apply_sync`] installs a peer's records on a backup.

use super::{
    cf, ConnHandle, ConnKey, ConnSlot, Counter, Director, FwdMethod, Instant, NewConn, Protocol,
    Scheduler, ServiceKey, TcpState,
};
use crate::addr::{AddrFamily, Endpoint};
use crate::dest::DestId;
use crate::sync::{
    conn_flags, default_max_len, SyncConn, SyncError, SyncFacts, SyncMessageBuilder, SyncPolicy,
    SyncRecords, SyncTrack, FLUSH_TIME, HEADER_LEN, MAX_RECORDS, RECORD_V4_LEN, RECORD_V6_LEN,
};
use crate::time::Duration;

/// Which side of connection synchronisation a director plays (`ipvsadm --start-daemon`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SyncRole {
    /// No synchronisation (the default).
    #[default]
    None,
    /// Send connections by the policy ([`Director::poll_sync`]).
    Master(SyncPolicy),
    /// Install a master's connections ([`Director::apply_sync`]).
    Backup,
    /// Both at once, as a kernel running both daemons.
    Both(SyncPolicy),
}

impl SyncRole {
    /// The sending policy, for a master.
    pub const fn policy(&self) -> Option<SyncPolicy> {
        match self {
            SyncRole::Master(p) | SyncRole::Both(p) => Some(*p),
            _ => None,
        }
    }

    /// Whether received messages are applied.
    pub const fn is_backup(&self) -> bool {
        matches!(self, SyncRole::Backup | SyncRole::Both(_))
    }
}

/// Connection-synchronisation counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SyncCounters {
    /// Entries queued for sending.
    pub queued: u64,
    /// Entries not queued because the outbox was full.
    pub queue_full: u64,
    /// Messages produced by [`Director::poll_sync`].
    pub messages_sent: u64,
    /// Records in those messages.
    pub records_sent: u64,
    /// Queued entries that were gone by the time their message was built.
    pub stale: u64,
    /// Records installed or refreshed by [`Director::apply_sync`].
    pub applied: u64,
    /// Records the decoder rejected and skipped (unknown protocol, bad state, ...).
    pub rejected: u64,
    /// Messages dropped whole or in part for a framing error, or not sync messages at all.
    pub malformed: u64,
    /// Messages ignored: another sync ID, or this director is not a backup.
    pub ignored: u64,
    /// Records with no matching service and real server here (the kernel keeps such
    /// connections unbound; this director cannot, see the module docs).
    pub unbound: u64,
    /// Records ignored because they announce the end of a connection already replaced here.
    pub superseded: u64,
    /// Records that found the table full.
    pub table_full: u64,
}

/// How many connection handles the master's outbox holds.
pub const SYNC_OUTBOX_LEN: usize = 1024;

// The connection-synchronisation byte of a table entry (`ConnSlot::sync_byte`):
/// Set while the entry waits in the outbox.
pub(super) const SYNC_QUEUED: u8 = 0x80;
/// Connections: their template is known to be `ASSURED` (saves lookups).
pub(super) const SYNC_CTL_ASSURED: u8 = 0x40;
/// Connections: the state last sent or received (`cp->old_state`).
pub(super) const SYNC_OLD_STATE: u8 = 0x3f;
/// Templates: input packets counted by the sync walk (`ct->in_pkts`), saturating.
pub(super) const SYNC_TPL_PKTS: u8 = 0x7f;

#[derive(Clone, Copy)]
struct OutItem {
    handle: u32,
    // enqueue time, milliseconds modulo 2^32
    at: u32,
}

/// The master's queue of entries to send: handles, not records; a record is built from the
/// entry's state when its message is built.
pub(super) struct Outbox {
    items: heapless::Deque<OutItem, SYNC_OUTBOX_LEN>,
    // estimated bytes of the queued records
    bytes: usize,
}

impl Outbox {
    pub(super) const fn new() -> Self {
        Outbox {
            items: heapless::Deque::new(),
            bytes: 0,
        }
    }

    /// Empties the queue in place.
    pub(super) fn reset(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }

    fn front(&self) -> Option<OutItem> {
        self.items.front().copied()
    }

    fn pop(&mut self, record_len: usize) {
        if self.items.pop_front().is_some() {
            self.bytes = if self.items.is_empty() {
                0
            } else {
                self.bytes.saturating_sub(record_len)
            };
        }
    }

    /// Queued entries (some may have gone stale).
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }
}

fn record_len(e: &ConnSlot) -> usize {
    if e.flags().contains(cf::IPV6) {
        RECORD_V6_LEN
    } else {
        RECORD_V4_LEN
    }
}

fn fwd_flags(fwd: FwdMethod) -> u32 {
    match fwd {
        FwdMethod::Masq => conn_flags::MASQ,
        FwdMethod::Tunnel => conn_flags::TUNNEL,
        FwdMethod::DirectRoute => conn_flags::DROUTE,
    }
}

impl<S: Scheduler> Director<'_, S> {
    fn sync_policy(&self) -> Option<SyncPolicy> {
        self.cfg.sync.policy()
    }

    /// The `IP_VS_CONN_F_*` flags of an entry as a master sends them.
    fn wire_flags(&self, e: &ConnSlot) -> u32 {
        let mut f = self
            .dests
            .get(e.dest().index())
            .map_or(conn_flags::MASQ, |d| fwd_flags(d.fwd));
        if e.no_output() {
            f |= conn_flags::NOOUTPUT;
        }
        if e.flags().contains(cf::INACTIVE) {
            f |= conn_flags::INACTIVE;
        }
        if e.is_template() {
            f |= conn_flags::TEMPLATE;
        }
        if e.flags().contains(cf::SYNCED) {
            f |= conn_flags::SYNC;
        }
        f
    }

    /// The firewall mark of the service an entry belongs to (0 for address services).
    fn entry_fwmark(&self, e: &ConnSlot) -> u32 {
        match self.svc_config_of(e.dest()).map(|c| c.key) {
            Some(ServiceKey::Fwmark { mark, .. }) => mark,
            _ => 0,
        }
    }

    /// The sync record of an entry as it is now.
    pub fn sync_record(&self, e: &ConnSlot) -> Option<SyncConn> {
        let daddr = self.entry_daddr(e)?;
        let mut c = SyncConn::new(e.proto(), e.client(), e.vaddr(), daddr);
        c.flags = self.wire_flags(e);
        c.state = u16::from(e.state());
        c.fwmark = self.entry_fwmark(e);
        c.set_timeout(self.entry_timeout(e));
        Some(c)
    }

    /// The master's step after an inbound packet went through connection `h`
    /// (`ip_vs_in_hook` calling `ip_vs_sync_conn`): decide for the connection, then walk to its
    /// template.
    pub(super) fn sync_after_packet(&mut self, h: ConnHandle, now: Instant) {
        let Some(p) = self.sync_policy() else { return };
        let Some(e) = self.table.get(h).copied() else {
            return;
        };
        let flags = self.wire_flags(&e);
        let pkts = p.pkts_for_packet(flags, u32::from(e.counter()));
        let sent = self.sync_decide(&p, h, &e, flags, pkts, now, false);
        if p.sync_controller(sent) && e.flags().contains(cf::CONTROLLED) {
            if let Some(t) = self.find_controller(e.dest(), &e.key()) {
                self.sync_template_packet(t, now);
            }
        }
    }

    /// The walk reaching template `t`: count the packet against it and decide.
    pub(super) fn sync_template_packet(&mut self, t: ConnHandle, now: Instant) {
        let Some(p) = self.sync_policy() else { return };
        let Some(mut te) = self.table.get(t).copied() else {
            return;
        };
        let b = te.sync_byte();
        let c = ((b & SYNC_TPL_PKTS) + 1).min(SYNC_TPL_PKTS);
        if let Some(mut m) = self.table.entry_mut(t) {
            m.set_sync_byte((b & !SYNC_TPL_PKTS) | c);
            te = *m.get();
        }
        // a saturated count stands for "many": never equal to a threshold
        let count = if c == SYNC_TPL_PKTS {
            u32::MAX
        } else {
            u32::from(c)
        };
        let flags = self.wire_flags(&te);
        let pkts = p.pkts_for_controller(flags, count);
        self.sync_decide(&p, t, &te, flags, pkts, now, true);
    }

    /// A template whose expiry was postponed is offered with the threshold (`expire_later`).
    pub(super) fn sync_extended_template(&mut self, t: ConnHandle, now: Instant) {
        let Some(p) = self.sync_policy() else { return };
        let Some(te) = self.table.get(t).copied() else {
            return;
        };
        let flags = self.wire_flags(&te);
        self.sync_decide(&p, t, &te, flags, p.pkts_for_expire_later(), now, false);
    }

    #[allow(clippy::too_many_arguments)]
    fn sync_decide(
        &mut self,
        p: &SyncPolicy,
        h: ConnHandle,
        e: &ConnSlot,
        flags: u32,
        pkts: u32,
        now: Instant,
        controller: bool,
    ) -> bool {
        let facts = SyncFacts {
            family: AddrFamily::of(&e.client().addr),
            protocol: e.proto(),
            state: u16::from(e.state()),
            flags,
            pkts,
            timeout: self.entry_timeout(e),
            in_persistence: e.flags().contains(cf::CONTROLLED),
        };
        let old = if e.is_template() {
            0
        } else {
            e.sync_byte() & SYNC_OLD_STATE
        };
        // no per-connection `sync_endtime` is kept: the policy's refresh period is 0
        let track = SyncTrack::from_parts(u16::from(old), 0);
        let d = if controller {
            p.decide_controller(&facts, track, now)
        } else {
            p.decide(&facts, track, now)
        };
        if d.send {
            if !e.is_template() {
                if let Some(mut m) = self.table.entry_mut(h) {
                    let b = m.get().sync_byte();
                    let st = (d.track.old_state() as u8) & SYNC_OLD_STATE;
                    m.set_sync_byte((b & !SYNC_OLD_STATE) | st);
                }
            }
            self.sync_enqueue(h, now);
        }
        d.send
    }

    /// Queues `h` for the next message, once: an entry already queued is sent as it is when
    /// the message is built.
    fn sync_enqueue(&mut self, h: ConnHandle, now: Instant) {
        let Some(e) = self.table.get(h) else { return };
        if e.sync_byte() & SYNC_QUEUED != 0 {
            return;
        }
        let len = record_len(e);
        let ob = &mut self.outbox;
        let item = OutItem {
            handle: h.0,
            at: now.total_millis() as u32,
        };
        if ob.items.push_back(item).is_err() {
            self.counters.sync.queue_full += 1;
            return;
        }
        ob.bytes += len;
        if let Some(mut m) = self.table.entry_mut(h) {
            let b = m.get().sync_byte();
            m.set_sync_byte(b | SYNC_QUEUED);
        }
        self.counters.sync.queued += 1;
    }

    /// Entries waiting for [`Director::poll_sync`].
    pub fn sync_pending(&self) -> usize {
        self.outbox.len()
    }

    fn sync_max_len(&self) -> usize {
        match self.cfg.sync_max_len {
            0 => default_max_len(AddrFamily::Ipv4),
            n => usize::from(n),
        }
    }

    /// When [`Director::poll_sync`] next has a message to give: now if the queued records fill
    /// one, else 2 s after the oldest was queued (`IPVS_SYNC_FLUSH_TIME`). `None` when nothing
    /// waits.
    pub fn sync_poll_at(&self) -> Option<Instant> {
        let first = self.outbox.front()?;
        if self.outbox_full() {
            return Some(self.last_now);
        }
        let age = (self.last_now.total_millis() as u32).wrapping_sub(first.at);
        let since = Duration::from_millis(u64::from(age));
        let wait = FLUSH_TIME
            .total_millis()
            .saturating_sub(since.total_millis());
        Some(self.last_now + Duration::from_millis(wait))
    }

    fn outbox_full(&self) -> bool {
        HEADER_LEN + self.outbox.bytes > self.sync_max_len() || self.outbox.len() >= MAX_RECORDS
    }

    /// Fills `buf` with the next version-1 sync message for `syncid` and returns its length,
    /// when one is due: the queued records fill a message
    /// ([`DirectorConfig::sync_max_len`](super::DirectorConfig::sync_max_len) bytes, at most
    /// 255 records), or the oldest has waited 2 s. Send `&buf[..len]` to the sync group
    /// ([`SYNC_GROUP_V4`](crate::sync::SYNC_GROUP_V4):[`SYNC_PORT`](crate::sync::SYNC_PORT) by
    /// default) and call again until `None`.
    ///
    /// Records are built from the entries as they are now; an entry that went away since it
    /// was queued is skipped. `buf` should hold a whole message (1500 bytes will do); a record
    /// that cannot fit even in an empty message is dropped.
    pub fn poll_sync(&mut self, now: Instant, buf: &mut [u8], syncid: u8) -> Option<usize> {
        self.saw(now);
        self.sync_policy()?;
        let first = self.outbox.front()?;
        let age = (now.total_millis() as u32).wrapping_sub(first.at);
        if !self.outbox_full() && u64::from(age) < FLUSH_TIME.total_millis() {
            return None;
        }
        let limit = self.sync_max_len();
        let mut b = SyncMessageBuilder::new(buf, syncid, limit).ok()?;
        while let Some(item) = self.outbox.front() {
            let h = ConnHandle(item.handle);
            let live = self
                .table
                .get(h)
                .filter(|e| e.sync_byte() & SYNC_QUEUED != 0)
                .copied();
            let Some(e) = live else {
                // removed since: its slot is free or holds an entry not queued by this item
                self.outbox.pop(RECORD_V4_LEN);
                self.counters.sync.stale += 1;
                continue;
            };
            let len = record_len(&e);
            let rec = self.sync_record(&e);
            let Some(rec) = rec.filter(|r| {
                AddrFamily::of(&r.daddr) == AddrFamily::of(&r.caddr)
                    && AddrFamily::of(&r.vaddr) == AddrFamily::of(&r.caddr)
            }) else {
                self.outbox.pop(len);
                self.clear_queued(h);
                self.counters.sync.stale += 1;
                continue;
            };
            if !b.fits(&rec) {
                if b.is_empty() {
                    self.outbox.pop(len);
                    self.clear_queued(h);
                    self.counters.sync.stale += 1;
                    continue;
                }
                break;
            }
            let pushed = b.push(&rec).is_ok();
            self.outbox.pop(len);
            self.clear_queued(h);
            if !pushed {
                self.counters.sync.stale += 1;
            }
        }
        if b.is_empty() {
            return None;
        }
        self.counters.sync.messages_sent += 1;
        self.counters.sync.records_sent += u64::from(b.count());
        Some(b.finish())
    }

    fn clear_queued(&mut self, h: ConnHandle) {
        if let Some(mut m) = self.table.entry_mut(h) {
            let b = m.get().sync_byte();
            m.set_sync_byte(b & !SYNC_QUEUED);
        }
    }

    /// Forgets everything queued (the role stopped being master).
    pub(super) fn clear_outbox(&mut self) {
        while let Some(item) = self.outbox.front() {
            self.clear_queued(ConnHandle(item.handle));
            self.outbox.pop(0);
        }
        self.outbox.bytes = 0;
    }

    // ----- backup ------------------------------------------------------------------------

    /// Applies a sync message received from a master (`ip_vs_process_message`): each record
    /// installs or refreshes a connection or template, bound to the service and real server
    /// with the record's addresses; the master's active/inactive state is kept and counted.
    /// Returns the records applied.
    ///
    /// A message for another sync ID (unless `syncid` is 0), or received while this director
    /// is not a backup, is ignored (`Ok(0)`). Records the decoder rejects are skipped and
    /// counted. Nothing here allocates: entries go into the fixed table, and a full table
    /// refuses them (counted; with `drop_entry`, embryonic entries make room first).
    ///
    /// # Errors
    /// The message-level and framing errors of [`SyncRecords`]: records before a framing
    /// error stay applied, as in the kernel.
    pub fn apply_sync(
        &mut self,
        now: Instant,
        bytes: &[u8],
        syncid: u8,
    ) -> Result<usize, SyncError> {
        self.saw(now);
        if !self.cfg.sync.is_backup() {
            self.counters.sync.ignored += 1;
            return Ok(0);
        }
        let records = match SyncRecords::new(bytes) {
            Ok(r) => r,
            Err(e) => {
                self.counters.sync.malformed += 1;
                return Err(e);
            }
        };
        let accept = bytes.get(1).is_some_and(|&id| syncid == 0 || id == syncid);
        if !accept {
            self.counters.sync.ignored += 1;
            return Ok(0);
        }
        let mut n = 0;
        for r in records {
            match r {
                Ok(c) => {
                    if self.apply_record(now, &c) {
                        n += 1;
                        self.counters.sync.applied += 1;
                    }
                }
                Err(e) if e.is_fatal() => {
                    self.counters.sync.malformed += 1;
                    return Err(e);
                }
                Err(_) => self.counters.sync.rejected += 1,
            }
        }
        Ok(n)
    }

    /// The threshold a backup sets as a received connection's packet count.
    fn backup_threshold(&self) -> u32 {
        self.sync_policy()
            .unwrap_or(SyncPolicy::DEFAULT)
            .threshold()
    }

    /// Finds the real server a record names: its service by firewall mark, or by protocol,
    /// virtual address and port (then port 0, then, for a template, any persistent service on
    /// that address), and in it a server with the record's address and port (or port 0).
    fn find_sync_dest(&self, c: &SyncConn) -> Option<DestId> {
        let af = AddrFamily::of(&c.caddr);
        let proto = c.protocol.number();
        let mut exact = None;
        let mut zero = None;
        let mut any = None;
        for (id, s) in self.services() {
            match s.config.key {
                ServiceKey::Fwmark { af: maf, mark } => {
                    if c.fwmark != 0 && mark == c.fwmark && maf == af {
                        exact = exact.or(Some(id));
                    }
                }
                ServiceKey::Addr { proto: p, vip } if c.fwmark == 0 => {
                    if p.number() != proto || vip.addr != c.vaddr {
                        continue;
                    }
                    if vip.port == c.vport {
                        exact = exact.or(Some(id));
                    } else if vip.port == 0 {
                        zero = zero.or(Some(id));
                    } else if c.is_template() && s.config.persistence.is_some() {
                        any = any.or(Some(id));
                    }
                }
                ServiceKey::Addr { .. } => {}
            }
        }
        [exact, zero, any].into_iter().flatten().find_map(|svc| {
            self.dests(svc)
                .iter()
                .find(|(_, d)| {
                    d.is_available()
                        && d.addr.addr == c.daddr
                        && (d.addr.port == c.dport || d.addr.port == 0)
                })
                .map(|(id, _)| id)
        })
    }

    /// Whether an entry goes to the record's real server address and port.
    fn same_daddr(&self, e: &ConnSlot, c: &SyncConn) -> bool {
        self.entry_daddr(e) == Some(Endpoint::new(c.daddr, c.dport))
    }

    /// `ip_vs_proc_conn`: install or refresh one record. Returns whether it was applied.
    fn apply_record(&mut self, now: Instant, c: &SyncConn) -> bool {
        let template = c.is_template();
        let key = ConnKey {
            proto: c.protocol,
            caddr: c.caddr,
            cport: c.cport,
            vaddr: c.vaddr,
            vport: c.vport,
        };
        let mut found = self.table.find(&key, template);
        if let Some(h) = found {
            // an entry past its deadline is gone
            let overdue = self
                .table
                .get(h)
                .is_some_and(|e| e.expires_in(now, self.entry_timeout(e)) == Duration::ZERO);
            if overdue {
                self.expire_or_extend(h, now);
                found = self.table.find(&key, template);
            }
        }
        let inactive = c.flags & conn_flags::INACTIVE != 0;
        if let (Some(h), false) = (found, template) {
            let same = self.table.get(h).is_some_and(|e| self.same_daddr(e, c));
            if !same {
                if inactive {
                    // the end of a connection this one replaced: ignore it
                    self.counters.sync.superseded += 1;
                    return false;
                }
                self.delete_entry(h, false);
                found = None;
            }
        }
        let thr = self.backup_threshold();
        match found {
            Some(h) if template => self.refresh_template(h, c, now, thr),
            Some(h) => self.refresh_conn(h, c, now, thr),
            None => self.install(key, c, now, thr),
        }
    }

    fn refresh_conn(&mut self, h: ConnHandle, c: &SyncConn, now: Instant, thr: u32) -> bool {
        let Some(e) = self.table.get(h).copied() else {
            return false;
        };
        let inactive = c.flags & conn_flags::INACTIVE != 0;
        let was_inactive = e.flags().contains(cf::INACTIVE);
        if inactive != was_inactive {
            let mut counts = false;
            if let Some(d) = self.dests.get_mut(e.dest().index()) {
                if inactive {
                    d.active = d.active.saturating_sub(1);
                    d.inactive += 1;
                } else {
                    d.inactive = d.inactive.saturating_sub(1);
                    d.active += 1;
                }
                counts = true;
            }
            if counts {
                self.notify_counts(e.dest());
            }
        }
        let state = synced_state(c);
        if let Some(mut m) = self.table.entry_mut(h) {
            m.set_flags(cf::INACTIVE, inactive);
            m.set_state(state);
            m.set_counter(u16::try_from(thr).unwrap_or(u16::MAX));
            let b = m.get().sync_byte();
            m.set_sync_byte((b & !SYNC_OLD_STATE) | (state & SYNC_OLD_STATE));
        }
        self.table.touch(h, now);
        let to = self.cfg.timeouts.of(e.proto(), state);
        self.table.refile(h, to, now);
        true
    }

    fn refresh_template(&mut self, h: ConnHandle, c: &SyncConn, now: Instant, thr: u32) -> bool {
        let Some(e) = self.table.get(h).copied() else {
            return false;
        };
        if !self.same_daddr(&e, c) && e.counter() == 0 {
            // the master chose another server: follow it while nothing here uses the template
            let Some(d) = self.find_sync_dest(c) else {
                self.counters.sync.unbound += 1;
                return false;
            };
            self.unbind(e.dest(), e.flags());
            if let Some(mut m) = self.table.entry_mut(h) {
                m.set_dest(d);
            }
            self.bind(d, Counter::Persistent);
        }
        if let Some(mut m) = self.table.entry_mut(h) {
            m.set_state(template_state(c));
            let b = m.get().sync_byte();
            let pk = thr.min(u32::from(SYNC_TPL_PKTS)) as u8;
            m.set_sync_byte((b & !SYNC_TPL_PKTS) | pk);
            if c.timeout != 0 {
                m.set_flags(cf::EXTENDED, false);
            }
        }
        self.table.touch(h, now);
        let to = self.entry_timeout(&e);
        self.table.refile(h, to, now);
        true
    }

    fn install(&mut self, key: ConnKey, c: &SyncConn, now: Instant, thr: u32) -> bool {
        let Some(d) = self.find_sync_dest(c) else {
            self.counters.sync.unbound += 1;
            return false;
        };
        let template = c.is_template();
        let fwd = self.dests.get(d.index()).map(|x| x.fwd).unwrap_or_default();
        let inactive = c.flags & conn_flags::INACTIVE != 0;
        let mut flags = cf::SYNCED;
        if template {
            flags |= cf::TEMPLATE;
        } else if inactive {
            flags |= cf::INACTIVE;
        }
        // a synced connection takes the forwarding method of this director's server
        if fwd != FwdMethod::Masq {
            flags |= cf::NOOUTPUT;
        }
        let state = if template {
            template_state(c)
        } else {
            synced_state(c)
        };
        self.make_room(1);
        let nc = NewConn {
            key,
            dest: d,
            state,
            flags,
        };
        let timeout = if template {
            self.template_timeout(d)
        } else {
            self.cfg.timeouts.of(c.protocol, state)
        };
        let h = match self.table.insert_with_timeout(nc, now, timeout) {
            Ok(h) => h,
            Err(_) => {
                self.counters.sync.table_full += 1;
                return false;
            }
        };
        let counter = if template {
            Counter::Persistent
        } else if inactive {
            Counter::Inactive
        } else {
            Counter::Active
        };
        self.bind(d, counter);
        if let Some(mut m) = self.table.entry_mut(h) {
            if template {
                m.set_sync_byte(thr.min(u32::from(SYNC_TPL_PKTS)) as u8);
            } else {
                m.set_counter(u16::try_from(thr).unwrap_or(u16::MAX));
                m.set_sync_byte(state & SYNC_OLD_STATE);
            }
        }
        if !template && is_embryonic_state(c.protocol, state) {
            self.note_embryonic(h);
        }
        true
    }

    /// The timeout of a template bound to `d`: its service's persistence timeout.
    fn template_timeout(&self, d: DestId) -> Duration {
        self.svc_config_of(d)
            .and_then(|s| s.persistence)
            .map_or(super::TEMPLATE_EXTENSION, |p| p.timeout)
    }
}

/// The state a backup stores for a connection record: TCP states as sent; other protocols are
/// tracked with one state here.
fn synced_state(c: &SyncConn) -> u8 {
    if c.protocol == Protocol::Tcp && usize::from(c.state) < crate::state::TCP_STATE_COUNT {
        c.state as u8
    } else {
        0
    }
}

/// A template's state from a record: `ASSURED` or not.
fn template_state(c: &SyncConn) -> u8 {
    if c.state & u16::from(super::TPL_ASSURED) != 0 {
        super::TPL_ASSURED
    } else {
        0
    }
}

fn is_embryonic_state(proto: Protocol, state: u8) -> bool {
    proto == Protocol::Tcp && (state == TcpState::SynRecv as u8 || state == TcpState::SynAck as u8)
}
