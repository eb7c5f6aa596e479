//! HTTP/1.x request-head classification with `httparse`: the request line and headers are
//! parsed from the buffered bytes, then a [`Router`] chooses the real server.

pub use httparse;

use super::classify::{Classification, ContentClassifier, FlowInfo};
use core::net::SocketAddrV4;

/// Headers parsed at most; more is answered with 431.
pub const MAX_HEADERS: usize = 64;

/// `400 Bad Request`, sent for a malformed request head.
pub const RESPONSE_400: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
/// `431 Request Header Fields Too Large`, sent when the head exceeds the buffer or
/// [`MAX_HEADERS`].
pub const RESPONSE_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
/// `503 Service Unavailable`, sent when no server can take the request.
pub const RESPONSE_503: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// Chooses a real server for a parsed request head.
pub trait Router {
    /// The server for this request, or `None` for 503.
    fn route(&mut self, flow: &FlowInfo, req: &httparse::Request<'_, '_>) -> Option<SocketAddrV4>;

    /// A connection to `server` ended.
    fn closed(&mut self, server: SocketAddrV4) {
        let _ = server;
    }
}

impl<F: FnMut(&FlowInfo, &httparse::Request<'_, '_>) -> Option<SocketAddrV4>> Router for F {
    fn route(&mut self, flow: &FlowInfo, req: &httparse::Request<'_, '_>) -> Option<SocketAddrV4> {
        self(flow, req)
    }
}

/// Counters of an [`HttpClassifier`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Request heads routed.
    pub routed: u64,
    /// Malformed heads (400).
    pub bad_request: u64,
    /// Heads too large (431).
    pub too_large: u64,
    /// No server (503).
    pub unavailable: u64,
}

/// A [`ContentClassifier`] for HTTP/1.x.
#[derive(Debug, Clone)]
pub struct HttpClassifier<R> {
    /// The router.
    pub router: R,
    /// Counters.
    pub stats: HttpStats,
}

impl<R: Router> HttpClassifier<R> {
    /// Wraps a router.
    pub fn new(router: R) -> Self {
        HttpClassifier {
            router,
            stats: HttpStats::default(),
        }
    }
}

impl<R: Router> ContentClassifier for HttpClassifier<R> {
    fn classify(&mut self, flow: &FlowInfo, data: &[u8]) -> Classification {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(data) {
            Ok(httparse::Status::Partial) => Classification::NeedMore,
            Ok(httparse::Status::Complete(_)) => match self.router.route(flow, &req) {
                Some(s) => {
                    self.stats.routed += 1;
                    Classification::Choose(s)
                }
                None => {
                    self.stats.unavailable += 1;
                    Classification::Reject(RESPONSE_503)
                }
            },
            Err(httparse::Error::TooManyHeaders) => {
                self.stats.too_large += 1;
                Classification::Reject(RESPONSE_431)
            }
            Err(_) => {
                self.stats.bad_request += 1;
                Classification::Reject(RESPONSE_400)
            }
        }
    }

    fn overflow(&mut self, _flow: &FlowInfo) -> Classification {
        self.stats.too_large += 1;
        Classification::Reject(RESPONSE_431)
    }

    fn closed(&mut self, server: SocketAddrV4) {
        self.router.closed(server);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use core::net::Ipv4Addr;

    const FLOW: FlowInfo = FlowInfo {
        client: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 1000),
        vip: SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 100), 80),
        now: lvs_core::Instant::ZERO,
    };
    const S1: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, 1), 80);

    #[test]
    fn partial_complete_bad() {
        let mut c = HttpClassifier::new(|_: &FlowInfo, r: &httparse::Request<'_, '_>| {
            (r.path == Some("/a")).then_some(S1)
        });
        // in this order (the counters below add them up)
        let cases: [(&[u8], Classification); 5] = [
            (b"GET /a HTTP/1.1\r\nHost: x\r\n", Classification::NeedMore),
            (
                b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
                Classification::Choose(S1),
            ),
            (
                b"GET /b HTTP/1.1\r\n\r\n",
                Classification::Reject(RESPONSE_503),
            ),
            (
                b"GET /a HTTP/1.1\x01\r\n\r\n",
                Classification::Reject(RESPONSE_400),
            ),
            (b"\x00\x01garbage", Classification::Reject(RESPONSE_400)),
        ];
        for (request, want) in cases {
            assert_eq!(c.classify(&FLOW, request), want, "{request:?}");
        }
        let mut flood = std::vec::Vec::from(&b"GET / HTTP/1.1\r\n"[..]);
        for _ in 0..MAX_HEADERS + 1 {
            flood.extend_from_slice(b"a: b\r\n");
        }
        flood.extend_from_slice(b"\r\n");
        assert_eq!(
            c.classify(&FLOW, &flood),
            Classification::Reject(RESPONSE_431)
        );
        assert_eq!(c.overflow(&FLOW), Classification::Reject(RESPONSE_431));
        assert_eq!(
            c.stats,
            HttpStats {
                routed: 1,
                bad_request: 2,
                too_large: 2,
                unavailable: 1
            }
        );
    }
}
