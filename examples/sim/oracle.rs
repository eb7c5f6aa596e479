//! The oracle bound: a scheduler that sees each server's *true* free memory at the moment it
//! decides. A real director cannot see this (its reports are seconds old and its connection
//! counts miss the memory a closed connection still holds), so it is a measuring stick for the
//! memory-balance experiment, not a controller: its rows (`oracle-bound...`) are never named
//! the best scheduler.
//!
//! The simulator hands it the servers' state through a shared [`OracleView`]: before every
//! scheduling decision (`oracle-bound`), or at a fixed period (`oracle-bound@1s`: the same
//! information, one second stale at worst), which separates what information buys from what
//! its lag costs.

use super::*;

/// The label every oracle-bound row starts with.
pub const ORACLE_LABEL: &str = "oracle-bound";

/// Whether a row of the memory-balance table is an oracle bound (never a controller, never the
/// winner).
pub fn is_bound(label: &str) -> bool {
    label.starts_with(ORACLE_LABEL)
}

/// What the oracle knows about the servers, as of the simulator's last look.
#[derive(Debug, Clone)]
pub struct OracleView {
    /// Free memory per server, KB: RAM minus what the processes use (negative while swapping).
    pub free_kb: [f64; MAX_SERVERS],
    /// Idle httpd processes per server, less the connections waiting for one or still on the
    /// wire toward the server (negative: connections will wait).
    pub idle: [i64; MAX_SERVERS],
    /// Whether the connection being scheduled is a CGI request.
    pub cgi_next: bool,
    /// Memory of one httpd process, KB.
    pub httpd_kb: f64,
    /// Memory of one CGI child, KB.
    pub cgi_kb: f64,
    /// Apache's MinSpareServers: below this many idle processes the pool grows.
    pub min_spare: i64,
    /// Looks taken (for tests).
    pub looks: u64,
}

impl Default for OracleView {
    fn default() -> Self {
        OracleView {
            free_kb: [0.0; MAX_SERVERS],
            idle: [0; MAX_SERVERS],
            cgi_next: false,
            httpd_kb: 0.0,
            cgi_kb: 0.0,
            min_spare: 0,
            looks: 0,
        }
    }
}

impl OracleView {
    /// The memory a new connection would add on server `i`, KB: its CGI child if it is a CGI
    /// request, and one httpd process if it leaves the server below MinSpareServers idle
    /// processes (Apache's maintenance then spawns one).
    pub fn need_kb(&self, i: usize) -> f64 {
        let cgi = if self.cgi_next { self.cgi_kb } else { 0.0 };
        let spawn = if self.idle[i] - 1 < self.min_spare {
            self.httpd_kb
        } else {
            0.0
        };
        cgi + spawn
    }
}

/// The view shared between the simulator (which writes it) and the oracle (which reads it).
pub type OracleHandle = Rc<RefCell<OracleView>>;

/// The oracle-bound scheduler: the eligible server (weight above 0, not overloaded) with the
/// most free memory in the view; ties go to fewer active connections, then to the lower
/// server id. With `need` it picks the most free memory left after this connection's need
/// ([`OracleView::need_kb`]) and, until the next look, subtracts that need and one idle
/// process from the chosen server's view.
#[derive(Debug)]
pub struct Oracle {
    view: OracleHandle,
    need: bool,
}

impl Oracle {
    /// An oracle reading `view`.
    pub fn new(view: OracleHandle, need: bool) -> Self {
        Oracle { view, need }
    }
}

impl Scheduler for Oracle {
    fn name(&self) -> &'static str {
        if self.need {
            "oracle-bound+need"
        } else {
            ORACLE_LABEL
        }
    }

    fn schedule(&mut self, dests: &DestSet<'_>, _req: &SchedRequest) -> Option<DestId> {
        let mut v = self.view.borrow_mut();
        let mut best: Option<(DestId, f64, u32)> = None;
        for (id, d) in dests.iter() {
            let i = id.index();
            if d.is_overloaded() || d.weight == 0 || i >= MAX_SERVERS {
                continue;
            }
            let score = v.free_kb[i] - if self.need { v.need_kb(i) } else { 0.0 };
            let better = match best {
                None => true,
                Some((b, s, a)) => score > s || (score == s && (d.active, i) < (a, b.index())),
            };
            if better {
                best = Some((id, score, d.active));
            }
        }
        let (id, _, _) = best?;
        if self.need {
            // until the next look, count what this connection will take there (a stale view
            // would otherwise send every connection to the same server)
            let i = id.index();
            v.free_kb[i] -= v.need_kb(i);
            v.idle[i] -= 1;
        }
        Some(id)
    }
}
