//! Quantities with units (`300ms`, `5%`, `-70dBm`), rule thresholds in the
//! unit of their metric, and the `metric:` selector (one metric, several, or
//! `any_audio.jitter` for every stream of a kind).

use crate::qos::{Media, MetricId, Stream, StreamMetric, Unit};
use crate::rules::diag::suggestion;
use crate::rules::yaml::{Node, Value};

use super::fields::{Ctx, strings};

/// Unit suffixes accepted in thresholds: (suffix, unit, factor to the metric's unit).
const UNIT_SUFFIXES: &[(&str, Unit, f64)] = &[
    ("ms", Unit::Millis, 1.0),
    ("s", Unit::Millis, 1000.0),
    ("%", Unit::Percent, 1.0),
    ("kbps", Unit::Kbps, 1.0),
    ("mbps", Unit::Kbps, 1000.0),
    ("bps", Unit::Kbps, 0.001),
    ("fps", Unit::Fps, 1.0),
    ("p", Unit::Pixels, 1.0),
    ("px", Unit::Pixels, 1.0),
    ("dbm", Unit::Dbm, 1.0),
];

/// A quantity with a unit: `300ms`, `5%`, `7fps`, `200kbps`, `360p`, `-70dBm`.
/// Returns the amount in the unit's base (`0.4s` → 400 ms).
pub(crate) fn quantity(text: &str) -> Result<(f64, Unit), String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(split);
    let amount: f64 = number
        .parse()
        .ok()
        .filter(|a: &f64| a.is_finite())
        .ok_or_else(|| format!("`{trimmed}` is not a number with a unit; expected e.g. `300ms`, `5%`, `7fps`, `200kbps`, `360p`, `-70dBm`"))?;
    let suffix = suffix.trim().to_ascii_lowercase();
    if suffix.is_empty() {
        return Err(format!(
            "`{trimmed}` has no unit; expected one of ms, s, %, kbps, Mbps, fps, p, dBm"
        ));
    }
    UNIT_SUFFIXES
        .iter()
        .find(|(s, _, _)| *s == suffix)
        .map(|(_, unit, factor)| (amount * factor, *unit))
        .ok_or_else(|| {
            format!("unknown unit `{suffix}` in `{trimmed}`; expected one of ms, s, %, kbps, Mbps, fps, p, dBm")
        })
}

/// A threshold for a metric of `unit`.
pub(super) fn threshold(
    ctx: &mut Ctx,
    node: &Node,
    unit: Option<Unit>,
    metric: &str,
    what: &str,
) -> Option<f64> {
    let Some(text) = node
        .as_text()
        .filter(|_| !matches!(node.value, Value::Bool(_)))
    else {
        ctx.error(
            node.pos,
            format!(
                "the {what} must be a value with a unit such as `300ms`, found {}",
                node.value.kind()
            ),
        );
        return None;
    };
    match quantity(&text) {
        Ok((amount, found)) => match unit {
            Some(expected) if expected != found => {
                ctx.error(
                    node.pos,
                    format!(
                        "wrong unit for the {what}: `{}` is measured in {} but `{text}` is in {}",
                        metric,
                        expected.suffix(),
                        found.suffix()
                    ),
                );
                None
            }
            _ => Some(amount),
        },
        Err(message) => {
            ctx.error(node.pos, format!("bad {what}: {message}"));
            None
        }
    }
}

/// Every name accepted for `metric:`, for suggestions.
fn metric_names() -> Vec<String> {
    let mut names: Vec<String> = MetricId::all().iter().map(|m| m.name()).collect();
    for group in ["any", "any_audio", "any_video", "any_share"] {
        for metric in StreamMetric::ALL {
            names.push(format!("{group}.{}", metric.name()));
        }
    }
    names
}

/// `audio_input.latency`, or `any.jitter` / `any_audio.jitter` /
/// `any_video.frame_rate` / `any_share.bitrate` for every stream of a kind.
pub(crate) fn metric_selector(name: &str) -> Option<Vec<MetricId>> {
    if let Some(metric) = MetricId::parse(name) {
        return Some(vec![metric]);
    }
    let (group, field) = name.split_once('.')?;
    let media = match group {
        "any" => None,
        "any_audio" => Some(Media::Audio),
        "any_video" => Some(Media::Video),
        "any_share" => Some(Media::Share),
        _ => return None,
    };
    let metric = StreamMetric::from_name(field)?;
    Some(
        Stream::all()
            .into_iter()
            .filter(|s| media.is_none_or(|m| s.media() == m))
            .map(|s| MetricId::Stream(s, metric))
            .collect(),
    )
}

pub(super) fn metrics(ctx: &mut Ctx, node: &Node) -> Option<(Vec<MetricId>, Unit, String)> {
    let names = strings(ctx, node, "`metric`")?;
    if names.is_empty() {
        ctx.error(
            node.pos,
            "`metric` must name at least one metric, such as `audio_input.latency`",
        );
        return None;
    }
    let mut all = Vec::new();
    let mut unit: Option<(Unit, String)> = None;
    let mut ok = true;
    for (name, pos) in &names {
        let Some(selected) = metric_selector(name) else {
            let candidates = metric_names();
            ctx.error(
                *pos,
                format!(
                    "unknown metric `{name}`{}; expected `stream.field` such as `audio_input.latency`, `cpu_usage.zoom_max_cpu_usage`, `wifi_rssi.avg_rssi`, or `any_audio.jitter` for every audio stream",
                    suggestion(name, candidates.iter().map(String::as_str))
                ),
            );
            ok = false;
            continue;
        };
        let this_unit = selected[0].unit();
        match &unit {
            Some((first, first_name)) if *first != this_unit => {
                ctx.error(*pos, format!("`{name}` is measured in {} but `{first_name}` in {}; the metrics of one rule must share a unit", this_unit.suffix(), first.suffix()));
                ok = false;
            }
            Some(_) => {}
            None => unit = Some((this_unit, name.clone())),
        }
        for metric in selected {
            if !all.contains(&metric) {
                all.push(metric);
            }
        }
    }
    let label = names
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match (ok, unit) {
        (true, Some((unit, _))) => Some((all, unit, label)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_converted_to_the_unit_of_the_metric() {
        assert_eq!(quantity("0.4s"), Ok((400.0, Unit::Millis)));
        assert_eq!(quantity(" 2Mbps "), Ok((2000.0, Unit::Kbps)));
        assert_eq!(quantity("-70dBm"), Ok((-70.0, Unit::Dbm)));
        assert_eq!(quantity("360p"), Ok((360.0, Unit::Pixels)));
        let no_unit = quantity("150").unwrap_err();
        assert!(no_unit.starts_with("`150` has no unit"), "{no_unit}");
        let unknown = quantity("5 parsecs").unwrap_err();
        assert!(unknown.starts_with("unknown unit `parsecs`"), "{unknown}");
        let no_number = quantity("ms").unwrap_err();
        assert!(no_number.contains("is not a number"), "{no_number}");
    }

    #[test]
    fn a_misspelt_metric_suggests_the_known_name() {
        for (typo, meant) in [
            ("audio_input.latncy", "audio_input.latency"),
            (
                "video_device_to_rwg.frame_rat",
                "video_device_to_rwg.frame_rate",
            ),
            ("cpu_usage.zoom_max_cpu", "cpu_usage.zoom_max_cpu_usage"),
        ] {
            let yaml = format!("rules:\n  - {{ name: r, metric: {typo}, above: 1 }}\n");
            let error = crate::rules::RuleSet::from_str("rules.yaml", &yaml)
                .expect_err(typo)
                .to_string();
            assert!(
                error.contains(&format!(
                    "unknown metric `{typo}` (did you mean `{meant}`?)"
                )),
                "{error}"
            );
        }
    }

    #[test]
    fn metric_selectors_expand_groups_of_streams() {
        assert_eq!(
            metric_selector("audio_input.latency"),
            Some(vec![MetricId::Stream(
                Stream::AudioInput,
                StreamMetric::Latency
            )])
        );
        let audio = metric_selector("any_audio.jitter").expect("a group");
        assert!(audio.len() >= 2, "{audio:?}");
        assert!(audio.iter().all(|m| matches!(
            m,
            MetricId::Stream(s, StreamMetric::Jitter) if s.media() == Media::Audio
        )));
        let any = metric_selector("any.jitter").expect("every stream");
        assert!(any.len() > audio.len(), "{any:?}");
        assert_eq!(metric_selector("any_fax.jitter"), None);
        assert_eq!(metric_selector("any_audio.nonsense"), None);
    }
}
