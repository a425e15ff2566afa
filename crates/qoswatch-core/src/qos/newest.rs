//! Choosing the newest samples of a `user_qos` array while it is read:
//! entries stay borrowed slices of the answer, dated by their
//! `date_time` alone, and only the newest `max` are kept (a heap), so
//! memory follows what is kept, not what was sent.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::parse::ParseReport;

/// One `user_qos` entry with a readable time, still unparsed.
pub(super) struct DatedEntry<'a> {
    pub(super) at: DateTime<Utc>,
    pub(super) index: usize,
    pub(super) raw: &'a RawValue,
}

impl PartialEq for DatedEntry<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for DatedEntry<'_> {}

impl PartialOrd for DatedEntry<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Older first; of two entries with the same time, Zoom's earlier one first.
impl Ord for DatedEntry<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.index).cmp(&(other.at, other.index))
    }
}

/// The newest `max` entries seen so far: a min-heap whose top is the
/// oldest kept, pushed out by anything newer.
pub(super) struct NewestEntries<'a> {
    pub(super) max: usize,
    pub(super) kept: BinaryHeap<Reverse<DatedEntry<'a>>>,
    pub(super) dropped: usize,
}

impl<'a> NewestEntries<'a> {
    pub(super) fn new(max: usize) -> Self {
        Self {
            max,
            kept: BinaryHeap::new(),
            dropped: 0,
        }
    }

    pub(super) fn offer(&mut self, entry: DatedEntry<'a>) {
        self.kept.push(Reverse(entry));
        if self.kept.len() > self.max {
            self.kept.pop();
            self.dropped += 1;
        }
    }
}

/// Walks `user_qos` once: each entry's time is read (nothing else of it is
/// built); entries without one are reported, those after `after` offered.
pub(super) struct NewestVisitor<'n, 'a> {
    pub(super) newest: &'n mut NewestEntries<'a>,
    pub(super) report: &'n mut ParseReport,
    /// Entries at or before this time are already known: skipped unbuilt.
    pub(super) after: Option<DateTime<Utc>>,
}

impl<'a> Visitor<'a> for NewestVisitor<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of samples")
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(raw) = seq.next_element::<&'a RawValue>()? {
            match entry_time(raw) {
                Ok(at) if self.after.is_some_and(|after| at <= after) => {}
                Ok(at) => self.newest.offer(DatedEntry { at, index, raw }),
                Err(shown) => {
                    // A sample without a time cannot be ordered or deduplicated.
                    self.report
                        .bad(format!("user_qos[{index}].date_time"), &shown);
                }
            }
            index += 1;
        }
        Ok(())
    }
}

/// An entry's `date_time`; else the text to report (empty when there is
/// no string at all: no member, not an object, not a string).
pub(super) fn entry_time(raw: &RawValue) -> Result<DateTime<Utc>, String> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    let text = match DateTimeField.deserialize(&mut deserializer) {
        Ok(Some(time)) => serde_json::from_str::<String>(time.get()).unwrap_or_default(),
        _ => String::new(),
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| text)
}

/// Reads the raw `date_time` member of an entry object (the last one, as
/// for any repeated key), skipping every other member unbuilt.
pub(super) struct DateTimeField;

impl<'a> DeserializeSeed<'a> for DateTimeField {
    type Value = Option<&'a RawValue>;

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for DateTimeField {
    type Value = Option<&'a RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sample object")
    }

    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut time = None;
        while let Some(is_time) = map.next_key_seed(KeyIs("date_time"))? {
            if is_time {
                time = Some(map.next_value::<&'a RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(time)
    }
}

/// Whether an object key is the given name, without keeping the key.
pub(super) struct KeyIs(&'static str);

impl<'a> DeserializeSeed<'a> for KeyIs {
    type Value = bool;

    fn deserialize<D: Deserializer<'a>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'a> Visitor<'a> for KeyIs {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}
