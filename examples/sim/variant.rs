//! A scheduler with a feedback controller and its report interval.

use super::*;

/// A feedback controller choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ControllerKind {
    /// No feedback: weights stay 1.
    None,
    /// Published alternative 1.
    Alt1,
    /// Published alternative 2 (its `k` comes from [`MemoryConfig::alt2_k`]).
    Alt2,
    /// The LVS project's dynamic feedback (defaults of `ClassicConfig`).
    Classic,
    /// lvs-sched's headroom controller (defaults of `HeadroomConfig`).
    Headroom,
}

/// A scheduler with a controller and its report interval: one row group of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Label in the table (`wlc+alt2@60s`).
    pub label: String,
    /// Scheduler.
    pub sched: SchedKind,
    /// Controller.
    pub controller: ControllerKind,
    /// Report interval, seconds.
    pub interval_s: f64,
    /// p2c only: overrides of the configured cost per connection (KiB) and window (ms, 0 for
    /// the since-the-report count).
    pub p2c_override: (Option<u32>, Option<u32>),
}

impl Variant {
    /// Parses `SCHED[+CTRL][@SECONDS]`, CTRL one of alt1, alt2, lvs-dfb, headroom;
    /// `default_s` is the report interval when none is given. `oracle-bound[+need][@SECONDS]`
    /// is the oracle bound (module `oracle`), its view refreshed before every decision or, with
    /// `@SECONDS` (at least 0.001), at that period (`interval_s` 0: before every decision). For `p2c`
    /// the interval is how often the scheduler gets reports, and `p2c:COST` or
    /// `p2c:COST:WINDOW` override the configured cost per connection (KiB) and window (ms; 0
    /// counts the connections scheduled since the report instead).
    pub fn parse(s: &str, default_s: f64) -> Option<Variant> {
        let (body, interval_s) = match s.split_once('@') {
            Some((b, i)) => (b, i.trim_end_matches('s').parse::<f64>().ok()?),
            None => (s, default_s),
        };
        if let Some(need) = match body {
            ORACLE_LABEL => Some(false),
            "oracle-bound+need" => Some(true),
            _ => None,
        } {
            // a bound, not a controller: it reads no reports; `@SECONDS` is how stale its view
            // may get (none: looked at before every decision)
            let lag_s = if s.contains('@') { interval_s } else { 0.0 };
            if s.contains('@') && !(lag_s.is_finite() && lag_s >= 0.001) {
                return None;
            }
            return Some(Variant {
                label: if s.contains('@') {
                    format!("{body}@{lag_s}s")
                } else {
                    body.to_string()
                },
                sched: SchedKind::Oracle { need },
                controller: ControllerKind::None,
                interval_s: lag_s,
                p2c_override: (None, None),
            });
        }
        if !(interval_s.is_finite() && interval_s >= 0.1) {
            return None;
        }
        let (sched, ctrl) = match body.split_once('+') {
            Some((a, b)) => (a, Some(b)),
            None => (body, None),
        };
        let (sched, p2c_override) = match sched.split_once(':') {
            Some(("p2c", o)) => {
                let (c, w) = match o.split_once(':') {
                    Some((c, w)) => (c.parse().ok()?, Some(w.parse().ok()?)),
                    None => (o.parse().ok()?, None),
                };
                (SchedKind::P2c, (Some(c), w))
            }
            Some(_) => return None,
            None => (SchedKind::parse(sched)?, (None, None)),
        };
        let controller = match ctrl {
            None => ControllerKind::None,
            Some("alt1") => ControllerKind::Alt1,
            Some("alt2") => ControllerKind::Alt2,
            Some("lvs-dfb") => ControllerKind::Classic,
            Some("headroom") => ControllerKind::Headroom,
            Some(_) => return None,
        };
        let label = match ctrl {
            None if sched == SchedKind::P2c => {
                let mut l = String::from("p2c");
                for o in [p2c_override.0, p2c_override.1].into_iter().flatten() {
                    let _ = write!(l, ":{o}");
                }
                format!("{l}@{interval_s}s")
            }
            None => sched.name().to_string(),
            Some(c) => format!("{}+{}@{}s", sched.name(), c, interval_s),
        };
        Some(Variant {
            label,
            sched,
            controller,
            interval_s,
            p2c_override,
        })
    }

    /// The p2c settings this variant runs with.
    pub(crate) fn p2c_config(&self, cfg: &MemoryConfig) -> P2cConfig {
        let mut c = cfg.p2c;
        if let Some(cost) = self.p2c_override.0 {
            c.conn_cost_kb = cost;
        }
        match self.p2c_override.1 {
            Some(0) => c.in_flight = InFlight::Scheduled,
            Some(w) => c.in_flight = InFlight::Window { window_ms: w },
            None => {}
        }
        c
    }

    /// Whether this variant reads load reports (a controller, or the p2c scheduler).
    pub fn uses_reports(&self) -> bool {
        self.controller != ControllerKind::None || self.sched == SchedKind::P2c
    }

    /// Whether this is an oracle bound (never a controller, never the winner).
    pub fn is_bound(&self) -> bool {
        matches!(self.sched, SchedKind::Oracle { .. })
    }

    /// The same variant with another report interval (label updated); an oracle bound, which
    /// reads no reports, comes back unchanged.
    pub fn at_interval(&self, interval_s: f64) -> Variant {
        if self.is_bound() {
            return self.clone();
        }
        let body = self.label.split('@').next().unwrap_or(&self.label);
        Variant {
            label: if self.uses_reports() {
                format!("{body}@{interval_s}s")
            } else {
                body.to_string()
            },
            interval_s,
            ..self.clone()
        }
    }

    pub(crate) fn build(&self, cfg: &MemoryConfig) -> Option<Ctrl> {
        let c = cfg.mem_per_conn_kb;
        Some(match self.controller {
            ControllerKind::None => return None,
            ControllerKind::Alt1 => Ctrl::Free(FreeMemory::alternative1(c)),
            ControllerKind::Alt2 => {
                Ctrl::Free(FreeMemory::alternative2(c, cfg.alt2_k.unwrap_or(K_MAX)))
            }
            ControllerKind::Classic => {
                Ctrl::Other(Box::new(Classic::<MAX_SERVERS>::new(cfg.classic)))
            }
            ControllerKind::Headroom => {
                Ctrl::Other(Box::new(Headroom::<MAX_SERVERS>::new(HeadroomConfig {
                    mem_per_conn_kb: c,
                    ..cfg.headroom
                })))
            }
        })
    }
}

/// The largest `k` of the published alternative 2 ("between 1 and 2000").
pub const K_MAX: u32 = 2000;

/// A built controller: the published formulas stay concrete so the simulator can set their
/// `k` from the accesses per minute, as published.
pub(crate) enum Ctrl {
    Free(FreeMemory),
    Other(Box<dyn WeightController>),
}

impl Ctrl {
    pub(crate) fn update(&mut self, r: &[LoadReport], w: &mut [u32]) -> bool {
        match self {
            Ctrl::Free(c) => c.update(r, w).is_ok(),
            Ctrl::Other(c) => c.update(r, w).is_ok(),
        }
    }
}
