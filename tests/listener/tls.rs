//! HTTPS on the public listener (issue 28): a CA and certificates made
//! here, clients that verify the chain, TLS versions refused by an
//! independent client (`openssl s_client`), a renewal while connections
//! stay open, and the listener's limits over TLS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use qoswatch_testkit::webhook::{now_unix, signature};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, ProtocolVersion, RootCertStore};

use super::qoswatch::{Qoswatch, SECRET};
use super::run;
use crate::attack::{Behaviour, Crowd};

/// A test CA, and the files the server reads its certificate from.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "qoswatch test CA");
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        let pki = Pki {
            ca,
            dir: tempfile::tempdir().expect("dir"),
        };
        let (cert, key, _) = pki.issue();
        pki.install(&cert, &key);
        pki
    }

    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("tls.key")
    }

    /// Lines under `server:` that turn HTTPS on with these files.
    pub fn server_yaml(&self) -> String {
        format!(
            "  tls:\n    cert_file: {}\n    key_file: {}\n",
            self.cert_file().display(),
            self.key_file().display()
        )
    }

    /// A new leaf for `localhost`, signed by the CA: the chain's PEM (leaf,
    /// then CA), the key's PEM, the leaf.
    pub fn issue(&self) -> (String, String, CertificateDer<'static>) {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let leaf = params.signed_by(&key, &self.ca).expect("leaf");
        let chain = format!("{}{}", leaf.pem(), self.ca.pem());
        (chain, key.serialize_pem(), leaf.der().clone())
    }

    /// Writes both files as renewals do: each written aside, then renamed
    /// over the old one.
    pub fn install(&self, cert: &str, key: &str) {
        for (path, text) in [(self.cert_file(), cert), (self.key_file(), key)] {
            let aside = path.with_extension("new");
            std::fs::write(&aside, text).expect("written");
            std::fs::rename(&aside, &path).expect("renamed");
        }
    }

    /// Trusts this CA only.
    pub fn connector(&self, version: &'static rustls::SupportedProtocolVersion) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("CA added");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

pub async fn tls_connect(
    connector: &TlsConnector,
    address: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await
}

/// A signed URL validation on `stream` (keep-alive); the answer's status
/// line and body.
pub async fn signed_validation(stream: &mut TlsStream<TcpStream>) -> (String, String) {
    let body =
        r#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
    let timestamp = now_unix().to_string();
    let request = format!(
        "POST /webhooks/zoom HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         x-zm-signature: {}\r\nx-zm-request-timestamp: {timestamp}\r\ncontent-length: {}\r\n\r\n{body}",
        signature(SECRET, &timestamp, body.as_bytes()),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("sent");
    read_response(stream).await
}

/// One HTTP/1.1 response with a `content-length`.
async fn read_response(stream: &mut TlsStream<TcpStream>) -> (String, String) {
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                let status = text.lines().next().unwrap_or_default().to_owned();
                return (status, text[end + 4..end + 4 + length].to_owned());
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert!(read > 0, "closed before the answer: {text:?}");
        received.extend_from_slice(&buffer[..read]);
    }
}

fn leaf_of(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    let (_, connection) = stream.get_ref();
    connection.peer_certificates().expect("certificates")[0].clone()
}

async fn start(pki: &Pki, more: &str) -> Qoswatch {
    Qoswatch::start(&format!("{}{more}", pki.server_yaml()), "", &[]).await
}

#[test]
fn a_client_verifying_the_chain_gets_200_over_tls_1_2_and_1_3() {
    run(async {
        let pki = Pki::new();
        let server = start(&pki, "").await;
        for (version, expected) in [
            (&rustls::version::TLS12, ProtocolVersion::TLSv1_2),
            (&rustls::version::TLS13, ProtocolVersion::TLSv1_3),
        ] {
            let mut stream = tls_connect(&pki.connector(version), server.address)
                .await
                .unwrap_or_else(|e| panic!("{expected:?} handshake: {e}\n{}", server.logs()));
            let (_, connection) = stream.get_ref();
            assert_eq!(connection.protocol_version(), Some(expected));
            assert_eq!(connection.alpn_protocol(), Some(&b"http/1.1"[..]));
            // Twice on one connection: keep-alive over TLS.
            for _ in 0..2 {
                let (status, body) = signed_validation(&mut stream).await;
                assert_eq!(status, "HTTP/1.1 200 OK", "{expected:?}: {body}");
                assert!(body.contains("encryptedToken"), "{body}");
            }
        }
    });
}

/// `openssl s_client` offering only `flag`'s version, with OpenSSL's own
/// floor lowered so that the refusal is the server's: its output.
fn openssl_only(address: SocketAddr, flag: &str) -> (bool, String) {
    let output = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &address.to_string(), flag])
        .args(["-cipher", "DEFAULT@SECLEVEL=0", "-servername", "localhost"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs (.ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn tls_1_0_and_1_1_and_plain_http_are_refused() {
    run(async {
        let pki = Pki::new();
        let server = start(&pki, "").await;
        let address = server.address;
        // The same client, allowed TLS 1.2, is served: the refusals below are the server's.
        let (ok, text) = tokio::task::spawn_blocking(move || openssl_only(address, "-tls1_2"))
            .await
            .expect("openssl");
        assert!(ok && text.contains("Protocol  : TLSv1.2"), "{text}");
        for flag in ["-tls1", "-tls1_1"] {
            let (ok, text) = tokio::task::spawn_blocking(move || openssl_only(address, flag))
                .await
                .expect("openssl");
            assert!(!ok, "{flag} was accepted:\n{text}");
            // The server answers with an alert (rustls: handshake_failure,
            // no suite of TLS 1.0/1.1 is one it speaks) and no session.
            assert!(
                text.contains("SSL alert number") && text.contains("Cipher is (NONE)"),
                "{flag}: an alert from the server expected:\n{text}"
            );
        }
        // Plain HTTP: no HTTP answer, the connection closed.
        let mut plain = TcpStream::connect(address).await.expect("connects");
        plain
            .write_all(b"GET /webhooks/zoom HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .expect("sent");
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut received))
            .await
            .expect("closed within 5 s")
            .ok();
        assert!(
            !received.starts_with(b"HTTP/"),
            "{:?}",
            String::from_utf8_lossy(&received)
        );
        let failures = server
            .admin_metric("qoswatch_http_tls_handshake_failures_total")
            .await;
        assert!(failures >= 3.0, "{failures}\n{}", server.logs());
        assert_eq!(
            server.log_count("TLS handshakes failed"),
            1,
            "{}",
            server.logs()
        );
    });
}

#[test]
fn a_renewed_certificate_is_served_and_open_connections_stay() {
    run(async {
        let pki = Pki::new();
        let server = start(&pki, "").await;
        let connector = pki.connector(&rustls::version::TLS13);
        let mut before = tls_connect(&connector, server.address).await.expect("TLS");
        let old_leaf = leaf_of(&before);
        assert_eq!(signed_validation(&mut before).await.0, "HTTP/1.1 200 OK");

        let (cert, key, new_leaf) = pki.issue();
        assert_ne!(new_leaf, old_leaf);
        pki.install(&cert, &key);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut stream = tls_connect(&connector, server.address).await.expect("TLS");
            if leaf_of(&stream) == new_leaf {
                assert_eq!(signed_validation(&mut stream).await.0, "HTTP/1.1 200 OK");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the renewed certificate was not served:\n{}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The connection opened before the renewal still works.
        assert_eq!(signed_validation(&mut before).await.0, "HTTP/1.1 200 OK");
        assert_eq!(
            server
                .admin_metric("qoswatch_tls_certificate_reloads_total")
                .await,
            1.0
        );
        // A half-written renewal (a key that is not the certificate's) is
        // refused, and the pair in force stays.
        let (_, other_key, _) = pki.issue();
        std::fs::write(pki.key_file(), other_key).expect("written");
        assert!(
            server
                .log_line("TLS certificate not reloaded", Duration::from_secs(10))
                .await
                .is_some(),
            "{}",
            server.logs()
        );
        let mut after = tls_connect(&connector, server.address).await.expect("TLS");
        assert_eq!(leaf_of(&after), new_leaf);
        assert_eq!(signed_validation(&mut after).await.0, "HTTP/1.1 200 OK");
    });
}

/// Files behind symlinks into another directory, rewritten in place: no
/// event reaches the watched directory, and SIGHUP is how the operator
/// says "reload".
#[test]
fn sighup_reloads_a_certificate_the_file_watch_cannot_see() {
    run(async {
        let pki = Pki::new();
        let archive = pki.dir.path().join("archive");
        let live = pki.dir.path().join("live");
        std::fs::create_dir_all(&archive).expect("dir");
        std::fs::create_dir_all(&live).expect("dir");
        let (cert, key, first) = pki.issue();
        std::fs::write(archive.join("cert.pem"), &cert).expect("written");
        std::fs::write(archive.join("key.pem"), &key).expect("written");
        std::os::unix::fs::symlink(archive.join("cert.pem"), live.join("cert.pem")).expect("link");
        std::os::unix::fs::symlink(archive.join("key.pem"), live.join("key.pem")).expect("link");
        let yaml = format!(
            "  tls:\n    cert_file: {}\n    key_file: {}\n",
            live.join("cert.pem").display(),
            live.join("key.pem").display()
        );
        let server = Qoswatch::start(&yaml, "", &[]).await;
        let connector = pki.connector(&rustls::version::TLS13);
        let leaf = |server: &Qoswatch| {
            let connector = connector.clone();
            let address = server.address;
            async move { leaf_of(&tls_connect(&connector, address).await.expect("TLS")) }
        };
        assert_eq!(leaf(&server).await, first);

        let (cert, key, second) = pki.issue();
        std::fs::write(archive.join("key.pem"), &key).expect("written");
        std::fs::write(archive.join("cert.pem"), &cert).expect("written");
        server.signal("-HUP");
        assert!(
            server
                .log_line("TLS certificate reloaded", Duration::from_secs(10))
                .await
                .is_some_and(|line| line["trigger"] == "SIGHUP"),
            "{}",
            server.logs()
        );
        assert_eq!(leaf(&server).await, second);
        let mut stream = tls_connect(&connector, server.address).await.expect("TLS");
        assert_eq!(signed_validation(&mut stream).await.0, "HTTP/1.1 200 OK");
    });
}

#[test]
fn a_missing_or_mismatched_pair_stops_the_start_naming_the_file() {
    run(async {
        let pki = Pki::new();
        let (_, other_key, _) = pki.issue();
        let mismatched = pki.dir.path().join("other.key");
        std::fs::write(&mismatched, other_key).expect("written");
        for (cert, key, expected) in [
            (
                pki.dir.path().join("absent.crt"),
                pki.key_file(),
                "server.tls.cert_file",
            ),
            (
                pki.cert_file(),
                mismatched.clone(),
                "other.key does not belong",
            ),
        ] {
            let (status, logs) = qoswatch_fails(&cert, &key).await;
            assert!(!status.success());
            assert!(logs.contains(expected), "{expected}:\n{logs}");
            assert!(!logs.contains("PRIVATE KEY-----"), "{logs}");
        }
    });
}

async fn qoswatch_fails(cert: &Path, key: &Path) -> (std::process::ExitStatus, String) {
    let mut process = qoswatch_testkit::Spawn::new(env!("CARGO_BIN_EXE_qoswatch"))
        .arg("serve")
        .free_ports()
        .env("QOSWATCH_DATA_DIR", "")
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "s")
        .env("ZOOM_ACCOUNT_ID", "a")
        .env("ZOOM_CLIENT_ID", "c")
        .env("ZOOM_CLIENT_SECRET", "s")
        .env("QOSWATCH_TLS_CERT_FILE", cert.display().to_string())
        .env("QOSWATCH_TLS_KEY_FILE", key.display().to_string())
        .start();
    let status = process
        .exit_within(Duration::from_secs(20))
        .await
        .expect("exits");
    (status, process.final_logs())
}

#[test]
fn a_handshake_that_never_ends_is_cut_at_the_header_timeout_and_holds_no_slot() {
    run(async {
        let pki = Pki::new();
        let server = start(&pki, "  header_read_timeout: 2s\n  max_connections: 40\n").await;
        // A TLS record header promising a ClientHello that never comes.
        let stall = Behaviour::Stall {
            first: b"\x16\x03\x01\x02\x00\x01",
        };
        let mut crowd = Crowd::open(server.address, 30, stall).await;
        // Over TLS, while they stall: served.
        let connector = pki.connector(&rustls::version::TLS13);
        let mut stream = tls_connect(&connector, server.address).await.expect("TLS");
        assert_eq!(signed_validation(&mut stream).await.0, "HTTP/1.1 200 OK");
        drop(stream);
        assert_eq!(crowd.wait_closed(30, Duration::from_secs(10)).await, 30);
        for closed in &crowd.seen {
            assert!(
                closed.after >= Duration::from_millis(1900)
                    && closed.after < Duration::from_secs(4),
                "connection {} closed {:?} after it opened, not at the 2 s timeout",
                closed.index,
                closed.after
            );
        }
        let timed_out = server
            .admin_metric("qoswatch_http_connections_timed_out_total{phase=\"handshake\"}")
            .await;
        assert!(timed_out >= 30.0, "{timed_out}");
        assert_eq!(server.log_count("no complete TLS handshake"), 1);
        // Their slots are free again.
        let open = server.admin_metric("qoswatch_http_connections_open").await;
        assert!(open <= 1.0, "{open}");

        // More stalled handshakes than slots: the oldest give way, and a
        // client that completes its handshake is served at once.
        let mut flood = Crowd::open(
            server.address,
            100,
            Behaviour::Stall {
                first: b"\x16\x03\x01\x02\x00\x01",
            },
        )
        .await;
        assert!(flood.wait_closed(60, Duration::from_secs(5)).await >= 60);
        let started = Instant::now();
        let mut stream = tls_connect(&connector, server.address).await.expect("TLS");
        assert_eq!(signed_validation(&mut stream).await.0, "HTTP/1.1 200 OK");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(
            server
                .admin_metric("qoswatch_http_connections_evicted_total")
                .await
                >= 60.0
        );
    });
}

#[test]
fn a_slowloris_over_tls_is_cut_at_the_header_timeout() {
    run(async {
        let pki = Pki::new();
        let server = start(&pki, "  header_read_timeout: 2s\n").await;
        let connector = pki.connector(&rustls::version::TLS12);
        let mut slow = Vec::new();
        for _ in 0..20 {
            let mut stream = tls_connect(&connector, server.address).await.expect("TLS");
            stream
                .write_all(b"POST /webhooks/zoom HTTP/1.1\r\n")
                .await
                .expect("sent");
            slow.push(stream);
        }
        let opened = Instant::now();
        // One header line every 400 ms, until the server closes.
        let mut closed_after = Vec::new();
        let mut tick = 0;
        while !slow.is_empty() && opened.elapsed() < Duration::from_secs(8) {
            tokio::time::sleep(Duration::from_millis(400)).await;
            tick += 1;
            let line = format!("x-slow-{tick}: 1\r\n");
            let mut open = Vec::new();
            for mut stream in slow.drain(..) {
                let written = stream.write_all(line.as_bytes()).await;
                let mut byte = [0u8; 1];
                let ended =
                    match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte))
                        .await
                    {
                        Ok(Ok(0)) | Ok(Err(_)) => true,
                        _ => written.is_err(),
                    };
                if ended {
                    closed_after.push(opened.elapsed());
                } else {
                    open.push(stream);
                }
            }
            slow = open;
        }
        assert!(
            slow.is_empty(),
            "{} slowloris connections still open",
            slow.len()
        );
        for after in &closed_after {
            assert!(
                *after >= Duration::from_millis(1500) && *after < Duration::from_secs(4),
                "closed {after:?} after the head began, not at the 2 s timeout"
            );
        }
        let timed_out = server
            .admin_metric("qoswatch_http_connections_timed_out_total{phase=\"header\"}")
            .await;
        assert!(timed_out >= 20.0, "{timed_out}");
    });
}
