//! `qoswatch simulate`: runs the Zoom simulator on a real port, prints what
//! to point qoswatch at, plays a scenario (and its webhooks, when given a
//! target) and serves until cancelled. With `--accounts N` it plays N Zoom
//! accounts, the scenario in each (see `accounts`).

mod accounts;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::accounts::PlayedAccount;
pub use self::accounts::account_env_var;
use super::scenario::{Scenario, ScenarioReport, wall_time};
use super::webhooks::{BadAnswer, WebhookError, WebhookSender};
use super::{SimConfig, SimCredentials, SimHandle, Simulator};

/// Where qoswatch reads the Zoom credentials from (printed for the operator).
const ENV_ACCOUNT_ID: &str = "ZOOM_ACCOUNT_ID";
const ENV_CLIENT_ID: &str = "ZOOM_CLIENT_ID";
const ENV_CLIENT_SECRET: &str = "ZOOM_CLIENT_SECRET";
const ENV_WEBHOOK_SECRET: &str = "ZOOM_WEBHOOK_SECRET_TOKEN";

/// Resolves a secret by the NAME of the variable that holds it. The caller
/// owns the environment (qoswatch: the variable or its `NAME_FILE`).
pub type SecretLookup<'a> = &'a (dyn Fn(&str) -> anyhow::Result<Option<String>> + Sync);

/// Which story to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioKind {
    /// ~18 simulated minutes: bad Wi-Fi, an office losing packets, a pegged CPU, no video.
    Demo,
    /// `--meetings` × `--participants`, all joining at once, until cancelled.
    Load,
}

/// Arguments of `qoswatch simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Address to serve the fake Zoom API on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Meetings of the load scenario.
    #[arg(long, default_value_t = 2)]
    pub meetings: u32,
    /// Participants per meeting of the load scenario.
    #[arg(long, default_value_t = 5)]
    pub participants: u32,
    /// Real time per simulated minute (one QoS sample per participant), e.g. `10s`, `60s`.
    #[arg(long, default_value = "10s", value_parser = qoswatch_core::duration::parse)]
    pub sample_period: Duration,
    /// Per-second limit of the QoS endpoints, answered 429 beyond (Zoom: 10 Pro, 40 Business+).
    #[arg(long)]
    pub qps_limit: Option<u32>,
    /// Probability (0–1) that a QoS request gets a random 429.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    pub random_429: f64,
    /// qoswatch's webhook endpoint, e.g. `http://127.0.0.1:8080/webhooks/zoom`; no webhooks without it.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// NAME of the environment variable holding the Webhook Secret Token (never the secret itself).
    #[arg(long, default_value = ENV_WEBHOOK_SECRET)]
    pub webhook_secret_env: String,
    /// The story to play.
    #[arg(long, value_enum, default_value_t = ScenarioKind::Demo)]
    pub scenario: ScenarioKind,
    /// Also send Zoom's QSS events (`meeting.participant_qos`): every
    /// participant's sample of each simulated minute, pushed (needs --webhook-url).
    #[arg(long, requires = "webhook_url")]
    pub qss: bool,
    /// Seed of the simulator's randomness (same seed, same run).
    #[arg(long, default_value_t = 0x5EED)]
    pub seed: u64,
    /// Most samples a `type=live` answer holds (the newest).
    #[arg(long, default_value_t = 30)]
    pub live_window: u32,
    /// Simulated minutes every participant has already been in the meeting
    /// when joining: a long meeting's answers at once (load tests).
    #[arg(long, default_value_t = 0)]
    pub history: u32,
    /// Zoom accounts to play (`acct1`, `acct2`, …), each with its own app,
    /// quota and webhook secret, each playing the scenario. With more than
    /// one, webhooks go to `<--webhook-url>/<name>` and each account's
    /// secret comes from `ZOOM_<NAME>_WEBHOOK_SECRET_TOKEN` (generated and
    /// printed when unset).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: u32,
    /// Each account's daily quota of Dashboard requests, answered 429
    /// `Daily-limit` beyond (Zoom: 60,000 on Business+); none by default.
    #[arg(long)]
    pub daily_limit: Option<u32>,
}

fn parse_probability(raw: &str) -> Result<f64, String> {
    let value: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not a probability between 0 and 1"))
    }
}

/// Largest load the simulator is meant for on one machine.
const MAX_LOAD_PARTICIPANTS: u64 = 100_000;

/// Runs the simulator until `cancel` fires. The webhook secret, when
/// `--webhook-url` asks for webhooks, comes from `secrets` by the name
/// `--webhook-secret-env` gives.
pub async fn run(
    args: SimulateArgs,
    cancel: CancellationToken,
    secrets: SecretLookup<'_>,
) -> anyhow::Result<()> {
    let plan = Plan::from_args(&args, secrets)?;
    serve(args, plan, cancel).await
}

/// What the arguments ask for, checked before anything starts.
struct Plan {
    scenario: Scenario,
    /// The single account's sender (`--accounts 1`).
    webhooks: Option<WebhookSender>,
    /// The accounts of `--accounts N` with N > 1; empty for one account,
    /// which keeps the simulator's default credentials.
    accounts: Vec<PlayedAccount>,
}

impl Plan {
    fn from_args(args: &SimulateArgs, secrets: SecretLookup<'_>) -> anyhow::Result<Plan> {
        if args.sample_period < Duration::from_millis(10) {
            bail!("--sample-period must be at least 10ms");
        }
        if args.live_window == 0 {
            bail!("--live-window must be at least 1 (samples in a live answer)");
        }
        let scenario = match args.scenario {
            ScenarioKind::Demo => Scenario::demo(),
            ScenarioKind::Load => {
                let total = u64::from(args.meetings)
                    * u64::from(args.participants)
                    * u64::from(args.accounts);
                if total == 0 {
                    bail!(
                        "--meetings and --participants must both be at least 1 for the load scenario"
                    );
                }
                if total > MAX_LOAD_PARTICIPANTS {
                    bail!(
                        "--meetings × --participants × --accounts is {total}, more than the {MAX_LOAD_PARTICIPANTS} the simulator is meant for"
                    );
                }
                Scenario::load(args.meetings, args.participants)
            }
        };
        let scenario = if args.qss {
            scenario.with_qss()
        } else {
            scenario
        };
        if args.accounts > 1 {
            let accounts = accounts::plan(args, secrets)?;
            return Ok(Plan {
                scenario,
                webhooks: None,
                accounts,
            });
        }
        let webhooks = match &args.webhook_url {
            Some(url) => {
                let secret = secrets(&args.webhook_secret_env)?.with_context(|| {
                    format!(
                        "--webhook-url needs the Webhook Secret Token in the environment variable {} (or {}_FILE), which is not set",
                        args.webhook_secret_env, args.webhook_secret_env
                    )
                })?;
                Some(
                    WebhookSender::new(url, SecretString::from(secret))
                        .context("--webhook-url is not a usable http(s) URL")?,
                )
            }
            None => None,
        };
        Ok(Plan {
            scenario,
            webhooks,
            accounts: Vec::new(),
        })
    }

    /// The simulator's settings: the single account with default
    /// credentials, or the planned accounts.
    fn sim_config(&self, args: &SimulateArgs) -> SimConfig {
        let mut config = SimConfig {
            credentials: SimCredentials::generate(),
            sample_period: args.sample_period,
            qps_limit: args.qps_limit,
            daily_limit: args.daily_limit,
            random_429: args.random_429,
            seed: args.seed,
            live_window: args.live_window,
            history_minutes: args.history,
            ..SimConfig::default()
        };
        if let Some((first, extra)) = self.accounts.split_first() {
            config.credentials = first.account.credentials.clone();
            config.extra_accounts = extra.iter().map(|a| a.account.clone()).collect();
        }
        config
    }
}

async fn serve(args: SimulateArgs, plan: Plan, cancel: CancellationToken) -> anyhow::Result<()> {
    let config = plan.sim_config(&args);
    let tracker = TaskTracker::new();
    let sim = Simulator::start_with(config, args.listen, &tracker, &cancel).await?;
    let scenario = &plan.scenario;
    // (account id, label for the output, its sender)
    let played: Vec<(String, String, Option<WebhookSender>)> = if plan.accounts.is_empty() {
        print_connection(&sim);
        let id = sim.credentials().account_id.clone();
        vec![(id, String::new(), plan.webhooks.clone())]
    } else {
        println!("Zoom simulator listening on http://{}", sim.local_addr());
        print!("{}", accounts::connection_text(&sim, &plan.accounts));
        plan.accounts
            .iter()
            .map(|a| {
                let id = a.account.credentials.account_id.clone();
                (id, format!("{}: ", a.name), a.webhooks.clone())
            })
            .collect()
    };
    println!(
        "scenario {}: {} simulated minutes, about {} of wall time",
        scenario.name,
        scenario.length_minutes(),
        qoswatch_core::duration::display(wall_time(scenario, args.sample_period))
    );
    for (_, label, sender) in &played {
        if let Some(sender) = sender {
            check_url_validation(label, sender).await;
        }
    }
    let report = play(&sim, scenario, played, &cancel).await?;
    if !report.cancelled {
        println!(
            "scenario {} done: {} steps, {} webhooks ({} failed); serving until stopped",
            scenario.name, report.steps_run, report.webhooks_sent, report.webhook_failures
        );
        cancel.cancelled().await;
    }
    sim.shutdown().await;
    tracker.close();
    tracker.wait().await;
    let log = sim.log();
    println!(
        "simulator stopped after {} token and {} QoS requests",
        log.token_requests(),
        log.qos_requests().len()
    );
    Ok(())
}

/// Checked as Zoom checks it: a wrong answer is reported, not just the status.
async fn check_url_validation(label: &str, sender: &WebhookSender) {
    match sender.check_url_validation("simulatorPlainToken01").await {
        Ok(answer) => println!("{label}url_validation answered {}", answer.status),
        Err(WebhookError::BadUrlValidation(BadAnswer::Status(status))) => {
            println!("{label}url_validation answered {status}")
        }
        Err(error) => println!("{label}url_validation failed: {error:#}"),
    }
}

/// Plays `scenario` in every account at once; the reports added up.
async fn play(
    sim: &SimHandle,
    scenario: &Scenario,
    played: Vec<(String, String, Option<WebhookSender>)>,
    cancel: &CancellationToken,
) -> anyhow::Result<ScenarioReport> {
    let mut runs = JoinSet::new();
    for (account_id, _, sender) in played {
        let (sim, scenario, cancel) = (sim.clone(), scenario.clone(), cancel.clone());
        runs.spawn(async move {
            scenario
                .run_in(&sim, &account_id, sender.as_ref(), &cancel)
                .await
        });
    }
    let mut total = ScenarioReport::default();
    while let Some(run) = runs.join_next().await {
        let report = run.context("a scenario run panicked")??;
        total.steps_run += report.steps_run;
        total.webhooks_sent += report.webhooks_sent;
        total.webhook_failures += report.webhook_failures;
        total.cancelled |= report.cancelled;
    }
    Ok(total)
}

/// What to point qoswatch at. The credentials are the simulator's own,
/// generated for this run: printing them is the point.
fn print_connection(sim: &super::SimHandle) {
    use secrecy::ExposeSecret;
    let credentials = sim.credentials();
    println!("Zoom simulator listening on http://{}", sim.local_addr());
    println!("Point qoswatch at it with:");
    println!("  QOSWATCH_ZOOM_API_BASE={}", sim.api_base());
    println!("  QOSWATCH_ZOOM_TOKEN_URL={}", sim.token_url());
    println!("  {ENV_ACCOUNT_ID}={}", credentials.account_id);
    println!("  {ENV_CLIENT_ID}={}", credentials.client_id);
    println!(
        "  {ENV_CLIENT_SECRET}={}",
        credentials.client_secret.expose_secret()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn no_secrets(_: &str) -> anyhow::Result<Option<String>> {
        Ok(None)
    }

    /// `qoswatch simulate ARGV…` parsed (also for `accounts::tests`).
    pub(super) fn parse(argv: &[&str]) -> Result<SimulateArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("simulate").chain(argv.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn defaults_and_flags_parse() {
        let args = parse(&[]).expect("defaults");
        assert_eq!(args.sample_period, Duration::from_secs(10));
        assert_eq!(args.scenario, ScenarioKind::Demo);
        assert_eq!(args.webhook_secret_env, "ZOOM_WEBHOOK_SECRET_TOKEN");
        assert_eq!(args.listen.port(), 0);
        let args = parse(&[
            "--scenario",
            "load",
            "--meetings",
            "3",
            "--participants",
            "40",
            "--sample-period",
            "1s",
            "--qps-limit",
            "40",
            "--random-429",
            "0.05",
            "--listen",
            "127.0.0.1:9911",
            "--webhook-url",
            "http://127.0.0.1:8080/webhooks/zoom",
            "--webhook-secret-env",
            "MY_SECRET",
        ])
        .expect("flags");
        assert_eq!(args.scenario, ScenarioKind::Load);
        assert_eq!((args.meetings, args.participants), (3, 40));
        assert_eq!(args.sample_period, Duration::from_secs(1));
        assert_eq!(args.qps_limit, Some(40));
        assert_eq!(args.random_429, 0.05);
        assert_eq!(args.webhook_secret_env, "MY_SECRET");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--random-429", "1.5"]).is_err());
        assert!(parse(&["--sample-period", "often"]).is_err());
        assert!(parse(&["--scenario", "chaos"]).is_err());
        assert!(
            parse(&["--qss"]).is_err(),
            "QSS events need somewhere to go"
        );
    }

    #[test]
    fn qss_turns_the_scenarios_events_on() {
        let secret = |_: &str| Ok(Some("s3cret".to_owned()));
        let args =
            parse(&["--qss", "--webhook-url", "http://127.0.0.1:9/webhooks/zoom"]).expect("flags");
        assert!(args.qss);
        assert!(Plan::from_args(&args, &secret).expect("plan").scenario.qss);
        let args = parse(&["--webhook-url", "http://127.0.0.1:9/webhooks/zoom"]).expect("flags");
        assert!(!Plan::from_args(&args, &secret).expect("plan").scenario.qss);
    }

    #[tokio::test]
    async fn a_missing_secret_variable_is_a_clear_error() {
        let args = parse(&[
            "--webhook-url",
            "http://127.0.0.1:9/webhooks/zoom",
            "--webhook-secret-env",
            "QOSWATCH_TEST_SURELY_UNSET_SECRET_VAR",
        ])
        .expect("parses");
        let error = run(args, CancellationToken::new(), &no_secrets)
            .await
            .expect_err("no secret");
        assert!(
            error
                .to_string()
                .contains("QOSWATCH_TEST_SURELY_UNSET_SECRET_VAR"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn the_secret_comes_from_the_named_variable() {
        let args = parse(&[
            "--webhook-url",
            "http://127.0.0.1:9/webhooks/zoom",
            "--webhook-secret-env",
            "SIM_SECRET",
            "--scenario",
            "load",
        ])
        .expect("parses");
        let secrets = |name: &str| Ok((name == "SIM_SECRET").then(|| "s3cret".to_owned()));
        let cancel = CancellationToken::new();
        cancel.cancel();
        run(args, cancel, &secrets)
            .await
            .expect("starts with the secret from SIM_SECRET and stops when cancelled");
    }

    #[tokio::test]
    async fn bad_load_sizes_and_periods_are_refused() {
        let zero = parse(&["--scenario", "load", "--meetings", "0"]).expect("parses");
        assert!(
            run(zero, CancellationToken::new(), &no_secrets)
                .await
                .is_err()
        );
        let fast = parse(&["--sample-period", "1ms"]).expect("parses");
        assert!(
            run(fast, CancellationToken::new(), &no_secrets)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn runs_until_cancelled() {
        let args = parse(&["--scenario", "load", "--sample-period", "50ms"]).expect("parses");
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let running = tokio::spawn(async move { run(args, stop, &no_secrets).await });
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("stops in time")
            .expect("joins")
            .expect("clean exit");
    }
}
