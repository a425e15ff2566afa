use super::*;

fn settings() -> NotifySettings {
    NotifySettings {
        max_attempts: 3,
        initial_backoff: Duration::from_secs(2),
        max_backoff: Duration::from_secs(5),
        max_age: Duration::from_secs(60),
        ..NotifySettings::default()
    }
}

#[test]
fn retry_after_is_honoured_and_pauses_the_channel() {
    let next = after_transient(
        1,
        Duration::ZERO,
        Some(Duration::from_secs(30)),
        &settings(),
    );
    assert_eq!(
        next,
        Next::Retry {
            delay: Duration::from_secs(30),
            pause: true
        }
    );
}

#[test]
fn without_retry_after_the_back_off_applies_and_the_channel_goes_on() {
    for _ in 0..20 {
        // Attempt 1: a step of 2 s, the wait in its upper half.
        let Next::Retry { delay, pause } = after_transient(1, Duration::ZERO, None, &settings())
        else {
            panic!("the first failure is retried");
        };
        assert!(!pause);
        assert!(
            (Duration::from_secs(1)..=Duration::from_secs(2)).contains(&delay),
            "{delay:?}"
        );
        // Attempt 2: 4 s; capped at max_backoff (5 s) after that.
        let Next::Retry { delay, .. } = after_transient(2, Duration::ZERO, None, &settings())
        else {
            panic!("the second failure is retried");
        };
        assert!(
            (Duration::from_secs(2)..=Duration::from_secs(4)).contains(&delay),
            "{delay:?}"
        );
    }
}

#[test]
fn gives_up_when_attempts_or_age_run_out() {
    let s = settings();
    let young = Duration::from_secs(59);
    assert_ne!(after_transient(2, young, None, &s), Next::GiveUp);
    assert_eq!(after_transient(3, young, None, &s), Next::GiveUp);
    assert_eq!(after_transient(4, young, None, &s), Next::GiveUp);
    // Even when the server names a time to come back.
    let soon = Some(Duration::from_secs(1));
    assert_eq!(after_transient(3, Duration::ZERO, soon, &s), Next::GiveUp);
    assert_eq!(
        after_transient(1, Duration::from_secs(60), soon, &s),
        Next::GiveUp
    );
    assert_eq!(
        after_transient(1, Duration::from_secs(61), None, &s),
        Next::GiveUp
    );
    assert_ne!(after_transient(1, young, soon, &s), Next::GiveUp);
}

#[test]
fn alert_keys_are_listed_in_order() {
    use qoswatch_core::alert::AlertStatus;
    let events = ["16778240", "16778241"]
        .map(|user| crate::test_support::example_event(user, AlertStatus::Firing));
    let expected = format!("{},{}", events[0].key.as_str(), events[1].key.as_str());
    let notification = Notification::new(events.to_vec()).unwrap();
    assert_eq!(alert_keys(&notification), expected);
}
