//! A round through the list endpoint, page after page: which members the
//! listing is for, one page asked for, its rows matched to members on
//! `user_id`, what a refused page means, and what is left of the due
//! members that no page held.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use qoswatch_core::qos::{MeetingQosPage, ParseReport};
use qoswatch_core::subject::StopReason;
use tokio::time::Instant;

use super::{MeetingPoller, PollEnd};
use crate::zoom::client::ZoomError;

/// Where a listing stands between two pages.
#[derive(Debug)]
pub(super) struct Listing {
    /// The members (by index) the listing is for.
    pub(super) wanted: Vec<usize>,
    /// Per member (by index): seen on a page of this listing.
    pub(super) found: Vec<bool>,
    /// The next page's token; `None` asks for the first page.
    pub(super) token: Option<String>,
    /// The listing started again from the first page after a refused token.
    pub(super) restarted: bool,
    /// The page size asked for.
    pub(super) page_size: u32,
}

impl Listing {
    /// The wanted members no page held (yet).
    pub(super) fn missing(&self) -> Vec<usize> {
        self.wanted
            .iter()
            .copied()
            .filter(|i| !self.found[*i])
            .collect()
    }
}

/// What the listing does after one answer.
#[derive(Debug, PartialEq)]
pub(super) enum Next {
    /// Ask for the page `Listing::token` names.
    Page,
    /// Every wanted member was found, or the pages ended.
    Done,
    /// The round ends here (`Some` when the meeting's polling ends too).
    Stop(Option<PollEnd>),
}

impl MeetingPoller<'_> {
    /// One listing, page after page, until every due member was found or
    /// the pages end. `Some` when the meeting's polling ends.
    pub(super) async fn list_round(&mut self, listed: &[usize]) -> Option<PollEnd> {
        let mut listing = Listing {
            wanted: self.wanted_by_listing(listed, Instant::now()),
            found: vec![false; self.members.len()],
            token: None,
            restarted: false,
            page_size: self.ask_page_size.unwrap_or(self.settings().page_size),
        };
        loop {
            let answer = self.list_page(&listing).await;
            let now = Utc::now();
            tracing::trace!(ok = answer.is_ok(), "listed a page of the meeting");
            let next = match answer {
                Ok((page, report)) => {
                    self.count_report(&report);
                    self.take_page(page, &mut listing, now)
                }
                Err(error) => self.page_refused(error, &mut listing, now),
            };
            match next {
                Next::Page => {}
                Next::Done => break,
                Next::Stop(end) => return end,
            }
        }
        self.not_listed(&listing);
        None
    }

    /// The members a listing is for: those `listed`, and those due on
    /// their own at `now` (the listing refreshes them too).
    pub(super) fn wanted_by_listing(&self, listed: &[usize], now: Instant) -> Vec<usize> {
        let mut wanted: Vec<usize> = listed.to_vec();
        wanted.extend(
            self.schedule(now)
                .singles_due
                .into_iter()
                .filter(|i| !listed.contains(i)),
        );
        wanted
    }

    /// Asks Zoom for one page, with each member's samples after its last.
    /// Borrows ids and times only: an observer is not `Sync`, so no member
    /// (nor the poller) may be borrowed across the request.
    fn list_page(
        &self,
        listing: &Listing,
    ) -> impl Future<Output = Result<(MeetingQosPage, ParseReport), ZoomError>> + Send + use<'_>
    {
        let seen: HashMap<String, DateTime<Utc>> = self
            .members
            .iter()
            .filter_map(|m| Some((m.subject.key.user_id.clone(), m.last_seen?)))
            .collect();
        let (client, call) = (&self.ctx.client, self.call());
        let (page_size, token) = (listing.page_size, listing.token.clone());
        async move {
            let after = |user_id: &str| seen.get(user_id).copied();
            client
                .meeting_qos_page(call, page_size, token.as_deref(), after)
                .await
        }
    }

    /// The member a list row is about: matched on Zoom's `user_id` (the
    /// meeting-scoped participant id); rows without one match nobody.
    pub(super) fn member_of_row(&self, user_id: Option<&str>) -> Option<usize> {
        let user_id = user_id?;
        self.members
            .iter()
            .position(|m| m.subject.key.user_id == user_id)
    }

    /// A page came: its rows to their members; the next page if some wanted
    /// member is still missing and there is one.
    pub(super) fn take_page(
        &mut self,
        page: MeetingQosPage,
        listing: &mut Listing,
        now: DateTime<Utc>,
    ) -> Next {
        self.total_records = page.total_records.or(self.total_records);
        self.page_size = page.page_size.filter(|s| *s > 0).or(self.page_size);
        for qos in page.participants {
            let Some(index) = self.member_of_row(qos.details.user_id.as_deref()) else {
                continue;
            };
            listing.found[index] = true;
            self.answered(index, qos, now);
        }
        let all_found = listing.wanted.iter().all(|i| listing.found[*i]);
        listing.token = page.next_page_token;
        if listing.token.is_none() || all_found {
            Next::Done
        } else {
            Next::Page
        }
    }

    /// Zoom did not answer a page with QoS: list again (a refused token, a
    /// page too large) or end the round as a failed poll.
    fn page_refused(
        &mut self,
        error: ZoomError,
        listing: &mut Listing,
        now: DateTime<Utc>,
    ) -> Next {
        match error {
            ZoomError::Rejected {
                code: Some(300), ..
            } if listing.token.is_some() => {
                if listing.restarted {
                    // Refused again right after a fresh first page: a
                    // failed poll like a 5xx, not a reason to stop.
                    let missing = listing.missing();
                    return Next::Stop(self.failed(
                        &missing,
                        ZoomError::Transient("page token refused twice".to_owned()),
                        now,
                    ));
                }
                // An expired or refused page token: list again from the top.
                tracing::debug!("page token refused: listing again from the first page");
                listing.restarted = true;
                listing.token = None;
                Next::Page
            }
            ZoomError::AnswerTooLarge { limit } if listing.page_size > 1 => {
                self.halve_page_size(listing, limit);
                Next::Page
            }
            ZoomError::NotLive => Next::Stop(self.not_live_listed()),
            error => {
                let missing = listing.missing();
                Next::Stop(self.failed(&missing, error, now))
            }
        }
    }

    /// A long meeting's series outgrew the cap at this page size: ask for
    /// pages half as big from now on, and list again from the top (a token
    /// belongs to its page size).
    fn halve_page_size(&mut self, listing: &mut Listing, limit: usize) {
        let applied = self
            .page_size
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(listing.page_size);
        let page_size = (listing.page_size.min(applied) / 2).max(1);
        listing.page_size = page_size;
        self.ask_page_size = Some(page_size);
        self.page_size = Some(u64::from(page_size));
        tracing::info!(
            page_size,
            limit_bytes = limit,
            "a page of this meeting was larger than zoom.max_answer_bytes: asking for smaller pages"
        );
        listing.token = None;
        self.publish();
    }

    /// Zoom knows no live meeting by this id: over, if it answered before;
    /// else a wrong or stale id, which ends every member's watch.
    fn not_live_listed(&mut self) -> Option<PollEnd> {
        if self.members.iter().any(|m| m.answered_before) {
            return Some(PollEnd::MeetingOver);
        }
        tracing::info!("Zoom knows no live meeting by this id");
        for member in &mut self.members {
            member.ending.get_or_insert(StopReason::NotLive);
        }
        None
    }

    /// Due but not on any page: the watch stays until a stop condition
    /// says otherwise (stale, max age, a webhook); the next try is one
    /// interval away, not at once.
    pub(super) fn not_listed(&mut self, listing: &Listing) {
        let stale_after = self.settings().stale_after;
        let now_utc = Utc::now();
        let instant = Instant::now();
        for index in listing.missing() {
            let member = &mut self.members[index];
            member.due_from = instant;
            member.retry_at = None;
            member.observer.idle(&member.subject, now_utc);
            if member.last_new_sample.elapsed() >= stale_after {
                member.ending.get_or_insert(StopReason::Stale);
            }
        }
    }
}
