//! The heartbeat's decisions that need no database. Its SQL is tested
//! against PostgreSQL in `tests/cluster`.

use chrono::TimeZone;

use super::*;
use qoswatch_core::alert::{Account, MeetingKey};

#[test]
fn a_fair_share_is_the_active_meetings_over_the_live_replicas_rounded_up() {
    // Nothing held yet: the whole share.
    assert_eq!(to_claim(9, 3, 0), 3);
    assert_eq!(to_claim(10, 3, 0), 4);
    assert_eq!(to_claim(11, 3, 0), 4);
    assert_eq!(to_claim(12, 3, 0), 4);
    assert_eq!(to_claim(1, 2, 0), 1);
    assert_eq!(to_claim(5, 1, 0), 5);
    assert_eq!(to_claim(0, 1, 0), 0);
    assert_eq!(to_claim(0, 4, 0), 0);
}

#[test]
fn what_is_held_counts_against_the_share() {
    assert_eq!(to_claim(10, 3, 1), 3);
    assert_eq!(to_claim(10, 3, 4), 0);
    // Holding more than a share (others came back): claim nothing, never
    // a negative number.
    assert_eq!(to_claim(10, 3, 7), 0);
    assert_eq!(to_claim(0, 1, 2), 0);
}

#[test]
fn no_live_replica_counted_still_divides_safely() {
    // This replica renewed its own row in the same transaction, so `live`
    // is at least one; the division must not panic if it were not.
    assert_eq!(to_claim(3, 0, 0), 2);
}

#[test]
fn only_leases_another_replica_held_count_as_taken_over() {
    let m = |uuid: &str| MeetingKey::new(Account::default(), uuid);
    let claimed = vec![
        (m("m1"), None),
        (m("m2"), Some("me".to_owned())),
        (m("m3"), Some("other".to_owned())),
        (m("m4"), Some("third".to_owned())),
    ];
    assert_eq!(taken_from_others(&claimed, "me"), 2);
    assert_eq!(taken_from_others(&claimed[..2], "me"), 0);
    assert_eq!(taken_from_others(&[], "me"), 0);
}

#[test]
fn a_pause_is_shared_only_while_it_runs() {
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    let ms = |at: DateTime<Utc>| at.timestamp_millis();
    let later = now + chrono::Duration::seconds(30);
    assert_eq!(in_force(Some(ms(later)), now), Some(later));
    assert_eq!(in_force(Some(ms(now)), now), None);
    assert_eq!(
        in_force(Some(ms(now - chrono::Duration::seconds(1))), now),
        None
    );
    assert_eq!(in_force(None, now), None);
}

#[test]
fn a_replica_over_its_fair_share_plus_one_sheds_down_to_the_share() {
    let m = |uuid: String| MeetingKey::new(Account::default(), uuid);
    let held = |n: usize| -> BTreeSet<MeetingKey> { (0..n).map(|i| m(format!("m{i}"))).collect() };
    // Six meetings, three replicas: a share of two; holding all six, four go.
    let mut mine = held(6);
    let shed: Vec<String> = shed_excess(&mut mine, 6, 3)
        .into_iter()
        .map(|k| k.uuid)
        .collect();
    assert_eq!(shed, vec!["m5", "m4", "m3", "m2"]);
    assert_eq!(mine, held(2));
    // One over the share is tolerated (meetings start and end).
    let mut mine = held(3);
    assert!(shed_excess(&mut mine, 6, 3).is_empty());
    assert_eq!(mine.len(), 3);
    // Seven meetings: a share of three; five held, two go.
    let mut mine = held(5);
    assert_eq!(shed_excess(&mut mine, 7, 3).len(), 2);
    // Alone: everything is the share.
    let mut mine = held(6);
    assert!(shed_excess(&mut mine, 6, 1).is_empty());
    // No live replica counted still divides safely.
    let mut mine = held(2);
    assert!(shed_excess(&mut mine, 2, 0).is_empty());
}
