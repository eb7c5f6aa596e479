// AgentX (RFC 2741) PDUs, sans I/O: the sub-agent's half of the protocol lvsd speaks to
// net-snmp's snmpd (`--snmp-agentx`). Parsing takes bytes and returns a typed PDU or a typed error
// (never a panic: fuzzed by fuzz/targets/agentx_parse.rs); encoding writes network byte order
// with the NETWORK_BYTE_ORDER flag set. No `//!` here: the fuzz target includes this file.

/// An object identifier.
pub type Oid = Vec<u32>;

/// The PDU types this sub-agent sends or answers (RFC 2741 §6.1).
pub mod ty {
    /// agentx-Open-PDU.
    pub const OPEN: u8 = 1;
    /// agentx-Close-PDU.
    pub const CLOSE: u8 = 2;
    /// agentx-Register-PDU.
    pub const REGISTER: u8 = 3;
    /// agentx-Get-PDU.
    pub const GET: u8 = 5;
    /// agentx-GetNext-PDU.
    pub const GET_NEXT: u8 = 6;
    /// agentx-GetBulk-PDU.
    pub const GET_BULK: u8 = 7;
    /// agentx-TestSet-PDU.
    pub const TEST_SET: u8 = 8;
    /// agentx-Response-PDU.
    pub const RESPONSE: u8 = 18;
}

const FLAG_NON_DEFAULT_CONTEXT: u8 = 0x08;
const FLAG_NETWORK_BYTE_ORDER: u8 = 0x10;
/// Largest payload accepted (snmpd's PDUs are far smaller).
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Most sub-identifiers in an OID (RFC 2578 §7.1.3 allows 128).
pub const MAX_SUBIDS: usize = 128;

/// A variable's value (RFC 2741 §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// INTEGER.
    Integer(i32),
    /// OCTET STRING.
    OctetString(Vec<u8>),
    /// IpAddress.
    IpAddress([u8; 4]),
    /// Counter32.
    Counter32(u32),
    /// Gauge32 (Unsigned32).
    Gauge32(u32),
    /// Counter64.
    Counter64(u64),
    /// noSuchObject.
    NoSuchObject,
    /// noSuchInstance.
    NoSuchInstance,
    /// endOfMibView.
    EndOfMibView,
}

/// The fixed header (RFC 2741 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// PDU type ([`ty`]).
    pub ty: u8,
    /// Flags.
    pub flags: u8,
    /// Session.
    pub session: u32,
    /// Transaction.
    pub transaction: u32,
    /// Packet.
    pub packet: u32,
}

/// One SearchRange: from `start` (itself too if `include`) up to `end` (empty: no bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// First OID.
    pub start: Oid,
    /// Whether `start` itself qualifies.
    pub include: bool,
    /// Bound (exclusive); empty for none.
    pub end: Oid,
}

/// A PDU's body, as far as this sub-agent cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    /// Get, GetNext: the search ranges.
    Get(Vec<Range>),
    /// GetNext.
    GetNext(Vec<Range>),
    /// GetBulk: non-repeaters, max-repetitions, ranges.
    GetBulk(u16, u16, Vec<Range>),
    /// Response: error status and index (varbinds not needed by a sub-agent).
    Response(u16, u16),
    /// Any other type: answered with an error or ignored.
    Other,
}

/// Why bytes are not an AgentX PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Version is not 1.
    Version,
    /// Payload length over [`MAX_PAYLOAD`] or not a multiple of 4.
    Length,
    /// The payload ends inside a field.
    Truncated,
    /// An OID with more than [`MAX_SUBIDS`] sub-identifiers.
    Oid,
}

struct Rd<'a> {
    b: &'a [u8],
    net: bool,
}

impl Rd<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        if self.b.len() < n {
            return Err(Error::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u16(&mut self) -> Result<u16, Error> {
        let b: [u8; 2] = self.take(2)?.try_into().map_err(|_| Error::Truncated)?;
        Ok(if self.net {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| Error::Truncated)?;
        Ok(if self.net {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
    fn oid(&mut self) -> Result<(Oid, bool), Error> {
        let h = self.take(4)?;
        let (n, prefix, include) = (usize::from(h[0]), h[1], h[2] != 0);
        if n > MAX_SUBIDS {
            return Err(Error::Oid);
        }
        let mut oid = Vec::with_capacity(n + 5);
        if prefix != 0 {
            oid.extend_from_slice(&[1, 3, 6, 1, u32::from(prefix)]);
        }
        for _ in 0..n {
            oid.push(self.u32()?);
        }
        Ok((oid, include))
    }
    fn ranges(&mut self) -> Result<Vec<Range>, Error> {
        let mut out = Vec::new();
        while !self.b.is_empty() {
            let (start, include) = self.oid()?;
            let (end, _) = self.oid()?;
            out.push(Range {
                start,
                include,
                end,
            });
        }
        Ok(out)
    }
}

/// Parses one PDU from the front of `buf`: `Ok(None)` when more bytes are needed, else the
/// header, the body and how many bytes it took.
///
/// # Errors
/// Bytes that cannot be AgentX (the session should be closed).
pub fn parse(buf: &[u8]) -> Result<Option<(Header, Pdu, usize)>, Error> {
    if buf.len() < 20 {
        return Ok(None);
    }
    if buf[0] != 1 {
        return Err(Error::Version);
    }
    let flags = buf[2];
    let mut r = Rd {
        b: &buf[4..20],
        net: flags & FLAG_NETWORK_BYTE_ORDER != 0,
    };
    let (session, transaction, packet, len) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
    let len = len as usize;
    if len > MAX_PAYLOAD || !len.is_multiple_of(4) {
        return Err(Error::Length);
    }
    let Some(payload) = buf.get(20..20 + len) else {
        return Ok(None);
    };
    let h = Header {
        ty: buf[1],
        flags,
        session,
        transaction,
        packet,
    };
    let mut r = Rd {
        b: payload,
        net: r.net,
    };
    if flags & FLAG_NON_DEFAULT_CONTEXT != 0
        && [ty::GET, ty::GET_NEXT, ty::GET_BULK].contains(&h.ty)
    {
        let n = r.u32()? as usize;
        r.take(n.div_ceil(4).checked_mul(4).ok_or(Error::Length)?)?;
    }
    let pdu = match h.ty {
        ty::GET => Pdu::Get(r.ranges()?),
        ty::GET_NEXT => Pdu::GetNext(r.ranges()?),
        ty::GET_BULK => {
            let (non_rep, max_rep) = (r.u16()?, r.u16()?);
            Pdu::GetBulk(non_rep, max_rep, r.ranges()?)
        }
        ty::RESPONSE => {
            r.u32()?;
            Pdu::Response(r.u16()?, r.u16()?)
        }
        _ => Pdu::Other,
    };
    Ok(Some((h, pdu, 20 + len)))
}

fn put_oid(out: &mut Vec<u8>, oid: &[u32], include: bool) {
    let (prefix, rest) = match oid {
        [1, 3, 6, 1, p @ 1..=255, rest @ ..] => (*p as u8, rest),
        _ => (0, oid),
    };
    let rest = &rest[..rest.len().min(MAX_SUBIDS)];
    out.extend_from_slice(&[rest.len() as u8, prefix, u8::from(include), 0]);
    for s in rest {
        out.extend_from_slice(&s.to_be_bytes());
    }
}

fn put_octets(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn frame(ty: u8, session: u32, transaction: u32, packet: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![1, ty, FLAG_NETWORK_BYTE_ORDER, 0];
    for v in [session, transaction, packet, payload.len() as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// An Open-PDU: `timeout` seconds, the sub-agent's `id` and description.
pub fn open(packet: u32, timeout: u8, id: &[u32], descr: &str) -> Vec<u8> {
    let mut p = vec![timeout, 0, 0, 0];
    put_oid(&mut p, id, false);
    put_octets(&mut p, descr.as_bytes());
    frame(ty::OPEN, 0, 0, packet, &p)
}

/// A Register-PDU for `subtree` (default priority 127).
pub fn register(session: u32, packet: u32, subtree: &[u32]) -> Vec<u8> {
    let mut p = vec![0, 127, 0, 0];
    put_oid(&mut p, subtree, false);
    frame(ty::REGISTER, session, 0, packet, &p)
}

/// The Response-PDU to `h`: `error` (0: none, 5: genErr, 17: notWritable), `index`, varbinds.
pub fn response(h: &Header, error: u16, index: u16, vars: &[(Oid, Value)]) -> Vec<u8> {
    let mut p = vec![0, 0, 0, 0];
    p.extend_from_slice(&error.to_be_bytes());
    p.extend_from_slice(&index.to_be_bytes());
    for (oid, v) in vars {
        let t: u16 = match v {
            Value::Integer(_) => 2,
            Value::OctetString(_) => 4,
            Value::IpAddress(_) => 64,
            Value::Counter32(_) => 65,
            Value::Gauge32(_) => 66,
            Value::Counter64(_) => 70,
            Value::NoSuchObject => 128,
            Value::NoSuchInstance => 129,
            Value::EndOfMibView => 130,
        };
        p.extend_from_slice(&t.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        put_oid(&mut p, oid, false);
        match v {
            Value::Integer(i) => p.extend_from_slice(&i.to_be_bytes()),
            Value::OctetString(b) => put_octets(&mut p, b),
            Value::IpAddress(a) => put_octets(&mut p, a),
            Value::Counter32(n) | Value::Gauge32(n) => p.extend_from_slice(&n.to_be_bytes()),
            Value::Counter64(n) => p.extend_from_slice(&n.to_be_bytes()),
            Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView => {}
        }
    }
    frame(ty::RESPONSE, h.session, h.transaction, h.packet, &p)
}
