//! The files under `deploy/` that watch qoswatch itself (Prometheus alert
//! rules, the Grafana dashboard) query only series a real server exposes:
//! a replica on PostgreSQL (so the cluster's series exist too) does a
//! little of everything, then every `qoswatch_…` name in their queries must
//! be in its `/metrics`. A renamed metric fails here, not silently in an
//! operator's Grafana.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use qoswatch_testkit::metrics::Scraper;
use qoswatch_testkit::{Process, Spawn, eventually};
use qoswatch_zoomsim::{ParticipantSpec, SimConfig};
use regex::Regex;

use super::{Cluster, TTL, sender};

/// Every `qoswatch_…` name in a PromQL expression.
fn names_in(expression: &str, into: &mut BTreeSet<String>) {
    let name = Regex::new(r"\bqoswatch_[a-z0-9_]*[a-z0-9]").expect("regex");
    into.extend(name.find_iter(expression).map(|m| m.as_str().to_owned()));
}

fn repository_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names the alerting rules query: every `expr` of every group.
fn rule_names() -> BTreeSet<String> {
    let text = repository_file("deploy/prometheus/qoswatch.rules.yml");
    let rules: serde_json::Value = serde_saphyr::from_str(&text).expect("rules are YAML");
    let mut names = BTreeSet::new();
    let groups = rules["groups"].as_array().expect("groups");
    for rule in groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
    {
        names_in(rule["expr"].as_str().expect("an expr"), &mut names);
    }
    names
}

/// The names the dashboard queries: every panel target and template query.
fn dashboard_names() -> BTreeSet<String> {
    fn walk(value: &serde_json::Value, names: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, field) in fields {
                    match (key.as_str(), field) {
                        ("expr" | "query" | "definition", serde_json::Value::String(q)) => {
                            names_in(q, names)
                        }
                        _ => walk(field, names),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, names)),
            _ => {}
        }
    }
    let text = repository_file("deploy/grafana/qoswatch-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut names = BTreeSet::new();
    walk(&dashboard, &mut names);
    names
}

/// Series names of an exposition: sample lines and `# TYPE` lines.
fn exposed(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let name = match line.strip_prefix("# TYPE ") {
            Some(rest) => rest.split(' ').next(),
            None if line.starts_with('#') => None,
            None => line.split(['{', ' ']).next(),
        };
        names.extend(name.filter(|n| !n.is_empty()).map(str::to_owned));
    }
    names
}

/// `qoswatch serve` terminating TLS with a self-signed certificate, and the
/// directory of its files (kept while it runs).
fn tls_server() -> (Process, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let (cert_file, key_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_file, cert.pem()).expect("cert");
    std::fs::write(&key_file, signing_key.serialize_pem()).expect("key");
    let server = Spawn::new(env!("CARGO_BIN_EXE_qoswatch"))
        .arg("serve")
        .free_ports()
        .temp_data_dir()
        .env("QOSWATCH_TLS_CERT_FILE", cert_file.display().to_string())
        .env("QOSWATCH_TLS_KEY_FILE", key_file.display().to_string())
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "x")
        .env("ZOOM_ACCOUNT_ID", "x")
        .env("ZOOM_CLIENT_ID", "x")
        .env("ZOOM_CLIENT_SECRET", "x")
        .start();
    (server, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_rules_and_the_dashboard_query_only_series_the_server_exposes() {
    let rules = rule_names();
    let dashboard = dashboard_names();
    // The parse itself must have found the queries (not an empty set that
    // trivially passes).
    assert!(rules.len() >= 12, "{rules:?}");
    assert!(dashboard.len() >= 30, "{dashboard:?}");

    let cluster = Cluster::new(SimConfig::default()).await;
    let replica = cluster.replica("r1", TTL, 40).await;
    // A little of everything: a participant polled, then leaving; one
    // request refused for its signature.
    let meeting = cluster.meeting(1);
    let user = "16778300";
    cluster.join(&meeting, user, replica.address).await;
    let refused = reqwest::Client::new()
        .post(format!("http://{}/webhooks/zoom", replica.address))
        .body(r#"{"event":"meeting.participant_joined"}"#)
        .send()
        .await
        .expect("unsigned request");
    assert_eq!(refused.status(), 401);
    assert!(
        eventually(Duration::from_secs(30), || {
            cluster.polls().get(user).is_some_and(|p| !p.is_empty())
        })
        .await,
        "the participant was polled"
    );
    let now = cluster.sim.sim_now();
    let participant = ParticipantSpec::new(user, format!("Person {user}"));
    let left = sender(replica.address)
        .participant_left(&meeting, now, &participant, now, "left the meeting")
        .await
        .expect("webhook sent");
    assert_eq!(left.status, 200, "{left:?}");

    // The TLS series exist only where qoswatch terminates TLS itself: a
    // second server with a certificate; its names count too.
    let (tls, _tls_files) = tls_server();
    let tls_names = exposed(&Scraper::new(tls.admin_address().await).text().await);

    let wanted: BTreeSet<String> = rules.union(&dashboard).cloned().collect();
    let scraper = Scraper::new(replica.admin);
    // Some series appear with their first event (a poll's endpoint, a
    // watch's stop reason): scrape until all are there or time is up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let mut have = exposed(&scraper.text().await);
        have.extend(tls_names.iter().cloned());
        let missing: BTreeSet<String> = wanted.difference(&have).cloned().collect();
        if missing.is_empty() || Instant::now() >= deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        missing.is_empty(),
        "queried by deploy/prometheus or deploy/grafana but not exposed by the server: {missing:?}"
    );
}
