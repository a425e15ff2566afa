//! The listener on a loopback port with a small router, attacked through
//! raw sockets. Real time, small timeouts; every wait polls a condition
//! under a deadline.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

struct Running {
    address: SocketAddr,
    registry: Registry,
    shutdown: CancellationToken,
    server: JoinHandle<Draining>,
}

fn router() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/big", get(|| async { vec![b'x'; 32 * 1024 * 1024] }))
}

async fn start(tweak: impl FnOnce(&mut ServerSettings)) -> Running {
    let mut settings = ServerSettings {
        listen: "127.0.0.1:0".parse().expect("address"),
        ..ServerSettings::default()
    };
    tweak(&mut settings);
    let mut registry = Registry::default();
    let listener = Listener::bind(&settings, &mut registry)
        .await
        .expect("binds");
    let address = listener.address();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(listener.serve(router(), shutdown.clone()));
    Running {
        address,
        registry,
        shutdown,
        server,
    }
}

impl Running {
    fn metric(&self, series: &str) -> f64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("encodes");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address).await.expect("connects")
    }
}

async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}

/// Reads until the server closes; `None` if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| received)
}

/// One response off a keep-alive connection (they are small here).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf))
        .await
        .expect("answered in time")
        .expect("reads");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_open_file_limit_lowers_the_connection_limit() {
    assert_eq!(connection_limit(1024, None), 1024);
    assert_eq!(connection_limit(1024, Some(1_048_576)), 1024);
    assert_eq!(connection_limit(1024, Some(1024)), 1024 - 128);
    // A small limit keeps half for the rest.
    assert_eq!(connection_limit(1024, Some(100)), 50);
    assert_eq!(connection_limit(1024, Some(1)), 1);
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let server = start(|_| {}).await;
    let mut stream = server.connect().await;
    for _ in 0..3 {
        stream
            .write_all(b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .expect("writes");
        let response = read_response(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok"), "{response}");
    }
    assert_eq!(
        server.metric("qoswatch_http_connections_accepted_total"),
        1.0
    );
}

#[tokio::test]
async fn a_head_not_complete_in_time_closes_the_connection() {
    let server = start(|s| s.header_read_timeout = Duration::from_millis(300)).await;
    let mut bare = server.connect().await;
    let mut slow = server.connect().await;
    let started = Instant::now();
    slow.write_all(b"GET /ok HTTP/1.1\r\n")
        .await
        .expect("writes");
    assert!(
        closed_within(&mut bare, Duration::from_secs(3))
            .await
            .is_some()
    );
    assert!(
        closed_within(&mut slow, Duration::from_secs(3))
            .await
            .is_some()
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
    assert!(
        eventually(Duration::from_secs(2), || {
            server.metric("qoswatch_http_connections_timed_out_total{phase=\"header\"}") == 2.0
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(2), || server
            .metric("qoswatch_http_connections_open")
            == 0.0)
        .await
    );
}

#[tokio::test]
async fn a_keep_alive_connection_between_requests_is_closed_by_the_header_timer() {
    let server = start(|s| s.header_read_timeout = Duration::from_millis(300)).await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .expect("writes");
    assert!(read_response(&mut stream).await.starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3))
            .await
            .is_some()
    );
    assert!(answered.elapsed() >= Duration::from_millis(290));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_after_the_idle_timeout() {
    let server = start(|s| s.idle_timeout = Duration::from_millis(300)).await;
    let mut stream = server.connect().await;
    // 32 MB that nobody reads: the socket buffers fill, writing stalls.
    stream
        .write_all(b"GET /big HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .expect("writes");
    assert!(
        eventually(Duration::from_secs(5), || {
            server.metric("qoswatch_http_connections_timed_out_total{phase=\"idle\"}") == 1.0
        })
        .await,
        "the stalled connection was not closed"
    );
    assert_eq!(server.metric("qoswatch_http_connections_open"), 0.0);
}

#[tokio::test]
async fn at_the_limit_a_new_connection_takes_the_slot_of_one_waiting_for_a_request() {
    let server = start(|s| s.max_connections = 2).await;
    let mut first = server.connect().await;
    let _second = server.connect().await;
    assert!(
        eventually(Duration::from_secs(2), || server
            .metric("qoswatch_http_connections_open")
            == 2.0)
        .await
    );
    let mut third = server.connect().await;
    third
        .write_all(b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .expect("writes");
    assert!(read_response(&mut third).await.starts_with("HTTP/1.1 200"));
    let closed = closed_within(&mut first, Duration::from_secs(1)).await;
    assert_eq!(closed, Some(Vec::new()), "the oldest waiting one is closed");
    assert_eq!(
        server.metric("qoswatch_http_connections_evicted_total"),
        1.0
    );
    assert_eq!(
        server.metric("qoswatch_http_connections_refused_total"),
        0.0
    );
    assert_eq!(server.metric("qoswatch_http_connections_open"), 2.0);
}

/// A request whose body is announced but not sent: its handler waits.
async fn request_in_progress(server: &Running) -> TcpStream {
    let mut stream = server.connect().await;
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\n\r\nab")
        .await
        .expect("writes");
    stream
}

#[tokio::test]
async fn when_every_slot_has_a_request_in_progress_newcomers_get_503_until_one_takes_too_long() {
    let server = start(|s| s.max_connections = 2).await;
    let _a = request_in_progress(&server).await;
    let _b = request_in_progress(&server).await;
    let full = Instant::now();
    // Both handlers run (the Bytes extractor waits for the body).
    let mut refused = server.connect().await;
    let answer = closed_within(&mut refused, Duration::from_millis(500))
        .await
        .expect("refused at once");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 503"),
        "{answer:?}"
    );
    assert_eq!(
        server.metric("qoswatch_http_connections_refused_total"),
        1.0
    );
    // After BUSY_EVICTABLE_AFTER the oldest request in progress gives way.
    let mut served = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while served.is_none() && Instant::now() < deadline {
        let mut stream = server.connect().await;
        stream
            .write_all(b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .expect("writes");
        let answer = closed_within(&mut stream, Duration::from_millis(200))
            .await
            .unwrap_or_else(|| b"still open".to_vec());
        if !answer.starts_with(b"HTTP/1.1 503") {
            served = Some(full.elapsed());
        }
    }
    let served = served.expect("a newcomer was served");
    assert!(served >= slots::BUSY_EVICTABLE_AFTER, "{served:?}");
    assert_eq!(
        server.metric("qoswatch_http_connections_evicted_total"),
        1.0
    );
}

#[tokio::test]
async fn shutdown_finishes_requests_in_progress_and_cuts_the_rest_at_the_deadline() {
    let server = start(|s| s.header_read_timeout = Duration::from_secs(30)).await;
    let mut in_progress = request_in_progress(&server).await;
    let mut bare = server.connect().await;
    let mut half_open = server.connect().await;
    half_open
        .write_all(b"GET /ok HTTP/1.1\r\n")
        .await
        .expect("writes");
    assert!(
        eventually(Duration::from_secs(2), || server
            .metric("qoswatch_http_connections_open")
            == 3.0)
        .await
    );
    server.shutdown.cancel();
    let draining = server.server.await.expect("accept loop ends");
    assert!(
        TcpStream::connect(server.address).await.is_err(),
        "no longer accepting"
    );
    let deadline = Instant::now() + Duration::from_millis(800);
    let finishing = tokio::spawn(draining.finish_by(deadline));
    assert!(
        closed_within(&mut bare, Duration::from_millis(300))
            .await
            .is_some(),
        "an idle connection closes at once"
    );
    in_progress.write_all(b"cd").await.expect("writes");
    let answer = closed_within(&mut in_progress, Duration::from_millis(500))
        .await
        .expect("answered, then closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("abcd"), "{answer}");
    let cut = finishing.await.expect("drains");
    assert_eq!(cut, 1, "the half-open connection");
    assert!(Instant::now() >= deadline);
    assert!(
        closed_within(&mut half_open, Duration::from_millis(200))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn accept_errors_back_off_unless_they_concern_one_connection() {
    let server = start(|_| {}).await;
    let shared = Arc::new(Shared {
        builder: http_builder(Duration::from_secs(1)),
        router: router(),
        slots: Slots::new(1),
        metrics: ListenerMetrics::default(),
        idle_timeout: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(1),
        shutdown: CancellationToken::new(),
        cut: CancellationToken::new(),
        header_timeouts: LogEvery::new(LOG_EVERY),
        idle_timeouts: LogEvery::new(LOG_EVERY),
        handshake_timeouts: LogEvery::new(LOG_EVERY),
        handshake_failures: LogEvery::new(LOG_EVERY),
        name: "public",
        tls: None,
    });
    let mut accept_loop = AcceptLoop {
        shared: shared.clone(),
        connections: TaskTracker::new(),
        refusals: LogEvery::new(LOG_EVERY),
        evictions: LogEvery::new(LOG_EVERY),
        accept_errors: LogEvery::new(LOG_EVERY),
        backoff: ACCEPT_BACKOFF_FIRST,
    };
    let out_of_files = || io::Error::from_raw_os_error(24); // EMFILE
    let pauses: Vec<_> = (0..9)
        .map(|_| accept_loop.accepted(Err(out_of_files())))
        .collect();
    assert_eq!(pauses[0], Some(ACCEPT_BACKOFF_FIRST));
    assert_eq!(pauses[1], Some(ACCEPT_BACKOFF_FIRST * 2));
    assert_eq!(pauses[8], Some(ACCEPT_BACKOFF_MAX));
    let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
    assert_eq!(accept_loop.accepted(Err(aborted)), None);
    assert_eq!(shared.metrics.accept_errors.get(), 10);
    // A success resets the pause.
    let stream = server.connect().await;
    let peer = stream.local_addr().expect("address");
    assert_eq!(accept_loop.accepted(Ok((stream, peer))), None);
    assert_eq!(
        accept_loop.accepted(Err(out_of_files())),
        Some(ACCEPT_BACKOFF_FIRST)
    );
}
