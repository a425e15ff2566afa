//! The memory of participants who left and meetings that ended, so that a
//! late retry of `participant_joined` (Zoom retries up to 85 minutes later,
//! sometimes after the `left`) does not start a watch of someone gone.
//!
//! Each memory is a map for lookups plus an index ordered by time: an
//! insert, a lookup and an expiry cost O(log n), and expiry takes entries
//! from the old end only. Both are bounded: when full, the oldest entry is
//! forgotten first (and counted), so a flood of `participant_left` for
//! participants nobody watched costs a bounded amount of memory and a
//! constant time per webhook. (The first version scanned the whole map on
//! every insert: 68 s of CPU per 20,000 webhooks at 120,000 remembered.)

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use qoswatch_core::alert::{MeetingKey, ParticipantKey};
use tokio::time::Instant;

/// What one insert did to the memory's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Inserted {
    /// Entries forgotten before their time because the memory was full.
    pub(super) forgotten: usize,
}

/// When a key was remembered, and a sequence number that orders equal times.
type Stamp = (Instant, u64);

/// Keys remembered for `keep` since their time, at most `capacity` of them.
/// Each key is stored once, shared by the two indexes.
#[derive(Debug)]
pub(super) struct Memory<K> {
    /// The stamp of each key (the key of its entry in `by_time`).
    entries: HashMap<Arc<K>, Stamp>,
    /// Oldest first.
    by_time: BTreeMap<Stamp, Arc<K>>,
    next_sequence: u64,
    keep: Duration,
    capacity: usize,
}

impl<K: Clone + Eq + Hash> Memory<K> {
    /// A memory of at most `capacity` keys (at least one), each for `keep`.
    pub(super) fn new(keep: Duration, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            by_time: BTreeMap::new(),
            next_sequence: 0,
            keep,
            capacity: capacity.max(1),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Remembers `key` as of `at` (a key already remembered moves to `at`),
    /// after forgetting what expired by `now`; forgets the oldest when full.
    pub(super) fn insert(&mut self, key: K, at: Instant, now: Instant) -> Inserted {
        self.expire(now);
        if now.saturating_duration_since(at) >= self.keep {
            // Restored from the store but already too old: nothing to remember.
            return Inserted::default();
        }
        if let Some(previous) = self.entries.remove(&key) {
            self.by_time.remove(&previous);
        }
        let stamp = (at, self.next_sequence);
        self.next_sequence += 1;
        let key = Arc::new(key);
        self.by_time.insert(stamp, key.clone());
        self.entries.insert(key, stamp);
        // One entry was added: at most one has to go.
        let mut inserted = Inserted::default();
        if self.entries.len() > self.capacity {
            self.forget_oldest();
            inserted.forgotten = 1;
        }
        inserted
    }

    /// Whether `key` is remembered and not yet expired at `now`.
    pub(super) fn contains(&self, key: &K, now: Instant) -> bool {
        self.entries
            .get(key)
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) < self.keep)
    }

    /// Forgets every entry remembered for `keep` or longer at `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.by_time.first_entry() {
            let (at, _) = *oldest.key();
            if now.saturating_duration_since(at) < self.keep {
                break;
            }
            self.entries.remove(&oldest.remove());
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((_, key)) = self.by_time.pop_first() {
            self.entries.remove(&key);
        }
    }

    /// The remembered keys, oldest first (for tests).
    #[cfg(test)]
    fn oldest_first(&self) -> Vec<K> {
        self.by_time.values().map(|key| K::clone(key)).collect()
    }
}

/// Participants who left and meetings that ended, recently.
#[derive(Debug)]
pub(super) struct Ended {
    pub(super) participants: Memory<ParticipantKey>,
    pub(super) meetings: Memory<MeetingKey>,
}

impl Ended {
    /// Each memory holds at most `capacity` entries, each for `keep`.
    pub(super) fn new(keep: Duration, capacity: usize) -> Self {
        Self {
            participants: Memory::new(keep, capacity),
            meetings: Memory::new(keep, capacity),
        }
    }

    /// Whether this participant left, or their meeting ended, recently.
    pub(super) fn contains(&self, key: &ParticipantKey, now: Instant) -> bool {
        self.participants.contains(key, now) || self.meetings.contains(&key.meeting(), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: Duration = Duration::from_secs(7200);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_full_memory_forgets_the_oldest_first_and_says_so() {
        let t0 = Instant::now();
        let mut memory = Memory::new(KEEP, 3);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            let at = t0 + secs(i as u64);
            assert_eq!(memory.insert(key, at, at).forgotten, 0);
        }
        let at = t0 + secs(3);
        assert_eq!(memory.insert("d", at, at).forgotten, 1);
        assert_eq!(memory.oldest_first(), ["b", "c", "d"]);
        assert_eq!(memory.len(), 3);
        assert!(!memory.contains(&"a", at), "the oldest was forgotten");
        assert!(memory.contains(&"b", at));
    }

    #[test]
    fn remembering_a_key_again_moves_it_to_the_new_end() {
        let t0 = Instant::now();
        let mut memory = Memory::new(KEEP, 3);
        memory.insert("a", t0, t0);
        memory.insert("b", t0 + secs(1), t0 + secs(1));
        memory.insert("a", t0 + secs(2), t0 + secs(2));
        assert_eq!(memory.oldest_first(), ["b", "a"]);
        assert_eq!(memory.len(), 2, "one entry per key");
        memory.insert("c", t0 + secs(3), t0 + secs(3));
        memory.insert("d", t0 + secs(4), t0 + secs(4));
        assert_eq!(memory.oldest_first(), ["a", "c", "d"], "b was the oldest");
        // `a` now expires from its second time, not its first.
        assert!(memory.contains(&"a", t0 + KEEP + secs(1)));
    }

    #[test]
    fn entries_expire_after_keep_from_the_old_end() {
        let t0 = Instant::now();
        let mut memory = Memory::new(KEEP, 10);
        memory.insert("a", t0, t0);
        memory.insert("b", t0 + secs(10), t0 + secs(10));
        let just_before = t0 + KEEP - secs(1);
        assert!(memory.contains(&"a", just_before));
        assert!(!memory.contains(&"a", t0 + KEEP), "expired exactly at keep");
        memory.expire(t0 + KEEP);
        assert_eq!(memory.oldest_first(), ["b"]);
        memory.expire(t0 + KEEP + secs(10));
        assert_eq!(memory.len(), 0);
    }

    #[test]
    fn an_insert_expires_what_is_due_first() {
        let t0 = Instant::now();
        let mut memory = Memory::new(KEEP, 2);
        memory.insert("a", t0, t0);
        memory.insert("b", t0 + secs(1), t0 + secs(1));
        let later = t0 + KEEP + secs(5);
        // Both expired: nothing is forgotten early to make room.
        assert_eq!(memory.insert("c", later, later).forgotten, 0);
        assert_eq!(memory.oldest_first(), ["c"]);
    }

    #[test]
    fn restored_entries_take_their_place_by_time_whatever_the_order() {
        let t0 = Instant::now();
        let now = t0 + secs(100);
        let mut memory = Memory::new(KEEP, 3);
        for (key, at) in [("late", 90), ("early", 10), ("middle", 50)] {
            memory.insert(key, t0 + secs(at), now);
        }
        assert_eq!(memory.oldest_first(), ["early", "middle", "late"]);
        // Full: a newer entry pushes out the oldest by time, not by arrival.
        assert_eq!(memory.insert("new", now, now).forgotten, 1);
        assert_eq!(memory.oldest_first(), ["middle", "late", "new"]);
        // Restored already expired: not remembered at all.
        memory.insert("ancient", now - KEEP, now);
        assert!(!memory.contains(&"ancient", now));
        assert_eq!(memory.len(), 3);
    }

    #[test]
    fn a_capacity_of_zero_still_remembers_one() {
        let t0 = Instant::now();
        let mut memory = Memory::new(KEEP, 0);
        memory.insert("a", t0, t0);
        assert!(memory.contains(&"a", t0));
        assert_eq!(memory.insert("b", t0, t0).forgotten, 1);
        assert_eq!(memory.oldest_first(), ["b"]);
    }

    #[test]
    fn a_participant_is_gone_when_they_left_or_their_meeting_ended() {
        let t0 = Instant::now();
        let mut ended = Ended::new(KEEP, 10);
        let key = |meeting: &str, user: &str| ParticipantKey::new(meeting, user);
        ended.participants.insert(key("m1", "1"), t0, t0);
        ended.meetings.insert(key("m2", "").meeting(), t0, t0);
        assert!(ended.contains(&key("m1", "1"), t0));
        assert!(!ended.contains(&key("m1", "2"), t0));
        assert!(ended.contains(&key("m2", "7"), t0));
        assert!(!ended.contains(&key("m1", "1"), t0 + KEEP));
        assert!(!ended.contains(&key("m2", "7"), t0 + KEEP));
    }
}
