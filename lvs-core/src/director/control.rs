//! Control operations: construction, configuration, services and real servers (`ipvsadm
//! -A/-E/-D/-a/-e/-d`), and read access to what the director holds.

use super::*;

impl<'a, S: Scheduler> Director<'a, S> {
    /// A director over `mem`, starting at `now`.
    ///
    /// # Errors
    /// [`ConfigError::BadMemory`] when the connection storage is not a power of two or the
    /// real-server slices differ in length; [`ConfigError::BadValue`] for a configuration
    /// [`DirectorConfig::validate`] refuses.
    pub fn new(
        cfg: DirectorConfig,
        mem: DirectorMemory<'a, S>,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let n = mem.dests.len();
        if mem.dest_stats.len() != n || mem.order.len() != n || n > u16::MAX as usize {
            return Err(ConfigError::BadMemory);
        }
        let DirectorFixed {
            wheel,
            embryos,
            outbox,
            svc_index,
        } = mem.fixed;
        let table = ConnTable::new(mem.conns, wheel, cfg.hash_seed, now)?;
        // reset in place: on a device the fixed state is a `static` far larger than the stack
        embryos.reset();
        outbox.reset();
        svc_index.reset();
        for s in mem.services.iter_mut() {
            *s = None;
        }
        for d in mem.dests.iter_mut() {
            d.flags = DestFlags::empty();
        }
        Ok(Director {
            cfg,
            table,
            services: mem.services,
            dests: mem.dests,
            dest_stats: mem.dest_stats,
            order: mem.order,
            order_used: 0,
            total: Stats::new(now),
            counters: DirectorCounters::default(),
            next_estimate: now + ESTIMATOR_INTERVAL,
            embryos,
            outbox,
            sweep: None,
            last_now: now,
            reply_memo: (0, 0),
            reply_none: 0,
            svc_memo: None,
            pass: 0,
            svc_index,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DirectorConfig {
        &self.cfg
    }

    /// Changes sysctl-style tunables (the hash seed is fixed at construction). What
    /// [`DirectorConfig::validate`] refuses is corrected: a sync policy's refresh period
    /// becomes 0 and its version 1, a too small `sync_max_len` the default. Use
    /// [`Director::try_set_config`] to be told instead.
    pub fn set_config(&mut self, mut cfg: DirectorConfig) {
        if cfg.validate().is_err() {
            let fix = |p: crate::sync::SyncPolicy| {
                p.with_refresh_period(Duration::ZERO)
                    .with_version(crate::sync::SyncVersion::V1)
            };
            cfg.sync = match cfg.sync {
                SyncRole::Master(p) => SyncRole::Master(fix(p)),
                SyncRole::Both(p) => SyncRole::Both(fix(p)),
                other => other,
            };
            if cfg.validate().is_err() {
                cfg.sync_max_len = 0;
            }
        }
        self.apply_config(cfg);
    }

    /// [`Director::set_config`] that refuses what it cannot do.
    ///
    /// # Errors
    /// [`ConfigError::BadValue`] for a configuration [`DirectorConfig::validate`] refuses; the
    /// configuration is then unchanged.
    pub fn try_set_config(&mut self, cfg: DirectorConfig) -> Result<(), ConfigError> {
        cfg.validate()?;
        self.apply_config(cfg);
        Ok(())
    }

    pub(super) fn apply_config(&mut self, mut cfg: DirectorConfig) {
        cfg.hash_seed = self.cfg.hash_seed;
        if cfg.sync.policy().is_none() {
            self.clear_outbox();
        }
        self.cfg = cfg;
    }

    /// Director-wide counters.
    pub fn counters(&self) -> &DirectorCounters {
        &self.counters
    }

    /// Totals over all services (what `ipvsadm -L --stats` sums).
    pub fn total_stats(&self) -> &Stats {
        &self.total
    }

    /// The connection table (read-only).
    pub fn table(&self) -> &ConnTable<'a> {
        &self.table
    }

    /// Finds a service by key.
    pub fn find_service(&self, key: &ServiceKey) -> Option<ServiceId> {
        self.services
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.config.key == *key))
            .map(|i| ServiceId(i as u16))
    }

    /// The service behind `id`.
    pub fn service(&self, id: ServiceId) -> Option<&Service<S>> {
        self.services.get(id.0 as usize).and_then(|s| s.as_ref())
    }

    /// Services in slot order.
    pub fn services(&self) -> impl Iterator<Item = (ServiceId, &Service<S>)> + '_ {
        self.services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (ServiceId(i as u16), s)))
    }

    /// A service's real servers in the kernel's list order.
    pub fn dests(&self, id: ServiceId) -> DestSet<'_> {
        match self.service(id) {
            Some(s) => {
                let a = s.order_start as usize;
                let b = a + s.order_len as usize;
                DestSet::new(self.dests, self.order.get(a..b).unwrap_or(&[]))
            }
            None => DestSet::new(self.dests, &[]),
        }
    }

    /// The real server behind `id` (also removed ones still referenced by connections).
    pub fn dest(&self, id: DestId) -> Option<&Dest> {
        self.dests
            .get(id.index())
            .filter(|d| d.flags.contains(DestFlags::IN_USE))
    }

    /// A real server's stats.
    pub fn dest_stats(&self, id: DestId) -> Option<&Stats> {
        self.dest(id)?;
        self.dest_stats.get(id.index())
    }

    /// Finds a real server of a service by address.
    pub fn find_dest(&self, svc: ServiceId, addr: &Endpoint) -> Option<DestId> {
        self.dests(svc)
            .iter()
            .find(|(_, d)| d.addr == *addr)
            .map(|(id, _)| id)
    }

    /// Adds a service with its scheduler (`ipvsadm -A`).
    ///
    /// # Errors
    /// [`ConfigError::ServiceExists`], [`ConfigError::ServicesFull`].
    pub fn add_service(
        &mut self,
        config: ServiceConfig,
        mut sched: S,
    ) -> Result<ServiceId, ConfigError> {
        if self.find_service(&config.key).is_some() {
            return Err(ConfigError::ServiceExists);
        }
        // A removed service's slot stays reserved while its removed real servers still hold
        // connections (the kernel keeps the service object alive through their references), so
        // their traffic and timeouts are never attributed to a newcomer.
        let dests = &*self.dests;
        let referenced = |i: usize| {
            dests
                .iter()
                .any(|d| d.flags.contains(DestFlags::IN_USE) && d.service as usize == i)
        };
        let idx = (0..self.services.len())
            .find(|&i| self.services[i].is_none() && !referenced(i))
            .ok_or(ConfigError::ServicesFull)?;
        // a new service's (empty) segment goes where its slot order says
        let start = self.services[..idx]
            .iter()
            .flatten()
            .map(|s| (s.order_start + s.order_len) as usize)
            .max()
            .unwrap_or(0);
        sched.init_service(&DestSet::new(self.dests, &[]));
        self.svc_memo = None;
        self.services[idx] = Some(Service {
            config,
            sched,
            stats: Stats::default(),
            order_start: start as u32,
            order_len: 0,
            next_tick: Instant::ZERO,
        });
        self.svc_index.rebuild(self.services);
        Ok(ServiceId(idx as u16))
    }

    /// Edits a service's configuration (`ipvsadm -E`); a new scheduler replaces the old one.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`], or [`ConfigError::ServiceExists`] if the key changes to
    /// one in use.
    pub fn edit_service(
        &mut self,
        id: ServiceId,
        config: ServiceConfig,
        sched: Option<S>,
    ) -> Result<(), ConfigError> {
        if let Some(other) = self.find_service(&config.key) {
            if other != id {
                return Err(ConfigError::ServiceExists);
            }
        }
        let (a, b) = {
            let s = self.service(id).ok_or(ConfigError::NoSuchService)?;
            (
                s.order_start as usize,
                (s.order_start + s.order_len) as usize,
            )
        };
        let svc = self.services[id.0 as usize]
            .as_mut()
            .ok_or(ConfigError::NoSuchService)?;
        svc.config = config;
        if let Some(mut s) = sched {
            s.init_service(&DestSet::new(self.dests, &self.order[a..b]));
            svc.sched = s;
        }
        self.svc_memo = None;
        self.svc_index.rebuild(self.services);
        Ok(())
    }

    /// Removes a service and all its real servers (`ipvsadm -D`). Connections keep their real
    /// servers until they expire.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`].
    pub fn remove_service(&mut self, id: ServiceId) -> Result<(), ConfigError> {
        let (a, len) = {
            let s = self.service(id).ok_or(ConfigError::NoSuchService)?;
            (s.order_start as usize, s.order_len as usize)
        };
        for k in a..a + len {
            let d = self.order[k];
            self.unlink_dest(d);
        }
        self.order.copy_within(a + len..self.order_used, a);
        self.order_used -= len;
        for s in self.services.iter_mut().flatten() {
            if s.order_start as usize > a {
                s.order_start -= len as u32;
            }
        }
        self.services[id.0 as usize] = None;
        self.svc_memo = None;
        self.svc_index.rebuild(self.services);
        self.start_nodest_sweep();
        Ok(())
    }

    pub(super) fn check_dest_config(
        &self,
        svc: ServiceId,
        cfg: &DestConfig,
    ) -> Result<(), ConfigError> {
        let s = self.service(svc).ok_or(ConfigError::NoSuchService)?;
        if cfg.weight > crate::dest::MAX_WEIGHT
            || (cfg.l_threshold > cfg.u_threshold && cfg.u_threshold != 0)
            || AddrFamily::of(&cfg.addr.addr) != s.config.key.family()
        {
            return Err(ConfigError::BadValue);
        }
        Ok(())
    }

    /// Adds a real server at the head of the service's list (`ipvsadm -a`). A server removed
    /// earlier but still referenced by connections is revived with its counters, as the kernel
    /// takes it back from its trash.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`], [`ConfigError::DestExists`], [`ConfigError::DestsFull`],
    /// [`ConfigError::BadValue`].
    pub fn add_dest(&mut self, svc: ServiceId, cfg: DestConfig) -> Result<DestId, ConfigError> {
        self.check_dest_config(svc, &cfg)?;
        if self.find_dest(svc, &cfg.addr).is_some() {
            return Err(ConfigError::DestExists);
        }
        let trash = self.dests.iter().position(|d| {
            d.flags.contains(DestFlags::IN_USE)
                && !d.is_available()
                && d.service == svc.0
                && d.addr == cfg.addr
        });
        let idx = match trash {
            Some(i) => {
                self.dests[i].revive(&cfg);
                i
            }
            None => {
                let i = self
                    .dests
                    .iter()
                    .position(|d| !d.flags.contains(DestFlags::IN_USE))
                    .ok_or(ConfigError::DestsFull)?;
                let mut d = Dest::new(&cfg);
                d.service = svc.0;
                d.flags = DestFlags::AVAILABLE | DestFlags::IN_USE;
                self.dests[i] = d;
                self.dest_stats[i] = Stats::default();
                i
            }
        };
        let id = DestId(idx as u16);
        // insert at the head of the service's segment
        let start = self
            .service(svc)
            .map(|s| s.order_start as usize)
            .unwrap_or(0);
        if self.order_used >= self.order.len() {
            return Err(ConfigError::DestsFull);
        }
        self.order.copy_within(start..self.order_used, start + 1);
        self.order[start] = id;
        self.order_used += 1;
        for (i, s) in self.services.iter_mut().enumerate() {
            if let Some(s) = s {
                if i == svc.0 as usize {
                    s.order_len += 1;
                } else if s.order_start as usize >= start && (i > svc.0 as usize) {
                    s.order_start += 1;
                }
            }
        }
        self.with_sched(svc, |sched, set| sched.add_dest(set, id));
        Ok(id)
    }

    /// Edits a real server's weight, thresholds and method (`ipvsadm -e`).
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`], [`ConfigError::NoSuchDest`], [`ConfigError::BadValue`].
    pub fn edit_dest(&mut self, svc: ServiceId, cfg: DestConfig) -> Result<DestId, ConfigError> {
        self.check_dest_config(svc, &cfg)?;
        let id = self
            .find_dest(svc, &cfg.addr)
            .ok_or(ConfigError::NoSuchDest)?;
        self.dests[id.index()].apply_config(&cfg);
        self.with_sched(svc, |sched, set| sched.upd_dest(set, id));
        Ok(id)
    }

    /// Removes a real server (`ipvsadm -d`). Its connections continue (or not) as
    /// `expire_nodest_conn` says.
    ///
    /// # Errors
    /// [`ConfigError::NoSuchService`], [`ConfigError::NoSuchDest`].
    pub fn remove_dest(&mut self, svc: ServiceId, addr: &Endpoint) -> Result<(), ConfigError> {
        let id = self.find_dest(svc, addr).ok_or(ConfigError::NoSuchDest)?;
        let (start, len) = {
            let s = self.service(svc).ok_or(ConfigError::NoSuchService)?;
            (s.order_start as usize, s.order_len as usize)
        };
        let pos = self.order[start..start + len]
            .iter()
            .position(|&d| d == id)
            .ok_or(ConfigError::NoSuchDest)?;
        self.order
            .copy_within(start + pos + 1..self.order_used, start + pos);
        self.order_used -= 1;
        for (i, s) in self.services.iter_mut().enumerate() {
            if let Some(s) = s {
                if i == svc.0 as usize {
                    s.order_len -= 1;
                } else if s.order_start as usize > start {
                    s.order_start -= 1;
                }
            }
        }
        self.unlink_dest(id);
        self.with_sched(svc, |sched, set| sched.del_dest(set, id, pos));
        self.start_nodest_sweep();
        Ok(())
    }

    pub(super) fn unlink_dest(&mut self, id: DestId) {
        if let Some(d) = self.dests.get_mut(id.index()) {
            d.set_flag(DestFlags::AVAILABLE, false);
            if d.active == 0 && d.inactive == 0 && d.persistent == 0 {
                d.flags = DestFlags::empty();
            }
        }
    }

    pub(super) fn with_sched(&mut self, svc: ServiceId, f: impl FnOnce(&mut S, &DestSet<'_>)) {
        if let Some(Some(s)) = self.services.get_mut(svc.0 as usize) {
            let a = s.order_start as usize;
            let b = a + s.order_len as usize;
            let set = DestSet::new(self.dests, self.order.get(a..b).unwrap_or(&[]));
            f(&mut s.sched, &set);
        }
    }

    pub(super) fn svc_config_of(&self, dest: DestId) -> Option<&ServiceConfig> {
        let d = self.dests.get(dest.index())?;
        self.services
            .get(d.service as usize)?
            .as_ref()
            .map(|s| &s.config)
    }
}
