//! Passwords checked by an LDAP directory (`--ldap URL --ldap-user-dn TEMPLATE --ldap-ca FILE`):
//! a user the registry marks `ldap` ([`crate::users`]) logs in when a simple bind (RFC 4513
//! §5.1.3) as their DN with the given password succeeds.
//!
//! Only over TLS: `ldaps://` (TLS from the first byte) or `ldap://` upgraded by StartTLS
//! (RFC 4511 §4.14) before the bind; the directory's certificate must chain to the CA file.
//! An empty password is refused without asking the directory (a simple bind with one is an
//! "unauthenticated bind" that servers answer with success). The login name has already passed
//! [`crate::registry::valid_name`] (`A-Z a-z 0-9 . _ -`), so it cannot change the DN's structure.

use crate::registry::valid_name;
use ldap3::{LdapConn, LdapConnSettings};
use std::sync::Arc;
use std::time::Duration;

/// LDAP result code `invalidCredentials` (RFC 4511 §4.1.9).
const INVALID_CREDENTIALS: u32 = 49;

/// The directory users are checked against.
#[derive(Clone)]
pub struct Ldap {
    url: String,
    starttls: bool,
    user_dn: String,
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
}

impl std::fmt::Debug for Ldap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ldap")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("user_dn", &self.user_dn)
            .finish_non_exhaustive()
    }
}

impl Ldap {
    /// The directory at `url`, users' DNs from `user_dn` (`{user}` replaced), the server's
    /// certificate checked against the PEM CA file `ca`.
    ///
    /// # Errors
    /// A URL that is not `ldaps://` or `ldap://`, a template without `{user}`, a bad CA file.
    pub fn new(url: &str, user_dn: &str, ca: &str) -> Result<Ldap, String> {
        let starttls = if url.starts_with("ldaps://") {
            false
        } else if url.starts_with("ldap://") {
            true
        } else {
            return Err(format!(
                "--ldap {url:?}: expected ldaps://HOST:PORT or ldap://HOST:PORT"
            ));
        };
        if !user_dn.contains("{user}") {
            return Err("--ldap-user-dn: the template needs {user}".into());
        }
        let tls = crate::tls_probe::TlsSettings::new(None, Some(ca.to_string()))
            .map_err(|e| format!("--ldap-ca: {e}"))?;
        Ok(Ldap {
            url: url.to_string(),
            starttls,
            user_dn: user_dn.to_string(),
            config: tls.client_config(),
            timeout: Duration::from_secs(3),
        })
    }

    /// What [`Ldap::new`] was given, for the log.
    pub fn describe(&self) -> String {
        format!(
            "LDAP logins by simple bind to {}{} as {}",
            self.url,
            if self.starttls { " (StartTLS)" } else { "" },
            self.user_dn
        )
    }

    /// Whether `user` may bind with `password`: `Ok(false)` for wrong credentials.
    ///
    /// # Errors
    /// The directory could not be reached, TLS failed, or it answered anything but success or
    /// invalid credentials.
    pub fn check(&self, user: &str, password: &str) -> Result<bool, String> {
        if password.is_empty() || !valid_name(user) {
            return Ok(false);
        }
        let dn = self.user_dn.replace("{user}", user);
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls)
            .set_config(self.config.clone());
        let mut conn =
            LdapConn::with_settings(settings, &self.url).map_err(|e| format!("connect: {e}"))?;
        let r = conn
            .with_timeout(self.timeout)
            .simple_bind(&dn, password)
            .map_err(|e| format!("bind: {e}"));
        let _ = conn.unbind();
        match r?.rc {
            0 => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            rc => Err(format!("bind: result code {rc}")),
        }
    }
}

/// `lvsd ldap-check URL USER_DN_TEMPLATE CA USER < PASSWORD`: one bind as lvsd's login would
/// do it, to check `--ldap` settings; `Ok(true)` when the directory accepts the password.
///
/// # Errors
/// Usage, bad settings, or the directory could not be asked.
pub fn cli(args: &[String]) -> Result<bool, String> {
    let [url, dn, ca, user] = args else {
        return Err("usage: lvsd ldap-check URL USER_DN_TEMPLATE CA_FILE USER < password".into());
    };
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ldap::new(url, dn, ca)?.check(user, line.trim_end_matches(['\r', '\n']))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn only_tls_urls_and_templates_with_a_user() {
        let dir = std::env::temp_dir().join(format!("lvs-ldap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["ca".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(&ca, cert.pem()).unwrap();
        let ca = ca.to_str().unwrap();
        let dn = "uid={user},ou=people,dc=lvs,dc=test";
        assert!(Ldap::new("ldaps://127.0.0.1:636", dn, ca).is_ok());
        assert!(Ldap::new("ldap://127.0.0.1:389", dn, ca).unwrap().starttls);
        assert!(Ldap::new("http://127.0.0.1", dn, ca).is_err());
        assert!(Ldap::new("ldaps://127.0.0.1", "uid=x", ca).is_err());
        // nothing is sent for an empty password or a name that could reshape the DN
        let l = Ldap::new("ldaps://127.0.0.1:1", dn, ca).unwrap();
        assert_eq!(l.check("ann", ""), Ok(false));
        assert_eq!(l.check("a,ou=admins", "pw"), Ok(false));
        assert!(l.check("ann", "pw").is_err(), "nothing listens on port 1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
