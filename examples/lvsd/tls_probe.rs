//! The TLS probes of lvsd's health checks, over rustls (ring provider): a handshake alone, or an
//! HTTPS `GET` whose answer [`crate::probe`] then checks like a plain HTTP one.
//!
//! Certificates are not verified by default, as keepalived's `SSL_GET` (a health check asks
//! whether the server answers, not whether to trust it); with `ca FILE` the chain must lead to
//! one of the file's PEM certificates and name the server (its `sni` name, or else its address).

use lvs_core::health::ProbeError;
use lvs_core::Endpoint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

/// A probe's TLS settings and the client configuration built from them at load time.
#[derive(Clone)]
pub struct TlsSettings {
    /// The name sent as SNI and, with a CA, checked in the certificate.
    pub sni: Option<String>,
    /// The CA file (PEM) certificates are verified against; `None`: not verified.
    pub ca: Option<String>,
    config: Arc<ClientConfig>,
}

impl TlsSettings {
    /// The rustls client configuration (also lvsd's LDAP client's, [`crate::ldap`]).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("sni", &self.sni)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsSettings {
    fn eq(&self, other: &Self) -> bool {
        self.sni == other.sni && self.ca == other.ca
    }
}

impl Eq for TlsSettings {}

/// The SNI name a `Host` header implies: the header less a `:port` (and an IPv6 literal's
/// brackets).
pub fn sni_of_host(host: &str) -> String {
    let bare = match host.rsplit_once(':') {
        // `name:port`, `[v6]:port`; a bare IPv6 address has colons before its last one
        Some((h, p))
            if !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']')) =>
        {
            h
        }
        _ => host,
    };
    bare.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

impl TlsSettings {
    /// Settings for `sni` and `ca`; reads the CA file now.
    ///
    /// # Errors
    /// A bad SNI name, or a CA file that cannot be read or holds no certificate.
    pub fn new(sni: Option<String>, ca: Option<String>) -> Result<TlsSettings, String> {
        if let Some(n) = &sni {
            ServerName::try_from(n.as_str()).map_err(|_| format!("sni: bad name {n:?}"))?;
        }
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let config = match &ca {
            None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth(),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let pem = std::fs::read(path).map_err(|e| format!("ca {path}: {e}"))?;
                for c in CertificateDer::pem_slice_iter(&pem) {
                    let c = c.map_err(|e| format!("ca {path}: {e}"))?;
                    roots
                        .add(c)
                        .map_err(|e| format!("ca {path}: a certificate is unusable: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!("ca {path}: no PEM certificate in the file"));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        Ok(TlsSettings {
            sni,
            ca,
            config: Arc::new(config),
        })
    }
}

/// The crypto provider: *ring*. rustls deprecated it for lacking post-quantum key exchange,
/// which a health probe's handshake does not need; it builds with a C compiler alone, where
/// aws-lc-rs needs cmake.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// keepalived's `SSL_GET` policy: any certificate is accepted; the handshake's signatures are
/// still checked (the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS session over a connected socket, every read and write bounded by one deadline.
struct Session {
    conn: ClientConnection,
    sock: TcpStream,
    deadline: Instant,
}

impl Session {
    /// Connects TLS over `sock` and completes the handshake.
    fn handshake(
        tls: &TlsSettings,
        target: Endpoint,
        sock: TcpStream,
        deadline: Instant,
    ) -> Result<Session, ProbeError> {
        let name = match &tls.sni {
            Some(n) => ServerName::try_from(n.clone()).map_err(|_| ProbeError::Answer)?,
            None => ServerName::IpAddress(target.addr.into()),
        };
        let conn =
            ClientConnection::new(tls.config.clone(), name).map_err(|_| ProbeError::Answer)?;
        let mut s = Session {
            conn,
            sock,
            deadline,
        };
        while s.conn.is_handshaking() {
            s.io()?;
        }
        Ok(s)
    }

    /// One round of socket I/O; a timeout, a closed socket or a TLS alert is an error.
    fn io(&mut self) -> Result<(usize, usize), ProbeError> {
        let left = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(ProbeError::Timeout)?;
        let _ = self.sock.set_read_timeout(Some(left));
        let _ = self.sock.set_write_timeout(Some(left));
        match self.conn.complete_io(&mut self.sock) {
            Ok((0, 0)) if self.conn.wants_read() => Err(ProbeError::Connect),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(ProbeError::Answer),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(ProbeError::Timeout)
            }
            Err(_) => Err(ProbeError::Connect),
        }
    }

    /// Sends `data`, then reads until the server closes (cleanly, or not: many servers close
    /// without `close_notify` after an HTTP/1.0 answer) or `limit` bytes.
    fn exchange(&mut self, data: &[u8], limit: usize) -> Result<Vec<u8>, ProbeError> {
        self.conn
            .writer()
            .write_all(data)
            .map_err(|_| ProbeError::Connect)?;
        while self.conn.wants_write() {
            self.io()?;
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 16384];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => return Ok(out), // close_notify
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.len() >= limit {
                        out.truncate(limit);
                        return Ok(out);
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return Ok(out), // closed without close_notify
            }
            match self.io() {
                Ok(_) => {}
                Err(ProbeError::Connect) => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }
}

/// The TLS handshake probe: the server completes a handshake within the deadline.
pub fn handshake(
    tls: &TlsSettings,
    target: Endpoint,
    sock: TcpStream,
    deadline: Instant,
) -> Result<(), ProbeError> {
    let mut s = Session::handshake(tls, target, sock, deadline)?;
    s.conn.send_close_notify();
    let _ = s.conn.write_tls(&mut s.sock);
    Ok(())
}

/// HTTPS: the handshake, `request` sent, the answer (at most `limit` bytes) returned.
pub fn request(
    tls: &TlsSettings,
    target: Endpoint,
    sock: TcpStream,
    deadline: Instant,
    request: &[u8],
    limit: usize,
) -> Result<Vec<u8>, ProbeError> {
    Session::handshake(tls, target, sock, deadline)?.exchange(request, limit)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::health::Probe;
    use crate::probe::run_probe;
    use lvs_core::health::ProbeId;
    use lvs_core::Duration;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::PrivateKeyDer;
    use std::net::TcpListener;

    /// A CA (PEM) and a rustls server config with a certificate it issued for `rs.example`
    /// and 127.0.0.1.
    fn pki() -> (String, Arc<rustls::ServerConfig>) {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["rs.example".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let provider = provider();
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), ca.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        (ca.pem(), Arc::new(cfg))
    }

    /// Serves `n` connections on loopback: TLS, then an HTTP answer with body `hello` to
    /// whatever request comes (none for a handshake probe).
    fn serve(cfg: Arc<rustls::ServerConfig>, n: usize) -> (Endpoint, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            for _ in 0..n {
                let (sock, _) = l.accept().unwrap();
                let _ = sock.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, sock);
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => req.extend_from_slice(&b[..k]),
                    }
                }
                if req.starts_with(b"GET /health ") {
                    let _ = tls.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                }
            }
        });
        (Endpoint::v4([127, 0, 0, 1], port), h)
    }

    fn run(p: &Probe, target: Endpoint) -> Result<(), ProbeError> {
        run_probe(
            p,
            target,
            ProbeId::from_bits(1),
            Duration::from_millis(3000),
        )
    }

    fn https(status: u16, digest: Option<[u8; 16]>, tls: TlsSettings) -> Probe {
        Probe::Http {
            path: "/health".into(),
            host: None,
            status,
            digest,
            tls: Some(tls),
        }
    }

    #[test]
    fn handshake_and_https_against_a_rustls_server() {
        let (ca_pem, cfg) = pki();
        let dir = std::env::temp_dir().join(format!("lvsd-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        let ca = Some(ca_file.display().to_string());
        let (other_pem, _) = pki();
        let other_file = dir.join("other.pem");
        std::fs::write(&other_file, &other_pem).unwrap();
        let other = Some(other_file.display().to_string());
        let md5_hello = [
            0x5d, 0x41, 0x40, 0x2a, 0xbc, 0x4b, 0x2a, 0x76, 0xb9, 0x71, 0x9d, 0x91, 0x10, 0x17,
            0xc5, 0x92,
        ];

        let (target, srv) = serve(cfg, 8);
        let no_verify = TlsSettings::new(None, None).unwrap();
        // 1. a handshake, certificate not verified (keepalived's SSL_GET)
        assert_eq!(run(&Probe::Tls(no_verify.clone()), target), Ok(()));
        // 2. verified against the CA, by name and by address
        let by_name = TlsSettings::new(Some("rs.example".into()), ca.clone()).unwrap();
        assert_eq!(run(&Probe::Tls(by_name.clone()), target), Ok(()));
        let by_addr = TlsSettings::new(None, ca.clone()).unwrap();
        assert_eq!(run(&Probe::Tls(by_addr), target), Ok(()));
        // 3. a name the certificate does not have, and another CA: TLS failures
        let wrong_name = TlsSettings::new(Some("other.example".into()), ca).unwrap();
        assert_eq!(
            run(&Probe::Tls(wrong_name), target),
            Err(ProbeError::Answer)
        );
        let wrong_ca = TlsSettings::new(Some("rs.example".into()), other).unwrap();
        assert_eq!(run(&Probe::Tls(wrong_ca), target), Err(ProbeError::Answer));
        // 4. HTTPS: status and body digest
        assert_eq!(run(&https(200, Some(md5_hello), by_name), target), Ok(()));
        assert_eq!(
            run(&https(204, None, no_verify.clone()), target),
            Err(ProbeError::Status(200))
        );
        assert_eq!(
            run(&https(200, Some([0; 16]), no_verify.clone()), target),
            Err(ProbeError::Digest)
        );
        srv.join().unwrap();
        // 5. nobody listens any more
        assert_eq!(
            run(&Probe::Tls(no_verify), target),
            Err(ProbeError::Connect)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_plain_server_or_a_silent_one_fails_the_handshake() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let target = Endpoint::v4([127, 0, 0, 1], port);
        let srv = std::thread::spawn(move || {
            // plain HTTP to a TLS client
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
            drop(s);
            // accepts, then says nothing until well after the client gave up
            let (s, _) = l.accept().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1000));
            drop(s);
        });
        let t = TlsSettings::new(None, None).unwrap();
        assert_eq!(run(&Probe::Tls(t.clone()), target), Err(ProbeError::Answer));
        let r = run_probe(
            &Probe::Tls(t),
            target,
            ProbeId::from_bits(1),
            Duration::from_millis(300),
        );
        assert_eq!(r, Err(ProbeError::Timeout));
        srv.join().unwrap();
    }

    #[test]
    fn settings_are_checked_at_load() {
        assert!(TlsSettings::new(Some("bad..name".into()), None).is_err());
        let dir = std::env::temp_dir().join(format!("lvsd-tls-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let e = TlsSettings::new(None, Some(f.display().to_string())).unwrap_err();
        assert!(e.ends_with("no PEM certificate in the file"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sni_from_a_host_header() {
        assert_eq!(sni_of_host("www.example"), "www.example");
        assert_eq!(sni_of_host("www.example:8443"), "www.example");
        assert_eq!(sni_of_host("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(sni_of_host("2001:db8::1"), "2001:db8::1");
    }
}
