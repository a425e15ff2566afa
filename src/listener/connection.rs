//! One connection's task: the TLS handshake when the listener speaks
//! HTTPS, then hyper serves the router on it, while the task watches for
//! the four ways it may be ended early (shutdown, the cut at the shutdown
//! deadline, losing its slot, idleness) and counts how it ended.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::metrics::ListenerMetrics;
use super::slots::{ConnState, Handling, Slots};
use super::tls::Acceptor;
use crate::logging::LogEvery;

/// What every connection task shares: built once by the accept loop.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) builder: auto::Builder<TokioExecutor>,
    pub(super) router: Router,
    pub(super) slots: Slots,
    pub(super) metrics: ListenerMetrics,
    pub(super) idle_timeout: Duration,
    pub(super) header_read_timeout: Duration,
    /// The application's root token: on cancel, connections finish the
    /// request in progress and close.
    pub(super) shutdown: CancellationToken,
    /// Cancelled at the shutdown deadline: every connection still open is
    /// dropped, whatever it is doing.
    pub(super) cut: CancellationToken,
    pub(super) header_timeouts: LogEvery,
    pub(super) idle_timeouts: LogEvery,
    pub(super) handshake_timeouts: LogEvery,
    pub(super) handshake_failures: LogEvery,
    /// `public` or `admin`, in the log lines.
    pub(super) name: &'static str,
    /// HTTPS: every connection starts with a TLS handshake.
    pub(super) tls: Option<Acceptor>,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Closed by the client, by keep-alive ending, or after graceful shutdown.
    Closed,
    /// An IO or protocol error (a reset, a malformed request hyper answered).
    Failed,
    /// No complete request head within `server.header_read_timeout`.
    HeaderTimeout,
    /// Nothing read or written for `server.idle_timeout`, no request in progress.
    Idle,
    /// Its slot went to a new connection.
    Evicted,
    /// Still open at the shutdown deadline.
    Cut,
    /// No complete TLS handshake within `server.header_read_timeout`.
    HandshakeTimeout,
    /// A failed TLS handshake (plain HTTP, TLS 1.1 or older, no common
    /// cipher, a certificate the client refused).
    HandshakeFailed,
}

/// Serves one accepted connection until it ends; gives its slot back.
pub(super) async fn serve<T>(io: T, state: Arc<ConnState>, shared: Arc<Shared>) -> End
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let end = drive(io, &state, &shared).await;
    // The connection (and its socket) is dropped by now.
    let open = shared.slots.release(&state);
    shared
        .metrics
        .open
        .set(i64::try_from(open).unwrap_or(i64::MAX));
    report(&shared, end);
    end
}

/// The socket is metered below TLS: the handshake's bytes count as
/// activity, and a connection read from is one its slot may be taken from.
async fn drive<T>(io: T, state: &Arc<ConnState>, shared: &Shared) -> End
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = Metered {
        inner: io,
        state: state.clone(),
    };
    match &shared.tls {
        None => http(io, state, shared).await,
        Some(acceptor) => match handshake(acceptor, io, state, shared).await {
            Ok(tls) => http(tls, state, shared).await,
            Err(end) => end,
        },
    }
}

/// The TLS handshake, under the header timeout and ended early like a
/// connection (shutdown, the cut, eviction).
async fn handshake<T>(
    acceptor: &Acceptor,
    io: T,
    state: &ConnState,
    shared: &Shared,
) -> Result<TlsStream<T>, End>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let accept = tokio::time::timeout(shared.header_read_timeout, acceptor.0.accept(io));
    tokio::select! {
        accepted = accept => match accepted {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => {
                shared.metrics.tls_handshake_failures.inc();
                if let Some(unlogged) = shared.handshake_failures.occurred(Instant::now()) {
                    // rustls's reason (a protocol version, an alert): no client data.
                    tracing::info!(
                        listener = shared.name,
                        failed = unlogged + 1,
                        %error,
                        "TLS handshakes failed (plain HTTP, an old TLS version, a client refusing \
                         the certificate...); `error` is the last one's (one line per minute at \
                         most; `failed` counts since the last)"
                    );
                }
                Err(End::HandshakeFailed)
            }
            Err(_) => Err(End::HandshakeTimeout),
        },
        () = shared.shutdown.cancelled() => Err(End::Closed),
        () = shared.cut.cancelled() => Err(End::Cut),
        () = state.evicted.cancelled() => Err(End::Evicted),
    }
}

async fn http<T>(io: T, state: &Arc<ConnState>, shared: &Shared) -> End
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let service = Tracked {
        inner: TowerToHyperService::new(shared.router.clone()),
        state: state.clone(),
    };
    let connection = shared.builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => return ended(result),
            () = shared.shutdown.cancelled(), if !draining => {
                // Idle connections close now; one with a request in
                // progress closes after its response.
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
            () = shared.cut.cancelled() => return End::Cut,
            () = state.evicted.cancelled() => return End::Evicted,
            () = idle(state, shared.idle_timeout) => return End::Idle,
        }
    }
}

fn ended(result: Result<(), Box<dyn std::error::Error + Send + Sync>>) -> End {
    match result {
        Ok(()) => End::Closed,
        Err(error)
            if error
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout) =>
        {
            End::HeaderTimeout
        }
        Err(_) => End::Failed,
    }
}

/// Resolves once the connection has read and written nothing for `timeout`
/// while no request was in progress. hyper's own header timer covers the
/// wait for a request head; this covers what it does not see: a client
/// that stops reading our response, or a body nobody reads.
async fn idle(state: &ConnState, timeout: Duration) {
    loop {
        let due = state.quiet_since() + timeout;
        if Instant::now() < due {
            tokio::time::sleep_until(due).await;
            continue;
        }
        if !state.is_handling() {
            return;
        }
        // A handler is running (bounded by its own timeout): look again later.
        tokio::time::sleep(timeout).await;
    }
}

fn report(shared: &Shared, end: End) {
    let now = Instant::now();
    match end {
        End::HeaderTimeout => {
            shared.metrics.timed_out("header");
            if let Some(unlogged) = shared.header_timeouts.occurred(now) {
                tracing::info!(
                    listener = shared.name,
                    closed = unlogged + 1,
                    timeout_ms = shared.header_read_timeout.as_millis(),
                    "connections closed: no complete request head within server.header_read_timeout \
                     (one line per minute at most; `closed` counts since the last)"
                );
            }
        }
        End::Idle => {
            shared.metrics.timed_out("idle");
            if let Some(unlogged) = shared.idle_timeouts.occurred(now) {
                tracing::info!(
                    listener = shared.name,
                    closed = unlogged + 1,
                    timeout_ms = shared.idle_timeout.as_millis(),
                    "connections closed: nothing sent or received for server.idle_timeout \
                     (one line per minute at most; `closed` counts since the last)"
                );
            }
        }
        End::HandshakeTimeout => {
            shared.metrics.timed_out("handshake");
            if let Some(unlogged) = shared.handshake_timeouts.occurred(now) {
                tracing::info!(
                    listener = shared.name,
                    closed = unlogged + 1,
                    timeout_ms = shared.header_read_timeout.as_millis(),
                    "connections closed: no complete TLS handshake within \
                     server.header_read_timeout (one line per minute at most; `closed` counts \
                     since the last)"
                );
            }
        }
        // Counted and logged where they are decided (admission, the
        // shutdown deadline, the handshake); the rest are a connection's
        // normal ends.
        End::Evicted | End::Cut | End::Closed | End::Failed | End::HandshakeFailed => {}
    }
}

/// The router as hyper's service, marking on the connection's state when a
/// request is being handled.
#[derive(Debug, Clone)]
struct Tracked {
    inner: TowerToHyperService<Router>,
    state: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let handling: Handling = self.state.handling();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(handling);
            response
        })
    }
}

/// The socket, noting on the connection's state when a byte goes either way.
#[derive(Debug)]
struct Metered<T> {
    inner: T,
    state: Arc<ConnState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.state.read_attempted();
        if buf.filled().len() > before {
            this.state.touched();
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(written)) if written > 0) {
            this.state.touched();
        }
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(written)) if written > 0) {
            this.state.touched();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
