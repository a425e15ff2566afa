//! Zoom's QoS answer parser: any bytes give an answer or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = qoswatch_core::qos::parse_participant_qos(data);
});
