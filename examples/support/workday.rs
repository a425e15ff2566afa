//! A working day for `examples/quota_day.rs --workday`: rooms (the
//! scenario's meeting sizes, from its seed) in four time zones, each
//! holding meetings back to back with gaps between 08:00 and 18:00 local
//! time; every meeting is a new Zoom meeting instance with new people.
//! Some meetings carry one scripted degradation of a participant who has
//! been calm for a while (bad Wi-Fi from their 25th sample for 10).
//!
//! Minutes here are minutes of the simulated UTC day from 00:00; meetings
//! that run over midnight (US West afternoons) are cut at the day's ends.

use std::ops::Range;

use rand::{Rng, SeedableRng};

/// Time zones and the share of rooms in each: UTC offset in minutes
/// (March, before daylight saving time): Europe (UTC+1), US East (UTC-5),
/// US West (UTC-8), India (UTC+5:30).
pub const ZONES: [(i32, f64, &str); 4] = [
    (60, 0.55, "UTC+1"),
    (-300, 0.25, "UTC-5"),
    (-480, 0.10, "UTC-8"),
    (330, 0.10, "UTC+5:30"),
];

/// The samples of a calm participant's degradation (since their join).
pub const DEGRADED_SAMPLES: Range<u32> = 25..35;

/// One meeting instance of the day.
#[derive(Debug, Clone)]
pub struct Session {
    pub room: usize,
    pub size: usize,
    /// Minutes of the UTC day, `start < end`, within `0..1440`.
    pub start: u32,
    pub end: u32,
    /// The participant (index in the meeting) degraded over
    /// [`DEGRADED_SAMPLES`], if any.
    pub degraded: Option<usize>,
}

/// The day's meetings for rooms of `sizes`, and every `degrade_every`-th
/// meeting long enough for it gets a degradation (0: none).
pub fn schedule(sizes: &[usize], degrade_every: usize, seed: u64) -> Vec<Session> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sessions = Vec::new();
    for (room, size) in sizes.iter().copied().enumerate() {
        let offset = zone_of(room).0;
        // The local working days that overlap the UTC day.
        for day in -1..=1i32 {
            let mut local = 8 * 60 + rng.random_range(0..=60);
            loop {
                let length = [30, 45, 60, 60, 90][rng.random_range(0..5)];
                if local + length > 18 * 60 {
                    break;
                }
                let start = day * 1440 + local - offset;
                let end = start + length;
                if end > 0 && start < 1440 {
                    sessions.push(Session {
                        room,
                        size,
                        start: start.max(0) as u32,
                        end: end.min(1440) as u32,
                        degraded: None,
                    });
                }
                local += length + [0, 0, 15, 30, 45, 60][rng.random_range(0..6)];
            }
        }
    }
    sessions.sort_by_key(|s| (s.start, s.room));
    if degrade_every > 0 {
        let long_enough = DEGRADED_SAMPLES.end + 2;
        let mut n = 0;
        for session in &mut sessions {
            if session.end - session.start >= long_enough {
                if n % degrade_every == 0 {
                    session.degraded = Some(n % session.size);
                }
                n += 1;
            }
        }
    }
    sessions
}

/// The zone of room `room`: 55 % of rooms in Europe, and so on,
/// interleaved so that every zone gets its part of each size.
pub fn zone_of(room: usize) -> (i32, &'static str) {
    let at = (room * 37 % 100) as f64 / 100.0;
    let mut upto = 0.0;
    for (offset, share, name) in ZONES {
        upto += share;
        if at < upto {
            return (offset, name);
        }
    }
    (ZONES[0].0, ZONES[0].2)
}

/// Participants in meetings per hour of the UTC day (the demand's shape),
/// as participant-minutes.
pub fn demand_by_hour(sessions: &[Session]) -> [f64; 24] {
    let mut hours = [0.0; 24];
    for s in sessions {
        for minute in s.start..s.end {
            hours[(minute / 60) as usize] += s.size as f64;
        }
    }
    hours
}
