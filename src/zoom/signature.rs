//! Zoom webhook verification (`v0` HMAC-SHA256) and the `endpoint.url_validation`
//! answer. Pure: no IO, the clock is passed in.
//!
//! Zoom signs `"v0:" + x-zm-request-timestamp + ":" + raw body` with the app's
//! Webhook Secret Token and sends `x-zm-signature: v0=<hex>`. We hash the raw
//! bytes (never re-serialized JSON) and compare in constant time.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook failed verification. The messages name the problem, never
/// the secret, the signature or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing x-zm-signature header")]
    MissingSignature,
    #[error("missing x-zm-request-timestamp header")]
    MissingTimestamp,
    #[error("x-zm-signature is not of the form v0=<64 hex digits>")]
    MalformedSignature,
    #[error("x-zm-request-timestamp is not a unix time in seconds")]
    MalformedTimestamp,
    #[error("request timestamp is {skew_secs} s away from now, outside the {window_secs} s window")]
    Stale { skew_secs: i64, window_secs: u64 },
    #[error("signature does not match any configured secret token")]
    Mismatch,
}

/// Proof that a request body was signed by Zoom with one of our secrets.
/// Only [`Verifier::verify`] produces it.
#[derive(Debug)]
pub struct Verified<'a> {
    body: &'a [u8],
    secret: &'a SecretString,
}

impl<'a> Verified<'a> {
    /// The verified raw body.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The answer to an `endpoint.url_validation` challenge, computed with
    /// the secret that verified this request (so rotation works).
    pub fn url_validation_token(&self, plain_token: &str) -> String {
        encrypt_token(self.secret, plain_token)
    }
}

/// Verifies webhook signatures against one or more secret tokens (several
/// during a rotation) and a replay window.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<SecretString>,
    window_secs: u64,
}

impl Verifier {
    /// `secrets` must not be empty; configuration guarantees it.
    pub fn new(secrets: Vec<SecretString>, window: std::time::Duration) -> Self {
        Self {
            secrets,
            window_secs: window.as_secs(),
        }
    }

    /// Checks headers and body. `now_unix` is the current unix time in seconds.
    pub fn verify<'a>(
        &'a self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &'a [u8],
        now_unix: i64,
    ) -> Result<Verified<'a>, VerifyError> {
        let signature = signature.ok_or(VerifyError::MissingSignature)?;
        let timestamp = timestamp.ok_or(VerifyError::MissingTimestamp)?;
        let expected = signature
            .trim()
            .strip_prefix("v0=")
            .and_then(|hex_digits| hex::decode(hex_digits).ok())
            .filter(|bytes| bytes.len() == 32)
            .ok_or(VerifyError::MalformedSignature)?;
        let sent_at: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::MalformedTimestamp)?;
        // Zoom's timestamp is in seconds; a millisecond value would be a
        // client bug and falls outside the window anyway.
        let skew = now_unix.saturating_sub(sent_at);
        if skew.unsigned_abs() > self.window_secs {
            return Err(VerifyError::Stale {
                skew_secs: skew,
                window_secs: self.window_secs,
            });
        }
        for secret in &self.secrets {
            let mut mac = mac_for(secret);
            mac.update(b"v0:");
            mac.update(timestamp.trim().as_bytes());
            mac.update(b":");
            mac.update(body);
            if mac.verify_slice(&expected).is_ok() {
                return Ok(Verified { body, secret });
            }
        }
        Err(VerifyError::Mismatch)
    }
}

fn mac_for(secret: &SecretString) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    match HmacSha256::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    }
}

/// `hex(HMAC-SHA256(secret, plain_token))`, Zoom's `encryptedToken`.
pub fn encrypt_token(secret: &SecretString, plain_token: &str) -> String {
    let mut mac = mac_for(secret);
    mac.update(plain_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Signs a webhook the way Zoom does: the `x-zm-signature` header value.
/// Only this module's tests use it; everything else signs with the
/// simulator's independent implementation, so the two check each other.
#[cfg(test)]
fn sign(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    let mut mac = mac_for(secret);
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // Vectors computed independently with
    //   printf '%s' "$MSG" | openssl dgst -sha256 -hmac dOL1a7aQTa2ZsXZ5FFwCAg
    const SECRET: &str = "dOL1a7aQTa2ZsXZ5FFwCAg";
    const BODY: &[u8] = br#"{"event":"x"}"#;
    const BODY_SIGNATURE: &str =
        "v0=481c31f3cec4f92f068227041777f246ef79d975d8a2a3cc531dd274a44c2db5";
    const PLAIN_TOKEN: &str = "qgg8vlvZRS6UYooatFL8Aw";
    const ENCRYPTED_TOKEN: &str =
        "0eb6ba256e1a730ddef2e57cc08d0986cf80a08acdf01a1077ec58fb9a0a7429";

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            secrets.iter().map(|s| secret(s)).collect(),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn accepts_the_openssl_vector() {
        let v = verifier(&[SECRET]);
        let ok = v
            .verify(
                Some(BODY_SIGNATURE),
                Some("1700000000"),
                BODY,
                1_700_000_010,
            )
            .expect("valid");
        assert_eq!(ok.body(), BODY);
    }

    #[test]
    fn sign_matches_the_openssl_vector() {
        assert_eq!(sign(&secret(SECRET), "1700000000", BODY), BODY_SIGNATURE);
    }

    #[test]
    fn url_validation_matches_the_openssl_vector() {
        assert_eq!(encrypt_token(&secret(SECRET), PLAIN_TOKEN), ENCRYPTED_TOKEN);
    }

    #[test]
    fn rejects_tampered_body_and_wrong_secret() {
        let v = verifier(&[SECRET]);
        assert_eq!(
            v.verify(
                Some(BODY_SIGNATURE),
                Some("1700000000"),
                br#"{"event":"y"}"#,
                1_700_000_000
            )
            .unwrap_err(),
            VerifyError::Mismatch
        );
        let other = verifier(&["another-secret"]);
        assert_eq!(
            other
                .verify(
                    Some(BODY_SIGNATURE),
                    Some("1700000000"),
                    BODY,
                    1_700_000_000
                )
                .unwrap_err(),
            VerifyError::Mismatch
        );
    }

    #[test]
    fn timestamp_is_part_of_the_signature() {
        let v = verifier(&[SECRET]);
        assert_eq!(
            v.verify(
                Some(BODY_SIGNATURE),
                Some("1700000001"),
                BODY,
                1_700_000_000
            )
            .unwrap_err(),
            VerifyError::Mismatch
        );
    }

    #[test]
    fn rotation_accepts_either_secret_and_answers_with_the_matching_one() {
        let v = verifier(&["new-secret-token", SECRET]);
        let ok = v
            .verify(
                Some(BODY_SIGNATURE),
                Some("1700000000"),
                BODY,
                1_700_000_000,
            )
            .expect("old secret still accepted");
        assert_eq!(ok.url_validation_token(PLAIN_TOKEN), ENCRYPTED_TOKEN);
    }

    #[test]
    fn replay_window_both_directions() {
        let v = verifier(&[SECRET]);
        let late = v.verify(
            Some(BODY_SIGNATURE),
            Some("1700000000"),
            BODY,
            1_700_000_301,
        );
        assert_eq!(
            late.unwrap_err(),
            VerifyError::Stale {
                skew_secs: 301,
                window_secs: 300
            }
        );
        let future = v.verify(
            Some(BODY_SIGNATURE),
            Some("1700000000"),
            BODY,
            1_699_999_699,
        );
        assert!(matches!(future, Err(VerifyError::Stale { .. })));
        assert!(
            v.verify(
                Some(BODY_SIGNATURE),
                Some("1700000000"),
                BODY,
                1_700_000_300
            )
            .is_ok()
        );
    }

    #[test]
    fn malformed_headers() {
        let v = verifier(&[SECRET]);
        let now = 1_700_000_000;
        assert_eq!(
            v.verify(None, Some("1700000000"), BODY, now).unwrap_err(),
            VerifyError::MissingSignature
        );
        assert_eq!(
            v.verify(Some(BODY_SIGNATURE), None, BODY, now).unwrap_err(),
            VerifyError::MissingTimestamp
        );
        for bad in [
            "",
            "v0=",
            "v1=481c",
            "481c31f3",
            "v0=zz1c31f3cec4f92f068227041777f246ef79d975d8a2a3cc531dd274a44c2db5",
        ] {
            assert_eq!(
                v.verify(Some(bad), Some("1700000000"), BODY, now)
                    .unwrap_err(),
                VerifyError::MalformedSignature,
                "{bad}"
            );
        }
        assert_eq!(
            v.verify(Some(BODY_SIGNATURE), Some("yesterday"), BODY, now)
                .unwrap_err(),
            VerifyError::MalformedTimestamp
        );
    }

    #[test]
    fn errors_never_contain_the_secret() {
        let v = verifier(&[SECRET]);
        let err = v
            .verify(Some(BODY_SIGNATURE), Some("1"), BODY, 1_700_000_000)
            .unwrap_err();
        assert!(!err.to_string().contains(SECRET));
    }
}
