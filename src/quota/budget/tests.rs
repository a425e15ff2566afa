use super::*;
use std::sync::{Arc, Mutex};

fn budget(rate: u32, daily: u32) -> Budget {
    Budget::new(rate, daily, &mut Registry::default())
}

#[tokio::test(start_paused = true)]
async fn an_accelerated_quota_clock_runs_the_day_faster_and_renews_the_count() {
    let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 2, 23, 59, 0).unwrap();
    let clock = QuotaClock::Accelerated {
        at,
        since: Instant::now(),
        speed: 10,
    };
    let budget = budget(100, 3).with_clock(clock);
    let quota = budget.quota();
    // One quota minute to midnight is six real seconds at 10x.
    assert_eq!(quota.until_reset, Duration::from_secs(6));
    assert_eq!((quota.allowance, quota.used_today), (3, 0));
    assert!((quota.rate - 100.0 / 1.025).abs() < 1e-9);
    for _ in 0..3 {
        budget.acquire().await.expect("quota left");
    }
    match budget.acquire().await {
        Err(BudgetError::DailyQuotaExhausted { reset_in, .. }) => {
            assert!(reset_in <= Duration::from_secs(6) && reset_in > Duration::from_secs(5));
        }
        other => panic!("{other:?}"),
    }
    tokio::time::advance(Duration::from_secs(7)).await;
    assert_eq!(budget.quota().used_today, 0, "a new quota day");
    budget.acquire().await.expect("renewed");
    assert_eq!(
        QuotaClock::Wall.to_real(Duration::from_secs(5)),
        Duration::from_secs(5)
    );
}

#[tokio::test(start_paused = true)]
async fn zoom_s_remaining_counts_for_today_only() {
    let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 2, 23, 59, 0).unwrap();
    let clock = QuotaClock::Accelerated {
        at,
        since: Instant::now(),
        speed: 60,
    };
    let budget = budget(10, 1000).with_clock(clock);
    assert_eq!(budget.quota().zoom_remaining, None);
    budget.observe_zoom_remaining(420);
    assert_eq!(budget.quota().zoom_remaining, Some(420));
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(budget.quota().zoom_remaining, None, "yesterday's figure");
}

#[tokio::test(start_paused = true)]
async fn requests_are_spaced_by_the_rate() {
    let budget = budget(4, 1000);
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..9 {
        budget.acquire().await.expect("quota left");
        times.push(Instant::now() - start);
    }
    assert_eq!(times[0], Duration::ZERO);
    // 1 s / 4 plus the 2.5 % margin.
    assert_eq!(times[8], Duration::from_micros(8 * 256_250));
    // No one-second window holds more than 4 requests.
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| **u - *t < Duration::from_secs(1))
            .count();
        assert!(in_window <= 4, "window from {t:?} holds {in_window}");
    }
}

/// The times of `n` requests from one budget, from the first.
async fn request_times(budget: &Budget, n: usize) -> Vec<Duration> {
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..n {
        budget.acquire().await.expect("quota left");
        times.push(Instant::now() - start);
    }
    times
}

#[tokio::test(start_paused = true)]
async fn replicas_sharing_the_rate_never_crowd_one_second_together() {
    // Three replicas share 10 a second: each takes 3 a second (floor),
    // spaced so no one-second window of its own holds more than 3, so
    // the three together stay at 9 whatever their phases.
    let budget = budget(10, 1000);
    budget.share(3, 0, None);
    let quota = budget.quota();
    assert!((quota.share - 1.0 / 3.0).abs() < 1e-9);
    assert!((quota.rate - 3.0 / 1.025).abs() < 1e-6, "{}", quota.rate);
    let times = request_times(&budget, 10).await;
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| **u - *t < Duration::from_secs(1))
            .count();
        assert!(in_window <= 3, "window from {t:?} holds {in_window}");
    }
    // 1.025 s / 3, to the paused clock's millisecond.
    let gap = times[1] - times[0];
    assert!(
        gap.abs_diff(Duration::from_nanos(341_666_666)) <= Duration::from_millis(1),
        "{gap:?}"
    );
    // Alone again: the whole rate.
    budget.share(1, 0, None);
    let alone = request_times(&budget, 3).await;
    let gap = alone[2] - alone[1];
    assert!(
        gap.abs_diff(Duration::from_micros(102_500)) <= Duration::from_millis(1),
        "{gap:?}"
    );
    // Fewer requests than replicas: N / rate apart on average.
    let slow = super::tests::budget(2, 1000);
    slow.share(4, 0, None);
    let times = request_times(&slow, 3).await;
    let gap = times[2] - times[1];
    assert!(
        gap.abs_diff(Duration::from_millis(2_050)) <= Duration::from_millis(1),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_other_replicas_use_counts_against_the_day() {
    let budget = budget(100, 10);
    budget.share(2, 8, None);
    assert_eq!(
        budget.quota().used_today,
        8,
        "the account's use, all replicas"
    );
    budget.acquire().await.expect("9th");
    budget.acquire().await.expect("10th");
    assert!(matches!(
        budget.acquire().await,
        Err(BudgetError::DailyQuotaExhausted { limit: 10, .. })
    ));
    assert_eq!(budget.used_today(), 2, "this replica's own count");
}

#[tokio::test(start_paused = true)]
async fn a_pause_another_replica_recorded_holds_here() {
    let budget = budget(100, 1000);
    budget.share(2, 0, Some(Utc::now() + chrono::Duration::seconds(5)));
    assert!(budget.paused_for().is_some());
    let times = request_times(&budget, 1).await;
    assert!(times[0] >= Duration::from_millis(4_900), "{:?}", times[0]);
    // A pause that is over changes nothing.
    budget.share(2, 0, Some(Utc::now() - chrono::Duration::seconds(1)));
    assert_eq!(budget.paused_for(), None);
}

#[tokio::test(start_paused = true)]
async fn waiting_callers_cannot_overshoot_the_daily_limit_together() {
    let budget = Arc::new(budget(2, 5));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move { budget.acquire().await.is_ok() }));
    }
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.expect("task"));
    }
    assert_eq!(
        granted, 5,
        "every waiting reservation counts against the day"
    );
    assert_eq!(budget.used_today(), 5);
    // A caller that gave its slot back frees the day's place too.
    let budget = Arc::new(budget_with_one_left());
    let waiting = {
        let budget = budget.clone();
        tokio::spawn(async move { budget.acquire().await })
    };
    tokio::task::yield_now().await;
    waiting.abort();
    let _ = waiting.await;
    budget
        .acquire()
        .await
        .expect("the aborted caller's place is free");
}

/// A budget of 1 a second and 2 a day with one request already used.
fn budget_with_one_left() -> Budget {
    let budget = budget(1, 2);
    budget.lock().used_today = 1;
    // The next slot is a second away, so a caller waits for it.
    budget.lock().next_slot = Instant::now() + Duration::from_secs(1);
    budget
}

#[tokio::test(start_paused = true)]
async fn concurrent_watchers_share_one_rate() {
    let budget = Arc::new(budget(5, 1000));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            budget.acquire().await.expect("quota left");
            Instant::now() - start
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.push(task.await.expect("task"));
    }
    times.sort();
    assert_eq!(times[19], Duration::from_millis(19 * 205));
    assert_eq!(budget.used_today(), 20);
}

#[tokio::test(start_paused = true)]
async fn slots_go_to_whoever_asked_first() {
    // A watcher whose slot is due but who has not run yet keeps it; a
    // newcomer queues behind. (Without reservations a busy runtime let
    // newcomers take every freed slot and starved some watchers.)
    let budget = Arc::new(budget(5, 1000));
    let start = Instant::now();
    budget.acquire().await.expect("first slot");
    let waiter = {
        let budget = budget.clone();
        tokio::spawn(async move {
            budget.acquire().await.expect("second slot");
            Instant::now() - start
        })
    };
    tokio::task::yield_now().await;
    // Move the clock without running the waiter.
    tokio::time::advance(Duration::from_millis(205)).await;
    let newcomer = {
        budget.acquire().await.expect("third slot");
        Instant::now() - start
    };
    assert_eq!(waiter.await.expect("task"), Duration::from_millis(205));
    assert_eq!(newcomer, Duration::from_millis(410));
}

#[tokio::test(start_paused = true)]
async fn slots_of_cancelled_callers_are_given_to_the_next() {
    let budget = Arc::new(budget(5, 1000));
    let start = Instant::now();
    budget.acquire().await.expect("first slot");
    // Four watchers queue (slots 1..4), then three of them are cancelled.
    let mut waiters = Vec::new();
    for _ in 0..4 {
        let budget = budget.clone();
        waiters.push(tokio::spawn(async move {
            budget.acquire().await.expect("slot");
            Instant::now() - start
        }));
        tokio::task::yield_now().await;
    }
    let last = waiters.pop().expect("four waiters");
    for waiter in &waiters {
        waiter.abort();
    }
    for waiter in waiters {
        assert!(waiter.await.is_err(), "cancelled");
    }
    // A newcomer takes the earliest freed slot instead of queueing
    // behind the cancelled ones; the last waiter keeps its own.
    budget.acquire().await.expect("freed slot");
    assert_eq!(Instant::now() - start, Duration::from_millis(205));
    assert_eq!(last.await.expect("task"), Duration::from_millis(4 * 205));
    assert_eq!(budget.used_today(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_everyone_for_retry_after() {
    let budget = budget(10, 1000);
    budget.acquire().await.expect("quota left");
    budget.rate_limited(Some(Duration::from_secs(7)));
    let start = Instant::now();
    budget.acquire().await.expect("quota left");
    assert_eq!(Instant::now() - start, Duration::from_secs(7));
    assert_eq!(budget.paused_for(), None);
}

#[tokio::test(start_paused = true)]
async fn a_pause_that_starts_while_waiting_still_holds() {
    let budget = Arc::new(budget(1, 1000));
    budget.acquire().await.expect("first");
    let waiter = {
        let budget = budget.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            budget.acquire().await.expect("second");
            Instant::now() - start
        })
    };
    tokio::task::yield_now().await;
    budget.rate_limited(Some(Duration::from_secs(5)));
    assert_eq!(waiter.await.expect("task"), Duration::from_secs(5));
}

/// What Prometheus scrapes for the pause gauge.
fn paused_gauge(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
    text.lines()
        .find(|l| l.starts_with("qoswatch_zoom_paused{"))
        .expect("gauge registered")
        .to_owned()
}

/// Queues `n` watchers behind the current schedule and cancels them, as
/// when participants leave while their poll waits for a slot.
async fn queue_and_cancel(budget: &Arc<Budget>, n: usize) {
    let mut waiters = Vec::new();
    for _ in 0..n {
        let budget = budget.clone();
        waiters.push(tokio::spawn(async move {
            budget.acquire().await.expect("slot");
        }));
        tokio::task::yield_now().await;
    }
    for waiter in waiters {
        waiter.abort();
        assert!(waiter.await.is_err(), "cancelled");
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_pause_holds_even_when_cancelled_callers_freed_slots() {
    // Freed slots lie inside the pause: none of them may be used, or we
    // would send inside Zoom's Retry-After window.
    let budget = Arc::new(budget(5, 1000));
    let start = Instant::now();
    budget.acquire().await.expect("first");
    queue_and_cancel(&budget, 3).await;
    budget.rate_limited(Some(Duration::from_secs(7)));
    assert_eq!(budget.paused_for(), Some(Duration::from_secs(7)));
    budget.acquire().await.expect("after the pause");
    assert_eq!(Instant::now() - start, Duration::from_secs(7));
    assert_eq!(budget.used_today(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_pause_is_reported_while_it_lasts_and_cleared_after() {
    let mut registry = Registry::default();
    let budget = Arc::new(Budget::new(5, 1000, &mut registry));
    assert_eq!(
        paused_gauge(&registry),
        "qoswatch_zoom_paused{account=\"default\"} 0"
    );
    budget.rate_limited(Some(Duration::from_secs(7)));
    assert_eq!(
        paused_gauge(&registry),
        "qoswatch_zoom_paused{account=\"default\"} 1"
    );
    let waiter = {
        let budget = budget.clone();
        tokio::spawn(async move { budget.acquire().await.expect("after the pause") })
    };
    tokio::task::yield_now().await;
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(budget.paused_for(), Some(Duration::from_secs(4)));
    assert_eq!(
        paused_gauge(&registry),
        "qoswatch_zoom_paused{account=\"default\"} 1"
    );
    waiter.await.expect("task");
    // The next request after the pause (here at its very end) clears it.
    budget.acquire().await.expect("next");
    assert_eq!(budget.paused_for(), None);
    assert_eq!(
        paused_gauge(&registry),
        "qoswatch_zoom_paused{account=\"default\"} 0"
    );
    // Later requests find it cleared too.
    tokio::time::advance(Duration::from_secs(60)).await;
    budget.acquire().await.expect("much later");
    assert_eq!(
        paused_gauge(&registry),
        "qoswatch_zoom_paused{account=\"default\"} 0"
    );
}

#[tokio::test(start_paused = true)]
async fn freed_slots_in_the_past_do_not_make_a_burst() {
    // Watchers cancelled long ago left slots that are now in the past:
    // handing those out would send several requests at once, above the
    // per-second rate.
    let budget = Arc::new(budget(5, 1000));
    let start = Instant::now();
    budget.acquire().await.expect("first");
    queue_and_cancel(&budget, 3).await;
    tokio::time::advance(Duration::from_millis(700)).await;
    let mut times = vec![Duration::ZERO];
    for _ in 0..8 {
        budget.acquire().await.expect("quota left");
        times.push(Instant::now() - start);
    }
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| **u - *t < Duration::from_secs(1))
            .count();
        assert!(
            in_window <= 5,
            "window from {t:?} holds {in_window}: {times:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_backoff() {
    let budget = budget(10, 1000);
    for _ in 0..4 {
        budget.rate_limited(None);
    }
    budget.succeeded();
    // Back to the first step (1 s with jitter), not the fifth (16 s).
    let pause = budget.rate_limited(None);
    assert!(
        pause >= Duration::from_millis(500) && pause <= Duration::from_secs(1),
        "{pause:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_resets_the_backoff() {
    let budget = budget(10, 1000);
    for _ in 0..4 {
        budget.rate_limited(None);
    }
    budget.rate_limited(Some(Duration::from_secs(2)));
    let pause = budget.rate_limited(None);
    assert!(
        pause >= Duration::from_millis(500) && pause <= Duration::from_secs(1),
        "{pause:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_without_retry_after() {
    let budget = budget(10, 1000);
    let first = budget.rate_limited(None);
    let second = budget.rate_limited(None);
    let third = budget.rate_limited(None);
    assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
    assert!(second >= Duration::from_secs(1) && second <= Duration::from_secs(2));
    assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn daily_quota_stops_requests() {
    let budget = budget(100, 3);
    for _ in 0..3 {
        budget.acquire().await.expect("quota left");
    }
    let err = budget.acquire().await.unwrap_err();
    let BudgetError::DailyQuotaExhausted { limit, reset_in } = err;
    assert_eq!(limit, 3);
    assert!(reset_in <= Duration::from_secs(86_400));
}

#[tokio::test(start_paused = true)]
async fn zoom_saying_daily_limit_stops_requests_until_midnight() {
    let budget = budget(10, 1000);
    budget.acquire().await.expect("quota left");
    budget.daily_limit_reached();
    assert!(matches!(
        budget.acquire().await,
        Err(BudgetError::DailyQuotaExhausted { .. })
    ));
}

/// Log lines, captured for the current thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// The capturing test's buffer, on its thread.
    static CAPTURE: std::cell::RefCell<Option<Logs>> = const { std::cell::RefCell::new(None) };
}

/// Where the one subscriber of this test binary writes: the buffer of the
/// test capturing on this thread, or nowhere.
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| match capture.borrow_mut().as_mut() {
            Some(logs) => logs.write(buf),
            None => Ok(buf.len()),
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Ends a capture when dropped.
struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

impl Logs {
    /// Captures this thread's log lines until the guard drops. One global
    /// subscriber serves every test of the binary: with a scoped subscriber
    /// per test (`set_default`), tracing's process-wide cache of which
    /// call sites are enabled could be filled by another test's thread
    /// while no subscriber wanted them, and the line was dropped (about one
    /// run of `quota::` in 40).
    fn capture(&self) -> Capturing {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let _ = tracing::subscriber::set_global_default(
                tracing_subscriber::fmt()
                    .with_ansi(false)
                    .with_writer(|| ThreadWriter)
                    .finish(),
            );
        });
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(self.clone()));
        Capturing
    }

    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().expect("logs"))
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }
}

const WARNING: &str = "WARN qoswatch::quota::budget: 80% of today's Zoom request quota used";
const EXHAUSTED: &str = "ERROR qoswatch::quota::budget: daily Zoom request quota used up";

#[tokio::test(start_paused = true)]
async fn operators_are_warned_once_at_80_percent_of_the_quota() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let budget = budget(100, 10);
    for _ in 0..7 {
        budget.acquire().await.expect("quota left");
    }
    assert_eq!(logs.count(WARNING), 0, "not before the 8th of 10");
    budget.acquire().await.expect("quota left");
    assert_eq!(logs.count(WARNING), 1, "at the 8th of 10");
    for _ in 0..2 {
        budget.acquire().await.expect("quota left");
    }
    assert_eq!(logs.count(WARNING), 1, "only once");
}

#[tokio::test(start_paused = true)]
async fn a_used_up_quota_is_logged_once_not_on_every_poll() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let budget = budget(100, 2);
    for _ in 0..2 {
        budget.acquire().await.expect("quota left");
    }
    assert_eq!(logs.count(EXHAUSTED), 0);
    for _ in 0..5 {
        assert!(budget.acquire().await.is_err());
    }
    assert_eq!(logs.count(EXHAUSTED), 1);
}

#[test]
fn retry_after_in_both_forms() {
    let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
    assert_eq!(
        parse_retry_after("2026-11-25T10:00:12Z", now),
        Some(Duration::from_secs(12))
    );
    assert_eq!(
        parse_retry_after("2026-11-26T00:00:00Z", now),
        Some(Duration::from_secs(14 * 3600))
    );
    assert_eq!(
        parse_retry_after("2026-11-25T09:00:00Z", now),
        Some(Duration::from_millis(100))
    );
    assert_eq!(parse_retry_after("soon", now), None);
    // Nonsense is capped at the next reset plus an hour (15 h here).
    let cap = Some(Duration::from_secs(15 * 3600));
    assert_eq!(parse_retry_after("18446744073709551615", now), cap);
    assert_eq!(parse_retry_after("2099-01-01T00:00:00Z", now), cap);
}

#[test]
fn midnight_is_computed_in_utc() {
    let now = DateTime::parse_from_rfc3339("2026-11-25T23:59:00Z")
        .expect("time")
        .with_timezone(&Utc);
    assert_eq!(until_next_utc_midnight(now), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn today_is_the_quota_clocks_day_and_turns_at_its_midnight() {
    // The heartbeat stamps the shared database's count with this day.
    let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 2, 23, 59, 0).unwrap();
    let clock = QuotaClock::Accelerated {
        at,
        since: Instant::now(),
        speed: 10,
    };
    let budget = budget(100, 3).with_clock(clock);
    assert_eq!(budget.today(), at.date_naive());
    budget.acquire().await.expect("quota left");
    // Seven real seconds at 10x: past the quota clock's midnight.
    tokio::time::advance(Duration::from_secs(7)).await;
    assert_eq!(budget.today(), at.date_naive().succ_opt().unwrap());
    assert_eq!(budget.quota().used_today, 0, "the new day's count");
}

#[tokio::test(start_paused = true)]
async fn more_replicas_space_the_next_request_by_the_new_share_and_the_same_count_changes_nothing()
{
    // Alone at 10 a second; the same count again does not delay the first.
    let budget = budget(10, 1000);
    budget.share(1, 0, None);
    let start = Instant::now();
    budget.acquire().await.expect("quota left");
    assert_eq!(Instant::now() - start, Duration::ZERO);
    // A second replica: 5 a second each, 205 ms apart, from now on
    // (the old schedule's 102.5 ms would crowd the new share).
    budget.share(2, 0, None);
    budget.acquire().await.expect("quota left");
    let gap = Instant::now() - start;
    assert!(
        gap.abs_diff(Duration::from_millis(205)) <= Duration::from_millis(1),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn of_a_pause_here_and_one_recorded_elsewhere_the_longer_holds() {
    let budget = budget(100, 1000);
    budget.rate_limited(Some(Duration::from_secs(10)));
    budget.share(2, 0, Some(Utc::now() + chrono::Duration::seconds(2)));
    let left = budget.paused_for().expect("paused");
    assert!(
        left > Duration::from_secs(9),
        "a shorter one does not cut it: {left:?}"
    );

    let budget = super::tests::budget(100, 1000);
    budget.rate_limited(Some(Duration::from_secs(2)));
    budget.share(2, 0, Some(Utc::now() + chrono::Duration::seconds(10)));
    let left = budget.paused_for().expect("paused");
    assert!(
        left > Duration::from_secs(9),
        "a longer one extends it: {left:?}"
    );
}

#[tokio::test]
async fn a_budget_takes_over_todays_count_and_a_pause_in_force_from_the_store() {
    let mut registry = Registry::default();
    let store = Store::in_memory(&mut registry).await.expect("store");
    let today = Utc::now().date_naive();
    let saved = |day, paused_for: i64| BudgetUse {
        account: Default::default(),
        day,
        used: 7,
        paused_until: Some(Utc::now() + chrono::Duration::seconds(paused_for)),
    };
    let taken = budget(100, 1000).persisted(store.clone(), Some(saved(today, 30)));
    assert_eq!(taken.used_today(), 7, "today's count");
    let left = taken.paused_for().expect("the pause holds");
    assert!(
        left > Duration::from_secs(25) && left <= Duration::from_secs(30),
        "{left:?}"
    );

    let yesterday = today.pred_opt().unwrap();
    let stale = budget(100, 1000).persisted(store.clone(), Some(saved(yesterday, -5)));
    assert_eq!(stale.used_today(), 0, "another day's count is not today's");
    assert_eq!(stale.paused_for(), None, "a pause that is over");
    store.close().await;
}

#[tokio::test]
async fn the_count_and_a_pause_reach_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = crate::store::StoreSettings {
        data_dir: Some(dir.path().join("data")),
        ..crate::store::StoreSettings::default()
    };
    let (store, _) = Store::open(&settings, &mut Registry::default())
        .await
        .expect("opens");
    let budget = budget(100, 1000).persisted(store.clone(), None);
    budget.acquire().await.expect("quota left");
    budget.acquire().await.expect("quota left");
    budget.rate_limited(Some(Duration::from_secs(60)));
    store.close().await;
    let (store, mut snapshot) = Store::open(&settings, &mut Registry::default())
        .await
        .expect("reopens");
    let saved = snapshot.budgets.pop().expect("the budget was saved");
    assert!(saved.account.is_default());
    assert_eq!(saved.used, 2);
    assert_eq!(saved.day, Utc::now().date_naive());
    let paused_until = saved.paused_until.expect("the pause was saved");
    assert!(paused_until > Utc::now() + chrono::Duration::seconds(50));
    store.close().await;
}
