//! Which daemon polls a mailbox (`imap`) when several share one PostgreSQL: the holder of a session-level
//! advisory lock, on a connection of its own. When the holder dies its connection drops and the
//! lock with it; a silently vanished holder is dropped by the server's TCP keepalives. Both are
//! tuned from `imap.takeover_seconds`, so a standby takes over within that bound.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::pg_tls::PgTarget;
use crate::clock::{Clock, SystemClock};

pub struct Lease {
    client: tokio_postgres::Client,
    connection: JoinHandle<()>,
    /// How often the holder checks it still holds the lease (and a standby retries).
    pub check_every: Duration,
}

impl Lease {
    /// Waits until this process holds the lease on `mailbox`, retrying every `takeover / 6`.
    /// `None` when `stop` fires first.
    pub async fn acquire(
        target: &PgTarget,
        mailbox: &str,
        takeover: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Lease> {
        let retry = (takeover / 6).max(Duration::from_millis(500));
        let mut waiting_logged = false;
        loop {
            match Lease::try_acquire(target, mailbox, takeover).await {
                Ok(Some(lease)) => {
                    tracing::info!(mailbox, "holding the mailbox lease");
                    crate::observe::polls::standby(mailbox, false, SystemClock.now_ms());
                    return Some(lease);
                }
                Ok(None) if !waiting_logged => {
                    tracing::info!(mailbox, "another instance polls this mailbox; standing by");
                    crate::observe::polls::standby(mailbox, true, SystemClock.now_ms());
                    waiting_logged = true;
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    mailbox,
                    %error,
                    "cannot take the mailbox lease (is PostgreSQL reachable?); trying again"
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stop.changed() => return None,
            }
            if *stop.borrow() {
                return None;
            }
        }
    }

    async fn try_acquire(
        target: &PgTarget,
        mailbox: &str,
        takeover: Duration,
    ) -> Result<Option<Lease>, tokio_postgres::Error> {
        let idle = (takeover / 3).max(Duration::from_secs(1));
        let interval = (takeover / 9).max(Duration::from_secs(1));
        let mut config = target.config.clone();
        // The server drops a vanished holder after idle + 3 × interval (2/3 of the takeover bound).
        config
            .options(format!(
                "-c tcp_keepalives_idle={} -c tcp_keepalives_interval={} -c tcp_keepalives_count=3",
                idle.as_secs(),
                interval.as_secs()
            ))
            .keepalives(true)
            .keepalives_idle(idle)
            .connect_timeout(idle)
            .application_name("mailgate imap lease");
        let (client, connection) = config.connect(target.tls.clone()).await?;
        let connection = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "mailbox lease connection ended");
            }
        });
        let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&lock_key(mailbox)]).await?;
        if row.get::<_, bool>(0) {
            Ok(Some(Lease {
                client,
                connection,
                check_every: (takeover / 6).max(Duration::from_millis(500)),
            }))
        } else {
            connection.abort();
            Ok(None)
        }
    }

    /// Whether the lease is still ours: its connection is alive and answers within `check_every`.
    pub async fn still_held(&self) -> bool {
        if self.connection.is_finished() {
            return false;
        }
        matches!(
            tokio::time::timeout(self.check_every, self.client.simple_query("SELECT 1")).await,
            Ok(Ok(_))
        )
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Closing the connection releases the advisory lock.
        self.connection.abort();
    }
}

/// The advisory lock id of `mailbox`: 64 bits of a hash of its name, namespaced.
fn lock_key(mailbox: &str) -> i64 {
    let digest = Sha256::digest(format!("mailgate imap mailbox {mailbox}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("SHA-256 is 32 bytes"))
}
