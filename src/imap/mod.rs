//! IMAP intake: one task per `[[mailbox]]` inside `mailgate serve`. It holds the mailbox's lease
//! (PostgreSQL: one instance polls a mailbox at a time), logs in, runs a [`drain::Pass`] over the
//! folder, then waits for news with IDLE (re-issued well before the server's 30-minute limit) or
//! sleeps `poll_interval` when the server has no IDLE. Any error drops the session and reconnects
//! after a capped exponential backoff; a refused login waits much longer. Design: `docs/imap.md`.

pub mod connect;
pub mod drain;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use rustls::ClientConfig;
use tokio::sync::watch;

use crate::config::{Imap, Mailbox};
use crate::ingest::{IngestError, Ingestor};
use crate::store::StoreError;
use crate::store::lease::Lease;
use connect::{ConnectError, Session};
use drain::{Pass, PassReport, within};

/// IDLE is re-issued after this long: servers may drop an IDLE older than 30 minutes (RFC 2177).
const IDLE_REFRESH: Duration = Duration::from_secs(25 * 60);
/// Backoff after a failure: doubles from the first value up to the cap.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(5 * 60);
/// After a refused login: slow, so a wrong password never hammers the server or locks the account.
const LOGIN_RETRY_FIRST: Duration = Duration::from_secs(60);
const LOGIN_RETRY_CAP: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{what}: {reason}")]
    Imap { what: &'static str, reason: String },
    #[error("no answer to {what} within {}s", limit.as_secs())]
    Timeout { what: &'static str, limit: Duration },
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("lost the mailbox lease (its database connection failed)")]
    LeaseLost,
}

/// What a mailbox task is doing, for `serve`'s logs and for tests.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// Passes completed since start.
    pub passes: u64,
    /// Totals over all passes.
    pub totals: PassReport,
    /// Consecutive failures; 0 while healthy.
    pub failures: u32,
    pub last_error: Option<String>,
    /// The wait before the next attempt, while failing.
    pub retry_in: Option<Duration>,
    /// Logged in and serving (holding the lease, when there is one).
    pub connected: bool,
    /// The server's IDLE is in use (else polling).
    pub idling: bool,
    /// How long the last pass took (SELECT to checkpoint), the part of a message's latency that is ours.
    pub last_pass: Option<Duration>,
}

/// One mailbox's intake task.
pub struct Poller {
    mailbox: Mailbox,
    imap: Imap,
    ingestor: Ingestor,
    tls: Arc<ClientConfig>,
    status: Arc<Mutex<Status>>,
}

impl Poller {
    pub fn new(mailbox: Mailbox, imap: Imap, ingestor: Ingestor) -> Poller {
        let tls = connect::tls_config(&mailbox);
        Poller { mailbox, imap, ingestor, tls, status: Arc::default() }
    }

    /// A live view of what the task is doing.
    pub fn status(&self) -> Arc<Mutex<Status>> {
        self.status.clone()
    }

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let name = self.mailbox.name.as_str();
        crate::observe::polls::started(name, self.ingestor.app().now_ms());
        let mut retry: Option<Duration> = None;
        while !*stop.borrow() {
            let lease = match self.ingestor.app().store().postgres_target() {
                Some(target) => match Lease::acquire(target, name, self.imap.takeover, &mut stop).await {
                    Some(lease) => Some(lease),
                    None => break,
                },
                None => None,
            };
            let error = match self.serve(lease.as_ref(), &mut stop).await {
                Ok(()) => break,
                Err(error) => error,
            };
            drop(lease);
            let login = matches!(&error, PassError::Connect(e) if e.is_login());
            if self.status.lock().expect("status lock").failures == 0 {
                retry = None; // it was healthy: start the backoff over
            }
            let wait = next_retry(retry, login);
            retry = Some(wait);
            tracing::warn!(
                mailbox = name,
                %error,
                retry_in_s = wait.as_secs(),
                "IMAP intake failed; reconnecting after a pause (if it persists, check this [[mailbox]] \
                 with `mailgate mailbox test NAME`)"
            );
            self.update(|s| {
                s.failures += 1;
                s.last_error = Some(error.to_string());
                s.retry_in = Some(wait);
                s.connected = false;
                s.idling = false;
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        crate::observe::polls::stopped(name);
        tracing::info!(mailbox = name, "IMAP intake stopped");
    }

    /// One session: log in, then pass and wait until an error or `stop`.
    async fn serve(&self, lease: Option<&Lease>, stop: &mut watch::Receiver<bool>) -> Result<(), PassError> {
        let limit = self.imap.command_timeout;
        let (mut session, capabilities) = connect::connect(&self.mailbox, &self.tls, limit).await?;
        let idle = self.mailbox.idle && connect::offers(&capabilities, "IDLE");
        let can_move = connect::offers(&capabilities, "MOVE");
        let can_uid_expunge = connect::offers(&capabilities, "UIDPLUS");
        self.ensure_folders(&mut session).await?;
        tracing::info!(mailbox = %self.mailbox.name, idle, can_move, "IMAP intake connected");
        self.update(|s| {
            s.connected = true;
            s.idling = idle;
        });
        let mut healthy = false;
        loop {
            let pass = Pass {
                session: &mut session,
                mailbox: &self.mailbox,
                ingestor: &self.ingestor,
                batch_size: self.imap.batch_size,
                command_timeout: limit,
                can_move,
                can_uid_expunge,
            };
            let began = crate::clock::Stopwatch::start();
            let report = pass.run().await?;
            let took = began.elapsed();
            crate::observe::polls::polled(&self.mailbox.name, self.ingestor.app().now_ms());
            if !healthy {
                // A whole pass worked: the next failure starts the backoff from the beginning.
                healthy = true;
                self.update(|s| {
                    s.failures = 0;
                    s.retry_in = None;
                });
            }
            if report.fetched > 0 {
                tracing::info!(
                    mailbox = %self.mailbox.name,
                    fetched = report.fetched,
                    processed = report.processed,
                    quarantined = report.quarantined,
                    "IMAP pass"
                );
            }
            self.update(|s| {
                s.passes += 1;
                s.last_pass = Some(took);
                s.totals.fetched += report.fetched;
                s.totals.processed += report.processed;
                s.totals.quarantined += report.quarantined;
            });
            // Mail that arrived during the pass was announced on its commands: go again at once.
            let woke = if news(&session) {
                Wake::News
            } else if idle {
                let (next, woke) = wait_idle(session, lease, limit, stop).await?;
                session = next;
                woke
            } else {
                wait(self.mailbox.poll_interval, lease, stop).await
            };
            let stopped = match woke {
                Wake::Stop => true,
                Wake::LeaseLost => return Err(PassError::LeaseLost),
                Wake::News => false,
            };
            if stopped {
                let _ = within(limit, "LOGOUT", session.logout()).await;
                return Ok(());
            }
        }
    }

    /// Creates the folders messages are moved to, when missing.
    async fn ensure_folders(&self, session: &mut Session) -> Result<(), PassError> {
        let limit = self.imap.command_timeout;
        let mut folders = vec![&self.mailbox.error_folder];
        if self.mailbox.after == crate::config::AfterIngest::Move {
            folders.push(&self.mailbox.processed_folder);
        }
        for folder in folders {
            let exists = within(limit, "STATUS", session.status(folder, "(UIDVALIDITY)")).await.is_ok();
            if !exists {
                within(limit, "CREATE", session.create(folder)).await?;
                tracing::info!(mailbox = %self.mailbox.name, folder, "created folder");
            }
        }
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        change(&mut self.status.lock().expect("status lock"));
    }
}

/// Why a wait ended.
enum Wake {
    /// Time for a pass: the server reported a change, or the wait ran out.
    News,
    Stop,
    LeaseLost,
}

/// Waits `duration`, watching `stop` and the lease.
async fn wait(duration: Duration, lease: Option<&Lease>, stop: &mut watch::Receiver<bool>) -> Wake {
    tokio::select! {
        _ = tokio::time::sleep(duration) => Wake::News,
        _ = stop.changed() => Wake::Stop,
        _ = lease_lost(lease) => Wake::LeaseLost,
    }
}

/// Resolves when the lease is no longer held (never without a lease).
async fn lease_lost(lease: Option<&Lease>) {
    let Some(lease) = lease else { return std::future::pending().await };
    loop {
        tokio::time::sleep(lease.check_every).await;
        if !lease.still_held().await {
            return;
        }
    }
}

/// IDLE until the server reports a change, [`IDLE_REFRESH`] passes, `stop` fires or the lease is
/// lost. The deadline is ours: async-imap's own IDLE timeout restarts on every keepalive.
async fn wait_idle(
    session: Session,
    lease: Option<&Lease>,
    limit: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<(Session, Wake), PassError> {
    let announced = session.unsolicited_responses.clone();
    let mut handle = session.idle();
    within(limit, "IDLE", handle.init()).await?;
    // Changes since the pass's last command are announced before IDLE's continuation, and
    // async-imap files them as unsolicited instead of waking `wait`.
    let already = drain_news(&announced);
    let (idle, _interrupt) = handle.wait_with_timeout(IDLE_REFRESH);
    let woke = tokio::select! {
        _ = std::future::ready(()), if already => Wake::News,
        response = idle => match response {
            Ok(IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt) => Wake::News,
            Err(error) => return Err(PassError::Imap { what: "IDLE", reason: error.to_string() }),
        },
        _ = tokio::time::sleep(IDLE_REFRESH) => Wake::News,
        _ = stop.changed() => Wake::Stop,
        _ = lease_lost(lease) => Wake::LeaseLost,
    };
    let session = within(limit, "DONE", handle.done()).await?;
    // Untagged responses seen while idling are not needed: the next pass re-reads the folder.
    drain_news(&session.unsolicited_responses);
    Ok((session, woke))
}

/// Whether the server announced new mail (EXISTS, RECENT) since these responses were last read.
fn news(session: &Session) -> bool {
    drain_news(&session.unsolicited_responses)
}

fn drain_news(announced: &async_channel::Receiver<UnsolicitedResponse>) -> bool {
    let mut news = false;
    while let Ok(response) = announced.try_recv() {
        news |= matches!(response, UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_));
    }
    news
}

/// The next pause after a failure: doubling, capped; a refused login starts and stays slower.
fn next_retry(previous: Option<Duration>, login: bool) -> Duration {
    let (first, cap) = if login { (LOGIN_RETRY_FIRST, LOGIN_RETRY_CAP) } else { (RETRY_FIRST, RETRY_CAP) };
    match previous {
        None => first,
        Some(previous) => (previous * 2).clamp(first, cap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_logins_wait_longer() {
        let mut wait = None;
        let waits: Vec<u64> = (0..12)
            .map(|_| {
                wait = Some(next_retry(wait, false));
                wait.unwrap().as_secs()
            })
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(next_retry(None, true), LOGIN_RETRY_FIRST);
        assert_eq!(next_retry(Some(Duration::from_secs(2)), true), LOGIN_RETRY_FIRST);
        assert_eq!(next_retry(Some(LOGIN_RETRY_CAP), true), LOGIN_RETRY_CAP);
    }
}
