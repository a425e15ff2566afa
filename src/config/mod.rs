//! Typed settings: a YAML file, overlaid by environment variables, then
//! validated. This is the only module that reads the environment (through
//! the `env` function it is handed, so tests pass a map).
//!
//! Secrets come only from the environment, never from the file: the Zoom
//! webhook secret token(s) and the Server-to-Server OAuth credentials. Each
//! secret `NAME` may also be given as `NAME_FILE` (a path whose contents are
//! the secret), the Docker / Kubernetes secrets convention.

use std::path::Path;
use std::time::Duration;

use qoswatch_core::invalid::Invalid;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

// Each part owns its settings type; this module composes them (and the
// environment overlay, the secrets and the checks across parts).
mod accounts;
mod env;
mod secrets;

pub use accounts::{AccountEnv, AccountSettings, ZoomAccount};
pub use env::{ENV_SETTINGS, EnvSetting, overlay_names, process_env};
pub use secrets::*;

pub use crate::alerting::settings::{AlertSettings, RulesSettings, ZoomMeetingAlerts};
pub use crate::intake::settings::WebhookSettings;
pub use crate::listener::settings::{DEFAULT_ADMIN_PORT, ServerSettings};
pub use crate::logging::{LogFormat, LogSettings};
pub use crate::quota::PollingMode;
pub use crate::watch::settings::{DEFAULT_MAX_REMEMBERED_ENDED, PollingSettings, QssSettings};
pub use crate::zoom::settings::{DEFAULT_MAX_ANSWER_BYTES, ZoomSettings};

/// Where an environment variable is looked up. `std::env::var` in `main`
/// (or [`process_env`]), a map in tests.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// All settings of `qoswatch serve`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub webhook: WebhookSettings,
    pub zoom: ZoomSettings,
    pub polling: PollingSettings,
    /// Zoom's QSS push events as a source of samples.
    pub qss: QssSettings,
    pub rules: RulesSettings,
    pub alerts: AlertSettings,
    pub log: LogSettings,
    /// The durable store (SQLite in the data directory).
    pub store: crate::store::StoreSettings,
    /// Several Zoom accounts (`config::accounts`); empty: one, from
    /// `zoom:` and the `ZOOM_*` variables.
    pub accounts: Vec<AccountSettings>,
    /// Secrets, filled from the environment only.
    #[serde(skip)]
    pub secrets: Secrets,
    /// `accounts:` with their secrets, read with the environment.
    #[serde(skip)]
    resolved_accounts: Vec<ZoomAccount>,
}

/// A problem with the configuration, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("missing secret: set environment variable {name} (or {name}_FILE)")]
    MissingSecret { name: &'static str },
    #[error("missing secret: set environment variable {name} (or {name}_FILE)")]
    MissingSecretOf { name: String },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: String, message: String },
}

impl From<Invalid> for ConfigError {
    fn from(invalid: Invalid) -> Self {
        ConfigError::Invalid {
            name: invalid.name.to_owned(),
            message: invalid.message.to_owned(),
        }
    }
}

impl Settings {
    /// Reads the file (if any), applies the environment, loads secrets and
    /// validates. This is what `qoswatch serve` runs.
    /// The file (if any), the environment's overlay and the secrets, not
    /// yet validated: what `load` and `load_without_secrets` share.
    fn read(path: Option<&Path>, env: EnvLookup<'_>) -> Result<Settings, ConfigError> {
        let mut settings = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Settings::from_yaml(&path.display().to_string(), &text)?
            }
            None => Settings::default(),
        };
        settings.apply_env(env)?;
        settings.secrets = Secrets::from_env(env)?;
        settings.resolved_accounts = accounts::resolve(&settings.accounts, &settings.zoom, env)?;
        Ok(settings)
    }

    pub fn load(path: Option<&Path>, env: EnvLookup<'_>) -> Result<Settings, ConfigError> {
        let mut settings = Settings::read(path, env)?;
        settings.validate()?;
        if let Some(smtp) = settings.alerts.smtp.as_mut() {
            smtp.password = settings.secrets.smtp_password.clone();
        }
        Ok(settings)
    }

    /// Parses a settings file. Unknown keys are rejected by name.
    pub fn from_yaml(path: &str, text: &str) -> Result<Settings, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Applies `QOSWATCH_*` environment overrides.
    pub fn apply_env(&mut self, env: EnvLookup<'_>) -> Result<(), ConfigError> {
        for setting in ENV_SETTINGS {
            if let Some(value) = env(setting.name) {
                (setting.apply)(self, &value).map_err(|message| ConfigError::Env {
                    name: setting.name.to_owned(),
                    message,
                })?;
            }
        }
        Ok(())
    }

    /// The Zoom client `serve` and `backtest` build: this API, these
    /// credentials, requests through `budget`.
    pub fn zoom_client(
        &self,
        budget: std::sync::Arc<crate::quota::Budget>,
        registry: &mut prometheus_client::registry::Registry,
    ) -> anyhow::Result<crate::zoom::client::ZoomClient> {
        crate::zoom::client::ZoomClient::new(
            self.zoom.client(),
            self.secrets.zoom_credentials()?,
            budget,
            registry,
        )
    }

    /// Checks what types cannot: ranges, URLs, required secrets.
    /// The shared database's URL, when several replicas share PostgreSQL:
    /// `QOSWATCH_DATABASE_URL` (or `_FILE`), else `store.url`.
    /// Sets `accounts` as `accounts:` in the file would, their secrets read
    /// from `env` (for embedders and tests that build settings in code).
    pub fn set_accounts(
        &mut self,
        accounts: Vec<AccountSettings>,
        env: EnvLookup<'_>,
    ) -> Result<(), ConfigError> {
        self.resolved_accounts = accounts::resolve(&accounts, &self.zoom, env)?;
        self.accounts = accounts;
        Ok(())
    }

    /// The deployment's Zoom accounts: those of `accounts:`, or the single
    /// one of `zoom:` and the `ZOOM_*` variables.
    pub fn zoom_accounts(&self) -> Vec<ZoomAccount> {
        if self.accounts.is_empty() {
            vec![accounts::single(&self.zoom, &self.secrets)]
        } else {
            self.resolved_accounts.clone()
        }
    }

    pub fn database_url(&self) -> Option<SecretString> {
        self.secrets.database_url.clone().or_else(|| {
            self.store
                .url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| SecretString::from(u.to_owned()))
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_values()?;
        if !self.accounts.is_empty() {
            for account in &self.resolved_accounts {
                account.check_secrets()?;
            }
            return Ok(());
        }
        if self.secrets.webhook_secret_tokens.is_empty() {
            return Err(ConfigError::MissingSecret {
                name: ENV_WEBHOOK_SECRET,
            });
        }
        for (name, value) in [
            (ENV_ACCOUNT_ID, &self.secrets.account_id),
            (ENV_CLIENT_ID, &self.secrets.client_id),
            (ENV_CLIENT_SECRET, &self.secrets.client_secret),
        ] {
            if value.is_none() {
                return Err(ConfigError::MissingSecret { name });
            }
        }
        Ok(())
    }

    /// Reads the file (if any), applies the environment and loads secrets
    /// as [`Settings::load`] does, but requires none of them: `qoswatch
    /// backtest` needs Zoom's credentials only when it asks Zoom, and the
    /// webhook secret never.
    pub fn load_without_secrets(
        path: Option<&Path>,
        env: EnvLookup<'_>,
    ) -> Result<Settings, ConfigError> {
        let settings = Settings::read(path, env)?;
        settings.validate_values()?;
        Ok(settings)
    }

    /// Every check of [`Settings::validate`] but the secrets'.
    /// Every part checks its own settings; what spans parts is checked here.
    fn validate_values(&self) -> Result<(), ConfigError> {
        self.zoom.check()?;
        accounts::check(&self.accounts, &self.zoom)?;
        self.polling.check()?;
        self.qss.check()?;
        self.webhook.check()?;
        self.server.check()?;
        self.check_across_parts()?;
        self.check_smtp()?;
        Ok(())
    }

    /// The database, the lease and the two shutdown graces.
    fn check_across_parts(&self) -> Result<(), Invalid> {
        if let Some(url) = self.database_url() {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                // Never the value: it may carry a password.
                return Invalid::err(
                    "store.url (or QOSWATCH_DATABASE_URL)",
                    "expected a postgres:// or postgresql:// URL",
                );
            }
        }
        if self.store.lease_ttl < Duration::from_secs(1) {
            return Invalid::err("store.lease_ttl", "must be at least 1s");
        }
        if self.server.shutdown_grace <= self.alerts.dispatch.shutdown_grace {
            return Invalid::err(
                "server.shutdown_grace",
                "must be longer than alerts.dispatch.shutdown_grace, so queued alerts are delivered or reported before exit",
            );
        }
        Ok(())
    }

    /// The SMTP relay: named, with a sender, its password never in the file.
    fn check_smtp(&self) -> Result<(), Invalid> {
        let Some(smtp) = &self.alerts.smtp else {
            return Ok(());
        };
        if smtp.password.is_some() {
            return Invalid::err(
                "alerts.smtp.password",
                "secrets are not read from the settings file; set QOSWATCH_SMTP_PASSWORD",
            );
        }
        if smtp.host.trim().is_empty() {
            return Invalid::err("alerts.smtp.host", "must name the SMTP relay");
        }
        if smtp.from.trim().is_empty() {
            return Invalid::err("alerts.smtp.from", "must be the sender address");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
