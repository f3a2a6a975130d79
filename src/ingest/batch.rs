//! Many messages in one durable transaction, for the IMAP drain: each message still has its own
//! outcome (a savepoint around it: one that fails is rolled back alone and its bytes are kept in
//! quarantine), and nothing of the batch is reported before the commit is on disk, so the caller
//! acknowledges to the server only what is stored. The pages every message touches (the right
//! edge of each queue index, the outbox, the search segment) are written once per batch.

use std::sync::Arc;

use super::{Delivery, IngestError, Ingestor, Job, MAX_ATTEMPTS, Pipeline, Report, telemetry};
use crate::clock::Stopwatch;
use crate::core::ids::InboundId;
use crate::store::Tx;

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

/// A batch after its commit: the outcome of the first `taken.len()` messages, in order, all of
/// them on disk; and why the batch stopped before the rest (the database could not take more).
/// A failed commit is `taken` empty and `stopped` its error.
#[derive(Debug)]
pub struct BatchReport {
    pub taken: Vec<Taken>,
    pub stopped: Option<IngestError>,
}

impl Ingestor {
    /// Ingests `arrivals` in order in one write transaction whose commit is synced, each message
    /// behind a savepoint. Only a database that cannot go on stops the batch; what came before
    /// the stop is still committed.
    pub async fn ingest_batch(&self, arrivals: Vec<Arrival>) -> BatchReport {
        let pipeline = self.pipeline();
        let limits = &pipeline.settings.limits;
        let jobs: Vec<Job> = arrivals
            .into_iter()
            .map(|arrival| match arrival.oversized {
                Some(size) => Job::oversized(arrival.raw, size, arrival.delivery, limits),
                None => Job::new(arrival.raw, arrival.delivery, limits),
            })
            .collect();
        let jobs = Arc::new(jobs);
        let work = jobs.clone();
        let committed = self
            .store()
            .write_synced(move |tx| {
                let mut taken = Vec::with_capacity(work.len());
                for job in work.iter() {
                    let started = Stopwatch::start();
                    match pipeline.take_one(tx, job) {
                        Ok(outcome) => taken.push((outcome, started.elapsed())),
                        Err(stop) => return Ok((taken, Some(stop))),
                    }
                }
                Ok((taken, None))
            })
            .await;
        let (taken, stopped) = match committed {
            Ok(done) => done,
            Err(error) => return BatchReport { taken: Vec::new(), stopped: Some(error.into()) },
        };
        // Logged and counted once on disk, as one message at a time is.
        for ((outcome, took), job) in taken.iter().zip(jobs.iter()) {
            match outcome {
                Taken::Ran(report) => telemetry::stored(&job.delivery, report, *took),
                Taken::Kept { .. } => telemetry::failed(&job.delivery, *took),
            }
        }
        BatchReport { taken: taken.into_iter().map(|(outcome, _)| outcome).collect(), stopped }
    }
}

impl Pipeline {
    /// One message of a batch behind a savepoint. A unique-key race with another daemon is
    /// retried (the retry sees the winner's rows); any other failure of the pipeline rolls the
    /// message back and keeps its bytes in quarantine; `Err` only when the database cannot go on.
    fn take_one(&self, tx: &mut Tx<'_>, job: &Job) -> Result<Taken, IngestError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            tx.execute("SAVEPOINT message", &[])?;
            let error = match self.run(tx, job, None) {
                Ok(report) => {
                    tx.execute("RELEASE SAVEPOINT message", &[])?;
                    return Ok(Taken::Ran(report));
                }
                Err(error) => error,
            };
            tx.execute("ROLLBACK TO SAVEPOINT message", &[])?;
            tx.execute("RELEASE SAVEPOINT message", &[])?;
            if error.is_unique_violation() && attempt < MAX_ATTEMPTS {
                tracing::debug!(attempt, "unique-key race while ingesting; retrying");
                continue;
            }
            let error = IngestError::from(error);
            let IngestError::Database(cause) = &error else { return Err(error) };
            let reason = format!("ingest failed: {cause}");
            let uid = job.delivery.imap_uid.map_or(0, |(_, uid)| uid);
            tracing::error!(
                mailbox = job.delivery.mailbox.as_deref().unwrap_or_default(),
                uid,
                %reason,
                "message could not be ingested; its raw bytes are kept in quarantine \
                 (`mailgate quarantine list`, then `quarantine replay` after a fix)"
            );
            let inbound = self.keep_raw(tx, job, &reason)?;
            return Ok(Taken::Kept { inbound, reason });
        }
    }
}
