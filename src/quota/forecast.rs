//! The day's shape, pure: how today's remaining demand is spread over the
//! hours until 00:00 UTC, forecast from the store's history of watched
//! participant-minutes per hour of the week (over the store's retention),
//! so that the daily share is spent where the meetings are: more at 10:00
//! than at 03:00. Without history the day is flat (what is left, spread
//! evenly until 00:00 UTC).
//!
//! Only the shape matters, not the level: [`DemandHistory::pace`] says how
//! much faster than the flat pace (what is left over the time left) the
//! plan may spend *now*: the current hour's share of the forecast of the
//! rest of the day. Integrated over the rest of the day the paces spend
//! exactly what is left, never more; every replan recomputes from what is
//! actually left, so quota an hour did not use flows to the hours after it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as TimeDelta, Timelike, Utc};

/// Hours in a week.
const WEEK_HOURS: usize = 7 * 24;

/// An hour of the forecast gets at least this share of the average hour's
/// weight: a quiet hour that turns busy is still polled (under the plan's
/// staleness bound), and a first week's gaps are not read as "nobody, ever".
const QUIET_HOUR_FLOOR: f64 = 0.1;

/// Watched participant-minutes per absolute UTC hour (hours since the Unix
/// epoch), over a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemandHistory {
    minutes: BTreeMap<i64, f64>,
    /// How far back the history counts (`store.retention`).
    window: TimeDelta,
}

fn hour_index(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

/// Hour of the week (0 = Monday 00:00 UTC) of an absolute hour.
fn hour_of_week(hour: i64) -> usize {
    // 1970-01-01 was a Thursday: hour 0 is Thursday 00:00, 72 h after Monday.
    ((hour + 72).rem_euclid(WEEK_HOURS as i64)) as usize
}

impl DemandHistory {
    /// An empty history that keeps `window` (`store.retention`).
    pub fn new(window: std::time::Duration) -> Self {
        Self {
            minutes: BTreeMap::new(),
            window: TimeDelta::from_std(window).unwrap_or(TimeDelta::days(7)),
        }
    }

    /// One participant watched from `from` to `to`: their minutes go to the
    /// hours they fall in.
    pub fn add(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.add_participants(from, to, 1.0);
    }

    /// `participants` watched from `from` to `to`.
    pub fn add_participants(&mut self, from: DateTime<Utc>, to: DateTime<Utc>, participants: f64) {
        if to <= from || participants <= 0.0 {
            return;
        }
        let mut start = from;
        while start < to {
            let hour = hour_index(start);
            let hour_end = DateTime::from_timestamp((hour + 1) * 3600, 0).unwrap_or(to);
            let end = hour_end.min(to);
            let minutes = (end - start).num_milliseconds() as f64 / 60_000.0;
            *self.minutes.entry(hour).or_default() += minutes * participants;
            start = end;
        }
    }

    /// Forgets what is older than the window at `now`.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        let oldest = hour_index(now - self.window);
        self.minutes = self.minutes.split_off(&oldest);
    }

    /// Participant-minutes per hour of the week within the window before
    /// `now`'s hour (the current hour, still filling, is left out); `None`
    /// when there is no history.
    fn profile(&self, now: DateTime<Utc>) -> Option<[f64; WEEK_HOURS]> {
        let current = hour_index(now);
        let oldest = hour_index(now - self.window);
        let mut profile = [0.0; WEEK_HOURS];
        let mut any = false;
        for (hour, minutes) in self.minutes.range(oldest..current) {
            profile[hour_of_week(*hour)] += minutes;
            any |= *minutes > 0.0;
        }
        any.then_some(profile)
    }

    /// How much faster than the flat pace (what is left over the time
    /// left) the plan may spend now: the current hour's forecast weight
    /// over the weighted average of the rest of the day until `reset`
    /// (00:00 UTC). 1 without history or with a flat one.
    pub fn pace(&self, now: DateTime<Utc>, reset: DateTime<Utc>) -> f64 {
        let Some(profile) = self.profile(now) else {
            return 1.0;
        };
        if reset <= now {
            return 1.0;
        }
        let mean = profile.iter().sum::<f64>() / WEEK_HOURS as f64;
        let weight = |hour: i64| profile[hour_of_week(hour)].max(mean * QUIET_HOUR_FLOOR);
        // The forecast of the rest of the day, hour by hour (the current
        // and the last hour in part), and the time it covers.
        let (mut forecast, mut seconds) = (0.0, 0.0);
        let mut start = now;
        while start < reset {
            let hour = hour_index(start);
            let hour_end = DateTime::from_timestamp((hour + 1) * 3600, 0).unwrap_or(reset);
            let part = (hour_end.min(reset) - start).num_milliseconds() as f64 / 1000.0;
            forecast += weight(hour) * part;
            seconds += part;
            start = hour_end;
        }
        if forecast <= 0.0 {
            return 1.0;
        }
        weight(hour_index(now)) * seconds / forecast
    }

    /// Every participant-minute kept (for tests).
    #[cfg(test)]
    pub(crate) fn total_minutes(&self) -> f64 {
        self.minutes.values().sum()
    }

    /// Whether anything is known.
    pub fn is_empty(&self) -> bool {
        self.minutes.is_empty()
    }
}

/// The quota clock's next 00:00 UTC after `now`.
pub fn next_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let midnight = now
        .with_hour(0)
        .and_then(|t| t.with_minute(0))
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    midnight + TimeDelta::days(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    /// Four weeks of working days: 100 people watched 08:00-18:00 UTC on
    /// weekdays, nobody otherwise.
    fn working_weeks() -> DemandHistory {
        let mut history = DemandHistory::new(std::time::Duration::from_secs(28 * 86_400));
        // 2026-11-02 is a Monday.
        for day in 0..28 {
            let date = at("2026-11-02T00:00:00Z") + TimeDelta::days(day);
            if date.weekday().num_days_from_monday() < 5 {
                history.add_participants(
                    date + TimeDelta::hours(8),
                    date + TimeDelta::hours(18),
                    100.0,
                );
            }
        }
        history
    }

    #[test]
    fn hours_of_the_week_start_on_monday() {
        assert_eq!(
            hour_of_week(hour_index(at("2026-11-30T00:30:00Z"))),
            0,
            "a Monday"
        );
        assert_eq!(
            hour_of_week(hour_index(at("2026-12-06T23:00:00Z"))),
            167,
            "a Sunday"
        );
        assert_eq!(
            hour_of_week(hour_index(at("2026-12-02T10:59:59Z"))),
            2 * 24 + 10
        );
    }

    #[test]
    fn minutes_go_to_the_hours_they_fall_in() {
        let mut history = DemandHistory::new(std::time::Duration::from_secs(86_400));
        history.add(at("2026-12-01T09:45:00Z"), at("2026-12-01T11:15:00Z"));
        history.add_participants(at("2026-12-01T10:00:00Z"), at("2026-12-01T10:30:00Z"), 2.0);
        history.add(at("2026-12-01T12:00:00Z"), at("2026-12-01T11:00:00Z"));
        let hour =
            |history: &DemandHistory, t: &str| history.minutes.get(&hour_index(at(t))).copied();
        assert_eq!(hour(&history, "2026-12-01T09:00:00Z"), Some(15.0));
        assert_eq!(hour(&history, "2026-12-01T10:00:00Z"), Some(60.0 + 60.0));
        assert_eq!(hour(&history, "2026-12-01T11:00:00Z"), Some(15.0));
        assert_eq!(history.minutes.len(), 3, "an empty span adds nothing");
        history.expire(at("2026-12-02T10:30:00Z"));
        assert_eq!(
            hour(&history, "2026-12-01T09:00:00Z"),
            None,
            "older than the window"
        );
        assert_eq!(hour(&history, "2026-12-01T10:00:00Z"), Some(120.0));
    }

    #[test]
    fn without_history_or_with_a_flat_one_the_pace_is_flat() {
        let empty = DemandHistory::new(std::time::Duration::from_secs(7 * 86_400));
        let now = at("2026-12-02T10:00:00Z");
        assert_eq!(empty.pace(now, next_reset(now)), 1.0);
        let mut flat = DemandHistory::new(std::time::Duration::from_secs(7 * 86_400));
        flat.add_participants(at("2026-11-25T00:00:00Z"), at("2026-12-02T00:00:00Z"), 10.0);
        for now in [
            "2026-12-02T10:00:00Z",
            "2026-12-02T23:30:00Z",
            "2026-12-02T03:17:00Z",
        ] {
            let now = at(now);
            assert!(
                (flat.pace(now, next_reset(now)) - 1.0).abs() < 1e-9,
                "{now}"
            );
        }
    }

    #[test]
    fn a_working_day_spends_in_working_hours_and_everything_by_midnight() {
        let history = working_weeks();
        // Wednesday 2026-12-02, from 06:00: 18 h left, 10 of them busy.
        let reset = at("2026-12-03T00:00:00Z");
        let pace = |t: &str| history.pace(at(t), reset);
        // The window (28 days back from today) holds 18 working days: a
        // Wednesday's busy hour has 4 x 6000 minutes, the average hour
        // 18 x 10 x 6000 / 168 = 6429, a quiet hour a tenth of that.
        // At 10:00, 8 busy and 6 quiet hours left: 24000 x 14 / (8 x 24000
        // + 6 x 643) = 1.72.
        let busy = pace("2026-12-02T10:00:00Z");
        assert!((busy - 1.7155).abs() < 0.001, "{busy}");
        // At 06:00 the day's work is still ahead: 643 x 18 / (8 x 643 + 10
        // x 24000).
        let early = pace("2026-12-02T06:00:00Z");
        assert!((early - 0.0472).abs() < 0.0001, "{early}");
        // In the last busy hour almost everything left goes to it, and after
        // 18:00 what is left is spread over the quiet rest: flat again.
        assert!((pace("2026-12-02T19:00:00Z") - 1.0).abs() < 1e-9);
        // A Saturday has no busy hour: flat.
        assert!(
            (history.pace(at("2026-12-05T10:00:00Z"), at("2026-12-06T00:00:00Z")) - 1.0).abs()
                < 1e-9
        );
        // Spending at the pace, recomputed every minute from what is left,
        // uses the whole day's share by midnight and never more.
        let mut left = 30_000.0;
        let mut now = at("2026-12-02T06:00:00Z");
        let mut by_hour = BTreeMap::new();
        while now < reset {
            let seconds = (reset - now).num_seconds() as f64;
            let spend = left / seconds * history.pace(now, reset) * 60.0;
            assert!(spend <= left + 1e-6);
            left -= spend;
            *by_hour.entry(now.hour()).or_insert(0.0) += spend;
            now += TimeDelta::minutes(1);
        }
        assert!(left.abs() < 1.0, "{left} left at midnight");
        assert!(by_hour[&10] > 4.0 * by_hour[&20], "{by_hour:?}");
    }

    #[test]
    fn the_current_hour_and_what_is_older_than_the_window_do_not_count() {
        let mut history = DemandHistory::new(std::time::Duration::from_secs(7 * 86_400));
        // Only the current hour has minutes: no history yet.
        history.add_participants(at("2026-12-02T10:00:00Z"), at("2026-12-02T10:20:00Z"), 5.0);
        let now = at("2026-12-02T10:30:00Z");
        assert_eq!(history.pace(now, next_reset(now)), 1.0);
        // Last week's 10:00 counts; five weeks ago does not.
        history.add_participants(at("2026-10-28T20:00:00Z"), at("2026-10-28T21:00:00Z"), 50.0);
        assert_eq!(history.pace(now, next_reset(now)), 1.0);
        history.add_participants(at("2026-11-25T10:00:00Z"), at("2026-11-25T11:00:00Z"), 5.0);
        assert!(history.pace(now, next_reset(now)) > 1.0);
    }

    #[test]
    fn the_next_reset_is_the_coming_midnight() {
        assert_eq!(
            next_reset(at("2026-12-02T10:30:00Z")),
            at("2026-12-03T00:00:00Z")
        );
        assert_eq!(
            next_reset(at("2026-12-02T00:00:00Z")),
            at("2026-12-03T00:00:00Z")
        );
    }
}
