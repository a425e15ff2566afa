//! `test-rules`: unit tests for rule files, in the spirit of
//! `promtool test rules`. A test file names a rules file, gives sample
//! series per participant in a compact notation and the alerts expected to
//! be firing at given times.
//!
//! - [`parse`]: the test file's cases, series and expectations;
//! - [`run`]: feeding a case through the rules and comparing the alerts;
//! - this file: the entry points and the report.

mod parse;
mod run;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::RuleSet;
use super::compile::fields::{Ctx, Fields, duration, string};
use super::diag::Diagnostics;
use super::yaml::{self, Node, Value};

use parse::case;
use run::run_case;

const TOP_KEYS: &[&str] = &["rules", "interval", "tests"];

/// Runs a test file; returns (all passed, report).
pub(crate) fn run(path: &Path) -> (bool, String) {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => run_bytes(&name, &bytes, path.parent().unwrap_or(Path::new(""))),
        Err(error) => (
            false,
            Diagnostics::whole_file(&name, format!("cannot read the test file: {error}"))
                .to_string(),
        ),
    }
}

/// Runs a test file's content; the rules file is looked up from `base`.
pub(crate) fn run_bytes(name: &str, bytes: &[u8], base: &Path) -> (bool, String) {
    let root = match yaml::parse(bytes) {
        Ok(root) => root,
        Err(items) => return (false, Diagnostics::new(name, items).to_string()),
    };
    let mut ctx = Ctx::default();
    let Some(fields) = Fields::read(&mut ctx, &root, "the test file", TOP_KEYS) else {
        return (false, Diagnostics::new(name, ctx.errors).to_string());
    };
    let rules_path = match fields.get("rules") {
        Some(n) => string(&mut ctx, n, "`rules`"),
        None => {
            ctx.error(
                fields.pos,
                "the test file needs `rules`: the rules file to test, relative to this file",
            );
            None
        }
    };
    let interval = fields
        .get("interval")
        .and_then(|n| duration(&mut ctx, n, "`interval`", false))
        .unwrap_or(Duration::from_secs(60));
    let mut cases = Vec::new();
    match fields.get("tests") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(c) = case(&mut ctx, item, i, interval) {
                    cases.push(c);
                }
            }
        }
        Some(n) => ctx.error(n.pos, "`tests` must be a list"),
        None => ctx.error(fields.pos, "the test file has no `tests`"),
    }
    if !ctx.errors.is_empty() {
        return (false, Diagnostics::new(name, ctx.errors).to_string());
    }
    let Some(rules_path) = rules_path else {
        return (false, String::new());
    };
    let rules_path = base.join(rules_path);
    let rules = match RuleSet::load(&rules_path) {
        Ok(rules) => rules,
        Err(diagnostics) => return (false, diagnostics.to_string()),
    };
    let mut report = String::new();
    let mut passed = 0;
    for case in &cases {
        let failures = run_case(&rules, case);
        if failures.is_empty() {
            passed += 1;
            let _ = writeln!(report, "ok   {}", case.name);
        } else {
            let _ = writeln!(report, "FAIL {}", case.name);
            for failure in failures {
                for line in failure.lines() {
                    let _ = writeln!(report, "     {line}");
                }
            }
        }
    }
    let all = passed == cases.len();
    let _ = writeln!(
        report,
        "{}: {passed} of {} tests passed",
        if all { "PASS" } else { "FAIL" },
        cases.len()
    );
    (all, report)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../../../rules.example.test.yaml");

    /// The repository root, where the example files live.
    fn base() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }

    #[test]
    fn a_test_call_can_belong_to_an_account() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("rules.yaml"),
            "rules:\n  - name: acme-latency\n    metric: audio_input.latency\n    above: 150ms\n    \
             scope: { account: acme }\n",
        )
        .expect("rules");
        let test = |account: &str, firing: &str| {
            format!(
                "rules: rules.yaml\ninterval: 1m\ntests:\n  - meeting: {{ account: {account} }}\n    \
                 participants:\n      - name: Ann\n        series:\n          audio_input.latency: 200ms x2\n    \
                 expect:\n      - at: 1m\n        firing: {firing}\n"
            )
        };
        let run = |text: String| run_bytes("t.test.yaml", text.as_bytes(), dir.path());
        let (passed, report) = run(test("acme", "[{ rule: acme-latency }]"));
        assert!(passed, "{report}");
        let (passed, report) = run(test("globex", "[]"));
        assert!(
            passed,
            "another account's call is out of the rule's scope: {report}"
        );
        let (passed, report) = run(test("Not_A_Name", "[]"));
        assert!(!passed);
        assert!(report.contains("`meeting.account`"), "{report}");
    }

    #[test]
    fn example_runs_from_text() {
        let (passed, report) = run_bytes("example.test.yaml", EXAMPLE.as_bytes(), base());
        assert!(passed, "{report}");
    }

    proptest! {
        #[test]
        fn test_files_never_panic(at in 0..EXAMPLE.len(), cut in 0..30usize, insert in "[ -~\n]{0,12}") {
            let mut text = EXAMPLE.as_bytes().to_vec();
            let end = (at + cut).min(text.len());
            text.splice(at..end, insert.bytes());
            let _ = run_bytes("fuzz.test.yaml", &text, base());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = run_bytes("fuzz.test.yaml", &bytes, base());
        }
    }
}
