//! SIGTERM and SIGINT: every long-running command stops gracefully on
//! either.

use tokio_util::sync::CancellationToken;

/// Drives `work` to its end, cancelling `cancel` when SIGTERM or SIGINT
/// arrives so that `work` winds down by itself. The signal handlers are
/// installed before `work` first runs (a SIGTERM right after start-up must
/// not meet the default disposition, which kills the process), and are
/// awaited inside this future, not in a spawned task: nothing outlives the
/// command.
pub async fn until_stopped_by_signal<F: std::future::Future>(
    cancel: CancellationToken,
    work: F,
) -> F::Output {
    let signals = ShutdownSignals::install();
    let mut work = std::pin::pin!(work);
    tokio::select! {
        output = &mut work => return output,
        () = signals.received() => cancel.cancel(),
    }
    work.await
}

/// SIGTERM and SIGINT, listened for from the moment of [`install`](Self::install).
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(stream) => Some(stream),
                Err(error) => {
                    tracing::warn!(%error, signal = name, "cannot listen for the signal");
                    None
                }
            };
            Self {
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Resolves on the first SIGTERM or SIGINT.
    async fn received(mut self) {
        #[cfg(unix)]
        {
            async fn next(stream: &mut Option<tokio::signal::unix::Signal>) {
                match stream {
                    Some(stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = next(&mut self.interrupt) => tracing::info!("SIGINT received: shutting down"),
                () = next(&mut self.terminate) => tracing::info!("SIGTERM received: shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C received: shutting down");
        }
    }
}
