//! Bringing an existing mailbox in (`mailgate import`): find the messages of an mbox file, a
//! Maildir, a tree of `.eml` files or one message file, put them oldest first, and hand each to
//! `ingest::Ingestor` like any other mail (source `import`). This module writes nothing itself; it
//! counts what the pipeline did. Design: `docs/cli.md` ("import").

pub mod files;
pub mod mbox;
mod summary;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

pub use summary::{Failure, Refused, Summary, reason_group};

use crate::clock::Clock;
use crate::ingest::{Arrival, Delivery, IngestError, Ingestor, Outcome, Taken, per_transaction};
use crate::parse::Limits;

/// What PATH turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A file whose first line is a `From ` line.
    Mbox,
    /// A directory with `cur/` or `new/`.
    Maildir,
    /// Any other directory: every `*.eml` file under it.
    EmlTree,
    /// Any other file: one message.
    Message,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Mbox => "mbox",
            Format::Maildir => "Maildir",
            Format::EmlTree => ".eml directory",
            Format::Message => "message file",
        }
    }
}

/// Why an import could not start.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// PATH is missing or cannot be listed or read.
    #[error("cannot read {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error(
        "{0}: no messages found (an empty file, or a directory with neither cur/ and new/ (a Maildir) \
         nor .eml files at any depth)"
    )]
    NoMessages(PathBuf),
    /// The dry run's transaction could not be opened.
    #[error("{0}")]
    Store(#[from] IngestError),
}

/// Reports progress while messages are taken; called after each one.
pub trait Progress: Send {
    fn advance(&mut self, summary: &Summary);
    /// After the last message (or the stop): the display's last word.
    fn finish(&mut self, summary: &Summary);
}

/// The messages of PATH, oldest first, located but not yet read.
pub struct Plan {
    pub path: PathBuf,
    pub format: Format,
    entries: Vec<Entry>,
}

struct Entry {
    place: Place,
    size: u64,
    /// When the message was written, as ordered (see [`Plan::scan`]); `None` when nothing tells.
    date: Option<i64>,
}

enum Place {
    Mbox(mbox::Span),
    File(PathBuf),
}

impl Plan {
    /// Finds the messages at `path` and orders them by their Date header, oldest first; one without
    /// a usable Date takes its mbox `From ` line's date, else its file's modification time, else
    /// stays after the message before it in the mbox. Ties keep file order (the sort is stable).
    pub fn scan(path: &Path, limits: &Limits) -> Result<Plan, ImportError> {
        let unreadable = |source| ImportError::Unreadable { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if meta.is_file() && meta.len() == 0 {
            return Err(ImportError::NoMessages(path.to_path_buf()));
        }
        let (format, mut dated) = if meta.is_dir() {
            let maildir = files::is_maildir(path);
            let found = if maildir { files::maildir(path, limits) } else { files::eml_tree(path, limits) };
            let found = found.map_err(unreadable)?;
            if !maildir && found.is_empty() {
                return Err(ImportError::NoMessages(path.to_path_buf()));
            }
            let format = if maildir { Format::Maildir } else { Format::EmlTree };
            (
                format,
                found
                    .into_iter()
                    .map(|f| (f.date, Entry { size: f.size, place: Place::File(f.path), date: None }))
                    .collect(),
            )
        } else if mbox::looks_like_mbox(path).map_err(unreadable)? {
            let spans = mbox::scan(path, limits).map_err(unreadable)?;
            (
                Format::Mbox,
                spans
                    .into_iter()
                    .map(|s| (s.date, Entry { size: s.size, place: Place::Mbox(s), date: None }))
                    .collect(),
            )
        } else {
            let found = files::single(path, limits).map_err(unreadable)?;
            (
                Format::Message,
                found
                    .into_iter()
                    .map(|f| (f.date, Entry { size: f.size, place: Place::File(f.path), date: None }))
                    .collect::<Vec<_>>(),
            )
        };
        let mut previous = i64::MIN;
        let mut keyed: Vec<(i64, Entry)> = dated
            .drain(..)
            .map(|(date, entry)| {
                previous = date.unwrap_or(previous);
                (previous, entry)
            })
            .collect();
        keyed.sort_by_key(|(key, _)| *key);
        let entries = keyed
            .into_iter()
            .map(|(key, entry)| Entry { date: (key != i64::MIN).then_some(key), ..entry })
            .collect();
        Ok(Plan { path: path.to_path_buf(), format, entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Imports every message of `plan` for real, [`per_transaction`] messages to a durable
/// transaction, until the end, `stop`, or an error that concerns more than one message (the
/// summary then says why it stopped). A message the pipeline fails on is kept in quarantine, as
/// `pipe` keeps it.
pub async fn run(
    ingestor: &Ingestor,
    plan: &Plan,
    delivery: &Delivery,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Summary {
    let clock = MessageClock::new(ingestor.app().now_ms());
    let ingestor = &ingestor.with_clock(clock.clone());
    let per_transaction = per_transaction(ingestor.app().store().backend());
    let mut walk = Walk::new(plan, ingestor.app().settings().limits.max_message_bytes, false);
    let mut more = true;
    while more {
        let mut batch = Vec::with_capacity(per_transaction);
        while batch.len() < per_transaction {
            match walk.next_message(stop, progress) {
                Some(message) => batch.push(message),
                None => {
                    more = false;
                    break;
                }
            }
        }
        let (outcomes, failure) = ingest_patiently(ingestor, &clock, batch, delivery).await;
        for outcome in &outcomes {
            walk.summary.count(outcome);
        }
        if let Some(failure) = failure {
            walk.fail(failure);
            break;
        }
    }
    walk.finish(progress)
}

/// Pauses before each new attempt when the database is busy (a running `serve` holds SQLite's write
/// lock longer than `database.busy_timeout_ms`): an import is long, and a moment's contention
/// should not stop it.
const BUSY_PAUSES: [Duration; 3] =
    [Duration::from_millis(500), Duration::from_secs(2), Duration::from_secs(5)];

/// Ingests `batch` (messages with their dates) in order, each while `clock` reads its date: the
/// outcome of every message committed, and the failure that stopped the rest.
async fn ingest_patiently(
    ingestor: &Ingestor,
    clock: &Arc<MessageClock>,
    batch: Vec<(Vec<u8>, Option<i64>)>,
    delivery: &Delivery,
) -> (Vec<Outcome>, Option<Failure>) {
    let (raws, dates): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let dates = Arc::new(dates);
    let mut outcomes = Vec::with_capacity(raws.len());
    let mut pauses = BUSY_PAUSES.iter();
    while outcomes.len() < raws.len() {
        let done = outcomes.len();
        let arrivals = raws[done..]
            .iter()
            .map(|raw| Arrival { raw: raw.clone(), delivery: delivery.clone(), oversized: None })
            .collect();
        let (clock, dates) = (clock.clone(), dates.clone());
        let report = ingestor.ingest_batch_with(arrivals, move |at| clock.set(dates[done + at])).await;
        if !report.taken.is_empty() {
            pauses = BUSY_PAUSES.iter();
        }
        outcomes.extend(report.taken.into_iter().map(|taken| match taken {
            Taken::Ran(report) => report.outcome,
            Taken::Kept { reason, .. } => Outcome::Quarantined { reason },
        }));
        match report.stopped {
            None => {}
            Some(IngestError::Unavailable(error)) => match pauses.next() {
                Some(pause) => {
                    tracing::debug!(%error, "database busy during import; trying again");
                    tokio::time::sleep(*pause).await;
                }
                None => return (outcomes, Some(Failure::Unavailable(error.to_string()))),
            },
            Some(error) => return (outcomes, Some(Failure::Database(error.to_string()))),
        }
    }
    (outcomes, None)
}

/// Runs every message of `plan` through the pipeline in one transaction that is rolled back: the
/// decisions (a reply threads to the ticket an earlier message would have opened), nothing written.
pub async fn rehearse(
    ingestor: &Ingestor,
    plan: Plan,
    delivery: Delivery,
    mut progress: Box<dyn Progress>,
    stop: Arc<AtomicBool>,
) -> Result<Summary, ImportError> {
    let limit = ingestor.app().settings().limits.max_message_bytes;
    let clock = MessageClock::new(ingestor.app().now_ms());
    let summary = ingestor
        .with_clock(clock.clone())
        .rehearse_batch(move |ingest_one| {
            let mut walk = Walk::new(&plan, limit, true);
            while let Some((raw, date)) = walk.next_message(&stop, progress.as_mut()) {
                clock.set(date);
                match ingest_one(&raw, &delivery) {
                    Ok(report) => walk.summary.count(&report.outcome),
                    Err(IngestError::Unavailable(error)) => {
                        walk.fail(Failure::Unavailable(error.to_string()));
                        break;
                    }
                    Err(error) => {
                        walk.fail(Failure::Database(error.to_string()));
                        break;
                    }
                }
            }
            walk.finish(progress.as_mut())
        })
        .await?;
    Ok(summary)
}

/// The pipeline's clock during an import: the date of the message being ingested, so its ticket,
/// entry and inbound row are dated by the message, not by the import. A date after the start of
/// the import (a sender's wrong clock), before 1970 or unknown reads as the start of the import.
struct MessageClock {
    started: i64,
    current: AtomicI64,
}

impl MessageClock {
    fn new(started: i64) -> Arc<MessageClock> {
        Arc::new(MessageClock { started, current: AtomicI64::new(started) })
    }

    fn set(&self, date: Option<i64>) {
        let date = date.filter(|date| (0..=self.started).contains(date)).unwrap_or(self.started);
        self.current.store(date, Ordering::Relaxed);
    }
}

impl Clock for MessageClock {
    fn now_ms(&self) -> i64 {
        self.current.load(Ordering::Relaxed)
    }
}

/// Going through a plan: reads each message in turn, refuses the oversized, counts, reports progress.
struct Walk<'a> {
    plan: &'a Plan,
    next: usize,
    limit: usize,
    mbox: Option<File>,
    summary: Summary,
}

impl<'a> Walk<'a> {
    fn new(plan: &'a Plan, limit: usize, dry_run: bool) -> Walk<'a> {
        Walk { plan, next: 0, limit, mbox: None, summary: Summary::new(plan.len(), dry_run) }
    }

    /// The next message to ingest with its date, or `None` at the end, on `stop`, or when one
    /// cannot be read.
    fn next_message(
        &mut self,
        stop: &AtomicBool,
        progress: &mut dyn Progress,
    ) -> Option<(Vec<u8>, Option<i64>)> {
        if self.summary.read > 0 {
            progress.advance(&self.summary);
        }
        loop {
            if stop.load(Ordering::Relaxed) && self.next < self.plan.len() {
                self.summary.interrupted = true;
                return None;
            }
            let entry = self.plan.entries.get(self.next)?;
            self.next += 1;
            self.summary.read += 1;
            if entry.size > self.limit as u64 {
                self.refuse(entry, entry.size);
                progress.advance(&self.summary);
                continue;
            }
            match self.read(entry) {
                Ok(Some(raw)) => return Some((raw, entry.date)),
                Ok(None) => {
                    self.refuse(entry, self.limit as u64 + 1);
                    progress.advance(&self.summary);
                }
                Err(error) => {
                    self.summary.read -= 1;
                    self.fail(Failure::Unreadable(format!("{}: {error}", self.at(entry))));
                    return None;
                }
            }
        }
    }

    fn read(&mut self, entry: &Entry) -> io::Result<Option<Vec<u8>>> {
        match &entry.place {
            Place::Mbox(span) => {
                let file = match &mut self.mbox {
                    Some(file) => file,
                    None => self.mbox.insert(File::open(&self.plan.path)?),
                };
                mbox::read(file, span).map(Some)
            }
            Place::File(path) => files::read(path, self.limit),
        }
    }

    fn refuse(&mut self, entry: &Entry, size: u64) {
        let at = self.at(entry);
        self.summary.refused.push(Refused { at, size, limit: self.limit });
    }

    /// Where `entry` is, for the admin: `FILE at byte N` or the message file.
    fn at(&self, entry: &Entry) -> String {
        match &entry.place {
            Place::Mbox(span) => format!("{} at byte {}", self.plan.path.display(), span.offset),
            Place::File(path) => path.display().to_string(),
        }
    }

    fn fail(&mut self, failure: Failure) {
        self.summary.failure = Some(failure);
    }

    fn finish(self, progress: &mut dyn Progress) -> Summary {
        progress.finish(&self.summary);
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order_of(mbox: &str) -> Vec<String> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, mbox.as_bytes()).unwrap();
        let plan = Plan::scan(file.path(), &Limits::default()).unwrap();
        assert_eq!(plan.format, Format::Mbox);
        let mut handle = File::open(file.path()).unwrap();
        plan.entries
            .iter()
            .map(|entry| match &entry.place {
                Place::Mbox(span) => {
                    let raw = mbox::read(&mut handle, span).unwrap();
                    String::from_utf8(raw).unwrap().lines().next().unwrap().to_string()
                }
                Place::File(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn oldest_first_and_the_undated_stay_with_the_message_before_them() {
        let mbox = "From a\nSubject: c\nDate: Wed, 3 Jan 2024 00:00:00 +0000\n\nx\n\n\
                    From b\nSubject: c-undated\n\nx\n\n\
                    From c\nSubject: a\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nx\n\n\
                    From d\nSubject: b\nDate: Tue, 2 Jan 2024 00:00:00 +0000\n\nx\n\n\
                    From e\nSubject: b-same-date\nDate: Tue, 2 Jan 2024 00:00:00 +0000\n\nx\n";
        assert_eq!(
            order_of(mbox),
            ["Subject: a", "Subject: b", "Subject: b-same-date", "Subject: c", "Subject: c-undated"]
        );
    }
}
