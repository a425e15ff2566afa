//! The test-rules file reader and runner. The test file names its rules
//! file; a valid one (the example rules) waits in a temporary directory.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const RULES: &str = include_str!("../../rules.example.yaml");

fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("qoswatch-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("rules.example.yaml"), RULES).expect("rules file");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = qoswatch_core::rules::cli::test_rules_bytes("fuzz.test.yaml", data, base());
});
