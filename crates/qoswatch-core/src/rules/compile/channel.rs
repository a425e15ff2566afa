//! `channels:`: console, Slack and e-mail notification channels, plus the
//! built-in `console` channel when the file does not define one.

use std::collections::BTreeMap;

use crate::alert::{Channel, ChannelSpec};
use crate::rules::diag::suggestion;
use crate::rules::yaml::{Node, Value};

use super::DEFAULT_CHANNEL;
use super::fields::{Ctx, Fields, boolean, string, strings};

const CHANNEL_TYPES: &[&str] = &["console", "slack", "email"];

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
    match kind {
        "console" => Some(ChannelSpec::Console { send_resolved }),
        "slack" => {
            let Some(env) = fields.get("webhook_url_env") else {
                ctx.error(node.pos, format!("{what} needs `webhook_url_env`: the name of the environment variable holding the Slack webhook URL"));
                return None;
            };
            let webhook_url_env = env_name(ctx, env, "`webhook_url_env`")?;
            Some(ChannelSpec::Slack {
                webhook_url_env,
                show_email,
                send_resolved,
            })
        }
        _ => {
            let Some(to) = fields.get("to") else {
                ctx.error(
                    node.pos,
                    format!("{what} needs `to`: a list of recipient addresses"),
                );
                return None;
            };
            let to = recipients(ctx, to)?;
            Some(ChannelSpec::Email {
                to,
                show_email,
                send_resolved,
            })
        }
    }
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
