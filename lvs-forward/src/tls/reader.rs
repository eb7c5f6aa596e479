//! The entry points: one-shot readers, and [`HelloReader`], which resumes between calls.

use super::handshake::{Hello, Walk};
use super::{ClientHello, ServerHello, TlsError};

/// Reads the ClientHello at the start of a client's byte stream.
///
/// `stream` holds the client's bytes from offset 0 (call again as it grows); `scratch` is
/// written only when the ClientHello spans several records, and the result then borrows it.
/// `Ok(None)`: the bytes so far are a plausible start, more are needed. Each call reads the
/// stream from the start; keep a [`HelloReader`] to read only the new bytes.
///
/// # Errors
/// A [`TlsError`] as soon as the bytes so far cannot start a ClientHello; more bytes will not
/// change it.
pub fn read_client_hello<'a>(
    stream: &'a [u8],
    scratch: &'a mut [u8],
) -> Result<Option<ClientHello<'a>>, TlsError> {
    HelloReader::new().client_hello(stream, scratch)
}

/// Reads the ServerHello (or HelloRetryRequest) at the start of a server's byte stream, the
/// same way as [`read_client_hello`].
///
/// # Errors
/// A [`TlsError`] as soon as the bytes so far cannot start a ServerHello, including
/// [`TlsError::Alert`] when the server refuses the handshake with an alert.
pub fn read_server_hello<'a>(
    stream: &'a [u8],
    scratch: &'a mut [u8],
) -> Result<Option<ServerHello<'a>>, TlsError> {
    HelloReader::new().server_hello(stream, scratch)
}

/// A hello reader that remembers how far it has read, for a stream that grows between calls:
/// each call reads only the bytes added since the previous one (the record and handshake
/// headers seen so far are kept, a few words of state), so a hello delivered in `n` pieces costs
/// O(length) in all rather than O(n x length). Use one reader per direction of a connection.
///
/// ```
/// use lvs_forward::tls::{HelloReader, MAX_HELLO};
/// let mut reader = HelloReader::new();
/// let mut scratch = [0u8; MAX_HELLO];
/// let stream = [0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00];
/// for n in 0..=stream.len() {
///     assert_eq!(reader.client_hello(&stream[..n], &mut scratch), Ok(None));
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HelloReader {
    walk: Walk,
}

impl HelloReader {
    /// A reader at the start of a stream.
    pub const fn new() -> Self {
        HelloReader { walk: Walk::new() }
    }

    /// Reads the ClientHello, as [`read_client_hello`] does. `stream` must start with the
    /// bytes of the previous call on this reader (it may have grown).
    ///
    /// # Errors
    /// As [`read_client_hello`]; an error is final, and later calls return it again.
    pub fn client_hello<'a>(
        &mut self,
        stream: &'a [u8],
        scratch: &'a mut [u8],
    ) -> Result<Option<ClientHello<'a>>, TlsError> {
        match self.walk.first_message(stream, scratch, Hello::Client)? {
            None => Ok(None),
            Some(body) => ClientHello::parse(body).map(Some),
        }
    }

    /// Reads the ServerHello, as [`read_server_hello`] does. `stream` must start with the
    /// bytes of the previous call on this reader (it may have grown).
    ///
    /// # Errors
    /// As [`read_server_hello`]; an error is final, and later calls return it again.
    pub fn server_hello<'a>(
        &mut self,
        stream: &'a [u8],
        scratch: &'a mut [u8],
    ) -> Result<Option<ServerHello<'a>>, TlsError> {
        match self.walk.first_message(stream, scratch, Hello::Server)? {
            None => Ok(None),
            Some(body) => ServerHello::parse(body).map(Some),
        }
    }
}
