//! Database size after a simulated working day: the demo's story (one
//! meeting, 7 participants, degradations, alerts firing and resolving, a
//! Zoom meeting alert, one participant leaving early, the end) played back
//! to back for `--hours` simulated hours, each play in a fresh meeting
//! instance, against the real service with its SQLite store on disk
//! (`synchronous = full`) and the rules of `rules.example.yaml`.
//!
//! Reports what was watched and alerted, the size of `qoswatch.db` and its
//! `-wal` file during and after the run, which table takes the space, and
//! the size once the retention has passed and the backend's own prune has
//! run (then `VACUUM`): what one day costs in a database kept for
//! `store.retention`.
//!
//! ```sh
//! cargo run --release --example store_day
//! cargo run --release --example store_day -- --hours 8 --sample-period 100ms --save day.db
//! ```
//!
//! Every wall-clock setting is scaled from production to the sample period
//! (one simulated minute): the polling interval is one period (60 s against
//! Zoom's one sample a minute) and the grouping window half of one (30 s).
//! The demo's injected 429 is left out: its `Retry-After: 2` is real
//! seconds, which at 100 ms a simulated minute would pause all polling for
//! 20 simulated minutes, longer than the rest of the play.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Parser;
use qoswatch::store::{Backend, SqliteBackend, StoreSettings};
use qoswatch_zoomsim::SimConfig;
use qoswatch_zoomsim::scenario::{Action, Scenario};
use qoswatch_zoomsim::webhooks::WebhookSender;
use secrecy::SecretString;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection, Row};
use support::{InProcess, PollingPlan, ServiceOptions, StoreChoice};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The database file and its write-ahead log, as the service names them.
const DATABASE_FILE: &str = "qoswatch.db";
const WAL_FILE: &str = "qoswatch.db-wal";

/// The service's tables, in the order of the migration.
const TABLES: [&str; 7] = [
    "watches",
    "ended_participants",
    "ended_meetings",
    "alert_events",
    "grouped",
    "outbox",
    "zoom_budget",
];

#[derive(Debug, Parser)]
#[command(about = "Database size after a simulated day of the demo's load")]
struct Args {
    /// Simulated hours of back-to-back demo meetings.
    #[arg(long, default_value_t = 8.0)]
    hours: f64,
    /// Real time per simulated minute (one QoS sample per participant).
    #[arg(long, default_value = "100ms", value_parser = qoswatch_core::duration::parse)]
    sample_period: Duration,
    /// Also copy the day's database (closed, before pruning) to this file,
    /// to look into with `sqlite3`.
    #[arg(long)]
    save: Option<PathBuf>,
}

/// Counts the console channel's lines (one per notification) and drops them.
#[derive(Debug, Clone, Default)]
struct CountingConsole(Arc<AtomicU64>);

impl Write for CountingConsole {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = buf.iter().filter(|&&b| b == b'\n').count();
        self.0.fetch_add(lines as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    support::init_logging();
    let args = Args::parse();
    if !(args.hours > 0.0 && args.hours <= 24.0 * 7.0) {
        bail!("--hours must be above 0 and at most a week");
    }
    if args.sample_period < Duration::from_millis(20) {
        bail!("--sample-period must be at least 20ms");
    }
    let period = args.sample_period;
    let story = Scenario::demo();
    let story_minutes = story.length_minutes();
    let plays = ((args.hours * 60.0) / f64::from(story_minutes)).ceil() as u32;
    let (joins_per_play, participant_minutes_per_play) = attendance(&story);

    let console = CountingConsole::default();
    let app = InProcess::start_with(
        SimConfig {
            sample_period: period,
            ..SimConfig::default()
        },
        PollingPlan {
            interval: period,
            requests_per_second: 40,
        },
        StoreChoice::Full,
        ServiceOptions {
            rules_file: Some(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/rules.example.yaml"
            ))),
            console: Some(Box::new(console.clone())),
            group_window: Some(period / 2),
            zoom_meeting_alerts: true,
            ..ServiceOptions::default()
        },
    )
    .await?;
    let data_dir = app
        .data_dir()
        .context("the store is not on disk")?
        .to_owned();
    println!(
        "store_day: {plays} plays of the demo story ({story_minutes} simulated minutes, \
         {joins_per_play} participants each) = {:.1} simulated hours; \
         one simulated minute = {period:?}, polling every {period:?}, grouping window {:?}; \
         SQLite synchronous = full in {}",
        f64::from(plays * story_minutes) / 60.0,
        period / 2,
        data_dir.display()
    );

    // The files' sizes while the service runs (the WAL is removed at close).
    let sizes = Arc::new(PeakSizes::default());
    let watcher_stop = CancellationToken::new();
    let watcher = tokio::spawn(watch_sizes(
        data_dir.clone(),
        sizes.clone(),
        watcher_stop.clone(),
    ));

    let sender = WebhookSender::new(
        &app.webhook_url(),
        SecretString::from(support::IN_PROCESS_SECRET.to_owned()),
    )?;
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let mut webhooks = 0;
    let mut webhook_failures = 0;
    for play in 0..plays {
        let uuid = format!("/d{play:03}Q3pLan//Hq8aZw+Bx==");
        let mut scenario = Scenario::demo_in(&uuid, 83_512_100_000 + u64::from(play));
        scenario
            .steps
            .retain(|step| !matches!(step.action, Action::InjectFault(_)));
        let report = scenario.run(&app.sim, Some(&sender), &cancel).await?;
        webhooks += report.webhooks_sent;
        webhook_failures += report.webhook_failures;
        // Every watch of this play ends, on its participant_left or when a
        // poll finds the meeting over.
        let deadline = Instant::now() + Duration::from_secs(10);
        while app.monitor.active() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if (play + 1) % 9 == 0 || play + 1 == plays {
            println!(
                "  after play {:>2}: {:>5.1} s, {} console notifications so far, qoswatch.db {} B, -wal {} B",
                play + 1,
                started.elapsed().as_secs_f64(),
                console.0.load(Ordering::Relaxed),
                file_size(&data_dir.join(DATABASE_FILE)),
                file_size(&data_dir.join(WAL_FILE)),
            );
        }
    }
    let played_in = started.elapsed();
    // Let the last grouping window close and its messages be delivered.
    let http = reqwest::Client::new();
    let mut metrics = app.metrics(&http).await?;
    let mut unchanged = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = app.metrics(&http).await?;
        unchanged = if sent(&now) == sent(&metrics) {
            unchanged + 1
        } else {
            0
        };
        metrics = now;
        if unchanged >= 3 {
            break;
        }
    }
    let samples = app.tap.samples.load(Ordering::Relaxed);
    let active_at_end = app.monitor.active();
    // Keeps the data directory until the end of `main`.
    let _data = app.stop_keeping_data().await?;
    watcher_stop.cancel();
    watcher.await?;

    println!();
    println!(
        "== {plays} plays, {:.1} simulated hours, in {:.1} s of real time ==",
        f64::from(plays * story_minutes) / 60.0,
        played_in.as_secs_f64()
    );
    let participants = u64::from(plays) * joins_per_play;
    let participant_hours = f64::from(plays) * participant_minutes_per_play as f64 / 60.0;
    println!(
        "participants watched: {participants} ({participant_hours:.2} participant-hours); \
         watchers still active at the end: {active_at_end}"
    );
    println!(
        "webhooks sent: {webhooks} ({webhook_failures} not accepted); samples delivered to the rules: {samples}"
    );
    println!(
        "console notifications: {}",
        console.0.load(Ordering::Relaxed)
    );
    for line in support::nonzero_series(
        &metrics,
        &[
            "qoswatch_notify",
            "qoswatch_alert",
            "qoswatch_store",
            "qoswatch_watchers_stopped",
        ],
    ) {
        if !line.contains("_bucket") {
            println!("  {line}");
        }
    }

    println!();
    println!("-- the files --");
    let peak = sizes.snapshot();
    println!(
        "while running (sampled every 20 ms): qoswatch.db up to {} B, qoswatch.db-wal up to {} B",
        peak.0, peak.1
    );
    let database = data_dir.join(DATABASE_FILE);
    let day_size = file_size(&database);
    println!(
        "after the service stopped: qoswatch.db {day_size} B ({}), qoswatch.db-wal {} (SQLite checkpoints and removes it at close)",
        kib(day_size),
        if data_dir.join(WAL_FILE).exists() {
            format!("{} B", file_size(&data_dir.join(WAL_FILE)))
        } else {
            "absent".to_owned()
        }
    );

    // Read a copy, so that the service's directory stays as it left it.
    let scratch = tempfile::tempdir()?;
    let day_copy = scratch.path().join("day");
    std::fs::create_dir(&day_copy)?;
    std::fs::copy(&database, day_copy.join(DATABASE_FILE))?;
    if let Some(save) = &args.save {
        std::fs::copy(&database, save).with_context(|| format!("copying to {}", save.display()))?;
        println!("the day's database is copied to {}", save.display());
    }
    let day = describe(&day_copy.join(DATABASE_FILE)).await?;
    println!(
        "PRAGMA page_count × page_size: {} × {} = {} B ({} free pages)",
        day.pages,
        day.page_size,
        day.pages * day.page_size,
        day.free_pages
    );
    day.print_tables();

    // The retention passed: the backend's own prune with cut-offs after every
    // stored time (the simulator's clock runs ahead of the wall clock, so
    // alert events carry times up to the simulated day's end), then VACUUM.
    let pruned_dir = scratch.path().join("pruned");
    std::fs::create_dir(&pruned_dir)?;
    std::fs::copy(&database, pruned_dir.join(DATABASE_FILE))?;
    let settings = StoreSettings {
        data_dir: Some(pruned_dir.clone()),
        ..StoreSettings::default()
    };
    let (mut backend, _) = SqliteBackend::open(&settings).await?;
    let cut_off = Utc::now() + chrono::Duration::days(365);
    let deleted = backend.prune(cut_off, cut_off).await?;
    let before_vacuum = backend.size().await?;
    backend.close().await;
    let pruned_path = pruned_dir.join(DATABASE_FILE);
    let mut connection = open(&pruned_path, false).await?;
    sqlx::query("VACUUM").execute(&mut connection).await?;
    connection.close().await?;
    let pruned = describe(&pruned_path).await?;
    let pruned_size = file_size(&pruned_path);
    println!();
    println!(
        "after the retention: prune deleted {deleted} rows; page_count × page_size {before_vacuum} B \
         before VACUUM (pruned pages stay in the file as free pages, reused by later writes), \
         {pruned_size} B ({}) after VACUUM",
        kib(pruned_size)
    );
    pruned.print_tables();

    println!();
    let per_day = day_size.saturating_sub(pruned_size);
    let week = pruned_size + 7 * per_day;
    println!(
        "the day's data: {day_size} B - {pruned_size} B empty schema = {per_day} B ({}): \
         {:.0} B per participant watched, {:.0} B per participant-hour",
        kib(per_day),
        per_day as f64 / participants as f64,
        per_day as f64 / participant_hours
    );
    println!(
        "7 days of this load kept (store.retention = 7d): about {week} B ({})",
        kib(week)
    );
    if webhook_failures > 0 {
        bail!("{webhook_failures} webhooks were not accepted");
    }
    Ok(())
}

/// Participants who join one play of `story`, and their minutes in it
/// (until they leave or the meeting ends).
fn attendance(story: &Scenario) -> (u64, u64) {
    let end = story
        .steps
        .iter()
        .find_map(|s| matches!(s.action, Action::EndMeeting { .. }).then_some(s.at_minute))
        .unwrap_or_else(|| story.length_minutes());
    let mut joins = 0;
    let mut minutes = 0;
    for step in &story.steps {
        if let Action::Join { participant, .. } = &step.action {
            let left = story
                .steps
                .iter()
                .find_map(|s| match &s.action {
                    Action::Leave { user_id, .. } if *user_id == participant.user_id => {
                        Some(s.at_minute)
                    }
                    _ => None,
                })
                .unwrap_or(end);
            joins += 1;
            minutes += u64::from(left.saturating_sub(step.at_minute));
        }
    }
    (joins, minutes)
}

/// Notifications sent so far, over every kind of channel.
fn sent(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("qoswatch_notify_messages_sent_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[derive(Debug, Default)]
struct PeakSizes {
    database: AtomicU64,
    wal: AtomicU64,
}

impl PeakSizes {
    fn snapshot(&self) -> (u64, u64) {
        (
            self.database.load(Ordering::Relaxed),
            self.wal.load(Ordering::Relaxed),
        )
    }
}

async fn watch_sizes(dir: PathBuf, peak: Arc<PeakSizes>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    while !stop.is_cancelled() {
        tick.tick().await;
        peak.database
            .fetch_max(file_size(&dir.join(DATABASE_FILE)), Ordering::Relaxed);
        peak.wal
            .fetch_max(file_size(&dir.join(WAL_FILE)), Ordering::Relaxed);
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn kib(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

async fn open(path: &Path, read_only: bool) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only);
    SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// Pages of a database file and what each table (with its indexes) holds.
#[derive(Debug)]
struct Described {
    pages: u64,
    page_size: u64,
    free_pages: u64,
    /// Table, rows, bytes in its pages and how many of those pages are
    /// overflow pages (table and indexes, from `dbstat`).
    tables: Vec<(String, i64, i64, i64)>,
    json: Vec<JsonColumn>,
    /// Outbox messages by state.
    outbox: Vec<(String, i64)>,
}

/// What one JSON column holds.
#[derive(Debug)]
struct JsonColumn {
    column: String,
    bytes: i64,
    longest: i64,
    values: i64,
}

impl Described {
    fn print_tables(&self) {
        let total: i64 = self.tables.iter().map(|t| t.2).sum();
        println!(
            "  {:<20} {:>7} {:>10} {:>6} {:>15}",
            "table", "rows", "bytes", "share", "overflow pages"
        );
        for (table, rows, bytes, overflow) in &self.tables {
            println!(
                "  {table:<20} {rows:>7} {bytes:>10} {:>5.1}% {overflow:>15}",
                100.0 * *bytes as f64 / total.max(1) as f64
            );
        }
        if !self.outbox.is_empty() {
            let states: Vec<String> = self
                .outbox
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect();
            println!("  outbox messages: {}", states.join(", "));
        }
        for json in self.json.iter().filter(|j| j.values > 0) {
            println!(
                "  JSON in {}: {} B in {} values ({} B on average, longest {} B)",
                json.column,
                json.bytes,
                json.values,
                json.bytes / json.values,
                json.longest
            );
        }
    }
}

async fn describe(path: &Path) -> anyhow::Result<Described> {
    let mut connection = open(path, true).await?;
    let pages = pragma(&mut connection, "PRAGMA page_count").await?;
    let page_size = pragma(&mut connection, "PRAGMA page_size").await?;
    let free_pages = pragma(&mut connection, "PRAGMA freelist_count").await?;
    // Every b-tree: the tables above, their indexes, SQLite's own and sqlx's.
    let mut by_table = Vec::new();
    let trees = sqlx::query(
        "SELECT s.tbl_name, SUM(d.pgsize), SUM(d.pagetype = 'overflow') \
         FROM dbstat d JOIN sqlite_schema s ON s.name = d.name GROUP BY s.tbl_name \
         UNION ALL SELECT 'sqlite_schema', SUM(pgsize), SUM(pagetype = 'overflow') \
         FROM dbstat WHERE name = 'sqlite_schema' \
         ORDER BY 2 DESC",
    )
    .fetch_all(&mut connection)
    .await
    .context("reading dbstat")?;
    for tree in trees {
        let table: String = tree.get(0);
        let bytes: i64 = tree.get(1);
        let overflow: i64 = tree.get(2);
        let rows = if TABLES.contains(&table.as_str()) || table == "_sqlx_migrations" {
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{table}\"")))
                .fetch_one(&mut connection)
                .await?
        } else {
            0
        };
        by_table.push((table, rows, bytes, overflow));
    }
    let mut json = Vec::new();
    for (table, column) in [
        ("watches", "subject"),
        ("watches", "alert_state"),
        ("alert_events", "event"),
        ("outbox", "events"),
    ] {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT COALESCE(SUM(LENGTH({column})), 0), COALESCE(MAX(LENGTH({column})), 0), \
             COUNT({column}) FROM {table}"
        )))
        .fetch_one(&mut connection)
        .await?;
        json.push(JsonColumn {
            column: format!("{table}.{column}"),
            bytes: row.get(0),
            longest: row.get(1),
            values: row.get(2),
        });
    }
    let outbox = sqlx::query("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")
        .fetch_all(&mut connection)
        .await?
        .iter()
        .map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1)))
        .collect();
    connection.close().await?;
    Ok(Described {
        pages,
        page_size,
        free_pages,
        tables: by_table,
        json,
        outbox,
    })
}

async fn pragma(connection: &mut SqliteConnection, sql: &'static str) -> anyhow::Result<u64> {
    let value: i64 = sqlx::query_scalar(sql).fetch_one(connection).await?;
    Ok(u64::try_from(value).unwrap_or(0))
}
