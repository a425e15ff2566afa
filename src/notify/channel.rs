//! The channel seam: what a channel kind does ([`Deliver`]), what it is
//! built from ([`Context`]: its name, the environment, the shared
//! [`Clients`]), and the one table mapping a channel definition of the rules
//! file to the file that builds it ([`build_one`]).
//!
//! A channel kind only renders and sends one message, and says whether a
//! failure is worth retrying. Everything around that is the same for every
//! kind and lives in the worker: the queue and the store, retries with
//! back-off, pauses asked for by `Retry-After`, pacing, the metrics
//! (labelled by the kind's [`ChannelKind`]) and the status page's health.
//!
//! Adding a kind:
//! 1. the core crate parses its settings: a `ChannelSpec` variant and its
//!    keys in `crates/qoswatch-core/src/rules/compile/channel.rs`;
//! 2. one file in `src/notify/`: `pub const KIND: ChannelKind`, the channel
//!    struct, `fn build(&Context, <its spec's fields>) -> Result<Box<dyn
//!    Deliver>, NotifyError>` (secrets through [`Context::secret_env`];
//!    errors name variables, never values), and `impl Deliver` (a JSON
//!    webhook sends with `http::post_json`, which classifies the answer and
//!    reads `Retry-After`);
//! 3. its `mod` line in `mod.rs` and its arm in [`build_one`].

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::console::{self, ConsoleWriter};
use super::email::{self, Mailer};
use super::message::Notification;
use super::metrics::ChannelKind;
use super::{DeliveryError, NotifyError, NotifySettings, SmtpSettings};
use super::{alertmanager, pagerduty, slack, teams, webhook};
use qoswatch_core::alert::{AlertEvent, Channel, ChannelSpec};

/// One built channel, ready to deliver. Its worker owns it.
pub(super) trait Deliver: fmt::Debug + Send + Sync {
    /// The kind, as the metrics and the status page label it.
    fn kind(&self) -> ChannelKind;

    /// Least time between two messages of this channel, if the service
    /// behind it limits the rate (`None`: as fast as the queue goes).
    fn min_interval(&self) -> Option<Duration> {
        None
    }

    /// Renders and sends one message. `Transient` failures are retried
    /// (not before `retry_after` when the server asked), `Permanent` ones
    /// are given up on. Reasons never carry a secret or an address.
    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;

    /// How often the worker calls [`Deliver::refresh`], for a receiver that
    /// forgets what is not sent again (Alertmanager); `None`: never.
    fn refresh_every(&self) -> Option<Duration> {
        None
    }

    /// Sends again what the receiver must keep hearing of. Failures are the
    /// kind's to log; the next round tries again.
    fn refresh(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// At start: the alerts firing on the restored board (not silenced)
    /// that were routed to this channel, for a kind that keeps them to send
    /// again (Alertmanager); the first [`Deliver::refresh`] sends them.
    fn resume(&self, _firing: &[AlertEvent]) {}
}

/// Every channel of the rules file, with its built delivery.
pub(super) type Built = Vec<(Channel, Box<dyn Deliver>)>;

/// What channels share: one HTTP client, one SMTP pool (when `smtp:` is
/// configured), one console writer, and the dispatch settings.
pub(super) struct Clients {
    pub http: reqwest::Client,
    pub mailer: Option<Mailer>,
    pub console: ConsoleWriter,
    pub settings: NotifySettings,
}

impl Clients {
    /// Builds the shared clients; no connection is made yet.
    pub fn new(
        settings: &NotifySettings,
        smtp: Option<&SmtpSettings>,
        console: Box<dyn io::Write + Send>,
    ) -> Result<Self, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(settings.http_timeout)
            .connect_timeout(settings.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| NotifyError::HttpClient)?;
        let mailer = smtp.map(Mailer::new).transpose()?;
        Ok(Clients {
            http,
            mailer,
            console: Arc::new(Mutex::new(console)),
            settings: settings.clone(),
        })
    }
}

/// What a channel kind's `build` gets besides its spec's fields.
pub(super) struct Context<'a> {
    /// The channel's name in the rules file.
    pub channel: &'a str,
    pub clients: &'a Clients,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Context<'_> {
    /// The value of environment variable `variable` (named by the spec's
    /// key `key`, such as `webhook_url_env`), which must be set and not
    /// blank. The error names the channel, the key and the variable.
    pub fn secret_env(&self, key: &str, variable: &str) -> Result<String, NotifyError> {
        (self.env)(variable)
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| NotifyError::MissingSecretEnv {
                channel: self.channel.to_owned(),
                key: key.to_owned(),
                variable: variable.to_owned(),
            })
    }

    /// An error about the value of `variable` (named by `key`): says what
    /// is wrong, never the value.
    pub fn invalid_secret(&self, key: &str, variable: &str, reason: &str) -> NotifyError {
        NotifyError::InvalidSecret {
            channel: self.channel.to_owned(),
            key: key.to_owned(),
            variable: variable.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// The registry: which file builds each kind of channel. One arm per kind.
fn build_one(spec: &ChannelSpec, context: &Context<'_>) -> Result<Box<dyn Deliver>, NotifyError> {
    match spec {
        ChannelSpec::Slack {
            webhook_url_env,
            show_email,
            ..
        } => slack::build(context, webhook_url_env, *show_email),
        ChannelSpec::Email { to, show_email, .. } => email::build(context, to, *show_email),
        ChannelSpec::Console { .. } => console::build(context),
        ChannelSpec::Teams {
            webhook_url_env,
            show_email,
            ..
        } => teams::build(context, webhook_url_env, *show_email),
        ChannelSpec::PagerDuty {
            routing_key_env,
            url,
            show_email,
            ..
        } => pagerduty::build(context, routing_key_env, url.as_deref(), *show_email),
        ChannelSpec::Webhook {
            url_env,
            secret_env,
            show_email,
            ..
        } => webhook::build(context, url_env, secret_env, *show_email),
        ChannelSpec::Alertmanager { url, .. } => alertmanager::build(context, url),
    }
}

/// Builds every channel, in order. Fails on the first channel that cannot be
/// built, or on a name defined twice; nothing is built then.
pub(super) fn build(
    channels: &[Channel],
    env: &dyn Fn(&str) -> Option<String>,
    clients: &Clients,
) -> Result<Built, NotifyError> {
    let mut built: Built = Vec::with_capacity(channels.len());
    for channel in channels {
        if built.iter().any(|(c, _)| c.name == channel.name) {
            return Err(NotifyError::DuplicateChannel {
                channel: channel.name.clone(),
            });
        }
        let context = Context {
            channel: &channel.name,
            clients,
            env,
        };
        let delivery = build_one(&channel.spec, &context)?;
        built.push((channel.clone(), delivery));
    }
    Ok(built)
}

#[cfg(test)]
mod tests;
