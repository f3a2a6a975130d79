//! One pass over a mailbox's folder: every message above the checkpoint is fetched (in UID order, in
//! batches), ingested and committed, and only then moved, flagged or deleted; the checkpoint
//! advances after that. A crash anywhere re-fetches at most one batch, and ingest's dedupe turns
//! the re-fetch into a no-op: each message has its effect once.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::TryStreamExt;

use super::PassError;
use super::connect::Session;
use crate::config::{AfterIngest, Mailbox};
use crate::ingest::{Delivery, IngestError, Ingestor, Outcome};
use crate::store::imap::{self as imap_store, Checkpoint};
use crate::store::inbound::Source;

/// Bytes fetched in one `UID FETCH BODY.PEEK[]`: a batch of large messages is split to stay under it.
const MAX_FETCH_BYTES: u64 = 32 * 1024 * 1024;

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Messages fetched from the server.
    pub fetched: u64,
    /// Messages now on a ticket (new or duplicate of one).
    pub processed: u64,
    /// Messages moved to the error folder.
    pub quarantined: u64,
}

/// A pass over `mailbox` on an open session.
pub struct Pass<'a> {
    pub session: &'a mut Session,
    pub mailbox: &'a Mailbox,
    pub ingestor: &'a Ingestor,
    pub batch_size: u32,
    pub command_timeout: Duration,
    /// The server offers UID MOVE (RFC 6851).
    pub can_move: bool,
    /// The server offers UID EXPUNGE (RFC 4315); without it EXPUNGE removes every \Deleted message.
    pub can_uid_expunge: bool,
}

/// Where a handled message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Destination {
    Done,
    Error,
}

impl Pass<'_> {
    pub async fn run(mut self) -> Result<PassReport, PassError> {
        let folder =
            within(self.command_timeout, "SELECT", self.session.select(&self.mailbox.folder)).await?;
        let validity = folder.uid_validity.ok_or_else(|| PassError::Imap {
            what: "SELECT",
            reason: format!("{} has no UIDVALIDITY: the server does not keep UIDs", self.mailbox.folder),
        })?;
        let name = self.mailbox.name.clone();
        let saved = self.ingestor.store().read(move |tx| imap_store::checkpoint(tx, &name)).await?;
        let last = match saved {
            Some(saved) if saved.uid_validity == validity => saved.last_uid,
            Some(saved) => {
                tracing::warn!(
                    mailbox = %self.mailbox.name,
                    old = saved.uid_validity,
                    new = validity,
                    "UIDVALIDITY changed: rescanning the folder (messages already taken in are recognised)"
                );
                0
            }
            None => 0,
        };
        let mut report = PassReport::default();
        if folder.exists == 0 {
            return Ok(report);
        }
        let query = format!("UID {}:*", last.saturating_add(1));
        let found = within(self.command_timeout, "UID SEARCH", self.session.uid_search(&query)).await?;
        // `n:*` always matches the highest UID, even when it is below n.
        let mut uids: Vec<u32> = found.into_iter().filter(|&uid| uid > last).collect();
        uids.sort_unstable();
        for batch in uids.chunks(self.batch_size as usize) {
            let handled = self.take_in(batch, validity, &mut report).await;
            // Acknowledge what was committed even when the batch stopped early.
            let (handled, stopped) = match handled {
                Ok(handled) => (handled, None),
                Err((handled, error)) => (handled, Some(error)),
            };
            self.acknowledge(&handled).await?;
            if let Some(&highest) = handled.keys().next_back() {
                let (name, now) = (self.mailbox.name.clone(), self.ingestor.now_ms());
                let at = Checkpoint { uid_validity: validity, last_uid: highest };
                self.ingestor
                    .store()
                    .write(move |tx| imap_store::save_checkpoint(tx, &name, at, now))
                    .await?;
            }
            if let Some(error) = stopped {
                return Err(error);
            }
        }
        Ok(report)
    }

    /// Fetches and ingests `batch`, in UID order. On an error, returns what was committed before it.
    async fn take_in(
        &mut self,
        batch: &[u32],
        validity: u32,
        report: &mut PassReport,
    ) -> Result<BTreeMap<u32, Destination>, (BTreeMap<u32, Destination>, PassError)> {
        let mut handled = BTreeMap::new();
        let sizes = match self.sizes(batch).await {
            Ok(sizes) => sizes,
            Err(error) => return Err((handled, error)),
        };
        let limit = self.ingestor.settings().limits.max_message_bytes as u64;
        let mut start = 0;
        while start < batch.len() {
            // A run of messages that fit one fetch; an oversized one alone, headers only.
            let oversized = sizes.get(&batch[start]).is_some_and(|&size| size > limit);
            let mut end = start + 1;
            let mut bytes = sizes.get(&batch[start]).copied().unwrap_or(0);
            while !oversized && end < batch.len() {
                let next = sizes.get(&batch[end]).copied().unwrap_or(0);
                if next > limit || bytes + next > MAX_FETCH_BYTES {
                    break;
                }
                bytes += next;
                end += 1;
            }
            let run = &batch[start..end];
            let fetched = match self.fetch(run, oversized).await {
                Ok(fetched) => fetched,
                Err(error) => return Err((handled, error)),
            };
            for (uid, raw) in fetched {
                report.fetched += 1;
                let delivery = Delivery {
                    mailbox: Some(self.mailbox.name.clone()),
                    imap_uid: Some((validity, uid)),
                    ..Delivery::new(Source::Imap)
                };
                let size = sizes.get(&uid).copied().unwrap_or(raw.len() as u64);
                let destination = match self.ingest(&raw, oversized.then_some(size), &delivery).await {
                    Ok(destination) => destination,
                    Err(error) => return Err((handled, error)),
                };
                match destination {
                    Destination::Done => report.processed += 1,
                    Destination::Error => report.quarantined += 1,
                }
                handled.insert(uid, destination);
            }
            start = end;
        }
        Ok(handled)
    }

    /// Ingests one message. Only a database that cannot take it now stops the pass; anything else
    /// about the message ends in quarantine and the error folder, and the mailbox keeps flowing.
    async fn ingest(
        &self,
        raw: &[u8],
        oversized: Option<u64>,
        delivery: &Delivery,
    ) -> Result<Destination, PassError> {
        let result = match oversized {
            Some(size) => self.ingestor.ingest_oversized(raw, size, delivery).await,
            None => self.ingestor.ingest(raw, delivery).await,
        };
        let report = match result {
            Ok(report) => report,
            Err(IngestError::Database(error)) => {
                let reason = format!("ingest failed: {error}");
                tracing::error!(mailbox = %self.mailbox.name, uid = ?delivery.imap_uid, %reason, "quarantining");
                self.ingestor.quarantine_raw(raw, delivery, &reason).await?;
                return Ok(Destination::Error);
            }
            Err(error) => return Err(error.into()),
        };
        Ok(match report.outcome {
            Outcome::Quarantined { .. } => Destination::Error,
            Outcome::Duplicate => {
                let inbound = report.inbound;
                let quarantined =
                    self.ingestor.store().read(move |tx| imap_store::was_quarantined(tx, inbound)).await?;
                if quarantined { Destination::Error } else { Destination::Done }
            }
            Outcome::Created { .. } | Outcome::Added { .. } | Outcome::Loop => Destination::Done,
        })
    }

    /// `RFC822.SIZE` of each UID of `batch` still in the folder.
    async fn sizes(&mut self, batch: &[u32]) -> Result<BTreeMap<u32, u64>, PassError> {
        let set = uid_set(batch);
        let limit = self.command_timeout;
        let fetches = within(limit, "UID FETCH RFC822.SIZE", async {
            self.session.uid_fetch(&set, "(UID RFC822.SIZE)").await?.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(fetches.iter().filter_map(|f| Some((f.uid?, u64::from(f.size?)))).collect())
    }

    /// The raw bytes of `run` (the header block alone when `headers_only`), in UID order.
    async fn fetch(&mut self, run: &[u32], headers_only: bool) -> Result<Vec<(u32, Vec<u8>)>, PassError> {
        let set = uid_set(run);
        let query = if headers_only { "(UID BODY.PEEK[HEADER])" } else { "(UID BODY.PEEK[])" };
        let limit = self.command_timeout;
        let fetches = within(limit, "UID FETCH BODY", async {
            self.session.uid_fetch(&set, query).await?.try_collect::<Vec<_>>().await
        })
        .await?;
        let mut messages: Vec<(u32, Vec<u8>)> = fetches
            .iter()
            .filter_map(|f| {
                let bytes = if headers_only { f.header() } else { f.body() };
                Some((f.uid?, bytes?.to_vec()))
            })
            .collect();
        messages.sort_unstable_by_key(|(uid, _)| *uid);
        Ok(messages)
    }

    /// Moves, flags or deletes what was committed; failures go to the error folder in every mode.
    async fn acknowledge(&mut self, handled: &BTreeMap<u32, Destination>) -> Result<(), PassError> {
        let pick = |wanted: Destination| -> Vec<u32> {
            handled.iter().filter(|(_, d)| **d == wanted).map(|(uid, _)| *uid).collect()
        };
        let (done, failed) = (pick(Destination::Done), pick(Destination::Error));
        if !failed.is_empty() {
            let folder = self.mailbox.error_folder.clone();
            self.relocate(&failed, &folder).await?;
        }
        if done.is_empty() {
            return Ok(());
        }
        match self.mailbox.after {
            AfterIngest::Move => {
                let folder = self.mailbox.processed_folder.clone();
                self.relocate(&done, &folder).await
            }
            AfterIngest::Flag => self.add_flags(&done, "\\Seen").await,
            AfterIngest::Delete => {
                self.add_flags(&done, "\\Deleted").await?;
                self.expunge(&done).await
            }
        }
    }

    async fn relocate(&mut self, uids: &[u32], folder: &str) -> Result<(), PassError> {
        let set = uid_set(uids);
        if self.can_move {
            return within(self.command_timeout, "UID MOVE", self.session.uid_mv(&set, folder)).await;
        }
        within(self.command_timeout, "UID COPY", self.session.uid_copy(&set, folder)).await?;
        self.add_flags(uids, "\\Deleted").await?;
        self.expunge(uids).await
    }

    async fn add_flags(&mut self, uids: &[u32], flag: &str) -> Result<(), PassError> {
        let (set, flags) = (uid_set(uids), format!("+FLAGS.SILENT ({flag})"));
        let limit = self.command_timeout;
        within(limit, "UID STORE", async {
            self.session.uid_store(&set, &flags).await?.try_collect::<Vec<_>>().await
        })
        .await
        .map(drop)
    }

    async fn expunge(&mut self, uids: &[u32]) -> Result<(), PassError> {
        let limit = self.command_timeout;
        if self.can_uid_expunge {
            let set = uid_set(uids);
            within(limit, "UID EXPUNGE", async {
                self.session.uid_expunge(&set).await?.try_collect::<Vec<_>>().await
            })
            .await
            .map(drop)
        } else {
            within(limit, "EXPUNGE", async { self.session.expunge().await?.try_collect::<Vec<_>>().await })
                .await
                .map(drop)
        }
    }
}

/// Runs one IMAP command under `limit`.
pub async fn within<T>(
    limit: Duration,
    what: &'static str,
    work: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, PassError> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(PassError::Imap { what, reason: error.to_string() }),
        Err(_) => Err(PassError::Timeout { what, limit }),
    }
}

/// `1:3,7,9:10` for [1, 2, 3, 7, 9, 10] (sorted input).
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), format!("{}:{}", u32::MAX - 1, u32::MAX));
    }
}
