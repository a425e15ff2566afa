//! Every log line an unauthenticated client can cause, flooded: each kind
//! of problem writes one line (with its count) however many requests
//! cause it, and the metrics still count every one. Before issue 28,
//! 20,000 unsigned requests wrote 20,000 lines.

use std::time::Duration;

use qoswatch_testkit::Webhooks;
use qoswatch_testkit::webhook::now_unix;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::binary;
use super::harness::*;

/// Requests per kind of problem.
const FLOOD: usize = 200;

const ADMIN_TOKEN: &str = "adversarial-admin-token";

/// One series of the admin listener's `/metrics` (with the token); 0 when absent.
async fn admin_metric(http: &reqwest::Client, admin: &str, series: &str) -> f64 {
    let text = http
        .get(format!("{admin}metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("scraped")
        .text()
        .await
        .expect("text");
    metric_value(&text, series).unwrap_or(0.0)
}

/// The JSON log lines whose message contains `message`.
fn lines(service: &Service, message: &str) -> Vec<Value> {
    service
        .logs()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.contains(message))
        })
        .collect()
}

/// Sends `request` on a connection of its own and reads the status code.
async fn raw_status(service: &Service, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(service.address).await.expect("connects");
    stream.write_all(request).await.expect("writes");
    let mut answer = vec![0; 12];
    stream.read_exact(&mut answer).await.expect("a status line");
    let text = String::from_utf8_lossy(&answer).into_owned();
    text[9..12].parse().unwrap_or_else(|_| panic!("{text:?}"))
}

/// Sends `FLOOD` requests one after the other; all get the same 4xx.
async fn flood<F, Fut>(what: &str, send: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = u16>,
{
    let mut statuses = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        statuses.push(send().await);
    }
    let first = statuses[0];
    assert!(
        statuses.iter().all(|s| *s == first) && (400..500).contains(&first),
        "{what}: {statuses:?}"
    );
}

#[tokio::test]
async fn a_flood_of_each_rejection_writes_one_line_per_kind_and_counts_every_one() {
    let sim = simulator().await;
    let service = Service::start(
        &binary(),
        &sim,
        StoreKind::Memory,
        &[
            ("QOSWATCH_MAX_BODY_BYTES", "2048".into()),
            ("QOSWATCH_HEADER_READ_TIMEOUT", "300ms".into()),
            ("QOSWATCH_ADMIN_TOKEN", ADMIN_TOKEN.into()),
            // The unreadable body is logged at debug.
            ("QOSWATCH_LOG_FILTER", "qoswatch=debug,info".into()),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let url = service.url("/webhooks/zoom");
    let hooks = Webhooks::new(&url, SECRET);
    let body = event_body("meeting.started");
    let status = |response: reqwest::Response| response.status().as_u16();

    flood("unsigned", || async {
        status(
            http.post(&url)
                .body(body.clone())
                .send()
                .await
                .expect("sent"),
        )
    })
    .await;
    flood("wrong secret", || async {
        status(
            hooks
                .post_signed(&http, &body, "not-the-secret", now_unix())
                .await,
        )
    })
    .await;
    flood("stale", || async {
        status(
            hooks
                .post_signed(&http, &body, SECRET, now_unix() - 3600)
                .await,
        )
    })
    .await;
    flood("signed, not JSON", || async {
        status(
            hooks
                .post_signed(&http, "{not json", SECRET, now_unix())
                .await,
        )
    })
    .await;
    let big = "x".repeat(4096);
    flood("announced too large", || async {
        status(
            http.post(&url)
                .body(big.clone())
                .send()
                .await
                .expect("sent"),
        )
    })
    .await;
    let chunked = format!(
        "POST /webhooks/zoom HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n1000\r\n{big}\r\n0\r\n\r\n"
    );
    flood("sent too large", || {
        raw_status(&service, chunked.as_bytes())
    })
    .await;
    let broken = b"POST /webhooks/zoom HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\n";
    flood("unreadable body", || raw_status(&service, broken)).await;
    let admin = format!("http://{}/", service.admin_address().await);
    flood("admin without the token", || async {
        status(
            http.get(&admin)
                .bearer_auth("guess")
                .send()
                .await
                .expect("sent"),
        )
    })
    .await;
    // Connections that never send a head: closed by the header timeout.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(service.address).await.expect("connects"));
    }

    for (reason, expected) in [
        ("signature", 3 * FLOOD),
        ("payload", FLOOD),
        ("too_large", 2 * FLOOD),
        ("unread", FLOOD),
    ] {
        let series =
            format!("qoswatch_webhooks_rejected_total{{account=\"default\",reason=\"{reason}\"}}");
        assert_eq!(
            admin_metric(&http, &admin, &series).await,
            expected as f64,
            "every rejection is counted: {series}"
        );
    }
    let header = "qoswatch_http_connections_timed_out_total{phase=\"header\"}";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let timed_out = loop {
        let timed_out = admin_metric(&http, &admin, header).await;
        if timed_out >= 20.0 || tokio::time::Instant::now() >= deadline {
            break timed_out;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(timed_out >= 20.0, "{timed_out}");
    drop(held);

    // One line per kind, the first of each flood (counting itself).
    for (message, kind_field, kinds) in [
        ("webhook rejected", "reason", 3),
        ("verified webhook unreadable", "problem", 1),
        ("webhook body too large: refused unread", "max", 1),
        ("webhook body too large (", "max", 1),
        ("webhook body not read", "problem", 1),
        ("admin requests refused", "refused", 1),
    ] {
        let found = lines(&service, message);
        assert_eq!(
            found.len(),
            kinds,
            "{message}: {FLOOD} rejections, one line per kind:\n{found:#?}"
        );
        for line in &found {
            assert!(!line[kind_field].is_null(), "{line}");
        }
    }
    let public = |line: &&Value| line["listener"] == "public";
    assert_eq!(
        lines(&service, "no complete request head")
            .iter()
            .filter(public)
            .count(),
        1,
        "one line for the public listener's header timeouts"
    );
    for line in lines(&service, "webhook rejected") {
        assert_eq!(line["rejected"], 1, "the first of its kind: {line}");
    }
    let logs = service.logs();
    assert!(
        logs.lines().count() < 200,
        "{} requests wrote {} log lines",
        8 * FLOOD,
        logs.lines().count()
    );
    assert!(!logs.contains(ADMIN_TOKEN) && !logs.contains("guess"));
    service.stop().await;
    sim.shutdown().await;
}
