//! `qoswatch backtest RULES`: what these rules would have said about past
//! meetings (issue 15).
//!
//! - `fetch.rs`: the past from Zoom (meetings by id or by date range, each
//!   meeting's participants' QoS with `type=past`), through the client and
//!   its shared budget;
//! - `recording.rs`: `--record` / `--input`, gzip JSON Lines with a header;
//! - `replay.rs`: the samples through the engine and the dispatcher's
//!   grouping, on the samples' clock (pure);
//! - `report.rs`: the figures, timelines and comparison; text and JSON (pure);
//! - `progress.rs`: a bar on a terminal, plain lines otherwise.
//!
//! Exit codes: [`EXIT_COMPLETE`] (0) the report covers everything asked
//! for; [`EXIT_INCOMPLETE`] (1) it covers only part (a meeting Zoom does
//! not know, the daily quota used up, Zoom kept failing, interrupted), the
//! report says which; [`EXIT_UNUSABLE`] (2) nothing was replayed: a bad
//! command line, rules file, settings or recording.

pub mod fetch;
pub mod progress;
pub mod recording;
pub mod replay;
pub mod report;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::config::{EnvLookup, Settings, ZoomAccount};
use crate::quota::budget::QuotaClock;
use crate::zoom::client::ZoomClient;
use qoswatch_core::alert::CallKind;
use qoswatch_core::rules::RuleSet;

use fetch::{Problem, Source};
use progress::Progress;
use recording::RecordingWriter;
use replay::{MeetingData, Replayer};

/// The report covers everything asked for.
pub const EXIT_COMPLETE: u8 = 0;
/// The report covers only part of what was asked for.
pub const EXIT_INCOMPLETE: u8 = 1;
/// Nothing was replayed: bad arguments, rules, settings or recording.
pub const EXIT_UNUSABLE: u8 = 2;

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("source")
        .required(true)
        .args(["meetings", "webinars", "from", "input"])
))]
pub struct BacktestArgs {
    /// The rules file to replay.
    pub rules: PathBuf,
    /// A second rules file: replayed too, and the alerts each file has and the other lacks listed.
    #[arg(long, value_name = "OTHER_RULES")]
    pub compare: Option<PathBuf>,
    /// A past meeting: its UUID, or its number (the latest instance). Repeatable.
    #[arg(long = "meeting", value_name = "UUID_OR_ID")]
    pub meetings: Vec<String>,
    /// A past webinar: its UUID, or its number (the latest instance). Repeatable.
    #[arg(long = "webinar", value_name = "UUID_OR_ID")]
    pub webinars: Vec<String>,
    /// With --from/--to: the webinars that started in the range, instead of the meetings.
    #[arg(long = "webinars", requires = "from")]
    pub webinars_in_range: bool,
    /// Meetings that started on or after this UTC day (YYYY-MM-DD); with --to.
    #[arg(long, value_name = "DAY", requires = "to")]
    pub from: Option<NaiveDate>,
    /// Meetings that started on or before this UTC day (YYYY-MM-DD); with --from.
    #[arg(long, value_name = "DAY", requires = "from")]
    pub to: Option<NaiveDate>,
    /// Replay a recording made with --record, offline (no Zoom request).
    #[arg(long, value_name = "FILE", conflicts_with = "record")]
    pub input: Option<PathBuf>,
    /// Save what is fetched as a recording (gzip JSON Lines) for later runs with --input.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Settings file, as for serve (Zoom's URLs and credentials, the grouping window).
    #[arg(long, env = "QOSWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// With several accounts in the settings: the one whose meetings are
    /// fetched (its API, credentials and quota); the replayed calls belong
    /// to it, so rules scoped on it apply. With --input: the account the
    /// recording's calls are replayed as.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
}

/// The account of `--account`, or the only one; several without
/// `--account` is a mistake when Zoom is asked.
fn account_of(
    settings: &Settings,
    name: Option<&str>,
    fetching: bool,
) -> anyhow::Result<ZoomAccount> {
    let accounts = settings.zoom_accounts();
    let names = || {
        accounts
            .iter()
            .map(|a| a.account.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(name) => accounts
            .iter()
            .find(|a| a.account.as_str() == name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("--account {name}: the settings name {}", names())),
        None if fetching && accounts.len() > 1 => anyhow::bail!(
            "the settings name several Zoom accounts ({}): say whose meetings with --account",
            names()
        ),
        None => Ok(accounts.into_iter().next().expect("at least one account")),
    }
}

/// `--meeting` and `--webinar` ids, each with its kind.
fn calls_by_id(args: &BacktestArgs) -> Vec<(CallKind, String)> {
    let meetings = args
        .meetings
        .iter()
        .map(|id| (CallKind::Meeting, id.clone()));
    let webinars = args
        .webinars
        .iter()
        .map(|id| (CallKind::Webinar, id.clone()));
    meetings.chain(webinars).collect()
}

/// Where the command writes: the report, and problems and progress.
pub struct Output {
    pub report: Box<dyn Write + Send>,
    pub errors: Box<dyn Write + Send>,
    /// Whether the errors stream is a terminal (progress bar or lines).
    pub terminal: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("terminal", &self.terminal)
            .finish_non_exhaustive()
    }
}

/// Runs the command; the exit code.
pub async fn run(
    args: BacktestArgs,
    env: EnvLookup<'_>,
    mut output: Output,
    cancel: CancellationToken,
) -> u8 {
    match backtest(&args, env, &mut output, &cancel).await {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(output.errors, "qoswatch backtest: {error:#}");
            EXIT_UNUSABLE
        }
    }
}

/// A rules file, or its problems as check-rules prints them.
fn load_rules(path: &Path) -> anyhow::Result<RuleSet> {
    RuleSet::load(path).map_err(|diagnostics| {
        anyhow::anyhow!(
            "{} is not a valid rules file:\n{}",
            path.display(),
            diagnostics.to_string().trim_end()
        )
    })
}

async fn backtest(
    args: &BacktestArgs,
    env: EnvLookup<'_>,
    output: &mut Output,
    cancel: &CancellationToken,
) -> anyhow::Result<u8> {
    let rules = load_rules(&args.rules)?;
    let other = args.compare.as_deref().map(load_rules).transpose()?;
    let settings = Settings::load_without_secrets(args.config.as_deref(), env)?;
    let window = settings.alerts.dispatch.group_window;
    let account = account_of(&settings, args.account.as_deref(), args.input.is_none())?;
    let mut replayer = Replayer::new(&rules, window);
    let mut other_replayer = other.as_ref().map(|other| Replayer::new(other, window));
    let mut replay_one = |meeting: &MeetingData| {
        // A recording keeps the account it was made in, unless one is named.
        let renamed = (args.input.is_none() || args.account.is_some()).then(|| {
            let mut meeting = meeting.clone();
            meeting.meeting.account = account.account.clone();
            meeting
        });
        let meeting = renamed.as_ref().unwrap_or(meeting);
        replayer.meeting(meeting);
        if let Some(other) = other_replayer.as_mut() {
            other.meeting(meeting);
        }
    };
    let problems = match &args.input {
        Some(input) => recording::read(input, |meeting| replay_one(&meeting))?,
        None => {
            let source = match (&args.from, &args.to) {
                (Some(from), Some(to)) if from > to => {
                    anyhow::bail!("--from {from} is after --to {to}")
                }
                (Some(from), Some(to)) => Source::Range {
                    from: *from,
                    to: *to,
                    kind: if args.webinars_in_range {
                        CallKind::Webinar
                    } else {
                        CallKind::Meeting
                    },
                },
                _ => Source::Meetings(calls_by_id(args)),
            };
            let record = args.record.as_deref();
            fetch_from_zoom(&account, &source, record, output, cancel, &mut replay_one).await?
        }
    };
    let replayed = replayer.finish();
    let compared = other_replayer.map(Replayer::finish);
    let rules_name = args.rules.display().to_string();
    let compare_name = args.compare.as_deref().map(|p| p.display().to_string());
    let other_part = match (&compare_name, &other, &compared) {
        (Some(name), Some(rules), Some(replay)) => Some((name.as_str(), rules, replay)),
        _ => None,
    };
    let report = report::report((&rules_name, &rules, &replayed), other_part, &problems);
    let text = match args.format {
        Format::Text => report::text(&report),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    output
        .report
        .write_all(text.as_bytes())
        .and_then(|()| output.report.flush())
        .context("writing the report")?;
    Ok(if report.complete {
        EXIT_COMPLETE
    } else {
        EXIT_INCOMPLETE
    })
}

/// Fetches `source`, recording each meeting when asked and handing it to
/// `replay`; what could not be fetched.
async fn fetch_from_zoom(
    account: &ZoomAccount,
    source: &Source,
    record: Option<&Path>,
    output: &mut Output,
    cancel: &CancellationToken,
    replay: &mut dyn FnMut(&MeetingData),
) -> anyhow::Result<Vec<Problem>> {
    // The client `serve` builds, with a budget of its own at the same
    // shares: a separate process cannot share the server's, and Zoom's
    // 429s pause it as they pause the server.
    let mut registry = Registry::default();
    let budget = std::sync::Arc::new(account.zoom.budget(QuotaClock::Wall, &mut registry));
    let client = ZoomClient::new(
        account.zoom.client(),
        account.credentials()?,
        budget,
        &mut registry,
    )?;
    let mut writer = record.map(RecordingWriter::create).transpose()?;
    let errors = std::mem::replace(&mut output.errors, Box::new(std::io::sink()));
    let mut progress = Progress::new(output.terminal, errors);
    let fetched = fetch::fetch(&client, source, &mut progress, cancel, |meeting| {
        // Recorded with its account, so a later --input run knows it.
        let mut meeting = meeting.clone();
        meeting.meeting.account = account.account.clone();
        if let Some(writer) = writer.as_mut() {
            writer.meeting(&meeting)?;
        }
        replay(&meeting);
        Ok(())
    })
    .await;
    output.errors = progress.into_lines();
    let fetched = fetched?;
    if let Some(writer) = writer {
        let path = writer.finish(&fetched.problems)?;
        let _ = writeln!(output.errors, "backtest: recorded to {}", path.display());
    }
    Ok(fetched.problems)
}
