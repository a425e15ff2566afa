//! The polling plan, pure: from what every meeting wants (each watched
//! participant's desired interval, and how many list pages the meeting
//! costs) and the request rate the budget can afford, the interval floors
//! that make demand fit, and for one meeting which participants are polled
//! one by one and which through the list endpoint.
//!
//! Rates are requests per second, intervals seconds (`f64`): this is
//! arithmetic, and the callers turn the results back into `Duration`s.
//!
//! # Freshness first, then staleness
//!
//! While the rate affords it, every watched participant is polled at the
//! fastest interval (`polling.interval`, Zoom's sample minute): nothing is
//! saved that nobody needs saved, and a calm participant's degradation is
//! found within one interval.
//!
//! Participants that need attention (a firing or pending alert, a value near
//! a threshold, a new joiner) are *urgent*; the others are *calm*. Under
//! pressure (demand above the affordable rate) the plan raises a floor
//! under the intervals, one lever after the other, each only as far as it
//! takes:
//! 1. the calm floor, from the fastest interval up to `max_interval`
//!    (`polling.max_interval`), the urgent keeping the fastest;
//! 2. then the urgent floor, up to `max_interval` as well;
//! 3. then the calm floor again, on to `max_staleness`
//!    (`polling.max_staleness`);
//! 4. then the urgent floor, on to `max_staleness` as well;
//! 5. then one floor for everybody, as high as needed: at most
//!    `round_cost / rate`, the time to poll everybody once at the cheapest
//!    split, which always fits.
//!
//! An urgent participant is never polled less often than a calm one.
//!
//! So every participant is polled at least every
//! `max(max_staleness, round_cost / rate)` (plus the wait for a request
//! slot), and nobody starves: a floor applies to everybody in its class.

/// What one meeting asks for: its watched participants' desired intervals
/// and the pages one listing of the meeting costs.
#[derive(Debug, Clone, PartialEq)]
pub struct MeetingDemand {
    /// `(desired interval in seconds, urgent)` per watched participant.
    pub members: Vec<(f64, bool)>,
    /// Requests one full listing costs (`ceil(participants / page size)`,
    /// at least 1). `None` when the meeting may only be polled one by one.
    pub pages: Option<u32>,
}

/// The floors under every interval: a participant's interval is its desired
/// one, raised to the floor of its class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floors {
    pub urgent: f64,
    pub calm: f64,
}

impl Floors {
    pub const NONE: Floors = Floors {
        urgent: 0.0,
        calm: 0.0,
    };

    /// The interval a participant gets under these floors.
    pub fn apply(self, desired: f64, urgent: bool) -> f64 {
        desired.max(if urgent { self.urgent } else { self.calm })
    }

    /// Whether some participant may be polled sooner under these floors
    /// than under `before`: a floor of either class is lower.
    pub fn eased_from(self, before: Floors) -> bool {
        self.urgent < before.urgent || self.calm < before.calm
    }
}

/// The limits the plan works within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Requests per second the budget can afford now (the per-second share
    /// and what is left of the day over the time left).
    pub rate: f64,
    /// The fastest interval (seconds): nobody is polled more often, and
    /// everybody is while the rate affords it.
    pub fastest: f64,
    /// How far the calm, then the urgent, stretch before everybody does
    /// (`polling.max_interval`).
    pub max_calm: f64,
    /// How far everybody stretches before the round cost decides
    /// (`polling.max_staleness`).
    pub max_staleness: f64,
}

/// The plan: floors, and what it costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub floors: Floors,
    /// Requests per second every meeting would make without floors.
    pub demand: f64,
    /// Requests per second under the floors (at most `Limits::rate`, unless
    /// nothing is watched).
    pub planned: f64,
    /// The longest any participant waits between polls under this plan.
    pub staleness_bound: f64,
}

/// Which split of a meeting's participants is cheapest, and its rate: the
/// `singles` shortest intervals are polled one by one, the others through
/// the list at the shortest of their intervals (a listing also refreshes
/// those polled one by one). `members` holds the intervals in seconds.
pub fn best_split(intervals: &[f64], pages: Option<u32>) -> (usize, f64) {
    let mut sorted: Vec<f64> = intervals.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let all_singles: f64 = sorted.iter().map(|i| 1.0 / i).sum();
    let Some(pages) = pages else {
        return (n, all_singles);
    };
    let pages = f64::from(pages.max(1));
    let mut best = (n, all_singles);
    let mut singles_rate = 0.0;
    for (k, interval) in sorted.iter().enumerate() {
        // The first k one by one, the rest listed every `interval`.
        let rate = singles_rate + pages / interval;
        // Strictly cheaper only: at equal cost, polling one by one
        // touches fewer participants' data.
        if rate < best.1 {
            best = (k, rate);
        }
        singles_rate += 1.0 / interval;
    }
    best
}

/// The request rate of every meeting under `floors`.
pub fn demand(meetings: &[MeetingDemand], floors: Floors) -> f64 {
    meetings
        .iter()
        .map(|meeting| {
            let intervals: Vec<f64> = meeting
                .members
                .iter()
                .map(|&(desired, urgent)| floors.apply(desired, urgent))
                .collect();
            best_split(&intervals, meeting.pages).1
        })
        .sum()
}

/// Requests to poll everybody once at the cheapest split.
pub fn round_cost(meetings: &[MeetingDemand]) -> f64 {
    meetings
        .iter()
        .map(|meeting| {
            let n = meeting.members.len() as f64;
            match meeting.pages {
                Some(pages) => n.min(f64::from(pages.max(1))),
                None => n,
            }
        })
        .sum()
}

/// The smallest `x` in `[low, high]` for which `fits(x)` holds, to within
/// a millisecond, assuming `fits` only turns from false to true as `x`
/// grows and holds at `high`.
fn lowest_fitting(low: f64, high: f64, fits: impl Fn(f64) -> bool) -> f64 {
    if fits(low) {
        return low;
    }
    let (mut low, mut high) = (low, high);
    while high - low > 0.001 {
        let middle = (low + high) / 2.0;
        if fits(middle) {
            high = middle;
        } else {
            low = middle;
        }
    }
    high
}

/// The plan for `meetings` within `limits`.
pub fn solve(meetings: &[MeetingDemand], limits: Limits) -> Plan {
    let unconstrained = demand(meetings, Floors::NONE);
    let round = round_cost(meetings);
    let fastest = limits.fastest;
    let max_calm = limits.max_calm.max(fastest);
    let cap = limits.max_staleness.max(max_calm);
    let plan = |floors: Floors| Plan {
        floors,
        demand: unconstrained,
        planned: demand(meetings, floors),
        staleness_bound: fastest.max(floors.urgent).max(floors.calm),
    };
    if unconstrained <= limits.rate || round == 0.0 {
        return plan(Floors::NONE);
    }
    if limits.rate <= 0.0 {
        // Nothing left to spend: nobody is polled until the budget renews.
        return Plan {
            floors: Floors {
                urgent: f64::INFINITY,
                calm: f64::INFINITY,
            },
            demand: unconstrained,
            planned: 0.0,
            staleness_bound: f64::INFINITY,
        };
    }
    plan(floors_under_pressure(
        meetings,
        limits.rate,
        fastest,
        max_calm,
        cap,
    ))
}

/// The lowest floors that make `meetings` fit `rate` (positive, below
/// their demand), pulling the levers in order.
fn floors_under_pressure(
    meetings: &[MeetingDemand],
    rate: f64,
    fastest: f64,
    max_calm: f64,
    cap: f64,
) -> Floors {
    let fits = |floors: Floors| demand(meetings, floors) <= rate;
    // The levers in order, each `(lever, from, to, the other floor held
    // where the levers before left it)`.
    let levers: [(Lever, f64, f64, f64); 4] = [
        (raise_calm, fastest, max_calm, 0.0),
        (raise_urgent, fastest, max_calm, max_calm),
        (raise_calm, max_calm, cap, max_calm),
        (raise_urgent, max_calm, cap, cap),
    ];
    for (lever, from, to, held) in levers {
        if fits(lever(to, held)) {
            let floors = lever(lowest_fitting(from, to, |f| fits(lever(f, held))), held);
            // The urgent floor held at max_interval while the calm go on
            // comes down as far as the calm floor found allows (with few
            // or no urgent participants, to the fastest).
            let urgent = lowest_fitting(fastest.min(floors.urgent), floors.urgent, |u| {
                fits(Floors {
                    urgent: u,
                    ..floors
                })
            });
            return Floors { urgent, ..floors };
        }
    }
    // Everybody together, as far as it takes; round / rate always fits.
    let everybody = |f: f64| Floors { urgent: f, calm: f };
    let high = (round_cost(meetings) / rate).max(cap);
    everybody(lowest_fitting(cap, high, |f| fits(everybody(f))))
}

/// One lever of the plan: the floors when it is pulled to `f`, the floor
/// it does not move held at `held`.
type Lever = fn(f64, f64) -> Floors;

fn raise_calm(calm: f64, urgent: f64) -> Floors {
    Floors { urgent, calm }
}

fn raise_urgent(urgent: f64, calm: f64) -> Floors {
    Floors { urgent, calm }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_ease_when_either_class_may_be_polled_sooner() {
        let floors = |urgent, calm| Floors { urgent, calm };
        let stretched = floors(60.0, 300.0);
        assert!(Floors::NONE.eased_from(stretched));
        assert!(!stretched.eased_from(Floors::NONE));
        assert!(!stretched.eased_from(stretched));
        assert!(floors(60.0, 299.0).eased_from(stretched), "the calm sooner");
        assert!(
            floors(59.0, 300.0).eased_from(stretched),
            "the urgent sooner"
        );
        assert!(
            floors(30.0, 600.0).eased_from(stretched),
            "one class sooner is enough"
        );
        // Nothing left today, then a new day.
        let none_left = floors(f64::INFINITY, f64::INFINITY);
        assert!(stretched.eased_from(none_left));
        assert!(!none_left.eased_from(none_left));
        assert!(!none_left.eased_from(stretched));
    }

    fn meeting(members: &[(f64, bool)], pages: Option<u32>) -> MeetingDemand {
        MeetingDemand {
            members: members.to_vec(),
            pages,
        }
    }

    fn calm(n: usize, interval: f64) -> Vec<(f64, bool)> {
        vec![(interval, false); n]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.01
    }

    #[test]
    fn a_meeting_is_listed_when_that_is_cheaper_and_polled_one_by_one_otherwise() {
        // One participant: a listing costs as much; one by one wins the tie.
        assert_eq!(best_split(&[60.0], Some(1)), (1, 1.0 / 60.0));
        // Two at 60 s: 2/60 one by one, 1/60 listed.
        let (singles, rate) = best_split(&[60.0, 60.0], Some(1));
        assert_eq!(singles, 0);
        assert!(close(rate * 60.0, 1.0));
        // 50 people on 5 pages, all at 300 s: 5/300 listed against 50/300.
        let (singles, rate) = best_split(&[300.0; 50], Some(5));
        assert_eq!(singles, 0);
        assert!(close(rate * 300.0, 5.0));
        // One of them degraded at 60 s: polled alone, the list every 300 s:
        // 1/60 + 5/300 = 2/60, against 5/60 for listing every minute.
        let mut intervals = vec![300.0; 49];
        intervals.push(60.0);
        let (singles, rate) = best_split(&intervals, Some(5));
        assert_eq!(singles, 1);
        assert!(close(rate * 60.0, 2.0), "{rate}");
        // Without the list (Zoom refused it, or fixed mode): one by one.
        assert_eq!(best_split(&[60.0, 60.0], None).0, 2);
        // Six of ten degraded on one page: listing every minute (1/60) beats
        // six singles and a listing (6/60 + 1/300).
        let mut intervals = vec![60.0; 6];
        intervals.extend([300.0; 4]);
        assert_eq!(best_split(&intervals, Some(1)).0, 0);
        // Zero pages counts as one.
        assert_eq!(
            best_split(&[60.0, 60.0], Some(0)),
            best_split(&[60.0, 60.0], Some(1))
        );
        assert_eq!(best_split(&[], Some(1)), (0, 0.0));
    }

    #[test]
    fn the_split_does_not_depend_on_the_order_given() {
        let a = best_split(&[60.0, 300.0, 300.0, 300.0], Some(1));
        let b = best_split(&[300.0, 300.0, 60.0, 300.0], Some(1));
        assert_eq!(a, b);
    }

    fn limits(rate: f64) -> Limits {
        Limits {
            rate,
            fastest: 60.0,
            max_calm: 300.0,
            max_staleness: 600.0,
        }
    }

    /// Ten urgent and ten calm one-person meetings, polled one by one.
    fn ten_and_ten() -> Vec<MeetingDemand> {
        let mut meetings: Vec<MeetingDemand> =
            (0..10).map(|_| meeting(&[(60.0, true)], None)).collect();
        meetings.extend((0..10).map(|_| meeting(&[(60.0, false)], None)));
        meetings
    }

    fn floors_close(plan: &Plan, urgent: f64, calm: f64) -> bool {
        (plan.floors.urgent - urgent).abs() < 0.01 && (plan.floors.calm - calm).abs() < 0.01
    }

    #[test]
    fn without_pressure_everybody_is_polled_at_the_fastest_interval() {
        let meetings = [meeting(&calm(4, 60.0), Some(1))];
        let plan = solve(&meetings, limits(1.0));
        assert_eq!(plan.floors, Floors::NONE);
        assert!(close(plan.demand * 60.0, 1.0));
        assert_eq!(plan.planned, plan.demand);
        assert_eq!(
            plan.staleness_bound, 60.0,
            "nobody waits longer than one interval"
        );
        // Exactly at the rate still fits.
        let plan = solve(&meetings, limits(1.0 / 60.0));
        assert_eq!(plan.floors, Floors::NONE);
        assert_eq!(plan.staleness_bound, 60.0);
    }

    #[test]
    fn under_pressure_the_calm_stretch_first_and_the_urgent_keep_their_pace() {
        // 10 one-person meetings: 2 urgent at 60 s, 8 calm at 60 s.
        let mut meetings: Vec<MeetingDemand> =
            (0..2).map(|_| meeting(&[(60.0, true)], Some(1))).collect();
        meetings.extend((0..8).map(|_| meeting(&[(60.0, false)], Some(1))));
        // Affordable: 2/60 + 8/240 = 4/60.
        let plan = solve(&meetings, limits(4.0 / 60.0));
        assert_eq!(plan.floors.urgent, 0.0);
        assert!((plan.floors.calm - 240.0).abs() < 0.01, "{plan:?}");
        assert!(plan.planned <= 4.0 / 60.0 + 1e-9);
        assert!(close(plan.demand * 60.0, 10.0));
        assert!((plan.staleness_bound - 240.0).abs() < 0.01);
        // The calm stop at max_interval: then the urgent stretch, up to it.
        // 2/120 + 8/300.
        let plan = solve(&meetings, limits(2.0 / 120.0 + 8.0 / 300.0));
        assert!(floors_close(&plan, 120.0, 300.0), "{plan:?}");
    }

    #[test]
    fn past_max_interval_the_calm_then_the_urgent_go_on_to_max_staleness_then_everybody() {
        let meetings = ten_and_ten();
        // Everybody at max_interval is too much: the calm on to 450 s.
        let plan = solve(&meetings, limits(10.0 / 300.0 + 10.0 / 450.0));
        assert!(floors_close(&plan, 300.0, 450.0), "{plan:?}");
        assert!((plan.staleness_bound - 450.0).abs() < 0.01);
        // The calm at max_staleness: the urgent on to 400 s.
        let plan = solve(&meetings, limits(10.0 / 400.0 + 10.0 / 600.0));
        assert!(floors_close(&plan, 400.0, 600.0), "{plan:?}");
        assert_eq!(plan.staleness_bound, 600.0);
        // Even everybody at 600 s is too much: 20 requests a round at
        // 1/60 a second is one round every 1200 s.
        let plan = solve(&meetings, limits(1.0 / 60.0));
        assert!(floors_close(&plan, 1200.0, 1200.0), "{plan:?}");
        assert!((plan.staleness_bound - 1200.0).abs() < 0.01);
        assert!(plan.planned <= 1.0 / 60.0 + 1e-9);
    }

    #[test]
    fn less_rate_never_polls_anybody_more_often_nor_the_urgent_less_often_than_the_calm() {
        let meetings = ten_and_ten();
        let unconstrained = demand(&meetings, Floors::NONE);
        let mut before = Floors::NONE;
        for step in 0..=200 {
            let rate = unconstrained * (1.0 - f64::from(step) / 201.0);
            let plan = solve(&meetings, limits(rate));
            assert!(plan.planned <= rate + 1e-9, "{rate}: {plan:?}");
            assert!(plan.floors.urgent <= plan.floors.calm, "{rate}: {plan:?}");
            assert!(
                plan.floors.urgent >= before.urgent - 0.01
                    && plan.floors.calm >= before.calm - 0.01,
                "{rate}: {plan:?} after {before:?}"
            );
            assert!(plan.staleness_bound >= 60.0);
            before = plan.floors;
        }
        // The first lever alone while it suffices: the urgent untouched.
        let plan = solve(&meetings, limits(10.0 / 60.0 + 10.0 / 300.0));
        assert!(floors_close(&plan, 0.0, 300.0), "{plan:?}");
    }

    #[test]
    fn nothing_left_means_nobody_is_polled_and_nothing_watched_means_no_floor() {
        let meetings = [meeting(&calm(3, 60.0), None)];
        let plan = solve(&meetings, limits(0.0));
        assert!(plan.floors.calm.is_infinite() && plan.floors.urgent.is_infinite());
        assert_eq!(plan.planned, 0.0);
        let plan = solve(&[], limits(0.0));
        assert_eq!(plan.floors, Floors::NONE);
        assert_eq!(plan.demand, 0.0);
    }

    #[test]
    fn the_round_cost_takes_the_cheaper_of_pages_and_people() {
        let meetings = [
            meeting(&calm(50, 60.0), Some(5)),
            meeting(&calm(2, 60.0), Some(1)),
            meeting(&calm(3, 60.0), None),
        ];
        assert_eq!(round_cost(&meetings), 5.0 + 1.0 + 3.0);
        assert_eq!(round_cost(&[meeting(&calm(3, 60.0), Some(0))]), 1.0);
    }

    #[test]
    fn floors_raise_only_their_class() {
        let floors = Floors {
            urgent: 90.0,
            calm: 400.0,
        };
        assert_eq!(floors.apply(60.0, true), 90.0);
        assert_eq!(floors.apply(120.0, true), 120.0);
        assert_eq!(floors.apply(60.0, false), 400.0);
        assert_eq!(floors.apply(600.0, false), 600.0);
    }

    #[test]
    fn the_lowest_fitting_value_is_found_to_the_millisecond() {
        assert_eq!(lowest_fitting(1.0, 100.0, |_| true), 1.0);
        let found = lowest_fitting(1.0, 100.0, |x| x >= 37.25);
        assert!((37.25..37.252).contains(&found), "{found}");
    }
}
