//! The listeners' settings (`server:` in the settings file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use qoswatch_core::invalid::Invalid;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on: Zoom's webhooks (the public listener).
    pub listen: SocketAddr,
    /// Address of the admin listener: the status page, the API, metrics and
    /// probes. Loopback by default; protect it with `QOSWATCH_ADMIN_TOKEN`
    /// before opening it wider.
    pub admin_listen: SocketAddr,
    /// Also serve `/metrics`, `/healthz` and `/readyz` on the public
    /// listener, as before the admin listener existed. Deprecated: on for
    /// this release only, then removed.
    pub legacy_public_endpoints: bool,
    /// Largest webhook body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long shutdown waits for requests in progress, watchers and
    /// deliveries to finish; connections still open then are cut.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub shutdown_grace: Duration,
    /// Most client connections served at once; fewer when the open-file
    /// limit leaves less room. At the limit a new connection takes the slot
    /// of one waiting for a request, or is answered 503.
    pub max_connections: usize,
    /// A request head (request line and headers) must arrive in full within
    /// this time, counted from accept or from the previous response.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written for this long, and no
    /// request in progress, is closed.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub idle_timeout: Duration,
    /// HTTPS on the public listener: both files, or neither (plain HTTP,
    /// for a reverse proxy in front).
    pub tls: TlsSettings,
}

/// `server.tls`: a PEM certificate chain (leaf first) and its private key.
/// Reloaded when the files change and on SIGHUP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl TlsSettings {
    /// The certificate and key files, when HTTPS is on.
    pub fn files(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.cert_file.as_ref().zip(self.key_file.as_ref())
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_ADMIN_PORT)),
            legacy_public_endpoints: true,
            max_body_bytes: 256 * 1024,
            shutdown_grace: Duration::from_secs(15),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls: TlsSettings::default(),
        }
    }
}

/// The admin listener's default port (on loopback).
pub const DEFAULT_ADMIN_PORT: u16 = 9180;

impl ServerSettings {
    /// Two listeners apart, limits and timers in range.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.admin_listen == self.listen && self.listen.port() != 0 {
            return Invalid::err(
                "server.admin_listen",
                "must differ from server.listen: the admin listener serves what the internet must not reach",
            );
        }
        if self.max_body_bytes < 1024 {
            return Invalid::err("server.max_body_bytes", "must be at least 1024");
        }
        if self.max_connections == 0 {
            return Invalid::err("server.max_connections", "must be at least 1");
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), None) => {
                return Invalid::err(
                    "server.tls.key_file",
                    "must be set with server.tls.cert_file (HTTPS needs both)",
                );
            }
            (None, Some(_)) => {
                return Invalid::err(
                    "server.tls.cert_file",
                    "must be set with server.tls.key_file (HTTPS needs both)",
                );
            }
            _ => {}
        }
        for (name, timeout) in [
            ("server.header_read_timeout", self.header_read_timeout),
            ("server.idle_timeout", self.idle_timeout),
        ] {
            if timeout.is_zero() {
                return Invalid::err(name, "must be longer than 0s");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_needs_both_files_or_neither() {
        let with = |cert: Option<&str>, key: Option<&str>| ServerSettings {
            tls: TlsSettings {
                cert_file: cert.map(PathBuf::from),
                key_file: key.map(PathBuf::from),
            },
            ..ServerSettings::default()
        };
        assert!(with(None, None).check().is_ok());
        assert!(with(None, None).tls.files().is_none());
        let both = with(Some("a.crt"), Some("a.key"));
        assert!(both.check().is_ok());
        assert_eq!(
            both.tls.files(),
            Some((&PathBuf::from("a.crt"), &PathBuf::from("a.key")))
        );
        assert_eq!(
            with(Some("a.crt"), None).check().expect_err("no key").name,
            "server.tls.key_file"
        );
        assert_eq!(
            with(None, Some("a.key")).check().expect_err("no cert").name,
            "server.tls.cert_file"
        );
    }
}
