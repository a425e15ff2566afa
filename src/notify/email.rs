//! The e-mail channel kind (`type: email`) over SMTP: multipart plain text
//! + HTML, threaded per alert, sent through one pooled lettre transport.

use std::fmt::Write as _;

use futures_util::future::BoxFuture;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::channel::{Context, Deliver};
use super::message::{
    Notification, Phase, format_duration, format_time, meeting_with_id, metric_label, one_line, who,
};
use super::metrics::ChannelKind;
use super::{DeliveryError, NotifyError, SmtpSettings, SmtpTls};
use qoswatch_core::alert::{AlertEvent, AlertStatus};

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The rendered parts of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `<…@qoswatch.domain>` of this mail.
    pub message_id: String,
    /// The thread root this mail answers (`None` for the first mail of a thread).
    pub in_reply_to: Option<String>,
    /// Thread roots of every alert in this mail other than its own id.
    pub references: Vec<String>,
}

/// The Message-ID of the first mail about one alert instance: stable for the
/// alert key and the time the problem started, so the firing, reminder and
/// resolved mails of one instance share a thread, and a later recurrence of
/// the same rule for the same person starts a new one.
pub fn thread_root(event: &AlertEvent, domain: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(event.key.as_str().as_bytes());
    hasher.update(b"|");
    hasher.update(event.started_at.timestamp_millis().to_string().as_bytes());
    let digest = hasher.finalize();
    format!("<{}@qoswatch.{domain}>", hex::encode(digest))
}

fn status_word(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Firing => "firing",
        AlertStatus::Repeat => "repeat",
        AlertStatus::Resolved => "resolved",
    }
}

/// Renders a notification as a mail. `domain` is the sender's domain.
pub fn render(notification: &Notification, show_email: bool, domain: &str) -> RenderedEmail {
    let roots: Vec<String> = notification
        .events
        .iter()
        .map(|event| thread_root(event, domain))
        .collect();
    // The first firing mail of an alert carries the root id itself; every
    // other mail gets its own id and points at the roots.
    let opening = notification
        .events
        .iter()
        .position(|event| event.status == AlertStatus::Firing);
    let (message_id, in_reply_to, references) = match opening {
        Some(index) => {
            let others = roots
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, root)| root.clone())
                .collect();
            (roots[index].clone(), None, others)
        }
        None => {
            let first = notification.first();
            let mut hasher = Sha256::new();
            for event in &notification.events {
                hasher.update(event.key.as_str().as_bytes());
                hasher.update(b"|");
            }
            hasher.update(status_word(first.status).as_bytes());
            hasher.update(first.at.timestamp_millis().to_string().as_bytes());
            let id = format!(
                "<{}.{}@qoswatch.{domain}>",
                hex::encode(hasher.finalize()),
                status_word(first.status)
            );
            (id, roots.first().cloned(), roots)
        }
    };
    RenderedEmail {
        subject: notification.headline(),
        text: render_text(notification, show_email),
        html: render_html(notification, show_email),
        message_id,
        in_reply_to,
        references,
    }
}

fn participant_text(event: &AlertEvent, show_email: bool) -> String {
    let name = who(event.participant.as_ref());
    match event.participant.as_ref().and_then(|p| p.email.as_deref()) {
        Some(email) if show_email && !email.trim().is_empty() => {
            format!("{name} <{}>", one_line(email))
        }
        _ => name,
    }
}

/// (label, value) rows describing one event.
fn rows(event: &AlertEvent, phase: Phase, show_email: bool) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Participant", participant_text(event, show_email)),
        ("Metric", metric_label(event)),
    ];
    if let Some(value) = &event.value {
        rows.push((
            match phase {
                Phase::Problem => "Value",
                Phase::Resolved => "Last value",
            },
            value.clone(),
        ));
    }
    if let Some(threshold) = &event.threshold {
        rows.push(("Threshold", threshold.clone()));
    }
    match phase {
        Phase::Problem => rows.push(("Since", format_time(event.started_at))),
        Phase::Resolved => rows.push((
            "Lasted",
            format!(
                "{} (from {} to {})",
                format_duration(event.started_at, event.at),
                format_time(event.started_at),
                format_time(event.at)
            ),
        )),
    }
    let severity = match event.previous_severity.filter(|p| *p != event.severity) {
        Some(previous) => format!("{} (was {})", event.severity, previous),
        None => event.severity.to_string(),
    };
    rows.push(("Severity", severity));
    if let Some(participant) = &event.participant {
        if let Some(location) = &participant.location {
            rows.push(("Location", location.clone()));
        }
        if let Some(device) = &participant.device {
            rows.push(("Device", device.clone()));
        }
        if let Some(network) = &participant.network_type {
            rows.push(("Network", network.clone()));
        }
    } else {
        rows.push((
            "Scope",
            "reported by Zoom for the whole meeting".to_string(),
        ));
    }
    if let Some(runbook) = &event.runbook {
        rows.push(("Runbook", runbook.clone()));
    }
    rows.push(("Rule", event.rule.clone()));
    rows
}

fn intro(notification: &Notification) -> String {
    let meeting = meeting_with_id(&notification.meeting);
    match (notification.phase, notification.events.len()) {
        (Phase::Problem, 1) => format!("Call quality alert in {meeting}."),
        (Phase::Problem, n) => format!("{n} call quality alerts in {meeting}."),
        (Phase::Resolved, 1) => format!("Call quality is back to normal in {meeting}."),
        (Phase::Resolved, n) => format!("{n} call quality alerts cleared in {meeting}."),
    }
}

fn footer(notification: &Notification) -> String {
    format!(
        "Sent by qoswatch. Meeting UUID: {}",
        notification.meeting.uuid
    )
}

/// The plain-text part.
pub fn render_text(notification: &Notification, show_email: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", intro(notification));
    if let Some(cause) = &notification.shared_cause {
        let _ = writeln!(
            out,
            "\nLikely shared cause: {}",
            cause.describe(notification.participant_count())
        );
    }
    for event in &notification.events {
        let _ = writeln!(
            out,
            "\n{} — {}",
            one_line(&event.summary),
            notification.tag()
        );
        for (label, value) in rows(event, notification.phase, show_email) {
            let _ = writeln!(out, "  {label}: {}", one_line(&value));
        }
    }
    let _ = writeln!(out, "\n-- \n{}", footer(notification));
    out
}

/// The HTML part. Every value is escaped.
pub fn render_html(notification: &Notification, show_email: bool) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body style=\"font-family:sans-serif\">\n",
        escape_html(&notification.headline())
    );
    let _ = writeln!(out, "<p>{}</p>", escape_html(&intro(notification)));
    if let Some(cause) = &notification.shared_cause {
        let _ = writeln!(
            out,
            "<p><strong>Likely shared cause:</strong> {}</p>",
            escape_html(&cause.describe(notification.participant_count()))
        );
    }
    for event in &notification.events {
        let _ = writeln!(
            out,
            "<h3>{} — {}</h3>\n<table>",
            escape_html(&one_line(&event.summary)),
            notification.tag()
        );
        for (label, value) in rows(event, notification.phase, show_email) {
            let value_html = if label == "Runbook"
                && (value.starts_with("https://") || value.starts_with("http://"))
            {
                format!(
                    "<a href=\"{}\">{}</a>",
                    escape_html(value.trim()),
                    escape_html(value.trim())
                )
            } else {
                escape_html(&value)
            };
            let _ = writeln!(
                out,
                "<tr><th align=\"left\">{label}</th><td>{value_html}</td></tr>"
            );
        }
        let _ = writeln!(out, "</table>");
    }
    let _ = writeln!(
        out,
        "<p style=\"color:#666\">{}</p>\n</body></html>",
        escape_html(&footer(notification))
    );
    out
}

/// Sends mail through one pooled SMTP transport, shared by all e-mail channels.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Builds the transport (no connection is made yet).
    pub fn new(settings: &SmtpSettings) -> Result<Mailer, NotifyError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| NotifyError::InvalidSmtp("`from` is not a valid mailbox".into()))?;
        let domain = from.email.domain().to_string();
        if settings.host.trim().is_empty() {
            return Err(NotifyError::InvalidSmtp("`host` is empty".into()));
        }
        let tls_parameters = || {
            TlsParameters::new(settings.host.clone()).map_err(|_| {
                NotifyError::InvalidSmtp("TLS parameters for `host` could not be built".into())
            })
        };
        let tls = match settings.tls {
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
            SmtpTls::StartTls => Tls::Required(tls_parameters()?),
            SmtpTls::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        match (&settings.username, &settings.password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(
                    username.clone(),
                    password.expose_secret().to_string(),
                ));
            }
            (None, None) => {}
            _ => {
                return Err(NotifyError::InvalidSmtp(
                    "`username` and `password` must be given together".into(),
                ));
            }
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
            domain,
        })
    }

    /// The sender's domain, used in Message-IDs.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Builds the mail for `notification` to `to`.
    pub fn build(
        &self,
        notification: &Notification,
        to: &[Mailbox],
        show_email: bool,
    ) -> Result<Message, DeliveryError> {
        let rendered = render(notification, show_email, &self.domain);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(rendered.subject)
            .message_id(Some(rendered.message_id))
            .date_now()
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_string(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
                "All".to_string(),
            ));
        for mailbox in to {
            builder = builder.to(mailbox.clone());
        }
        if let Some(parent) = rendered.in_reply_to {
            builder = builder.in_reply_to(parent);
        }
        if !rendered.references.is_empty() {
            builder = builder.references(rendered.references.join(" "));
        }
        builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(rendered.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(rendered.html),
                    ),
            )
            .map_err(|_| DeliveryError::Permanent {
                reason: "the mail could not be built".into(),
            })
    }

    /// Closes pooled connections politely (QUIT). Later sends fail.
    pub async fn shutdown(&self) {
        self.transport.shutdown().await;
    }

    pub async fn send(&self, message: Message) -> Result<(), DeliveryError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) => Err(classify(&error)),
        }
    }
}

/// lettre's error → what to do with the message. The reason never contains
/// the server's text (it may quote recipient addresses).
fn classify(error: &lettre::transport::smtp::Error) -> DeliveryError {
    let code = error
        .status()
        .map(|code| format!(" {code}"))
        .unwrap_or_default();
    if error.is_permanent() {
        DeliveryError::Permanent {
            reason: format!("SMTP permanent error{code}"),
        }
    } else if error.is_client() {
        DeliveryError::Permanent {
            reason: "SMTP client error".into(),
        }
    } else if error.is_transient() {
        DeliveryError::Transient {
            retry_after: None,
            reason: format!("SMTP transient error{code}"),
        }
    } else if error.is_timeout() {
        DeliveryError::Transient {
            retry_after: None,
            reason: "SMTP timeout".into(),
        }
    } else if error.is_tls() {
        DeliveryError::Transient {
            retry_after: None,
            reason: "SMTP TLS error".into(),
        }
    } else {
        DeliveryError::Transient {
            retry_after: None,
            reason: "SMTP connection error".into(),
        }
    }
}

/// Delivers to fixed recipients.
#[derive(Debug, Clone)]
pub struct EmailChannel {
    mailer: Mailer,
    to: Vec<Mailbox>,
    show_email: bool,
}

impl EmailChannel {
    /// Checks the recipients of channel `channel`. Errors name the channel and
    /// the position of the bad address, not the address.
    pub fn new(
        channel: &str,
        mailer: Mailer,
        to: &[String],
        show_email: bool,
    ) -> Result<Self, NotifyError> {
        if to.is_empty() {
            return Err(NotifyError::InvalidChannel {
                channel: channel.to_string(),
                reason: "an e-mail channel needs at least one recipient in `to`".into(),
            });
        }
        let to = to
            .iter()
            .enumerate()
            .map(|(index, address)| {
                address
                    .parse::<Mailbox>()
                    .map_err(|_| NotifyError::InvalidChannel {
                        channel: channel.to_string(),
                        reason: format!("recipient #{} is not a valid address", index + 1),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EmailChannel {
            mailer,
            to,
            show_email,
        })
    }
}

/// The label of e-mail channels in metrics.
pub const KIND: ChannelKind = ChannelKind::new("email");

/// `type: email`: through the server's one SMTP relay (`smtp:`), which must
/// be configured.
pub(super) fn build(
    context: &Context<'_>,
    to: &[String],
    show_email: bool,
) -> Result<Box<dyn Deliver>, NotifyError> {
    let mailer = context
        .clients
        .mailer
        .clone()
        .ok_or_else(|| NotifyError::MissingSmtp {
            channel: context.channel.to_owned(),
        })?;
    Ok(Box::new(EmailChannel::new(
        context.channel,
        mailer,
        to,
        show_email,
    )?))
}

impl Deliver for EmailChannel {
    fn kind(&self) -> ChannelKind {
        KIND
    }

    fn deliver<'a>(
        &'a self,
        notification: &'a Notification,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(async move {
            let message = self.mailer.build(notification, &self.to, self.show_email)?;
            self.mailer.send(message).await
        })
    }
}

#[cfg(test)]
mod tests;
