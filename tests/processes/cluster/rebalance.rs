//! Issue 24: replicas share the work. A lease set skewed onto one replica
//! (it was alone when every meeting started) is rebalanced within a few
//! heartbeats once others join, and an alert open across the hand-over is
//! announced once and resolved once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use qoswatch_testkit::eventually;
use qoswatch_zoomsim::SimConfig;

use super::{Cluster, TTL, degrade};

/// Which meetings (by the polled participant) each replica (by its bearer
/// token) polled since `since`.
fn holders(cluster: &Cluster, since: Instant) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_token: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (user, polls) in cluster.polls() {
        for (at, token) in polls {
            if at > since {
                by_token.entry(token).or_default().insert(user.clone());
            }
        }
    }
    by_token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_lease_set_is_rebalanced_with_one_firing_and_one_resolved_delivered_once() {
    let cluster = Cluster::new(SimConfig::default()).await;
    let first = cluster.replica("first", TTL, 40).await;
    // Six one-person meetings, all started while `first` was alone.
    let users: Vec<String> = (0..6).map(|m| format!("{}", 16_900_000 + m)).collect();
    // The last meeting's participant is degraded from the third sample to
    // the 30th: FIRING on `first`, RESOLVED after the hand-over.
    degrade(&cluster, &users[5], 30);
    for (m, user) in users.iter().enumerate() {
        let meeting = cluster.meeting(10 + m);
        cluster.join(&meeting, user, first.address).await;
    }
    assert!(
        eventually(Duration::from_secs(30), || cluster.delivered("[FIRING]")
            >= 1)
        .await,
        "no FIRING from the first replica:\n{}",
        first.service.logs()
    );
    // Two more replicas join (a rolling restart's last two back).
    let second = cluster.replica("second", TTL, 40).await;
    let third = cluster.replica("third", TTL, 40).await;
    let joined = Instant::now();
    // Within three heartbeats (plus a poll interval and slack for process
    // start-up), polls spread: no replica polls more than ceil(6 / 3) + 1.
    let heartbeat = TTL / 3;
    let balanced = || {
        let window_start = Instant::now() - Duration::from_millis(1500);
        let by = holders(&cluster, window_start);
        by.len() == 3 && by.values().all(|meetings| meetings.len() <= 3)
    };
    assert!(
        eventually(heartbeat * 3 + Duration::from_secs(6), balanced).await,
        "not balanced after {:?}: {:?}\n{}",
        joined.elapsed(),
        holders(&cluster, Instant::now() - Duration::from_millis(1500))
            .values()
            .map(BTreeSet::len)
            .collect::<Vec<_>>(),
        first.service.logs()
    );
    // Never by two replicas at once: once another replica polled a
    // participant, the one before never polls them again.
    for (user, polls) in cluster.polls() {
        let mut done_with = BTreeSet::new();
        let mut current: Option<String> = None;
        for (_, token) in polls {
            if current.as_ref() != Some(&token) {
                assert!(
                    !done_with.contains(&token),
                    "{user} polled again by a replica that had handed them over"
                );
                if let Some(previous) = current.replace(token) {
                    done_with.insert(previous);
                }
            }
        }
    }
    assert!(first.service.logs().contains("handing meetings over"));
    // The degradation ends: one RESOLVED, from whoever holds the meeting
    // now, and no second FIRING from the new holder's restored state.
    assert!(
        eventually(Duration::from_secs(45), || cluster.delivered("[RESOLVED]")
            >= 1)
        .await,
        "never resolved:\n{}\n{}",
        second.service.logs(),
        third.service.logs()
    );
    // A few more polls of everybody: nothing more is sent.
    let polls_now = cluster.polls()[&users[5]].len();
    assert!(
        eventually(Duration::from_secs(20), || cluster.polls()[&users[5]].len()
            >= polls_now + 3)
        .await
    );
    assert_eq!(
        (
            cluster.delivered("[FIRING]"),
            cluster.delivered("[RESOLVED]")
        ),
        (1, 1),
        "{:?}",
        cluster.slack.requests()
    );
    let holder = holders(&cluster, Instant::now() - Duration::from_millis(1500));
    let first_token = cluster.polls()[&users[0]][0].1.clone();
    assert!(
        holder
            .iter()
            .any(|(token, meetings)| meetings.contains(&users[5]) && *token != first_token),
        "the degraded participant's meeting was handed over: {holder:?}"
    );
}
