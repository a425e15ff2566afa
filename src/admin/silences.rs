//! Creating and ending silences, the same for every API (`/api/v1`,
//! Alertmanager's `/api/v2`) and the page: stored durably first, then put
//! on the board; an end sends what it calls for at once. One store of
//! silences, whichever API made them.

use chrono::{DateTime, Utc};

use super::{AdminState, ApiError};
use crate::alerting::silences::send_all;
use crate::status::store_silence;
use qoswatch_core::silence::Silence;

/// A new silence's id: a random (version 4) UUID, as Alertmanager's
/// clients expect.
pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `404 no silence with id …` (the id cut to 64 characters).
pub(super) fn unknown(id: &str) -> ApiError {
    let id: String = id.chars().take(64).collect();
    ApiError::NotFound(format!("no silence with id `{id}`"))
}

/// Stores `silence` durably, then puts it in force.
pub(super) async fn create(state: &AdminState, silence: Silence) -> Result<(), ApiError> {
    store_silence(&state.store, &silence)
        .await
        .map_err(|error| ApiError::Unavailable(format!("silence not stored: {error}")))?;
    tracing::info!(
        silence = %silence.id,
        matchers = silence.matchers.len(),
        ends_at = %silence.ends_at,
        "silence created"
    );
    state.status.add_silence(silence);
    Ok(())
}

/// Ends silence `id` at `now` (stored first) and sends what its end calls
/// for; answers the silence as it is now. Ending an ended one changes
/// nothing.
pub(super) async fn end(
    state: &AdminState,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Silence, ApiError> {
    let Some(mut ended) = state.status.silence(id) else {
        return Err(unknown(id));
    };
    ended.remove(now);
    // Its end is handled right below, with this request.
    ended.end_announced = true;
    store_silence(&state.store, &ended)
        .await
        .map_err(|error| ApiError::Unavailable(format!("silence not removed: {error}")))?;
    let (silence, due) = state
        .status
        .remove_silence(id, now)
        .map_err(|_| unknown(id))?;
    tracing::info!(silence = %silence.id, "silence removed");
    send_all(state.sources.dispatch.as_ref(), due);
    Ok(silence)
}
