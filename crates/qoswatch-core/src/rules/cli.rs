//! `qoswatch check-rules FILE` and `qoswatch test-rules TESTFILE`.

use std::path::Path;

use super::RuleSet;

/// What a command printed and whether it succeeded (the exit code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    pub success: bool,
    pub output: String,
}

/// Validates a rules file: every problem as `FILE:LINE:COL: message`.
pub fn check_rules(path: &Path) -> CommandOutcome {
    match RuleSet::load(path) {
        Ok(rules) => CommandOutcome {
            success: true,
            output: format!(
                "{}: OK, {} rule{} and {} channel{}\n",
                path.display(),
                rules.len(),
                if rules.len() == 1 { "" } else { "s" },
                rules.channels().len(),
                if rules.channels().len() == 1 { "" } else { "s" },
            ),
        },
        Err(diagnostics) => CommandOutcome {
            success: false,
            output: diagnostics.to_string(),
        },
    }
}

/// Runs the rule unit tests of a test file.
pub fn test_rules(path: &Path) -> CommandOutcome {
    let (success, output) = super::testfile::run(path);
    CommandOutcome { success, output }
}

/// Runs the rule unit tests of a test file's content named `name`; the
/// rules file it names is looked up from `base`. For tools that hold the
/// text already (the fuzzer).
pub fn test_rules_bytes(name: &str, bytes: &[u8], base: &Path) -> CommandOutcome {
    let (success, output) = super::testfile::run_bytes(name, bytes, base);
    CommandOutcome { success, output }
}
