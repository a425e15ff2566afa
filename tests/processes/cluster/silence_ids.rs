//! The PostgreSQL store's migration of silence ids to UUIDs (issue 26):
//! a silence stored with a 16-hex-digit id before the migration comes back
//! with a UUID holding the same digits, in the row and in its JSON.

use prometheus_client::registry::Registry;
use qoswatch::store::{Store, StoreSettings};
use qoswatch_core::silence::{MatcherSpec, SilenceRequest};
use secrecy::SecretString;
use sqlx::Connection;

use super::fresh_database;

#[tokio::test]
async fn postgres_gives_sixteen_hex_silence_ids_a_uuid() {
    let database = fresh_database().await;
    let url = SecretString::from(database.clone());
    let settings = StoreSettings::default();
    // All migrations, then back to before the UUID one with an old silence.
    let (store, _) = Store::open_postgres(&settings, &url, None, &mut Registry::default())
        .await
        .expect("opens");
    store.close().await;
    let now = chrono::Utc::now();
    let mut legacy = SilenceRequest {
        matchers: vec![MatcherSpec {
            name: "location".into(),
            value: "Berlin.*".into(),
            is_regex: true,
        }],
        duration: "1h".into(),
        created_by: "ana".into(),
        comment: "link being fixed".into(),
    }
    .into_silence("0123456789abcdef".into(), now)
    .expect("valid");
    legacy.ends_at = now + chrono::Duration::hours(1);
    let mut raw = sqlx::PgConnection::connect(&database)
        .await
        .expect("connects");
    sqlx::query("INSERT INTO silences (id, silence, ends_at) VALUES ($1, $2, $3)")
        .bind(&legacy.id)
        .bind(serde_json::to_string(&legacy).unwrap())
        .bind(legacy.ends_at.timestamp_millis())
        .execute(&mut raw)
        .await
        .expect("inserts");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 2")
        .execute(&mut raw)
        .await
        .expect("forgets the migration");
    raw.close().await.expect("closes");

    let (store, snapshot) = Store::open_postgres(&settings, &url, None, &mut Registry::default())
        .await
        .expect("reopens");
    let ids: Vec<&str> = snapshot.silences.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["01234567-89ab-4cde-8f00-000000000000"]);
    uuid::Uuid::parse_str(ids[0]).expect("a UUID");
    assert_eq!(snapshot.silences[0].comment, legacy.comment);
    assert_eq!(
        snapshot.silences[0].ends_at.timestamp_millis(),
        legacy.ends_at.timestamp_millis()
    );
    store.close().await;
}
