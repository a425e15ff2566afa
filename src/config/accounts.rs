//! Several Zoom accounts in one deployment (`accounts:` in the settings
//! file). Each account has its own webhook secret, its own Server-to-Server
//! OAuth app and its own limits; secrets come from environment variables
//! the settings name (each also as `NAME_FILE`), never from the file.
//!
//! Without `accounts:`, the deployment has one account, named
//! [`DEFAULT_ACCOUNT`](qoswatch_core::alert::DEFAULT_ACCOUNT), configured
//! as before: `zoom:` and `ZOOM_ACCOUNT_ID`, `ZOOM_CLIENT_ID`,
//! `ZOOM_CLIENT_SECRET`, `ZOOM_WEBHOOK_SECRET_TOKEN`.

use qoswatch_core::alert::Account;
use qoswatch_core::invalid::Invalid;
use secrecy::SecretString;
use serde::Deserialize;

use super::secrets::{Secrets, secret_value};
use super::{ConfigError, EnvLookup};
use crate::zoom::client::Credentials;
use crate::zoom::settings::ZoomSettings;

/// One entry of `accounts:`. Unset limits and URLs are `zoom:`'s.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// The short name: URLs (`/webhooks/zoom/{name}`), labels, the page.
    pub name: String,
    /// Zoom's account id: the OAuth grant's `account_id`, and what every
    /// webhook of the account carries as `payload.account_id`.
    pub account_id: String,
    /// The variable holding the OAuth app's client id (default
    /// `ZOOM_<NAME>_CLIENT_ID`).
    pub client_id_env: Option<String>,
    /// The variable holding its client secret (default
    /// `ZOOM_<NAME>_CLIENT_SECRET`).
    pub client_secret_env: Option<String>,
    /// The variable holding the webhook secret token(s), comma-separated
    /// while rotating (default `ZOOM_<NAME>_WEBHOOK_SECRET_TOKEN`).
    pub webhook_secret_env: Option<String>,
    /// Zoom's API for this account (a regional cloud).
    pub api_base: Option<String>,
    pub token_url: Option<String>,
    pub requests_per_second: Option<u32>,
    pub daily_limit: Option<u32>,
    pub rate_share: Option<f64>,
    pub daily_share: Option<f64>,
}

impl AccountSettings {
    /// The default variable name of one of the account's secrets:
    /// `ZOOM_<NAME>_<SUFFIX>`, the name upper-cased, `-` as `_`.
    pub fn default_env(name: &str, suffix: &str) -> String {
        format!(
            "ZOOM_{}_{suffix}",
            name.to_ascii_uppercase().replace('-', "_")
        )
    }

    fn env(&self, set: &Option<String>, suffix: &str) -> String {
        set.clone()
            .unwrap_or_else(|| Self::default_env(&self.name, suffix))
    }

    /// `zoom:` with this account's URLs and limits.
    fn zoom(&self, base: &ZoomSettings) -> ZoomSettings {
        let mut zoom = base.clone();
        if let Some(url) = &self.api_base {
            zoom.api_base.clone_from(url);
        }
        if let Some(url) = &self.token_url {
            zoom.token_url.clone_from(url);
        }
        zoom.requests_per_second = self.requests_per_second.unwrap_or(zoom.requests_per_second);
        zoom.daily_limit = self.daily_limit.unwrap_or(zoom.daily_limit);
        zoom.rate_share = self.rate_share.unwrap_or(zoom.rate_share);
        zoom.daily_share = self.daily_share.unwrap_or(zoom.daily_share);
        zoom
    }
}

/// One account, resolved: its name, Zoom's id for it, its settings and
/// secrets. A missing secret is `None` here; validation names its variable.
#[derive(Debug, Clone)]
pub struct ZoomAccount {
    pub account: Account,
    /// Zoom's account id (compared with `payload.account_id`).
    pub account_id: Option<String>,
    pub zoom: ZoomSettings,
    pub client_id: Option<SecretString>,
    pub client_secret: Option<SecretString>,
    pub webhook_tokens: Vec<SecretString>,
    /// The variables the secrets come from, for error messages.
    pub env: AccountEnv,
}

/// Where an account's secrets come from.
#[derive(Debug, Clone)]
pub struct AccountEnv {
    pub account_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: String,
}

impl ZoomAccount {
    /// The OAuth app's credentials, all required.
    pub fn credentials(&self) -> Result<Credentials, ConfigError> {
        let missing = |name: &str| ConfigError::MissingSecretOf {
            name: name.to_owned(),
        };
        Ok(Credentials {
            account_id: SecretString::from(
                self.account_id
                    .clone()
                    .ok_or_else(|| missing(&self.env.account_id))?,
            ),
            client_id: self
                .client_id
                .clone()
                .ok_or_else(|| missing(&self.env.client_id))?,
            client_secret: self
                .client_secret
                .clone()
                .ok_or_else(|| missing(&self.env.client_secret))?,
        })
    }

    /// Every secret is there.
    pub fn check_secrets(&self) -> Result<(), ConfigError> {
        if self.webhook_tokens.is_empty() {
            return Err(ConfigError::MissingSecretOf {
                name: self.env.webhook_secret.clone(),
            });
        }
        self.credentials().map(|_| ())
    }
}

/// The single account of a deployment without `accounts:`: today's
/// settings and variables.
pub(super) fn single(zoom: &ZoomSettings, secrets: &Secrets) -> ZoomAccount {
    use secrecy::ExposeSecret;
    ZoomAccount {
        account: Account::default(),
        account_id: secrets
            .account_id
            .as_ref()
            .map(|id| id.expose_secret().to_owned()),
        zoom: zoom.clone(),
        client_id: secrets.client_id.clone(),
        client_secret: secrets.client_secret.clone(),
        webhook_tokens: secrets.webhook_secret_tokens.clone(),
        env: AccountEnv {
            account_id: super::ENV_ACCOUNT_ID.into(),
            client_id: super::ENV_CLIENT_ID.into(),
            client_secret: super::ENV_CLIENT_SECRET.into(),
            webhook_secret: super::ENV_WEBHOOK_SECRET.into(),
        },
    }
}

/// The accounts of `accounts:`, their secrets read from `env`.
pub(super) fn resolve(
    accounts: &[AccountSettings],
    zoom: &ZoomSettings,
    env: EnvLookup<'_>,
) -> Result<Vec<ZoomAccount>, ConfigError> {
    accounts
        .iter()
        .map(|settings| {
            let names = AccountEnv {
                account_id: format!("accounts[{}].account_id", settings.name),
                client_id: settings.env(&settings.client_id_env, "CLIENT_ID"),
                client_secret: settings.env(&settings.client_secret_env, "CLIENT_SECRET"),
                webhook_secret: settings.env(&settings.webhook_secret_env, "WEBHOOK_SECRET_TOKEN"),
            };
            let tokens = secret_value(env, &names.webhook_secret)?
                .map(|raw| super::secrets::split_tokens(&raw))
                .unwrap_or_default();
            Ok(ZoomAccount {
                account: Account::new(settings.name.clone()),
                account_id: Some(settings.account_id.trim().to_owned()).filter(|id| !id.is_empty()),
                zoom: settings.zoom(zoom),
                client_id: secret_value(env, &names.client_id)?.map(SecretString::from),
                client_secret: secret_value(env, &names.client_secret)?.map(SecretString::from),
                webhook_tokens: tokens,
                env: names,
            })
        })
        .collect()
}

/// Names valid and distinct, Zoom ids distinct, each account's merged
/// settings in range.
pub(super) fn check(accounts: &[AccountSettings], zoom: &ZoomSettings) -> Result<(), Invalid> {
    let mut names = std::collections::HashSet::new();
    let mut ids = std::collections::HashSet::new();
    for settings in accounts {
        if !Account::valid_name(&settings.name) {
            return Invalid::err(
                "accounts[].name",
                "expected 1 to 32 of a-z, 0-9 and '-', starting with a letter (it goes into URLs and labels)",
            );
        }
        if !names.insert(settings.name.as_str()) {
            return Invalid::err("accounts[].name", "two accounts have the same name");
        }
        if settings.account_id.trim().is_empty() {
            return Invalid::err("accounts[].account_id", "must be Zoom's account id");
        }
        if !ids.insert(settings.account_id.trim()) {
            return Invalid::err(
                "accounts[].account_id",
                "two accounts have the same Zoom account id",
            );
        }
        settings.zoom(zoom).check()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_default_from_the_account_name() {
        assert_eq!(
            AccountSettings::default_env("eu-west", "CLIENT_SECRET"),
            "ZOOM_EU_WEST_CLIENT_SECRET"
        );
    }

    #[test]
    fn an_account_s_limits_and_urls_override_zoom_s() {
        let base = ZoomSettings::default();
        let account = AccountSettings {
            name: "eu".into(),
            account_id: "abc".into(),
            api_base: Some("https://api-eu.zoom.us/v2".into()),
            daily_limit: Some(60_000),
            ..AccountSettings::default()
        };
        let zoom = account.zoom(&base);
        assert_eq!(zoom.api_base, "https://api-eu.zoom.us/v2");
        assert_eq!(zoom.daily_limit, 60_000);
        assert_eq!(zoom.token_url, base.token_url);
        assert_eq!(zoom.requests_per_second, base.requests_per_second);
    }

    #[test]
    fn names_and_ids_must_be_distinct_and_usable() {
        let zoom = ZoomSettings::default();
        let account = |name: &str, id: &str| AccountSettings {
            name: name.into(),
            account_id: id.into(),
            ..AccountSettings::default()
        };
        assert!(check(&[account("acme", "1"), account("globex", "2")], &zoom).is_ok());
        let problem = |accounts: &[AccountSettings]| check(accounts, &zoom).unwrap_err().message;
        assert!(problem(&[account("acme", "1"), account("acme", "2")]).contains("same name"));
        assert!(problem(&[account("acme", "1"), account("globex", "1")]).contains("same Zoom"));
        assert!(problem(&[account("Acme", "1")]).contains("a-z"));
        assert!(problem(&[account("acme", " ")]).contains("account id"));
        let mut bad_rate = account("acme", "1");
        bad_rate.rate_share = Some(1.5);
        assert!(check(&[bad_rate], &zoom).is_err());
    }

    #[test]
    fn secrets_come_from_the_named_variables_or_their_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "from-file\n").unwrap();
        let file = file.display().to_string();
        let env = move |name: &str| match name {
            "ZOOM_ACME_CLIENT_ID" => Some("id-a".to_owned()),
            "ZOOM_ACME_CLIENT_SECRET_FILE" => Some(file.clone()),
            "ACME_HOOK" => Some("one, two".to_owned()),
            _ => None,
        };
        let settings = AccountSettings {
            name: "acme".into(),
            account_id: "zoom-acme".into(),
            webhook_secret_env: Some("ACME_HOOK".into()),
            ..AccountSettings::default()
        };
        let zoom = ZoomSettings::default();
        let accounts = resolve(std::slice::from_ref(&settings), &zoom, &env).unwrap();
        let acme = &accounts[0];
        assert_eq!(acme.account.as_str(), "acme");
        assert_eq!(acme.webhook_tokens.len(), 2);
        acme.check_secrets().unwrap();
        let other = AccountSettings {
            name: "globex".into(),
            account_id: "zoom-globex".into(),
            ..AccountSettings::default()
        };
        let accounts = resolve(&[other], &zoom, &env).unwrap();
        let message = accounts[0].check_secrets().unwrap_err().to_string();
        assert!(
            message.contains("ZOOM_GLOBEX_WEBHOOK_SECRET_TOKEN"),
            "{message}"
        );
    }
}
