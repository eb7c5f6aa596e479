//! TLS on lvsd's HTTP port (`--http-cert FILE --http-key FILE`, both PEM).
//!
//! tiny_http's own `ssl-rustls` feature is built on rustls 0.20; lvsd already links rustls
//! 0.23 with the ring provider (the HTTPS probes, LDAP), so the TLS is terminated here
//! instead, with that same rustls: the `--http` address is a TLS listener, and each connection,
//! once its handshake is done, is relayed in plain text to the HTTP server bound on an
//! ephemeral loopback port. The relay records which loopback port carries which peer
//! ([`Peers`]) so the login throttle and the audit still see the real client address.
//! Plain HTTP sent to the TLS port ends in a TLS alert and a closed connection.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections relayed at once; more are closed at accept.
pub const MAX_CONNS: usize = 128;

/// How long a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `--http-cert` and `--http-key`, taken off the command line before lvsd's own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTlsOpts {
    /// The certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Removes `--http-cert FILE` and `--http-key FILE` (also `--opt=value`) from `args`.
///
/// # Errors
/// A missing value, or one of the two options without the other.
pub fn take_args(args: &mut Vec<String>) -> Result<Option<HttpTlsOpts>, String> {
    let (mut cert, mut key) = (None, None);
    let mut rest = Vec::new();
    let mut it = std::mem::take(args).into_iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n == "--http-cert" || n == "--http-key" => {
                (n.to_string(), Some(v.to_string()))
            }
            _ => (a.clone(), None),
        };
        if name != "--http-cert" && name != "--http-key" {
            rest.push(a);
            continue;
        }
        let Some(v) = inline.or_else(|| it.next()) else {
            return Err(format!("{name} needs a value"));
        };
        if name == "--http-cert" {
            cert = Some(PathBuf::from(v));
        } else {
            key = Some(PathBuf::from(v));
        }
    }
    *args = rest;
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(HttpTlsOpts { cert, key })),
        (Some(_), None) => Err("--http-cert needs --http-key FILE".into()),
        (None, Some(_)) => Err("--http-key needs --http-cert FILE".into()),
    }
}

/// Reads the certificate chain and key into a rustls server configuration (ring provider,
/// TLS 1.2 and 1.3, `http/1.1` offered by ALPN).
///
/// # Errors
/// A file that cannot be read, holds no certificate or key, or a key that does not match.
pub fn load(o: &HttpTlsOpts) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(&o.cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--http-cert {}: {e}", o.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("--http-cert {}: no certificate", o.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&o.key)
        .map_err(|e| format!("--http-key {}: {e}", o.key.display()))?;
    let mut cfg = ServerConfig::builder_with_provider(crate::tls_probe::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("--http-cert/--http-key: {e}"))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The real client of each relayed connection, by the relay's local port on loopback.
#[derive(Debug, Clone, Default)]
pub struct Peers(Arc<Mutex<HashMap<u16, IpAddr>>>);

impl Peers {
    /// The client behind a connection that arrived from `from` (a relay's loopback address);
    /// `from`'s own address when it is not a relayed connection.
    pub fn client(&self, from: SocketAddr) -> IpAddr {
        if from.ip().is_loopback() {
            if let Some(ip) = self
                .0
                .lock()
                .ok()
                .and_then(|m| m.get(&from.port()).copied())
            {
                return ip;
            }
        }
        from.ip()
    }

    fn set(&self, port: u16, ip: Option<IpAddr>) {
        if let Ok(mut m) = self.0.lock() {
            match ip {
                Some(ip) => m.insert(port, ip),
                None => m.remove(&port),
            };
        }
    }
}

/// Starts the TLS listener on `public` (bound before this returns), relaying to the plain
/// HTTP server at `inner`.
///
/// # Errors
/// `public` cannot be bound, or the thread cannot be started.
pub fn spawn(
    public: SocketAddr,
    cfg: Arc<ServerConfig>,
    inner: SocketAddr,
    peers: Peers,
) -> Result<(), String> {
    let l = TcpListener::bind(public).map_err(|e| format!("--http {public}: {e}"))?;
    let live = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("lvsd-https".into())
        .spawn(move || {
            for sock in l.incoming().flatten() {
                if live.load(Ordering::Relaxed) >= MAX_CONNS {
                    continue;
                }
                live.fetch_add(1, Ordering::Relaxed);
                let (cfg, peers, done) = (cfg.clone(), peers.clone(), live.clone());
                let started = std::thread::Builder::new()
                    .name("lvsd-https-conn".into())
                    .spawn(move || {
                        let _ = relay(sock, cfg, inner, &peers);
                        done.fetch_sub(1, Ordering::Relaxed);
                    });
                if started.is_err() {
                    // the closure never ran (the socket was dropped with it): undo the count
                    live.fetch_sub(1, Ordering::Relaxed);
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// One connection: the handshake, then both directions until either side closes.
fn relay(
    sock: TcpStream,
    cfg: Arc<ServerConfig>,
    inner: SocketAddr,
    peers: &Peers,
) -> io::Result<()> {
    let client = sock.peer_addr()?.ip();
    let mut conn = ServerConnection::new(cfg).map_err(io::Error::other)?;
    let mut s = sock.try_clone()?;
    sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut s) {
            // the alert (say, for plain HTTP) goes out before the close
            let _ = conn.write_tls(&mut s);
            return Err(e);
        }
    }
    sock.set_read_timeout(None)?;
    // the request may have come with the client's Finished, already decrypted
    let early = conn.process_new_packets().map_err(io::Error::other)?;
    let mut plain = vec![0u8; early.plaintext_bytes_to_read()];
    conn.reader().read_exact(&mut plain)?;
    let mut back = TcpStream::connect(inner)?;
    let port = back.local_addr()?.port();
    peers.set(port, Some(client));
    if back.write_all(&plain).is_err() {
        peers.set(port, None);
        return Ok(());
    }
    let conn = Arc::new(Mutex::new(conn));
    let down = {
        let (conn, mut back, mut out) = (conn.clone(), back.try_clone()?, sock.try_clone()?);
        std::thread::Builder::new()
            .name("lvsd-https-out".into())
            .spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n @ 1..) = back.read(&mut buf) {
                    let Ok(mut c) = conn.lock() else { break };
                    if c.writer().write_all(&buf[..n]).is_err() || flush(&mut c, &mut out).is_err()
                    {
                        break;
                    }
                }
                if let Ok(mut c) = conn.lock() {
                    c.send_close_notify();
                    let _ = flush(&mut c, &mut out);
                }
                let _ = out.shutdown(Shutdown::Both);
            })?
    };
    let up = pump_in(&mut s, &conn, &back);
    let _ = back.shutdown(Shutdown::Write);
    let _ = down.join();
    peers.set(port, None);
    up
}

/// Client to server: TLS records in, plain text to `back`, until the client closes.
fn pump_in(
    s: &mut TcpStream,
    conn: &Mutex<ServerConnection>,
    mut back: &TcpStream,
) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut plain = Vec::new();
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let mut rd = &buf[..n];
        let mut closed = false;
        {
            let mut c = conn.lock().map_err(|_| io::Error::other("poisoned"))?;
            while !rd.is_empty() {
                c.read_tls(&mut rd)?;
                let st = match c.process_new_packets() {
                    Ok(st) => st,
                    Err(e) => {
                        let _ = flush(&mut c, s);
                        return Err(io::Error::other(e));
                    }
                };
                closed |= st.peer_has_closed();
                let k = st.plaintext_bytes_to_read();
                let at = plain.len();
                plain.resize(at + k, 0);
                c.reader().read_exact(&mut plain[at..])?;
            }
            flush(&mut c, s)?;
        }
        back.write_all(&plain)?;
        plain.clear();
        if closed {
            return Ok(());
        }
    }
}

fn flush(c: &mut ServerConnection, out: &mut TcpStream) -> io::Result<()> {
    while c.wants_write() {
        c.write_tls(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};
    use std::net::Ipv4Addr;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options() {
        let mut a = args("--rules r --http-cert c.pem --http 127.0.0.1:1 --http-key=k.pem");
        let o = take_args(&mut a).unwrap().unwrap();
        assert_eq!(
            (o.cert.to_str(), o.key.to_str()),
            (Some("c.pem"), Some("k.pem"))
        );
        assert_eq!(a, args("--rules r --http 127.0.0.1:1"));
        assert_eq!(take_args(&mut args("--rules r")).unwrap(), None);
        assert!(take_args(&mut args("--http-cert c.pem")).is_err());
        assert!(take_args(&mut args("--http-key k.pem")).is_err());
        assert!(take_args(&mut args("--http-cert")).is_err());
    }

    /// A self-signed certificate for 127.0.0.1 written as PEM files; its DER for the client.
    fn pki(dir: &std::path::Path) -> (HttpTlsOpts, CertificateDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let o = HttpTlsOpts {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&o.cert, cert.pem()).unwrap();
        std::fs::write(&o.key, key.serialize_pem()).unwrap();
        (o, cert.der().clone())
    }

    /// An HTTP server on loopback that answers every request with the client address it was
    /// told about, the way lvsd's server asks [`Peers`].
    fn inner(peers: Peers) -> SocketAddr {
        let srv = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let addr = srv.server_addr().to_ip().unwrap();
        std::thread::spawn(move || {
            for req in srv.incoming_requests() {
                let from = req.remote_addr().copied().unwrap();
                let relayed = peers.0.lock().unwrap().contains_key(&from.port());
                let body = format!(
                    "{} {} from {} relayed={relayed}",
                    req.method(),
                    req.url(),
                    peers.client(from)
                );
                let _ = req.respond(tiny_http::Response::from_string(body));
            }
        });
        addr
    }

    fn free_port() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    #[test]
    fn https_relayed_and_plain_refused() {
        let dir = std::env::temp_dir().join(format!("lvsd-http-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (o, der) = pki(&dir);
        let cfg = load(&o).unwrap();
        let peers = Peers::default();
        let public = free_port();
        spawn(public, cfg, inner(peers.clone()), peers.clone()).unwrap();

        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let ccfg = rustls::ClientConfig::builder_with_provider(crate::tls_probe::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
        let ccfg = Arc::new(ccfg);
        // twice: two requests on one connection, then the answers
        for _ in 0..2 {
            // two requests on one connection, then the answers
            let conn = rustls::ClientConnection::new(ccfg.clone(), name.clone()).unwrap();
            let sock = TcpStream::connect(public).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            tls.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            tls.write_all(b"GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut got = Vec::new();
            let _ = tls.read_to_end(&mut got);
            let got = String::from_utf8_lossy(&got);
            assert!(got.starts_with("HTTP/1.1 200"), "{got}");
            assert!(
                got.contains("GET /api/v1/status from 127.0.0.1 relayed=true"),
                "{got}"
            );
            assert!(
                got.contains("GET /two from 127.0.0.1 relayed=true"),
                "{got}"
            );
        }

        // plain HTTP to the TLS port: no HTTP answer, the connection closes
        let mut p = TcpStream::connect(public).unwrap();
        p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        p.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut back = Vec::new();
        let _ = p.read_to_end(&mut back);
        assert!(!back.starts_with(b"HTTP/"), "{back:?}");
        // a TLS alert record (content type 21) or nothing
        assert!(back.is_empty() || back[0] == 21, "{back:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
