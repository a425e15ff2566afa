//! Zoom's API and the account's limits (`zoom:` in the settings file).

use std::time::Duration;

use prometheus_client::registry::Registry;
use qoswatch_core::invalid::Invalid;
use serde::Deserialize;

use super::client::ClientSettings;
use crate::quota::budget::BudgetFamilies;
use crate::quota::{Budget, QuotaClock};
use qoswatch_core::alert::Account;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZoomSettings {
    /// Base URL of Zoom's REST API, without a trailing slash.
    pub api_base: String,
    /// Server-to-Server OAuth token endpoint.
    pub token_url: String,
    /// Timeout of one request to Zoom.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub request_timeout: Duration,
    /// The account's per-second limit of the QoS endpoints (Zoom's Heavy
    /// label: 10 on Pro, 40 on Business and up).
    pub requests_per_second: u32,
    /// The account's daily quota of the QoS endpoints (Zoom's Heavy and
    /// Resource-intensive labels together: 30,000 on Pro, 60,000 on
    /// Business and up), shared with every other app on the account.
    pub daily_limit: u32,
    /// The share (0-1] of `requests_per_second` qoswatch may use.
    pub rate_share: f64,
    /// The share (0-1] of `daily_limit` qoswatch may use; also of what Zoom
    /// reports is left of the account's quota today.
    pub daily_share: f64,
    /// Renew the OAuth token this long before it expires.
    #[serde(deserialize_with = "qoswatch_core::duration::deserialize")]
    pub token_refresh_margin: Duration,
    /// The most bytes read of one answer from Zoom (QoS, token, error);
    /// a larger answer is dropped and the request counts as failed.
    pub max_answer_bytes: usize,
    /// The most QoS requests of the account in flight at once, from the
    /// request to its answer parsed: what bounds the answers held in memory
    /// (a burst of first polls of long meetings: about 1.2 MB a list page).
    pub max_requests_in_flight: usize,
}

impl Default for ZoomSettings {
    fn default() -> Self {
        Self {
            api_base: "https://api.zoom.us/v2".into(),
            token_url: "https://zoom.us/oauth/token".into(),
            request_timeout: Duration::from_secs(10),
            requests_per_second: 10,
            daily_limit: 30_000,
            rate_share: 0.8,
            daily_share: 0.8,
            token_refresh_margin: Duration::from_secs(5 * 60),
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            max_requests_in_flight: DEFAULT_MAX_REQUESTS_IN_FLIGHT,
        }
    }
}

/// The default of `zoom.max_requests_in_flight`: 16.
///
/// Zoom's per-second limit of the QoS endpoints is 10 (Pro) or 40
/// (Business and up), of which qoswatch takes `rate_share` (0.8): 32 a
/// second at most. 16 in flight carry that as long as Zoom answers within
/// half a second, and bound the answers in memory at once to 16 (a list
/// page of ten participants two hours into a meeting is about 1.2 MB; the
/// burst of first polls after a restart or a mass join held hundreds of
/// them at 1,000 requests a second, BENCHMARKS.md, issue 24).
pub const DEFAULT_MAX_REQUESTS_IN_FLIGHT: usize = 16;

/// The default cap on one Zoom answer: 16 MiB.
///
/// The largest answer Zoom should send is one participant's QoS answer. A
/// sample with everything docs/ZOOM.md lists (the six classic streams, CPU,
/// the twelve `*_device_*` streams and Wi-Fi) is about 2.6 KB of compact
/// JSON. If `type=live` returns the whole series since the join (unsettled),
/// a watch at `polling.max_watch_age` (24 h) gets 1,440 of them: about
/// 3.7 MB, and 4.7 MB for a 30-hour meeting, Zoom's longest. 16 MiB is over
/// three times that. Usual answers (a few recent minutes) are tens of KB;
/// token and error answers are under 1 KB. The answer is held in memory
/// while it is parsed (the parser builds only the samples it keeps), so the
/// cap is also the most memory one request can cost.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

impl ZoomSettings {
    /// qoswatch's budget of the account's limits: the shares of the rate
    /// and of the daily quota, at least one request each.
    pub fn budget(&self, clock: QuotaClock, registry: &mut Registry) -> Budget {
        let share = |limit: u32, share: f64| ((f64::from(limit) * share).floor() as u32).max(1);
        Budget::new(
            share(self.requests_per_second, self.rate_share),
            share(self.daily_limit, self.daily_share),
            registry,
        )
        .with_clock(clock)
    }

    /// `account`'s budget of these limits, its series in `families`.
    pub fn budget_of(
        &self,
        account: Account,
        clock: QuotaClock,
        families: &BudgetFamilies,
    ) -> Budget {
        let share = |limit: u32, share: f64| ((f64::from(limit) * share).floor() as u32).max(1);
        Budget::of_account(
            account,
            share(self.requests_per_second, self.rate_share),
            share(self.daily_limit, self.daily_share),
            families,
        )
        .with_clock(clock)
    }

    /// What the client reads of these settings.
    pub fn client(&self) -> ClientSettings {
        ClientSettings {
            api_base: self.api_base.clone(),
            token_url: self.token_url.clone(),
            request_timeout: self.request_timeout,
            token_refresh_margin: self.token_refresh_margin,
            max_answer_bytes: self.max_answer_bytes,
            max_requests_in_flight: self.max_requests_in_flight,
        }
    }
}

impl ZoomSettings {
    /// URLs, limits and shares in range.
    pub fn check(&self) -> Result<(), Invalid> {
        for (name, url) in [
            ("zoom.api_base", &self.api_base),
            ("zoom.token_url", &self.token_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Invalid::err(name, "expected an http(s) URL");
            }
        }
        if self.requests_per_second == 0 {
            return Invalid::err("zoom.requests_per_second", "must be at least 1");
        }
        if self.daily_limit == 0 {
            return Invalid::err("zoom.daily_limit", "must be at least 1");
        }
        for (name, share) in [
            ("zoom.rate_share", self.rate_share),
            ("zoom.daily_share", self.daily_share),
        ] {
            if !(share > 0.0 && share <= 1.0) {
                return Invalid::err(
                    name,
                    "must be more than 0 and at most 1 (a share such as 0.8)",
                );
            }
        }
        if self.max_requests_in_flight == 0 {
            return Invalid::err("zoom.max_requests_in_flight", "must be at least 1");
        }
        if self.max_answer_bytes < 16 * 1024 {
            return Invalid::err(
                "zoom.max_answer_bytes",
                "must be at least 16384: smaller refuses Zoom's ordinary answers",
            );
        }
        Ok(())
    }
}
