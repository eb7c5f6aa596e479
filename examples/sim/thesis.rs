//! The LVS-NAT thesis's measured throughput points (examples/thesis-throughput.csv).

/// One measured point of the thesis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThesisPoint {
    /// Scheduler (`rr`, `wrr`, `lc`).
    pub sched: &'static str,
    /// File set (`light`, `heavy`, `mixed`).
    pub set: &'static str,
    /// Real servers.
    pub servers: usize,
    /// Measured throughput, MB/s.
    pub mbytes_s: f64,
}

/// The thesis's points (see the data file for where each comes from).
pub const THESIS_POINTS: &[ThesisPoint] = &[];
