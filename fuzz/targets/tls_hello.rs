// tls_hello: the TLS hello readers (`lvs_forward::tls::read_client_hello`, `read_server_hello`)
// on arbitrary bytes.
//
// The first byte chooses the direction and a scratch size; the rest is the stream. Neither reader
// may panic. What a prefix says holds for the whole stream (a hello or an error on a prefix is
// the same with all the bytes), a `HelloReader` resumed at those prefixes answers as the one-shot
// readers do, the getters of a hello agree with its extension list, and a hello read whole reads
// the same re-framed into 1-byte records.

use lvs_forward::tls::{
    read_client_hello, read_server_hello, ticket_key_name, ClientHello, HelloReader, ServerHello,
    TlsError, EXT_PRE_SHARED_KEY, EXT_SERVER_NAME, MAX_HELLO,
};

/// Entry point shared by libFuzzer and the stable replay test.
pub fn run(data: &[u8]) {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let client = sel & 1 == 0;
    let scratch_len = if sel & 2 == 0 { MAX_HELLO } else { usize::from(sel) * 16 };
    let whole = read(stream, client, scratch_len);
    // a few prefixes, cut where the selector byte says, in order
    let mut cuts = [usize::from(sel), stream.len() / 2, stream.len().saturating_sub(1)];
    cuts.sort_unstable();
    let mut resumed = HelloReader::new();
    for cut in cuts {
        let prefix = &stream[..cut.min(stream.len())];
        let part = read(prefix, client, scratch_len);
        assert_eq!(read_on(&mut resumed, prefix, client, scratch_len), part);
        if part != Ok(None) {
            assert_eq!(part, whole, "prefix {cut} of {}", stream.len());
        }
    }
    assert_eq!(read_on(&mut resumed, stream, client, scratch_len), whole);
    if let Ok(Some(_)) = &whole {
        if let Some(one) = one_byte_records(stream) {
            assert_eq!(read(&one, client, MAX_HELLO), whole);
        }
    }
}

/// [`read`] with a resumed reader.
fn read_on(
    r: &mut HelloReader,
    stream: &[u8],
    client: bool,
    scratch_len: usize,
) -> Result<Option<String>, TlsError> {
    let mut scratch = vec![0u8; scratch_len];
    if client {
        r.client_hello(stream, &mut scratch).map(|h| h.map(|ch| ch_string(&ch)))
    } else {
        r.server_hello(stream, &mut scratch).map(|h| h.map(|sh| sh_string(&sh)))
    }
}

/// A hello's getters, as a string, or the error.
fn read(stream: &[u8], client: bool, scratch_len: usize) -> Result<Option<String>, TlsError> {
    let mut scratch = vec![0u8; scratch_len];
    if client {
        read_client_hello(stream, &mut scratch).map(|h| h.map(|ch| ch_string(&ch)))
    } else {
        read_server_hello(stream, &mut scratch).map(|h| h.map(|sh| sh_string(&sh)))
    }
}

/// A ClientHello's getters as a string, checking they agree with its extension list.
fn ch_string(ch: &ClientHello<'_>) -> String {
    assert!(ch.session_id().len() <= 32);
    let exts: Vec<_> = ch.extensions().collect();
    if ch.server_name().is_some() {
        assert!(exts.iter().any(|e| e.ext_type == EXT_SERVER_NAME));
    }
    if ch.psk_identities().next().is_some() {
        assert_eq!(exts.last().map(|e| e.ext_type), Some(EXT_PRE_SHARED_KEY));
    }
    let keys: Vec<_> = ch.psk_identities().map(ticket_key_name).collect();
    format!(
        "{ch:?} {:?} {:?} {:?} {:?} {} {keys:?} {}",
        ch.server_name(),
        ch.alpn().collect::<Vec<_>>(),
        ch.supported_versions().collect::<Vec<_>>(),
        ch.session_ticket().map(ticket_key_name),
        ch.offers_tls13(),
        ch.cipher_suites().count(),
    )
}

/// A ServerHello's getters as a string.
fn sh_string(sh: &ServerHello<'_>) -> String {
    assert!(sh.session_id().len() <= 32);
    format!(
        "{sh:?} {} {:?} {} {}",
        sh.selected_version(),
        sh.selected_psk(),
        sh.is_hello_retry_request(),
        sh.extensions().count()
    )
}

/// The stream's leading handshake records re-framed into 1-byte records (`None` if the stream
/// does not start with whole handshake records).
fn one_byte_records(stream: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let hdr = stream.get(pos..pos + 5)?;
        if hdr[0] != 22 {
            return None;
        }
        let n = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
        for &b in stream.get(pos + 5..pos + 5 + n)? {
            out.extend_from_slice(&[22, hdr[1], hdr[2], 0, 1, b]);
        }
        pos += 5 + n;
    }
    Some(out)
}
