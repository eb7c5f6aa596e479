//! Hello extensions (RFC 8446 4.2): the extension block, and the few extensions a director
//! routes on: server_name (RFC 6066 3), application_layer_protocol_negotiation (RFC 7301),
//! session_ticket (RFC 5077), pre_shared_key and supported_versions (RFC 8446 4.2.11, 4.2.1).
//!
//! The hello parsers validate the block and every extension they interpret once, so the
//! iterators here never meet a bad length; on unvalidated bytes they simply stop.

use super::cursor::Cursor;
use super::MalformedKind;

/// Extension type `server_name` (RFC 6066 3).
pub const EXT_SERVER_NAME: u16 = 0;
/// Extension type `application_layer_protocol_negotiation` (RFC 7301).
pub const EXT_ALPN: u16 = 16;
/// Extension type `session_ticket` (RFC 5077; `SessionTicket TLS` in RFC 4507).
pub const EXT_SESSION_TICKET: u16 = 35;
/// Extension type `pre_shared_key` (RFC 8446 4.2.11).
pub const EXT_PRE_SHARED_KEY: u16 = 41;
/// Extension type `supported_versions` (RFC 8446 4.2.1).
pub const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// The most extensions a hello may carry. About 60 types are registered and each may appear
/// once, so real hellos carry 10 to 25; the bound keeps the duplicate check at a few thousand
/// comparisons.
pub const MAX_EXTENSIONS: usize = 128;

/// One extension of a hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The extension type.
    pub ext_type: u16,
    /// The extension data (without its type and length).
    pub data: &'a [u8],
}

/// The extensions of a hello, in order.
#[derive(Debug, Clone)]
pub struct Extensions<'a> {
    c: Cursor<'a>,
}

impl<'a> Extensions<'a> {
    /// The extensions of an extension block (the bytes after its two-byte length).
    pub(crate) const fn new(block: &'a [u8]) -> Self {
        Extensions {
            c: Cursor::new(block),
        }
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Extension<'a>;
    fn next(&mut self) -> Option<Extension<'a>> {
        let ext_type = self.c.u16()?;
        let data = self.c.vec16()?;
        Some(Extension { ext_type, data })
    }
}

/// Checks the lengths of an extension block, the extension count and that no type repeats,
/// and calls `f` with each extension and whether it is the last.
pub(crate) fn walk<'a>(
    block: &'a [u8],
    mut f: impl FnMut(Extension<'a>, bool) -> Result<(), MalformedKind>,
) -> Result<(), MalformedKind> {
    let mut seen = [0u16; MAX_EXTENSIONS];
    let mut n = 0usize;
    let mut c = Cursor::new(block);
    while !c.is_empty() {
        let ext_type = c.u16().ok_or(MalformedKind::Extensions)?;
        let data = c.vec16().ok_or(MalformedKind::Extensions)?;
        let earlier = seen.get(..n).unwrap_or(&[]);
        if earlier.contains(&ext_type) {
            return Err(MalformedKind::DuplicateExtension(ext_type));
        }
        *seen.get_mut(n).ok_or(MalformedKind::TooManyExtensions)? = ext_type;
        n += 1;
        f(Extension { ext_type, data }, c.is_empty())?;
    }
    Ok(())
}

/// The host name of a ClientHello's server_name extension, checked: one `host_name` entry at
/// most (RFC 6066 3), 1 to 253 bytes of letters, digits, `-`, `_` and `.`, no empty label and
/// no trailing dot. Entries of other name types are skipped. Names are returned as sent;
/// compare them case-insensitively.
pub(crate) fn server_name(data: &[u8]) -> Result<Option<&str>, MalformedKind> {
    const BAD: MalformedKind = MalformedKind::ServerName;
    let mut c = Cursor::new(data);
    let list = c.vec16().ok_or(BAD)?;
    if !c.is_empty() || list.is_empty() {
        return Err(BAD);
    }
    let mut c = Cursor::new(list);
    let mut host = None;
    while !c.is_empty() {
        let name_type = c.u8().ok_or(BAD)?;
        let name = c.vec16().ok_or(BAD)?;
        if name_type != 0 {
            continue;
        }
        if host.is_some() || !is_host_name(name) {
            return Err(BAD);
        }
        host = core::str::from_utf8(name).ok();
    }
    Ok(host)
}

/// Whether `name` is an ASCII DNS host name as SNI carries it.
fn is_host_name(name: &[u8]) -> bool {
    (1..=253).contains(&name.len())
        && name.split(|&b| b == b'.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Declares an iterator over a list an extension holds (checked when the hello was parsed): the
/// struct, its constructor (an absent list iterates as empty) and `next`, which reads one item
/// from the cursor `c`.
macro_rules! list_iter {
    ($(#[$doc:meta])* $name:ident -> $item:ty, |$c:ident| $next:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name<'a> {
            c: Cursor<'a>,
        }

        impl<'a> $name<'a> {
            pub(crate) fn new(list: Option<&'a [u8]>) -> Self {
                $name {
                    c: Cursor::new(list.unwrap_or(&[])),
                }
            }
        }

        impl<'a> Iterator for $name<'a> {
            type Item = $item;
            fn next(&mut self) -> Option<$item> {
                let $c = &mut self.c;
                $next
            }
        }
    };
}

/// Checks an ALPN extension (a non-empty list of non-empty names) and returns the list.
pub(crate) fn alpn(data: &[u8]) -> Result<&[u8], MalformedKind> {
    let mut c = Cursor::new(data);
    let list = c.vec16().ok_or(MalformedKind::Alpn)?;
    if !c.is_empty() || list.is_empty() {
        return Err(MalformedKind::Alpn);
    }
    let mut c = Cursor::new(list);
    while !c.is_empty() {
        match c.vec8() {
            Some(name) if !name.is_empty() => {}
            _ => return Err(MalformedKind::Alpn),
        }
    }
    Ok(list)
}

list_iter! {
    /// The protocol names of an ALPN extension.
    ProtocolNames -> &'a [u8], |c| c.vec8()
}

/// Checks a ClientHello's supported_versions extension (1 to 127 versions) and returns the
/// list of versions.
pub(crate) fn client_versions(data: &[u8]) -> Result<&[u8], MalformedKind> {
    let mut c = Cursor::new(data);
    match c.vec8() {
        Some(list) if c.is_empty() && !list.is_empty() && list.len() % 2 == 0 => Ok(list),
        _ => Err(MalformedKind::SupportedVersions),
    }
}

list_iter! {
    /// The versions of a supported_versions extension, in the client's order of preference.
    Versions -> u16, |c| c.u16()
}

/// Checks a ClientHello's pre_shared_key extension (identities, then binders, RFC 8446
/// 4.2.11) and returns the identity list.
pub(crate) fn psk_offer(data: &[u8]) -> Result<&[u8], MalformedKind> {
    const BAD: MalformedKind = MalformedKind::PreSharedKey;
    let mut c = Cursor::new(data);
    let identities = c.vec16().ok_or(BAD)?;
    let binders = c.vec16().ok_or(BAD)?;
    if !c.is_empty() || identities.is_empty() || binders.is_empty() {
        return Err(BAD);
    }
    let mut n_identities = 0usize;
    let mut ids = Cursor::new(identities);
    while !ids.is_empty() {
        match (ids.vec16(), ids.u32()) {
            (Some(id), Some(_age)) if !id.is_empty() => n_identities += 1,
            _ => return Err(BAD),
        }
    }
    let mut n_binders = 0usize;
    let mut bs = Cursor::new(binders);
    while !bs.is_empty() {
        match bs.vec8() {
            Some(b) if b.len() >= 32 => n_binders += 1,
            _ => return Err(BAD),
        }
    }
    if n_identities != n_binders {
        return Err(BAD);
    }
    Ok(identities)
}

list_iter! {
    /// The identities of a pre_shared_key extension (in TLS 1.3, usually session tickets).
    PskIdentities -> &'a [u8], |c| {
        let id = c.vec16()?;
        c.u32()?;
        Some(id)
    }
}

/// A two-byte extension body (a ServerHello's supported_versions or pre_shared_key).
pub(crate) fn exactly_u16(data: &[u8], kind: MalformedKind) -> Result<u16, MalformedKind> {
    match *data {
        [a, b] => Ok(u16::from_be_bytes([a, b])),
        _ => Err(kind),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn walk_rejects_bad_blocks() {
        let ok = |b: &[u8]| walk(b, |_, _| Ok(()));
        assert_eq!(ok(&[]), Ok(()));
        assert_eq!(ok(&[0, 1, 0, 0, 0, 2, 0, 1, 7]), Ok(()));
        assert_eq!(ok(&[0, 1, 0, 2, 7]), Err(MalformedKind::Extensions));
        assert_eq!(ok(&[0, 1, 0]), Err(MalformedKind::Extensions));
        assert_eq!(
            ok(&[0, 9, 0, 0, 0, 9, 0, 0]),
            Err(MalformedKind::DuplicateExtension(9))
        );
        let mut many = [0u8; 4 * (MAX_EXTENSIONS + 1)];
        for (i, e) in many.chunks_mut(4).enumerate() {
            e[..2].copy_from_slice(&(i as u16).to_be_bytes());
        }
        assert_eq!(ok(&many[..4 * MAX_EXTENSIONS]), Ok(()));
        assert_eq!(ok(&many), Err(MalformedKind::TooManyExtensions));
        let mut last = [false; 2];
        walk(&[0, 1, 0, 0, 0, 2, 0, 0], |e, l| {
            last[usize::from(e.ext_type) - 1] = l;
            Ok(())
        })
        .unwrap();
        assert_eq!(last, [false, true]);
    }

    #[test]
    fn server_names() {
        let sni = |name: &[u8]| {
            let mut v = std::vec![0];
            v.extend_from_slice(&(name.len() as u16).to_be_bytes());
            v.extend_from_slice(name);
            let l = (v.len() as u16).to_be_bytes();
            v.splice(0..0, l);
            v
        };
        assert_eq!(
            server_name(&sni(b"www.example.com")),
            Ok(Some("www.example.com"))
        );
        assert_eq!(server_name(&sni(b"a_b-1.x")), Ok(Some("a_b-1.x")));
        for bad in [
            &b""[..],
            b"a..b",
            b"a.",
            b".a",
            b"a b",
            b"\xc3\xa9.com",
            &[b'a'; 64],
        ] {
            assert_eq!(
                server_name(&sni(bad)),
                Err(MalformedKind::ServerName),
                "{bad:?}"
            );
        }
        let mut two = sni(b"a.b");
        two.extend_from_slice(&[0, 0, 1, b'c']);
        let l = (two.len() as u16 - 2).to_be_bytes();
        two[..2].copy_from_slice(&l);
        assert_eq!(server_name(&two), Err(MalformedKind::ServerName));
        assert_eq!(server_name(&[0, 4, 7, 0, 1, b'x']), Ok(None));
        assert_eq!(server_name(&[0, 0]), Err(MalformedKind::ServerName));
        assert_eq!(
            server_name(&[0, 5, 0, 0, 9, b'x', b'y']),
            Err(MalformedKind::ServerName)
        );
    }

    #[test]
    fn alpn_versions_psk() {
        let list = alpn(b"\x00\x0c\x02h2\x08http/1.1").unwrap();
        let names: std::vec::Vec<_> = ProtocolNames::new(Some(list)).collect();
        assert_eq!(names, [&b"h2"[..], b"http/1.1"]);
        assert_eq!(alpn(b"\x00\x03\x00h2"), Err(MalformedKind::Alpn));
        assert_eq!(alpn(b"\x00\x00"), Err(MalformedKind::Alpn));
        assert_eq!(alpn(b"\x00\x03\x05h2"), Err(MalformedKind::Alpn));

        let v = client_versions(&[4, 3, 4, 3, 3]).unwrap();
        assert!(Versions::new(Some(v)).eq([0x0304, 0x0303]));
        assert_eq!(
            client_versions(&[3, 3, 4, 3]),
            Err(MalformedKind::SupportedVersions)
        );
        assert_eq!(client_versions(&[0]), Err(MalformedKind::SupportedVersions));
        assert_eq!(
            exactly_u16(&[3, 4], MalformedKind::SupportedVersions),
            Ok(0x0304)
        );
        assert!(exactly_u16(&[3], MalformedKind::PreSharedKey).is_err());

        let mut psk = std::vec![0, 9, 0, 3, 1, 2, 3, 0, 0, 0, 5, 0, 33, 32];
        psk.extend_from_slice(&[0xaa; 32]);
        let ids = psk_offer(&psk).unwrap();
        assert!(PskIdentities::new(Some(ids)).eq([&[1u8, 2, 3][..]]));
        psk[13] = 31; // a binder of 31 bytes (and one stray byte)
        assert_eq!(psk_offer(&psk), Err(MalformedKind::PreSharedKey));
        assert_eq!(psk_offer(&[0, 0, 0, 0]), Err(MalformedKind::PreSharedKey));
    }
}
