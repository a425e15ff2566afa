//! `qoswatch backtest --account` with several accounts in the settings: the
//! named account's meetings are fetched with its own credentials, and the
//! replayed calls belong to it, so rules scoped on an account apply as in
//! the server. The same meeting UUID exists in both accounts.

use std::time::Duration;

use qoswatch_testkit::{ZoomAccount, zoom_accounts_env};
use qoswatch_zoomsim::{Degradation, MeetingSpec, ParticipantSpec, SimAccount, SimConfig, Target};

use super::eventually;
use super::harness::{backtest, path_str, start_sim, temp_dir, write};

const MEETING: &str = "accAAAiAAAAAiAiAiiAii==";
const ACME: ZoomAccount<'static> = ZoomAccount {
    name: "acme",
    account_id: "simAccount0000000000001",
    webhook_secret: "acme-secret",
};
const GLOBEX: ZoomAccount<'static> = ZoomAccount {
    name: "globex",
    account_id: "simAccount0000000000002",
    webhook_secret: "globex-secret",
};

/// The same loss rule once per account: which fires says whose meeting
/// the replay thought it was.
const RULES: &str = r#"
channels:
  out: { type: console }
defaults:
  route: { channels: [out] }
rules:
  - &loss
    name: acme-loss
    metric: audio_input.avg_loss
    above: 5%
    for: 2 samples
    scope: { account: acme }
  - <<: *loss
    name: globex-loss
    scope: { account: globex }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_named_account_s_meetings_are_fetched_and_replayed_as_its_own() {
    let dir = temp_dir("accounts");
    let rules = write(&dir, "rules.yaml", RULES);
    let sim = start_sim(SimConfig {
        sample_period: Duration::from_millis(40),
        clock_start: Some(super::morning()),
        extra_accounts: vec![SimAccount::numbered(2)],
        ..SimConfig::default()
    })
    .await;
    // The same meeting UUID in both accounts; only globex's loses packets.
    let person = ParticipantSpec::new("16790001", "Ann Lee");
    sim.add_degradation_in(
        GLOBEX.account_id,
        Degradation::packet_loss(Target::participant("16790001"), 2..6, 15.0),
    )
    .expect("globex");
    for account in [ACME, GLOBEX] {
        let meeting =
            MeetingSpec::new(MEETING, 84_000_000_002, "Weekly sync").in_account(account.account_id);
        sim.add_meeting(meeting).expect("meeting");
        sim.add_participant_in(account.account_id, MEETING, person.clone())
            .expect("join");
    }
    let start = sim.sim_now();
    assert!(
        eventually(Duration::from_secs(30), || sim.sim_now()
            >= start + chrono::TimeDelta::minutes(8))
        .await
    );
    for account in [ACME, GLOBEX] {
        sim.end_meeting_in(account.account_id, MEETING)
            .expect("end");
    }
    let settings = write(
        &dir,
        "settings.yaml",
        &format!(
            "zoom:\n  requests_per_second: 20\n  rate_share: 1\n{}",
            qoswatch_testkit::zoom_accounts_yaml(&sim, &[ACME, GLOBEX])
        ),
    );
    let env: std::collections::HashMap<String, String> = zoom_accounts_env(&sim, &[ACME, GLOBEX])
        .into_iter()
        .collect();
    let run = |account: Option<&'static str>| {
        let (rules, settings, env) = (
            path_str(&rules).to_owned(),
            path_str(&settings).to_owned(),
            env.clone(),
        );
        async move {
            let mut args = vec![
                rules.as_str(),
                "--meeting",
                MEETING,
                "--config",
                settings.as_str(),
                "--format",
                "json",
            ];
            if let Some(account) = account {
                args.extend(["--account", account]);
            }
            backtest(&args, &env).await
        }
    };

    let asked_by = |account: &str| {
        sim.log()
            .requests()
            .filter(|r| r.account_id.as_deref() == Some(account))
            .count()
    };
    let globex = run(Some("globex")).await;
    assert_eq!(globex.code, 0, "{}\n{}", globex.stdout, globex.stderr);
    assert!(
        asked_by(GLOBEX.account_id) > 0,
        "globex's meeting asked with globex's token"
    );
    assert_eq!(asked_by(ACME.account_id), 0, "nothing asked as acme");
    let fired = |report: &serde_json::Value| -> Vec<String> {
        report["rules"]["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter(|r| r["alerts"].as_u64().unwrap_or(0) > 0)
            .filter_map(|r| r["rule"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(fired(&globex.json()), ["globex-loss"], "{}", globex.stdout);
    let acme = run(Some("acme")).await;
    assert_eq!(acme.code, 0, "{}", acme.stderr);
    assert!(
        fired(&acme.json()).is_empty(),
        "acme's meeting was fine: {}",
        acme.stdout
    );

    // Several accounts and none named, or one the settings do not have.
    let unnamed = run(None).await;
    assert_eq!(unnamed.code, 2);
    assert!(
        unnamed
            .stderr
            .contains("several Zoom accounts (acme, globex)"),
        "{}",
        unnamed.stderr
    );
    let unknown = run(Some("initech")).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("--account initech"),
        "{}",
        unknown.stderr
    );
}
