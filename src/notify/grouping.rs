//! The pure part of the dispatcher's routing: which channels an event goes
//! to, and which events go out together in one message. The live router
//! (`router.rs`) runs it on tokio's clock; `qoswatch backtest` runs it on
//! the samples' time, so a replay groups exactly as the server would.

use std::collections::BTreeMap;

use qoswatch_core::alert::{AlertEvent, AlertStatus, MeetingKey};

use super::message::Phase;

/// What happens to one channel named by an event's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The event goes to this channel.
    Send(&'a str),
    /// No channel has this name: skipped.
    Unknown(&'a str),
    /// A RESOLVED event, and the rule or the channel sends none.
    ResolvedOff(&'a str),
}

/// The channels of `event`'s route in order, each once, with what happens
/// there. `sends_resolved(name)` is `None` for a channel that does not
/// exist, else whether the channel sends RESOLVED messages.
pub fn targets<'a>(
    event: &'a AlertEvent,
    sends_resolved: impl Fn(&str) -> Option<bool>,
) -> Vec<Target<'a>> {
    targets_with(event, |name| {
        sends_resolved(name).map(|sends| (sends, false))
    })
}

/// [`targets`], where `policy(name)` is `(sends_resolved, needs_resolved)`:
/// a channel that needs every RESOLVED (an Alertmanager, which would
/// otherwise keep hearing of the alert as firing) gets them whatever the
/// rule and the channel say.
pub fn targets_with<'a>(
    event: &'a AlertEvent,
    policy: impl Fn(&str) -> Option<(bool, bool)>,
) -> Vec<Target<'a>> {
    let mut targets = Vec::new();
    for (index, name) in event.route.channels.iter().enumerate() {
        if event.route.channels[..index].contains(name) {
            continue;
        }
        let target = match policy(name) {
            None => Target::Unknown(name),
            Some((channel_sends, needed)) => {
                if event.status == AlertStatus::Resolved
                    && !needed
                    && !(event.route.send_resolved && channel_sends)
                {
                    Target::ResolvedOff(name)
                } else {
                    Target::Send(name)
                }
            }
        };
        targets.push(target);
    }
    targets
}

/// A grouping window: one per channel and meeting (of its account: two
/// accounts may have the same meeting UUID).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKey {
    pub channel: String,
    /// The meeting in its account: two accounts' meetings of the same UUID
    /// never share a message.
    pub meeting: MeetingKey,
}

#[derive(Debug)]
struct Group<T, I> {
    deadline: T,
    items: Vec<I>,
}

/// A window that closed: its key, its deadline and its messages.
#[derive(Debug)]
pub struct Due<T, I> {
    pub key: GroupKey,
    pub deadline: T,
    /// One message's items each.
    pub runs: Vec<Vec<I>>,
}

/// Open grouping windows, each with its deadline (on whatever clock `T`
/// the caller keeps) and its items in arrival order.
#[derive(Debug)]
pub struct Groups<T, I> {
    groups: BTreeMap<GroupKey, Group<T, I>>,
}

impl<T, I> Default for Groups<T, I> {
    fn default() -> Self {
        Self {
            groups: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Copy, I> Groups<T, I> {
    /// Adds `item` to the window of `key`; a window opened by this item
    /// closes at `deadline` (an open one keeps its own).
    pub fn add(&mut self, key: GroupKey, deadline: T, item: I) {
        self.groups
            .entry(key)
            .or_insert_with(|| Group {
                deadline,
                items: Vec::new(),
            })
            .items
            .push(item);
    }

    /// When the first open window closes.
    pub fn next_deadline(&self) -> Option<T> {
        self.groups.values().map(|group| group.deadline).min()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Removes the windows closed at `now` (every window when `None`), in
    /// key order. Each becomes its messages: one per run of problems or of
    /// recoveries, in the order they happened, so a RESOLVED never
    /// overtakes the FIRING it ends, and an alert that fires again within
    /// the window ends up shown as firing.
    pub fn take_due(&mut self, now: Option<T>, phase: impl Fn(&I) -> Phase) -> Vec<Due<T, I>> {
        let due: Vec<GroupKey> = self
            .groups
            .iter()
            .filter(|(_, group)| now.is_none_or(|now| group.deadline <= now))
            .map(|(key, _)| key.clone())
            .collect();
        let mut taken = Vec::with_capacity(due.len());
        for key in due {
            let Some(group) = self.groups.remove(&key) else {
                continue;
            };
            let mut runs: Vec<Vec<I>> = Vec::new();
            for item in group.items {
                match runs.last_mut() {
                    Some(run) if run.last().is_some_and(|last| phase(last) == phase(&item)) => {
                        run.push(item);
                    }
                    _ => runs.push(vec![item]),
                }
            }
            taken.push(Due {
                key,
                deadline: group.deadline,
                runs,
            });
        }
        taken
    }
}

/// The phase of an event: for [`Groups::take_due`].
pub fn event_phase(event: &AlertEvent) -> Phase {
    Phase::of(event.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qoswatch_core::alert::{AlertKey, MeetingInfo, Route, Severity};

    fn event(status: AlertStatus, channels: &[&str], send_resolved: bool) -> AlertEvent {
        let at = chrono::DateTime::UNIX_EPOCH;
        AlertEvent {
            key: AlertKey::in_account(&Default::default(), "r", "m", Some("1")),
            status,
            severity: Severity::Warning,
            previous_severity: None,
            rule: "r".into(),
            summary: String::new(),
            runbook: None,
            metric: "audio_input.latency".into(),
            stream: None,
            value: None,
            threshold: None,
            started_at: at,
            at,
            meeting: MeetingInfo::default(),
            participant: None,
            route: Route {
                channels: channels.iter().map(|c| (*c).to_owned()).collect(),
                repeat_interval: None,
                send_resolved,
            },
        }
    }

    #[test]
    fn targets_are_the_routes_channels_once_each_with_resolved_filtered() {
        let lookup = |name: &str| match name {
            "slack" => Some(true),
            "mail" => Some(false),
            _ => None,
        };
        let firing = event(
            AlertStatus::Firing,
            &["slack", "mail", "slack", "nope"],
            true,
        );
        assert_eq!(
            targets(&firing, lookup),
            [
                Target::Send("slack"),
                Target::Send("mail"),
                Target::Unknown("nope")
            ]
        );
        let resolved = event(AlertStatus::Resolved, &["slack", "mail"], true);
        assert_eq!(
            targets(&resolved, lookup),
            [Target::Send("slack"), Target::ResolvedOff("mail")]
        );
        let quiet = event(AlertStatus::Resolved, &["slack"], false);
        assert_eq!(targets(&quiet, lookup), [Target::ResolvedOff("slack")]);
        let repeat = event(AlertStatus::Repeat, &["mail"], false);
        assert_eq!(targets(&repeat, lookup), [Target::Send("mail")]);
    }

    #[test]
    fn a_channel_that_needs_resolved_gets_it_whatever_rule_and_channel_say() {
        let policy = |name: &str| match name {
            "am" => Some((false, true)),
            "slack" => Some((false, false)),
            _ => None,
        };
        let quiet = event(AlertStatus::Resolved, &["am", "slack"], false);
        assert_eq!(
            targets_with(&quiet, policy),
            [Target::Send("am"), Target::ResolvedOff("slack")]
        );
        let firing = event(AlertStatus::Firing, &["am", "slack"], false);
        assert_eq!(
            targets_with(&firing, policy),
            [Target::Send("am"), Target::Send("slack")]
        );
    }

    #[test]
    fn a_window_keeps_its_first_deadline_and_splits_into_runs_of_one_phase() {
        let key = |channel: &str| GroupKey {
            channel: channel.into(),
            meeting: MeetingKey::new(Default::default(), "m"),
        };
        let mut groups: Groups<u32, (char, Phase)> = Groups::default();
        assert_eq!(groups.next_deadline(), None);
        groups.add(key("a"), 10, ('1', Phase::Problem));
        groups.add(key("a"), 15, ('2', Phase::Problem));
        groups.add(key("a"), 16, ('3', Phase::Resolved));
        groups.add(key("a"), 17, ('4', Phase::Problem));
        groups.add(key("b"), 12, ('5', Phase::Problem));
        assert_eq!(groups.next_deadline(), Some(10));
        assert!(groups.take_due(Some(9), |item| item.1).is_empty());
        let due = groups.take_due(Some(10), |item| item.1);
        assert_eq!(due.len(), 1);
        assert_eq!((&due[0].key, due[0].deadline), (&key("a"), 10));
        let letters: Vec<String> = due[0]
            .runs
            .iter()
            .map(|run| run.iter().map(|item| item.0).collect())
            .collect();
        assert_eq!(letters, ["12", "3", "4"]);
        assert_eq!(groups.next_deadline(), Some(12));
        assert!(!groups.is_empty());
        assert_eq!(groups.take_due(None, |item| item.1).len(), 1);
        assert!(groups.is_empty());
    }
}
