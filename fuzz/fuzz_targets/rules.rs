//! The rules compiler: any bytes give a rule set or diagnostics with
//! positions, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(diagnostics) = qoswatch_core::rules::RuleSet::from_bytes("fuzz.yaml", data) {
        let _ = diagnostics.to_string();
    }
});
