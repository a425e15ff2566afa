//! The per-second rate follows the work (issue 24): each heartbeat grants
//! its replica a part of the account's rate by the watches it holds, and
//! the parts recorded by the live replicas never sum to more than the rate,
//! whatever order their heartbeats come in. In process, on one PostgreSQL
//! database, like `leases.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use qoswatch::store::Write;
use qoswatch_core::alert::Account;

use super::fresh_database;
use super::leases::{LONG, Replica, key, mk, rates, replica, started};

/// Whole requests a second of 10 in a part.
fn tenths(part: f64) -> u32 {
    (part * 10.0 + 1e-9).floor() as u32
}

/// The last grant of each replica, checked against the whole rate.
#[derive(Default)]
struct Ledger(BTreeMap<&'static str, f64>);

impl Ledger {
    async fn beat(&mut self, name: &'static str, replica: &Replica) -> u32 {
        let part = replica.beat().await.rate_parts[&Account::default()];
        self.0.insert(name, part);
        let whole: u32 = self.0.values().map(|p| tenths(*p)).sum();
        assert!(whole <= 10, "more than the rate granted: {:?}", self.0);
        tenths(part)
    }
}

async fn meeting(on: &Replica, uuid: &str, people: usize) {
    for user in 0..people {
        on.write(started(uuid, &user.to_string())).await;
    }
    assert!(on.leases.claim(&mk(uuid)).await.unwrap());
}

#[tokio::test]
async fn the_rate_follows_the_watches_held_and_never_sums_past_it() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    let c = replica(&database, "c", LONG).await;
    // Two meetings of three on a: within the slack, nothing is shed.
    meeting(&a, "m1", 3).await;
    meeting(&a, "m2", 3).await;
    let mut ledger = Ledger::default();
    assert_eq!(ledger.beat("a", &a).await, 8, "one each for b and c");
    assert_eq!(ledger.beat("b", &b).await, 1);
    assert_eq!(ledger.beat("c", &c).await, 1);
    // The work moves: m1 ends, b gets a meeting of six.
    for user in 0..3 {
        a.write(Write::WatchEnded {
            key: key("m1", &user.to_string()),
            reason: qoswatch::watch::StopReason::Left,
            at: Utc::now(),
        })
        .await;
    }
    meeting(&b, "m3", 6).await;
    // b's target is 6 of 10 (3 : 6 : 0 watches, one each at least), but a
    // still holds 8: b gets nothing more until a gives back.
    assert_eq!(ledger.beat("b", &b).await, 1);
    assert_eq!(ledger.beat("a", &a).await, 3, "a gives back at once");
    assert_eq!(ledger.beat("b", &b).await, 6, "and b takes it next");
    assert_eq!(ledger.beat("c", &c).await, 1);
    // Steady: beats in any order keep the parts.
    for (name, replica) in [("c", &c), ("a", &a), ("b", &b)] {
        ledger.beat(name, replica).await;
    }
    assert_eq!(
        ledger.0.values().map(|p| tenths(*p)).collect::<Vec<_>>(),
        vec![3, 6, 1]
    );
}

#[tokio::test]
async fn a_stopped_or_dead_replica_s_part_goes_to_those_left() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    meeting(&a, "m1", 4).await;
    let mut ledger = Ledger::default();
    assert_eq!(ledger.beat("a", &a).await, 10, "alone: the whole rate");
    // b starts: a holds everything until its next beat.
    let b = replica(&database, "b", LONG).await;
    assert_eq!(ledger.beat("b", &b).await, 0, "nothing left to grant");
    // a stops cleanly: its part goes with it, and b takes over m1.
    a.write(Write::HandBack).await;
    ledger.0.remove("a");
    assert_eq!(ledger.beat("b", &b).await, 10);

    // A replica that dies holding a part (TTL 1 s): once its heartbeat
    // has expired, its part is not counted (it polls nothing past its
    // TTL), and the others have it.
    let c = replica(&database, "c", Duration::from_secs(1)).await;
    let part = |beat: qoswatch::cluster::Beat| tenths(beat.rate_parts[&Account::default()]);
    assert_eq!(ledger.beat("b", &b).await, 9, "b gives one back for c");
    let beat_c = c
        .leases
        .beat(0, Utc::now().date_naive(), &rates(10))
        .await
        .expect("c's beat");
    assert_eq!(part(beat_c), 1);
    let d = replica(&database, "d", LONG).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let beat = d.beat().await;
        if beat.live_replicas == 2 {
            assert_eq!(part(beat), 1, "c's request a second is d's now");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "c never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn each_account_s_rate_is_shared_apart() {
    let database = fresh_database().await;
    let a = replica(&database, "a", LONG).await;
    let b = replica(&database, "b", LONG).await;
    meeting(&a, "m1", 2).await;
    let acme = Account::new("acme".to_owned());
    let both: BTreeMap<Account, u32> = [(Account::default(), 10), (acme.clone(), 4)].into();
    let beat_a = a
        .leases
        .beat(0, Utc::now().date_naive(), &both)
        .await
        .unwrap();
    let beat_b = b
        .leases
        .beat(0, Utc::now().date_naive(), &both)
        .await
        .unwrap();
    // The single account's work is a's: 9 of 10 to a. Acme has none: even.
    assert_eq!(tenths(beat_a.rate_parts[&Account::default()]), 9);
    assert_eq!(tenths(beat_b.rate_parts[&Account::default()]), 1);
    assert_eq!(beat_a.rate_parts[&acme], 0.5);
    assert_eq!(beat_b.rate_parts[&acme], 0.5);
}
