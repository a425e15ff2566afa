use std::collections::HashMap;

use super::*;
use crate::notify::SmtpTls;

fn clients(smtp: bool) -> Clients {
    let smtp = smtp.then(|| SmtpSettings {
        host: "smtp.example.com".into(),
        port: 587,
        tls: SmtpTls::StartTls,
        username: None,
        password: None,
        from: "qoswatch <alerts@example.org>".into(),
        timeout: Duration::from_secs(5),
    });
    let settings = NotifySettings {
        slack_min_interval: Duration::from_millis(1500),
        ..NotifySettings::default()
    };
    Clients::new(&settings, smtp.as_ref(), Box::new(io::sink())).unwrap()
}

fn channel(name: &str, spec: ChannelSpec) -> Channel {
    Channel {
        name: name.into(),
        spec,
    }
}

fn slack(name: &str, variable: &str) -> Channel {
    channel(
        name,
        ChannelSpec::Slack {
            webhook_url_env: variable.into(),
            show_email: false,
            send_resolved: true,
        },
    )
}

fn email(name: &str, to: &[&str]) -> Channel {
    channel(
        name,
        ChannelSpec::Email {
            to: to.iter().map(|s| s.to_string()).collect(),
            show_email: false,
            send_resolved: true,
        },
    )
}

fn console(name: &str) -> Channel {
    channel(
        name,
        ChannelSpec::Console {
            send_resolved: false,
        },
    )
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn build_with(
    channels: &[Channel],
    vars: &HashMap<String, String>,
    smtp: bool,
) -> Result<Built, NotifyError> {
    build(channels, &|name| vars.get(name).cloned(), &clients(smtp))
}

// The SMTP pool must be dropped inside a Tokio runtime.
#[tokio::test]
async fn every_kind_is_built_in_order_with_its_metrics_label() {
    let vars = env(&[("SLACK_OPS", "https://hooks.slack.test/T/B/secret")]);
    let built = build_with(
        &[
            slack("ops", "SLACK_OPS"),
            email("mail", &["it@example.com"]),
            console("log"),
        ],
        &vars,
        true,
    )
    .unwrap();
    let shown: Vec<(&str, &str)> = built
        .iter()
        .map(|(channel, delivery)| (channel.name.as_str(), delivery.kind().as_str()))
        .collect();
    // The labels of the `messages_*` metrics: dashboards depend on them.
    assert_eq!(
        shown,
        [("ops", "slack"), ("mail", "email"), ("log", "console")]
    );
    assert_eq!(built[0].0.spec, slack("ops", "SLACK_OPS").spec);
}

#[tokio::test]
async fn only_slack_is_paced() {
    let vars = env(&[("SLACK_OPS", "https://hooks.slack.test/T/B/secret")]);
    let built = build_with(
        &[
            slack("ops", "SLACK_OPS"),
            email("mail", &["it@example.com"]),
            console("log"),
        ],
        &vars,
        true,
    )
    .unwrap();
    let paced: Vec<Option<Duration>> = built.iter().map(|(_, d)| d.min_interval()).collect();
    assert_eq!(paced, [Some(Duration::from_millis(1500)), None, None]);
}

#[test]
fn a_name_defined_twice_is_refused() {
    let error = build_with(
        &[console("log"), console("ops"), console("log")],
        &env(&[]),
        false,
    )
    .unwrap_err();
    assert!(
        matches!(&error, NotifyError::DuplicateChannel { channel } if channel == "log"),
        "{error}"
    );
}

#[test]
fn a_missing_or_blank_secret_names_channel_and_variable() {
    for vars in [env(&[]), env(&[("SLACK_OPS", "  ")])] {
        let error = build_with(&[slack("ops", "SLACK_OPS")], &vars, false).unwrap_err();
        assert!(
            matches!(&error, NotifyError::MissingSecretEnv { channel, key, variable }
                if channel == "ops" && key == "webhook_url_env" && variable == "SLACK_OPS"),
            "{error}"
        );
    }
}

#[test]
fn a_bad_webhook_url_is_refused_without_showing_it() {
    let vars = env(&[("SLACK_OPS", "hooks.slack.test/secret-123")]);
    let error = build_with(&[slack("ops", "SLACK_OPS")], &vars, false).unwrap_err();
    assert!(matches!(error, NotifyError::InvalidWebhookUrl { .. }));
    assert!(!error.to_string().contains("secret-123"), "{error}");
}

#[tokio::test]
async fn e_mail_needs_smtp_settings_and_valid_recipients() {
    let error = build_with(&[email("mail", &["it@example.com"])], &env(&[]), false).unwrap_err();
    assert!(
        matches!(&error, NotifyError::MissingSmtp { channel } if channel == "mail"),
        "{error}"
    );
    let error = build_with(
        &[email("mail", &["it@example.com", "not an address"])],
        &env(&[]),
        true,
    )
    .unwrap_err();
    assert!(error.to_string().contains("recipient #2"), "{error}");
    assert!(!error.to_string().contains("not an address"), "{error}");
}

#[test]
fn the_new_kinds_build_and_name_their_variables_never_values() {
    let webhook = channel(
        "hook",
        ChannelSpec::Webhook {
            url_env: "HOOK_URL".into(),
            secret_env: "HOOK_SECRET".into(),
            show_email: false,
            send_resolved: true,
        },
    );
    let pagerduty = channel(
        "pd",
        ChannelSpec::PagerDuty {
            routing_key_env: "PD_KEY".into(),
            url: None,
            show_email: false,
            send_resolved: true,
        },
    );
    let teams = channel(
        "teams",
        ChannelSpec::Teams {
            webhook_url_env: "TEAMS_URL".into(),
            show_email: false,
            send_resolved: true,
        },
    );
    let alertmanager = |url: &str| {
        channel(
            "am",
            ChannelSpec::Alertmanager {
                url: url.into(),
                send_resolved: true,
            },
        )
    };
    let good = env(&[
        ("HOOK_URL", "https://hooks.example.com/in"),
        ("HOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("PD_KEY", "R0UT1NGKEY0123456789abcdefghijkl"),
        (
            "TEAMS_URL",
            "https://prod.westeurope.logic.azure.com/workflows/x",
        ),
    ]);
    let built = build_with(
        &[
            webhook.clone(),
            pagerduty.clone(),
            teams.clone(),
            alertmanager("http://am:9093/"),
        ],
        &good,
        false,
    )
    .unwrap();
    let kinds: Vec<&str> = built.iter().map(|(_, d)| d.kind().as_str()).collect();
    assert_eq!(kinds, ["webhook", "pagerduty", "teams", "alertmanager"]);

    let short = env(&[
        ("HOOK_URL", "https://hooks.example.com/in"),
        ("HOOK_SECRET", "whsec_dG9vLXNob3J0"),
    ]);
    let error = build_with(std::slice::from_ref(&webhook), &short, false).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("HOOK_SECRET") && text.contains("too short"),
        "{text}"
    );
    assert!(!text.contains("dG9vLXNob3J0"), "{text}");

    let spaced = env(&[("PD_KEY", "has spaces in it")]);
    let text = build_with(&[pagerduty], &spaced, false)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("PD_KEY") && text.contains("routing_key_env"),
        "{text}"
    );
    assert!(!text.contains("has spaces"), "{text}");

    let error = build_with(&[teams], &env(&[]), false).unwrap_err();
    assert!(
        matches!(&error, NotifyError::MissingSecretEnv { channel, key, variable }
            if channel == "teams" && key == "webhook_url_env" && variable == "TEAMS_URL"),
        "{error}"
    );
    let error = build_with(
        &[webhook],
        &env(&[("HOOK_URL", "https://h.example.com")]),
        false,
    )
    .unwrap_err();
    assert!(error.to_string().contains("(secret_env)"), "{error}");
    assert!(build_with(&[alertmanager("am:9093")], &env(&[]), false).is_err());
}
