//! `channels:`: console, Slack, e-mail, Teams, PagerDuty, signed-webhook
//! and Alertmanager notification channels, plus the built-in `console`
//! channel when the file does not define one.

use std::collections::BTreeMap;

use crate::alert::{Channel, ChannelSpec};
use crate::rules::diag::suggestion;
use crate::rules::yaml::{Node, Value};

use super::DEFAULT_CHANNEL;
use super::fields::{Ctx, Fields, boolean, string, strings};

const CHANNEL_TYPES: &[&str] = &[
    "console",
    "slack",
    "email",
    "teams",
    "pagerduty",
    "webhook",
    "alertmanager",
];

fn env_name(ctx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    let name = string(ctx, node, what)?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        // Never echo the value: it may be the secret itself.
        ctx.error(
            node.pos,
            format!("{what} must be the NAME of an environment variable (such as `QOSWATCH_SLACK_WEBHOOK_URL`) that holds the secret, never the secret itself"),
        );
        return None;
    }
    Some(name)
}

/// A channel definition: `type:` first, then the keys of that type.
fn channel(ctx: &mut Ctx, name: &str, node: &Node) -> Option<ChannelSpec> {
    let what = format!("channel `{name}`");
    let (kind, known) = channel_type(ctx, &what, node)?;
    let fields = Fields::read(ctx, node, &what, known)?;
    let send_resolved = fields
        .get("send_resolved")
        .and_then(|n| boolean(ctx, n, "`send_resolved`"))
        .unwrap_or(true);
    let show_email = fields
        .get("show_email")
        .and_then(|n| boolean(ctx, n, "`show_email`"))
        .unwrap_or(false);
    let need = |ctx: &mut Ctx, key: &str, holds: &str| -> Option<&Node> {
        let found = fields.get(key);
        if found.is_none() {
            ctx.error(node.pos, format!("{what} needs `{key}`: {holds}"));
        }
        found
    };
    let env = |ctx: &mut Ctx, key: &str, holds: &str| -> Option<String> {
        let holds = format!("the name of the environment variable holding {holds}");
        let found = need(ctx, key, &holds)?;
        env_name(ctx, found, &format!("`{key}`"))
    };
    match kind {
        "console" => Some(ChannelSpec::Console { send_resolved }),
        "slack" => Some(ChannelSpec::Slack {
            webhook_url_env: env(ctx, "webhook_url_env", "the Slack webhook URL")?,
            show_email,
            send_resolved,
        }),
        "teams" => Some(ChannelSpec::Teams {
            webhook_url_env: env(ctx, "webhook_url_env", "the Teams Workflows webhook URL")?,
            show_email,
            send_resolved,
        }),
        "pagerduty" => Some(ChannelSpec::PagerDuty {
            url: match fields.get("url") {
                Some(url) => Some(http_url(ctx, url, "`url`")?),
                None => None,
            },
            routing_key_env: env(ctx, "routing_key_env", "the integration's routing key")?,
            show_email,
            send_resolved,
        }),
        "webhook" => {
            let url_env = env(ctx, "url_env", "the URL to post to");
            let secret_env = env(ctx, "secret_env", "the signing secret (`whsec_…`)");
            Some(ChannelSpec::Webhook {
                url_env: url_env?,
                secret_env: secret_env?,
                show_email,
                send_resolved,
            })
        }
        "alertmanager" => {
            let holds = "the Alertmanager's address, such as `http://alertmanager:9093`";
            let url = need(ctx, "url", holds)?;
            Some(ChannelSpec::Alertmanager {
                url: http_url(ctx, url, "`url`")?,
                send_resolved,
            })
        }
        _ => {
            let to = need(ctx, "to", "a list of recipient addresses")?;
            Some(ChannelSpec::Email {
                to: recipients(ctx, to)?,
                show_email,
                send_resolved,
            })
        }
    }
}

/// A plain `http://` or `https://` address with a host (not a secret:
/// secrets go through environment variables).
fn http_url(ctx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    let url = string(ctx, node, what)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
    if host.is_none_or(|host| host.is_empty() || host.contains(char::is_whitespace))
        || url.contains(char::is_whitespace)
    {
        ctx.error(
            node.pos,
            format!("{what} must be an http:// or https:// address with a host"),
        );
        return None;
    }
    Some(url)
}

/// The `type:` of a channel definition and the keys that type allows.
fn channel_type(
    ctx: &mut Ctx,
    what: &str,
    node: &Node,
) -> Option<(&'static str, &'static [&'static str])> {
    let Value::Map(entries) = &node.value else {
        ctx.error(
            node.pos,
            format!(
                "{what} must be a mapping with `type:` ({})",
                CHANNEL_TYPES.join(", ")
            ),
        );
        return None;
    };
    let type_node = entries
        .iter()
        .find(|(k, _)| k.value == Value::Str("type".into()))
        .map(|(_, v)| v);
    let Some(type_node) = type_node else {
        ctx.error(
            node.pos,
            format!(
                "{what} has no `type`; expected one of: {}",
                CHANNEL_TYPES.join(", ")
            ),
        );
        return None;
    };
    let kind = string(ctx, type_node, &format!("`type` of {what}"))?;
    match kind.as_str() {
        "console" => Some(("console", &["type", "send_resolved"])),
        "slack" => Some((
            "slack",
            &["type", "webhook_url_env", "show_email", "send_resolved"],
        )),
        "email" => Some(("email", &["type", "to", "show_email", "send_resolved"])),
        "teams" => Some((
            "teams",
            &["type", "webhook_url_env", "show_email", "send_resolved"],
        )),
        "pagerduty" => Some((
            "pagerduty",
            &[
                "type",
                "routing_key_env",
                "url",
                "show_email",
                "send_resolved",
            ],
        )),
        "webhook" => Some((
            "webhook",
            &[
                "type",
                "url_env",
                "secret_env",
                "show_email",
                "send_resolved",
            ],
        )),
        // No `send_resolved`: an Alertmanager must hear of every end.
        "alertmanager" => Some(("alertmanager", &["type", "url"])),
        other => {
            ctx.error(
                type_node.pos,
                format!(
                    "unknown channel type `{other}`{}; expected one of: {}",
                    suggestion(other, CHANNEL_TYPES.iter().copied()),
                    CHANNEL_TYPES.join(", ")
                ),
            );
            None
        }
    }
}

/// `to:` of an e-mail channel: at least one address, each `name@domain.tld`.
fn recipients(ctx: &mut Ctx, to: &Node) -> Option<Vec<String>> {
    let recipients = strings(ctx, to, "`to`")?;
    let mut ok = !recipients.is_empty();
    if recipients.is_empty() {
        ctx.error(to.pos, "`to` needs at least one recipient address");
    }
    for (address, pos) in &recipients {
        let valid = address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !address.contains(char::is_whitespace)
        });
        if !valid {
            ctx.error(
                *pos,
                "bad e-mail address in `to`; expected `name@example.com`",
            );
            ok = false;
        }
    }
    ok.then(|| recipients.into_iter().map(|(a, _)| a).collect())
}

pub(super) fn channels(ctx: &mut Ctx, node: Option<&Node>) -> BTreeMap<String, Channel> {
    let mut out = BTreeMap::new();
    if let Some(node) = node {
        match &node.value {
            Value::Map(entries) => {
                for (key, value) in entries {
                    let Some(name) = string(ctx, key, "a channel name") else {
                        continue;
                    };
                    // Keep the name even when the definition is broken, so
                    // routes naming it are not reported a second time.
                    let spec = channel(ctx, &name, value).unwrap_or(ChannelSpec::Console {
                        send_resolved: false,
                    });
                    out.insert(name.clone(), Channel { name, spec });
                }
            }
            Value::Null => {}
            other => ctx.error(
                node.pos,
                format!(
                    "`channels` must be a mapping of channel names to definitions, found {}",
                    other.kind()
                ),
            ),
        }
    }
    out.entry(DEFAULT_CHANNEL.to_owned())
        .or_insert_with(|| Channel {
            name: DEFAULT_CHANNEL.to_owned(),
            spec: ChannelSpec::Console {
                send_resolved: true,
            },
        });
    out
}

#[cfg(test)]
mod tests {
    use crate::alert::ChannelSpec;
    use crate::rules::RuleSet;

    const RULE: &str = "rules:\n  - { name: lat, metric: audio_input.latency, above: 300ms }\n";

    fn spec(channel: &str) -> Result<ChannelSpec, String> {
        let text = format!("channels:\n  it: {channel}\n{RULE}");
        let rules = RuleSet::from_str("t.yaml", &text).map_err(|d| d.to_string())?;
        Ok(rules
            .channels()
            .iter()
            .find(|c| c.name == "it")
            .expect("channel it")
            .spec
            .clone())
    }

    #[test]
    fn the_new_kinds_parse_with_their_keys() {
        assert_eq!(
            spec("{ type: teams, webhook_url_env: TEAMS_URL }").unwrap(),
            ChannelSpec::Teams {
                webhook_url_env: "TEAMS_URL".into(),
                show_email: false,
                send_resolved: true
            }
        );
        assert_eq!(
            spec("{ type: pagerduty, routing_key_env: PD_KEY, url: 'https://events.eu.pagerduty.com/v2/enqueue', send_resolved: false }").unwrap(),
            ChannelSpec::PagerDuty {
                routing_key_env: "PD_KEY".into(),
                url: Some("https://events.eu.pagerduty.com/v2/enqueue".into()),
                show_email: false,
                send_resolved: false
            }
        );
        assert_eq!(
            spec("{ type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET, show_email: true }")
                .unwrap(),
            ChannelSpec::Webhook {
                url_env: "HOOK_URL".into(),
                secret_env: "HOOK_SECRET".into(),
                show_email: true,
                send_resolved: true
            }
        );
        assert_eq!(
            spec("{ type: alertmanager, url: 'http://alertmanager:9093' }").unwrap(),
            ChannelSpec::Alertmanager {
                url: "http://alertmanager:9093".into(),
                send_resolved: true
            }
        );
    }

    #[test]
    fn missing_or_literal_secrets_and_bad_urls_are_errors_that_do_not_echo_values() {
        let error = spec("{ type: pagerduty }").unwrap_err();
        assert!(error.contains("needs `routing_key_env`"), "{error}");
        let error = spec("{ type: webhook, url_env: HOOK_URL }").unwrap_err();
        assert!(error.contains("needs `secret_env`"), "{error}");
        let error = spec("{ type: webhook, url_env: U, secret_env: whsec_c2VjcmV0 }").unwrap_err();
        assert!(error.contains("must be the NAME"), "{error}");
        assert!(!error.contains("c2VjcmV0"), "{error}");
        let error = spec("{ type: alertmanager }").unwrap_err();
        assert!(error.contains("needs `url`"), "{error}");
        for url in [
            "alertmanager:9093",
            "http://",
            "ftp://am:9093",
            "'http://a m'",
        ] {
            let error = spec(&format!("{{ type: alertmanager, url: {url} }}")).unwrap_err();
            assert!(error.contains("http:// or https://"), "{url}: {error}");
        }
        for key in ["show_email: true", "send_resolved: false"] {
            let error = spec(&format!(
                "{{ type: alertmanager, url: 'http://am', {key} }}"
            ))
            .unwrap_err();
            assert!(error.contains(key.split(':').next().unwrap()), "{error}");
        }
        let error = spec("{ type: pagerdutty, routing_key_env: K }").unwrap_err();
        assert!(error.contains("pagerduty"), "{error}");
    }
}
