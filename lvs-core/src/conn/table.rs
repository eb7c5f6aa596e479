//! The connection table's storage, hashing, lookups, inserts and removals.

use super::*;

impl<'a> ConnTable<'a> {
    /// A table over `storage` (length a power of two) and `wheel`, hashing with `seed`.
    ///
    /// # Errors
    /// [`TableError::BadCapacity`] if the length is not a power of two in 2..=2^31.
    pub fn new(
        storage: &'a mut [ConnSlot],
        wheel: &'a mut TimerWheel,
        seed: SipKey,
        now: Instant,
    ) -> Result<Self, TableError> {
        let len = storage.len();
        if len < 2 || !len.is_power_of_two() || len > (1usize << 31) {
            return Err(TableError::BadCapacity { len });
        }
        let n = len as u32;
        wheel.reset();
        // the free list, doubly linked through `chain` (next) and `tprev` (previous)
        for (i, s) in storage.iter_mut().enumerate() {
            let i = i as u32;
            *s = ConnSlot::EMPTY;
            s.chain = if i + 1 < n { i + 1 } else { NIL };
            s.tprev = if i > 0 { i - 1 } else { NIL };
        }
        Ok(ConnTable {
            slots: storage,
            mask: n - 1,
            seed,
            free: 0,
            len: 0,
            wheel,
            wheel_tick: now.total_millis() / WHEEL_TICK_MS,
            proc_head: NIL,
            stats: TableStats::default(),
        })
    }

    /// Capacity in connections.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Live entries (connections and templates).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// No live entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots not in use.
    pub fn free_slots(&self) -> usize {
        self.slots.len() - self.len as usize
    }

    /// Table counters.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// The bucket hash of (protocol, client address, client port).
    #[inline]
    pub fn hash(&self, proto: Protocol, caddr: &IpAddr, cport: u16) -> u32 {
        if let IpAddr::V4(a) = caddr {
            return self.hash_v4(proto.number(), a.octets(), cport);
        }
        let mut buf = [0u8; 19];
        buf[0] = proto.number();
        buf[1..3].copy_from_slice(&cport.to_be_bytes());
        let n = match caddr {
            IpAddr::V4(a) => {
                buf[3..7].copy_from_slice(&a.octets());
                7
            }
            IpAddr::V6(a) => {
                buf[3..19].copy_from_slice(&a.octets());
                19
            }
        };
        siphash::<1, 3>(self.seed, &buf[..n]) as u32
    }

    /// [`ConnTable::hash`] of an IPv4 key: the same value (SipHash-1-3 of the same 7 bytes),
    /// computed on one 64-bit word.
    #[inline]
    pub(crate) fn hash_v4(&self, proto: u8, caddr: [u8; 4], cport: u16) -> u32 {
        siphash13_v4(self.seed, proto, caddr, cport)
    }

    /// Asks for slot `idx`'s line without waiting for it (a prefetch; nothing for `NIL`).
    #[inline]
    pub(crate) fn prefetch_slot(&self, idx: u32) {
        if let Some(s) = self.slots.get(idx as usize) {
            crate::prefetch::prefetch_read(s);
        }
    }

    /// Asks for the line of bucket `hash`'s own slot without waiting for it.
    #[inline]
    pub(crate) fn prefetch_bucket(&self, hash: u32) {
        self.prefetch_slot(hash & self.mask);
    }

    /// The first step of [`ConnTable::find_v4`]'s walk for `flow` in bucket `hash`:
    /// `(NIL, slot)` if the bucket's own slot holds the flow's connection, else the next slot
    /// to look at and `NIL`. Reading it is how a burst brings the bucket's line into the cache.
    #[inline]
    pub(crate) fn home_step(&self, hash: u32, flow: &crate::addr::FlowKey) -> (u32, u32) {
        self.home_step_by(hash, |s| slot_matches(s, flow))
    }

    /// [`ConnTable::home_step`] for an IPv4 connection given by its parts (as
    /// [`ConnTable::find_v4`] takes them): the same answer.
    #[inline]
    pub(crate) fn home_step_v4(&self, hash: u32, key: &V4Key) -> (u32, u32) {
        self.home_step_by(hash, |s| slot_matches_v4(s, key))
    }

    /// The walk's first step in bucket `hash` with `matches` telling whether a slot holds the
    /// connection sought ([`ConnTable::home_step`], [`ConnTable::home_step_v4`]).
    #[inline(always)]
    fn home_step_by(&self, hash: u32, matches: impl Fn(&ConnSlot) -> bool) -> (u32, u32) {
        let b = hash & self.mask;
        let Some(s) = self.slots.get(b as usize) else {
            return (NIL, NIL);
        };
        if matches(s) {
            (NIL, b)
        } else if s.head == b {
            (s.chain, NIL)
        } else {
            (s.head, NIL)
        }
    }

    /// [`ConnTable::matching_slot`] for an IPv4 connection given by its parts: the same
    /// answer.
    #[inline]
    pub(crate) fn matching_slot_v4(&self, idx: u32, key: &V4Key) -> Option<&ConnSlot> {
        let s = self.slots.get(idx as usize)?;
        slot_matches_v4(s, key).then_some(s)
    }

    /// Whether any entry of bucket `hash` has `client` as its client (protocol, address and
    /// port; connection or template): when none has, no reply check of that client can match
    /// until an entry is inserted ([`TableStats::inserted`] moves).
    pub(crate) fn client_in_bucket(&self, hash: u32, proto: Protocol, client: &Endpoint) -> bool {
        let (caddr, _) = addr_bytes(&client.addr);
        let proto = proto.number();
        self.find_in_chain(hash, |s| {
            s.cport == client.port && s.proto == proto && s.caddr == caddr
        })
        .is_some()
    }

    /// The first entry of the hash chain of `hash` that `hit` accepts.
    #[inline(always)]
    fn find_in_chain(
        &self,
        hash: u32,
        mut hit: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let mut i = self.slots.get((hash & self.mask) as usize)?.head;
        while let Some(s) = self.slots.get(i as usize) {
            if hit(s) {
                return Some(ConnHandle(i));
            }
            i = s.chain;
        }
        None
    }

    /// Whether slot `idx` holds the connection (not a template) a packet of `flow` from its
    /// client belongs to (what [`ConnTable::find_hashed`] looks for).
    #[inline]
    pub(crate) fn matches_flow(&self, idx: u32, flow: &crate::addr::FlowKey) -> bool {
        self.matching_slot(idx, flow).is_some()
    }

    /// Slot `idx` when [`ConnTable::matches_flow`] holds, else `None`.
    #[inline]
    pub(crate) fn matching_slot(&self, idx: u32, flow: &crate::addr::FlowKey) -> Option<&ConnSlot> {
        let s = self.slots.get(idx as usize)?;
        slot_matches(s, flow).then_some(s)
    }

    /// [`ConnTable::find_hashed`] for an IPv4 connection (not a template), by its parts,
    /// looking at the bucket's own slot first: the same answer as long as no two connections
    /// share a key, which the director ensures (it inserts a connection only after a lookup
    /// of its key found none).
    #[inline]
    pub(crate) fn find_v4(
        &self,
        hash: u32,
        proto: u8,
        caddr: [u8; 4],
        cport: u16,
        vaddr: [u8; 4],
        vport: u16,
    ) -> Option<ConnHandle> {
        let key = V4Key {
            proto,
            caddr,
            cport,
            vaddr,
            vport,
        };
        self.find_v4_slot(hash, &key).map(|(h, _)| h)
    }

    /// [`ConnTable::find_v4`] for the connection `key`, with the live entry found, so that its
    /// caller need not look it up again.
    #[inline]
    pub(crate) fn find_v4_slot(&self, hash: u32, key: &V4Key) -> Option<(ConnHandle, &ConnSlot)> {
        // The bucket's own slot first: it is on the line just read for the head, and holds
        // the bucket's oldest entry if that was placed there. The director keeps connection
        // keys unique, so the first match is the only one, wherever the chain puts it.
        let b = hash & self.mask;
        let mut i = b;
        let mut home = true;
        while let Some(s) = self.slots.get(i as usize) {
            let next = if home { s.head } else { s.chain };
            if slot_matches_v4(s, key) {
                return Some((ConnHandle(i), s));
            }
            home = false;
            i = next;
            if i == b {
                // checked already
                i = self.slots.get(i as usize).map_or(NIL, |s| s.chain);
            }
        }
        None
    }

    /// The entry behind `h`, if live.
    #[inline]
    pub fn get(&self, h: ConnHandle) -> Option<&ConnSlot> {
        self.slots.get(h.0 as usize).filter(|s| s.in_use())
    }

    /// Finds a connection (`template == false`) or template by key.
    pub fn find(&self, key: &ConnKey, template: bool) -> Option<ConnHandle> {
        let h = self.hash(key.proto, &key.caddr, key.cport);
        self.find_hashed(h, key, template)
    }

    /// [`ConnTable::find`] with a precomputed [`ConnTable::hash`].
    #[inline]
    pub fn find_hashed(&self, hash: u32, key: &ConnKey, template: bool) -> Option<ConnHandle> {
        let (caddr, v6) = addr_bytes(&key.caddr);
        let (vaddr, _) = addr_bytes(&key.vaddr);
        let want_flags = if v6 {
            ConnFlags::IPV6
        } else {
            ConnFlags::empty()
        } | if template {
            ConnFlags::TEMPLATE
        } else {
            ConnFlags::empty()
        };
        let proto = key.proto.number();
        self.find_in_chain(hash, |s| {
            s.cport == key.cport
                && s.vport == key.vport
                && s.proto == proto
                && s.flags & (ConnFlags::IPV6 | ConnFlags::TEMPLATE) == want_flags
                && s.caddr == caddr
                && s.vaddr == vaddr
        })
    }

    /// Finds the connection a reply from a real server belongs to: `client` is the reply's
    /// destination; `is_dest(entry)` checks the entry's real server address and port.
    pub fn find_reply(
        &self,
        proto: Protocol,
        client: &Endpoint,
        is_dest: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let hash = self.hash(proto, &client.addr, client.port);
        self.find_reply_hashed(hash, proto, client, is_dest)
    }

    /// [`ConnTable::find_reply`] with a precomputed [`ConnTable::hash`] of the client.
    #[inline]
    pub fn find_reply_hashed(
        &self,
        hash: u32,
        proto: Protocol,
        client: &Endpoint,
        mut is_dest: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let (caddr, v6) = addr_bytes(&client.addr);
        let want_flags = if v6 {
            ConnFlags::IPV6
        } else {
            ConnFlags::empty()
        };
        let proto = proto.number();
        self.find_in_chain(hash, |s| {
            s.cport == client.port
                && s.proto == proto
                && s.flags & (ConnFlags::IPV6 | ConnFlags::TEMPLATE) == want_flags
                && s.caddr == caddr
                && is_dest(s)
        })
    }

    /// Calls `f` on each template in the chain of (`proto`, `snet`, port 0) until it returns
    /// true; returns that template. Used to find the template controlling a connection even
    /// after the template was invalidated (re-keyed to port 0xffff).
    pub fn find_template_by(
        &self,
        proto: Protocol,
        snet: &IpAddr,
        mut f: impl FnMut(&ConnSlot) -> bool,
    ) -> Option<ConnHandle> {
        let hash = self.hash(proto, snet, 0);
        self.find_in_chain(hash, |s| {
            s.flags.contains(ConnFlags::TEMPLATE) && s.cport == 0 && f(s)
        })
    }

    /// Inserts a new entry, filed to expire `timeout` after `now`.
    ///
    /// # Errors
    /// [`InsertError::Full`] when no slot is free (the table never evicts on its own);
    /// [`InsertError::MixedFamilies`] for inconsistent addresses.
    pub fn insert(&mut self, new: NewConn, now: Instant) -> Result<ConnHandle, InsertError> {
        self.insert_with_timeout(new, now, Duration::ZERO)
    }

    /// [`ConnTable::insert`] with the entry filed on the wheel at `now + timeout`.
    pub fn insert_with_timeout(
        &mut self,
        new: NewConn,
        now: Instant,
        timeout: Duration,
    ) -> Result<ConnHandle, InsertError> {
        let hash = self.hash(new.key.proto, &new.key.caddr, new.key.cport);
        self.insert_hashed(hash, new, now, timeout)
    }

    /// [`ConnTable::insert_with_timeout`] with `hash`, the [`ConnTable::hash`] of the key.
    pub(crate) fn insert_hashed(
        &mut self,
        hash: u32,
        new: NewConn,
        now: Instant,
        timeout: Duration,
    ) -> Result<ConnHandle, InsertError> {
        let (caddr, v6) = addr_bytes(&new.key.caddr);
        let (vaddr, v6b) = addr_bytes(&new.key.vaddr);
        if v6 != v6b {
            return Err(InsertError::MixedFamilies);
        }
        if self.free == NIL {
            self.stats.refused_full += 1;
            return Err(InsertError::Full);
        }
        let bucket = (hash & self.mask) as usize;
        // The bucket's own slot when it is free: a lookup then finds the entry on the line
        // that holds the bucket's head. Else a free slot among the other three of its
        // 256-byte group: a second line that close costs a lookup about 20-35 ns where a line
        // anywhere else costs a whole memory latency. Else the most recently freed slot.
        let free = |i: usize| self.slots.get(i).is_some_and(|s| !s.in_use());
        let idx = [bucket, bucket ^ 1, bucket ^ 2, bucket ^ 3]
            .into_iter()
            .find(|&i| free(i))
            .map_or(self.free, |i| i as u32);
        self.take_free(idx);
        let head = self.slots[bucket].head;
        let s = &mut self.slots[idx as usize];
        s.caddr = caddr;
        s.vaddr = vaddr;
        s.cport = new.key.cport;
        s.vport = new.key.vport;
        s.dest = new.dest.0;
        s.proto = new.key.proto.number();
        s.state = new.state;
        s.flags = (new.flags & !(ConnFlags::IN_USE | ConnFlags::IPV6))
            | ConnFlags::IN_USE
            | if v6 {
                ConnFlags::IPV6
            } else {
                ConnFlags::empty()
            };
        s.counter = 0;
        s.sync = 0;
        s.touched = now.total_millis() as u32;
        s.chain = head;
        s.tprev = NIL;
        s.tnext = NIL;
        self.slots[bucket].head = idx;
        self.len += 1;
        self.stats.inserted += 1;
        self.file(idx, now.total_millis() + timeout.total_millis());
        Ok(ConnHandle(idx))
    }

    /// Removes `h` from the table (a no-op for a dead handle).
    pub fn remove(&mut self, h: ConnHandle) {
        let idx = h.0;
        let Some(s) = self.slots.get(idx as usize) else {
            return;
        };
        if !s.in_use() {
            return;
        }
        let key_hash = {
            let c = s.client();
            self.hash(s.proto(), &c.addr, c.port)
        };
        self.unlink_chain(idx, key_hash);
        self.unfile(idx);
        let s = &mut self.slots[idx as usize];
        *s = ConnSlot {
            head: s.head,
            ..ConnSlot::EMPTY
        };
        self.push_free(idx);
        self.len -= 1;
        self.stats.removed += 1;
    }

    /// Takes free slot `idx` off the free list (doubly linked through `chain` and `tprev`).
    pub(super) fn take_free(&mut self, idx: u32) {
        let (prev, next) = {
            let s = &self.slots[idx as usize];
            (s.tprev, s.chain)
        };
        if prev == NIL {
            self.free = next;
        } else {
            self.slots[prev as usize].chain = next;
        }
        if next != NIL {
            self.slots[next as usize].tprev = prev;
        }
    }

    /// Puts the emptied slot `idx` at the front of the free list.
    pub(super) fn push_free(&mut self, idx: u32) {
        let free = self.free;
        if free != NIL {
            self.slots[free as usize].tprev = idx;
        }
        let s = &mut self.slots[idx as usize];
        s.chain = free;
        s.tprev = NIL;
        self.free = idx;
    }

    pub(super) fn unlink_chain(&mut self, idx: u32, hash: u32) {
        let bucket = (hash & self.mask) as usize;
        let mut prev = NIL;
        let mut i = self.slots[bucket].head;
        while i != NIL {
            let next = self.slots[i as usize].chain;
            if i == idx {
                if prev == NIL {
                    self.slots[bucket].head = next;
                } else {
                    self.slots[prev as usize].chain = next;
                }
                return;
            }
            prev = i;
            i = next;
        }
    }

    /// Re-keys `h` in place (template invalidation sets both ports to 0xffff); the chain is
    /// unchanged because the hash covers only protocol, client address and client port, which
    /// this keeps.
    pub fn set_vport(&mut self, h: ConnHandle, vport: u16) {
        if let Some(s) = self.slots.get_mut(h.0 as usize).filter(|s| s.in_use()) {
            s.vport = vport;
        }
    }

    /// Records activity on `h` at `now`: the deadline moves to `now + timeout` lazily.
    #[inline]
    pub fn touch(&mut self, h: ConnHandle, now: Instant) {
        if let Some(s) = self.slots.get_mut(h.0 as usize) {
            s.touched = now.total_millis() as u32;
        }
    }

    /// [`ConnTable::touch`] with the entry's 16-bit packet counter advanced (wrapping), in one
    /// access, for a live entry `h`: what the one pass of established flows changes on it.
    #[inline]
    pub(crate) fn count_and_touch(&mut self, h: ConnHandle, now: Instant) {
        if let Some(s) = self.slots.get_mut(h.0 as usize).filter(|s| s.in_use()) {
            s.counter = s.counter.wrapping_add(1);
            s.touched = now.total_millis() as u32;
        }
    }

    /// Mutable access to the fields the director changes on a live entry.
    #[inline]
    pub fn entry_mut(&mut self, h: ConnHandle) -> Option<EntryMut<'_>> {
        self.slots
            .get_mut(h.0 as usize)
            .filter(|s| s.in_use())
            .map(|slot| EntryMut { slot })
    }

    /// Iterates over live entries (a full scan: for listings, not the packet path).
    pub fn iter(&self) -> impl Iterator<Item = (ConnHandle, &ConnSlot)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.in_use())
            .map(|(i, s)| (ConnHandle(i as u32), s))
    }
}

impl EntryMut<'_> {
    /// The entry.
    pub fn get(&self) -> &ConnSlot {
        self.slot
    }
    /// Sets the protocol state.
    pub fn set_state(&mut self, state: u8) {
        self.slot.state = state;
    }
    /// Sets flag bits (IN_USE and IPV6 are protected).
    pub fn set_flags(&mut self, bits: ConnFlags, on: bool) {
        let bits = bits - (ConnFlags::IN_USE | ConnFlags::IPV6);
        self.slot.flags.set(bits, on);
    }
    /// Sets the 16-bit counter (packets, or n_control for templates).
    pub fn set_counter(&mut self, v: u16) {
        self.slot.counter = v;
    }
    /// Rebinds the entry to another real server (sync updates).
    pub fn set_dest(&mut self, d: DestId) {
        self.slot.dest = d.0;
    }
    /// Sets the connection-synchronisation byte (see [`ConnSlot::sync_byte`]).
    pub fn set_sync_byte(&mut self, v: u8) {
        self.slot.sync = v;
    }
}

/// An IPv4 connection key by its parts: protocol number, client address and port, virtual
/// address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct V4Key {
    pub(crate) proto: u8,
    pub(crate) caddr: [u8; 4],
    pub(crate) cport: u16,
    pub(crate) vaddr: [u8; 4],
    pub(crate) vport: u16,
}

/// Whether `s` holds the IPv4 connection (not a template) `key`: [`slot_matches`] for an
/// IPv4 flow, on the key's bytes.
#[inline(always)]
fn slot_matches_v4(s: &ConnSlot, key: &V4Key) -> bool {
    // an IPv4 entry's address bytes past the fourth are zero (and a free slot's flags are
    // zero)
    s.flags.contains(ConnFlags::IN_USE)
        && s.cport == key.cport
        && s.vport == key.vport
        && s.proto == key.proto
        && !s.flags.intersects(ConnFlags::IPV6 | ConnFlags::TEMPLATE)
        && s.caddr[..4] == key.caddr
        && s.vaddr[..4] == key.vaddr
}

/// Whether `s` holds the connection (not a template) a packet of `flow` from its client
/// belongs to: [`ConnTable::matches_flow`] once the slot is read.
#[inline(always)]
fn slot_matches(s: &ConnSlot, flow: &crate::addr::FlowKey) -> bool {
    if !s.in_use()
        || s.cport != flow.src.port
        || s.vport != flow.dst.port
        || s.proto != flow.proto.number()
        || s.flags.contains(ConnFlags::TEMPLATE)
    {
        return false;
    }
    match (flow.src.addr, flow.dst.addr) {
        (IpAddr::V4(c), IpAddr::V4(v)) => {
            !s.flags.contains(ConnFlags::IPV6)
                && s.caddr[..4] == c.octets()
                && s.vaddr[..4] == v.octets()
        }
        (IpAddr::V6(c), IpAddr::V6(v)) => {
            s.flags.contains(ConnFlags::IPV6) && s.caddr == c.octets() && s.vaddr == v.octets()
        }
        _ => false,
    }
}
