//! Persistence seam. qoswatch keeps what it watches behind [`WatchStore`]
//! so a durable backend (SQLite in a data directory) can take over without
//! touching the monitor. Today's backend is in memory: a restart forgets
//! running watches, which then restart on Zoom's next webhook retry or are
//! lost with it (see ARCHITECTURE.md).

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::watch::subject::{StopReason, WatchSubject};
use qoswatch_core::alert::ParticipantKey;

/// Records the life of every watch.
pub trait WatchStore: Send + Sync + std::fmt::Debug {
    /// A watch began.
    fn watch_started(&self, subject: &WatchSubject);
    /// A watch ended.
    fn watch_ended(&self, key: &ParticipantKey, reason: StopReason);
    /// Watches that began and have not ended, to resume after a restart.
    fn active(&self) -> Vec<WatchSubject>;
}

/// A [`WatchStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    active: Mutex<BTreeMap<ParticipantKey, (WatchSubject, DateTime<Utc>)>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl WatchStore for MemoryStore {
    fn watch_started(&self, subject: &WatchSubject) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.insert(subject.key.clone(), (subject.clone(), Utc::now()));
    }

    fn watch_ended(&self, key: &ParticipantKey, _reason: StopReason) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.remove(key);
    }

    fn active(&self) -> Vec<WatchSubject> {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active
            .values()
            .map(|(subject, _)| subject.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::alert::{MeetingInfo, ParticipantInfo};

    #[test]
    fn remembers_only_running_watches() {
        let store = MemoryStore::new();
        let subject = |user: &str| WatchSubject {
            key: ParticipantKey {
                meeting_uuid: "m==".into(),
                user_id: user.into(),
            },
            meeting: MeetingInfo::default(),
            participant: ParticipantInfo::default(),
        };
        store.watch_started(&subject("1"));
        store.watch_started(&subject("2"));
        store.watch_ended(&subject("1").key, StopReason::Left);
        store.watch_ended(&subject("9").key, StopReason::Left);
        let active: Vec<String> = store.active().into_iter().map(|s| s.key.user_id).collect();
        assert_eq!(active, ["2"]);
    }
}
