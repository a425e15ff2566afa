//! Signature verification plus event parsing, as `POST /webhooks/zoom`
//! runs them: the input is `signature \n timestamp \n body`. Every input must
//! give `Ok` or a typed error, never a panic; a verified body is parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qoswatch::zoom::{event, signature::Verifier};
use secrecy::SecretString;

const NOW: i64 = 1_764_410_400;

fuzz_target!(|data: &[u8]| {
    let verifier = Verifier::new(
        vec![SecretString::from("fuzz-secret".to_owned())],
        std::time::Duration::from_secs(300),
    );
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let signature = parts.next().and_then(|s| std::str::from_utf8(s).ok());
    let timestamp = parts.next().and_then(|s| std::str::from_utf8(s).ok());
    let body = parts.next().unwrap_or_default();
    if let Ok(verified) = verifier.verify(signature, timestamp, body, NOW) {
        let _ = event::parse(verified.body());
    }
    // The parser also sees every body on its own: a valid signature is
    // easy for Zoom, hard for a fuzzer.
    let _ = event::parse(body);
});
