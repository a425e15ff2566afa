//! `check-rules` and `test-rules` on the shipped example, and golden tests
//! of the messages `check-rules` prints for broken files.
//!
//! `UPDATE_GOLDEN=1 cargo test --test rules_cli` rewrites the `.expected`
//! files; review the diff by eye: they are the spec of the messages.

use std::path::{Path, PathBuf};

use qoswatch::rules::cli::{check_rules, test_rules};

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
