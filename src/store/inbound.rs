//! `inbound`: one row per accepted raw message, with its dedupe key, outcome and decision trace.
//! Quarantined messages are rows here with outcome `quarantined` and their reason.

use super::{Result, Row, Tx};
use crate::core::ids::{InboundId, TicketId};
use crate::params;

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

pub fn find_inbound_by_dedupe_key(tx: &mut Tx<'_>, key: &str) -> Result<Option<InboundId>> {
    tx.query_opt("SELECT id FROM inbound WHERE dedupe_key = $1", params![key], |r| Ok(InboundId(r.i64(0)?)))
}

pub fn insert_inbound(tx: &mut Tx<'_>, new: &NewInbound<'_>) -> Result<InboundId> {
    let (uidvalidity, uid) = match new.imap_uid {
        Some((validity, uid)) => (Some(i64::from(validity)), Some(i64::from(uid))),
        None => (None, None),
    };
    tx.query_one(
        "INSERT INTO inbound (dedupe_key, source, mailbox, uidvalidity, uid, raw, size, outcome, trace, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '[]', $9) RETURNING id",
        params![
            new.dedupe_key,
            new.source.as_str(),
            new.mailbox,
            uidvalidity,
            uid,
            new.raw,
            new.raw.len() as i64,
            Outcome::Processing.as_str(),
            new.received_at
        ],
        |r| Ok(InboundId(r.i64(0)?)),
    )
}

pub fn update_inbound_outcome(
    tx: &mut Tx<'_>,
    id: InboundId,
    outcome: Outcome,
    reason: &str,
    ticket: Option<TicketId>,
    trace_json: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE inbound SET outcome = $1, reason = $2, ticket_id = $3, trace = $4 WHERE id = $5",
        params![outcome.as_str(), reason, ticket.map(|t| t.0), trace_json, id.0],
    )?;
    Ok(())
}

/// A stored inbound row, for `quarantine show|replay`.
#[derive(Clone, Debug)]
pub struct InboundRecord {
    pub id: InboundId,
    pub source: Source,
    pub mailbox: Option<String>,
    pub size: i64,
    pub outcome: Outcome,
    pub reason: String,
    pub ticket_id: Option<TicketId>,
    pub trace_json: String,
    pub received_at: i64,
    pub raw: Vec<u8>,
}

pub fn find_inbound(tx: &mut Tx<'_>, id: InboundId) -> Result<Option<InboundRecord>> {
    tx.query_opt(
        "SELECT id, source, mailbox, size, outcome, reason, ticket_id, trace, received_at, raw FROM inbound WHERE id = $1",
        params![id.0],
        |r: &Row<'_>| {
            Ok(InboundRecord {
                id: InboundId(r.i64(0)?),
                source: r.word(1)?,
                mailbox: r.opt_string(2)?,
                size: r.i64(3)?,
                outcome: r.word(4)?,
                reason: r.string(5)?,
                ticket_id: r.opt_i64(6)?.map(TicketId),
                trace_json: r.string(7)?,
                received_at: r.i64(8)?,
                raw: r.bytes(9)?,
            })
        },
    )
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

pub fn list_quarantined(tx: &mut Tx<'_>, limit: i64) -> Result<Vec<QuarantineItem>> {
    tx.query_all(
        "SELECT id, source, size, reason, received_at FROM inbound WHERE outcome = 'quarantined' ORDER BY id DESC LIMIT $1",
        params![limit],
        |r| {
            Ok(QuarantineItem {
                id: InboundId(r.i64(0)?),
                source: r.string(1)?,
                size: r.i64(2)?,
                reason: r.string(3)?,
                received_at: r.i64(4)?,
            })
        },
    )
}
