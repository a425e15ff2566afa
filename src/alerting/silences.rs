//! The end of a silence: the keeper task stores the silences that ended
//! and hands the messages their end calls for to the dispatcher (FIRING
//! for an alert nothing was sent about, STILL FIRING otherwise).

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::notify::DispatchHandle;
use crate::status::{Expired, Status};
use crate::store::{Store, Write};
use qoswatch_core::alert::AlertEvent;

/// Silences that end send what their end calls for: the keeper task, on
/// the application's tracker. It sleeps until the next silence ends, or
/// until the board changes (a new silence may end sooner).
pub fn spawn_silence_keeper(
    status: Status,
    dispatch: Option<DispatchHandle>,
    store: Store,
    retention: Duration,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) {
    let mut changes = status.subscribe();
    tracker.spawn(async move {
        loop {
            let Expired { due, ended, next } = status.expire(retention);
            for silence in ended {
                tracing::info!(silence = %silence.id, "silence ended");
                store.write(Write::Silence(Box::new(silence)));
            }
            send_all(dispatch.as_ref(), due);
            let wait = next
                .map(|at| (at - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
    });
}

/// Hands the messages a silence's end calls for to the dispatcher.
pub fn send_all(dispatch: Option<&DispatchHandle>, events: Vec<AlertEvent>) {
    let Some(dispatch) = dispatch else {
        return;
    };
    for event in events {
        tracing::info!(alert = %event.key, "silence ended on a firing alert: sending it");
        dispatch.send(event);
    }
}
