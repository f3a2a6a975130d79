//! What each IMAP poller of this process last achieved, for `/healthz` and the metrics: written
//! by `imap::Poller`, read by the web and the scrape. Keyed by the configured mailbox name.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex, MutexGuard};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxPoll {
    /// When the poller started (clock ms): the age of a mailbox never polled yet counts from here.
    pub since_ms: i64,
    /// When its last pass over the folder completed (clock ms).
    pub last_success_ms: Option<i64>,
    /// Waiting for the mailbox's lease: another daemon polls it (PostgreSQL).
    pub standby: bool,
}

impl MailboxPoll {
    /// Seconds since the last successful pass, or since start when there was none.
    pub fn age_seconds(&self, now_ms: i64) -> f64 {
        let from = self.last_success_ms.unwrap_or(self.since_ms);
        (now_ms - from).max(0) as f64 / 1000.0
    }
}

static POLLS: LazyLock<Mutex<BTreeMap<String, MailboxPoll>>> = LazyLock::new(Mutex::default);

fn polls() -> MutexGuard<'static, BTreeMap<String, MailboxPoll>> {
    // A panic elsewhere while holding the lock leaves plain data behind: still usable.
    POLLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A poller for `mailbox` starts (again): it has not polled yet.
pub fn started(mailbox: &str, now_ms: i64) {
    polls()
        .insert(mailbox.to_string(), MailboxPoll { since_ms: now_ms, last_success_ms: None, standby: false });
}

/// `mailbox`'s poller waits for (`true`) or holds (`false`) the mailbox's lease.
pub fn standby(mailbox: &str, waiting: bool, now_ms: i64) {
    polls()
        .entry(mailbox.to_string())
        .or_insert(MailboxPoll { since_ms: now_ms, last_success_ms: None, standby: waiting })
        .standby = waiting;
}

/// A pass over `mailbox` completed.
pub fn polled(mailbox: &str, now_ms: i64) {
    let mut polls = polls();
    let poll = polls.entry(mailbox.to_string()).or_insert(MailboxPoll {
        since_ms: now_ms,
        last_success_ms: None,
        standby: false,
    });
    poll.last_success_ms = Some(now_ms);
    poll.standby = false;
}

/// The poller of `mailbox` ended (shutdown).
pub fn stopped(mailbox: &str) {
    polls().remove(mailbox);
}

/// Every mailbox polled by this process, by name.
pub fn snapshot() -> Vec<(String, MailboxPoll)> {
    polls().iter().map(|(name, poll)| (name.clone(), *poll)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_counts_from_the_last_pass_or_from_start() {
        let mut poll = MailboxPoll { since_ms: 1_000, last_success_ms: None, standby: false };
        assert_eq!(poll.age_seconds(4_000), 3.0);
        poll.last_success_ms = Some(3_500);
        assert_eq!(poll.age_seconds(4_000), 0.5);
        assert_eq!(poll.age_seconds(0), 0.0, "a clock stepping back gives 0, not a negative age");
    }
}
