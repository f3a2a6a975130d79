//! `outbox`: every mail we are going to send, written in the same transaction as the event that
//! causes it, with its pre-assigned Message-ID. A worker claims due rows and sends them.

use std::sync::LazyLock;

use super::{Result, Row, Tx};
use crate::core::address::{EmailAddress, MessageId};
use crate::core::ids::TicketId;
use crate::core::notify::Mail;
use crate::core::ticket::TicketNumber;
use crate::outbox::context::StoredCustom;
use crate::params;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct OutboxId(pub i64);

impl std::fmt::Display for OutboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

pub struct NewOutbound<'a> {
    pub message_id: &'a MessageId,
    pub ticket: Option<TicketId>,
    pub recipient: &'a EmailAddress,
    pub template: &'a str,
    /// The template context as JSON, fixed at enqueue time.
    pub context_json: &'a str,
    pub now_ms: i64,
}

pub fn enqueue(tx: &mut Tx<'_>, mail: &NewOutbound<'_>) -> Result<OutboxId> {
    tx.query_one(
        "INSERT INTO outbox (message_id, ticket_id, recipient, template, context, status, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6) RETURNING id",
        params![
            mail.message_id.as_str(),
            mail.ticket.map(|t| t.0),
            mail.recipient.as_str(),
            mail.template,
            mail.context_json,
            mail.now_ms
        ],
        |r| Ok(OutboxId(r.i64(0)?)),
    )
}

/// Automatic mails that answer customers (auto-response, confirmation, collaborator notice) queued
/// to `recipient` since `since_ms`: the governor's per-address window. Read from the index alone
/// (`outbox_recipient` holds the template, migration 0020): a row lookup per mail in the window
/// made an address with a long history cost 31% of a `pipe` (1,500 mails in an hour).
pub fn count_answers_to_since(tx: &mut Tx<'_>, recipient: &EmailAddress, since_ms: i64) -> Result<i64> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let answers: Vec<String> = Mail::ALL
            .into_iter()
            .filter(|mail| mail.answers_customer())
            .map(|mail| format!("'{}'", mail.template()))
            .collect();
        format!(
            "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND created_at >= $2 AND template IN ({})",
            answers.join(", ")
        )
    });
    tx.query_one(&SQL, params![recipient.as_str(), since_ms], |r| r.i64(0))
}

/// Mails with `template` on `ticket`.
pub fn count_on_ticket(tx: &mut Tx<'_>, ticket: TicketId, template: &str) -> Result<i64> {
    tx.query_one(
        "SELECT COUNT(*) FROM outbox WHERE ticket_id = $1 AND template = $2",
        params![ticket.0, template],
        |r| r.i64(0),
    )
}

/// The agents to alert about `ticket`: the assigned agent or the assigned team's members; else the
/// account manager recorded as alert target (agent or team members); else, when `all_when_none`,
/// every active agent.
pub fn alert_recipients(tx: &mut Tx<'_>, ticket: TicketId, all_when_none: bool) -> Result<Vec<EmailAddress>> {
    // The ticket's targets are read once and only those set are looked up: a new, unassigned
    // ticket has none, and two compound queries on it cost a `pipe` 0.3 M instructions to prepare.
    let targets = tx.query_opt(
        "SELECT assignee_agent_id, assignee_team_id, alert_agent_id, alert_team_id FROM tickets WHERE id = $1",
        params![ticket.0],
        |r| Ok([(r.opt_i64(0)?, r.opt_i64(1)?), (r.opt_i64(2)?, r.opt_i64(3)?)]),
    )?;
    let address = |r: &Row<'_>| r.string(0);
    for (agent, team) in targets.into_iter().flatten() {
        if agent.is_none() && team.is_none() {
            continue;
        }
        let found = tx.query_all(
            "SELECT DISTINCT email FROM agents
             WHERE active = 1 AND email <> ''
               AND (id = $1 OR id IN (SELECT agent_id FROM team_members WHERE team_id = $2))
             ORDER BY 1",
            params![agent, team],
            address,
        )?;
        if !found.is_empty() {
            return Ok(found.iter().filter_map(|e| EmailAddress::parse(e)).collect());
        }
    }
    if !all_when_none {
        return Ok(Vec::new());
    }
    let all = tx.query_all(
        "SELECT email FROM agents WHERE active = 1 AND email <> '' ORDER BY email",
        &[],
        address,
    )?;
    Ok(all.iter().filter_map(|e| EmailAddress::parse(e)).collect())
}

/// One outbox row, for `outbox list|show`.
#[derive(Clone, Debug)]
pub struct OutboxRecord {
    pub id: OutboxId,
    pub message_id: String,
    pub ticket_number: Option<TicketNumber>,
    pub recipient: String,
    pub template: String,
    pub context_json: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

const RECORD_COLUMNS: &str = "o.id, o.message_id, t.number, o.recipient, o.template, o.context, o.status, o.attempts,
    o.next_attempt_at, o.last_error, o.created_at, o.sent_at FROM outbox o LEFT JOIN tickets t ON t.id = o.ticket_id";

fn record(r: &Row<'_>) -> Result<OutboxRecord> {
    Ok(OutboxRecord {
        id: OutboxId(r.i64(0)?),
        message_id: r.string(1)?,
        ticket_number: r.opt_ticket_number(2)?,
        recipient: r.string(3)?,
        template: r.string(4)?,
        context_json: r.string(5)?,
        status: r.string(6)?,
        attempts: r.i64(7)?,
        next_attempt_at: r.i64(8)?,
        last_error: r.opt_string(9)?,
        created_at: r.i64(10)?,
        sent_at: r.opt_i64(11)?,
    })
}

/// Newest first; `status` filters when given.
pub fn list_outbox(tx: &mut Tx<'_>, status: Option<&str>, limit: i64) -> Result<Vec<OutboxRecord>> {
    let sql = format!("SELECT {RECORD_COLUMNS} WHERE ($1 = '' OR o.status = $1) ORDER BY o.id DESC LIMIT $2");
    tx.query_all(&sql, params![status.unwrap_or_default(), limit], record)
}

pub fn find_outbox(tx: &mut Tx<'_>, id: OutboxId) -> Result<Option<OutboxRecord>> {
    tx.query_opt(&format!("SELECT {RECORD_COLUMNS} WHERE o.id = $1"), params![id.0], record)
}

/// A row claimed for sending.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: OutboxId,
    pub message_id: String,
    pub ticket: Option<TicketId>,
    pub recipient: String,
    pub template: String,
    pub context_json: String,
    /// Attempts including this one.
    pub attempts: i64,
}

/// Claims up to `limit` due rows for one sending attempt: `queued` rows whose time has come, and
/// `sending` rows whose lease ran out (their worker died). A claimed row is `sending` until
/// `now + lease_ms`. Several workers (daemons on one PostgreSQL) never claim the same row.
pub fn claim_due(tx: &mut Tx<'_>, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<Claimed>> {
    let lock = match tx.backend() {
        super::Backend::Sqlite => "", // BEGIN IMMEDIATE already serialises writers
        super::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = $1
         WHERE id IN (SELECT id FROM outbox WHERE status IN ('queued', 'sending') AND next_attempt_at <= $2
                      ORDER BY next_attempt_at, id LIMIT $3 {lock})
         RETURNING id, message_id, ticket_id, recipient, template, context, attempts"
    );
    tx.query_all(&sql, params![now_ms + lease_ms, now_ms, limit], claimed_row)
}

fn claimed_row(r: &Row<'_>) -> Result<Claimed> {
    Ok(Claimed {
        id: OutboxId(r.i64(0)?),
        message_id: r.string(1)?,
        ticket: r.opt_i64(2)?.map(TicketId),
        recipient: r.string(3)?,
        template: r.string(4)?,
        context_json: r.string(5)?,
        attempts: r.i64(6)?,
    })
}

/// Claims the named rows for `mailgate outbox retry`: queued, failed or dead rows, and sending rows
/// whose lease ran out, become `sending` until `now + lease_ms`. A failed or dead row starts a fresh
/// attempt budget. Rows already sent, or being sent under a live lease, are left alone.
pub fn claim_for_retry(
    tx: &mut Tx<'_>,
    ids: &[OutboxId],
    now_ms: i64,
    lease_ms: i64,
) -> Result<Vec<Claimed>> {
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        let row = tx.query_opt(
            "UPDATE outbox SET status = 'sending', next_attempt_at = $1,
                    attempts = CASE WHEN status IN ('failed', 'dead') THEN 1 ELSE attempts + 1 END
              WHERE id = $2
                AND (status IN ('queued', 'failed', 'dead') OR (status = 'sending' AND next_attempt_at <= $3))
             RETURNING id, message_id, ticket_id, recipient, template, context, attempts",
            params![now_ms + lease_ms, id.0, now_ms],
            claimed_row,
        )?;
        claimed.extend(row);
    }
    Ok(claimed)
}

pub fn mark_sent(tx: &mut Tx<'_>, id: OutboxId, now_ms: i64) -> Result<()> {
    tx.execute(
        // A sent account mail's context holds a live single-use link: it is not kept.
        "UPDATE outbox SET status = 'sent', sent_at = $1, last_error = NULL,
                context = CASE WHEN template IN ('account_confirm', 'account_invite', 'password_reset')
                               THEN '{}' ELSE context END
          WHERE id = $2",
        params![now_ms, id.0],
    )?;
    Ok(())
}

/// A transient failure: queued again for `next_attempt_ms`.
pub fn mark_retry(tx: &mut Tx<'_>, id: OutboxId, next_attempt_ms: i64, error: &str) -> Result<()> {
    tx.execute(
        "UPDATE outbox SET status = 'queued', next_attempt_at = $1, last_error = $2 WHERE id = $3",
        params![next_attempt_ms, error, id.0],
    )?;
    Ok(())
}

/// The server refused us (connection, STARTTLS, AUTH), not this mail: queued again for
/// `next_attempt_ms` with the claim's attempt taken back, so it never runs out of attempts for it.
pub fn mark_postponed(tx: &mut Tx<'_>, id: OutboxId, next_attempt_ms: i64, error: &str) -> Result<()> {
    tx.execute(
        "UPDATE outbox SET status = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, next_attempt_at = $1, last_error = $2
          WHERE id = $3",
        params![next_attempt_ms, error, id.0],
    )?;
    Ok(())
}

/// Given up: `failed` (the server refused it for good) or `dead` (out of attempts).
pub fn mark_given_up(tx: &mut Tx<'_>, id: OutboxId, status: GivenUp, error: &str) -> Result<()> {
    let status = match status {
        GivenUp::Failed => "failed",
        GivenUp::Dead => "dead",
    };
    tx.execute("UPDATE outbox SET status = $1, last_error = $2 WHERE id = $3", params![status, error, id.0])?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GivenUp {
    Failed,
    Dead,
}

/// The Message-ID of the message that opened the ticket: the root of its References chain.
pub fn thread_root(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT m.message_id FROM message_ids m JOIN entries e ON e.id = m.entry_id
         WHERE m.ticket_id = $1 AND m.direction = 'in' ORDER BY e.id LIMIT 1",
        params![ticket.0],
        |r| r.string(0),
    )
}

/// The name of `ticket`'s organization, if it has one.
pub fn ticket_organization(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT o.name FROM tickets t JOIN orgs o ON o.id = t.org_id WHERE t.id = $1",
        params![ticket.0],
        |r| r.string(0),
    )
}

/// The custom data of `ticket`, its owner and its organization, and its topic (mail shows them:
/// `outbox::context::fields`).
pub fn ticket_custom(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<StoredCustom>> {
    tx.query_opt(
        "SELECT t.topic, t.custom, u.custom, o.custom
           FROM tickets t JOIN users u ON u.id = t.user_id LEFT JOIN orgs o ON o.id = t.org_id
          WHERE t.id = $1",
        params![ticket.0],
        |r| {
            Ok(StoredCustom {
                topic: r.opt_string(0)?,
                ticket: r.string(1)?,
                customer: r.string(2)?,
                org: r.opt_string(3)?,
            })
        },
    )
}

/// Our address the customer of `ticket` wrote to, if recorded and still an address.
pub fn ticket_reply_from(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<EmailAddress>> {
    let found =
        tx.query_opt("SELECT reply_from FROM tickets WHERE id = $1", params![ticket.0], |r| r.opt_string(0))?;
    Ok(found.flatten().as_deref().and_then(EmailAddress::parse))
}

/// The role (`owner`, `collaborator`, `primary_contact`) of the user with `email` on `ticket`.
pub fn participant_role(tx: &mut Tx<'_>, ticket: TicketId, email: &EmailAddress) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT p.role FROM participants p JOIN users u ON u.id = p.user_id WHERE p.ticket_id = $1 AND u.email = $2",
        params![ticket.0, email.as_str()],
        |r| r.string(0),
    )
}

/// A bounce came back for the mail with `message_id`: its delivery failed after the server took it.
/// `false` when no outbox row has that id (not a mail of ours).
pub fn mark_bounced(tx: &mut Tx<'_>, message_id: &MessageId, report: &str) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE outbox SET status = 'failed', last_error = $1 WHERE message_id = $2",
        params![format!("bounced: {report}").as_str(), message_id.as_str()],
    )?;
    Ok(changed > 0)
}

/// Rows waiting or given up on, by state, and when the longest-waiting due mail became due: what
/// `/healthz` and the metrics report. Reads only the `outbox_due` index's non-sent ranges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Backlog {
    pub queued: i64,
    /// Claimed by a worker now (or by one that died, until its lease runs out).
    pub sending: i64,
    pub failed: i64,
    pub dead: i64,
    /// The earliest `next_attempt_at` of a queued or sending row; `None` when there is none.
    pub earliest_attempt_at: Option<i64>,
}

pub fn backlog(tx: &mut Tx<'_>) -> Result<Backlog> {
    let rows = tx.query_all(
        "SELECT status, COUNT(*), MIN(next_attempt_at) FROM outbox
          WHERE status IN ('queued', 'sending', 'failed', 'dead') GROUP BY status",
        &[],
        |r| Ok((r.string(0)?, r.i64(1)?, r.opt_i64(2)?)),
    )?;
    let mut backlog = Backlog::default();
    for (status, count, earliest) in rows {
        match status.as_str() {
            "queued" | "sending" => {
                if status == "queued" {
                    backlog.queued = count;
                } else {
                    backlog.sending = count;
                }
                backlog.earliest_attempt_at = match (backlog.earliest_attempt_at, earliest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            "failed" => backlog.failed = count,
            _ => backlog.dead = count,
        }
    }
    Ok(backlog)
}
