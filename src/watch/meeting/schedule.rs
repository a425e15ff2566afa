//! Which members are due, and how: one by one or listed.

use std::time::Duration;

use tokio::time::Instant;

use super::MeetingPoller;
use crate::quota::plan::{self, MeetingDemand};

/// When and how the next round polls.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Schedule {
    /// When something is due next.
    pub(super) wake: Instant,
    /// Members (by index) due for a request of their own.
    pub(super) singles_due: Vec<usize>,
    /// Members (by index) covered by a listing, if the listing is due.
    pub(super) list_due: Option<Vec<usize>>,
}

impl MeetingPoller<'_> {
    /// Requests one listing of the meeting costs, if it may be listed.
    pub(super) fn pages(&self) -> Option<u32> {
        if !self.ctx.planner.adaptive() {
            return None;
        }
        let size = self
            .page_size
            .unwrap_or(u64::from(self.settings().page_size))
            .max(1);
        let participants = self
            .total_records
            .unwrap_or(0)
            .max(self.members.len() as u64);
        Some(
            u32::try_from(participants.div_ceil(size))
                .unwrap_or(u32::MAX)
                .max(1),
        )
    }

    /// Each member's `(desired interval, urgent)`: everybody wants the
    /// fastest interval; the plan's floors stretch the calm, then the
    /// urgent, only under pressure.
    pub(super) fn wishes(&self) -> Vec<(Duration, bool)> {
        let fastest = self.ctx.planner.fastest();
        self.members.iter().map(|m| (fastest, m.urgent())).collect()
    }

    /// Tells the planner what this meeting wants: members fed by QSS
    /// pushes want nothing.
    pub(super) fn publish(&self) {
        let demand = MeetingDemand {
            members: self
                .wishes()
                .into_iter()
                .zip(&self.members)
                .filter(|(_, m)| !m.fed)
                .map(|((desired, urgent), _)| (desired.as_secs_f64(), urgent))
                .collect(),
            pages: self.pages(),
        };
        let oldest = self
            .members
            .iter()
            .filter(|m| !m.fed)
            .map(|m| m.last_refresh.unwrap_or(m.started))
            .min()
            .unwrap_or_else(Instant::now);
        self.ctx.planner.publish(self.planner_id, demand, oldest);
    }

    /// An early signal for the whole meeting: every member urgent for
    /// `urgent_for`, and due at the fastest pace at once: now, or one
    /// `polling.interval` after its last poll if that was more recent (Zoom's
    /// samples are per minute: sooner finds nothing new). So repeats of the
    /// signal cost nothing more. A member in back-off keeps its wait.
    pub(super) fn hurry(&mut self, urgent_for: Duration) {
        let now = Instant::now();
        let interval = self.settings().interval;
        for member in &mut self.members {
            member.urgent_until = Some(now + urgent_for);
            if member.retry_at.is_none() {
                member.retry_at = Some(now.max(member.due_from + interval));
            }
        }
    }

    /// Which members are polled how, and when the next of them is due.
    pub(super) fn schedule(&self, now: Instant) -> Schedule {
        let intervals: Vec<Duration> = self
            .wishes()
            .into_iter()
            .map(|(desired, urgent)| self.ctx.planner.interval(desired, urgent))
            .collect();
        let due: Vec<Instant> = self
            .members
            .iter()
            .zip(&intervals)
            .map(|(m, interval)| {
                // A member fed by QSS is due only when its pushes stop.
                let polled = m.retry_at.unwrap_or(m.due_from + *interval);
                self.fed_until(m).map_or(polled, |until| until.max(polled))
            })
            .collect();
        // The cheapest split: the `singles` shortest intervals on their own.
        let seconds: Vec<f64> = intervals.iter().map(Duration::as_secs_f64).collect();
        let (singles, _) = plan::best_split(&seconds, self.pages());
        let singles = if self.list_only { 0 } else { singles };
        let mut order: Vec<usize> = (0..self.members.len()).collect();
        order.sort_by(|a, b| intervals[*a].cmp(&intervals[*b]).then(a.cmp(b)));
        let (alone, listed) = order.split_at(singles);
        let list_due = listed.iter().map(|i| due[*i]).min();
        let singles_due: Vec<usize> = alone.iter().copied().filter(|i| due[*i] <= now).collect();
        let wake = alone
            .iter()
            .map(|i| due[*i])
            .chain(list_due)
            .min()
            .unwrap_or(now);
        Schedule {
            wake,
            singles_due,
            list_due: list_due.filter(|at| *at <= now).map(|_| listed.to_vec()),
        }
    }
}
