//! What the ticket page shows: the ticket, its people, and its thread as the reader may see it.

use super::tickets::EntryKind;
use super::{Result, Tx};
use crate::auth::token::Participant;
use crate::core::ids::TicketId;
use crate::core::ticket::TicketNumber;
use crate::core::ticket::{Role, Status};
use crate::params;

#[derive(Clone, Debug, serde::Serialize)]
pub struct PageTicket {
    pub number: TicketNumber,
    pub subject: String,
    pub status: Status,
    pub created_at: i64,
    /// The `[[topics]]` key.
    #[serde(skip)]
    pub topic: Option<String>,
    /// The ticket's own fields as stored (a JSON object).
    #[serde(skip)]
    pub custom: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PagePerson {
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PageEntry {
    pub id: i64,
    /// The message has an HTML part (shown sanitized on its own page).
    pub has_html: bool,
    pub kind: EntryKind,
    /// The sender does not take part in the ticket (shown to agents only, marked).
    pub from_outsider: bool,
    /// Display name: the user's name or address, the agent's name; empty for system entries.
    pub author: String,
    pub text: String,
    pub created_at: i64,
    pub files: Vec<PageFile>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PageFile {
    pub id: i64,
    pub name: String,
}

/// An attachment's bytes and how to serve them.
pub struct Download {
    pub name: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// A user participant's address and whether they own the ticket.
pub fn reader(tx: &mut Tx<'_>, ticket: TicketId, participant: Participant) -> Result<Option<(String, bool)>> {
    let Participant::User(user) = participant else { return Ok(None) };
    tx.query_opt(
        "SELECT u.email, p.role FROM participants p JOIN users u ON u.id = p.user_id
          WHERE p.ticket_id = $1 AND p.user_id = $2",
        params![ticket.0, user.0],
        |r| Ok((r.string(0)?, r.word::<Role>(1)? == Role::Owner)),
    )
}

pub fn ticket(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<PageTicket>> {
    tx.query_opt(
        "SELECT number, subject, status, created_at, topic, custom FROM tickets WHERE id = $1",
        params![ticket.0],
        |r| {
            Ok(PageTicket {
                number: r.ticket_number(0)?,
                subject: r.string(1)?,
                status: r.word(2)?,
                created_at: r.i64(3)?,
                topic: r.opt_string(4)?,
                custom: r.string(5)?,
            })
        },
    )
}

/// Owner and collaborators, owner first.
pub fn people(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Vec<PagePerson>> {
    tx.query_all(
        "SELECT u.name, u.email, p.role FROM participants p JOIN users u ON u.id = p.user_id
          WHERE p.ticket_id = $1 ORDER BY CASE p.role WHEN 'owner' THEN 0 ELSE 1 END, p.created_at, u.email",
        params![ticket.0],
        |r| Ok(PagePerson { name: r.string(0)?, email: r.string(1)?, role: r.word(2)? }),
    )
}

/// The thread in order. Customers see messages, responses and the changes that concern them in
/// plain words (`entries.customer_text`); agents also see internal notes, held mail and every
/// system line as written for agents.
pub fn thread(tx: &mut Tx<'_>, ticket: TicketId, internal: bool) -> Result<Vec<PageEntry>> {
    let kinds = visible_kinds(internal);
    let sql = format!(
        "SELECT e.id, e.kind, COALESCE(NULLIF(u.name, ''), u.email, a.name, ''), {text}, e.created_at,
                CASE WHEN e.body_html IS NULL THEN 0 ELSE 1 END, CASE WHEN e.class = 'non-participant' THEN 1 ELSE 0 END
           FROM entries e LEFT JOIN users u ON u.id = e.author_user_id LEFT JOIN agents a ON a.id = e.author_agent_id
          WHERE e.ticket_id = $1 AND e.kind IN ({kinds}) {outsiders} {system} ORDER BY e.id",
        outsiders = hidden_outsiders(internal),
        // Customers read a system entry's plain line, and only the entries that have one.
        text = if internal {
            "COALESCE(e.stripped_text, e.body_text)"
        } else {
            "CASE WHEN e.kind = 'system' THEN e.customer_text ELSE COALESCE(e.stripped_text, e.body_text) END"
        },
        system = if internal { "" } else { "AND (e.kind <> 'system' OR e.customer_text IS NOT NULL)" },
    );
    let rows = tx.query_all(&sql, params![ticket.0], |r| {
        Ok((
            r.i64(0)?,
            PageEntry {
                id: r.i64(0)?,
                has_html: r.i64(5)? != 0,
                from_outsider: r.i64(6)? != 0,
                kind: r.word(1)?,
                author: r.string(2)?,
                text: r.string(3)?,
                created_at: r.i64(4)?,
                files: Vec::new(),
            },
        ))
    })?;
    // One query for every entry's files (not one per entry).
    let files = tx.query_all(
        "SELECT a.entry_id, a.id, COALESCE(NULLIF(a.filename, ''), 'attachment') FROM attachments a
           JOIN entries e ON e.id = a.entry_id
          WHERE e.ticket_id = $1 AND a.inline = 0 ORDER BY a.id",
        params![ticket.0],
        |r| Ok((r.i64(0)?, PageFile { id: r.i64(1)?, name: r.string(2)? })),
    )?;
    let mut entries = Vec::with_capacity(rows.len());
    for (id, mut entry) in rows {
        entry.files =
            files.iter().filter(|(entry_id, _)| *entry_id == id).map(|(_, file)| file.clone()).collect();
        entries.push(entry);
    }
    Ok(entries)
}

/// Entry kinds a reader sees: customers messages, responses and status changes; agents all.
fn visible_kinds(internal: bool) -> &'static str {
    if internal {
        "'message', 'response', 'system', 'note', 'held'"
    } else {
        "'message', 'response', 'system'"
    }
}

/// Customers do not see mail from people who do not take part in the ticket (agents add them).
fn hidden_outsiders(internal: bool) -> &'static str {
    if internal { "" } else { "AND e.class <> 'non-participant'" }
}

/// Attachment `id` when it belongs to an entry of `ticket` the reader may see.
pub fn download(tx: &mut Tx<'_>, ticket: TicketId, id: i64, internal: bool) -> Result<Option<Download>> {
    let sql = format!(
        "SELECT COALESCE(NULLIF(a.filename, ''), 'attachment'), a.content_type, b.content
           FROM attachments a JOIN entries e ON e.id = a.entry_id JOIN blobs b ON b.id = a.blob_id
          WHERE a.id = $1 AND e.ticket_id = $2 AND e.kind IN ({}) {}",
        visible_kinds(internal),
        hidden_outsiders(internal)
    );
    tx.query_opt(&sql, params![id, ticket.0], |r| {
        Ok(Download { name: r.string(0)?, content_type: r.string(1)?, content: r.bytes(2)? })
    })
}

/// A part's Content-ID and the attachment that holds it.
pub type ContentId = (String, i64);

/// The HTML part of entry `entry` of `ticket` if the reader may see it, with the attachment id of
/// each `Content-ID` it may reference.
pub fn entry_html(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    entry: i64,
    internal: bool,
) -> Result<Option<(String, Vec<ContentId>)>> {
    let sql = format!(
        "SELECT e.body_html FROM entries e WHERE e.id = $1 AND e.ticket_id = $2 AND e.body_html IS NOT NULL AND e.kind IN ({}) {}",
        visible_kinds(internal),
        hidden_outsiders(internal)
    );
    let Some(html) = tx.query_opt(&sql, params![entry, ticket.0], |r| r.string(0))? else { return Ok(None) };
    let cids = tx.query_all(
        "SELECT content_id, id FROM attachments WHERE entry_id = $1 AND content_id IS NOT NULL",
        params![entry],
        |r| Ok((r.string(0)?, r.i64(1)?)),
    )?;
    Ok(Some((html, cids)))
}

/// A ticket on a signed-in user's "my tickets" page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MyTicket {
    pub id: i64,
    pub number: TicketNumber,
    pub subject: String,
    pub status: Status,
    pub role: Role,
    pub updated_at: i64,
    #[serde(skip)]
    pub epoch: i64,
    /// Not theirs: shared by their organization (`[[orgs]] share_tickets`).
    pub shared: bool,
}

/// Every ticket `user` takes part in (owner or collaborator), most recently active first.
pub fn my_tickets(tx: &mut Tx<'_>, user: crate::core::ids::UserId, limit: i64) -> Result<Vec<MyTicket>> {
    tx.query_all(
        "SELECT t.id, t.number, t.subject, t.status, p.role, t.updated_at, p.link_epoch
           FROM participants p JOIN tickets t ON t.id = p.ticket_id
          WHERE p.user_id = $1 ORDER BY t.updated_at DESC, t.id DESC LIMIT $2",
        params![user.0, limit],
        |r| {
            Ok(MyTicket {
                id: r.i64(0)?,
                number: r.ticket_number(1)?,
                subject: r.string(2)?,
                status: r.word(3)?,
                role: r.word(4)?,
                updated_at: r.i64(5)?,
                epoch: r.i64(6)?,
                shared: false,
            })
        },
    )
}

/// Which organizations share their tickets with `$2` (a user id), as a condition on `o` (orgs):
/// every member where `all_members`, the primary contacts where `primary_contacts` or
/// `all_members`.
const SHARED_WITH: &str = "o.active = 1 AND (
       (o.share_tickets = 'all_members' AND o.id = (SELECT u.org_id FROM users u WHERE u.id = $2))
    OR (o.share_tickets IN ('primary_contacts', 'all_members')
        AND EXISTS (SELECT 1 FROM org_contacts c WHERE c.org_id = o.id AND c.user_id = $2)))";

/// Whether `ticket`'s organization shares it with `user` (who need not take part in it).
pub fn shares_ticket(tx: &mut Tx<'_>, ticket: TicketId, user: crate::core::ids::UserId) -> Result<bool> {
    let sql =
        format!("SELECT 1 FROM tickets t JOIN orgs o ON o.id = t.org_id WHERE t.id = $1 AND {SHARED_WITH}");
    Ok(tx.query_opt(&sql, params![ticket.0, user.0], |r| r.i64(0))?.is_some())
}

/// The tickets organizations share with `user` that they take no part in, most recently active
/// first (merged tickets are read through the one they were merged into).
pub fn shared_tickets(tx: &mut Tx<'_>, user: crate::core::ids::UserId, limit: i64) -> Result<Vec<MyTicket>> {
    let sql = format!(
        "SELECT t.id, t.number, t.subject, t.status, t.updated_at FROM tickets t JOIN orgs o ON o.id = t.org_id
          WHERE $1 > 0 AND {SHARED_WITH} AND t.merged_into IS NULL
            AND NOT EXISTS (SELECT 1 FROM participants p WHERE p.ticket_id = t.id AND p.user_id = $2)
          ORDER BY t.updated_at DESC, t.id DESC LIMIT $1"
    );
    tx.query_all(&sql, params![limit, user.0], |r| {
        Ok(MyTicket {
            id: r.i64(0)?,
            number: r.ticket_number(1)?,
            subject: r.string(2)?,
            status: r.word(3)?,
            role: Role::Cc,
            updated_at: r.i64(4)?,
            epoch: 0,
            shared: true,
        })
    })
}

/// Message-IDs the ticket's customers have seen, newest first, at most `limit` of each kind: their
/// own messages (participants', not outsiders'), then the mail we sent to the customer side. What a
/// relayed response answers is chosen among these.
pub fn customer_side_message_ids(tx: &mut Tx<'_>, ticket: TicketId, limit: i64) -> Result<Vec<String>> {
    let mut ids = tx.query_all(
        "SELECT m.message_id FROM message_ids m JOIN entries e ON e.id = m.entry_id
          WHERE m.ticket_id = $1 AND m.direction = 'in' AND e.kind = 'message' AND e.class <> 'non-participant'
          ORDER BY e.id DESC LIMIT $2",
        params![ticket.0, limit],
        |r| r.string(0),
    )?;
    ids.extend(tx.query_all(
        "SELECT message_id FROM outbox WHERE ticket_id = $1
            AND template IN ('new_ticket_auto_response', 'new_message_confirmation', 'response_relay', 'closed_notice')
          ORDER BY id DESC LIMIT $2",
        params![ticket.0, limit],
        |r| r.string(0),
    )?);
    Ok(ids)
}
