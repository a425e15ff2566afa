//! The one way to wait for something: poll a condition every 20 ms until it
//! holds or a deadline passes. No fixed sleeps. On tokio's paused clock the
//! polls advance virtual time.

use std::time::Duration;

use tokio::time::Instant;

const POLL: Duration = Duration::from_millis(20);

/// Polls `condition` every 20 ms until it holds (true) or `within` passes
/// (false).
pub async fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`], failing the test with "timed out waiting for `what`".
pub async fn wait_for(what: &str, within: Duration, condition: impl FnMut() -> bool) {
    assert!(
        eventually(within, condition).await,
        "timed out waiting for {what}"
    );
}

/// The blocking form, for code outside a runtime: polls every 20 ms.
pub fn eventually_blocking(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}
