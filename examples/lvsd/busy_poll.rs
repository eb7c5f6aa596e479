//! `--xdp-busy-poll USEC[,BUDGET]`: the kernel's preferred busy polling (Linux 5.11) for the
//! `AF_XDP` sockets of `--xdp`, so that the interfaces' receive work (the driver's NAPI poll:
//! the XDP program, the copy into the UMEM) runs in lvsd's own loop, at lvsd's pace, instead
//! of in a NAPI thread or softirq that competes with lvsd for its CPU.
//!
//! How the kernel does it (net/core/dev.c, net/xdp/xsk.c): with `SO_PREFER_BUSY_POLL` and a
//! non-zero `SO_BUSY_POLL` on the socket, a non-blocking `recvfrom(2)` (and the `sendto(2)` of
//! a transmit kick) takes the NAPI instance the socket was tied to at bind time, marks it as
//! being busy polled and runs its poll (up to `SO_BUSY_POLL_BUDGET` frames) in the caller's
//! context, then once more while letting it go. While lvsd holds it, a frame's arrival cannot
//! schedule it (the driver's schedule attempt finds it taken), so the NAPI thread is not woken.
//! When lvsd lets it go, the kernel re-arms it at once, unless the device's
//! `napi_defer_hard_irqs` and `gro_flush_timeout` are both set: then it only arms a timer of
//! `gro_flush_timeout`, after which (lvsd not having polled again) the kernel polls it itself,
//! and re-arms it after `napi_defer_hard_irqs` empty polls. So lvsd sets both on each of its
//! interfaces while it runs ([`NapiDefer`], the old values put back when lvsd exits):
//! `gro_flush_timeout` = USEC, `napi_defer_hard_irqs` = [`DEFER_HARD_IRQS`].
//!
//! lvsd's loop: when its receive rings are empty it busy polls each interface's socket until
//! one holds a frame or USEC have passed, then sleeps in `poll(2)` as before (with the
//! timeout its timers ask for); the kernel's timer then hands the NAPI back to the kernel, so
//! a frame arriving while lvsd sleeps is received (late by up to USEC) and wakes it.
//!
//! It needs a driver that ties a NAPI instance to the socket's queue: the kernel takes the
//! socket's NAPI id at bind time from the queue's NAPI (since 6.13; before, from the first
//! received frame's receive-queue info), read back here as `SO_INCOMING_NAPI_ID` and logged.
//! veth ties none (Linux 6.18, measured with NAPI in threads and without: id 0, the namespace's
//! `BusyPollRxPackets` 0), so on veth the kernel's busy poll would do nothing: lvsd then makes
//! no `recvfrom` and only looks at its rings for USEC before sleeping (as `--busy-poll`), with
//! the deferral settings still in place.

use std::io;

/// `napi_defer_hard_irqs` while lvsd busy polls: the kernel's own polls of an interface that
/// found nothing before it re-arms the interface's receive notification.
pub const DEFER_HARD_IRQS: u32 = 2;

/// Frames per NAPI poll when `--xdp-busy-poll` names no budget (the kernel's own default).
pub const DEFAULT_BUDGET: u16 = 64;

/// `--xdp-busy-poll USEC[,BUDGET]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XdpBusyPoll {
    /// Microseconds lvsd keeps busy polling after its receive rings run dry before it sleeps;
    /// also the sockets' `SO_BUSY_POLL` and the interfaces' `gro_flush_timeout`.
    pub usec: u32,
    /// Frames per NAPI poll (`SO_BUSY_POLL_BUDGET`).
    pub budget: u16,
}

impl XdpBusyPoll {
    /// Parses `USEC[,BUDGET]`: USEC in 1..=1000000, BUDGET in 1..=1024 (default
    /// [`DEFAULT_BUDGET`]).
    ///
    /// # Errors
    /// Either number missing or out of range.
    pub fn parse(v: &str) -> Result<XdpBusyPoll, String> {
        let (u, b) = match v.split_once(',') {
            Some((u, b)) => (u, Some(b)),
            None => (v, None),
        };
        let usec = u
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| format!("--xdp-busy-poll {v:?}: USEC is not a number in 1..=1000000"))?;
        let budget = match b {
            None => DEFAULT_BUDGET,
            Some(b) => b
                .parse::<u16>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| {
                    format!("--xdp-busy-poll {v:?}: BUDGET is not a number in 1..=1024")
                })?,
        };
        Ok(XdpBusyPoll { usec, budget })
    }
}

/// The deferral settings of lvsd's interfaces (`/sys/class/net/DEV/napi_defer_hard_irqs` and
/// `gro_flush_timeout`) while it busy polls; the values found are written back when this is
/// dropped.
#[derive(Debug, Default)]
pub struct NapiDefer {
    /// (file, value found there), in the order written.
    saved: Vec<(String, String)>,
}

impl NapiDefer {
    /// Sets `napi_defer_hard_irqs` to [`DEFER_HARD_IRQS`] and `gro_flush_timeout` to `usec`
    /// microseconds on each interface in `ifaces`.
    ///
    /// # Errors
    /// A file lvsd cannot read or write (what was already written is put back).
    pub fn set(ifaces: &[String], usec: u32) -> io::Result<NapiDefer> {
        let mut d = NapiDefer::default();
        let ns = u64::from(usec) * 1000;
        for name in ifaces {
            for (file, v) in [
                ("napi_defer_hard_irqs", DEFER_HARD_IRQS.to_string()),
                ("gro_flush_timeout", ns.to_string()),
            ] {
                let path = format!("/sys/class/net/{name}/{file}");
                let old = std::fs::read_to_string(&path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
                std::fs::write(&path, &v)
                    .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))?;
                d.saved.push((path, old.trim().to_string()));
            }
        }
        Ok(d)
    }
}

impl Drop for NapiDefer {
    fn drop(&mut self) {
        for (path, old) in self.saved.iter().rev() {
            if let Err(e) = std::fs::write(path, old) {
                eprintln!("lvsd: {path}: could not put back {old}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Options;

    #[test]
    fn option() {
        let p = |extra: &str| {
            let a: Vec<String> = format!("--rules r --iface d0 {extra}")
                .split_whitespace()
                .map(String::from)
                .collect();
            Options::parse(&a)
        };
        assert_eq!(p("--xdp").unwrap().xdp_busy_poll, None);
        let b = |usec, budget| Some(XdpBusyPoll { usec, budget });
        assert_eq!(
            p("--xdp --xdp-busy-poll 200").unwrap().xdp_busy_poll,
            b(200, 64)
        );
        assert_eq!(
            p("--xdp --xdp-busy-poll 50,16").unwrap().xdp_busy_poll,
            b(50, 16)
        );
        for bad in [
            "--xdp-busy-poll 200",
            "--xdp --xdp-busy-poll",
            "--xdp --xdp-busy-poll 0",
            "--xdp --xdp-busy-poll 1000001",
            "--xdp --xdp-busy-poll 200,0",
            "--xdp --xdp-busy-poll 200,1025",
            "--xdp --xdp-busy-poll 200,",
            "--xdp --xdp-busy-poll x,8",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
