//! The sample-source seam end to end: a [`Monitor`] polling a fake Zoom
//! (the simulator on loopback) while another source delivers samples of
//! the same participant through [`Monitor::deliver`].

use std::time::Duration;

use chrono::TimeDelta;
use qoswatch_core::alert::ParticipantKey;
use qoswatch_core::subject::StopReason;
use qoswatch_zoomsim::SimConfig;

use super::test_kit::{Kit, bare_sample, eventually, fast_settings};
use super::{Delivered, Source, StartOutcome};

const WAIT: Duration = Duration::from_secs(10);

/// One simulated minute per `sample_period`: long enough that a sample the
/// test pushes right after seeing the previous one is not yet in Zoom's
/// answer when the push arrives.
fn sim() -> SimConfig {
    SimConfig {
        sample_period: Duration::from_millis(1500),
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn a_sample_from_both_sources_reaches_the_observer_once() {
    let kit = Kit::start(sim(), fast_settings()).await;
    let key = kit.join("meeting-seam", "16778240");
    assert_eq!(kit.watch(&key).await, StartOutcome::Started);
    assert!(
        eventually(WAIT, || !kit.sink.heard().times("16778240").is_empty()).await,
        "the poll brings the first sample"
    );
    let first = kit.sink.heard().times("16778240")[0];
    let next = first + TimeDelta::minutes(1);

    // The sample the poll already brought, pushed again: not evaluated again.
    // The next one, pushed before Zoom has it: evaluated now, and not again
    // when the poll brings it.
    assert_eq!(
        kit.monitor
            .deliver(&key, vec![bare_sample(first)], Source::Push),
        Delivered::Queued
    );
    assert_eq!(
        kit.monitor
            .deliver(&key, vec![bare_sample(next)], Source::Push),
        Delivered::Queued
    );
    let after_next = next + TimeDelta::minutes(1);
    assert!(
        eventually(WAIT, || kit
            .sink
            .heard()
            .times("16778240")
            .contains(&after_next))
        .await,
        "the poll goes on past the pushed sample"
    );
    let (times, pushed) = {
        let heard = kit.sink.heard();
        let pushed: Vec<bool> = heard.samples.iter().map(|(_, _, polled)| !polled).collect();
        (heard.times("16778240"), pushed)
    };
    assert_eq!(
        times,
        vec![first, next, after_next],
        "each date_time once, in order"
    );
    assert_eq!(
        pushed,
        vec![false, true, false],
        "the pushed copy was the one evaluated, the polled one dropped"
    );
    assert_eq!(
        kit.metric(r#"qoswatch_samples_by_source_total{source="push"}"#),
        Some(1.0)
    );
    assert_eq!(
        kit.metric(r#"qoswatch_samples_repeated_total{source="push"}"#),
        Some(1.0)
    );
    assert!(
        kit.metric(r#"qoswatch_samples_by_source_total{source="poll"}"#) >= Some(2.0),
        "the polled samples are counted as such"
    );
    kit.stop().await;
}

#[tokio::test]
async fn samples_for_a_participant_not_watched_are_refused() {
    let kit = Kit::start(sim(), fast_settings()).await;
    let key = kit.join("meeting-seam", "16778240");
    let stranger = ParticipantKey::new("meeting-seam", "33554432");
    let now = kit.sim.sim_now();
    assert_eq!(
        kit.monitor
            .deliver(&key, vec![bare_sample(now)], Source::Push),
        Delivered::NotWatched,
        "not watched yet"
    );
    assert_eq!(kit.watch(&key).await, StartOutcome::Started);
    assert_eq!(
        kit.monitor
            .deliver(&stranger, vec![bare_sample(now)], Source::Push),
        Delivered::NotWatched,
        "another participant of a watched meeting"
    );
    assert!(kit.monitor.stop_watch(&key, StopReason::Left).await);
    assert!(eventually(WAIT, || !kit.monitor.is_watching(&key)).await);
    assert_eq!(
        kit.monitor
            .deliver(&key, vec![bare_sample(now)], Source::Push),
        Delivered::NotWatched,
        "a watch that ended"
    );
    assert!(
        kit.sink
            .heard()
            .samples
            .iter()
            .all(|(_, _, polled)| *polled),
        "no refused sample reached an observer"
    );
    assert_eq!(
        kit.metric(r#"qoswatch_samples_not_watched_total{source="push"}"#),
        Some(3.0)
    );
    kit.stop().await;
}
