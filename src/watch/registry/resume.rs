//! Taking back what the store kept, once, before serving.

use chrono::Utc;
use qoswatch_core::subject::StopReason;
use tokio::time::Instant;

use super::{Monitor, StartOutcome, instant_of};
use crate::store::{SavedWatch, Snapshot, Write};
use crate::watch::meeting::Resume;
use crate::watch::metrics::{ENDED_MEETINGS, ENDED_PARTICIPANTS};

impl Monitor {
    /// Takes back what the store kept: the recently ended participants and
    /// meetings, then every running watch, which polls again at once (Zoom's
    /// answer ends those that are over). Call once, before serving.
    pub fn resume(&self, snapshot: &mut Snapshot) -> usize {
        {
            // Each entry takes its place by time, whatever the order the
            // store gives them in; past the bound the oldest are forgotten.
            let now = Instant::now();
            let mut ended = self.ended();
            let mut forgotten = (0, 0);
            for (key, at) in snapshot.ended_participants.drain(..) {
                forgotten.0 += ended
                    .participants
                    .insert(key, instant_of(at), now)
                    .forgotten;
            }
            for (meeting, at) in snapshot.ended_meetings.drain(..) {
                forgotten.1 += ended
                    .meetings
                    .insert(meeting, instant_of(at), now)
                    .forgotten;
            }
            self.metrics().remembered_ended(&ended);
            drop(ended);
            self.forgot_early(ENDED_PARTICIPANTS, forgotten.0);
            self.forgot_early(ENDED_MEETINGS, forgotten.1);
        }
        let mut resumed = 0;
        for saved in snapshot.watches.drain(..) {
            let SavedWatch {
                subject,
                started_at,
                last_seen,
                alert_state,
            } = saved;
            let key = subject.key.clone();
            let resume = Resume {
                last_seen,
                alert_state,
                age: (Utc::now() - started_at).to_std().unwrap_or_default(),
                poll_now: true,
            };
            match self.join(subject, resume) {
                Ok(()) => resumed += 1,
                Err(StartOutcome::AlreadyEnded) => {
                    // The participant left, but the end of the watch was
                    // not saved: close it now.
                    self.inner.store.write(Write::WatchEnded {
                        key,
                        reason: StopReason::Left,
                        at: Utc::now(),
                    });
                }
                Err(StartOutcome::UnknownAccount) => {
                    // Kept from before its account left the settings: no
                    // client can poll it any more.
                    tracing::warn!(
                        account = %key.account,
                        "saved watch of an account no longer configured: ended"
                    );
                    self.inner.store.write(Write::WatchEnded {
                        key,
                        reason: StopReason::Rejected,
                        at: Utc::now(),
                    });
                }
                Err(refused) => {
                    tracing::warn!(outcome = ?refused, "saved watch not resumed");
                }
            }
        }
        if resumed > 0 {
            tracing::info!(watches = resumed, "watches resumed from the store");
        }
        resumed
    }
}
