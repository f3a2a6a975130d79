//! Tickets and their thread: `tickets`, `participants`, `entries`, `attachments` + `blobs`
//! (de-duplicated by SHA-256) and `message_ids` (every id received or sent, for threading).

use super::{Result, Row, Tx};
use crate::core::address::{EmailAddress, MessageId};
use crate::core::classify::Class;
use crate::core::command::Priority;
use crate::core::ids::{AgentId, EntryId, InboundId, OrgId, TeamId, TicketId, UserId};
use crate::core::thread::TicketState;
use crate::core::ticket::TicketNumber;
use crate::core::ticket::{Role, Status};
use crate::params;

pub struct NewTicket<'a> {
    pub number: &'a TicketNumber,
    pub subject: &'a str,
    pub user: UserId,
    pub org: Option<OrgId>,
    pub assignee_agent: Option<AgentId>,
    pub assignee_team: Option<TeamId>,
    pub alert_agent: Option<AgentId>,
    pub alert_team: Option<TeamId>,
    pub mailbox: Option<&'a str>,
    pub linked_ticket: Option<TicketId>,
    /// The `[[topics]]` key.
    pub topic: Option<&'a str>,
    /// Our address the customer wrote to: the From of mail to them.
    pub reply_from: Option<&'a str>,
    pub priority: &'a str,
    /// The ticket's own fields (its topic's form), a JSON object.
    pub custom: &'a str,
    pub now_ms: i64,
}

pub fn ticket_number_exists(tx: &mut Tx<'_>, number: &TicketNumber) -> Result<bool> {
    Ok(tx.query_opt("SELECT id FROM tickets WHERE number = $1", params![number], |r| r.i64(0))?.is_some())
}

pub fn insert_ticket(tx: &mut Tx<'_>, t: &NewTicket<'_>) -> Result<TicketId> {
    tx.query_one(
        "INSERT INTO tickets (number, subject, status, user_id, org_id, assignee_agent_id, assignee_team_id,
                              alert_agent_id, alert_team_id, mailbox, linked_ticket_id, created_at, updated_at,
                              topic, reply_from, priority, custom)
         VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14, $15) RETURNING id",
        params![
            t.number,
            t.subject,
            t.user.0,
            t.org.map(|o| o.0),
            t.assignee_agent.map(|a| a.0),
            t.assignee_team.map(|a| a.0),
            t.alert_agent.map(|a| a.0),
            t.alert_team.map(|a| a.0),
            t.mailbox,
            t.linked_ticket.map(|l| l.0),
            t.now_ms,
            t.topic,
            t.reply_from,
            t.priority,
            t.custom
        ],
        |r| Ok(TicketId(r.i64(0)?)),
    )
}

fn ticket_state(r: &Row<'_>) -> Result<TicketState> {
    Ok(TicketState {
        id: TicketId(r.i64(0)?),
        number: r.ticket_number(1)?,
        status: r.word(2)?,
        closed_at: r.opt_i64(3)?,
        subject: r.string(4)?,
    })
}

pub fn find_ticket_state(tx: &mut Tx<'_>, id: TicketId) -> Result<Option<TicketState>> {
    tx.query_opt(
        "SELECT id, number, status, closed_at, subject FROM tickets WHERE id = $1",
        params![id.0],
        ticket_state,
    )
}

pub fn find_ticket_state_by_number(tx: &mut Tx<'_>, number: &TicketNumber) -> Result<Option<TicketState>> {
    tx.query_opt(
        "SELECT id, number, status, closed_at, subject FROM tickets WHERE number = $1",
        params![number],
        ticket_state,
    )
}

/// Records activity on a ticket and moves it to `status` (`closed_at` kept while closed, else cleared).
pub fn update_ticket_activity(tx: &mut Tx<'_>, id: TicketId, status: Status, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET status = $1, updated_at = $2,
                closed_at = CASE WHEN $1 = 'closed' THEN COALESCE(closed_at, $2) ELSE NULL END
         WHERE id = $3",
        params![status.as_str(), now_ms, id.0],
    )?;
    Ok(())
}

/// Adds a participant; an existing one keeps its role. Returns `true` when added.
pub fn add_participant(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    user: UserId,
    role: Role,
    now_ms: i64,
) -> Result<bool> {
    let added = tx.execute(
        "INSERT INTO participants (ticket_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (ticket_id, user_id) DO NOTHING",
        params![ticket.0, user.0, role.as_str(), now_ms],
    )?;
    Ok(added > 0)
}

/// True when `email` takes part in the ticket: a participant, a primary contact of its organization,
/// the assigned agent or a member of the assigned team.
pub fn takes_part(tx: &mut Tx<'_>, ticket: TicketId, email: &EmailAddress) -> Result<bool> {
    let found = tx.query_opt(
        "SELECT p.ticket_id FROM participants p JOIN users u ON u.id = p.user_id WHERE p.ticket_id = $1 AND u.email = $2
         UNION ALL
         SELECT t.id FROM tickets t JOIN org_contacts oc ON oc.org_id = t.org_id JOIN users u ON u.id = oc.user_id
          WHERE t.id = $1 AND u.email = $2
         UNION ALL
         SELECT t.id FROM tickets t JOIN agent_emails ae ON ae.agent_id = t.assignee_agent_id
          WHERE t.id = $1 AND ae.email = $2
         UNION ALL
         SELECT t.id FROM tickets t JOIN team_members tm ON tm.team_id = t.assignee_team_id
          JOIN agent_emails ae ON ae.agent_id = tm.agent_id WHERE t.id = $1 AND ae.email = $2
         LIMIT 1",
        params![ticket.0, email.as_str()],
        |r| r.i64(0),
    )?;
    Ok(found.is_some())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Message,
    Response,
    Note,
    System,
    /// Mail in an agent's name that failed authentication: shown to agents only, never relayed.
    Held,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Message => "message",
            EntryKind::Response => "response",
            EntryKind::Note => "note",
            EntryKind::System => "system",
            EntryKind::Held => "held",
        }
    }
}

/// What the classifier said of an entry's message, as stored on the entry (and named in traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryClass {
    Normal,
    AutoReply,
    AbuseReport,
    List,
    Bounce,
    Loop,
    /// From someone who does not take part in the ticket: agents see it, customers do not, nothing
    /// answers it, and it changes neither the people nor the status.
    NonParticipant,
}

impl EntryClass {
    pub fn of(class: &Class) -> EntryClass {
        match class {
            Class::Normal => EntryClass::Normal,
            Class::AutoReply => EntryClass::AutoReply,
            Class::AbuseReport => EntryClass::AbuseReport,
            Class::List => EntryClass::List,
            Class::Bounce(_) => EntryClass::Bounce,
            Class::Loop => EntryClass::Loop,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryClass::Normal => "normal",
            EntryClass::AutoReply => "auto-reply",
            EntryClass::AbuseReport => "abuse-report",
            EntryClass::List => "list",
            EntryClass::Bounce => "bounce",
            EntryClass::Loop => "loop",
            EntryClass::NonParticipant => "non-participant",
        }
    }
}

pub struct NewEntry<'a> {
    pub ticket: TicketId,
    pub kind: EntryKind,
    pub author_user: Option<UserId>,
    pub author_agent: Option<AgentId>,
    pub class: EntryClass,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: Option<&'a str>,
    /// The reply without quoted history; `None` when it equals `body_text`.
    pub stripped_text: Option<&'a str>,
    pub source: &'a str,
    pub inbound: Option<InboundId>,
    /// A system entry's line for customers; `None`: agents only.
    pub customer_text: Option<&'a str>,
    pub now_ms: i64,
}

pub fn insert_entry(tx: &mut Tx<'_>, e: &NewEntry<'_>) -> Result<EntryId> {
    tx.query_one(
        "INSERT INTO entries (ticket_id, kind, author_user_id, author_agent_id, class, subject, body_text, body_html,
                              stripped_text, source, inbound_id, created_at, customer_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        params![
            e.ticket.0,
            e.kind.as_str(),
            e.author_user.map(|u| u.0),
            e.author_agent.map(|a| a.0),
            e.class,
            e.subject,
            e.body_text,
            e.body_html,
            e.stripped_text,
            e.source,
            e.inbound.map(|i| i.0),
            e.now_ms,
            e.customer_text
        ],
        |r| Ok(EntryId(r.i64(0)?)),
    )
}

/// Stores `content` once per SHA-256 and returns the blob id.
pub fn ensure_blob(tx: &mut Tx<'_>, sha256_hex: &str, content: &[u8]) -> Result<i64> {
    if let Some(id) =
        tx.query_opt("SELECT id FROM blobs WHERE sha256 = $1", params![sha256_hex], |r| r.i64(0))?
    {
        return Ok(id);
    }
    let inserted = tx.query_opt(
        "INSERT INTO blobs (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING RETURNING id",
        params![sha256_hex, content.len() as i64, content],
        |r| r.i64(0),
    )?;
    match inserted {
        Some(id) => Ok(id),
        None => tx.query_one("SELECT id FROM blobs WHERE sha256 = $1", params![sha256_hex], |r| r.i64(0)),
    }
}

pub struct NewAttachment<'a> {
    pub entry: EntryId,
    pub blob: i64,
    pub filename: Option<&'a str>,
    pub content_type: &'a str,
    pub content_id: Option<&'a str>,
    pub inline: bool,
}

pub fn insert_attachment(tx: &mut Tx<'_>, a: &NewAttachment<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO attachments (entry_id, blob_id, filename, content_type, content_id, inline)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![a.entry.0, a.blob, a.filename, a.content_type, a.content_id, a.inline],
    )?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// Remembers a Message-ID as belonging to the ticket; an id already known keeps its first ticket.
pub fn insert_message_id(
    tx: &mut Tx<'_>,
    id: &MessageId,
    ticket: TicketId,
    entry: Option<EntryId>,
    direction: Direction,
) -> Result<()> {
    let direction = match direction {
        Direction::In => "in",
        Direction::Out => "out",
    };
    tx.execute(
        "INSERT INTO message_ids (message_id, ticket_id, entry_id, direction) VALUES ($1, $2, $3, $4)
         ON CONFLICT (message_id) DO NOTHING",
        params![id.as_str(), ticket.0, entry.map(|e| e.0), direction],
    )?;
    Ok(())
}

/// The ticket a Message-ID belongs to, if we received or sent it.
pub fn find_ticket_by_message_id(tx: &mut Tx<'_>, id: &MessageId) -> Result<Option<TicketId>> {
    tx.query_opt("SELECT ticket_id FROM message_ids WHERE message_id = $1", params![id.as_str()], |r| {
        Ok(TicketId(r.i64(0)?))
    })
}

/// Whether `id` is the Message-ID of mail we sent (recorded with direction out when queued).
pub fn is_outgoing_message_id(tx: &mut Tx<'_>, id: &MessageId) -> Result<bool> {
    let found = tx.query_opt(
        "SELECT 1 FROM message_ids WHERE message_id = $1 AND direction = 'out'",
        params![id.as_str()],
        |r| r.i64(0),
    )?;
    Ok(found.is_some())
}

/// One line of `ticket list`.
#[derive(Clone, Debug)]
pub struct TicketSummary {
    pub id: TicketId,
    pub number: TicketNumber,
    pub subject: String,
    pub status: Status,
    pub owner_email: String,
    pub org_key: Option<String>,
    pub assignee: Option<String>,
    pub priority: Priority,
    pub entries: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub linked_number: Option<TicketNumber>,
}

pub(super) const SUMMARY_COLUMNS: &str = "t.id, t.number, t.subject, t.status, u.email, o.key,
    COALESCE(a.key, tm.key), t.priority, (SELECT COUNT(*) FROM entries e WHERE e.ticket_id = t.id),
    t.created_at, t.updated_at, lt.number
    FROM tickets t JOIN users u ON u.id = t.user_id LEFT JOIN orgs o ON o.id = t.org_id
    LEFT JOIN agents a ON a.id = t.assignee_agent_id LEFT JOIN teams tm ON tm.id = t.assignee_team_id
    LEFT JOIN tickets lt ON lt.id = t.linked_ticket_id";

pub(super) fn ticket_summary(r: &Row<'_>) -> Result<TicketSummary> {
    Ok(TicketSummary {
        id: TicketId(r.i64(0)?),
        number: r.ticket_number(1)?,
        subject: r.string(2)?,
        status: r.word(3)?,
        owner_email: r.string(4)?,
        org_key: r.opt_string(5)?,
        assignee: r.opt_string(6)?,
        priority: r.word(7)?,
        entries: r.i64(8)?,
        created_at: r.i64(9)?,
        updated_at: r.i64(10)?,
        linked_number: r.opt_ticket_number(11)?,
    })
}

/// Tickets, most recently active first, optionally only those with `status`.
pub fn list_tickets(tx: &mut Tx<'_>, status: Option<Status>, limit: i64) -> Result<Vec<TicketSummary>> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} WHERE ($1 = '' OR t.status = $1) ORDER BY t.updated_at DESC, t.id DESC LIMIT $2"
    );
    tx.query_all(&sql, params![status.map_or("", Status::as_str), limit], ticket_summary)
}

pub fn find_ticket_summary(tx: &mut Tx<'_>, number: &TicketNumber) -> Result<Option<TicketSummary>> {
    tx.query_opt(&format!("SELECT {SUMMARY_COLUMNS} WHERE t.number = $1"), params![number], ticket_summary)
}

/// Tickets of one user, newest first.
pub fn list_user_tickets(tx: &mut Tx<'_>, user: UserId, limit: i64) -> Result<Vec<TicketSummary>> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} WHERE t.user_id = $1 ORDER BY t.updated_at DESC LIMIT $2");
    tx.query_all(&sql, params![user.0, limit], ticket_summary)
}

/// The email addresses of the ticket's customer side (owner and collaborators), owner first.
pub fn customer_emails(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Vec<EmailAddress>> {
    let emails = tx.query_all(
        "SELECT u.email FROM participants p JOIN users u ON u.id = p.user_id
          WHERE p.ticket_id = $1 ORDER BY CASE p.role WHEN 'owner' THEN 0 ELSE 1 END, p.created_at, u.email",
        params![ticket.0],
        |r| r.string(0),
    )?;
    Ok(emails.iter().filter_map(|e| EmailAddress::parse(e)).collect())
}

/// The Message-ID of the newest customer message on the ticket: what a response answers in the
/// customer's mail client.
pub fn last_customer_message_id(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<MessageId>> {
    let id = tx.query_opt(
        "SELECT m.message_id FROM message_ids m JOIN entries e ON e.id = m.entry_id
          WHERE m.ticket_id = $1 AND m.direction = 'in' AND e.kind = 'message'
          ORDER BY e.id DESC LIMIT 1",
        params![ticket.0],
        |r| r.string(0),
    )?;
    Ok(id.and_then(|id| MessageId::parse(&id)))
}

/// Whether `email` is the owner or a collaborator of the ticket.
pub fn is_customer_participant(tx: &mut Tx<'_>, ticket: TicketId, email: &EmailAddress) -> Result<bool> {
    tx.query_one(
        "SELECT COUNT(*) FROM participants p JOIN users u ON u.id = p.user_id
          WHERE p.ticket_id = $1 AND u.email = $2",
        params![ticket.0, email.as_str()],
        |r| Ok(r.i64(0)? > 0),
    )
}

#[derive(Clone, Debug)]
pub struct ParticipantRecord {
    pub email: String,
    pub name: String,
    pub role: Role,
}

pub fn list_participants(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Vec<ParticipantRecord>> {
    tx.query_all(
        "SELECT u.email, u.name, p.role FROM participants p JOIN users u ON u.id = p.user_id
         WHERE p.ticket_id = $1 ORDER BY p.created_at, u.email",
        params![ticket.0],
        |r| Ok(ParticipantRecord { email: r.string(0)?, name: r.string(1)?, role: r.word(2)? }),
    )
}

#[derive(Clone, Debug)]
pub struct EntryRecord {
    pub id: EntryId,
    pub kind: EntryKind,
    pub class: EntryClass,
    pub author: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub stripped_text: String,
    /// The inbound source (`pipe`, `imap`, ...) or `rule` for system entries.
    pub source: String,
    pub inbound: Option<InboundId>,
    pub attachments: i64,
    pub created_at: i64,
}

pub fn list_entries(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Vec<EntryRecord>> {
    tx.query_all(
        "SELECT e.id, e.kind, e.class, COALESCE(u.email, a.key), e.subject, e.body_text, COALESCE(e.stripped_text, e.body_text), e.source,
                e.inbound_id, (SELECT COUNT(*) FROM attachments x WHERE x.entry_id = e.id), e.created_at
         FROM entries e LEFT JOIN users u ON u.id = e.author_user_id LEFT JOIN agents a ON a.id = e.author_agent_id
         WHERE e.ticket_id = $1 ORDER BY e.id",
        params![ticket.0],
        |r| {
            Ok(EntryRecord {
                id: EntryId(r.i64(0)?),
                kind: r.word(1)?,
                class: r.word(2)?,
                author: r.opt_string(3)?,
                subject: r.string(4)?,
                body_text: r.string(5)?,
                stripped_text: r.string(6)?,
                source: r.string(7)?,
                inbound: r.opt_i64(8)?.map(InboundId),
                attachments: r.i64(9)?,
                created_at: r.i64(10)?,
            })
        },
    )
}

#[derive(Clone, Debug)]
pub struct AttachmentRecord {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub inline: bool,
}

pub fn list_attachments(tx: &mut Tx<'_>, entry: EntryId) -> Result<Vec<AttachmentRecord>> {
    tx.query_all(
        "SELECT a.filename, a.content_type, b.size, b.sha256, a.inline FROM attachments a
         JOIN blobs b ON b.id = a.blob_id WHERE a.entry_id = $1 ORDER BY a.id",
        params![entry.0],
        |r| {
            Ok(AttachmentRecord {
                filename: r.opt_string(0)?,
                content_type: r.string(1)?,
                size: r.i64(2)?,
                sha256: r.string(3)?,
                inline: r.bool(4)?,
            })
        },
    )
}

/// The text of an entry as quoted in mail: the reply without its quoted history.
/// The files of an entry with their bytes, for relaying: `(file name, content type, content)`.
pub fn entry_files(tx: &mut Tx<'_>, entry: EntryId) -> Result<Vec<(String, String, Vec<u8>)>> {
    tx.query_all(
        "SELECT COALESCE(a.filename, ''), a.content_type, b.content FROM attachments a
           JOIN blobs b ON b.id = a.blob_id WHERE a.entry_id = $1 ORDER BY a.id",
        params![entry.0],
        |r| Ok((r.string(0)?, r.string(1)?, r.bytes(2)?)),
    )
}

pub fn entry_reply_text(tx: &mut Tx<'_>, entry: EntryId) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT COALESCE(stripped_text, body_text) FROM entries WHERE id = $1",
        params![entry.0],
        |r| r.string(0),
    )
}
