//! Secrets, from the environment only (each `NAME` also as `NAME_FILE`,
//! the Docker / Kubernetes secrets convention). `Debug` never prints them.

use secrecy::SecretString;

use super::{ConfigError, EnvLookup};

/// Secrets from the environment. `Debug` never prints them.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// One or more webhook secret tokens (several while rotating).
    pub webhook_secret_tokens: Vec<SecretString>,
    pub account_id: Option<SecretString>,
    pub client_id: Option<SecretString>,
    pub client_secret: Option<SecretString>,
    /// Password of the SMTP relay, if it needs one.
    pub smtp_password: Option<SecretString>,
    /// The admin listener's token (bearer, or basic-auth password); none:
    /// the admin listener is open to whoever can reach it.
    pub admin_token: Option<SecretString>,
    /// `QOSWATCH_DATABASE_URL`: the shared PostgreSQL database.
    pub database_url: Option<SecretString>,
    /// `QOSWATCH_DATABASE_PASSWORD`: its password, if not in the URL.
    pub database_password: Option<SecretString>,
}

/// Names of the secret variables, as Zoom's documentation spells them.
pub const ENV_WEBHOOK_SECRET: &str = "ZOOM_WEBHOOK_SECRET_TOKEN";
pub const ENV_ACCOUNT_ID: &str = "ZOOM_ACCOUNT_ID";
pub const ENV_CLIENT_ID: &str = "ZOOM_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "ZOOM_CLIENT_SECRET";
pub const ENV_SMTP_PASSWORD: &str = "QOSWATCH_SMTP_PASSWORD";
pub const ENV_ADMIN_TOKEN: &str = "QOSWATCH_ADMIN_TOKEN";
/// A `postgres://` URL (a secret: it may carry a password); wins over
/// `store.url`.
pub const ENV_DATABASE_URL: &str = "QOSWATCH_DATABASE_URL";
/// The PostgreSQL password, kept out of the URL.
pub const ENV_DATABASE_PASSWORD: &str = "QOSWATCH_DATABASE_PASSWORD";

impl Secrets {
    /// The Server-to-Server OAuth app's credentials, all three required.
    pub fn zoom_credentials(&self) -> anyhow::Result<crate::zoom::client::Credentials> {
        use anyhow::Context;
        Ok(crate::zoom::client::Credentials {
            account_id: self
                .account_id
                .clone()
                .context("ZOOM_ACCOUNT_ID is not set")?,
            client_id: self
                .client_id
                .clone()
                .context("ZOOM_CLIENT_ID is not set")?,
            client_secret: self
                .client_secret
                .clone()
                .context("ZOOM_CLIENT_SECRET is not set")?,
        })
    }

    /// Reads every secret from `NAME` or `NAME_FILE`. A missing one is left
    /// empty here; [`Settings::validate`] names it.
    pub fn from_env(env: EnvLookup<'_>) -> Result<Secrets, ConfigError> {
        let tokens = secret_value(env, ENV_WEBHOOK_SECRET)?
            .map(|raw| split_tokens(&raw))
            .unwrap_or_default();
        Ok(Secrets {
            webhook_secret_tokens: tokens,
            account_id: secret_value(env, ENV_ACCOUNT_ID)?.map(SecretString::from),
            client_id: secret_value(env, ENV_CLIENT_ID)?.map(SecretString::from),
            client_secret: secret_value(env, ENV_CLIENT_SECRET)?.map(SecretString::from),
            smtp_password: secret_value(env, ENV_SMTP_PASSWORD)?.map(SecretString::from),
            admin_token: secret_value(env, ENV_ADMIN_TOKEN)?.map(SecretString::from),
            database_url: secret_value(env, ENV_DATABASE_URL)?.map(SecretString::from),
            database_password: secret_value(env, ENV_DATABASE_PASSWORD)?.map(SecretString::from),
        })
    }
}

/// Several webhook secret tokens, comma-separated, while one is rotated out.
pub fn split_tokens(raw: &str) -> Vec<SecretString> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| SecretString::from(t.to_owned()))
        .collect()
}

/// `NAME` or the contents of the file named by `NAME_FILE`, trimmed.
pub fn secret_value(env: EnvLookup<'_>, name: &str) -> Result<Option<String>, ConfigError> {
    if let Some(value) = env(name).filter(|v| !v.trim().is_empty()) {
        return Ok(Some(value.trim().to_owned()));
    }
    let file_var = format!("{name}_FILE");
    let Some(path) = env(&file_var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let contents = std::fs::read_to_string(path.trim()).map_err(|e| ConfigError::Env {
        name: file_var.clone(),
        // The path is not secret; the contents are never shown.
        message: format!("cannot read {}: {e}", path.trim()),
    })?;
    let contents = contents.trim();
    if contents.is_empty() {
        return Err(ConfigError::Env {
            name: file_var,
            message: "the file is empty".into(),
        });
    }
    Ok(Some(contents.to_owned()))
}
