//! The memory of participants who left and meetings that ended.

use chrono::Utc;
use qoswatch_core::alert::ParticipantKey;
use tokio::time::Instant;

use super::Monitor;
use crate::store::Write;
use crate::watch::metrics::ENDED_PARTICIPANTS;

impl Monitor {
    /// Remembers that a participant left (even one never watched: a `left`
    /// can arrive before its `joined`). Returns the store's write.
    pub(super) fn remember_ended_participant(&self, key: &ParticipantKey) -> Write {
        let now = Instant::now();
        let forgotten = {
            let mut ended = self.ended();
            let inserted = ended.participants.insert(key.clone(), now, now);
            self.metrics().remembered_ended(&ended);
            inserted.forgotten
        };
        self.forgot_early(ENDED_PARTICIPANTS, forgotten);
        Write::ParticipantEnded {
            key: key.clone(),
            at: Utc::now(),
        }
    }

    /// Counts entries forgotten before their time because the memory of
    /// ended participants or meetings was full, and says so once a minute.
    pub(super) fn forgot_early(&self, kind: &'static str, forgotten: usize) {
        if forgotten == 0 {
            return;
        }
        self.metrics().forgotten_early(kind, forgotten);
        if let Some(unlogged) = self.inner.forgotten_log.occurred(Instant::now()) {
            tracing::warn!(
                kind,
                max_remembered_ended = self.inner.settings.max_remembered_ended,
                not_logged_since = unlogged,
                "memory of ended participants or meetings is full: the oldest is forgotten \
                 early (a late participant_joined retry for it would start a watch)"
            );
        }
    }
}
