//! The per-second rate follows the work: each heartbeat grants this
//! replica its part of every account's Zoom rate, in proportion to the
//! running watches each live replica holds.
//!
//! The step takes a lock on `zoom_rate_parts` (heartbeats of other replicas
//! wait for it; nothing else does), so the parts are apportioned one replica
//! at a time from the same rows. Each replica only ever grants itself: its
//! target part ([`rate_parts`]), but never more than the parts recorded by
//! the other live replicas leave ([`grant`]). A replica whose target fell
//! gives its requests back at its own next heartbeat; the one that wants
//! them gets them at its next one after that. So the recorded parts of the
//! live replicas never sum to more than the rate, and the budget
//! (`crate::quota::budget`) keeps the parts in force below the recorded ones
//! (a smaller part at once, a larger one two seconds late).
//!
//! Cost: one lock and three small reads per heartbeat, none per request.

use std::collections::BTreeMap;

use sqlx::{Postgres, Transaction};

use qoswatch_core::alert::Account;

/// Tolerance of the sums of parts (whole requests over the rate, summed in
/// floating point).
const EPSILON: f64 = 1e-9;

/// The target parts of an account's per-second rate of `per_second`
/// requests for the live replicas, in their fixed order, by the running
/// watches each holds (`demand`).
///
/// Whole requests a second, as the budget spaces them: one for every
/// replica (a meeting a webhook brings to an idle replica is polled before
/// the next heartbeat), the rest in proportion to the demand (largest
/// remainders first, the earlier replica on a tie; evenly without any
/// demand). With fewer requests a second than replicas, an even part each.
/// The parts sum to one.
pub(crate) fn rate_parts(per_second: u32, demand: &[u32]) -> Vec<f64> {
    let n = demand.len();
    if n == 0 {
        return Vec::new();
    }
    let rate = per_second.max(1);
    if (rate as usize) < n {
        return vec![1.0 / n as f64; n];
    }
    let spare = u64::from(rate) - n as u64;
    // Without demand every replica weighs the same.
    let weights: Vec<u64> = if demand.iter().all(|&d| d == 0) {
        vec![1; n]
    } else {
        demand.iter().map(|&d| u64::from(d)).collect()
    };
    let total = weights.iter().sum::<u64>();
    let mut whole: Vec<u64> = weights.iter().map(|w| 1 + spare * w / total).collect();
    let given: u64 = whole.iter().sum::<u64>() - n as u64;
    let mut by_remainder: Vec<usize> = (0..n).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(spare * weights[i] % total));
    for &i in by_remainder.iter().take((spare - given) as usize) {
        whole[i] += 1;
    }
    whole
        .into_iter()
        .map(|w| w as f64 / f64::from(rate))
        .collect()
}

/// This replica's grant: its target, but no more than what the parts the
/// other live replicas hold leave of the whole rate.
pub(crate) fn grant(target: f64, others: f64) -> f64 {
    let left = 1.0 - others;
    if left < EPSILON {
        return 0.0;
    }
    target.min(left + EPSILON).max(0.0)
}

/// The heartbeat's step: this replica's part of each account's rate
/// (`rates`: its requests a second), granted and recorded. `mine`: the
/// running watches this replica keeps (after shedding).
pub(super) async fn share_rate(
    tx: &mut Transaction<'_, Postgres>,
    me: &str,
    rates: &BTreeMap<Account, u32>,
    mine: &BTreeMap<Account, u32>,
) -> Result<BTreeMap<Account, f64>, sqlx::Error> {
    let mut granted = BTreeMap::new();
    if rates.is_empty() {
        return Ok(granted);
    }
    sqlx::query("LOCK TABLE zoom_rate_parts IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut **tx)
        .await?;
    let mut live: Vec<String> =
        sqlx::query_scalar("SELECT id FROM replicas WHERE expires_at > now() ORDER BY number")
            .fetch_all(&mut **tx)
            .await?;
    let held: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT l.owner, l.account, count(*) FROM leases l \
         JOIN replicas r ON r.id = l.owner AND r.expires_at > now() \
         JOIN watches w ON w.account = l.account AND w.meeting_uuid = l.meeting_uuid \
           AND w.ended_at IS NULL \
         GROUP BY l.owner, l.account",
    )
    .fetch_all(&mut **tx)
    .await?;
    let parts: Vec<(String, f64)> = sqlx::query_as(
        "SELECT p.account, p.part FROM zoom_rate_parts p \
         JOIN replicas r ON r.id = p.replica AND r.expires_at > now() \
         WHERE p.replica <> $1",
    )
    .bind(me)
    .fetch_all(&mut **tx)
    .await?;
    if !live.iter().any(|id| id == me) {
        live.push(me.to_owned());
    }
    for (account, &per_second) in rates {
        let demand: Vec<u32> = live
            .iter()
            .map(|id| {
                if id == me {
                    return mine.get(account).copied().unwrap_or(0);
                }
                held.iter()
                    .filter(|(owner, of, _)| owner == id && of == account.as_str())
                    .map(|(_, _, n)| u32::try_from(*n).unwrap_or(u32::MAX))
                    .sum()
            })
            .collect();
        let targets = rate_parts(per_second, &demand);
        let index = live.iter().position(|id| id == me).unwrap_or(0);
        let others: f64 = parts
            .iter()
            .filter(|(of, _)| of == account.as_str())
            .map(|(_, part)| part)
            .sum();
        let part = grant(targets[index], others);
        sqlx::query(
            "INSERT INTO zoom_rate_parts (account, replica, part) VALUES ($1, $2, $3) \
             ON CONFLICT (account, replica) DO UPDATE SET part = excluded.part",
        )
        .bind(account.as_str())
        .bind(me)
        .bind(part)
        .execute(&mut **tx)
        .await?;
        granted.insert(account.clone(), part);
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(per_second: u32, demand: &[u32]) -> Vec<u32> {
        rate_parts(per_second, demand)
            .into_iter()
            .map(|p| (p * f64::from(per_second)).round() as u32)
            .collect()
    }

    #[test]
    fn the_rate_is_apportioned_by_the_watches_held_one_each_at_least() {
        // Two meetings' 6 watches on the first of three replicas at 10/s.
        assert_eq!(whole(10, &[6, 0, 0]), vec![8, 1, 1]);
        // Balanced: 3 + 3 + 3, and the tenth to the first by its place.
        assert_eq!(whole(10, &[6, 6, 6]), vec![4, 3, 3]);
        // In proportion: 7 spare over 1:2:4 watches is 1, 2, 4.
        assert_eq!(whole(10, &[1, 2, 4]), vec![2, 3, 5]);
        // Largest remainder: 5 spare over 1:1:2 is 1.25, 1.25, 2.5.
        assert_eq!(whole(8, &[1, 1, 2]), vec![2, 2, 4]);
        // The largest remainder, not the largest part: 4 spare over 2:3 is
        // 1.6 and 2.4, so the first gets the spare one.
        assert_eq!(whole(6, &[2, 3]), vec![3, 3]);
        // Nobody holds anything: even.
        assert_eq!(whole(10, &[0, 0, 0]), vec![4, 3, 3]);
        // Alone: everything.
        assert_eq!(whole(10, &[0]), vec![10]);
        assert_eq!(whole(10, &[25]), vec![10]);
        assert!(rate_parts(10, &[]).is_empty());
    }

    #[test]
    fn the_parts_always_sum_to_the_whole_rate() {
        for per_second in [1, 2, 3, 7, 10, 30, 80] {
            for demand in [
                vec![0],
                vec![1, 0],
                vec![5, 5, 5],
                vec![1, 2, 3, 4],
                vec![100, 1, 0, 0, 0],
                vec![3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
            ] {
                let parts = rate_parts(per_second, &demand);
                let sum: f64 = parts.iter().sum();
                assert!(
                    (sum - 1.0).abs() < 1e-9,
                    "{per_second}/s over {demand:?}: {parts:?}"
                );
                if per_second as usize >= demand.len() {
                    assert!(
                        parts
                            .iter()
                            .all(|p| *p * f64::from(per_second) >= 1.0 - 1e-9),
                        "one a second each: {per_second}/s over {demand:?}: {parts:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn fewer_requests_a_second_than_replicas_is_an_even_split() {
        assert_eq!(rate_parts(2, &[9, 0, 0]), vec![1.0 / 3.0; 3]);
    }

    #[test]
    fn a_grant_never_takes_what_the_others_hold() {
        assert_eq!(grant(0.8, 0.2), 0.8);
        // The others still hold 1.0 (they have not given back yet): none.
        assert_eq!(grant(0.1, 1.0), 0.0);
        // Two tenths left: two tenths, not the target's eight.
        assert!((grant(0.8, 0.8) - 0.2).abs() < 1e-6);
        // More recorded than the whole (a rate changed): none, never negative.
        assert_eq!(grant(0.5, 1.7), 0.0);
        // The sum of whole parts in floating point does not cost a request.
        let others = 0.1 + 0.2 + 0.4;
        assert!(grant(0.3, others) * 10.0 + 1e-9 >= 3.0);
    }
}
