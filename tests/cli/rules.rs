//! `check-rules` and `test-rules` on the shipped example, and golden tests
//! of the messages `check-rules` prints for broken files.
//!
//! `UPDATE_GOLDEN=1 cargo test --test cli rules::` rewrites the `.expected`
//! files; review the diff by eye: they are the spec of the messages.

use std::path::{Path, PathBuf};

use qoswatch_core::rules::cli::{check_rules, test_rules};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn example_rules_are_valid() {
    let outcome = check_rules(&root().join("rules.example.yaml"));
    assert!(outcome.success, "{}", outcome.output);
}

#[test]
fn example_rule_tests_pass() {
    let outcome = test_rules(&root().join("rules.example.test.yaml"));
    assert!(outcome.success, "{}", outcome.output);
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn broken_files_give_the_golden_messages() {
    let dir = root().join("tests/rules/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("broken dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "golden files missing");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for file in files {
        // Run on the relative path so messages do not depend on the checkout.
        let outcome = check_rules(Path::new(&relative(&file)));
        assert!(!outcome.success, "{} should be invalid", file.display());
        let expected_path = file.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &outcome.output).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != outcome.output {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{}",
                file.display(),
                outcome.output
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn failing_rule_tests_fail_with_a_diff() {
    let outcome = test_rules(&root().join("tests/rules/failing.test.yaml"));
    assert!(!outcome.success, "{}", outcome.output);
    let expected = "\
FAIL wrong severity expected
     at 2m (line 10):
       expected firing:
       - audio-latency critical
       got firing:
       + audio-latency warning for Ann
ok   right expectation
FAIL alert expected not to fire does fire
     at 2m (line 26), rule `zoom-cpu`:
       expected firing:
         (nothing)
       got firing:
       + zoom-cpu warning for Bo
FAIL: 1 of 3 tests passed
";
    assert_eq!(outcome.output, expected);
}

#[test]
fn broken_test_files_report_positions() {
    let dir = std::env::temp_dir().join(format!("qoswatch-test-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.test.yaml");
    std::fs::write(
        &file,
        "rules: missing.yaml\ntests:\n  - name: x\n    participants:\n      - name: A\n        series:\n          audio_input.latency: 100fps x2\n    expect:\n      - at: soon\n        firing: []\n",
    )
    .expect("write");
    let outcome = test_rules(&file);
    assert!(!outcome.success);
    let name = file.display().to_string();
    assert_eq!(
        outcome.output,
        format!(
            "{name}:7:32: `100fps` is in fps but `audio_input.latency` is measured in ms\n\
             {name}:9:13: bad duration `soon` for `at`; expected a number and a unit such as `30s`, `5m` or `1h`\n"
        )
    );
    // A valid test file naming a missing rules file says which file.
    std::fs::write(&file, "rules: missing.yaml\ntests: []\n").expect("write");
    let outcome = test_rules(&file);
    assert!(!outcome.success);
    assert!(
        outcome
            .output
            .contains("missing.yaml:1:1: cannot read the rules file"),
        "{}",
        outcome.output
    );
    std::fs::remove_dir_all(&dir).ok();
}
