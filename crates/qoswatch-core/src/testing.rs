//! Example values shared by unit tests (this crate's, and the service's
//! through the `testing` feature). Not part of the running service.

use chrono::Utc;

use crate::alert::{
    AlertEvent, AlertKey, AlertStatus, MeetingInfo, ParticipantInfo, Route, Severity,
};

/// A warning of rule `latency` for participant `user` in meeting `m1`,
/// at 2026-11-25 10:00 UTC.
pub fn example_event(user: &str, status: AlertStatus) -> AlertEvent {
    let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 25, 10, 0, 0)
        .single()
        .unwrap_or_default();
    AlertEvent {
        key: AlertKey::in_account(&Default::default(), "latency", "m1", Some(user)),
        status,
        severity: Severity::Warning,
        previous_severity: None,
        rule: "latency".into(),
        summary: "High latency".into(),
        runbook: None,
        metric: "audio_input.latency".into(),
        stream: None,
        value: None,
        threshold: None,
        started_at: at,
        at,
        meeting: MeetingInfo {
            uuid: "m1".into(),
            ..MeetingInfo::default()
        },
        participant: Some(ParticipantInfo {
            user_id: user.into(),
            ..ParticipantInfo::default()
        }),
        route: Route::default(),
    }
}
