//! The two pieces of Zoom's wire protocol that qoswatch must get right and
//! that the simulator must therefore *not* borrow from qoswatch: the webhook
//! signature and the meeting-UUID path encoding. Written from Zoom's
//! documentation (see `docs/ZOOM.md` in the repository), so that a mistake
//! in qoswatch's implementation shows up as a failed check here instead of
//! being copied to both sides.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// `x-zm-signature` for a webhook: `"v0=" + hex(HMAC-SHA256(secret,
/// "v0:" + timestamp + ":" + body))`, over the exact bytes sent.
pub fn webhook_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(body.len() + timestamp.len() + 4);
    message.extend_from_slice(b"v0:");
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b':');
    message.extend_from_slice(body);
    format!("v0={}", hmac_sha256_hex(secret, &message))
}

/// `encryptedToken` of an `endpoint.url_validation` answer:
/// `hex(HMAC-SHA256(secret, plainToken))`.
pub fn url_validation_token(secret: &[u8], plain_token: &str) -> String {
    hmac_sha256_hex(secret, plain_token.as_bytes())
}

fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 takes keys of any length"));
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Zoom's rule for `{meetingId}` in a Dashboard path: a UUID that begins
/// with `/` or contains `//` must be URL-encoded twice.
pub fn uuid_is_double_encoded(uuid: &str) -> bool {
    uuid.starts_with('/') || uuid.contains("//")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with
    //   printf '%s' 'v0:1700000000:{"event":"x"}' | openssl dgst -sha256 -hmac secret
    #[test]
    fn signature_matches_openssl() {
        assert_eq!(
            webhook_signature(b"secret", "1700000000", br#"{"event":"x"}"#),
            "v0=aaaddc2382ce58a607b298ab6361ae1667ddff72c622b1993fd76c02908634c3"
        );
    }

    // Computed independently with
    //   printf '%s' 'plainTokenExample' | openssl dgst -sha256 -hmac secret
    #[test]
    fn url_validation_token_matches_openssl() {
        assert_eq!(
            url_validation_token(b"secret", "plainTokenExample"),
            "f0aecc05eedd81aa9393250d6dd9cd54d824f0fb3d6dae528571d4585d271218"
        );
    }

    #[test]
    fn double_encoding_rule() {
        assert!(uuid_is_double_encoded("/ajXp112QmuoKj4854875=="));
        assert!(uuid_is_double_encoded("abc//def=="));
        assert!(!uuid_is_double_encoded("abc/def=="));
    }
}
