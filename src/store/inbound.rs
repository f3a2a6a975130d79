//! `inbound`: one row per accepted raw message, with its dedupe key, outcome and decision trace.
//! Quarantined messages are rows here with outcome `quarantined` and their reason.

use sqlx::Row;

use super::Conn;
use crate::core::ids::{InboundId, TicketId};

/// Where a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Pipe,
    Imap,
    Web,
    Console,
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Pipe => "pipe",
            Source::Imap => "imap",
            Source::Web => "web",
            Source::Console => "console",
            Source::Import => "import",
        }
    }
}

/// The final state of an inbound row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Being processed inside the current transaction; never visible after commit.
    Processing,
    /// Stored on a ticket.
    Ticket,
    /// Our own mail came back: recorded, not acted on.
    Loop,
    Quarantined,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Processing => "processing",
            Outcome::Ticket => "ticket",
            Outcome::Loop => "loop",
            Outcome::Quarantined => "quarantined",
        }
    }
}

pub struct NewInbound<'a> {
    pub dedupe_key: &'a str,
    pub source: Source,
    pub mailbox: Option<&'a str>,
    pub imap_uid: Option<(u32, u32)>,
    pub raw: &'a [u8],
    pub received_at: i64,
}

pub async fn find_inbound_by_dedupe_key(conn: &mut Conn, key: &str) -> sqlx::Result<Option<InboundId>> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM inbound WHERE dedupe_key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(id.map(InboundId))
}

pub async fn insert_inbound(conn: &mut Conn, new: &NewInbound<'_>) -> sqlx::Result<InboundId> {
    let (uidvalidity, uid) = match new.imap_uid {
        Some((validity, uid)) => (Some(i64::from(validity)), Some(i64::from(uid))),
        None => (None, None),
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO inbound (dedupe_key, source, mailbox, uidvalidity, uid, raw, size, outcome, trace, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '[]', $9) RETURNING id",
    )
    .bind(new.dedupe_key)
    .bind(new.source.as_str())
    .bind(new.mailbox)
    .bind(uidvalidity)
    .bind(uid)
    .bind(new.raw)
    .bind(new.raw.len() as i64)
    .bind(Outcome::Processing.as_str())
    .bind(new.received_at)
    .fetch_one(conn)
    .await?;
    Ok(InboundId(id))
}

pub async fn update_inbound_outcome(
    conn: &mut Conn,
    id: InboundId,
    outcome: Outcome,
    reason: &str,
    ticket: Option<TicketId>,
    trace_json: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE inbound SET outcome = $1, reason = $2, ticket_id = $3, trace = $4 WHERE id = $5")
        .bind(outcome.as_str())
        .bind(reason)
        .bind(ticket.map(|t| t.0))
        .bind(trace_json)
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// A stored inbound row, for `quarantine show|replay` and `ticket show`.
#[derive(Clone, Debug)]
pub struct InboundRecord {
    pub id: InboundId,
    pub source: String,
    pub mailbox: Option<String>,
    pub size: i64,
    pub outcome: String,
    pub reason: String,
    pub ticket_id: Option<TicketId>,
    pub trace_json: String,
    pub received_at: i64,
    pub raw: Vec<u8>,
}

pub async fn find_inbound(conn: &mut Conn, id: InboundId) -> sqlx::Result<Option<InboundRecord>> {
    let row = sqlx::query(
        "SELECT id, source, mailbox, size, outcome, reason, ticket_id, trace, received_at, raw FROM inbound WHERE id = $1",
    )
    .bind(id.0)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(InboundRecord {
            id: InboundId(row.try_get(0)?),
            source: row.try_get(1)?,
            mailbox: row.try_get(2)?,
            size: row.try_get(3)?,
            outcome: row.try_get(4)?,
            reason: row.try_get(5)?,
            ticket_id: row.try_get::<Option<i64>, _>(6)?.map(TicketId),
            trace_json: row.try_get(7)?,
            received_at: row.try_get(8)?,
            raw: row.try_get(9)?,
        })
    })
    .transpose()
}

/// One line of `quarantine list`.
#[derive(Clone, Debug)]
pub struct QuarantineItem {
    pub id: InboundId,
    pub source: String,
    pub size: i64,
    pub reason: String,
    pub received_at: i64,
}

pub async fn list_quarantined(conn: &mut Conn, limit: i64) -> sqlx::Result<Vec<QuarantineItem>> {
    let rows: Vec<(i64, String, i64, String, i64)> = sqlx::query_as(
        "SELECT id, source, size, reason, received_at FROM inbound WHERE outcome = 'quarantined' ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, source, size, reason, received_at)| QuarantineItem {
            id: InboundId(id),
            source,
            size,
            reason,
            received_at,
        })
        .collect())
}

/// Counts of inbound rows per outcome, for status output and tests.
pub async fn count_by_outcome(conn: &mut Conn) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT outcome, COUNT(*) FROM inbound GROUP BY outcome ORDER BY outcome")
        .fetch_all(conn)
        .await
}
