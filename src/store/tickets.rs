//! Tickets and their thread: `tickets`, `participants`, `entries`, `attachments` + `blobs`
//! (de-duplicated by SHA-256) and `message_ids` (every id received or sent, for threading).

use sqlx::Row;

use super::Conn;
use crate::core::address::{EmailAddress, MessageId};
use crate::core::ids::{AgentId, EntryId, InboundId, OrgId, TeamId, TicketId, UserId};
use crate::core::thread::TicketState;
use crate::core::ticket::{Role, Status};

pub struct NewTicket<'a> {
    pub number: &'a str,
    pub subject: &'a str,
    pub user: UserId,
    pub org: Option<OrgId>,
    pub assignee_agent: Option<AgentId>,
    pub assignee_team: Option<TeamId>,
    pub alert_agent: Option<AgentId>,
    pub alert_team: Option<TeamId>,
    pub mailbox: Option<&'a str>,
    pub linked_ticket: Option<TicketId>,
    pub now_ms: i64,
}

pub async fn ticket_number_exists(conn: &mut Conn, number: &str) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM tickets WHERE number = $1")
        .bind(number)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

pub async fn insert_ticket(conn: &mut Conn, t: &NewTicket<'_>) -> sqlx::Result<TicketId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets (number, subject, status, user_id, org_id, assignee_agent_id, assignee_team_id,
                              alert_agent_id, alert_team_id, mailbox, linked_ticket_id, created_at, updated_at)
         VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(t.number)
    .bind(t.subject)
    .bind(t.user.0)
    .bind(t.org.map(|o| o.0))
    .bind(t.assignee_agent.map(|a| a.0))
    .bind(t.assignee_team.map(|a| a.0))
    .bind(t.alert_agent.map(|a| a.0))
    .bind(t.alert_team.map(|a| a.0))
    .bind(t.mailbox)
    .bind(t.linked_ticket.map(|l| l.0))
    .bind(t.now_ms)
    .fetch_one(conn)
    .await?;
    Ok(TicketId(id))
}

fn ticket_state(row: (i64, String, String, Option<i64>)) -> TicketState {
    let (id, number, status, closed_at) = row;
    TicketState {
        id: TicketId(id),
        number,
        status: Status::parse(&status).unwrap_or(Status::Open),
        closed_at,
    }
}

pub async fn find_ticket_state(conn: &mut Conn, id: TicketId) -> sqlx::Result<Option<TicketState>> {
    let row = sqlx::query_as("SELECT id, number, status, closed_at FROM tickets WHERE id = $1")
        .bind(id.0)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(ticket_state))
}

pub async fn find_ticket_state_by_number(conn: &mut Conn, number: &str) -> sqlx::Result<Option<TicketState>> {
    let row = sqlx::query_as("SELECT id, number, status, closed_at FROM tickets WHERE number = $1")
        .bind(number)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(ticket_state))
}

/// Records activity on a ticket and moves it to `status` (`closed_at` cleared unless closed).
pub async fn update_ticket_activity(
    conn: &mut Conn,
    id: TicketId,
    status: Status,
    now_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE tickets SET status = $1, updated_at = $2,
                closed_at = CASE WHEN $1 = 'closed' THEN COALESCE(closed_at, $2) ELSE NULL END
         WHERE id = $3",
    )
    .bind(status.as_str())
    .bind(now_ms)
    .bind(id.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a participant; an existing one keeps its role. Returns `true` when added.
pub async fn add_participant(
    conn: &mut Conn,
    ticket: TicketId,
    user: UserId,
    role: Role,
    now_ms: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO participants (ticket_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (ticket_id, user_id) DO NOTHING",
    )
    .bind(ticket.0)
    .bind(user.0)
    .bind(role.as_str())
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// True when `email` takes part in the ticket: a participant, a primary contact of its organization,
/// the assigned agent or a member of the assigned team.
pub async fn takes_part(conn: &mut Conn, ticket: TicketId, email: &EmailAddress) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM participants p JOIN users u ON u.id = p.user_id WHERE p.ticket_id = $1 AND u.email = $2
         UNION ALL
         SELECT 1 FROM tickets t JOIN org_contacts oc ON oc.org_id = t.org_id JOIN users u ON u.id = oc.user_id
          WHERE t.id = $1 AND u.email = $2
         UNION ALL
         SELECT 1 FROM tickets t JOIN agent_emails ae ON ae.agent_id = t.assignee_agent_id
          WHERE t.id = $1 AND ae.email = $2
         UNION ALL
         SELECT 1 FROM tickets t JOIN team_members tm ON tm.team_id = t.assignee_team_id
          JOIN agent_emails ae ON ae.agent_id = tm.agent_id WHERE t.id = $1 AND ae.email = $2
         LIMIT 1",
    )
    .bind(ticket.0)
    .bind(email.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Message,
    Response,
    Note,
    System,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Message => "message",
            EntryKind::Response => "response",
            EntryKind::Note => "note",
            EntryKind::System => "system",
        }
    }
}

pub struct NewEntry<'a> {
    pub ticket: TicketId,
    pub kind: EntryKind,
    pub author_user: Option<UserId>,
    pub author_agent: Option<AgentId>,
    /// `normal`, `auto-reply`, `bounce` or `list`: what the classifier said of the message.
    pub class: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: Option<&'a str>,
    pub stripped_text: &'a str,
    pub source: &'a str,
    pub inbound: Option<InboundId>,
    pub now_ms: i64,
}

pub async fn insert_entry(conn: &mut Conn, e: &NewEntry<'_>) -> sqlx::Result<EntryId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO entries (ticket_id, kind, author_user_id, author_agent_id, class, subject, body_text, body_html,
                              stripped_text, source, inbound_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(e.ticket.0)
    .bind(e.kind.as_str())
    .bind(e.author_user.map(|u| u.0))
    .bind(e.author_agent.map(|a| a.0))
    .bind(e.class)
    .bind(e.subject)
    .bind(e.body_text)
    .bind(e.body_html)
    .bind(e.stripped_text)
    .bind(e.source)
    .bind(e.inbound.map(|i| i.0))
    .bind(e.now_ms)
    .fetch_one(conn)
    .await?;
    Ok(EntryId(id))
}

/// Stores `content` once per SHA-256 and returns the blob id.
pub async fn ensure_blob(conn: &mut Conn, sha256_hex: &str, content: &[u8]) -> sqlx::Result<i64> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO blobs (sha256, size, content) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING RETURNING id",
    )
    .bind(sha256_hex)
    .bind(content.len() as i64)
    .bind(content)
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(id) => Ok(id),
        None => {
            sqlx::query_scalar("SELECT id FROM blobs WHERE sha256 = $1")
                .bind(sha256_hex)
                .fetch_one(conn)
                .await
        }
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

pub async fn insert_attachment(conn: &mut Conn, a: &NewAttachment<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO attachments (entry_id, blob_id, filename, content_type, content_id, inline)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(a.entry.0)
    .bind(a.blob)
    .bind(a.filename)
    .bind(a.content_type)
    .bind(a.content_id)
    .bind(i64::from(a.inline))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// Remembers a Message-ID as belonging to the ticket; an id already known keeps its first ticket.
pub async fn insert_message_id(
    conn: &mut Conn,
    id: &MessageId,
    ticket: TicketId,
    entry: Option<EntryId>,
    direction: Direction,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO message_ids (message_id, ticket_id, entry_id, direction) VALUES ($1, $2, $3, $4)
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(ticket.0)
    .bind(entry.map(|e| e.0))
    .bind(match direction {
        Direction::In => "in",
        Direction::Out => "out",
    })
    .execute(conn)
    .await?;
    Ok(())
}

/// The ticket a Message-ID belongs to, if we received or sent it.
pub async fn find_ticket_by_message_id(conn: &mut Conn, id: &MessageId) -> sqlx::Result<Option<TicketId>> {
    let ticket: Option<i64> = sqlx::query_scalar("SELECT ticket_id FROM message_ids WHERE message_id = $1")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(ticket.map(TicketId))
}

/// One line of `ticket list`.
#[derive(Clone, Debug)]
pub struct TicketSummary {
    pub id: TicketId,
    pub number: String,
    pub subject: String,
    pub status: String,
    pub owner_email: String,
    pub org_key: Option<String>,
    pub assignee: Option<String>,
    pub priority: String,
    pub entries: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub linked_number: Option<String>,
}

const SUMMARY_COLUMNS: &str = "t.id, t.number, t.subject, t.status, u.email, o.key,
    COALESCE(a.key, tm.key), t.priority, (SELECT COUNT(*) FROM entries e WHERE e.ticket_id = t.id),
    t.created_at, t.updated_at, lt.number
    FROM tickets t JOIN users u ON u.id = t.user_id LEFT JOIN orgs o ON o.id = t.org_id
    LEFT JOIN agents a ON a.id = t.assignee_agent_id LEFT JOIN teams tm ON tm.id = t.assignee_team_id
    LEFT JOIN tickets lt ON lt.id = t.linked_ticket_id";

fn ticket_summary(row: &sqlx::any::AnyRow) -> sqlx::Result<TicketSummary> {
    Ok(TicketSummary {
        id: TicketId(row.try_get(0)?),
        number: row.try_get(1)?,
        subject: row.try_get(2)?,
        status: row.try_get(3)?,
        owner_email: row.try_get(4)?,
        org_key: row.try_get(5)?,
        assignee: row.try_get(6)?,
        priority: row.try_get(7)?,
        entries: row.try_get(8)?,
        created_at: row.try_get(9)?,
        updated_at: row.try_get(10)?,
        linked_number: row.try_get(11)?,
    })
}

/// Tickets, most recently active first, optionally only those with `status`.
pub async fn list_tickets(
    conn: &mut Conn,
    status: Option<Status>,
    limit: i64,
) -> sqlx::Result<Vec<TicketSummary>> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} WHERE ($1 = '' OR t.status = $1) ORDER BY t.updated_at DESC, t.id DESC LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.map_or("", Status::as_str))
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(ticket_summary).collect()
}

pub async fn find_ticket_summary(conn: &mut Conn, number: &str) -> sqlx::Result<Option<TicketSummary>> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} WHERE t.number = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(number).fetch_optional(conn).await?;
    row.as_ref().map(ticket_summary).transpose()
}

/// Tickets of one user, newest first.
pub async fn list_user_tickets(
    conn: &mut Conn,
    user: UserId,
    limit: i64,
) -> sqlx::Result<Vec<TicketSummary>> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} WHERE t.user_id = $1 ORDER BY t.updated_at DESC LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.0).bind(limit).fetch_all(conn).await?;
    rows.iter().map(ticket_summary).collect()
}

#[derive(Clone, Debug)]
pub struct ParticipantRecord {
    pub email: String,
    pub name: String,
    pub role: String,
}

pub async fn list_participants(conn: &mut Conn, ticket: TicketId) -> sqlx::Result<Vec<ParticipantRecord>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT u.email, u.name, p.role FROM participants p JOIN users u ON u.id = p.user_id
         WHERE p.ticket_id = $1 ORDER BY p.created_at, u.email",
    )
    .bind(ticket.0)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(email, name, role)| ParticipantRecord { email, name, role }).collect())
}

#[derive(Clone, Debug)]
pub struct EntryRecord {
    pub id: EntryId,
    pub kind: String,
    pub class: String,
    pub author: Option<String>,
    pub subject: String,
    pub body_text: String,
    pub stripped_text: String,
    pub source: String,
    pub inbound: Option<InboundId>,
    pub attachments: i64,
    pub created_at: i64,
}

pub async fn list_entries(conn: &mut Conn, ticket: TicketId) -> sqlx::Result<Vec<EntryRecord>> {
    let rows = sqlx::query(
        "SELECT e.id, e.kind, e.class, COALESCE(u.email, a.key), e.subject, e.body_text, e.stripped_text, e.source,
                e.inbound_id, (SELECT COUNT(*) FROM attachments x WHERE x.entry_id = e.id), e.created_at
         FROM entries e LEFT JOIN users u ON u.id = e.author_user_id LEFT JOIN agents a ON a.id = e.author_agent_id
         WHERE e.ticket_id = $1 ORDER BY e.id",
    )
    .bind(ticket.0)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(EntryRecord {
                id: EntryId(row.try_get(0)?),
                kind: row.try_get(1)?,
                class: row.try_get(2)?,
                author: row.try_get(3)?,
                subject: row.try_get(4)?,
                body_text: row.try_get(5)?,
                stripped_text: row.try_get(6)?,
                source: row.try_get(7)?,
                inbound: row.try_get::<Option<i64>, _>(8)?.map(InboundId),
                attachments: row.try_get(9)?,
                created_at: row.try_get(10)?,
            })
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct AttachmentRecord {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub inline: bool,
}

pub async fn list_attachments(conn: &mut Conn, entry: EntryId) -> sqlx::Result<Vec<AttachmentRecord>> {
    let rows: Vec<(Option<String>, String, i64, String, i64)> = sqlx::query_as(
        "SELECT a.filename, a.content_type, b.size, b.sha256, a.inline FROM attachments a
         JOIN blobs b ON b.id = a.blob_id WHERE a.entry_id = $1 ORDER BY a.id",
    )
    .bind(entry.0)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(filename, content_type, size, sha256, inline)| AttachmentRecord {
            filename,
            content_type,
            size,
            sha256,
            inline: inline != 0,
        })
        .collect())
}
