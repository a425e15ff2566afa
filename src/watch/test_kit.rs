//! What the watchers' unit tests start from: a sink that records what its
//! observers hear, a polling context whose client is never asked (for the
//! meeting loop's decisions), and a [`Kit`]: a [`Monitor`] polling the
//! simulator (`qoswatch-zoomsim`, a fake Zoom on loopback HTTP).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::registry::Registry;
use qoswatch_core::alert::{MeetingInfo, ParticipantInfo, ParticipantKey};
use qoswatch_core::qos::QosSample;
use qoswatch_core::rules::SavedState;
use qoswatch_core::subject::{StopReason, WatchSubject};
use qoswatch_zoomsim::{MeetingSpec, ParticipantSpec, SimConfig, SimHandle, Simulator};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::meeting::PollContext;
use super::metrics::WatchMetrics;
use super::settings::PollingSettings;
use super::sink::{SampleSink, SharedSubject, WatchObserver};
use super::{Monitor, MonitorParts, StartOutcome};
use crate::logging::LogEvery;
use crate::quota::budget::Budget;
use crate::quota::{Planner, PollingMode};
use crate::store::Store;
use crate::zoom::client::{ClientSettings, Credentials, ZoomClient};

/// What the observers of a [`RecordingSink`] heard.
#[derive(Debug, Default)]
pub(super) struct Heard {
    /// `(user_id, date_time, the sample had streams)`, in order.
    pub(super) samples: Vec<(String, DateTime<Utc>, bool)>,
    pub(super) idles: usize,
    pub(super) finished: Vec<(String, StopReason)>,
}

impl Heard {
    /// The times of `user_id`'s samples, in the order heard.
    pub(super) fn times(&self, user_id: &str) -> Vec<DateTime<Utc>> {
        self.samples
            .iter()
            .filter(|(user, ..)| user == user_id)
            .map(|(_, at, _)| *at)
            .collect()
    }
}

/// A sink whose observers write down what they hear.
#[derive(Debug, Clone, Default)]
pub(super) struct RecordingSink {
    heard: Arc<Mutex<Heard>>,
}

impl RecordingSink {
    pub(super) fn heard(&self) -> MutexGuard<'_, Heard> {
        self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SampleSink for RecordingSink {
    fn open(&self, _: &SharedSubject, _: Option<SavedState>) -> Box<dyn WatchObserver> {
        Box::new(self.clone())
    }
}

impl WatchObserver for RecordingSink {
    fn sample(&mut self, subject: &SharedSubject, sample: &QosSample, _: DateTime<Utc>) {
        self.heard().samples.push((
            subject.key.user_id.clone(),
            sample.at,
            !sample.streams.is_empty(),
        ));
    }

    fn idle(&mut self, _: &SharedSubject, _: DateTime<Utc>) {
        self.heard().idles += 1;
    }

    fn finished(&mut self, subject: &SharedSubject, reason: StopReason, _: DateTime<Utc>) {
        self.heard()
            .finished
            .push((subject.key.user_id.clone(), reason));
    }
}

/// Polling settings for tests: fast, one request per participant.
pub(super) fn fast_settings() -> PollingSettings {
    PollingSettings {
        mode: PollingMode::Fixed,
        interval: Duration::from_millis(200),
        max_backoff: Duration::from_millis(400),
        ..PollingSettings::default()
    }
}

/// A polling context whose client points at `api_base` (for the meeting
/// loop's decisions, a port nothing listens on: never asked).
pub(super) fn poll_context(
    settings: PollingSettings,
    api_base: &str,
    token_url: &str,
    credentials: Credentials,
    registry: &mut Registry,
) -> PollContext {
    let (client, planner) =
        client_and_planner(&settings, api_base, token_url, credentials, registry);
    PollContext {
        client,
        planner,
        settings,
        qss: crate::watch::settings::QssSettings::default(),
        metrics: WatchMetrics::register(registry),
        samples_dropped_log: LogEvery::new(Duration::from_secs(60)),
        fallback_log: LogEvery::new(Duration::from_secs(60)),
    }
}

/// A client of `api_base` and a planner, on one budget.
fn client_and_planner(
    settings: &PollingSettings,
    api_base: &str,
    token_url: &str,
    credentials: Credentials,
    registry: &mut Registry,
) -> (Arc<ZoomClient>, Arc<Planner>) {
    let budget = Arc::new(Budget::new(50, 50_000_000, registry));
    let client = ZoomClient::new(
        ClientSettings {
            api_base: api_base.to_owned(),
            token_url: token_url.to_owned(),
            request_timeout: Duration::from_millis(800),
            token_refresh_margin: Duration::from_secs(60),
            max_answer_bytes: 4 << 20,
            max_requests_in_flight: crate::zoom::settings::DEFAULT_MAX_REQUESTS_IN_FLIGHT,
        },
        credentials,
        budget.clone(),
        registry,
    )
    .expect("client builds");
    let planner = Planner::new(settings.plan(), 1.0, budget, registry);
    (Arc::new(client), Arc::new(planner))
}

/// Credentials no server checks.
pub(super) fn no_credentials() -> Credentials {
    Credentials {
        account_id: SecretString::from("account"),
        client_id: SecretString::from("client"),
        client_secret: SecretString::from("secret"),
    }
}

/// A key, its meeting and its participant as a `participant_joined` names them.
pub(super) fn subject(meeting_uuid: &str, user_id: &str) -> WatchSubject {
    WatchSubject {
        key: ParticipantKey::new(meeting_uuid, user_id),
        meeting: MeetingInfo {
            account: Default::default(),
            uuid: meeting_uuid.to_owned(),
            id: Some("85746065432".to_owned()),
            topic: Some("Weekly sync".to_owned()),
            kind: Default::default(),
        },
        participant: ParticipantInfo {
            user_id: user_id.to_owned(),
            name: Some(format!("Participant {user_id}")),
            ..ParticipantInfo::default()
        },
    }
}

/// A sample at `at`, without streams (told apart from the simulator's).
pub(super) fn bare_sample(at: DateTime<Utc>) -> QosSample {
    QosSample {
        at,
        ..QosSample::default()
    }
}

/// Polls `condition` every 10 ms until it holds or `within` passes.
pub(super) async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A [`Monitor`] polling the simulator, with an in-memory store.
pub(super) struct Kit {
    pub(super) sim: SimHandle,
    pub(super) monitor: Monitor,
    pub(super) sink: RecordingSink,
    pub(super) registry: Registry,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Kit {
    pub(super) async fn start(sim: SimConfig, settings: PollingSettings) -> Kit {
        let sim = Simulator::start(sim, "127.0.0.1:0".parse().expect("address"))
            .await
            .expect("simulator starts");
        let mut registry = Registry::default();
        let credentials = Credentials {
            account_id: SecretString::from(sim.credentials().account_id.clone()),
            client_id: SecretString::from(sim.credentials().client_id.clone()),
            client_secret: SecretString::from(
                sim.credentials().client_secret.expose_secret().to_owned(),
            ),
        };
        let (client, planner) = client_and_planner(
            &settings,
            &sim.api_base(),
            &sim.token_url(),
            credentials,
            &mut registry,
        );
        let store = Store::in_memory(&mut registry)
            .await
            .expect("in-memory store");
        let sink = RecordingSink::default();
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let monitor = Monitor::new(
            MonitorParts {
                accounts: vec![crate::watch::AccountPolling {
                    account: Default::default(),
                    client,
                    planner,
                }],
                sink: Arc::new(sink.clone()),
                store,
                settings,
                // Pushes stop polling briefly: the seam's tests push a
                // sample or two, then watch the poll go on.
                qss: crate::watch::settings::QssSettings {
                    fallback_after: Duration::from_millis(300),
                },
                leases: None,
            },
            tracker.clone(),
            cancel.clone(),
            &mut registry,
        );
        Kit {
            sim,
            monitor,
            sink,
            registry,
            cancel,
            tracker,
        }
    }

    /// A participant in a live meeting of the simulator (the meeting
    /// started if it is new); its key.
    pub(super) fn join(&self, meeting_uuid: &str, user_id: &str) -> ParticipantKey {
        let _ = self
            .sim
            .add_meeting(MeetingSpec::new(meeting_uuid, 85746065432, "Weekly sync"));
        self.sim
            .add_participant(meeting_uuid, ParticipantSpec::new(user_id, "Participant"))
            .expect("participant joins");
        subject(meeting_uuid, user_id).key
    }

    /// Starts watching `key`, as a `participant_joined` would.
    pub(super) async fn watch(&self, key: &ParticipantKey) -> StartOutcome {
        let subject = subject(&key.meeting_uuid, &key.user_id);
        self.monitor
            .start_watch(key, subject.meeting, subject.participant)
            .await
    }

    /// The value of one exported series (name with labels, exactly).
    pub(super) fn metric(&self, series: &str) -> Option<f64> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("encodes");
        text.lines().find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// The application shuts down (its token is cancelled).
    pub(super) fn shut_down(&self) {
        self.cancel.cancel();
    }

    /// Stops every task and the simulator.
    pub(super) async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.sim.shutdown().await;
    }
}
