//! Builds the whole service from [`Settings`] and runs it. Owns the root
//! [`CancellationToken`] and the [`TaskTracker`] of every background task.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::http::{AppState, WebhookMetrics, router};
use crate::monitor::{LoggingSink, Monitor, SampleSink};
use crate::store::MemoryStore;
use crate::zoom::budget::Budget;
use crate::zoom::client::{ClientSettings, Credentials, ZoomClient};
use crate::zoom::signature::Verifier;

/// A built, bound, not yet running qoswatch.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    address: SocketAddr,
    tracker: TaskTracker,
    cancel: CancellationToken,
    monitor: Monitor,
    settings: Settings,
}

impl Application {
    /// Builds every part and binds the listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let mut registry = Registry::default();
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();

        let secrets = &settings.secrets;
        let credentials = Credentials {
            account_id: secrets
                .account_id
                .clone()
                .context("ZOOM_ACCOUNT_ID is not set")?,
            client_id: secrets
                .client_id
                .clone()
                .context("ZOOM_CLIENT_ID is not set")?,
            client_secret: secrets
                .client_secret
                .clone()
                .context("ZOOM_CLIENT_SECRET is not set")?,
        };
        let budget = Arc::new(Budget::new(
            settings.zoom.requests_per_second,
            settings.zoom.daily_limit,
            &mut registry,
        ));
        let client = Arc::new(ZoomClient::new(
            ClientSettings {
                api_base: settings.zoom.api_base.clone(),
                token_url: settings.zoom.token_url.clone(),
                request_timeout: settings.zoom.request_timeout,
                token_refresh_margin: settings.zoom.token_refresh_margin,
            },
            credentials,
            budget,
            &mut registry,
        )?);
        let sink: Arc<dyn SampleSink> = Arc::new(LoggingSink::new(&mut registry));
        let monitor = Monitor::new(
            client,
            sink,
            Arc::new(MemoryStore::new()),
            settings.polling.clone(),
            tracker.clone(),
            cancel.clone(),
            &mut registry,
        );
        let verifier = Arc::new(Verifier::new(
            secrets.webhook_secret_tokens.clone(),
            settings.webhook.replay_window,
        ));
        let webhook_metrics = WebhookMetrics::new(&mut registry);
        let state = AppState {
            verifier,
            monitor: monitor.clone(),
            meeting_alerts: None,
            metrics: Arc::new(registry),
            webhook_metrics,
            shutdown: cancel.clone(),
        };
        let router = router(state, settings.server.max_body_bytes);
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let address = listener.local_addr()?;
        Ok(Application {
            listener,
            router,
            address,
            tracker,
            cancel,
            monitor,
            settings,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Cancelling this token stops the service gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The watcher registry, for tests and embedding.
    pub fn monitor(&self) -> Monitor {
        self.monitor.clone()
    }

    /// Serves until the shutdown token is cancelled, then stops accepting,
    /// cancels every watcher and waits for them, at most `shutdown_grace`.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let cancel = self.cancel.clone();
        tracing::info!(address = %self.address, "qoswatch listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(cancel.clone().cancelled_owned())
            .await
            .context("HTTP server failed")?;
        // The server has stopped accepting; make sure everything else stops too.
        cancel.cancel();
        self.tracker.close();
        let grace = self.settings.server.shutdown_grace;
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                still_running = self.tracker.len(),
                grace_s = grace.as_secs(),
                "tasks still running after the shutdown grace period"
            );
        }
        tracing::info!("qoswatch stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}
