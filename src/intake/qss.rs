//! QSS push events at the webhook endpoint: a participant's pushed samples
//! to their watch through the sample-source seam ([`Monitor::deliver`],
//! [`Source::Push`]), starting the watch when none runs (the account may
//! not subscribe to `participant_joined`), unless the participant or the
//! call is remembered as ended (a late retry).

use super::{IntakeState, TrackingId, WebhookOutcome};
use crate::watch::{Delivered, Source, StartOutcome};
use crate::zoom::event::QosPush;

/// Hands a QSS event's samples to the participant's watch.
pub(super) async fn participant_qos(
    state: &IntakeState,
    push: QosPush,
    tracking: TrackingId<'_>,
) -> WebhookOutcome {
    state.webhook_metrics.qss_report(&push.report);
    if push.report.parse.bad_value_count > 0 || push.report.unknown_types > 0 {
        tracing::debug!(
            bad_values = push.report.parse.bad_value_count,
            unknown_types = push.report.unknown_types,
            tracking_id = %tracking,
            "QSS event partly unreadable"
        );
    }
    if push.samples.is_empty() {
        return WebhookOutcome::NoSamples;
    }
    let key = push.key();
    let monitor = &state.monitor;
    if !monitor.is_watching(&key) {
        let participant = push.participant_info();
        let meeting = push.meeting.clone().into_info();
        match monitor.start_watch(&key, meeting, participant).await {
            StartOutcome::Started => tracing::info!(
                meeting = %key.meeting_uuid,
                participant = %key.user_id,
                tracking_id = %tracking,
                "QSS event for a participant not watched: watch started"
            ),
            StartOutcome::AlreadyWatching => {}
            refused => return WebhookOutcome::from(refused),
        }
    }
    match monitor.deliver(&key, push.samples, Source::Push) {
        Delivered::Queued => WebhookOutcome::Handled,
        Delivered::NotWatched => WebhookOutcome::NoWatch,
    }
}
