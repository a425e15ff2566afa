//! `qoswatch simulate --accounts N`: the accounts the simulator plays, each
//! with a short name (`acct1`, `acct2`, …), its app's credentials, its
//! Webhook Secret Token and its webhook target (`<--webhook-url>/<name>`,
//! qoswatch's `/webhooks/zoom/{account}`); and what to paste into qoswatch
//! for them: an `accounts:` block for its settings file and each account's
//! environment variables (`ZOOM_<NAME>_CLIENT_ID`, …).

use std::fmt::Write as _;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

use super::{ENV_WEBHOOK_SECRET, SecretLookup, SimulateArgs};
use crate::webhooks::WebhookSender;
use crate::{SimAccount, SimCredentials, SimHandle, random_token};

/// Most accounts one simulator plays.
pub(super) const MAX_ACCOUNTS: u32 = 100;

/// The name of the environment variable qoswatch reads account `name`'s
/// secret or id from: `ZOOM_`, the name upper-cased with `-` as `_`, then
/// `_` and `suffix`; e.g. `ZOOM_ACCT1_CLIENT_SECRET` for `acct1` and
/// `CLIENT_SECRET`.
pub fn account_env_var(name: &str, suffix: &str) -> String {
    let name = name.to_ascii_uppercase().replace('-', "_");
    format!("ZOOM_{name}_{suffix}")
}

/// One account of the run.
pub(super) struct PlayedAccount {
    /// Short name in qoswatch's settings and webhook URL: `acct<n>`.
    pub(super) name: String,
    pub(super) account: SimAccount,
    pub(super) webhook_secret: SecretString,
    /// The secret came from the environment (not printed) rather than
    /// being generated for this run (printed).
    pub(super) secret_from_env: bool,
    /// Its sender, when `--webhook-url` asks for webhooks.
    pub(super) webhooks: Option<WebhookSender>,
}

/// The `--accounts` accounts (more than one). Each account's Webhook
/// Secret Token comes from `ZOOM_<NAME>_WEBHOOK_SECRET_TOKEN` (through
/// `secrets`) or, when that is not set, is generated and printed.
pub(super) fn plan(
    args: &SimulateArgs,
    secrets: SecretLookup<'_>,
) -> anyhow::Result<Vec<PlayedAccount>> {
    if args.accounts > MAX_ACCOUNTS {
        bail!(
            "--accounts is {}, more than the {MAX_ACCOUNTS} the simulator plays",
            args.accounts
        );
    }
    if args.webhook_secret_env != ENV_WEBHOOK_SECRET {
        bail!(
            "--webhook-secret-env names one account's secret; with --accounts {} each account's comes from ZOOM_<NAME>_WEBHOOK_SECRET_TOKEN (ZOOM_ACCT1_WEBHOOK_SECRET_TOKEN, …)",
            args.accounts
        );
    }
    (1..=args.accounts)
        .map(|n| {
            let name = format!("acct{n}");
            let variable = account_env_var(&name, "WEBHOOK_SECRET_TOKEN");
            let (webhook_secret, secret_from_env) = match secrets(&variable)? {
                Some(secret) => (SecretString::from(secret), true),
                None => (SecretString::from(random_token(32)), false),
            };
            let account = SimAccount {
                credentials: SimCredentials::generate_numbered(n),
                qps_limit: args.qps_limit,
                daily_limit: args.daily_limit,
            };
            let webhooks = match &args.webhook_url {
                Some(url) => {
                    let target = format!("{}/{name}", url.trim_end_matches('/'));
                    let sender = WebhookSender::new(&target, webhook_secret.clone())
                        .context("--webhook-url is not a usable http(s) URL")?;
                    Some(sender.with_account_id(&account.credentials.account_id))
                }
                None => None,
            };
            Ok(PlayedAccount {
                name,
                account,
                webhook_secret,
                secret_from_env,
                webhooks,
            })
        })
        .collect()
}

/// What to give qoswatch for the accounts `sim` plays: an `accounts:`
/// block for its settings file, then each account's environment. The
/// credentials and generated secrets are the simulator's own, made for
/// this run: printing them is the point.
pub(super) fn connection_text(sim: &SimHandle, accounts: &[PlayedAccount]) -> String {
    let mut text = format!(
        "Playing {} Zoom accounts. Put these accounts in qoswatch's settings file:\naccounts:\n",
        accounts.len()
    );
    for played in accounts {
        let account = &played.account;
        // Infallible: writing to a String.
        let _ = writeln!(text, "  - name: {}", played.name);
        let _ = writeln!(
            text,
            "    account_id: \"{}\"",
            account.credentials.account_id
        );
        let _ = writeln!(text, "    api_base: \"{}\"", sim.api_base());
        let _ = writeln!(text, "    token_url: \"{}\"", sim.token_url());
        if let Some(limit) = account.qps_limit {
            let _ = writeln!(text, "    requests_per_second: {limit}");
        }
        if let Some(limit) = account.daily_limit {
            let _ = writeln!(text, "    daily_limit: {limit}");
        }
    }
    text.push_str("and this environment:\n");
    for played in accounts {
        let credentials = &played.account.credentials;
        let var = |suffix: &str| account_env_var(&played.name, suffix);
        let _ = writeln!(text, "  {}={}", var("CLIENT_ID"), credentials.client_id);
        let _ = writeln!(
            text,
            "  {}={}",
            var("CLIENT_SECRET"),
            credentials.client_secret.expose_secret()
        );
        if played.secret_from_env {
            let _ = writeln!(
                text,
                "  # {}: as set in this environment",
                var("WEBHOOK_SECRET_TOKEN")
            );
        } else {
            let _ = writeln!(
                text,
                "  {}={}",
                var("WEBHOOK_SECRET_TOKEN"),
                played.webhook_secret.expose_secret()
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;

    use serde_json::Value as Json;

    use crate::Simulator;
    use crate::cli::Plan;

    fn parse(argv: &[&str]) -> SimulateArgs {
        crate::cli::tests::parse(argv).expect("parses")
    }

    /// Only account 2's webhook secret is in the environment.
    fn second_secret(name: &str) -> anyhow::Result<Option<String>> {
        Ok((name == "ZOOM_ACCT2_WEBHOOK_SECRET_TOKEN").then(|| "secondSecret".to_owned()))
    }

    #[tokio::test]
    async fn the_printed_accounts_and_environment_get_each_account_its_token() {
        let args = parse(&[
            "--accounts",
            "2",
            "--qps-limit",
            "10",
            "--daily-limit",
            "500",
        ]);
        let plan = Plan::from_args(&args, &second_secret).expect("plan");
        let sim = Simulator::start(plan.sim_config(&args), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("starts");
        let text = connection_text(&sim, &plan.accounts);
        // The settings block: from `accounts:` to the environment's heading.
        let yaml: String = text
            .lines()
            .skip_while(|line| *line != "accounts:")
            .take_while(|line| !line.starts_with("and this environment"))
            .map(|line| format!("{line}\n"))
            .collect();
        let settings: Json = serde_saphyr::from_str(&yaml).expect("valid YAML");
        let accounts = settings["accounts"].as_array().expect("a list");
        assert_eq!(accounts.len(), 2, "{text}");
        for (account, sim_account) in accounts.iter().zip(sim.accounts()) {
            assert_eq!(account["account_id"], *sim_account.credentials.account_id);
            assert_eq!(account["api_base"], *sim.api_base());
            assert_eq!(account["token_url"], *sim.token_url());
            assert_eq!(account["requests_per_second"], 10);
            assert_eq!(account["daily_limit"], 500);
        }
        assert_eq!(accounts[1]["name"], "acct2");
        let environment: HashMap<&str, &str> = text
            .lines()
            .filter_map(|line| line.trim().split_once('='))
            .collect();
        assert_eq!(environment.len(), 5, "{text}");
        assert_eq!(
            environment["ZOOM_ACCT1_WEBHOOK_SECRET_TOKEN"].len(),
            32,
            "generated and printed"
        );
        assert!(
            text.contains("# ZOOM_ACCT2_WEBHOOK_SECRET_TOKEN: as set in this environment"),
            "{text}"
        );
        assert!(
            !text.contains("secondSecret"),
            "a given secret is not printed"
        );

        // What was printed for acct2 gets a token of acct2's account.
        let token = reqwest::Client::new()
            .post(accounts[1]["token_url"].as_str().expect("url"))
            .basic_auth(
                environment["ZOOM_ACCT2_CLIENT_ID"],
                Some(environment["ZOOM_ACCT2_CLIENT_SECRET"]),
            )
            .form(&[
                ("grant_type", "account_credentials"),
                (
                    "account_id",
                    accounts[1]["account_id"].as_str().expect("id"),
                ),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(token.status(), 200);
        assert_eq!(
            sim.log()
                .tokens_issued_to(&sim.accounts()[1].credentials.account_id),
            1
        );
        sim.shutdown().await;
    }

    #[test]
    fn several_accounts_take_their_secrets_by_account() {
        let args = parse(&["--accounts", "2", "--webhook-secret-env", "MY_SECRET"]);
        let error = Plan::from_args(&args, &second_secret)
            .err()
            .expect("one variable cannot hold two accounts' secrets");
        assert!(
            error
                .to_string()
                .contains("ZOOM_<NAME>_WEBHOOK_SECRET_TOKEN"),
            "{error}"
        );
        let too_many = parse(&["--accounts", "101"]);
        assert!(Plan::from_args(&too_many, &second_secret).is_err());
        let load = parse(&[
            "--accounts",
            "3",
            "--scenario",
            "load",
            "--meetings",
            "200",
            "--participants",
            "200",
        ]);
        let error = Plan::from_args(&load, &second_secret)
            .err()
            .expect("120,000 participants in all");
        assert!(error.to_string().contains("--accounts"), "{error}");
        assert!(
            crate::cli::tests::parse(&["--accounts", "0"]).is_err(),
            "at least one account"
        );
    }

    #[test]
    fn account_variables_are_named_as_qoswatch_reads_them() {
        assert_eq!(
            account_env_var("acct1", "CLIENT_ID"),
            "ZOOM_ACCT1_CLIENT_ID"
        );
        assert_eq!(
            account_env_var("emea-west-2", "WEBHOOK_SECRET_TOKEN"),
            "ZOOM_EMEA_WEST_2_WEBHOOK_SECRET_TOKEN"
        );
    }
}
