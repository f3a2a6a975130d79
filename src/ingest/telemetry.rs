//! What an ingest leaves outside the database: one INFO line per stored message carrying
//! `inbound_id` and `ticket` (the number), so that with `log.format = "json"` the message can be
//! followed to the outbox's send lines, which carry the same `ticket`; and the Prometheus counters.
//! Failures are logged by the callers, who know what happens to the message next.

use std::time::Duration;

use super::{Delivery, IngestError, Outcome, Report};
use crate::observe::metrics;
use crate::store::tickets::EntryClass;

/// Logs and counts one ingest that took `took`.
pub(super) fn record(delivery: &Delivery, result: &Result<Report, IngestError>, took: Duration) {
    match result {
        Ok(report) => stored(delivery, report, took),
        Err(_) => failed(delivery, took),
    }
}

/// Counts one message the pipeline failed on (the caller logs what happens to it next).
pub(super) fn failed(delivery: &Delivery, took: Duration) {
    metrics::message_ingested(delivery.source.as_str(), "failed", "none", took);
}

/// Logs and counts one message whose outcome is committed.
pub(super) fn stored(delivery: &Delivery, report: &Report, took: Duration) {
    let source = delivery.source.as_str();
    let class = class_of(report);
    let mailbox = delivery.mailbox.as_deref().unwrap_or_default();
    let inbound_id = report.inbound.0;
    match &report.outcome {
        Outcome::Created { number, .. } | Outcome::Added { number, .. } => {
            let outcome = outcome_name(&report.outcome);
            tracing::info!(inbound_id, ticket = %number, outcome, class, source, mailbox, "message ingested");
        }
        Outcome::Quarantined { reason } => tracing::info!(
            inbound_id,
            class,
            source,
            mailbox,
            %reason,
            "message quarantined (see `mailgate quarantine show {inbound_id}`)"
        ),
        Outcome::Duplicate | Outcome::Loop => {
            let outcome = outcome_name(&report.outcome);
            tracing::info!(inbound_id, outcome, class, source, mailbox, "message not acted on");
        }
    }
    metrics::message_ingested(source, outcome_name(&report.outcome), class, took);
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Created { .. } => "created",
        Outcome::Added { .. } => "added",
        Outcome::Duplicate => "duplicate",
        Outcome::Loop => "loop",
        Outcome::Quarantined { .. } => "quarantined",
    }
}

/// The classifier's verdict; `none` when it did not run (a duplicate, a
/// malformed message).
fn class_of(report: &Report) -> &'static str {
    report.class.map_or("none", EntryClass::as_str)
}
