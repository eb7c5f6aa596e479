//! The packet path's per-frame counters as plain fields: every received frame, every
//! transmitted one and every forwarding verdict bumps one of these, which costs an add where a
//! lookup by name in [`crate::daemon::Daemon::counters`] cost a tree walk with string
//! compares. The rare events (drops by reason, ARP, neighbours) keep their named counters;
//! [`Hot::merge_into`] puts both in one listing (`status`, `/metrics`).

use std::collections::BTreeMap;

/// The per-frame counters, resolved once (fields) instead of by name per frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Hot {
    /// `rx.frames`: frames read from the interfaces.
    pub rx_frames: u64,
    /// `tx.frames`: frames handed to the kernel.
    pub tx_frames: u64,
    /// `fwd.masq`: frames forwarded to a real server by NAT.
    pub fwd_masq: u64,
    /// `fwd.route`: frames forwarded by direct routing.
    pub fwd_route: u64,
    /// `fwd.tunnel`: frames forwarded in a tunnel.
    pub fwd_tunnel: u64,
    /// `fwd.reply`: NAT replies forwarded to clients.
    pub fwd_reply: u64,
    /// `vrrp.silenced_frames`: frames a worker dropped while the lead's router is not master.
    pub vrrp_silenced: u64,
}

impl Hot {
    /// The counters under their names.
    pub fn named(&self) -> [(&'static str, u64); 7] {
        [
            ("rx.frames", self.rx_frames),
            ("tx.frames", self.tx_frames),
            ("fwd.masq", self.fwd_masq),
            ("fwd.route", self.fwd_route),
            ("fwd.tunnel", self.fwd_tunnel),
            ("fwd.reply", self.fwd_reply),
            ("vrrp.silenced_frames", self.vrrp_silenced),
        ]
    }

    /// Adds the counters that are not zero to `out` under their names (a counter that never
    /// moved stays absent, as the named ones do).
    pub fn merge_into(&self, out: &mut BTreeMap<&'static str, u64>) {
        for (k, v) in self.named() {
            if v > 0 {
                *out.entry(k).or_insert(0) += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_the_moved_counters_by_name() {
        let h = Hot {
            rx_frames: 3,
            fwd_masq: 2,
            ..Hot::default()
        };
        let mut m = BTreeMap::from([("rx.frames", 1), ("drop.parse", 4)]);
        h.merge_into(&mut m);
        assert_eq!(m.get("rx.frames"), Some(&4));
        assert_eq!(m.get("fwd.masq"), Some(&2));
        assert_eq!(m.get("drop.parse"), Some(&4));
        assert!(!m.contains_key("tx.frames"));
    }
}
