//! Fixtures for the scheduler tests: a service's real servers as a pool plus the kernel's list
//! order, mutated the way a director does it, with the matching scheduler callbacks.
#![allow(dead_code)]

use lvs_core::dest::DestFlags;
use lvs_core::{
    Dest, DestId, DestSet, Endpoint, FlowKey, Instant, Protocol, SchedRequest, Scheduler,
};

/// A request from client `198.19.0.1:40000` to the service `198.18.0.1:80`.
pub fn req() -> SchedRequest {
    SchedRequest {
        flow: FlowKey::new(
            Protocol::Tcp,
            Endpoint::v4([198, 19, 0, 1], 40000),
            Endpoint::v4([198, 18, 0, 1], 80),
        ),
        now: Instant::ZERO,
    }
}

/// Real server number `i` (`198.18.1.<i+1>:80`).
pub fn addr(i: usize) -> Endpoint {
    Endpoint::v4([198, 18, (i / 250) as u8 + 1, (i % 250) as u8 + 1], 80)
}

/// One service: `pool[i]` is server `i`, `order` the list (newest first).
pub struct Svc<S> {
    pub pool: Vec<Dest>,
    pub order: Vec<DestId>,
    pub s: S,
}

impl<S: Scheduler> Svc<S> {
    /// A service already holding `servers` (endpoint, weight), listed in the given order (so
    /// `DestId(0)` is first), then bound to `s` (`init_service`).
    pub fn with(s: S, servers: &[(Endpoint, u32)]) -> Self {
        let pool: Vec<Dest> = servers
            .iter()
            .map(|&(e, w)| Dest::with_counts(e, w, 0, 0))
            .collect();
        let order = (0..servers.len()).map(|i| DestId(i as u16)).collect();
        let mut svc = Svc { pool, order, s };
        let set = DestSet::new(&svc.pool, &svc.order);
        svc.s.init_service(&set);
        svc
    }

    /// A service that already holds servers [`addr`]`(i)` with `weights`, listed in that order
    /// (so `DestId(0)` is first in the list), then bound to `s` (`init_service`).
    pub fn with_weights(s: S, weights: &[u32]) -> Self {
        let servers: Vec<(Endpoint, u32)> = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| (addr(i), w))
            .collect();
        Self::with(s, &servers)
    }

    /// An empty service bound to `s`.
    pub fn new(s: S) -> Self {
        Self::with_weights(s, &[])
    }

    pub fn set(&self) -> DestSet<'_> {
        DestSet::new(&self.pool, &self.order)
    }

    /// Adds server [`addr`]`(i)` at the head of the list (`add_dest`).
    pub fn add(&mut self, weight: u32) -> DestId {
        self.add_at(addr(self.pool.len()), weight)
    }

    /// Adds a server at `e` at the head of the list (`add_dest`).
    pub fn add_at(&mut self, e: Endpoint, weight: u32) -> DestId {
        let id = DestId(self.pool.len() as u16);
        self.pool.push(Dest::with_counts(e, weight, 0, 0));
        self.order.insert(0, id);
        let set = DestSet::new(&self.pool, &self.order);
        self.s.add_dest(&set, id);
        id
    }

    /// Removes a server from the list (`del_dest` with its old position).
    pub fn del(&mut self, id: DestId) {
        let pos = self.order.iter().position(|&d| d == id).expect("listed");
        self.order.remove(pos);
        self.pool[id.index()].set_flag(DestFlags::AVAILABLE, false);
        let set = DestSet::new(&self.pool, &self.order);
        self.s.del_dest(&set, id, pos);
    }

    /// Edits a server's weight (`upd_dest`).
    pub fn set_weight(&mut self, id: DestId, weight: u32) {
        let d = &mut self.pool[id.index()];
        d.weight = weight;
        if weight != 0 {
            d.last_weight = weight;
        }
        let set = DestSet::new(&self.pool, &self.order);
        self.s.upd_dest(&set, id);
    }

    /// Sets a server's counters (`counts_changed`).
    pub fn set_counts(&mut self, id: DestId, active: u32, inactive: u32) {
        let d = &mut self.pool[id.index()];
        d.active = active;
        d.inactive = inactive;
        let set = DestSet::new(&self.pool, &self.order);
        self.s.counts_changed(&set, id);
    }

    /// Sets or clears a server's OVERLOAD flag (`counts_changed`).
    pub fn set_overload(&mut self, id: DestId, on: bool) {
        self.pool[id.index()].set_flag(DestFlags::OVERLOAD, on);
        let set = DestSet::new(&self.pool, &self.order);
        self.s.counts_changed(&set, id);
    }

    /// Sets or clears OVERLOAD with no callback (as the kernel, for the hashing schedulers).
    pub fn overload(&mut self, id: DestId, on: bool) {
        self.pool[id.index()].set_flag(DestFlags::OVERLOAD, on);
    }

    /// The decision for `r`, without touching counters.
    pub fn schedule(&mut self, r: &SchedRequest) -> Option<DestId> {
        let set = DestSet::new(&self.pool, &self.order);
        self.s.schedule(&set, r)
    }

    /// The scheduler's timer at `now`.
    pub fn tick(&mut self, now: Instant) {
        let set = DestSet::new(&self.pool, &self.order);
        self.s.tick(&set, now);
    }

    /// One scheduling decision, without touching counters.
    pub fn pick(&mut self) -> Option<DestId> {
        let set = DestSet::new(&self.pool, &self.order);
        self.s.schedule(&set, &req())
    }

    /// A decision followed by a new connection on the chosen server: `active` (TCP after
    /// its handshake) or `inactive` (UDP, or TCP still in SYN_RECV).
    pub fn connect(&mut self, active: bool) -> Option<DestId> {
        let id = self.pick()?;
        let d = &mut self.pool[id.index()];
        if active {
            d.active += 1;
        } else {
            d.inactive += 1;
        }
        let set = DestSet::new(&self.pool, &self.order);
        self.s.counts_changed(&set, id);
        Some(id)
    }

    /// `n` decisions as letters: server 0 is `A`, `-` is no server.
    pub fn picks(&mut self, n: usize) -> String {
        (0..n).map(|_| letter(self.pick())).collect()
    }

    /// `n` decisions, each opening an active (`true`) or inactive connection, as letters.
    pub fn connects(&mut self, n: usize, active: bool) -> String {
        (0..n).map(|_| letter(self.connect(active))).collect()
    }

    pub fn dest(&mut self, id: DestId) -> &mut Dest {
        &mut self.pool[id.index()]
    }
}

/// A script of edits and expected decisions, run against a service fixture. Tokens, separated
/// by spaces (servers are letters, `A` = `DestId(0)`):
///
/// | token | meaning |
/// |---|---|
/// | `?ABA` | the next three decisions (counters untouched) are A, B, A; `-` is none |
/// | `a?AB` / `i?AB` | the next decisions, each opening an active / inactive connection |
/// | `A=3/10` | server A now has 3 active and 10 inactive connections |
/// | `A!` / `A~` | server A's OVERLOAD flag set / cleared |
/// | `A:w5` | server A's weight edited to 5 |
/// | `+5` | a server of weight 5 added at the head of the list |
/// | `-B` | server B removed |
impl<S: Scheduler> Svc<S> {
    /// Runs `script` (see above); panics naming the first token whose decisions differ.
    pub fn run(&mut self, script: &str) {
        for tok in script.split_whitespace() {
            let at = |what: &str| format!("`{tok}` of `{script}`: {what}");
            let b = tok.as_bytes();
            match b {
                [b'?', rest @ ..] => {
                    assert_eq!(self.picks(rest.len()), &tok[1..], "{}", at("picks"))
                }
                [m @ (b'a' | b'i'), b'?', rest @ ..] => assert_eq!(
                    self.connects(rest.len(), *m == b'a'),
                    &tok[2..],
                    "{}",
                    at("connects")
                ),
                [b'+', ..] => {
                    self.add(tok[1..].parse().expect("+WEIGHT"));
                }
                [b'-', c] => self.del(id(*c as char)),
                [c, b'!'] => self.set_overload(id(*c as char), true),
                [c, b'~'] => self.set_overload(id(*c as char), false),
                [c, b':', b'w', ..] => {
                    self.set_weight(id(*c as char), tok[3..].parse().expect("X:wWEIGHT"))
                }
                [c, b'=', ..] => {
                    let (a, i) = tok[2..].split_once('/').expect("X=ACTIVE/INACTIVE");
                    self.set_counts(id(*c as char), a.parse().unwrap(), i.parse().unwrap());
                }
                _ => panic!("{}", at("unknown token")),
            }
        }
    }
}

/// Runs each `(what, weights, script)` case on a fresh service of `make()` holding servers with
/// `weights` (see [`Svc::run`]).
pub fn cases<S: Scheduler>(make: fn() -> S, cases: &[(&str, &[u32], &str)]) {
    for (what, weights, script) in cases {
        let mut s = Svc::with_weights(make(), weights);
        let r = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| s.run(script)));
        assert!(r.is_ok(), "{} case `{what}` failed", s.s.name());
    }
}

/// Server `i` as a letter, `-` for none.
pub fn letter(id: Option<DestId>) -> char {
    match id {
        Some(DestId(i)) => (b'A' + i as u8) as char,
        None => '-',
    }
}

/// `DestId` of a letter.
pub fn id(c: char) -> DestId {
    DestId((c as u8 - b'A') as u16)
}
