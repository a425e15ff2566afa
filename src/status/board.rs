//! The alert board: which alerts fire now, the recent FIRING/RESOLVED
//! history, and the silences. Pure: the dispatcher asks it, for every
//! event on its way to the channels, whether the event is silenced; the
//! silence keeper asks it which silences ended and which firing alerts
//! must be announced again because of it.
//!
//! The rule for silences: a silenced event is recorded (the page shows the
//! alert, marked silenced) but not sent. When a silence ends (it expires or
//! is removed), each alert it covered that still fires, and that no other
//! silence in force covers, is sent once: FIRING if nothing was sent about
//! it yet, STILL FIRING otherwise.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};

use super::silence::{Labels, Silence};
use qoswatch_core::alert::{AlertEvent, AlertKey, AlertStatus, Severity};

/// FIRING/RESOLVED transitions kept for the page.
pub const HISTORY: usize = 200;

/// An alert that fires now.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// The newest event about it (its severity, value and summary).
    pub event: AlertEvent,
    /// When qoswatch raised it (wall clock; the event's `started_at` is
    /// Zoom's sample time, minutes behind, or a simulator's clock).
    pub since: DateTime<Utc>,
    /// Some message about it went out (or was handed to a channel).
    pub notified: bool,
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// When qoswatch recorded it (wall clock).
    pub at: DateTime<Utc>,
    pub status: AlertStatus,
    pub severity: Severity,
    pub event: AlertEvent,
    /// The event was not sent because a silence covered it.
    pub silenced: bool,
}

#[derive(Debug, Default)]
pub struct Board {
    firing: BTreeMap<AlertKey, Firing>,
    history: VecDeque<Transition>,
    silences: BTreeMap<String, Silence>,
    /// Ids of the silences that were in force when last looked at: a
    /// silence that leaves this set has ended.
    in_force: BTreeSet<String>,
    /// Silences whose end was handled since the last [`Board::announced`],
    /// to be stored as such.
    announced: Vec<Silence>,
}

/// Removing a silence that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no silence with id `{0}`")]
pub struct UnknownSilence(pub String);

impl Board {
    /// The board after a restart: the stored silences and the alerts that
    /// were firing. An alert a silence covers counts as notified (whether a
    /// message went out before the restart is not known; STILL FIRING is
    /// right either way once the silence ends).
    /// A silence that ended while qoswatch was down (its end not yet
    /// announced) counts as in force, so the first [`Board::expire`]
    /// handles its end.
    pub fn restore(silences: Vec<Silence>, open: Vec<AlertEvent>, now: DateTime<Utc>) -> Self {
        let mut board = Board::default();
        for silence in silences {
            if !silence.end_announced {
                board.in_force.insert(silence.id.clone());
            }
            board.add(silence, now);
        }
        for event in open {
            board.firing.insert(
                event.key.clone(),
                Firing {
                    since: event.started_at,
                    notified: true,
                    event,
                },
            );
        }
        board
    }

    /// An event on its way to the channels: tracked, and whether a silence
    /// in force covers it (then it must not be sent).
    pub fn record(&mut self, event: &AlertEvent, now: DateTime<Utc>) -> bool {
        let silenced = self.is_silenced(&Labels::of(event), now);
        let transition = match event.status {
            AlertStatus::Firing | AlertStatus::Repeat => self.fire(event, silenced, now),
            AlertStatus::Resolved => self.firing.remove(&event.key).is_some(),
        };
        // Zoom's meeting alerts never resolve: history only, never firing.
        if event.participant.is_none() {
            self.firing.remove(&event.key);
        }
        if transition {
            self.history.push_back(Transition {
                at: now,
                status: match event.status {
                    AlertStatus::Resolved => AlertStatus::Resolved,
                    _ => AlertStatus::Firing,
                },
                severity: event.severity,
                event: event.clone(),
                silenced,
            });
            if self.history.len() > HISTORY {
                self.history.pop_front();
            }
        }
        silenced
    }

    /// Tracks a FIRING or STILL FIRING event; true when it starts the alert
    /// or changes its severity (a line of the history).
    fn fire(&mut self, event: &AlertEvent, silenced: bool, now: DateTime<Utc>) -> bool {
        match self.firing.get_mut(&event.key) {
            Some(firing) => {
                let changed = firing.event.severity != event.severity;
                firing.event = event.clone();
                firing.notified |= !silenced;
                changed
            }
            None => {
                self.firing.insert(
                    event.key.clone(),
                    Firing {
                        event: event.clone(),
                        since: now,
                        notified: !silenced,
                    },
                );
                true
            }
        }
    }

    /// Whether a silence in force at `now` covers these labels.
    pub fn is_silenced(&self, labels: &Labels, now: DateTime<Utc>) -> bool {
        !self.silenced_by(labels, now).is_empty()
    }

    /// The ids of the silences in force at `now` that cover these labels.
    pub fn silenced_by(&self, labels: &Labels, now: DateTime<Utc>) -> Vec<String> {
        self.silences
            .values()
            .filter(|s| s.is_active(now) && s.matches(labels))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Adds (or, after a restart, puts back) a silence.
    pub fn add(&mut self, silence: Silence, now: DateTime<Utc>) {
        if silence.is_active(now) {
            self.in_force.insert(silence.id.clone());
        }
        self.silences.insert(silence.id.clone(), silence);
    }

    /// Ends silence `id` now. Returns the silence as it is now and the
    /// messages its end calls for.
    pub fn remove(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Silence, Vec<AlertEvent>), UnknownSilence> {
        let silence = self
            .silences
            .get_mut(id)
            .ok_or_else(|| UnknownSilence(id.to_owned()))?;
        silence.remove(now);
        let silence = silence.clone();
        Ok((silence, self.expire(now)))
    }

    /// The messages due because silences ended by `now`: one per firing
    /// alert that an ended silence covered and no silence in force covers.
    /// The ended silences are marked announced ([`Board::announced`]).
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<AlertEvent> {
        let ended: Vec<String> = self
            .in_force
            .iter()
            .filter(|id| !self.silences.get(*id).is_some_and(|s| s.is_active(now)))
            .cloned()
            .collect();
        let mut due = Vec::new();
        for id in &ended {
            self.in_force.remove(id);
            if let Some(silence) = self.silences.get_mut(id) {
                silence.end_announced = true;
                self.announced.push(silence.clone());
            }
        }
        for firing in self.firing.values_mut() {
            let labels = Labels::of(&firing.event);
            let was_covered = ended
                .iter()
                .filter_map(|id| self.silences.get(id))
                .any(|s| s.matches(&labels));
            let still_covered = self
                .silences
                .values()
                .any(|s| s.is_active(now) && s.matches(&labels));
            if !was_covered || still_covered {
                continue;
            }
            let mut event = firing.event.clone();
            event.status = if firing.notified {
                AlertStatus::Repeat
            } else {
                AlertStatus::Firing
            };
            event.at = now;
            event.summary = format!("{} (silence ended)", event.summary);
            due.push(event);
        }
        due
    }

    /// Takes the silences whose end was handled since the last call.
    pub fn announced(&mut self) -> Vec<Silence> {
        std::mem::take(&mut self.announced)
    }

    /// When the next silence in force ends.
    pub fn next_end(&self) -> Option<DateTime<Utc>> {
        self.in_force
            .iter()
            .filter_map(|id| self.silences.get(id))
            .map(|s| s.ends_at)
            .min()
    }

    pub fn firing(&self) -> impl Iterator<Item = &Firing> {
        self.firing.values()
    }

    /// Newest first.
    pub fn history(&self) -> impl Iterator<Item = &Transition> {
        self.history.iter().rev()
    }

    /// Newest first.
    pub fn silences(&self) -> Vec<&Silence> {
        let mut all: Vec<&Silence> = self.silences.values().collect();
        all.sort_by(|a, b| b.starts_at.cmp(&a.starts_at).then(a.id.cmp(&b.id)));
        all
    }

    pub fn silence(&self, id: &str) -> Option<&Silence> {
        self.silences.get(id)
    }

    /// Forgets silences that ended before `before` (the store prunes them
    /// at the same age).
    pub fn prune(&mut self, before: DateTime<Utc>) {
        self.silences.retain(|_, s| s.ends_at >= before);
    }
}

#[cfg(test)]
mod tests;
