//! The LVS-NAT thesis's measured throughput points (`examples/thesis-throughput.csv`, which
//! says where each comes from).

/// One measured point of the thesis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThesisPoint {
    /// Scheduler (`rr`, `wrr`, `lc`).
    pub sched: &'static str,
    /// File set (`light`, `heavy`, `mixed`).
    pub set: &'static str,
    /// Real servers.
    pub servers: usize,
    /// Output packets per second (0: not given).
    pub out_pps: f64,
    /// Output bytes per second (0: not given).
    pub out_bps: f64,
}

const DATA: &str = include_str!("../thesis-throughput.csv");

/// The thesis's points, parsed from the data file (comment lines start with `#`).
pub fn thesis_points() -> Vec<ThesisPoint> {
    DATA.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("scheduler,"))
        .filter_map(|l| {
            let mut f = l.splitn(6, ',');
            let sched = f.next()?;
            let set = f.next()?;
            let servers = f.next()?.parse().ok()?;
            let num = |s: Option<&str>| s.and_then(|s| s.parse().ok()).unwrap_or(0.0);
            let out_pps = num(f.next());
            let out_bps = num(f.next());
            Some(ThesisPoint {
                sched,
                set,
                servers,
                out_pps,
                out_bps,
            })
        })
        .collect()
}
