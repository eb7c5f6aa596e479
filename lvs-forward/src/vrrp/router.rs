//! The VRRP state machine of one virtual router (RFC 5798 section 6.4).

use super::{Config, ConfigError, Counters, DropReason, Received};
use crate::ip_header::IpHeader;
use crate::wire::vrrp::{self, Packet, Repr, MAX_LEN};
use crate::wire::{Checksum, ChecksumCaps};
use core::net::IpAddr;
use lvs_core::time::{Duration, Instant};

/// The state of a virtual router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or shut down.
    Initialize,
    /// Watching the master's adverts; the virtual addresses belong to someone else.
    Backup,
    /// Owning the virtual addresses and advertising.
    Master,
}

/// An advertisement to send: the VRRP message and the IP addresses it goes between (with a
/// TTL / hop limit of [`vrrp::TTL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    buf: [u8; MAX_LEN],
    len: u16,
    /// IP source (the router's primary address).
    pub src: IpAddr,
    /// IP destination (224.0.0.18 or ff02::12).
    pub dst: IpAddr,
}

impl Advert {
    /// The VRRP message (the IP payload).
    pub fn message(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The priority it advertises.
    pub fn priority(&self) -> u8 {
        self.buf[2]
    }

    /// Writes the whole IP packet (an IPv4 header with DSCP CS6 like keepalived, or an IPv6
    /// header, then the message) into `out` and returns its length, or `None` if `out` is too
    /// short.
    pub fn write_ip(&self, out: &mut [u8]) -> Option<usize> {
        let msg = self.message();
        let hl = match self.src {
            IpAddr::V4(_) => crate::wire::ipv4::HEADER_LEN,
            IpAddr::V6(_) => crate::wire::ipv6::HEADER_LEN,
        };
        let n = hl + msg.len();
        let out = out.get_mut(..n)?;
        IpHeader {
            src: self.src,
            dst: self.dst,
            protocol: vrrp::PROTOCOL,
            payload_len: msg.len(),
            ttl: vrrp::TTL,
            tos: 0xc0,
            ident: 0,
            dont_frag: false,
        }
        .emit(out, &ChecksumCaps::software())
        .ok()?;
        out[hl..].copy_from_slice(msg);
        Some(n)
    }
}

/// What the caller must do, in the order given.
// The advert is carried by value (no allocation in a no_std library); actions come once per
// advertisement interval, so their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send this advertisement.
    Send(Advert),
    /// This router is now master: answer ARP/NDP for the virtual addresses, accept their
    /// traffic, and announce them (gratuitous ARP / unsolicited neighbour advertisements).
    EnterMaster,
    /// This router is now backup: stop answering for the virtual addresses.
    EnterBackup,
    /// This router stopped ([`Router::shutdown`]): stop answering for the virtual addresses.
    EnterInitialize,
}

const QUEUE: usize = 4;

/// One virtual router: RFC 5798's state machine with time and packets passed in.
///
/// Drive it like this: [`Router::start`] once; then on every received VRRP packet
/// [`Router::handle_packet`], whenever `now >= poll_timeout()` [`Router::handle_timeout`], and
/// after each of these calls [`Router::poll_action`] until it returns `None`.
#[derive(Debug, Clone)]
pub struct Router {
    cfg: Config,
    state: State,
    /// Master_Adver_Interval (centiseconds): ours as master, the master's as backup.
    master_adver_int: u16,
    /// The master-down timer as backup, the advert timer as master.
    timer: Option<Instant>,
    queue: [Option<Action>; QUEUE],
    counters: Counters,
}

impl Router {
    /// A router in [`State::Initialize`].
    ///
    /// # Errors
    /// [`ConfigError`] from [`Config::validate`].
    pub fn new(cfg: Config) -> Result<Router, ConfigError> {
        cfg.validate()?;
        Ok(Router {
            cfg,
            state: State::Initialize,
            master_adver_int: cfg.adver_int,
            timer: None,
            queue: [None; QUEUE],
            counters: Counters::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// What was counted so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The Master_Adver_Interval in use (centiseconds).
    pub fn master_adver_int(&self) -> u16 {
        self.master_adver_int
    }

    /// Skew_Time for the current Master_Adver_Interval, in milliseconds.
    pub fn skew_time(&self) -> Duration {
        skew_time(self.cfg.priority, self.master_adver_int)
    }

    /// Master_Down_Interval for the current Master_Adver_Interval, in milliseconds.
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(self.cfg.priority, self.master_adver_int)
    }

    /// Whether traffic to `dst` (a virtual address) is ours to take: as master, if we own the
    /// addresses or accept mode is on.
    pub fn accepts(&self, dst: &IpAddr) -> bool {
        self.state == State::Master
            && (self.cfg.accept_mode || self.cfg.priority == 255)
            && self.cfg.addrs.as_slice().contains(dst)
    }

    /// The Startup event (section 6.4.1): the address owner becomes master at once, any other
    /// router backup. Does nothing unless in [`State::Initialize`].
    pub fn start(&mut self, now: Instant) {
        if self.state != State::Initialize {
            return;
        }
        if self.cfg.priority == 255 {
            self.become_master(now);
        } else {
            self.become_backup(now, self.cfg.adver_int);
        }
    }

    /// The Shutdown event: a master sends a last advert with priority 0 (so a backup takes
    /// over after Skew_Time instead of Master_Down_Interval); every router goes to
    /// [`State::Initialize`].
    pub fn shutdown(&mut self, _now: Instant) {
        if self.state == State::Master {
            self.send(0);
        }
        if self.state != State::Initialize {
            self.push(Action::EnterInitialize);
        }
        self.state = State::Initialize;
        self.timer = None;
    }

    /// When [`Router::handle_timeout`] is due, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Runs the timer that is due: a backup whose master went silent becomes master, a master
    /// advertises again.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(t) = self.timer else { return };
        if now < t {
            return;
        }
        match self.state {
            State::Backup => self.become_master(now),
            State::Master => {
                self.send(self.cfg.priority);
                self.timer = Some(now + cs(self.cfg.adver_int));
            }
            State::Initialize => self.timer = None,
        }
    }

    /// The next thing to do, in order; call until `None` after every other call.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        let a = self.queue[0].take()?;
        self.queue.rotate_left(1);
        Some(a)
    }

    /// Takes a received IP packet that may hold an advert (section 7.1 checks, then 6.4.2 or
    /// 6.4.3).
    ///
    /// # Errors
    /// Why the packet was dropped; it was counted and changed nothing else.
    pub fn handle_packet(&mut self, now: Instant, rx: &Received<'_>) -> Result<(), DropReason> {
        let r = self.check(rx);
        match r {
            Ok(repr) => {
                self.on_advert(now, rx.src, &repr);
                Ok(())
            }
            Err(e) => {
                self.counters.drops[e as usize] += 1;
                Err(e)
            }
        }
    }

    fn check(&self, rx: &Received<'_>) -> Result<Repr, DropReason> {
        if self.state == State::Initialize {
            return Err(DropReason::NotRunning);
        }
        if rx.src.is_ipv4() != self.cfg.primary.is_ipv4() || rx.dst.is_ipv4() != rx.src.is_ipv4() {
            return Err(DropReason::FamilyMismatch);
        }
        if rx.hop_limit != vrrp::TTL {
            return Err(DropReason::BadTtl);
        }
        let repr = Repr::parse(
            &Packet::new_unchecked(rx.message),
            &rx.src,
            &rx.dst,
            Checksum::Both,
        )?;
        if repr.vrid != self.cfg.vrid {
            return Err(DropReason::VridMismatch);
        }
        if self.cfg.priority == 255 {
            return Err(DropReason::Owner);
        }
        if rx.src == self.cfg.primary {
            return Err(DropReason::OwnAdvert);
        }
        if repr.priority != 255 && !repr.addrs.same_set(&self.cfg.addrs) {
            return Err(DropReason::AddressMismatch);
        }
        Ok(repr)
    }

    fn on_advert(&mut self, now: Instant, src: IpAddr, adv: &Repr) {
        self.counters.rx_adverts += 1;
        if adv.priority == 0 {
            self.counters.rx_priority_zero += 1;
        }
        match self.state {
            State::Backup => {
                if adv.priority == 0 {
                    self.timer = Some(now + self.skew_time());
                } else if !self.cfg.preempt || adv.priority >= self.cfg.priority {
                    self.master_adver_int = adv.max_adver_int;
                    self.timer = Some(now + self.master_down_interval());
                } else {
                    self.counters.rx_lower_ignored += 1;
                }
            }
            State::Master => {
                if adv.priority == 0 {
                    self.send(self.cfg.priority);
                    self.timer = Some(now + cs(self.cfg.adver_int));
                } else if adv.priority > self.cfg.priority
                    || (adv.priority == self.cfg.priority && src > self.cfg.primary)
                {
                    self.become_backup(now, adv.max_adver_int);
                } else {
                    self.counters.rx_lower_ignored += 1;
                }
            }
            State::Initialize => {}
        }
    }

    fn become_master(&mut self, now: Instant) {
        self.state = State::Master;
        self.master_adver_int = self.cfg.adver_int;
        self.counters.became_master += 1;
        self.send(self.cfg.priority);
        self.push(Action::EnterMaster);
        self.timer = Some(now + cs(self.cfg.adver_int));
    }

    fn become_backup(&mut self, now: Instant, master_adver_int: u16) {
        let was = self.state;
        self.state = State::Backup;
        self.master_adver_int = master_adver_int;
        self.timer = Some(now + self.master_down_interval());
        self.counters.became_backup += 1;
        if was != State::Backup {
            self.push(Action::EnterBackup);
        }
    }

    fn send(&mut self, priority: u8) {
        let repr = Repr {
            vrid: self.cfg.vrid,
            priority,
            max_adver_int: self.cfg.adver_int,
            addrs: self.cfg.addrs,
        };
        let dst = match self.cfg.primary {
            IpAddr::V4(_) => IpAddr::V4(vrrp::GROUP_V4),
            IpAddr::V6(_) => IpAddr::V6(vrrp::GROUP_V6),
        };
        let mut a = Advert {
            buf: [0; MAX_LEN],
            len: repr.buffer_len() as u16,
            src: self.cfg.primary,
            dst,
        };
        let n = repr.buffer_len();
        repr.emit(
            &mut Packet::new_unchecked(&mut a.buf[..n]),
            &a.src,
            &dst,
            Checksum::Both,
        );
        self.counters.tx_adverts += 1;
        self.push(Action::Send(a));
    }

    fn push(&mut self, a: Action) {
        // at most three actions come out of one call; a caller that never polls loses the
        // oldest, never the newest
        if let Some(slot) = self.queue.iter_mut().find(|s| s.is_none()) {
            *slot = Some(a);
        } else {
            self.queue.rotate_left(1);
            self.queue[QUEUE - 1] = Some(a);
        }
    }
}

fn cs(centis: u16) -> Duration {
    Duration::from_millis(u64::from(centis) * 10)
}

/// `Skew_Time = ((256 - priority) * master_adver_int) / 256`, in milliseconds (computed in
/// milliseconds, so finer than the RFC's centiseconds).
pub(super) fn skew_time(priority: u8, master_adver_int: u16) -> Duration {
    Duration::from_millis((256 - u64::from(priority)) * u64::from(master_adver_int) * 10 / 256)
}

/// `Master_Down_Interval = 3 * master_adver_int + Skew_Time`, in milliseconds.
pub(super) fn master_down_interval(priority: u8, master_adver_int: u16) -> Duration {
    Duration::from_millis(
        3 * u64::from(master_adver_int) * 10 + skew_time(priority, master_adver_int).total_millis(),
    )
}
