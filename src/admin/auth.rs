//! The admin listener's optional credential: one secret
//! (`QOSWATCH_ADMIN_TOKEN` or `QOSWATCH_ADMIN_TOKEN_FILE`), accepted as a
//! bearer token (scripts) or as the password of HTTP basic auth with any
//! user name (browsers ask for it themselves). Compared in constant time;
//! never logged. `/healthz` and `/readyz` stay open for probes. Refused
//! requests are logged at most once a minute, with their count.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use crate::logging::LogEvery;

/// At most one line about refused requests in this period.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The credential, if one is configured.
#[derive(Clone)]
pub struct AdminAuth {
    /// SHA-256 of the secret: both sides are hashed to the same length
    /// before the constant-time comparison, so not even the length leaks.
    digest: Option<[u8; 32]>,
    /// Anyone who reaches the listener can send requests without the
    /// token, thousands a second: one line a minute says how many.
    refusals: std::sync::Arc<LogEvery>,
}

impl Default for AdminAuth {
    fn default() -> Self {
        Self::new(None)
    }
}

impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminAuth")
            .field("required", &self.digest.is_some())
            .finish()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl AdminAuth {
    pub fn new(token: Option<&SecretString>) -> Self {
        Self {
            digest: token.map(|t| digest(t.expose_secret().as_bytes())),
            refusals: std::sync::Arc::new(LogEvery::new(LOG_EVERY)),
        }
    }

    pub fn is_required(&self) -> bool {
        self.digest.is_some()
    }

    /// Whether the request's `Authorization` header carries the secret
    /// (always true when none is configured).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.digest else {
            return true;
        };
        let Some(presented) = headers
            .get(header::AUTHORIZATION)
            .and_then(presented_secret)
        else {
            return false;
        };
        bool::from(digest(&presented).ct_eq(expected))
    }
}

/// The secret in `Bearer <secret>` or `Basic base64(<user>:<secret>)`.
fn presented_secret(value: &HeaderValue) -> Option<Vec<u8>> {
    let value = value.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.as_bytes().to_vec());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        return Some(decoded[colon + 1..].to_vec());
    }
    None
}

/// Middleware: 401 with a basic-auth challenge unless the request carries
/// the secret.
pub async fn require(State(auth): State<AdminAuth>, request: Request, next: Next) -> Response {
    if auth.allows(request.headers()) {
        return next.run(request).await;
    }
    if let Some(unlogged) = auth.refusals.occurred(Instant::now()) {
        tracing::warn!(
            refused = unlogged + 1,
            "admin requests refused: no admin token or a wrong one (one line per minute at most; \
             `refused` counts since the last)"
        );
    }
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"qoswatch\", charset=\"UTF-8\"",
        )],
        axum::Json(serde_json::json!({
            "error": "this listener needs the admin token: Authorization: Bearer <token>, or basic auth with the token as password"
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().expect("header"));
        headers
    }

    fn basic(user_and_password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_and_password)
        )
    }

    #[test]
    fn without_a_secret_everything_is_allowed() {
        let auth = AdminAuth::new(None);
        assert!(!auth.is_required());
        assert!(auth.allows(&HeaderMap::new()));
    }

    #[test]
    fn bearer_and_basic_carry_the_secret() {
        let auth = AdminAuth::new(Some(&SecretString::from("s3cret-Tok")));
        assert!(auth.is_required());
        assert!(auth.allows(&headers("Bearer s3cret-Tok")));
        assert!(auth.allows(&headers("bearer  s3cret-Tok ")));
        assert!(auth.allows(&headers(&basic("anyone:s3cret-Tok"))));
        assert!(auth.allows(&headers(&basic(":s3cret-Tok"))));
        // A colon in the password is part of it.
        let colon = AdminAuth::new(Some(&SecretString::from("a:b")));
        assert!(colon.allows(&headers(&basic("u:a:b"))));
    }

    #[test]
    fn anything_else_is_refused() {
        let auth = AdminAuth::new(Some(&SecretString::from("s3cret-Tok")));
        assert!(!auth.allows(&HeaderMap::new()));
        for refused in [
            "Bearer s3cret-To",
            "Bearer s3cret-Tok2",
            "Bearer",
            "Bearer ",
            "s3cret-Tok",
            "Token s3cret-Tok",
            "Digest s3cret-Tok",
        ] {
            assert!(!auth.allows(&headers(refused)), "{refused}");
        }
        for refused in [
            basic("s3cret-Tok"),
            basic("s3cret-Tok:"),
            basic("user:wrong"),
            "Basic not-base64!".to_owned(),
        ] {
            assert!(!auth.allows(&headers(&refused)), "{refused}");
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let auth = AdminAuth::new(Some(&SecretString::from("s3cret-Tok")));
        let shown = format!("{auth:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(shown, "AdminAuth { required: true }");
        assert_eq!(
            format!("{:?}", AdminAuth::new(None)),
            "AdminAuth { required: false }"
        );
    }

    #[tokio::test]
    async fn the_middleware_challenges_or_passes_the_request_on() {
        use axum::Router;
        use axum::body::Body;
        use axum::routing::get;
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        let auth = AdminAuth::new(Some(&SecretString::from("s3cret-Tok")));
        let app = Router::new()
            .route("/", get(|| async { "the page" }))
            .layer(axum::middleware::from_fn_with_state(auth, require));
        let request = |authorization: Option<&str>| {
            let mut request = axum::http::Request::get("/");
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            request.body(Body::empty()).expect("request")
        };
        let refused = app.clone().oneshot(request(None)).await.expect("answer");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            refused.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"qoswatch\", charset=\"UTF-8\""
        );
        let body = refused
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("admin token"));
        let passed = app
            .oneshot(request(Some("Bearer s3cret-Tok")))
            .await
            .expect("answer");
        assert_eq!(passed.status(), StatusCode::OK);
        let body = passed.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"the page");
    }
}
