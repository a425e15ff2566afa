//! `qoswatch demo --record FILE`: once the story is over, the demo's
//! meeting is fetched back from the simulator the way `qoswatch backtest`
//! fetches a past meeting from Zoom (`type=past`, through the same client),
//! and saved in the backtest's recording format. `qoswatch backtest RULES
//! --input FILE` then replays it offline, with no Zoom account. The cast
//! is the simulator's invented people: no personal data.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::backtest::fetch::{self, Source};
use crate::backtest::progress::Progress;
use crate::backtest::recording::{RecordingError, RecordingWriter};
use crate::config::Settings;
use crate::quota::budget::QuotaClock;
use qoswatch_core::alert::CallKind;
use qoswatch_zoomsim::scenario::DEMO_MEETING_UUID;

use super::story::Printer;

/// What `--record` needs once the story is over: the file, and the
/// settings that point at the simulator. Refuses an existing file now,
/// before the demo runs, rather than after (a recording is never
/// overwritten).
pub(super) fn prepare(
    path: Option<&Path>,
    settings: &Settings,
) -> anyhow::Result<Option<(PathBuf, Settings)>> {
    let Some(path) = path else {
        return Ok(None);
    };
    if path.exists() {
        return Err(RecordingError::Exists {
            path: path.display().to_string(),
        }
        .into());
    }
    Ok(Some((path.to_owned(), settings.clone())))
}

/// Records the demo's meeting when asked to and the demo was not
/// interrupted; the file written.
pub(super) async fn after_story(
    record_to: Option<(PathBuf, Settings)>,
    cancel: &CancellationToken,
) -> anyhow::Result<Option<PathBuf>> {
    match record_to {
        Some((path, settings)) if !cancel.is_cancelled() => {
            save(&settings, DEMO_MEETING_UUID, &path, cancel)
                .await
                .context("--record")
                .map(Some)
        }
        _ => Ok(None),
    }
}

/// Says where the recording is and how to replay it.
pub(super) fn tell(recorded: Option<PathBuf>, rules: &Path, printer: &mut Printer) {
    if let Some(path) = recorded {
        printer.line(&format!(
            "recorded the meeting to {0}; replay it with: qoswatch backtest {1} --input {0}",
            path.display(),
            rules.display()
        ));
    }
}

/// Fetches `meeting_uuid` from the Zoom `settings` point at (the demo's
/// simulator) and writes it to `path`; the path written.
async fn save(
    settings: &Settings,
    meeting_uuid: &str,
    path: &Path,
    cancel: &CancellationToken,
) -> anyhow::Result<PathBuf> {
    let mut registry = Registry::default();
    let budget = Arc::new(settings.zoom.budget(QuotaClock::Wall, &mut registry));
    let client = settings.zoom_client(budget, &mut registry)?;
    let mut writer = RecordingWriter::create(path)?;
    let mut progress = Progress::new(false, Box::new(std::io::sink()));
    let source = Source::Meetings(vec![(CallKind::Meeting, meeting_uuid.to_owned())]);
    let fetched = fetch::fetch(&client, &source, &mut progress, cancel, |meeting| {
        Ok(writer.meeting(meeting)?)
    })
    .await
    .context("fetching the demo's meeting back from the simulator")?;
    if let Some(problem) = fetched.problems.first() {
        anyhow::bail!(
            "the demo's meeting could not be recorded: {}: {}",
            problem.what,
            problem.reason
        );
    }
    Ok(writer.finish(&fetched.problems)?)
}
