//! The accounts webhooks come for (issue 27): each account's endpoint,
//! verifier and Zoom account id, and the check that a verified event names
//! the account whose secret signed it.

use std::collections::HashMap;

use super::{IntakeState, ONCE, TrackingId, WebhookError};
use crate::zoom::event::{self, Event};
use crate::zoom::signature::Verifier;
use qoswatch_core::alert::Account;

/// One account's webhooks: the secret they are signed with and the Zoom
/// account id they carry.
#[derive(Debug)]
pub struct WebhookAccount {
    pub account: Account,
    /// Zoom's id of the account: a verified event whose `payload.account_id`
    /// names another is refused (400).
    pub zoom_account_id: Option<String>,
    pub verifier: Verifier,
}

/// The accounts webhooks come for: `/webhooks/zoom/{account}`, and
/// `/webhooks/zoom` when there is exactly one.
#[derive(Debug)]
pub struct WebhookAccounts {
    accounts: HashMap<String, WebhookAccount>,
    /// The one account `/webhooks/zoom` serves.
    single: Option<String>,
}

impl WebhookAccounts {
    pub fn new(accounts: Vec<WebhookAccount>) -> Self {
        let single = match accounts.as_slice() {
            [only] => Some(only.account.as_str().to_owned()),
            _ => None,
        };
        Self {
            accounts: accounts
                .into_iter()
                .map(|a| (a.account.as_str().to_owned(), a))
                .collect(),
            single,
        }
    }

    fn named(&self, name: &str) -> Option<&WebhookAccount> {
        self.accounts.get(name)
    }

    fn single(&self) -> Option<&WebhookAccount> {
        self.accounts.get(self.single.as_deref()?)
    }
}

impl IntakeState {
    /// The account of `/webhooks/zoom/{name}`, or the only one for
    /// `/webhooks/zoom`; `None` (counted and logged) otherwise: the caller
    /// answers 404 before the body is read, as nothing here knows the
    /// secret it would be signed with.
    pub(super) fn account(&self, name: Option<&str>) -> Option<&WebhookAccount> {
        let found = match name {
            Some(name) => self.accounts.named(name),
            None => self.accounts.single(),
        };
        if found.is_none() {
            self.reject(None, "account", "unknown_account", |rejected| {
                tracing::warn!(
                    rejected,
                    "webhook for an account not configured here (or at /webhooks/zoom with \
                     several accounts: each has /webhooks/zoom/{{account}}) {ONCE}"
                );
            });
        }
        found
    }
}

/// A verified event must name the account whose secret signed it: a
/// customer's app cannot act on another's meetings, even with a secret
/// that leaked from one to the other. The URL validation carries no
/// account id.
pub(super) fn check_account(
    state: &IntakeState,
    account: &WebhookAccount,
    parsed: &event::Parsed,
    tracking: TrackingId<'_>,
) -> Result<(), WebhookError> {
    let Some(expected) = &account.zoom_account_id else {
        // A deployment of one account configured as before `accounts:`
        // existed: its webhooks are taken as they always were.
        return Ok(());
    };
    let matches = match parsed.account_id.as_deref().map(str::trim) {
        Some(named) => named == expected,
        None => matches!(
            parsed.event,
            Event::UrlValidation { .. } | Event::Other { .. }
        ),
    };
    if matches {
        return Ok(());
    }
    state.reject(Some(account), "account", "other_account", |rejected| {
        tracing::warn!(
            account = %account.account,
            rejected,
            tracking_id = %tracking,
            "verified webhook names another Zoom account (payload.account_id) or none: refused {ONCE}"
        );
    });
    Err(WebhookError::OtherAccount)
}
