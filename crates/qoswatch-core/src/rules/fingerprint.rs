//! Rule fingerprints: a hash of what a compiled rule is, so that a reload
//! keeps the alert state of the rules that did not change (the engine
//! matches them by name and fingerprint).
//!
//! Hashed from the data, never from `Debug` text: floats by their bits,
//! regexes by their source, everything else by its derived `Hash`. Every
//! field of [`Rule`] is destructured, so a new field does not compile until
//! it is hashed here (or explicitly left out).
//!
//! The hasher is [`DefaultHasher::new`]: SipHash with fixed keys,
//! deterministic within a process. Neither it nor the `Hash` impls of std
//! are stable across Rust releases, which does not matter: fingerprints
//! never leave the process (they are not stored nor sent).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::model::{Matcher, Rule, Scope};

/// The fingerprint of a compiled rule: a hash of every field but the
/// fingerprint itself.
pub(crate) fn of(rule: &Rule) -> u64 {
    let Rule {
        name,
        metrics,
        unit,
        direction,
        warning,
        critical,
        sustain,
        clear_threshold,
        clear_for,
        scope,
        summary,
        runbook,
        warning_route,
        critical_route,
        missing_data,
        fingerprint: _,
    } = rule;
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    metrics.hash(&mut hasher);
    unit.hash(&mut hasher);
    direction.hash(&mut hasher);
    warning.map(f64::to_bits).hash(&mut hasher);
    critical.map(f64::to_bits).hash(&mut hasher);
    sustain.hash(&mut hasher);
    clear_threshold.map(f64::to_bits).hash(&mut hasher);
    clear_for.hash(&mut hasher);
    let Scope { include, exclude } = scope;
    include.hash(&mut hasher);
    exclude.hash(&mut hasher);
    summary.hash(&mut hasher);
    runbook.hash(&mut hasher);
    warning_route.hash(&mut hasher);
    critical_route.hash(&mut hasher);
    missing_data.hash(&mut hasher);
    hasher.finish()
}

/// Identifies an exact list of rules (names and fingerprints, in order);
/// participant states compare it to notice a reload.
pub(crate) fn generation(rules: &[Rule]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for rule in rules {
        rule.name.hash(&mut hasher);
        rule.fingerprint.hash(&mut hasher);
    }
    hasher.finish()
}

/// A matcher is its field and the source of its (anchored,
/// case-insensitive) regex, which the compiler builds from the patterns.
impl Hash for Matcher {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let Matcher { field, regex } = self;
        field.hash(state);
        regex.as_str().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::RuleSet;

    /// (name, fingerprint) of every rule of a file.
    fn fingerprints(text: &str) -> Vec<(String, u64)> {
        let rules = RuleSet::from_str("test.yaml", text).unwrap_or_else(|d| panic!("{d}"));
        rules
            .rules()
            .map(|r| (r.name.clone(), r.fingerprint))
            .collect()
    }

    /// The fingerprint of a latency rule `lat` with `lines` added to it.
    fn lat(lines: &str) -> u64 {
        let text = format!("rules:\n  - name: lat\n    metric: audio_input.latency\n{lines}");
        let all = fingerprints(&text);
        assert_eq!(all.len(), 1);
        all[0].1
    }

    const BASE: &str = "    above: { warning: 150ms, critical: 400ms }\n";

    #[test]
    fn the_same_text_compiled_twice_has_the_same_fingerprints() {
        let text = include_str!("../../../../rules.example.yaml");
        let first = fingerprints(text);
        assert!(first.len() >= 3);
        assert_eq!(first, fingerprints(text));
        let (a, b) = (
            RuleSet::from_str("a.yaml", text).unwrap(),
            RuleSet::from_str("b.yaml", text).unwrap(),
        );
        assert_eq!(a.generation, b.generation);
        assert_eq!(lat(BASE), lat(BASE));
    }

    #[test]
    fn a_change_of_behaviour_changes_the_fingerprint() {
        let base = lat(BASE);
        let changed = [
            // One threshold.
            "    above: { warning: 151ms, critical: 400ms }\n",
            "    above: { warning: 150ms, critical: 401ms }\n",
            "    above: { warning: 150ms }\n",
            "    below: { warning: 150ms, critical: 100ms }\n",
            "    above: { warning: 150ms, critical: 400ms }\n    clear: { below: 120ms }\n",
            // One scope.
            "    above: { warning: 150ms, critical: 400ms }\n    scope: { participant: 'ann*' }\n",
            "    above: { warning: 150ms, critical: 400ms }\n    exclude: { participant: 'ann*' }\n",
            "    above: { warning: 150ms, critical: 400ms }\n    scope: { device: 'ann*' }\n",
            // One template.
            "    above: { warning: 150ms, critical: 400ms }\n    summary: '{participant} {value}'\n",
            "    above: { warning: 150ms, critical: 400ms }\n    runbook: 'https://wiki/{rule}'\n",
            // Timing, routing, missing data.
            "    above: { warning: 150ms, critical: 400ms }\n    for: 2m\n",
            "    above: { warning: 150ms, critical: 400ms }\n    for: 2 samples\n",
            "    above: { warning: 150ms, critical: 400ms }\n    clear: { for: 2m }\n",
            "    above: { warning: 150ms, critical: 400ms }\n    route: { repeat: 10m }\n",
            "    above: { warning: 150ms, critical: 400ms }\n    route: { send_resolved: false }\n",
            "    above: { warning: 150ms, critical: 400ms }\n    missing_data: { after: 5m }\n",
        ];
        let mut seen = vec![base];
        for lines in changed {
            let fingerprint = lat(lines);
            assert!(!seen.contains(&fingerprint), "{lines}");
            seen.push(fingerprint);
        }
        // Scopes differing only in the pattern.
        let scoped = |pattern: &str| {
            lat(&format!(
                "{BASE}    scope: {{ participant: ['{pattern}'] }}\n"
            ))
        };
        assert_ne!(scoped("ann*"), scoped("bob*"));
        // Templates differing only in one placeholder.
        let summary = |text: &str| lat(&format!("{BASE}    summary: '{text}'\n"));
        assert_ne!(
            summary("{participant} {value}"),
            summary("{participant} {threshold}")
        );
        // Another metric, another name.
        let other = "rules:\n  - name: lat\n    metric: audio_output.latency\n    above: { warning: 150ms, critical: 400ms }\n";
        assert_ne!(fingerprints(other)[0].1, base);
        let renamed = "rules:\n  - name: lat2\n    metric: audio_input.latency\n    above: { warning: 150ms, critical: 400ms }\n";
        assert_ne!(fingerprints(renamed)[0].1, base);
    }

    #[test]
    fn spellings_of_the_same_rule_have_the_same_fingerprint() {
        // Units, shorthand, key order, flow or block style, comments.
        assert_eq!(
            lat("    above: 150ms\n"),
            lat("    above: { warning: 0.15s }\n")
        );
        assert_eq!(
            lat(BASE),
            lat(
                "    # comment\n    above:\n      critical: 0.4s   # ITU-T G.114\n      warning: 150ms\n    enabled: true\n"
            )
        );
        // A glob and the regex it stands for compile to the same matcher.
        assert_eq!(
            lat(&format!("{BASE}    scope: {{ participant: 'ann*' }}\n")),
            lat(&format!("{BASE}    scope: {{ participant: '/ann.*/' }}\n"))
        );
        // The defaults a rule inherits, or the same values written on it.
        let inherited = "defaults:\n  for: 2m\n  route: { repeat: 10m }\nrules:\n  - name: lat\n    metric: audio_input.latency\n    above: { warning: 150ms, critical: 400ms }\n";
        let written = "rules:\n  - name: lat\n    metric: audio_input.latency\n    above: { warning: 150ms, critical: 400ms }\n    for: 2m\n    route: { repeat: 10m, channels: [console] }\n";
        assert_eq!(fingerprints(inherited), fingerprints(written));
        // Other rules, and the rule's place in the file.
        let two = "rules:\n  - { name: jit, metric: audio_input.jitter, above: 30ms }\n  - { name: lat, metric: audio_input.latency, above: { warning: 150ms, critical: 400ms } }\n";
        let lat_in_two = fingerprints(two)
            .into_iter()
            .find(|(name, _)| name == "lat")
            .unwrap();
        assert_eq!(lat_in_two.1, lat(BASE));
    }
}
