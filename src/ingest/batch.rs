//! Many messages in one durable transaction, for the IMAP drain on SQLite: the pages every message
//! touches (the right edge of each queue index, the outbox, the search segment) are written and
//! synced once per batch. Each message still has its own outcome, and nothing of a batch is
//! reported before its commit is on disk, so the caller acknowledges to the server only what is
//! stored.
//!
//! A message the pipeline fails on cannot be undone alone without a savepoint around every
//! message, and savepoints cost ~15% of the batch's throughput (each copies the pages its message
//! changes into a sub-journal). Failures are rare, so the batch runs without them: a failure rolls
//! the whole transaction back, and the batch runs again up to that message, keeps its raw bytes in
//! quarantine in the same transaction, commits, and goes on after it. Each message runs at most
//! twice (more only for a unique-key race, retried as one message alone is).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Delivery, IngestError, Ingestor, Job, MAX_ATTEMPTS, Pipeline, Report, telemetry};
use crate::clock::Stopwatch;
use crate::core::ids::InboundId;
use crate::store::{Backend, StoreError, Tx};

/// Messages to one transaction when many arrive at once (an IMAP drain, an import). On SQLite the
/// pages they share (the right edge of the queue indexes, the outbox, the search segment) are
/// written and synced once for all of them, and the one write lock is held for tens of
/// milliseconds, not for a fetched batch of up to 1,000. On PostgreSQL each message is its own
/// transaction: several daemons write at once there, and a transaction holding the row locks of
/// many messages (the queue counts, a shared customer) made them wait on each other and deadlock
/// (seen in `tests/multi_daemon.rs`).
pub fn per_transaction(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 50,
        Backend::Postgres => 1,
    }
}

/// Called with a message's index in its batch just before the pipeline runs on it (the import
/// sets its clock to the message's date there). It may be called again for the same message when
/// a batch runs again.
type BeforeEach = Arc<dyn Fn(usize) + Send + Sync>;

/// One message handed to [`Ingestor::ingest_batch`].
pub struct Arrival {
    pub raw: Vec<u8>,
    pub delivery: Delivery,
    /// The full size of a message of which only the header block was fetched (it is over
    /// `limits.max_message_bytes`): the header stands for it in quarantine.
    pub oversized: Option<u64>,
}

/// What became of one message of a committed batch.
#[derive(Debug)]
pub enum Taken {
    /// The pipeline ran: its report.
    Ran(Report),
    /// The pipeline failed on the message; its raw bytes are kept in quarantine with the reason.
    Kept { inbound: InboundId, reason: String },
}

/// A batch after its commits: the outcome of the first `taken.len()` messages, in order, all of
/// them on disk; and why the batch stopped before the rest (the database could not take more).
#[derive(Debug)]
pub struct BatchReport {
    pub taken: Vec<Taken>,
    pub stopped: Option<IngestError>,
}

/// One transaction of a batch: the messages from `start` on, up to the one the pipeline failed on
/// in an earlier attempt (`kept`), whose raw bytes it keeps before it commits.
#[derive(Clone)]
struct Span {
    start: usize,
    kept: Option<(usize, String)>,
}

impl Ingestor {
    /// Ingests `arrivals` in order, in as few write transactions as failures allow (one when
    /// nothing fails), each synced when it commits. Only a database that cannot go on stops the
    /// batch; what was committed before the stop is reported.
    pub async fn ingest_batch(&self, arrivals: Vec<Arrival>) -> BatchReport {
        self.ingest_batch_with(arrivals, |_| {}).await
    }

    /// [`Ingestor::ingest_batch`], calling `before_each` with a message's index in `arrivals` just
    /// before the pipeline runs on it or keeps its bytes.
    pub async fn ingest_batch_with(
        &self,
        arrivals: Vec<Arrival>,
        before_each: impl Fn(usize) + Send + Sync + 'static,
    ) -> BatchReport {
        let before_each: BeforeEach = Arc::new(before_each);
        let pipeline = self.pipeline();
        let limits = &pipeline.settings.limits;
        let jobs: Arc<Vec<Job>> = Arc::new(
            arrivals
                .into_iter()
                .map(|arrival| match arrival.oversized {
                    Some(size) => Job::oversized(arrival.raw, size, arrival.delivery, limits),
                    None => Job::new(arrival.raw, arrival.delivery, limits),
                })
                .collect(),
        );
        let mut taken = Vec::with_capacity(jobs.len());
        let mut span = Span { start: 0, kept: None };
        let mut attempt = 0;
        while span.start < jobs.len() {
            attempt += 1;
            // The message the pipeline failed on, when it failed (the transaction is rolled back).
            let failed_at = Arc::new(Mutex::new(None));
            let (work, this, failed) = (jobs.clone(), span.clone(), failed_at.clone());
            let (pipeline, before_each) = (pipeline.clone(), before_each.clone());
            let result = self
                .store()
                .write_synced(move |tx| pipeline.run_span(tx, &work, &this, &*before_each, &failed))
                .await;
            let failed_at = failed_at.lock().map(|at| *at).unwrap_or(None);
            let error = match result {
                Ok(done) => {
                    record(&jobs[span.start..], &done);
                    span = Span { start: span.start + done.len(), kept: None };
                    taken.extend(done.into_iter().map(|(outcome, _)| outcome));
                    attempt = 0;
                    continue;
                }
                Err(error) => error,
            };
            match failed_at {
                Some(_) if error.is_unique_violation() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, "unique-key race while ingesting a batch; retrying");
                }
                Some(at) => match IngestError::from(error) {
                    IngestError::Database(cause) => {
                        let job = &jobs[at];
                        let reason = format!("ingest failed: {cause}");
                        tracing::error!(
                            mailbox = job.delivery.mailbox.as_deref().unwrap_or_default(),
                            uid = job.delivery.imap_uid.map_or(0, |(_, uid)| uid),
                            %reason,
                            "message could not be ingested; its raw bytes are kept in quarantine \
                             (`mailgate quarantine list`, then `quarantine replay` after a fix)"
                        );
                        span.kept = Some((at, reason));
                        attempt = 0;
                    }
                    stop => return BatchReport { taken, stopped: Some(stop) },
                },
                None => return BatchReport { taken, stopped: Some(error.into()) },
            }
        }
        BatchReport { taken, stopped: None }
    }
}

impl Pipeline {
    /// Runs `span` of `jobs` in `tx`: each message's outcome and the time it took. On the first
    /// message the pipeline fails on, notes its index in `failed_at` and returns the error, so that
    /// the transaction is rolled back.
    fn run_span(
        &self,
        tx: &mut Tx<'_>,
        jobs: &[Job],
        span: &Span,
        before_each: &(dyn Fn(usize) + Send + Sync),
        failed_at: &Mutex<Option<usize>>,
    ) -> Result<Vec<(Taken, Duration)>, StoreError> {
        let end = span.kept.as_ref().map_or(jobs.len(), |(at, _)| *at);
        let mut taken = Vec::with_capacity(end - span.start);
        for (at, job) in jobs.iter().enumerate().take(end).skip(span.start) {
            before_each(at);
            let started = Stopwatch::start();
            match self.run(tx, job, None) {
                Ok(report) => taken.push((Taken::Ran(report), started.elapsed())),
                Err(error) => {
                    if let Ok(mut slot) = failed_at.lock() {
                        *slot = Some(at);
                    }
                    return Err(error);
                }
            }
        }
        if let Some((at, reason)) = &span.kept {
            before_each(*at);
            let started = Stopwatch::start();
            let inbound = self.keep_raw(tx, &jobs[*at], reason)?;
            taken.push((Taken::Kept { inbound, reason: reason.clone() }, started.elapsed()));
        }
        Ok(taken)
    }
}

/// Logs and counts committed messages, as one message at a time is once on disk.
fn record(jobs: &[Job], done: &[(Taken, Duration)]) {
    for (job, (outcome, took)) in jobs.iter().zip(done) {
        match outcome {
            Taken::Ran(report) => telemetry::stored(&job.delivery, report, *took),
            Taken::Kept { .. } => telemetry::failed(&job.delivery, *took),
        }
    }
}
