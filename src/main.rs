//! The `qoswatch` command. Parses the command line, sets up logging, loads
//! settings and hands over to the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qoswatch::config::{LogFormat, Settings};
use qoswatch::startup::{Application, until_stopped_by_signal};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Alerts IT teams while a Zoom meeting runs when a participant's call quality goes bad"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// See qoswatch work in a minute: a simulated Zoom meeting, watched by the real server.
    Demo(qoswatch::demo::DemoArgs),
    /// Run the webhook receiver and the QoS watchers.
    Serve {
        /// Settings file (YAML); every setting can also come from QOSWATCH_* variables.
        #[arg(long, env = "QOSWATCH_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check a rules file: exit 0 when valid, else print every problem as FILE:LINE:COL: message.
    CheckRules {
        /// The rules file.
        file: PathBuf,
    },
    /// Run rule unit tests (sample series and expected alerts) from a test file.
    TestRules {
        /// The test file; it names the rules file it tests.
        file: PathBuf,
    },
    /// Replay past meetings' QoS through a rules file: what would it have said?
    ///
    /// Exit codes: 0 the report covers everything asked for; 1 only part of
    /// it (the report says what is missing); 2 nothing was replayed (bad
    /// arguments, rules, settings or recording).
    Backtest(qoswatch::backtest::BacktestArgs),
    /// Serve a simulated Zoom API (and optionally send its webhooks) for load tests.
    Simulate(qoswatch_zoomsim::cli::SimulateArgs),
    /// Exit 0 when a running qoswatch answers on /healthz (for container HEALTHCHECKs).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:9180/healthz")]
        url: String,
    },
}

fn init_tracing(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        // Control characters in values escaped as JSON escapes them; colours
        // only on a terminal (a log file or pipe gets plain text).
        LogFormat::Pretty => builder
            .fmt_fields(qoswatch::logging::escaped_fields())
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let env = qoswatch::config::process_env;
            let settings = match Settings::load(config.as_deref(), &env) {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("qoswatch: {error}");
                    return ExitCode::from(2);
                }
            };
            init_tracing(settings.log.format, &settings.log.filter);
            match serve(settings).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "qoswatch failed");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Demo(args) => {
            // The story goes to stdout; only problems are logged.
            init_tracing(LogFormat::Pretty, "error");
            let cancel = tokio_util::sync::CancellationToken::new();
            let env = qoswatch::config::process_env;
            let demo = qoswatch::demo::run(args, &env, Box::new(std::io::stdout()), cancel.clone());
            match until_stopped_by_signal(cancel, demo).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("qoswatch demo: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Backtest(args) => {
            // The report goes to stdout; progress, problems and warnings
            // (a rate-limit pause, an answer too large) to stderr.
            init_tracing(LogFormat::Pretty, "warn");
            let cancel = tokio_util::sync::CancellationToken::new();
            let env = qoswatch::config::process_env;
            let output = qoswatch::backtest::Output {
                report: Box::new(std::io::stdout()),
                errors: Box::new(std::io::stderr()),
                terminal: std::io::stderr().is_terminal(),
            };
            let run = qoswatch::backtest::run(args, &env, output, cancel.clone());
            ExitCode::from(until_stopped_by_signal(cancel, run).await)
        }
        Command::CheckRules { file } => outcome(qoswatch_core::rules::cli::check_rules(&file)),
        Command::TestRules { file } => outcome(qoswatch_core::rules::cli::test_rules(&file)),
        Command::Simulate(args) => {
            init_tracing(LogFormat::Pretty, "info");
            let cancel = tokio_util::sync::CancellationToken::new();
            let env = qoswatch::config::process_env;
            let secrets = |name: &str| Ok(qoswatch::config::secret_value(&env, name)?);
            let simulator = qoswatch_zoomsim::cli::run(args, cancel.clone(), &secrets);
            match until_stopped_by_signal(cancel, simulator).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("qoswatch simulate: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Healthcheck { url } => healthcheck(&url).await,
    }
}

fn outcome(outcome: qoswatch_core::rules::cli::CommandOutcome) -> ExitCode {
    print!("{}", outcome.output);
    if outcome.success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn healthcheck(url: &str) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            eprintln!("qoswatch healthcheck: {error}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(url).send().await {
        Ok(answer) if answer.status().is_success() => ExitCode::SUCCESS,
        Ok(answer) => {
            eprintln!("qoswatch healthcheck: {url} answered {}", answer.status());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("qoswatch healthcheck: {url}: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let shutdown = app.shutdown_token();
    until_stopped_by_signal(shutdown, app.run_until_stopped()).await
}
