//! HTTPS on the public listener: the certificate and key from PEM files
//! (`server.tls`), TLS 1.2 and 1.3 only (what Zoom requires), and the pair
//! swapped in while the server runs when the files change (cert-manager,
//! certbot) or on SIGHUP. A swap changes what the next handshakes present;
//! connections already open keep theirs and are not dropped. A new pair
//! that cannot be used (unreadable, half-written, mismatched) is refused
//! and the one in force stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_util::sync::CancellationToken;

/// How long the watcher waits for a burst of file events to settle (a
/// renewal writes two files, often by rename).
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Why a certificate and key cannot be used. Each message names the
/// setting and the file; none quotes the key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{setting} {path}: cannot read it: {source}")]
    Unreadable {
        setting: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "server.tls.cert_file {path}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----){detail}"
    )]
    NoCertificate { path: String, detail: String },
    #[error(
        "server.tls.key_file {path}: no PEM private key in it (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)"
    )]
    NoKey { path: String },
    #[error("server.tls.key_file {path}: the private key cannot be used: {reason}")]
    BadKey { path: String, reason: String },
    #[error(
        "server.tls.key_file {key} does not belong to the certificate in server.tls.cert_file {cert} (their public keys differ)"
    )]
    Mismatched { cert: String, key: String },
    #[error("server.tls: {0}")]
    Config(String),
    #[error("server.tls: cannot watch {path} for renewed certificates: {source}")]
    Watch {
        path: String,
        #[source]
        source: notify_debouncer_full::notify::Error,
    },
}

/// The pair's files, and the pair in force.
pub(super) struct Certificates {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// SHA-256 over both files' bytes as last read (loaded or refused):
    /// one renewal fires several events, and only a change reloads.
    digest: Mutex<[u8; 32]>,
    reloads: Counter,
    reload_failures: Counter,
    /// notAfter of the leaf in force, Unix seconds (0 when unreadable).
    expiry: Gauge,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The handshake's side of HTTPS: cheap to clone.
#[derive(Clone)]
pub(super) struct Acceptor(pub(super) TlsAcceptor);

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acceptor")
    }
}

/// What [`Certificates::reload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reloaded {
    /// Both files hold what was last read.
    Unchanged,
    /// The new pair is presented from the next handshake on.
    Swapped,
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((cert.len() as u64).to_be_bytes());
    hash.update(cert);
    hash.update(key);
    hash.finalize().into()
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        setting,
        path: path.display().to_string(),
        source,
    })
}

/// The certificate chain and key in the PEM texts `cert` and `key`, checked
/// to belong together.
fn certified_key(
    cert_file: &Path,
    cert: &[u8],
    key_file: &Path,
    key: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain: Result<Vec<CertificateDer<'static>>, _> =
        CertificateDer::pem_slice_iter(cert).collect();
    let chain = match chain {
        Ok(chain) if !chain.is_empty() => chain,
        Ok(_) => {
            return Err(TlsError::NoCertificate {
                path: cert_file.display().to_string(),
                detail: String::new(),
            });
        }
        Err(error) => {
            return Err(TlsError::NoCertificate {
                path: cert_file.display().to_string(),
                detail: format!(": {error}"),
            });
        }
    };
    let private = PrivateKeyDer::from_pem_slice(key).map_err(|_| TlsError::NoKey {
        path: key_file.display().to_string(),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|error| TlsError::BadKey {
            path: key_file.display().to_string(),
            reason: error.to_string(),
        })?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(pair)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatched {
            cert: cert_file.display().to_string(),
            key: key_file.display().to_string(),
        }),
        Err(error) => Err(TlsError::NoCertificate {
            path: cert_file.display().to_string(),
            detail: format!(": {error}"),
        }),
    }
}

impl Certificates {
    /// Reads and checks the pair; registers the reload counters.
    pub(super) fn load(
        cert_file: &Path,
        key_file: &Path,
        registry: &mut Registry,
    ) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cert = read("server.tls.cert_file", cert_file)?;
        let key = read("server.tls.key_file", key_file)?;
        let pair = certified_key(cert_file, &cert, key_file, &key, &provider)?;
        let certificates = Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current: ArcSwap::from_pointee(pair),
            digest: Mutex::new(digest(&cert, &key)),
            reloads: Counter::default(),
            reload_failures: Counter::default(),
            expiry: Gauge::default(),
        };
        certificates.note_expiry();
        registry.register(
            "qoswatch_tls_certificate_reloads",
            "Renewed TLS certificates put in force (file change or SIGHUP)",
            certificates.reloads.clone(),
        );
        registry.register(
            "qoswatch_tls_certificate_reload_failures",
            "Changed TLS certificate files refused (unreadable, half-written or mismatched): the pair in force stayed",
            certificates.reload_failures.clone(),
        );
        registry.register(
            "qoswatch_tls_certificate_expiry_timestamp_seconds",
            "When the certificate in force expires (its notAfter), Unix seconds: alert on it nearing, in case renewals stopped",
            certificates.expiry.clone(),
        );
        Ok(Arc::new(certificates))
    }

    /// Sets the expiry gauge from the leaf in force.
    fn note_expiry(&self) {
        let pair = self.current.load();
        let not_after = pair.cert.first().and_then(|leaf| not_after(leaf));
        self.expiry.set(not_after.unwrap_or(0));
    }

    /// notAfter of the certificate in force, Unix seconds.
    pub(super) fn expires_at(&self) -> Option<i64> {
        Some(self.expiry.get()).filter(|t| *t > 0)
    }

    /// The acceptor: TLS 1.3 and 1.2, HTTP/1.1 by ALPN, this pair (and
    /// whatever replaces it).
    pub(super) fn acceptor(self: &Arc<Self>) -> Result<Acceptor, TlsError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|error| TlsError::Config(error.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Acceptor(TlsAcceptor::from(Arc::new(config))))
    }

    /// Reads both files again; swaps the pair in when they changed and
    /// can be used.
    pub(super) fn reload(&self) -> Result<Reloaded, TlsError> {
        let cert = read("server.tls.cert_file", &self.cert_file)?;
        let key = read("server.tls.key_file", &self.key_file)?;
        let read_now = digest(&cert, &key);
        {
            let mut last = self.digest.lock().unwrap_or_else(|e| e.into_inner());
            if *last == read_now {
                return Ok(Reloaded::Unchanged);
            }
            *last = read_now;
        }
        let pair = certified_key(&self.cert_file, &cert, &self.key_file, &key, &self.provider)?;
        self.current.store(Arc::new(pair));
        self.note_expiry();
        Ok(Reloaded::Swapped)
    }

    /// [`reload`](Self::reload), counted and logged.
    pub(super) fn reload_and_log(&self, trigger: &'static str) {
        match self.reload() {
            Ok(Reloaded::Unchanged) => {}
            Ok(Reloaded::Swapped) => {
                self.reloads.inc();
                tracing::info!(
                    trigger,
                    cert_file = %self.cert_file.display(),
                    expires = %expiry_text(self.expires_at()),
                    "TLS certificate reloaded: new connections get the new one"
                );
            }
            Err(error) => {
                self.reload_failures.inc();
                tracing::warn!(
                    trigger,
                    %error,
                    "TLS certificate not reloaded: the one in force stays (a renewal half-written is \
                     taken when its second file lands)"
                );
            }
        }
    }

    /// Watches the directories of both files. Every event there reloads
    /// (the content hash makes most a no-op): Kubernetes swaps a `..data`
    /// symlink and certbot a `live/` symlink, and neither event names the
    /// file. Editors and renewals save by rename, which blinds a watch on
    /// the file itself.
    pub(super) fn watch(self: &Arc<Self>) -> Result<Watch, TlsError> {
        let (changed_tx, changed_rx) = tokio::sync::mpsc::channel::<()>(1);
        let mut debouncer =
            new_debouncer(
                DEBOUNCE,
                None,
                move |result: DebounceEventResult| match result {
                    Ok(events) if !events.is_empty() => {
                        let _ = changed_tx.try_send(());
                    }
                    Ok(_) => {}
                    Err(errors) => {
                        for error in errors {
                            tracing::warn!(%error, "TLS certificate watcher error");
                        }
                    }
                },
            )
            .map_err(|source| TlsError::Watch {
                path: self.cert_file.display().to_string(),
                source,
            })?;
        let mut directories: Vec<PathBuf> = [&self.cert_file, &self.key_file]
            .iter()
            .map(|file| parent(file))
            .collect();
        directories.dedup();
        for directory in directories {
            debouncer
                .watch(&directory, RecursiveMode::NonRecursive)
                .map_err(|source| TlsError::Watch {
                    path: directory.display().to_string(),
                    source,
                })?;
        }
        Ok(Watch {
            certificates: self.clone(),
            debouncer,
            changed: changed_rx,
        })
    }
}

/// notAfter of a DER certificate, Unix seconds.
fn not_after(leaf: &CertificateDer<'_>) -> Option<i64> {
    let (_, certificate) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    Some(certificate.validity().not_after.timestamp())
}

/// An expiry for a log line: RFC 3339, or "unknown".
pub(super) fn expiry_text(at: Option<i64>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map_or_else(|| "unknown".to_owned(), |t| t.to_rfc3339())
}

fn parent(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The watch on the files, not yet running.
pub(super) struct Watch {
    certificates: Arc<Certificates>,
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    changed: tokio::sync::mpsc::Receiver<()>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("certificates", &self.certificates)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// Reloads on file changes and on SIGHUP until `shutdown`.
    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        // The debouncer stops watching when dropped: it lives here.
        let _debouncer = self.debouncer;
        let mut hangup = hangups();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = self.changed.recv() => {
                    if changed.is_none() {
                        return;
                    }
                    self.certificates.reload_and_log("file change");
                }
                () = next_hangup(&mut hangup) => self.certificates.reload_and_log("SIGHUP"),
            }
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

/// SIGHUP, which also reloads the rules file: one signal reloads both.
fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(stream) => Some(stream),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP: TLS certificates reload on file changes only");
                None
            }
        }
    }
}

async fn next_hangup(hangups: &mut Hangups) {
    #[cfg(unix)]
    if let Some(stream) = hangups
        && stream.recv().await.is_some()
    {
        return;
    }
    let _ = hangups;
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    fn files(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
        let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&cert_file, cert).expect("cert");
        std::fs::write(&key_file, key).expect("key");
        (cert_file, key_file)
    }

    fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<Certificates>, TlsError> {
        Certificates::load(cert_file, key_file, &mut Registry::default())
    }

    #[test]
    fn start_errors_name_the_setting_and_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair("localhost");
        let (_, other_key) = pair("localhost");
        let (cert_file, key_file) = files(dir.path(), &cert, &key);
        assert!(load(&cert_file, &key_file).is_ok());

        let missing = dir.path().join("absent.crt");
        let error = load(&missing, &key_file).expect_err("missing").to_string();
        assert!(
            error.starts_with("server.tls.cert_file ")
                && error.contains("absent.crt: cannot read it"),
            "{error}"
        );
        let error = load(&cert_file, &missing).expect_err("missing").to_string();
        assert!(error.starts_with("server.tls.key_file "), "{error}");

        // The files swapped: no certificate in the key file, no key in the certificate's.
        let error = load(&key_file, &key_file).expect_err("a key").to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
        let error = load(&cert_file, &cert_file)
            .expect_err("a cert")
            .to_string();
        assert!(error.contains("tls.crt: no PEM private key"), "{error}");

        let mismatched = dir.path().join("other.key");
        std::fs::write(&mismatched, &other_key).expect("key");
        let error = load(&cert_file, &mismatched)
            .expect_err("mismatch")
            .to_string();
        assert!(
            error.contains("other.key does not belong to the certificate")
                && error.contains("tls.crt"),
            "{error}"
        );
        assert!(
            !error.contains("PRIVATE KEY-----"),
            "no key material: {error}"
        );
    }

    #[test]
    fn the_expiry_gauge_follows_the_certificate_in_force() {
        let dir = tempfile::tempdir().expect("dir");
        let issue = |year| {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut params =
                rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
            params.not_after = rcgen::date_time_ymd(year, 3, 4);
            let cert = params.self_signed(&key).expect("certificate");
            (cert.pem(), key.serialize_pem())
        };
        let unix = |year| {
            chrono::NaiveDate::from_ymd_opt(year, 3, 4)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .expect("date")
                .and_utc()
                .timestamp()
        };
        let (cert, key) = issue(2031);
        let (cert_file, key_file) = files(dir.path(), &cert, &key);
        let certificates = load(&cert_file, &key_file).expect("loads");
        assert_eq!(certificates.expiry.get(), unix(2031));
        assert_eq!(
            expiry_text(certificates.expires_at()),
            "2031-03-04T00:00:00+00:00"
        );
        let (cert, key) = issue(2032);
        files(dir.path(), &cert, &key);
        assert_eq!(certificates.reload().expect("renewed"), Reloaded::Swapped);
        assert_eq!(certificates.expiry.get(), unix(2032));
    }

    #[test]
    fn a_reload_swaps_a_changed_pair_and_keeps_the_current_one_when_the_new_is_unusable() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key) = pair("localhost");
        let (cert_file, key_file) = files(dir.path(), &cert, &key);
        let certificates = load(&cert_file, &key_file).expect("loads");
        let first = certificates.current.load_full();
        assert_eq!(certificates.reload().expect("same"), Reloaded::Unchanged);

        // Half a renewal: the new certificate, the old key.
        let (new_cert, new_key) = pair("localhost");
        std::fs::write(&cert_file, &new_cert).expect("cert");
        assert!(matches!(
            certificates.reload(),
            Err(TlsError::Mismatched { .. })
        ));
        assert!(Arc::ptr_eq(&first, &certificates.current.load_full()));
        // The second half lands.
        std::fs::write(&key_file, &new_key).expect("key");
        assert_eq!(certificates.reload().expect("renewed"), Reloaded::Swapped);
        let now = certificates.current.load_full();
        assert_ne!(now.cert[0], first.cert[0]);
        let expected: Vec<_> = CertificateDer::pem_slice_iter(new_cert.as_bytes())
            .collect::<Result<_, _>>()
            .expect("pem");
        assert_eq!(now.cert, expected);
        assert_eq!(certificates.reload().expect("same"), Reloaded::Unchanged);
    }
}
