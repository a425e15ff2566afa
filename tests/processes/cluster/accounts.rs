//! Two Zoom accounts on three replicas (issue 27): the same meeting UUIDs
//! and user ids in both accounts, every webhook through one replica; once
//! the others join and the leases are rebalanced, every watch is polled by
//! one replica at a time, always with its own account's token, and acme's
//! alert, open across its meeting's hand-over, is sent once, on acme's
//! channel only.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use qoswatch_testkit::{FakeSlack, ZoomAccount, eventually, zoom_accounts_env, zoom_accounts_yaml};
use qoswatch_zoomsim::webhooks::WebhookSender;
use qoswatch_zoomsim::{Degradation, MeetingSpec, ParticipantSpec, SimAccount, SimConfig, Target};
use secrecy::SecretString;

use super::{Cluster, INTERVAL, Replica, TTL};
use crate::accounts::{ACME, GLOBEX, RULES};
use crate::setup::start;

/// A watch as the simulator sees it: the account of the token it was
/// polled with, and the participant.
type Watch = (String, String);

struct TwoAccounts {
    cluster: Cluster,
    acme_slack: FakeSlack,
    globex_slack: FakeSlack,
}

impl TwoAccounts {
    async fn new() -> TwoAccounts {
        let sim_config = SimConfig {
            extra_accounts: vec![SimAccount::numbered(2)],
            ..SimConfig::default()
        };
        let cluster = Cluster::new(sim_config).await;
        // One rule per account, each routed to that account's Slack.
        std::fs::write(cluster.dir.path().join("rules.yaml"), RULES).expect("rules");
        TwoAccounts {
            cluster,
            acme_slack: FakeSlack::start(Vec::new()).await,
            globex_slack: FakeSlack::start(Vec::new()).await,
        }
    }

    /// Starts a replica watching both accounts; waits for its listeners.
    async fn replica(&self, name: &str) -> Replica {
        let cluster = &self.cluster;
        let text = format!(
            "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  shutdown_grace: 15s\n\
             zoom:\n  request_timeout: 2s\n  daily_limit: 50000000\n  requests_per_second: 40\n  rate_share: 1.0\n\
             polling:\n  mode: fixed\n  interval: {interval}ms\n  max_backoff: 1s\n\
             rules:\n  file: {rules}\n\
             store:\n  lease_ttl: {ttl}ms\n  replica_name: {name}\n\
             alerts:\n  dispatch:\n    group_window: 0s\n    slack_min_interval: 10ms\n    shutdown_grace: 2s\n\
             {accounts}",
            interval = INTERVAL.as_millis(),
            rules = cluster.dir.path().join("rules.yaml").display(),
            ttl = TTL.as_millis(),
            accounts = zoom_accounts_yaml(&cluster.sim, &[ACME, GLOBEX]),
        );
        let config = cluster.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&config, text).expect("config");
        let mut env = zoom_accounts_env(&cluster.sim, &[ACME, GLOBEX]);
        env.push(("ACME_SLACK_URL".into(), self.acme_slack.url("T1/B1/acme")));
        env.push((
            "GLOBEX_SLACK_URL".into(),
            self.globex_slack.url("T2/B2/globex"),
        ));
        env.push(("QOSWATCH_DATABASE_URL".into(), cluster.database.clone()));
        let service = start(&config, &env, &[]);
        let address = service.address().await;
        let admin = service.admin_address().await;
        Replica {
            service,
            address,
            admin,
        }
    }

    /// `user` joins meeting `index` of `account` at the simulator (which
    /// starts it when `first`), and Zoom tells `replica` at the account's
    /// webhook URL.
    async fn join(
        &self,
        account: ZoomAccount<'_>,
        (index, first): (usize, bool),
        user: &str,
        replica: &Replica,
    ) {
        let sim = &self.cluster.sim;
        let meeting = MeetingSpec::new(
            format!("aCcOuNtS{index:02}ClUsTeRuUiD=="),
            84712639300 + index as u64,
            format!("Meeting {index}"),
        )
        .in_account(account.account_id);
        if first {
            sim.add_meeting(meeting.clone()).expect("meeting");
        }
        let person = ParticipantSpec::new(user, format!("Person {user}"));
        sim.add_participant_in(account.account_id, &meeting.uuid, person.clone())
            .expect("participant");
        let sender = WebhookSender::new(
            &format!("http://{}/webhooks/zoom/{}", replica.address, account.name),
            SecretString::from(account.webhook_secret.to_owned()),
        )
        .expect("sender")
        .with_account_id(account.account_id);
        let now = sim.sim_now();
        let answer = sender
            .participant_joined(&meeting, now, &person, now)
            .await
            .expect("webhook sent");
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    /// [`join`](Self::join) of a watch of meeting `id % 100`, the
    /// meeting's first participant below 16950100.
    async fn join_watch(&self, (account, user): &Watch, replica: &Replica) {
        let account = if *account == ACME.account_id {
            ACME
        } else {
            GLOBEX
        };
        let id = user.parse::<usize>().expect("id");
        let meeting = (id % 100, id < 16_950_100);
        self.join(account, meeting, user, replica).await;
    }

    /// QoS requests per watch: (arrival, bearer token, status) in order.
    fn polls(&self) -> BTreeMap<Watch, Vec<(Instant, String, u16)>> {
        let mut polls: BTreeMap<Watch, Vec<(Instant, String, u16)>> = BTreeMap::new();
        for request in self.cluster.sim.qos_requests() {
            let Some(user) = request.raw_path.rsplit('/').nth(1) else {
                continue;
            };
            let account = request.account_id.clone().unwrap_or_default();
            polls.entry((account, user.to_owned())).or_default().push((
                request.arrived_at.into_std(),
                request.bearer_token.clone().unwrap_or_default(),
                request.status,
            ));
        }
        polls
    }

    fn firing(slack: &FakeSlack) -> usize {
        slack
            .delivered()
            .iter()
            .filter(|text| text.starts_with("[FIRING]"))
            .count()
    }
}

fn watch(account: ZoomAccount<'_>, user: &str) -> Watch {
    (account.account_id.to_owned(), user.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_on_three_replicas_are_polled_once_each_with_their_own_token() {
    let accounts = TwoAccounts::new().await;
    let first = accounts.replica("first").await;
    let second = accounts.replica("second").await;
    let third = accounts.replica("third").await;
    // Three meetings in each account with the same UUIDs and user ids, and
    // one participant more in each account's meeting 1 (polled with the
    // other account's token, Zoom would answer 404).
    let mut watches = Vec::new();
    for account in [ACME, GLOBEX] {
        for m in 0..3 {
            let user = format!("{}", 16_950_000 + m);
            watches.push(watch(account, &user));
        }
    }
    let (acme_only, globex_only) = ("16950101", "16950201");
    watches.push(watch(ACME, acme_only));
    watches.push(watch(GLOBEX, globex_only));
    // Acme's meeting 2 has a participant with bad audio from the third
    // sample on; globex's participant of the same ids is fine. It starts
    // first, alone, and fires on the first replica.
    let degraded = "16950002";
    accounts
        .cluster
        .sim
        .add_degradation_in(
            ACME.account_id,
            Degradation::bad_wifi(Target::participant(degraded), 2..10_000),
        )
        .expect("degradation");
    let first_watch = watches.remove(2);
    watches.insert(0, first_watch);
    assert_eq!(watches[0], watch(ACME, degraded));
    accounts.join_watch(&watches[0], &first).await;
    assert!(
        eventually(Duration::from_secs(20), || TwoAccounts::firing(
            &accounts.acme_slack
        ) >= 1)
        .await,
        "no FIRING from the first replica:\n{}",
        first.service.logs()
    );
    // Every other webhook through the first replica too: it holds every
    // meeting until its heartbeat hands those over its fair share plus one
    // back (the last by account and UUID first: acme's meeting 2 among
    // them), and every replica ends up with a share.
    for watch in &watches[1..] {
        accounts.join_watch(watch, &first).await;
    }
    let replicas = [&first, &second, &third];
    let deadline = TTL * 3 + Duration::from_secs(6);
    let mut held = Vec::new();
    let started = Instant::now();
    while started.elapsed() < deadline {
        held.clear();
        for replica in replicas {
            held.push(replica.ready().await.1["meetings"].as_u64().unwrap_or(0));
        }
        if held.iter().all(|m| (1..=3).contains(m)) && held.iter().sum::<u64>() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        held.iter().all(|m| (1..=3).contains(m)) && held.iter().sum::<u64>() == 6,
        "six meetings on three replicas, none more than ceil(6 / 3) + 1: {held:?}\n{}",
        first.service.logs()
    );
    // A few more polls of everybody after the hand-overs.
    let now = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || {
            let polls = accounts.polls();
            watches.iter().all(|w| {
                polls
                    .get(w)
                    .is_some_and(|p| p.iter().filter(|(at, _, _)| *at > now).count() >= 3)
            })
        })
        .await,
        "not every watch polled after the rebalancing: {:?}",
        accounts
            .polls()
            .iter()
            .map(|(w, p)| (w.clone(), p.len()))
            .collect::<Vec<_>>()
    );

    let polls = accounts.polls();
    assert_eq!(
        polls.keys().cloned().collect::<BTreeSet<_>>(),
        watches.iter().cloned().collect(),
        "each account's participants, polled with that account's tokens, and no other"
    );
    for (watch, polls) in &polls {
        // Always found: polled with its own account's token.
        assert!(
            polls.iter().all(|(_, _, status)| *status == 200),
            "{watch:?}: {:?}",
            polls.iter().map(|p| p.2).collect::<Vec<_>>()
        );
        // Never by two replicas at once: once another replica polled it,
        // the one before never did again.
        let mut done_with = BTreeSet::new();
        let mut current: Option<&String> = None;
        for (_, token, _) in polls {
            if current != Some(token) {
                assert!(
                    !done_with.contains(token),
                    "{watch:?} polled again by a replica that had handed it over"
                );
                if let Some(previous) = current.replace(token) {
                    done_with.insert(previous);
                }
            }
        }
    }
    let degraded_polls = &polls[&watch(ACME, degraded)];
    assert_ne!(
        degraded_polls.first().map(|p| &p.1),
        degraded_polls.last().map(|p| &p.1),
        "the degraded participant's meeting moved to another replica"
    );
    // Its alert, restored by the new holder, is not sent again; globex's
    // channel never hears of it.
    assert_eq!(
        TwoAccounts::firing(&accounts.acme_slack),
        1,
        "{:?}",
        accounts.acme_slack.delivered()
    );
    assert!(
        accounts.acme_slack.delivered()[0].contains(&format!("Person {degraded}")),
        "{:?}",
        accounts.acme_slack.delivered()
    );
    assert!(
        accounts.globex_slack.requests().is_empty(),
        "{:?}",
        accounts.globex_slack.requests()
    );
}
