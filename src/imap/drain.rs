//! One pass over a mailbox's folder: every message above the checkpoint is fetched (in UID order, in
//! batches), ingested and committed (up to [`per_transaction`] messages to one transaction, synced
//! to disk), and only then moved, flagged or deleted; the checkpoint advances after that. A crash anywhere re-fetches at most one batch, and ingest's dedupe turns
//! the re-fetch into a no-op: each message has its effect once.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::TryStreamExt;

use super::PassError;
use super::connect::Session;
use crate::config::{AfterIngest, Mailbox};
use crate::ingest::{Arrival, BatchReport, Delivery, Ingestor, Outcome, Taken, per_transaction};
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

/// One fetched message: its bytes, or only its header block when it is over the size limit.
struct Fetched {
    uid: u32,
    raw: Vec<u8>,
    /// The full size of a message fetched headers-only.
    oversized: Option<u64>,
}

/// The IMAP side of a pass.
struct Server<'a> {
    session: &'a mut Session,
    limit: Duration,
    can_move: bool,
    can_uid_expunge: bool,
}

/// The database side of a pass.
struct Intake<'a> {
    mailbox: &'a Mailbox,
    ingestor: &'a Ingestor,
}

impl Pass<'_> {
    pub async fn run(self) -> Result<PassReport, PassError> {
        let Pass { session, mailbox, ingestor, batch_size, command_timeout, can_move, can_uid_expunge } =
            self;
        let mut server = Server { session, limit: command_timeout, can_move, can_uid_expunge };
        let intake = Intake { mailbox, ingestor };
        let folder = within(command_timeout, "SELECT", server.session.select(&mailbox.folder)).await?;
        let validity = folder.uid_validity.ok_or_else(|| PassError::Imap {
            what: "SELECT",
            reason: format!("{} has no UIDVALIDITY: the server does not keep UIDs", mailbox.folder),
        })?;
        let last = intake.checkpoint(validity).await?;
        let mut report = PassReport::default();
        if folder.exists == 0 {
            return Ok(report);
        }
        let query = format!("UID {}:*", last.saturating_add(1));
        let found = within(command_timeout, "UID SEARCH", server.session.uid_search(&query)).await?;
        // `n:*` always matches the highest UID, even when it is below n.
        let mut uids: Vec<u32> = found.into_iter().filter(|&uid| uid > last).collect();
        uids.sort_unstable();
        let limit = ingestor.app().settings().limits.max_message_bytes as u64;
        let batches: Vec<&[u32]> = uids.chunks(batch_size as usize).collect();
        let Some(first) = batches.first() else { return Ok(report) };
        let mut fetched = server.fetch(first, limit).await;
        for (i, _) in batches.iter().enumerate() {
            let current = fetched?;
            // Fetch the next batch while this one is ingested: the server and the database overlap.
            let (taken, next) = tokio::join!(intake.take_in(current, validity, &mut report), async {
                match batches.get(i + 1) {
                    Some(next) => Some(server.fetch(next, limit).await),
                    None => None,
                }
            });
            // Acknowledge what was committed even when the batch stopped early.
            let (handled, stopped) = taken;
            server.acknowledge(&handled, mailbox).await?;
            if let Some(&highest) = handled.keys().next_back() {
                intake.save_checkpoint(Checkpoint { uid_validity: validity, last_uid: highest }).await?;
            }
            if let Some(error) = stopped {
                return Err(error);
            }
            match next {
                Some(next) => fetched = next,
                None => break,
            }
        }
        Ok(report)
    }
}

impl Intake<'_> {
    /// The last UID handled under `validity`; 0 when none, or when the folder's UIDVALIDITY changed.
    async fn checkpoint(&self, validity: u32) -> Result<u32, PassError> {
        let name = self.mailbox.name.clone();
        let saved = self.ingestor.app().store().read(move |tx| imap_store::checkpoint(tx, &name)).await?;
        Ok(match saved {
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
        })
    }

    async fn save_checkpoint(&self, at: Checkpoint) -> Result<(), PassError> {
        let (name, now) = (self.mailbox.name.clone(), self.ingestor.app().now_ms());
        Ok(self
            .ingestor
            .app()
            .store()
            .write(move |tx| imap_store::save_checkpoint(tx, &name, at, now))
            .await?)
    }

    /// Ingests `batch` in UID order, [`per_transaction`] messages to a durable transaction: what
    /// was committed, and the error that stopped it early.
    async fn take_in(
        &self,
        batch: Vec<Fetched>,
        validity: u32,
        report: &mut PassReport,
    ) -> (BTreeMap<u32, Destination>, Option<PassError>) {
        let mut handled = BTreeMap::new();
        let per_transaction = per_transaction(self.ingestor.app().store().backend());
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            let part: Vec<Fetched> = batch.by_ref().take(per_transaction).collect();
            let uids: Vec<u32> = part.iter().map(|message| message.uid).collect();
            report.fetched += uids.len() as u64;
            let arrivals = part
                .into_iter()
                .map(|message| Arrival {
                    raw: message.raw,
                    oversized: message.oversized,
                    delivery: Delivery {
                        mailbox: Some(self.mailbox.name.clone()),
                        imap_uid: Some((validity, message.uid)),
                        ..Delivery::new(Source::Imap)
                    },
                })
                .collect();
            let BatchReport { taken, stopped } = self.ingestor.ingest_batch(arrivals).await;
            for (uid, taken) in uids.into_iter().zip(taken) {
                let destination = match self.destination(taken).await {
                    Ok(destination) => destination,
                    Err(error) => return (handled, Some(error)),
                };
                match destination {
                    Destination::Done => report.processed += 1,
                    Destination::Error => report.quarantined += 1,
                }
                handled.insert(uid, destination);
            }
            if let Some(error) = stopped {
                return (handled, Some(error.into()));
            }
        }
        (handled, None)
    }

    /// Where a committed message goes: anything that ended in quarantine (here or before, for a
    /// duplicate) to the error folder, and the mailbox keeps flowing.
    async fn destination(&self, taken: Taken) -> Result<Destination, PassError> {
        let report = match taken {
            Taken::Ran(report) => report,
            Taken::Kept { .. } => return Ok(Destination::Error),
        };
        Ok(match report.outcome {
            Outcome::Quarantined { .. } => Destination::Error,
            Outcome::Duplicate => {
                let inbound = report.inbound;
                let quarantined = self
                    .ingestor
                    .app()
                    .store()
                    .read(move |tx| imap_store::was_quarantined(tx, inbound))
                    .await?;
                if quarantined { Destination::Error } else { Destination::Done }
            }
            Outcome::Created { .. } | Outcome::Added { .. } | Outcome::Loop => Destination::Done,
        })
    }
}

impl Server<'_> {
    /// The messages of `batch` still in the folder, in UID order: whole in runs of at most
    /// [`MAX_FETCH_BYTES`], and headers-only for any over `limit` bytes.
    async fn fetch(&mut self, batch: &[u32], limit: u64) -> Result<Vec<Fetched>, PassError> {
        let sizes = self.sizes(batch).await?;
        let size = |uid: &u32| sizes.get(uid).copied().unwrap_or(0);
        let mut fetched = Vec::with_capacity(batch.len());
        let mut start = 0;
        while start < batch.len() {
            let oversized = size(&batch[start]) > limit;
            let mut end = start + 1;
            let mut bytes = size(&batch[start]);
            while !oversized && end < batch.len() {
                let next = size(&batch[end]);
                if next > limit || bytes + next > MAX_FETCH_BYTES {
                    break;
                }
                bytes += next;
                end += 1;
            }
            for (uid, raw) in self.bodies(&batch[start..end], oversized).await? {
                let oversized = oversized.then(|| size(&uid));
                fetched.push(Fetched { uid, raw, oversized });
            }
            start = end;
        }
        Ok(fetched)
    }

    /// `RFC822.SIZE` of each UID of `batch` still in the folder.
    async fn sizes(&mut self, batch: &[u32]) -> Result<BTreeMap<u32, u64>, PassError> {
        let set = uid_set(batch);
        let fetches = within(self.limit, "UID FETCH RFC822.SIZE", async {
            self.session.uid_fetch(&set, "(UID RFC822.SIZE)").await?.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(fetches.iter().filter_map(|f| Some((f.uid?, u64::from(f.size?)))).collect())
    }

    /// The raw bytes of `run` (the header block alone when `headers_only`), in UID order.
    async fn bodies(&mut self, run: &[u32], headers_only: bool) -> Result<Vec<(u32, Vec<u8>)>, PassError> {
        let set = uid_set(run);
        let query = if headers_only { "(UID BODY.PEEK[HEADER])" } else { "(UID BODY.PEEK[])" };
        let fetches = within(self.limit, "UID FETCH BODY", async {
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
    async fn acknowledge(
        &mut self,
        handled: &BTreeMap<u32, Destination>,
        mailbox: &Mailbox,
    ) -> Result<(), PassError> {
        let pick = |wanted: Destination| -> Vec<u32> {
            handled.iter().filter(|(_, d)| **d == wanted).map(|(uid, _)| *uid).collect()
        };
        let (done, failed) = (pick(Destination::Done), pick(Destination::Error));
        if !failed.is_empty() {
            self.relocate(&failed, &mailbox.error_folder).await?;
        }
        if done.is_empty() {
            return Ok(());
        }
        match mailbox.after {
            AfterIngest::Move => self.relocate(&done, &mailbox.processed_folder).await,
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
            return within(self.limit, "UID MOVE", self.session.uid_mv(&set, folder)).await;
        }
        within(self.limit, "UID COPY", self.session.uid_copy(&set, folder)).await?;
        self.add_flags(uids, "\\Deleted").await?;
        self.expunge(uids).await
    }

    async fn add_flags(&mut self, uids: &[u32], flag: &str) -> Result<(), PassError> {
        let (set, flags) = (uid_set(uids), format!("+FLAGS.SILENT ({flag})"));
        within(self.limit, "UID STORE", async {
            self.session.uid_store(&set, &flags).await?.try_collect::<Vec<_>>().await
        })
        .await
        .map(drop)
    }

    async fn expunge(&mut self, uids: &[u32]) -> Result<(), PassError> {
        if self.can_uid_expunge {
            let set = uid_set(uids);
            within(self.limit, "UID EXPUNGE", async {
                self.session.uid_expunge(&set).await?.try_collect::<Vec<_>>().await
            })
            .await
            .map(drop)
        } else {
            within(self.limit, "EXPUNGE", async {
                self.session.expunge().await?.try_collect::<Vec<_>>().await
            })
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
