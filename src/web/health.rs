//! `/healthz` (for a load balancer: the database answers a real query) and `/livez` (the process
//! serves HTTP, nothing more). The health body says what is wrong in fixed words; error details go
//! to the log, never to the page. Field names: `docs/operations.md`, "Health, metrics and logs".

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::WebState;
use crate::observe::polls;
use crate::observe::probe::Database;

#[derive(Serialize)]
struct Health {
    /// `ok`, or `unavailable` when the database does not answer (then the status is 503).
    status: &'static str,
    /// `ok`, `unavailable` or `timeout`.
    database: &'static str,
    /// `null` when the database did not answer.
    outbox: Option<Outbox>,
    /// Each mailbox this daemon polls, by its configured name.
    mailboxes: BTreeMap<String, MailboxHealth>,
}

#[derive(Serialize)]
struct Outbox {
    queued: i64,
    sending: i64,
    failed: i64,
    dead: i64,
    oldest_due_age_seconds: u64,
}

#[derive(Serialize)]
struct MailboxHealth {
    /// Seconds since the last completed pass; `null` before the first.
    last_poll_age_seconds: Option<u64>,
    /// Another daemon holds the mailbox (PostgreSQL); this one stands by.
    standby: bool,
}

pub async fn healthz(State(state): State<WebState>) -> Response {
    let snapshot = state.probe.snapshot().await;
    let now_ms = state.probe.now_ms();
    let outbox = snapshot.backlog.map(|backlog| Outbox {
        queued: backlog.queued,
        sending: backlog.sending,
        failed: backlog.failed,
        dead: backlog.dead,
        oldest_due_age_seconds: snapshot.oldest_due_age_seconds(now_ms) as u64,
    });
    let mailboxes = polls::snapshot()
        .into_iter()
        .map(|(name, poll)| {
            let age = poll.last_success_ms.map(|_| poll.age_seconds(now_ms) as u64);
            (name, MailboxHealth { last_poll_age_seconds: age, standby: poll.standby })
        })
        .collect();
    let healthy = snapshot.database == Database::Ok;
    let health = Health {
        status: if healthy { "ok" } else { "unavailable" },
        database: snapshot.database.as_str(),
        outbox,
        mailboxes,
    };
    let code = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    // Plain data of strings and numbers: serializing it cannot fail.
    let body = serde_json::to_string(&health).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

pub async fn livez() -> &'static str {
    "ok\n"
}
