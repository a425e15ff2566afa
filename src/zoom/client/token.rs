//! The access token: Server-to-Server OAuth, cached, one request at a time.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use super::answers::{TOKEN_ANSWER, without_url};
use super::{ZoomClient, ZoomError};

#[derive(Deserialize)]
pub(super) struct TokenAnswer {
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

pub(super) fn default_expires_in() -> u64 {
    3600
}

#[derive(Debug)]
pub(super) struct CachedToken {
    pub(super) value: Arc<SecretString>,
    pub(super) renew_at: Instant,
}

#[derive(Debug, Default)]
pub(super) struct TokenState {
    pub(super) cached: Option<CachedToken>,
    /// The last failed token request, shared with every watcher that asks
    /// until `until`: one failure must not become one request per watcher.
    pub(super) failed: Option<(Instant, ZoomError)>,
}

/// How long a failed token request is answered from memory.
pub(super) const TOKEN_FAILURE_MEMORY: Duration = Duration::from_secs(5);

impl ZoomClient {
    /// A valid access token, from the cache or freshly requested.
    pub(super) async fn access_token(&self) -> Result<Arc<SecretString>, ZoomError> {
        let mut state = self.token.lock().await;
        if let Some(token) = state.cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.value.clone());
        }
        if let Some((until, error)) = &state.failed
            && Instant::now() < *until
        {
            return Err(error.clone());
        }
        match self.fetch_token().await {
            Ok(token) => {
                let value = token.value.clone();
                state.cached = Some(token);
                state.failed = None;
                Ok(value)
            }
            Err(error) => {
                state.failed = Some((Instant::now() + TOKEN_FAILURE_MEMORY, error.clone()));
                Err(error)
            }
        }
    }

    /// Forgets `used` if it is still the cached token, so the next caller
    /// fetches a new one. A token already replaced is left alone.
    pub(super) async fn invalidate(&self, used: &Arc<SecretString>) {
        let mut state = self.token.lock().await;
        if state
            .cached
            .as_ref()
            .is_some_and(|token| Arc::ptr_eq(&token.value, used))
        {
            state.cached = None;
        }
    }

    pub(super) async fn fetch_token(&self) -> Result<CachedToken, ZoomError> {
        self.metrics.token_fetches.inc();
        let started = Instant::now();
        let answer = self
            .http
            .post(&self.settings.token_url)
            .basic_auth(
                self.credentials.client_id.expose_secret(),
                Some(self.credentials.client_secret.expose_secret()),
            )
            .form(&[
                ("grant_type", "account_credentials"),
                ("account_id", self.credentials.account_id.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| {
                self.metrics.token_failures.inc();
                ZoomError::Transient(format!("token request failed: {}", without_url(&e)))
            })?;
        let status = answer.status();
        if !status.is_success() {
            self.metrics.token_failures.inc();
            let reason = self
                .error_body::<serde_json::Value>(answer)
                .await
                .and_then(|v| {
                    v.get("reason")
                        .or_else(|| v.get("error"))
                        .and_then(|r| r.as_str().map(str::to_owned))
                })
                .unwrap_or_else(|| "no reason given".into());
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    ZoomError::Transient(format!("token endpoint answered {status}"))
                } else {
                    ZoomError::BadCredentials {
                        status: status.as_u16(),
                        reason,
                    }
                },
            );
        }
        let body = self
            .read_body(answer, TOKEN_ANSWER)
            .await
            .inspect_err(|_| {
                self.metrics.token_failures.inc();
            })?;
        let token: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            // serde's message could quote the token: the kind of problem only.
            self.metrics.token_failures.inc();
            ZoomError::Transient("token answer unreadable".to_owned())
        })?;
        let lifetime = Duration::from_secs(token.expires_in);
        // Renew ahead of expiry; for very short lifetimes, at half-life.
        let margin = self.settings.token_refresh_margin.min(lifetime / 2);
        tracing::debug!(expires_in = token.expires_in, "fetched a Zoom access token");
        Ok(CachedToken {
            value: Arc::new(SecretString::from(token.access_token)),
            renew_at: started + lifetime - margin,
        })
    }
}
