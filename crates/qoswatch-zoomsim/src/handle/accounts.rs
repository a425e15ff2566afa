//! The control API for any account, by its Zoom account id: its
//! credentials, its meetings' participants, its degradations, its limits,
//! its tokens and its requests. The unqualified methods of
//! [`SimHandle`] are these for the first account.

use chrono::{DateTime, Utc};

use super::SimHandle;
use crate::log::RecordedRequest;
use crate::{Degradation, ParticipantSpec, RequestCounts, SimAccount, SimCredentials, SimError};

impl SimHandle {
    /// Every account the simulator plays, the first first, as configured
    /// (the limits as they were at start).
    pub fn accounts(&self) -> &[SimAccount] {
        &self.shared.accounts
    }

    /// The app credentials of account `account_id`.
    pub fn credentials_of(&self, account_id: &str) -> Result<&SimCredentials, SimError> {
        let account = self.shared.account(account_id)?;
        Ok(&self.shared.accounts[account].credentials)
    }

    /// [`add_participant`](Self::add_participant) in account `account_id`'s meeting.
    pub fn add_participant_in(
        &self,
        account_id: &str,
        meeting_uuid: &str,
        participant: ParticipantSpec,
    ) -> Result<DateTime<Utc>, SimError> {
        self.add_participant_at(self.shared.account(account_id)?, meeting_uuid, participant)
    }

    /// [`participant_leaves`](Self::participant_leaves) account
    /// `account_id`'s meeting.
    pub fn participant_leaves_in(
        &self,
        account_id: &str,
        meeting_uuid: &str,
        user_id: &str,
    ) -> Result<DateTime<Utc>, SimError> {
        self.participant_leaves_at(self.shared.account(account_id)?, meeting_uuid, user_id)
    }

    /// [`end_meeting`](Self::end_meeting) of account `account_id`'s meeting.
    pub fn end_meeting_in(
        &self,
        account_id: &str,
        meeting_uuid: &str,
    ) -> Result<DateTime<Utc>, SimError> {
        self.end_meeting_at(self.shared.account(account_id)?, meeting_uuid)
    }

    /// [`qss_samples`](Self::qss_samples) of a participant of account
    /// `account_id`'s live call.
    pub fn qss_samples_in(
        &self,
        account_id: &str,
        meeting_uuid: &str,
        user_id: &str,
        newest: usize,
    ) -> Result<Vec<serde_json::Value>, SimError> {
        let account = self.shared.account(account_id)?;
        Ok(self.qss_samples_at(account, meeting_uuid, user_id, newest))
    }

    /// [`add_degradation`](Self::add_degradation) for account
    /// `account_id`'s participants only.
    pub fn add_degradation_in(
        &self,
        account_id: &str,
        degradation: Degradation,
    ) -> Result<(), SimError> {
        self.add_degradation_at(self.shared.account(account_id)?, degradation);
        Ok(())
    }

    /// A valid access token of account `account_id` without the OAuth
    /// round trip (see [`grant_token`](Self::grant_token)).
    pub fn grant_token_of(&self, account_id: &str) -> Result<String, SimError> {
        Ok(self.shared.mint_token(self.shared.account(account_id)?).0)
    }

    /// Sets (or removes) account `account_id`'s per-second limit.
    pub fn set_qps_limit_of(&self, account_id: &str, limit: Option<u32>) -> Result<(), SimError> {
        self.set_qps_limit_at(self.shared.account(account_id)?, limit);
        Ok(())
    }

    /// Other apps on account `account_id` spend `requests` of its daily quota.
    pub fn consume_daily_of(&self, account_id: &str, requests: u32) -> Result<(), SimError> {
        self.consume_daily_at(self.shared.account(account_id)?, requests);
        Ok(())
    }

    /// Account `account_id`'s daily quota count so far.
    pub fn daily_used_of(&self, account_id: &str) -> Result<u32, SimError> {
        let account = self.shared.account(account_id)?;
        Ok(self.shared.lock().accounts[account].daily_used)
    }

    /// Requests attributed to account `account_id` since the start, by
    /// endpoint (never dropped): its Dashboard requests by their token's
    /// account, its token requests that got a token.
    pub fn request_counts_of(&self, account_id: &str) -> Result<RequestCounts, SimError> {
        let account = self.shared.account(account_id)?;
        Ok(self.shared.lock().accounts[account].counts)
    }

    /// Requests to either QoS endpoint with a token of account
    /// `account_id`, oldest first (from the log, which drops the oldest
    /// beyond its capacity).
    pub fn qos_requests_of(&self, account_id: &str) -> Vec<RecordedRequest> {
        self.shared.lock().log.qos_requests_of(account_id)
    }
}
