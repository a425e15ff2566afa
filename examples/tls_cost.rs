//! What HTTPS costs the server per webhook (issue 28): two `qoswatch serve`
//! processes of the binary given by `--bin`, one plain HTTP, one with
//! `server.tls` (a CA and certificate made here with rcgen, ECDSA P-256),
//! each sent the same signed `endpoint.url_validation` webhooks over
//! `--connections` keep-alive connections (one TLS handshake per
//! connection, then requests); the server's CPU (utime + stime of
//! `/proc/PID/stat`) divided by the requests. Rounds alternate between the
//! two so that the machine's load falls on both.
//!
//! ```sh
//! cargo build --release --bin qoswatch
//! cargo run --example tls_cost -- --bin target/release/qoswatch --requests 20000 --rounds 3
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use qoswatch_testkit::webhook::{now_unix, signature};
use qoswatch_testkit::{Process, Spawn, zoom_env};
use qoswatch_zoomsim::{SimConfig, Simulator};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

const SECRET: &str = "tls-cost-example-webhook-secret";

#[derive(Debug, Parser)]
#[command(about = "Server CPU per webhook over HTTPS and plain HTTP (loopback only)")]
struct Args {
    /// The qoswatch binary to measure.
    #[arg(long, default_value = "target/release/qoswatch")]
    bin: std::path::PathBuf,
    /// Webhooks per round and server.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Keep-alive connections the requests are spread over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Rounds (each measures both servers).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// One signed webhook as bytes, and its body's length for the answer.
fn request() -> Vec<u8> {
    let body =
        r#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
    let timestamp = now_unix().to_string();
    format!(
        "POST /webhooks/zoom HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         x-zm-signature: {}\r\nx-zm-request-timestamp: {timestamp}\r\ncontent-length: {}\r\n\r\n{body}",
        signature(SECRET, &timestamp, body.as_bytes()),
        body.len()
    )
    .into_bytes()
}

/// Sends `count` requests one after the other on `stream`, reading each
/// answer (status line checked, body by its content-length).
async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    count: usize,
    request: &[u8],
) -> anyhow::Result<()> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    for _ in 0..count {
        stream.write_all(request).await?;
        buffer.clear();
        loop {
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                bail!("closed mid-answer");
            }
            buffer.extend_from_slice(&chunk[..read]);
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buffer[..end])?;
                if !head.starts_with("HTTP/1.1 200") {
                    bail!("answered {head}");
                }
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .context("content-length")?
                    .trim()
                    .parse()?;
                if buffer.len() >= end + 4 + length {
                    break;
                }
            }
        }
    }
    Ok(())
}

struct Server {
    process: Process,
    address: std::net::SocketAddr,
    tls: Option<TlsConnector>,
}

impl Server {
    /// The server's CPU per request over one round, and the requests per
    /// second the clients saw.
    async fn round(&self, args: &Args) -> anyhow::Result<(Duration, f64)> {
        let request = Arc::new(request());
        let per_connection = args.requests / args.connections;
        let before = self.process.cpu_time();
        let started = Instant::now();
        let mut clients = tokio::task::JoinSet::new();
        for _ in 0..args.connections {
            let tcp = TcpStream::connect(self.address).await?;
            tcp.set_nodelay(true)?;
            let request = request.clone();
            match &self.tls {
                Some(connector) => {
                    let name = ServerName::try_from("localhost")?;
                    let stream = connector.connect(name, tcp).await?;
                    clients.spawn(async move { send(stream, per_connection, &request).await });
                }
                None => {
                    clients.spawn(async move { send(tcp, per_connection, &request).await });
                }
            }
        }
        while let Some(done) = clients.join_next().await {
            done??;
        }
        let took = started.elapsed();
        let cpu = self.process.cpu_time() - before;
        let sent = per_connection * args.connections;
        Ok((cpu / sent as u32, sent as f64 / took.as_secs_f64()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = Simulator::start(SimConfig::default(), "127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &ca)?;
    let (cert_file, key_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_file, format!("{}{}", leaf.pem(), ca.pem()))?;
    std::fs::write(&key_file, key.serialize_pem())?;
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone())?;
    let client = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client));

    let start = |tls: bool| {
        let mut spawn = Spawn::serve(&args.bin, &zoom_env(&sim, SECRET))
            .free_ports()
            .env("QOSWATCH_DATA_DIR", "")
            .env("QOSWATCH_LOG_FILTER", "warn,qoswatch=info");
        if tls {
            spawn = spawn
                .env("QOSWATCH_TLS_CERT_FILE", cert_file.display().to_string())
                .env("QOSWATCH_TLS_KEY_FILE", key_file.display().to_string());
        }
        spawn.start()
    };
    let plain = start(false);
    let https = start(true);
    let servers = [
        (
            "plain HTTP",
            Server {
                address: plain.address().await,
                process: plain,
                tls: None,
            },
        ),
        (
            "HTTPS (TLS 1.3)",
            Server {
                address: https.address().await,
                process: https,
                tls: Some(connector),
            },
        ),
    ];
    println!(
        "{} requests per round over {} keep-alive connections, {} rounds; binary {}",
        args.requests,
        args.connections,
        args.rounds,
        args.bin.display()
    );
    // A warm-up round each, not counted.
    for (_, server) in &servers {
        server.round(&args).await?;
    }
    let mut cpu: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=args.rounds {
        for (index, (name, server)) in servers.iter().enumerate() {
            let (per_request, rate) = server.round(&args).await?;
            println!(
                "round {round}  {name:<16} {:>7.1} µs CPU per request  {rate:>8.0} req/s",
                per_request.as_secs_f64() * 1e6
            );
            cpu[index].push(per_request);
        }
    }
    let median = |values: &mut Vec<Duration>| {
        values.sort();
        values[values.len() / 2]
    };
    let (plain_cpu, tls_cpu) = (median(&mut cpu[0]), median(&mut cpu[1]));
    println!(
        "median CPU per request: plain {:.1} µs, HTTPS {:.1} µs, ratio {:.2}",
        plain_cpu.as_secs_f64() * 1e6,
        tls_cpu.as_secs_f64() * 1e6,
        tls_cpu.as_secs_f64() / plain_cpu.as_secs_f64()
    );
    sim.shutdown().await;
    Ok(())
}
