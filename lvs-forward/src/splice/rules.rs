//! HTTP routing rules: conditions on a parsed request head, each rule naming a pool, first
//! match wins, and a default pool. Matching is `no_std` and allocation-free over `httparse`'s
//! output; the text format is read by [`super::rules_parse`].

/// Conditions a rule may hold at most.
pub const MAX_CONDS: usize = 8;

/// One condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond<'a> {
    /// `host=NAME`: the Host header (port stripped) equals NAME, ASCII case-insensitively.
    Host(&'a str),
    /// `host=.SUFFIX` or `host=*.SUFFIX`: the Host ends with `.SUFFIX` or equals SUFFIX.
    HostSuffix(&'a str),
    /// `path=GLOB`: the path (query stripped) matches GLOB (`*` any run, `?` one byte; no
    /// wildcard means equality).
    Path(&'a str),
    /// `prefix=PREFIX`: the path starts with PREFIX.
    PathPrefix(&'a str),
    /// `method=METHOD`: the method equals METHOD (case-sensitive, RFC 9110 section 9.1).
    Method(&'a str),
    /// `header=NAME`: a header NAME is present (name case-insensitive).
    Header(&'a str),
    /// `header=NAME:VALUE`: a header NAME has exactly VALUE.
    HeaderEq(&'a str, &'a str),
    /// `ext=E1,E2,...`: the last path segment ends with `.E` for one of the listed extensions
    /// (case-insensitive).
    Ext(&'a str),
}

/// A request head as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'r> {
    /// Method.
    pub method: &'r str,
    /// Path without the query string.
    pub path: &'r str,
    /// Host header without the port ("" when absent).
    pub host: &'r str,
    /// All headers.
    pub headers: &'r [httparse::Header<'r>],
}

impl<'r> RequestView<'r> {
    /// The view of a complete `httparse` request (`None` when method or path is missing).
    pub fn new<'b: 'r>(req: &'r httparse::Request<'_, 'b>) -> Option<RequestView<'r>> {
        let method = req.method?;
        let target = req.path?;
        let path = target.split(['?', '#']).next().unwrap_or(target);
        let headers: &'r [httparse::Header<'r>] = req.headers;
        let host = headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("host"))
            .and_then(|h| core::str::from_utf8(h.value).ok())
            .map(|h| strip_port(h.trim()))
            .unwrap_or("");
        Some(RequestView {
            method,
            path,
            host,
            headers,
        })
    }
}

fn strip_port(h: &str) -> &str {
    if h.starts_with('[') {
        return h.split(']').next().map_or(h, |x| &h[..x.len() + 1]);
    }
    match h.rfind(':') {
        Some(i) if h[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &h[..i],
        _ => h,
    }
}

/// Glob match with `*` and `?` over bytes (iterative, linear backtracking on the last star).
pub fn glob(pat: &str, s: &str) -> bool {
    let (p, s) = (pat.as_bytes(), s.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < s.len() {
        if i < p.len() && (p[i] == b'?' || p[i] == s[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

impl Cond<'_> {
    /// Whether the request meets this condition.
    pub fn matches(&self, r: &RequestView<'_>) -> bool {
        match *self {
            Cond::Host(h) => r.host.eq_ignore_ascii_case(h),
            Cond::HostSuffix(suf) => {
                let (hb, sb) = (r.host.as_bytes(), suf.as_bytes());
                hb.eq_ignore_ascii_case(sb)
                    || (hb.len() > sb.len()
                        && hb[hb.len() - sb.len()..].eq_ignore_ascii_case(sb)
                        && hb[hb.len() - sb.len() - 1] == b'.')
            }
            Cond::Path(g) => glob(g, r.path),
            Cond::PathPrefix(p) => r.path.starts_with(p),
            Cond::Method(m) => r.method == m,
            Cond::Header(n) => r.headers.iter().any(|h| h.name.eq_ignore_ascii_case(n)),
            Cond::HeaderEq(n, v) => r
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(n) && h.value == v.as_bytes()),
            Cond::Ext(list) => {
                let last = r.path.rsplit('/').next().unwrap_or("");
                match last.rfind('.') {
                    Some(i) => {
                        let ext = &last[i + 1..];
                        list.split(',')
                            .any(|e| !e.is_empty() && e.eq_ignore_ascii_case(ext))
                    }
                    None => false,
                }
            }
        }
    }
}

/// A rule: all conditions must hold; then the request goes to `pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule<'a> {
    conds: [Cond<'a>; MAX_CONDS],
    len: u8,
    /// The pool's name.
    pub pool: &'a str,
}

impl<'a> Rule<'a> {
    /// A rule with no conditions (matches everything) for `pool`.
    pub const fn new(pool: &'a str) -> Self {
        Rule {
            conds: [Cond::Method(""); MAX_CONDS],
            len: 0,
            pool,
        }
    }

    /// Adds a condition; gives it back when the rule already has [`MAX_CONDS`].
    pub fn push(&mut self, c: Cond<'a>) -> Result<(), Cond<'a>> {
        let slot = self.conds.get_mut(usize::from(self.len)).ok_or(c)?;
        *slot = c;
        self.len += 1;
        Ok(())
    }

    /// The conditions.
    pub fn conds(&self) -> &[Cond<'a>] {
        &self.conds[..usize::from(self.len)]
    }

    /// Whether every condition holds.
    pub fn matches(&self, r: &RequestView<'_>) -> bool {
        self.conds().iter().all(|c| c.matches(r))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn with_req<R>(head: &str, f: impl FnOnce(&RequestView<'_>) -> R) -> R {
        let mut h = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut h);
        assert!(req.parse(head.as_bytes()).unwrap().is_complete());
        let v = RequestView::new(&req).unwrap();
        f(&v)
    }

    #[test]
    fn conditions() {
        let head = "GET /static/img/Logo.PNG?v=3 HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nX-Env: canary\r\n\r\n";
        with_req(head, |r| {
            assert_eq!(
                (r.path, r.host),
                ("/static/img/Logo.PNG", "WWW.Example.com")
            );
            assert!(Cond::Host("www.example.com").matches(r));
            assert!(!Cond::Host("example.com").matches(r));
            assert!(Cond::HostSuffix("example.com").matches(r));
            assert!(!Cond::HostSuffix("ample.com").matches(r));
            assert!(Cond::Path("/static/*.PNG").matches(r));
            assert!(Cond::Path("/st?tic/*").matches(r));
            assert!(!Cond::Path("/static").matches(r));
            assert!(Cond::PathPrefix("/static/").matches(r));
            assert!(Cond::Method("GET").matches(r));
            assert!(!Cond::Method("get").matches(r));
            assert!(Cond::Header("x-env").matches(r));
            assert!(Cond::HeaderEq("x-env", "canary").matches(r));
            assert!(!Cond::HeaderEq("x-env", "prod").matches(r));
            assert!(Cond::Ext("jpg,png").matches(r));
            assert!(!Cond::Ext("jpg,gif").matches(r));
            let mut rule = Rule::new("static");
            rule.push(Cond::HostSuffix("example.com")).unwrap();
            rule.push(Cond::Ext("png")).unwrap();
            assert!(rule.matches(r));
            rule.push(Cond::Method("POST")).unwrap();
            assert!(!rule.matches(r));
            for _ in 3..MAX_CONDS {
                rule.push(Cond::Method("GET")).unwrap();
            }
            assert_eq!(rule.push(Cond::Method("X")), Err(Cond::Method("X")));
        });
        with_req("GET /dir.d/file HTTP/1.1\r\n\r\n", |r| {
            assert_eq!(r.host, "");
            assert!(!Cond::Ext("d").matches(r));
        });
        with_req("GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", |r| {
            assert_eq!(r.host, "[2001:db8::1]")
        });
    }

    #[test]
    fn globbing() {
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("*.js", "/x/y.min.js"));
        assert!(!glob("?", ""));
        assert!(glob("a**", "a"));
    }
}
