//! Several Zoom accounts in one simulator: each account's app gets its own
//! tokens, each token sees its own account's meetings only (another
//! account's meeting is one that does not exist: 404 / code 3001), and the
//! per-second limit and daily quota are each account's own, as Zoom's are
//! (docs/ZOOM.md, "Rate limits (per account …)").

use std::time::Duration;

use qoswatch_zoomsim::{
    Degradation, MeetingSpec, ParticipantSpec, SimAccount, SimConfig, SimCredentials, SimError,
    SimHandle, Simulator, Target,
};
use secrecy::ExposeSecret;
use serde_json::Value as Json;

use crate::common::{
    PLAIN_SEGMENT, PLAIN_UUID, get, http, meeting, number, qos_url, start, token_with,
};

/// A simulator with the default first account and a second, numbered 2.
fn two_accounts(config: SimConfig) -> SimConfig {
    SimConfig {
        extra_accounts: vec![SimAccount {
            daily_limit: Some(100),
            ..SimAccount::numbered(2)
        }],
        ..config
    }
}

/// A meeting of the same UUID in both accounts, with user `1` in each: Ann
/// in the first account's, Bea in the second's. Returns the second
/// account's id, a token of each account (by OAuth) and the URL of user
/// `1`'s QoS.
async fn ann_and_bea(sim: &SimHandle, http: &reqwest::Client) -> (String, String, String, String) {
    let b = sim.accounts()[1].credentials.account_id.clone();
    sim.add_meeting(meeting(PLAIN_UUID)).expect("A's");
    sim.add_meeting(meeting(PLAIN_UUID).in_account(&b))
        .expect("B's");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("joins");
    sim.add_participant_in(&b, PLAIN_UUID, ParticipantSpec::new("1", "Bea"))
        .expect("joins");
    let token_a = token_with(sim, http, sim.credentials()).await;
    let token_b = token_with(sim, http, sim.credentials_of(&b).expect("B")).await;
    (b, token_a, token_b, qos_url(sim, PLAIN_SEGMENT, "1"))
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[test]
fn numbered_credentials_are_distinct_and_the_first_is_the_default() {
    let one = SimCredentials::generate();
    let first = SimCredentials::generate_numbered(1);
    let second = SimCredentials::generate_numbered(2);
    assert_eq!(
        (first.account_id.as_str(), first.client_id.as_str()),
        ("simAccount0000000000001", "simClientId0000000001")
    );
    assert_eq!(
        (one.account_id, one.client_id),
        (first.account_id.clone(), first.client_id.clone())
    );
    assert_eq!(second.account_id, "simAccount0000000000002");
    assert_eq!(second.client_id, "simClientId0000000002");
    assert_ne!(
        first.client_secret.expose_secret(),
        second.client_secret.expose_secret()
    );
}

#[tokio::test]
async fn two_accounts_with_the_same_ids_are_refused_at_start() {
    for twin in [
        SimAccount::numbered(1),
        SimAccount {
            credentials: SimCredentials {
                account_id: "otherAccount".into(),
                ..SimCredentials::generate_numbered(1)
            },
            qps_limit: None,
            daily_limit: None,
        },
    ] {
        let config = SimConfig {
            extra_accounts: vec![twin],
            ..SimConfig::default()
        };
        let error = Simulator::start(config, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect_err("ambiguous accounts");
        assert!(
            error.to_string().contains("two simulated accounts"),
            "{error}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn two_accounts_serve_their_own_series_under_the_same_uuid_and_user_id() {
    let sim = start(two_accounts(SimConfig {
        sample_period: Duration::from_secs(60),
        ..SimConfig::default()
    }))
    .await;
    let a = sim.credentials().account_id.clone();
    let b = sim.accounts()[1].credentials.account_id.clone();
    sim.add_meeting(meeting(PLAIN_UUID)).expect("A's meeting");
    sim.add_meeting(meeting(PLAIN_UUID).in_account(&b))
        .expect("B's meeting of the same UUID");
    sim.add_participant_in(&a, PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("Ann joins A's");
    sim.add_participant_in(&b, PLAIN_UUID, ParticipantSpec::new("1", "Bea"))
        .expect("Bea joins B's, with the same user id");
    // Only B's user 1 has bad Wi-Fi.
    sim.add_degradation_in(&b, Degradation::bad_wifi(Target::participant("1"), 0..100))
        .expect("B's degradation");
    let http = http();
    let token_a = token_with(&sim, &http, sim.credentials()).await;
    let token_b = token_with(&sim, &http, sim.credentials_of(&b).expect("B")).await;
    tokio::time::advance(Duration::from_secs(3 * 60)).await;

    let url = qos_url(&sim, PLAIN_SEGMENT, "1");
    let (status, _, ann) = get(&http, &url, &token_a).await;
    assert_eq!(status, 200);
    let (status, _, bea) = get(&http, &url, &token_b).await;
    assert_eq!(status, 200);
    assert_eq!(ann["user_name"], "Ann");
    assert_eq!(bea["user_name"], "Bea");
    let latency =
        |participant: &Json| number(&participant["user_qos"][0]["audio_input"]["latency"]);
    assert!(latency(&ann) < 100.0, "A's series is healthy: {ann}");
    assert_eq!(latency(&bea), 420.0, "B's series has B's bad Wi-Fi");

    let list = format!(
        "{}/metrics/meetings/{PLAIN_SEGMENT}/participants/qos?type=live",
        sim.api_base()
    );
    let (_, _, page) = get(&http, &list, &token_b).await;
    assert_eq!(page["total_records"], 1);
    assert_eq!(page["participants"][0]["user_name"], "Bea");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_token_of_one_account_finds_no_meeting_of_another() {
    let sim = start(two_accounts(SimConfig::default())).await;
    let b = sim.accounts()[1].credentials.account_id.clone();
    let theirs = MeetingSpec::new(PLAIN_UUID, 987_654_321, "B only").in_account(&b);
    sim.add_meeting(theirs).expect("B's meeting");
    sim.add_participant_in(&b, PLAIN_UUID, ParticipantSpec::new("7", "Bea"))
        .expect("joins");
    let http = http();
    let token_a = token_with(&sim, &http, sim.credentials()).await;
    let token_b = token_with(&sim, &http, sim.credentials_of(&b).expect("B")).await;
    let base = sim.api_base();
    let urls = [
        qos_url(&sim, PLAIN_SEGMENT, "7"),
        format!("{base}/metrics/meetings/{PLAIN_SEGMENT}/participants/qos?type=live"),
        format!("{base}/metrics/meetings/{PLAIN_SEGMENT}?type=live"),
        // The meeting number names the latest instance of the token's account only.
        format!("{base}/metrics/meetings/987654321/participants/7/qos?type=live"),
    ];
    for url in &urls {
        let (status, _, body) = get(&http, url, &token_a).await;
        assert_eq!((status, &body["code"]), (404, &Json::from(3001)), "{url}");
        assert_eq!(get(&http, url, &token_b).await.0, 200, "{url}");
    }
    let today = sim.sim_now().date_naive();
    let listing = format!("{base}/metrics/meetings?type=live&from={today}&to={today}");
    let (_, _, mine) = get(&http, &listing, &token_a).await;
    assert_eq!(mine["total_records"], 0, "A lists none of B's meetings");
    let (_, _, theirs) = get(&http, &listing, &token_b).await;
    assert_eq!(theirs["total_records"], 1);
    assert_eq!(theirs["meetings"][0]["id"], 987_654_321);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_page_token_of_one_accounts_meeting_does_not_page_anothers() {
    let sim = start(two_accounts(SimConfig::default())).await;
    let b = sim.accounts()[1].credentials.account_id.clone();
    sim.add_meeting(meeting(PLAIN_UUID)).expect("A's");
    sim.add_meeting(meeting(PLAIN_UUID).in_account(&b))
        .expect("B's");
    for user in 1..=11 {
        let person = ParticipantSpec::new(user.to_string(), format!("P{user}"));
        sim.add_participant(PLAIN_UUID, person.clone())
            .expect("joins A's");
        sim.add_participant_in(&b, PLAIN_UUID, person)
            .expect("joins B's");
    }
    let http = http();
    let token_a = token_with(&sim, &http, sim.credentials()).await;
    let token_b = token_with(&sim, &http, sim.credentials_of(&b).expect("B")).await;
    let list = format!(
        "{}/metrics/meetings/{PLAIN_SEGMENT}/participants/qos?type=live",
        sim.api_base()
    );
    let (_, _, first) = get(&http, &list, &token_a).await;
    let next = first["next_page_token"].as_str().expect("a second page");
    let page_two = format!("{list}&next_page_token={next}");
    let (status, _, body) = get(&http, &page_two, &token_b).await;
    assert_eq!((status, &body["code"]), (400, &Json::from(300)));
    let (status, _, body) = get(&http, &page_two, &token_a).await;
    assert_eq!(status, 200);
    assert_eq!(body["participants"].as_array().expect("page").len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn each_app_gets_tokens_of_its_own_account_only() {
    let sim = start(two_accounts(SimConfig::default())).await;
    let a = sim.credentials().clone();
    let b = sim.accounts()[1].credentials.clone();
    let http = http();
    let ask = |client_id: String, secret: String, account_id: String| {
        let http = http.clone();
        let url = sim.token_url();
        async move {
            http.post(url)
                .basic_auth(client_id, Some(secret))
                .form(&[
                    ("grant_type", "account_credentials"),
                    ("account_id", account_id.as_str()),
                ])
                .send()
                .await
                .expect("request")
        }
    };
    let secret = |c: &SimCredentials| c.client_secret.expose_secret().to_owned();
    for (credentials, account) in [(&a, &a.account_id), (&b, &b.account_id)] {
        let answer = ask(
            credentials.client_id.clone(),
            secret(credentials),
            account.clone(),
        )
        .await;
        assert_eq!(answer.status(), 200);
    }
    // A's app asking for B's account, and B's client id with A's secret.
    let across = ask(a.client_id.clone(), secret(&a), b.account_id.clone()).await;
    assert_eq!(across.status(), 400);
    let body: Json = across.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    let mixed = ask(b.client_id.clone(), secret(&a), b.account_id.clone()).await;
    assert_eq!(mixed.status(), 400);
    let body: Json = mixed.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");

    let log = sim.log();
    assert_eq!(log.token_requests(), 4);
    assert_eq!(log.tokens_issued_to(&a.account_id), 1);
    assert_eq!(log.tokens_issued_to(&b.account_id), 1);
    assert_eq!(sim.request_counts_of(&b.account_id).expect("B").token, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn one_accounts_daily_quota_used_up_leaves_the_other_answering() {
    let sim = start(two_accounts(SimConfig {
        daily_limit: Some(3),
        ..SimConfig::default()
    }))
    .await;
    let a = sim.credentials().account_id.clone();
    let http = http();
    let (b, token_a, token_b, url) = ann_and_bea(&sim, &http).await;

    // Other apps on A spend all but one of A's quota.
    sim.consume_daily_of(&a, 2).expect("A");
    assert_eq!(get(&http, &url, &token_a).await.0, 200);
    let (status, headers, _) = get(&http, &url, &token_a).await;
    assert_eq!(status, 429);
    assert_eq!(
        header(&headers, "x-ratelimit-type").as_deref(),
        Some("Daily-limit")
    );
    assert_eq!(header(&headers, "x-ratelimit-limit").as_deref(), Some("3"));
    // Zoom's daily limits reset at 00:00 UTC: Retry-After is the next one
    // (or, should the day turn between the answer and this line, the one
    // before), in whole seconds rounded up (so up to a second after it).
    let retry_after = header(&headers, "retry-after").expect("Retry-After");
    let retry_after = chrono::DateTime::parse_from_rfc3339(&retry_after).expect("ISO-8601");
    let next_midnight = (chrono::Utc::now().date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let near = |midnight: chrono::DateTime<chrono::Utc>| {
        let after = retry_after.with_timezone(&chrono::Utc) - midnight;
        after >= chrono::TimeDelta::zero() && after <= chrono::TimeDelta::seconds(1)
    };
    assert!(
        near(next_midnight) || near(next_midnight - chrono::Days::new(1)),
        "{retry_after}"
    );

    let (status, headers, _) = get(&http, &url, &token_b).await;
    assert_eq!(status, 200, "B's quota is B's own");
    assert_eq!(
        header(&headers, "x-ratelimit-limit").as_deref(),
        Some("100")
    );
    assert_eq!(
        header(&headers, "x-ratelimit-remaining").as_deref(),
        Some("99")
    );
    assert_eq!(sim.daily_used_of(&a), Ok(3));
    assert_eq!(
        sim.daily_used(),
        3,
        "the unqualified count is the first account's"
    );
    assert_eq!(sim.daily_used_of(&b), Ok(1));
    assert_eq!(
        sim.daily_used_of("nobody"),
        Err(SimError::UnknownAccount("nobody".into()))
    );

    sim.reset_daily();
    assert_eq!(
        (sim.daily_used_of(&a), sim.daily_used_of(&b)),
        (Ok(0), Ok(0))
    );
    assert_eq!(get(&http, &url, &token_a).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_per_second_limit_is_each_accounts_own() {
    let sim = start(two_accounts(SimConfig {
        qps_limit: Some(1),
        sample_period: Duration::from_secs(60),
        ..SimConfig::default()
    }))
    .await;
    let http = http();
    let (b, token_a, token_b, url) = ann_and_bea(&sim, &http).await;
    // Paused time: all of these fall in one second.
    assert_eq!(get(&http, &url, &token_a).await.0, 200);
    let (status, headers, _) = get(&http, &url, &token_a).await;
    assert_eq!(status, 429);
    assert_eq!(header(&headers, "x-ratelimit-type").as_deref(), Some("QPS"));
    for _ in 0..3 {
        assert_eq!(get(&http, &url, &token_b).await.0, 200, "B has no limit");
    }
    sim.set_qps_limit_of(&b, Some(0)).expect("B");
    assert_eq!(get(&http, &url, &token_b).await.0, 429);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_token_fault_revokes_the_asking_accounts_tokens_only() {
    let sim = start(two_accounts(SimConfig::default())).await;
    let http = http();
    let (_, token_a, token_b, url) = ann_and_bea(&sim, &http).await;
    sim.push_fault(qoswatch_zoomsim::Fault::InvalidToken);
    let (status, _, body) = get(&http, &url, &token_a).await;
    assert_eq!((status, &body["code"]), (401, &Json::from(124)));
    assert_eq!(get(&http, &url, &token_a).await.0, 401, "A's token revoked");
    assert_eq!(get(&http, &url, &token_b).await.0, 200, "B's still works");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_log_attributes_each_request_to_its_tokens_account() {
    let sim = start(two_accounts(SimConfig::default())).await;
    let a = sim.credentials().account_id.clone();
    let b = sim.accounts()[1].credentials.account_id.clone();
    sim.add_meeting(meeting(PLAIN_UUID)).expect("A's");
    sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann"))
        .expect("joins");
    let http = http();
    let token_a = token_with(&sim, &http, sim.credentials()).await;
    let token_b = sim.grant_token_of(&b).expect("B's token");
    let url = qos_url(&sim, PLAIN_SEGMENT, "1");
    assert_eq!(get(&http, &url, &token_a).await.0, 200);
    assert_eq!(get(&http, &url, &token_a).await.0, 200);
    assert_eq!(get(&http, &url, &token_b).await.0, 404);
    assert_eq!(get(&http, &url, "never-issued").await.0, 401);

    let of_a = sim.qos_requests_of(&a);
    let of_b = sim.qos_requests_of(&b);
    assert_eq!((of_a.len(), of_b.len()), (2, 1));
    assert!(of_a.iter().all(|r| r.status == 200));
    assert_eq!(of_b[0].status, 404);
    let all = sim.qos_requests();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3].account_id, None, "no account for an unknown token");
    let counts_b = sim.request_counts_of(&b).expect("B");
    assert_eq!((counts_b.participant_qos, counts_b.token), (1, 0));
    assert_eq!(sim.request_counts_of(&a).expect("A").participant_qos, 2);
    assert_eq!(sim.request_counts().participant_qos, 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_control_api_keeps_accounts_apart() {
    let sim = start(two_accounts(SimConfig::default())).await;
    let b = sim.accounts()[1].credentials.account_id.clone();
    assert_eq!(
        sim.add_meeting(meeting(PLAIN_UUID).in_account("nobody")),
        Err(SimError::UnknownAccount("nobody".into()))
    );
    sim.add_meeting(meeting(PLAIN_UUID).in_account(&b))
        .expect("B's");
    // The unqualified calls mean the first account, which has no such meeting.
    assert_eq!(
        sim.add_participant(PLAIN_UUID, ParticipantSpec::new("1", "Ann")),
        Err(SimError::UnknownMeeting(PLAIN_UUID.into()))
    );
    assert_eq!(
        sim.add_meeting(meeting(PLAIN_UUID).in_account(&b)),
        Err(SimError::DuplicateMeeting(PLAIN_UUID.into()))
    );
    sim.add_meeting(meeting(PLAIN_UUID))
        .expect("A's of the same UUID");
    sim.add_participant_in(&b, PLAIN_UUID, ParticipantSpec::new("1", "Bea"))
        .expect("joins B's");
    sim.end_meeting(PLAIN_UUID).expect("A's ends");
    assert!(
        sim.participant_leaves_in(&b, PLAIN_UUID, "1").is_ok(),
        "B's meeting still runs"
    );
    sim.end_meeting_in(&b, PLAIN_UUID).expect("B's ends");
    assert_eq!(
        sim.end_meeting_in(&b, PLAIN_UUID),
        Err(SimError::MeetingEnded(PLAIN_UUID.into()))
    );
    assert_eq!(
        sim.qss_samples_in("nobody", PLAIN_UUID, "1", 1),
        Err(SimError::UnknownAccount("nobody".into()))
    );
    sim.shutdown().await;
}
