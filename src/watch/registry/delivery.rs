//! The sample-source seam's entry: samples from another source to a watch.

use qoswatch_core::alert::ParticipantKey;
use qoswatch_core::qos::QosSample;

use super::Monitor;
use crate::watch::meeting::Command;
use crate::watch::source::{Delivered, Source};

impl Monitor {
    /// The sample-source seam: hands samples of a watched participant,
    /// from a source other than the Dashboard poller (Zoom's QSS push
    /// webhooks), to the meeting task that owns the participant's observer.
    /// There they take the polled samples' path: deduplicated by
    /// `date_time` against the watch's last sample (from any source), each
    /// new one to the observer once, progress to the store. Never blocks.
    /// Samples for a participant not watched here are refused
    /// ([`Delivered::NotWatched`]) and counted.
    pub fn deliver(
        &self,
        key: &ParticipantKey,
        samples: Vec<QosSample>,
        source: Source,
    ) -> Delivered {
        let count = samples.len();
        let sent = {
            let books = self.books();
            books
                .watches
                .get(key)
                .zip(books.meetings.get(&key.meeting()))
                .is_some_and(|(watch, task)| {
                    task.commands
                        .send(Command::Samples {
                            id: watch.id,
                            samples,
                            source,
                        })
                        .is_ok()
                })
        };
        if sent {
            Delivered::Queued
        } else {
            self.metrics().not_watched(source, count);
            Delivered::NotWatched
        }
    }
}
