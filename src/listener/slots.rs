//! The connection slots: who holds one, what each connection is doing, and
//! which one gives its slot up when a new connection arrives at the limit.
//!
//! The policy, at the limit: a new connection takes the slot of the
//! connection that has waited longest for a request (a bare connection, a
//! slowloris, a keep-alive connection between requests) once the server
//! has tried to read from it, else of the one whose request has been in
//! progress longest, if that is over [`BUSY_EVICTABLE_AFTER`]. Without such
//! a slot the new connection is refused. A connection not read from yet
//! is never taken: in a burst the accept loop runs ahead of the connection
//! tasks, and would otherwise close a client whose request is already in
//! its socket buffer before anyone looked. (A client whose head comes late
//! is protected by its youth only: under a flood of new connections faster
//! than the limit per head delay, it can lose its slot. That is a flood of
//! connects, for SYN cookies and whatever is in front of qoswatch; held
//! connections, idle or slow, never push out a client that sends its
//! request.) So idle or slow clients can fill the slots but cannot keep a
//! client that sends its request at once from being served; nginx reuses
//! its idle connections the same way when `worker_connections` runs out.
//! A plain semaphore would refuse the newcomer instead, and a webhook would
//! wait for a slowloris to time out.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A request in progress for longer than this may lose its connection to a
/// new one at the limit. qoswatch answers in milliseconds, and Zoom gives
/// up on a webhook after 3 s: a request this old is a client sending its
/// body slowly, or one that nobody waits for any more.
pub(super) const BUSY_EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// Most connections told to give their slot up whose sockets are not
/// closed yet. An evicted connection's slot is reused at once, but its
/// socket closes only when its task next runs: in a burst the accept loop
/// could otherwise take a hundred slots ahead of the closes and run out of
/// file descriptors. Past this many, it waits for them (the system's
/// listen queue holds the newcomers meanwhile).
pub(super) const MAX_CLOSING: usize = 32;

/// What the connection task and the accept loop share about a connection.
/// Times are milliseconds since the [`Slots`]' epoch, kept in atomics so the
/// IO path never takes a lock.
#[derive(Debug)]
pub(super) struct ConnState {
    id: u64,
    epoch: Instant,
    /// Requests being handled (0 or 1 in HTTP/1).
    handling: AtomicUsize,
    /// When it began to wait for a request (accept, end of the last
    /// response) or began to handle one.
    since_ms: AtomicU64,
    /// Last byte read or written.
    last_io_ms: AtomicU64,
    /// The server has tried to read from it (a client that sent its
    /// request at once has been seen to).
    read_attempted: AtomicBool,
    /// Cancelled when the connection loses its slot to a new one.
    pub(super) evicted: CancellationToken,
}

impl ConnState {
    fn new(id: u64, epoch: Instant, now: Instant) -> Self {
        let now_ms = millis_since(epoch, now);
        Self {
            id,
            epoch,
            handling: AtomicUsize::new(0),
            since_ms: AtomicU64::new(now_ms),
            last_io_ms: AtomicU64::new(now_ms),
            read_attempted: AtomicBool::new(false),
            evicted: CancellationToken::new(),
        }
    }

    /// A byte was read or written.
    pub(super) fn touched(&self) {
        self.last_io_ms
            .store(millis_since(self.epoch, Instant::now()), Ordering::Relaxed);
    }

    /// The server tried to read from the socket, whatever it got.
    pub(super) fn read_attempted(&self) {
        if !self.read_attempted.load(Ordering::Relaxed) {
            self.read_attempted.store(true, Ordering::Relaxed);
        }
    }

    /// A request head was read and its handler starts. The returned guard
    /// marks the end, even if the handler is dropped half-way.
    pub(super) fn handling(self: &Arc<Self>) -> Handling {
        self.handling.fetch_add(1, Ordering::AcqRel);
        self.since_ms
            .store(millis_since(self.epoch, Instant::now()), Ordering::Relaxed);
        Handling(self.clone())
    }

    pub(super) fn is_handling(&self) -> bool {
        self.handling.load(Ordering::Acquire) > 0
    }

    /// The last moment anything happened: a byte, or a request starting or
    /// ending.
    pub(super) fn quiet_since(&self) -> Instant {
        let ms = self
            .last_io_ms
            .load(Ordering::Relaxed)
            .max(self.since_ms.load(Ordering::Relaxed));
        self.epoch + Duration::from_millis(ms)
    }

    fn since(&self) -> u64 {
        self.since_ms.load(Ordering::Relaxed)
    }
}

/// Held while a request is handled; see [`ConnState::handling`].
#[derive(Debug)]
pub(super) struct Handling(Arc<ConnState>);

impl Drop for Handling {
    fn drop(&mut self) {
        let state = &self.0;
        state
            .since_ms
            .store(millis_since(state.epoch, Instant::now()), Ordering::Relaxed);
        state.handling.fetch_sub(1, Ordering::AcqRel);
    }
}

fn millis_since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

/// What [`Slots::admit`] decided for a new connection.
#[derive(Debug)]
pub(super) enum Admission {
    /// A free slot.
    Admitted(Arc<ConnState>),
    /// The slot of another connection, which is told to close
    /// (`waiting`: it had no request in progress).
    Replaced {
        state: Arc<ConnState>,
        waiting: bool,
    },
    /// No slot: every connection has a request in progress, none for long.
    Refused,
}

#[derive(Debug)]
pub(super) struct Slots {
    capacity: usize,
    epoch: Instant,
    inner: Mutex<Inner>,
    /// Told when an evicted connection has closed.
    closed: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    open: HashMap<u64, Arc<ConnState>>,
    /// Evicted, socket not closed yet.
    closing: usize,
}

impl Slots {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
            closed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection accepted at `now`, by the policy of the
    /// module's documentation. Linear in the number of open connections,
    /// and only at the limit: a thousand atomic loads.
    pub(super) fn admit(&self, now: Instant) -> Admission {
        let mut inner = self.lock();
        let mut replaced = None;
        if inner.open.len() >= self.capacity {
            let Some((victim, waiting)) = self.victim(&inner, now) else {
                return Admission::Refused;
            };
            if let Some(state) = inner.open.remove(&victim) {
                state.evicted.cancel();
                inner.closing += 1;
            }
            replaced = Some(waiting);
        }
        inner.next_id += 1;
        let state = Arc::new(ConnState::new(inner.next_id, self.epoch, now));
        inner.open.insert(state.id, state.clone());
        match replaced {
            None => Admission::Admitted(state),
            Some(waiting) => Admission::Replaced { state, waiting },
        }
    }

    fn victim(&self, inner: &Inner, now: Instant) -> Option<(u64, bool)> {
        let (waiting, busy): (Vec<&Arc<ConnState>>, Vec<&Arc<ConnState>>) =
            inner.open.values().partition(|state| !state.is_handling());
        if let Some(longest) = waiting
            .iter()
            .filter(|state| state.read_attempted.load(Ordering::Relaxed))
            .min_by_key(|state| (state.since(), state.id))
        {
            return Some((longest.id, true));
        }
        let now_ms = millis_since(self.epoch, now);
        let too_long = u64::try_from(BUSY_EVICTABLE_AFTER.as_millis()).unwrap_or(u64::MAX);
        busy.iter()
            .filter(|state| now_ms.saturating_sub(state.since()) >= too_long)
            .min_by_key(|state| (state.since(), state.id))
            .map(|state| (state.id, false))
    }

    /// Gives the slot back, once the connection's socket is closed (for an
    /// evicted connection, whose slot was taken over already, this ends its
    /// closing). Returns the number of open connections.
    pub(super) fn release(&self, state: &ConnState) -> usize {
        let mut inner = self.lock();
        if state.evicted.is_cancelled() {
            inner.closing = inner.closing.saturating_sub(1);
            self.closed.notify_one();
        } else {
            inner.open.remove(&state.id);
        }
        inner.open.len()
    }

    /// Returns once fewer than [`MAX_CLOSING`] evicted connections are
    /// still closing.
    pub(super) async fn room_to_accept(&self) {
        loop {
            let closed = self.closed.notified();
            if self.lock().closing < MAX_CLOSING {
                return;
            }
            closed.await;
        }
    }

    pub(super) fn open(&self) -> usize {
        self.lock().open.len()
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state of a connection given a free slot, which the server has
    /// tried to read from.
    fn admitted(admission: Admission) -> Arc<ConnState> {
        match admission {
            Admission::Admitted(state) => {
                state.read_attempted();
                state
            }
            other => panic!("expected a free slot, got {other:?}"),
        }
    }

    /// The state of a connection given another's slot, read from.
    fn replaced(admission: Admission) -> (Arc<ConnState>, bool) {
        match admission {
            Admission::Replaced { state, waiting } => {
                state.read_attempted();
                (state, waiting)
            }
            other => panic!("expected a replaced slot, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_not_read_from_yet_keeps_its_slot() {
        let slots = Slots::new(2);
        let Admission::Admitted(unread) = slots.admit(Instant::now()) else {
            panic!("a free slot");
        };
        let read = admitted(slots.admit(Instant::now()));
        tokio::time::advance(Duration::from_millis(50)).await;
        let Admission::Replaced {
            state: newcomer,
            waiting: true,
        } = slots.admit(Instant::now())
        else {
            panic!("the waiting one read from gives its slot up");
        };
        assert!(read.evicted.is_cancelled());
        assert!(
            !unread.evicted.is_cancelled(),
            "older, but not read from yet"
        );
        // Neither the first nor the newcomer has been read from.
        assert!(matches!(slots.admit(Instant::now()), Admission::Refused));
        newcomer.read_attempted();
        replaced(slots.admit(Instant::now()));
        assert!(newcomer.evicted.is_cancelled() && !unread.evicted.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn below_the_limit_every_connection_gets_a_slot_of_its_own() {
        let slots = Slots::new(3);
        let states: Vec<_> = (0..3)
            .map(|_| admitted(slots.admit(Instant::now())))
            .collect();
        assert_eq!(slots.open(), 3);
        assert!(states.iter().all(|s| !s.evicted.is_cancelled()));
        assert_eq!(slots.release(&states[1]), 2);
        admitted(slots.admit(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_limit_the_connection_waiting_longest_gives_its_slot_up() {
        let slots = Slots::new(3);
        let first = admitted(slots.admit(Instant::now()));
        tokio::time::advance(Duration::from_millis(10)).await;
        let second = admitted(slots.admit(Instant::now()));
        tokio::time::advance(Duration::from_millis(10)).await;
        let third = admitted(slots.admit(Instant::now()));
        // The first one is handling a request: it is not the one to go,
        // even though it came first.
        let _request = first.handling();
        tokio::time::advance(Duration::from_millis(10)).await;
        let (_, waiting) = replaced(slots.admit(Instant::now()));
        assert!(waiting);
        assert!(second.evicted.is_cancelled());
        assert!(!first.evicted.is_cancelled() && !third.evicted.is_cancelled());
        assert_eq!(slots.open(), 3);
        // Its slot was taken over: releasing it frees nothing.
        assert_eq!(slots.release(&second), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_progress_are_refused_newcomers_until_they_take_too_long() {
        let slots = Slots::new(2);
        let a = admitted(slots.admit(Instant::now()));
        let b = admitted(slots.admit(Instant::now()));
        let _a_request = a.handling();
        tokio::time::advance(Duration::from_millis(300)).await;
        let _b_request = b.handling();
        assert!(matches!(slots.admit(Instant::now()), Admission::Refused));
        tokio::time::advance(BUSY_EVICTABLE_AFTER - Duration::from_millis(300)).await;
        let (_, waiting) = replaced(slots.admit(Instant::now()));
        assert!(
            !waiting,
            "the request in progress for a second gives its slot up"
        );
        assert!(a.evicted.is_cancelled() && !b.evicted.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn accepting_waits_while_too_many_evicted_connections_are_still_closing() {
        let slots = Slots::new(1);
        let mut evicted = vec![admitted(slots.admit(Instant::now()))];
        for _ in 0..MAX_CLOSING {
            tokio::time::advance(Duration::from_millis(1)).await;
            let (state, _) = replaced(slots.admit(Instant::now()));
            evicted.push(state);
        }
        let newest = evicted.pop().expect("the one holding the slot");
        assert!(!newest.evicted.is_cancelled());
        let waiting = tokio::time::timeout(Duration::from_secs(1), slots.room_to_accept());
        assert!(waiting.await.is_err(), "{MAX_CLOSING} are still closing");
        // One closes its socket: there is room again.
        assert_eq!(slots.release(&evicted[0]), 1);
        let waiting = tokio::time::timeout(Duration::from_secs(1), slots.room_to_accept());
        assert!(waiting.await.is_ok());
        assert_eq!(slots.open(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_ended_starts_a_new_wait() {
        let slots = Slots::new(2);
        let a = admitted(slots.admit(Instant::now()));
        tokio::time::advance(Duration::from_millis(5)).await;
        let b = admitted(slots.admit(Instant::now()));
        tokio::time::advance(Duration::from_millis(5)).await;
        drop(a.handling()); // a served a request: it has waited less than b
        assert!(a.quiet_since() > b.quiet_since());
        assert!(matches!(
            slots.admit(Instant::now()),
            Admission::Replaced { waiting: true, .. }
        ));
        assert!(b.evicted.is_cancelled() && !a.evicted.is_cancelled());
    }
}
