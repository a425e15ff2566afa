//! `Retry-After` parsing: any text gives a bounded wait or nothing.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use qoswatch::quota::budget::{parse_retry_after, until_next_utc_midnight};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
    if let Some(wait) = parse_retry_after(text, now) {
        // The documented bound: never past the next daily reset plus an hour.
        let longest = until_next_utc_midnight(now) + std::time::Duration::from_secs(3600);
        assert!(wait <= longest, "{text:?} gave {wait:?}");
    }
});
