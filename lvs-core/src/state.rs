//! The kernel's per-protocol connection states and timeouts (`ip_vs_proto_tcp.c`,
//! `ip_vs_proto_udp.c`).

use crate::addr::{Protocol, TcpFlags};
use crate::time::Duration;
use core::fmt;

/// TCP connection states, numbered as the kernel's `IP_VS_TCP_S_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// No packet seen yet.
    None = 0,
    /// Established: the only state counted as an active connection.
    Established = 1,
    /// SYN seen from the real server side.
    SynSent = 2,
    /// SYN seen from the client.
    SynRecv = 3,
    /// FIN seen.
    FinWait = 4,
    /// Both FINs seen.
    TimeWait = 5,
    /// Closed (RST or final ACK).
    Close = 6,
    /// FIN from the client while established.
    CloseWait = 7,
    /// Last ACK awaited.
    LastAck = 8,
    /// Listening (active FTP data).
    Listen = 9,
    /// SYN+ACK seen (secure_tcp).
    SynAck = 10,
}

/// Number of TCP states.
pub const TCP_STATE_COUNT: usize = 11;

impl TcpState {
    /// All states in kernel order.
    pub const ALL: [TcpState; TCP_STATE_COUNT] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The state with kernel number `n`, if any.
    pub const fn from_u8(n: u8) -> Option<TcpState> {
        if (n as usize) < TCP_STATE_COUNT {
            Some(TcpState::ALL[n as usize])
        } else {
            None
        }
    }

    /// The name ipvsadm prints (`ESTABLISHED`, `SYN_RECV`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which state table a TCP packet is looked up in (`TCP_DIR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpDir {
    /// Client to real server, on a connection whose replies pass the director (NAT).
    Input,
    /// Real server to client (NAT replies).
    Output,
    /// Client to real server when replies bypass the director (DR, tunnel: `NOOUTPUT`).
    InputOnly,
}

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynAck as SA, SynRecv as SR, SynSent as SS, TimeWait as TW,
};

type Row = [TcpState; TCP_STATE_COUNT];

// Rows: syn, fin, ack, rst for INPUT, OUTPUT, INPUT-ONLY; columns: current state in kernel order.
// These are the kernel's `tcp_states` values (facts, transcribed as a table).
static TCP_STATES: [Row; 12] = [
    // INPUT
    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    // OUTPUT
    [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    // INPUT-ONLY
    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

// The kernel's `tcp_states_dos`, used with secure_tcp.
static TCP_STATES_DOS: [Row; 12] = [
    // INPUT
    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
    [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
    [CL, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    // OUTPUT
    [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
    [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    // INPUT-ONLY
    [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
    [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/// The kernel's TCP state transition (`set_tcp_state`): RST wins over SYN, SYN over FIN, FIN
/// over ACK; a segment with none of them moves to CLOSE.
///
/// ```
/// use lvs_core::state::{tcp_transition, TcpDir, TcpState};
/// use lvs_core::TcpFlags;
/// let s = tcp_transition(TcpState::None, TcpDir::Input, TcpFlags::SYN, false);
/// assert_eq!(s, TcpState::SynRecv);
/// let s = tcp_transition(s, TcpDir::Input, TcpFlags::ACK, false);
/// assert_eq!(s, TcpState::Established);
/// ```
#[inline(always)]
pub fn tcp_transition(cur: TcpState, dir: TcpDir, flags: TcpFlags, secure: bool) -> TcpState {
    let idx = if flags.rst() {
        3
    } else if flags.syn() {
        0
    } else if flags.fin() {
        1
    } else if flags.ack() {
        2
    } else {
        return TcpState::Close;
    };
    let off = match dir {
        TcpDir::Input => 0,
        TcpDir::Output => 4,
        TcpDir::InputOnly => 8,
    };
    let table = if secure { &TCP_STATES_DOS } else { &TCP_STATES };
    table[off + idx][cur as usize]
}

/// Per-state timeouts, all configurable (`ipvsadm --set tcp tcpfin udp` sets three of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct Timeouts {
    /// Timeout of each TCP state, indexed by [`TcpState`] number.
    pub tcp: [Duration; TCP_STATE_COUNT],
    /// UDP's single state (300 s).
    pub udp: Duration,
    /// Other protocols, including SCTP (tracked with one state here; see the crate docs).
    pub other: Duration,
}

impl Timeouts {
    /// The kernel's defaults.
    pub const DEFAULT: Timeouts = Timeouts {
        tcp: [
            Duration::from_secs(2),       // NONE
            Duration::from_secs(15 * 60), // ESTABLISHED
            Duration::from_secs(2 * 60),  // SYN_SENT
            Duration::from_secs(60),      // SYN_RECV
            Duration::from_secs(2 * 60),  // FIN_WAIT
            Duration::from_secs(2 * 60),  // TIME_WAIT
            Duration::from_secs(10),      // CLOSE
            Duration::from_secs(60),      // CLOSE_WAIT
            Duration::from_secs(30),      // LAST_ACK
            Duration::from_secs(2 * 60),  // LISTEN
            Duration::from_secs(120),     // SYNACK
        ],
        udp: Duration::from_secs(5 * 60),
        other: Duration::from_secs(5 * 60),
    };

    /// The timeout of `state` for `proto`.
    #[inline]
    pub fn of(&self, proto: Protocol, state: u8) -> Duration {
        match proto {
            Protocol::Tcp => self.tcp.get(state as usize).copied().unwrap_or(self.tcp[6]),
            Protocol::Udp => self.udp,
            _ => self.other,
        }
    }

    /// `ipvsadm --set TCP TCPFIN UDP`: ESTABLISHED, FIN_WAIT and UDP timeouts; zero leaves a
    /// value unchanged, as ipvsadm does.
    pub fn set(&mut self, tcp: Duration, tcpfin: Duration, udp: Duration) {
        if tcp != Duration::ZERO {
            self.tcp[TcpState::Established as usize] = tcp;
        }
        if tcpfin != Duration::ZERO {
            self.tcp[TcpState::FinWait as usize] = tcpfin;
        }
        if udp != Duration::ZERO {
            self.udp = udp;
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::DEFAULT
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const S: TcpFlags = TcpFlags::SYN;
    const A: TcpFlags = TcpFlags::ACK;
    const F: TcpFlags = TcpFlags(0x11); // FIN|ACK
    const R: TcpFlags = TcpFlags::RST;

    #[test]
    fn nat_handshake_and_close() {
        use TcpDir::*;
        let mut s = TcpState::None;
        s = tcp_transition(s, Input, S, false);
        assert_eq!(s, TcpState::SynRecv);
        s = tcp_transition(s, Output, TcpFlags(0x12), false); // SYN+ACK from the server
        assert_eq!(s, TcpState::SynRecv);
        s = tcp_transition(s, Input, A, false);
        assert_eq!(s, TcpState::Established);
        s = tcp_transition(s, Input, F, false);
        assert_eq!(s, TcpState::CloseWait);
        s = tcp_transition(s, Output, F, false);
        assert_eq!(s, TcpState::TimeWait);
        s = tcp_transition(s, Input, A, false);
        assert_eq!(s, TcpState::TimeWait);
    }

    #[test]
    fn input_only_fin_goes_to_fin_wait() {
        let s = tcp_transition(TcpState::Established, TcpDir::InputOnly, F, false);
        assert_eq!(s, TcpState::FinWait);
        let s = tcp_transition(s, TcpDir::InputOnly, A, false);
        assert_eq!(s, TcpState::FinWait);
        let s = tcp_transition(s, TcpDir::InputOnly, F, false);
        assert_eq!(s, TcpState::FinWait);
    }

    #[test]
    fn rst_wins_and_no_flags_close() {
        let s = tcp_transition(TcpState::Established, TcpDir::Input, TcpFlags(0x16), false);
        assert_eq!(s, TcpState::Close);
        let s = tcp_transition(TcpState::Established, TcpDir::Input, TcpFlags::NONE, false);
        assert_eq!(s, TcpState::Close);
        // RST on SYN_RECV keeps SYN_RECV in the input table (a kernel quirk worth pinning)
        let s = tcp_transition(TcpState::SynRecv, TcpDir::Input, R, false);
        assert_eq!(s, TcpState::SynRecv);
    }

    #[test]
    fn secure_tcp_needs_server_answer() {
        // With secure_tcp, a client ACK in SYN_RECV does not establish: the server must answer.
        let s = tcp_transition(TcpState::SynRecv, TcpDir::Input, A, true);
        assert_eq!(s, TcpState::SynRecv);
        let s = tcp_transition(s, TcpDir::Output, TcpFlags(0x12), true);
        assert_eq!(s, TcpState::SynAck);
        let s = tcp_transition(s, TcpDir::Input, A, true);
        assert_eq!(s, TcpState::SynAck);
        let s = tcp_transition(s, TcpDir::Output, A, true);
        assert_eq!(s, TcpState::Established);
        // DR flows in secure mode: SYN in NONE goes to SYNACK, whose timeout applies
        let s = tcp_transition(TcpState::None, TcpDir::InputOnly, S, true);
        assert_eq!(s, TcpState::SynAck);
    }

    #[test]
    fn every_transition_matches_table_for_all_states() {
        // Exhaustive check of the table shape: for every state and flag set the result is one of
        // the kernel's states, and RST never leads to ESTABLISHED.
        for &st in TcpState::ALL.iter() {
            for dir in [TcpDir::Input, TcpDir::Output, TcpDir::InputOnly] {
                for f in 0u8..32 {
                    let n = tcp_transition(st, dir, TcpFlags(f), false);
                    if f & 0x04 != 0 {
                        assert_ne!(n, TcpState::Established, "{st:?} {dir:?} {f:#x}");
                    }
                }
            }
        }
    }

    #[test]
    fn default_timeouts_are_the_kernels() {
        let t = Timeouts::DEFAULT;
        for (state, secs) in [
            (TcpState::Established, 900),
            (TcpState::SynRecv, 60),
            (TcpState::FinWait, 120),
            (TcpState::TimeWait, 120),
            (TcpState::Close, 10),
        ] {
            let got = t.of(Protocol::Tcp, state as u8);
            assert_eq!(got, Duration::from_secs(secs), "{state:?}");
        }
        assert_eq!(t.of(Protocol::Udp, 0), Duration::from_secs(300));
        let mut t2 = t;
        t2.set(
            Duration::from_secs(7200),
            Duration::ZERO,
            Duration::from_secs(60),
        );
        assert_eq!(t2.tcp[1], Duration::from_secs(7200));
        assert_eq!(t2.tcp[4], Duration::from_secs(120));
        assert_eq!(t2.udp, Duration::from_secs(60));
    }
}
