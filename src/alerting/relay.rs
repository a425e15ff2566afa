//! Zoom's own `meeting.alert` webhooks, relayed as meeting-level alerts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use super::settings::ZoomMeetingAlerts;
use crate::intake::MeetingAlertSink;
use crate::notify::DispatchHandle;
use crate::zoom::event::Meeting;
use qoswatch_core::alert::{AlertEvent, AlertKey, AlertStatus, CallKind, MeetingKey, Route};

/// Relays Zoom's `meeting.alert` issues as meeting-level alerts. Zoom never
/// says when an issue clears, so these only fire, at most once per
/// (meeting, issue) within `repeat_after`.
#[derive(Debug)]
pub struct ZoomAlertRelay {
    settings: ZoomMeetingAlerts,
    dispatch: DispatchHandle,
    /// By meeting (in its account) and issue.
    recent: Mutex<HashMap<(MeetingKey, String), Instant>>,
    relayed: Counter,
    suppressed: Counter,
}

impl ZoomAlertRelay {
    pub fn new(
        settings: ZoomMeetingAlerts,
        dispatch: DispatchHandle,
        registry: &mut Registry,
    ) -> Self {
        let relayed = Counter::default();
        let suppressed = Counter::default();
        registry.register(
            "qoswatch_zoom_meeting_alerts_relayed",
            "Zoom meeting.alert issues relayed as alerts",
            relayed.clone(),
        );
        registry.register(
            "qoswatch_zoom_meeting_alerts_suppressed",
            "Zoom meeting.alert issues not relayed again within repeat_after",
            suppressed.clone(),
        );
        Self {
            settings,
            dispatch,
            recent: Mutex::new(HashMap::new()),
            relayed,
            suppressed,
        }
    }

    /// The alert event for one issue of one meeting.
    pub fn event_for(&self, meeting: &Meeting, issue: &str, now: DateTime<Utc>) -> AlertEvent {
        let slug: String = issue
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let rule = format!("zoom-{slug}");
        let info = meeting.info();
        let topic = match (&info.topic, info.kind) {
            (Some(topic), CallKind::Meeting) => topic.clone(),
            (Some(topic), CallKind::Webinar) => format!("webinar {topic}"),
            (None, kind) => format!("a {kind}"),
        };
        let metric = match info.kind {
            CallKind::Meeting => "zoom.meeting_alert",
            CallKind::Webinar => "zoom.webinar_alert",
        };
        AlertEvent {
            key: AlertKey::new(&rule, &info, None),
            status: AlertStatus::Firing,
            severity: self.settings.severity,
            previous_severity: None,
            rule,
            summary: format!("Zoom reports \"{issue}\" in {topic}"),
            runbook: None,
            metric: metric.into(),
            stream: None,
            value: Some(issue.to_owned()),
            threshold: None,
            started_at: now,
            at: now,
            meeting: info,
            participant: None,
            route: Route {
                channels: self.settings.channels.clone(),
                repeat_interval: None,
                send_resolved: false,
            },
        }
    }
}

impl MeetingAlertSink for ZoomAlertRelay {
    fn meeting_alert(&self, meeting: &Meeting, issues: &[String]) {
        let now = Utc::now();
        let instant = Instant::now();
        let window = self.settings.repeat_after;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|_, at| instant.duration_since(*at) < window.max(Duration::from_secs(1)));
        for issue in issues {
            let key = (meeting.info().key(), issue.clone());
            if recent.contains_key(&key) {
                self.suppressed.inc();
                continue;
            }
            recent.insert(key, instant);
            self.relayed.inc();
            tracing::info!(meeting = %meeting.uuid, issue = %issue, "relaying Zoom meeting alert");
            self.dispatch.send(self.event_for(meeting, issue, now));
        }
    }
}
