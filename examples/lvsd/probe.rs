//! The probes of lvsd's health checks, run from the director's network namespace: TCP
//! connect, HTTP and HTTPS GET (status and MD5 body digest, parsed with `httparse`), a TLS
//! handshake ([`crate::tls_probe`]), a UDP DNS query and an external command. Each blocks for
//! at most its timeout; the health thread runs each in a thread of its own.

use crate::health::Probe;
use crate::tls_probe::{self, TlsSettings};
use lvs_core::health::{ProbeError, ProbeId};
use lvs_core::{Duration, Endpoint};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};

/// The most of an HTTP answer read (headers and body).
const HTTP_LIMIT: usize = 1 << 20;

fn sock(e: Endpoint) -> SocketAddr {
    SocketAddr::new(e.addr, e.port)
}

fn tcp(target: Endpoint, timeout: std::time::Duration) -> Result<TcpStream, ProbeError> {
    let s = TcpStream::connect_timeout(&sock(target), timeout).map_err(|_| ProbeError::Connect)?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    Ok(s)
}

#[allow(clippy::too_many_arguments)] // the probe's fields, one call site
fn http(
    target: Endpoint,
    path: &str,
    host: Option<&str>,
    status: u16,
    digest: Option<[u8; 16]>,
    tls: Option<&TlsSettings>,
    timeout: std::time::Duration,
) -> Result<(), ProbeError> {
    use md5::Digest;
    let deadline = std::time::Instant::now() + timeout;
    let mut s = tcp(target, timeout)?;
    let host = host.map_or_else(|| sock(target).to_string(), str::to_string);
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: lvsd-health\r\n\r\n");
    let buf = match tls {
        Some(t) => tls_probe::request(t, target, s, deadline, req.as_bytes(), HTTP_LIMIT)?,
        None => {
            s.write_all(req.as_bytes())
                .map_err(|_| ProbeError::Connect)?;
            let mut buf = Vec::new();
            s.take(HTTP_LIMIT as u64)
                .read_to_end(&mut buf)
                .map_err(|_| ProbeError::Answer)?;
            buf
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let body_at = match resp.parse(&buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err(ProbeError::Answer),
    };
    let code = resp.code.ok_or(ProbeError::Answer)?;
    if code != status {
        return Err(ProbeError::Status(code));
    }
    if let Some(want) = digest {
        let got: [u8; 16] = md5::Md5::digest(&buf[body_at..]).into();
        if got != want {
            return Err(ProbeError::Digest);
        }
    }
    Ok(())
}

fn dns(
    target: Endpoint,
    name: &str,
    qtype: u16,
    id: u16,
    timeout: std::time::Duration,
) -> Result<(), ProbeError> {
    let local: SocketAddr = if target.addr.is_ipv4() {
        "0.0.0.0:0".parse().map_err(|_| ProbeError::Connect)?
    } else {
        "[::]:0".parse().map_err(|_| ProbeError::Connect)?
    };
    let s = UdpSocket::bind(local).map_err(|_| ProbeError::Connect)?;
    s.connect(sock(target)).map_err(|_| ProbeError::Connect)?;
    let _ = s.set_read_timeout(Some(timeout));
    // header: id, RD, one question
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(ProbeError::Answer);
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    s.send(&q).map_err(|_| ProbeError::Connect)?;
    let mut b = [0u8; 1500];
    let n = s.recv(&mut b).map_err(|_| ProbeError::Connect)?;
    // a response (QR) to our id with RCODE 0
    if n < 12 || b[..2] != id.to_be_bytes() || b[2] & 0x80 == 0 || b[3] & 0x0f != 0 {
        return Err(ProbeError::Answer);
    }
    Ok(())
}

fn command(cmd: &str, timeout: std::time::Duration) -> Result<(), ProbeError> {
    let mut child = std::process::Command::new("sh")
        .args(["-c", cmd])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|_| ProbeError::Exit(-1))?;
    let end = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(ProbeError::Exit(st.code().unwrap_or(-1))),
            Ok(None) if std::time::Instant::now() < end => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ProbeError::Timeout);
            }
        }
    }
}

/// Runs one probe (blocking, bounded by its timeout).
pub fn run_probe(
    probe: &Probe,
    target: Endpoint,
    id: ProbeId,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let t = std::time::Duration::from_millis(timeout.total_millis());
    match probe {
        Probe::Tcp => tcp(target, t).map(drop),
        Probe::Http {
            path,
            host,
            status,
            digest,
            tls,
        } => http(
            target,
            path,
            host.as_deref(),
            *status,
            *digest,
            tls.as_ref(),
            t,
        ),
        Probe::Tls(tls) => {
            let deadline = std::time::Instant::now() + t;
            tls_probe::handshake(tls, target, tcp(target, t)?, deadline)
        }
        Probe::Dns { name, qtype } => dns(target, name, *qtype, id.to_bits() as u16, t),
        Probe::Command(c) => command(c, t),
    }
}
