//! The HTTP listener: our own accept loop in front of the axum router, so
//! that no client can hold the service. `axum::serve` has no header-read
//! timeout, no idle timeout, no connection limit and waits forever for
//! connections at shutdown; here:
//!
//! - hyper reads request heads under `server.header_read_timeout`, from
//!   accept and again between keep-alive requests;
//! - a connection with no byte either way and no request in progress for
//!   `server.idle_timeout` is closed (hyper 1 has no such option for
//!   servers: the socket is wrapped to note activity, see `connection`);
//! - at most `max_connections` are served at once, fewer when the open-file
//!   limit leaves less room; at the limit a new connection takes the slot
//!   of one waiting for a request, or is answered 503 and closed (`slots`);
//! - accept errors (out of file descriptors) back off instead of spinning;
//! - on shutdown it stops accepting, lets requests in progress finish, and
//!   cuts what is still open at the deadline ([`Draining::finish_by`]);
//! - with `server.tls`, the public listener speaks HTTPS only (`tls`): the
//!   handshake runs in the connection's task, holding its slot, and must
//!   end within `server.header_read_timeout` like a request head.
//!
//! Refusals, evictions, timeouts and accept errors are counted and logged
//! at most once a minute each. Nothing about a client is logged.

pub mod answer;
mod connection;
mod metrics;
pub mod settings;
mod slots;
mod tls;

pub use tls::TlsError;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::logging::LogEvery;
use connection::Shared;
use metrics::ListenerMetrics;
use settings::ServerSettings;
use slots::{Admission, Slots};

/// File descriptors kept for everything but client connections: the
/// database and its journal, requests to Zoom (up to
/// `zoom.requests_per_second` × `zoom.request_timeout` at once), Slack and
/// SMTP, the rules file watcher, the runtime, standard streams.
const RESERVED_FILES: u64 = 128;

/// At most one log line per kind (refusals, evictions, timeouts, accept
/// errors) in this period; each line counts the events since the last.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Pause after an accept error that is not about one connection (out of
/// file descriptors or memory), doubled while it lasts, up to the maximum:
/// the loop must neither spin nor stop.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// hyper's read buffer per connection (its default is about 400 kB): a
/// thousand slow clients sending large heads cost at most this each.
/// Zoom's webhook heads are under 2 kB; bodies are read in chunks.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// Connections the system queues for `accept`. With the 128 of a plain
/// `bind`, a burst of connects overflows it and the system drops their
/// handshakes: a webhook caught in one waits a second for its client to
/// retry. The accept loop drains the queue fast; the queue absorbs bursts.
const LISTEN_BACKLOG: u32 = 1024;

/// What a refused connection reads before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 1\r\n\r\n";

/// The bound socket and its limits, not yet serving.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    address: SocketAddr,
    max_connections: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    metrics: ListenerMetrics,
    /// `public` or `admin`, in the listener's log lines.
    name: &'static str,
    /// HTTPS: the acceptor and the watch on the certificate's files.
    tls: Option<(tls::Acceptor, tls::Watch)>,
}

impl Listener {
    /// Raises the open-file limit, binds `server.listen` and registers the
    /// listener's metrics. With `server.tls`, loads the certificate and key
    /// first (an error names the file) and watches their files.
    pub async fn bind(settings: &ServerSettings, registry: &mut Registry) -> anyhow::Result<Self> {
        let tls = match settings.tls.files() {
            Some((cert_file, key_file)) => {
                let certificates = tls::Certificates::load(cert_file, key_file, registry)?;
                let acceptor = certificates.acceptor()?;
                let watch = certificates.watch()?;
                tracing::info!(
                    cert_file = %cert_file.display(),
                    expires = %tls::expiry_text(certificates.expires_at()),
                    "HTTPS on the public listener (TLS 1.2 and 1.3); the certificate reloads \
                     when its files change and on SIGHUP"
                );
                Some((acceptor, watch))
            }
            None => None,
        };
        let mut listener = Self::bind_at(
            settings.listen,
            settings,
            registry,
            "qoswatch_http",
            "public",
        )
        .await?;
        listener.tls = tls;
        Ok(listener)
    }

    /// Binds `server.admin_listen` with the same limits; its metrics are
    /// `qoswatch_admin_http_*`.
    pub async fn bind_admin(
        settings: &ServerSettings,
        registry: &mut Registry,
    ) -> anyhow::Result<Self> {
        Self::bind_at(
            settings.admin_listen,
            settings,
            registry,
            "qoswatch_admin_http",
            "admin",
        )
        .await
    }

    async fn bind_at(
        at: SocketAddr,
        settings: &ServerSettings,
        registry: &mut Registry,
        metrics_prefix: &str,
        name: &'static str,
    ) -> anyhow::Result<Self> {
        let max_connections = connection_limit(settings.max_connections, open_file_limit());
        let tcp = listen(at).with_context(|| format!("cannot listen on {at}"))?;
        let address = tcp.local_addr()?;
        let metrics = ListenerMetrics::register(registry, metrics_prefix);
        metrics
            .limit
            .set(i64::try_from(max_connections).unwrap_or(i64::MAX));
        Ok(Self {
            tcp,
            address,
            max_connections,
            header_read_timeout: settings.header_read_timeout,
            idle_timeout: settings.idle_timeout,
            metrics,
            name,
            tls: None,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Most connections served at once, after the open-file limit.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Serves `router` until `shutdown` is cancelled. Then the socket is
    /// closed (new connections are refused by the system) and the open
    /// connections are told to finish: the returned [`Draining`] waits for
    /// them.
    pub async fn serve(self, router: Router, shutdown: CancellationToken) -> Draining {
        let acceptor = self.tls.map(|(acceptor, watch)| {
            tokio::spawn(watch.run(shutdown.clone()));
            acceptor
        });
        let shared = Arc::new(Shared {
            builder: http_builder(self.header_read_timeout),
            router,
            slots: Slots::new(self.max_connections),
            metrics: self.metrics,
            idle_timeout: self.idle_timeout,
            header_read_timeout: self.header_read_timeout,
            shutdown: shutdown.clone(),
            cut: CancellationToken::new(),
            header_timeouts: LogEvery::new(LOG_EVERY),
            idle_timeouts: LogEvery::new(LOG_EVERY),
            handshake_timeouts: LogEvery::new(LOG_EVERY),
            handshake_failures: LogEvery::new(LOG_EVERY),
            name: self.name,
            tls: acceptor,
        });
        let connections = TaskTracker::new();
        let mut accept_loop = AcceptLoop {
            shared: shared.clone(),
            connections: connections.clone(),
            refusals: LogEvery::new(LOG_EVERY),
            evictions: LogEvery::new(LOG_EVERY),
            accept_errors: LogEvery::new(LOG_EVERY),
            backoff: ACCEPT_BACKOFF_FIRST,
        };
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = async {
                    shared.slots.room_to_accept().await;
                    self.tcp.accept().await
                } => accepted,
            };
            let pause = accept_loop.accepted(accepted);
            if let Some(pause) = pause {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
        drop(self.tcp);
        connections.close();
        Draining {
            connections,
            shared,
        }
    }
}

/// Binds with a listen queue of [`LISTEN_BACKLOG`] (the system may cap it
/// at `net.core.somaxconn`).
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// HTTP/1 only (Zoom sends webhooks over HTTP/1.1), keep-alive on, and
/// hyper's header timer on the runtime's clock.
fn http_builder(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true)
        .max_buf_size(MAX_READ_BUFFER);
    builder
}

struct AcceptLoop {
    shared: Arc<Shared>,
    connections: TaskTracker,
    refusals: LogEvery,
    evictions: LogEvery,
    accept_errors: LogEvery,
    backoff: Duration,
}

impl AcceptLoop {
    /// Handles one result of `accept`; returns how long to pause before the
    /// next one.
    fn accepted(&mut self, accepted: io::Result<(TcpStream, SocketAddr)>) -> Option<Duration> {
        let metrics = &self.shared.metrics;
        match accepted {
            // The peer address is not kept: nothing about a client is logged.
            Ok((stream, _peer)) => {
                self.backoff = ACCEPT_BACKOFF_FIRST;
                metrics.accepted.inc();
                self.admit(stream);
                None
            }
            // About that one connection (reset before we took it): next.
            Err(error) if is_about_one_connection(&error) => {
                metrics.accept_errors.inc();
                None
            }
            Err(error) => {
                metrics.accept_errors.inc();
                let pause = self.backoff;
                self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MAX);
                if let Some(unlogged) = self.accept_errors.occurred(Instant::now()) {
                    tracing::error!(
                        listener = self.shared.name,
                        %error,
                        failures = unlogged + 1,
                        open = self.shared.slots.open(),
                        pause_ms = pause.as_millis(),
                        "cannot accept connections; pausing (one line per minute at most; \
                         `failures` counts since the last)"
                    );
                }
                Some(pause)
            }
        }
    }

    fn admit(&mut self, stream: TcpStream) {
        let now = Instant::now();
        let shared = &self.shared;
        let state = match shared.slots.admit(now) {
            Admission::Admitted(state) => state,
            Admission::Replaced { state, waiting } => {
                shared.metrics.evicted.inc();
                if let Some(unlogged) = self.evictions.occurred(now) {
                    tracing::warn!(
                        listener = shared.name,
                        evicted = unlogged + 1,
                        limit = shared.slots.capacity(),
                        last_was_waiting_for_a_request = waiting,
                        "connection limit reached: open connections closed to make room for new ones \
                         (one line per minute at most; `evicted` counts since the last)"
                    );
                }
                state
            }
            Admission::Refused => {
                shared.metrics.refused.inc();
                if let Some(unlogged) = self.refusals.occurred(now) {
                    tracing::warn!(
                        listener = shared.name,
                        refused = unlogged + 1,
                        limit = shared.slots.capacity(),
                        "connection limit reached and every connection has a request in progress: \
                         new connections answered 503 (one line per minute at most; `refused` \
                         counts since the last)"
                    );
                }
                refuse(&stream);
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        shared
            .metrics
            .open
            .set(i64::try_from(shared.slots.open()).unwrap_or(i64::MAX));
        self.connections
            .spawn(connection::serve(stream, state, shared.clone()));
    }
}

/// Answers 503 without reading anything or waiting, and closes (on drop).
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(REFUSAL);
}

/// Accept errors that concern one connection, not the listener.
fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The open connections after the listener stopped accepting.
#[derive(Debug)]
pub struct Draining {
    connections: TaskTracker,
    shared: Arc<Shared>,
}

impl Draining {
    /// Waits until every connection has closed (requests in progress are
    /// answered, idle connections close at once) or `deadline` passes;
    /// then drops every connection still open, whatever it is doing.
    /// Returns how many were cut.
    pub async fn finish_by(self, deadline: Instant) -> usize {
        if tokio::time::timeout_at(deadline, self.connections.wait())
            .await
            .is_ok()
        {
            return 0;
        }
        let cut = self.connections.len();
        self.shared.cut.cancel();
        self.connections.wait().await;
        tracing::warn!(
            listener = self.shared.name,
            cut,
            "connections still open at the shutdown deadline were closed"
        );
        cut
    }
}

/// The open-file soft limit, raised to the hard limit first; `None` where
/// there is no such limit.
fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => {
                tracing::info!(open_file_limit = limit, "open-file limit");
                Some(limit)
            }
            Err(error) => {
                let current = rlimit::getrlimit(rlimit::Resource::NOFILE)
                    .ok()
                    .map(|(soft, _hard)| soft);
                tracing::warn!(
                    %error,
                    open_file_limit = current,
                    "cannot raise the open-file limit"
                );
                current
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `configured`, lowered to what the open-file limit leaves for client
/// connections once [`RESERVED_FILES`] (or half the limit, when it is
/// small) are kept for the rest.
fn connection_limit(configured: usize, open_file_limit: Option<u64>) -> usize {
    let Some(limit) = open_file_limit else {
        return configured;
    };
    let room = limit.saturating_sub(RESERVED_FILES.min(limit / 2)).max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if room < configured {
        tracing::warn!(
            configured,
            allowed = room,
            open_file_limit = limit,
            "server.max_connections is more than the open-file limit leaves room for: serving at most `allowed`"
        );
        return room;
    }
    configured
}

#[cfg(test)]
mod tests;
