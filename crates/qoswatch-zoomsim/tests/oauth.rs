//! Server-to-Server OAuth: the token endpoint and bearer tokens on the QoS
//! endpoints, over real HTTP on loopback.

mod common;

use std::time::Duration;

use common::{ann_in_a_meeting, get, http, start, token};
use qoswatch_zoomsim::SimConfig;
use secrecy::ExposeSecret;
use serde_json::Value as Json;

#[tokio::test]
async fn token_flow_accepts_the_right_credentials_only() {
    let sim = start(SimConfig {
        token_lifetime: Duration::from_secs(7),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let credentials = sim.credentials().clone();
    let first = token(&sim, &http).await;
    let second = token(&sim, &http).await;
    assert_ne!(first, second, "a fresh token every time");

    let response = http
        .post(sim.token_url())
        .basic_auth(
            &credentials.client_id,
            Some(credentials.client_secret.expose_secret()),
        )
        .query(&[
            ("grant_type", "account_credentials"),
            ("account_id", credentials.account_id.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        200,
        "grant in the query, as Zoom's docs show it"
    );
    let body: Json = response.json().await.expect("json");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 7);
    assert!(body["scope"].as_str().expect("scope").contains("dashboard"));

    let wrong_secret = http
        .post(sim.token_url())
        .basic_auth(&credentials.client_id, Some("not-the-secret"))
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", credentials.account_id.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_secret.status(), 400);
    let body: Json = wrong_secret.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"reason":"Invalid client_id or client_secret","error":"invalid_client"})
    );

    let no_auth = http
        .post(sim.token_url())
        .form(&[("grant_type", "account_credentials")])
        .send()
        .await
        .expect("request");
    assert_eq!(no_auth.status(), 401);

    let wrong_account = http
        .post(sim.token_url())
        .basic_auth(
            &credentials.client_id,
            Some(credentials.client_secret.expose_secret()),
        )
        .form(&[
            ("grant_type", "account_credentials"),
            ("account_id", "other"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_account.status(), 400);

    let wrong_grant = http
        .post(sim.token_url())
        .basic_auth(
            &credentials.client_id,
            Some(credentials.client_secret.expose_secret()),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("account_id", credentials.account_id.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_grant.status(), 400);

    assert_eq!(sim.token_requests(), 7);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn tokens_are_required_and_expire() {
    let sim = start(SimConfig {
        token_lifetime: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let http = http();
    let url = ann_in_a_meeting(&sim);
    let invalid = serde_json::json!({"code":124,"message":"Invalid access token."});

    let response = http.get(&url).send().await.expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Json>().await.expect("json"), invalid);
    let (status, _, body) = get(&http, &url, "made-up-token").await;
    assert_eq!((status, body), (401, invalid.clone()));

    let token = token(&sim, &http).await;
    assert_eq!(get(&http, &url, &token).await.0, 200);
    tokio::time::advance(Duration::from_secs(2)).await;
    let (status, _, body) = get(&http, &url, &token).await;
    assert_eq!((status, body), (401, invalid.clone()), "expired");

    let token = self::token(&sim, &http).await;
    assert_eq!(get(&http, &url, &token).await.0, 200);
    sim.revoke_tokens();
    assert_eq!(get(&http, &url, &token).await.0, 401, "revoked");

    let log = sim.log();
    let bearers: Vec<Option<String>> = log.requests().map(|r| r.bearer_token.clone()).collect();
    assert!(bearers.contains(&Some("made-up-token".to_owned())));
    sim.shutdown().await;
}

/// `SimHandle::grant_token` gives what the OAuth endpoint gives: a token the
/// QoS endpoints accept until it is revoked, and not before it is granted.
#[tokio::test]
async fn a_granted_token_works_like_an_issued_one() {
    let sim = start(SimConfig::default()).await;
    let http = http();
    let url = ann_in_a_meeting(&sim);
    assert_eq!(get(&http, &url, "sim.made-up").await.0, 401);
    let granted = sim.grant_token();
    assert_eq!(get(&http, &url, &granted).await.0, 200);
    assert_eq!(sim.token_requests(), 0, "no OAuth round trip");
    sim.revoke_tokens();
    assert_eq!(get(&http, &url, &granted).await.0, 401);
    sim.shutdown().await;
}
