//! What the agent console reads: ticket lines, a ticket's header as agents see it, the agents and
//! teams a ticket can go to, user records and organization pages (the queues themselves are
//! `store::queues`). Read-only: the console changes tickets through `ingest`, never here.

use super::users::UserStatus;
use super::{Result, Row, Tx, Value};
use crate::core::command::Priority;
use crate::core::ids::{TicketId, UserId};
use crate::core::ticket::TicketNumber;
use crate::core::ticket::{Role, Status};
use crate::params;

pub use super::queues::{Queue, QueueCounts, QueuePage, QueueSort, Seek, SortKey, queue_counts, queue_page};

/// One line of a ticket list (queues, a user's or an organization's tickets).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketLine {
    pub number: TicketNumber,
    pub subject: String,
    pub requester_id: i64,
    pub requester_name: String,
    pub requester_email: String,
    pub org_key: Option<String>,
    pub org_name: Option<String>,
    /// The assigned agent's or team's name.
    pub assignee: Option<String>,
    pub priority: Priority,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the ticket is due (`[[sla]]`), and when the janitor marked it overdue.
    pub due_at: Option<i64>,
    pub overdue_at: Option<i64>,
}

/// The columns of a `TicketLine` over `tickets t`, and the joins they need.
pub(super) const LINE_COLUMNS: &str = "t.number, t.subject, u.id, u.name, u.email, o.key, o.name,
    COALESCE(a.name, tm.name), t.priority, t.status, t.created_at, t.updated_at, t.due_at, t.overdue_at";
pub(super) const LINE_JOINS: &str = "JOIN users u ON u.id = t.user_id LEFT JOIN orgs o ON o.id = t.org_id
    LEFT JOIN agents a ON a.id = t.assignee_agent_id LEFT JOIN teams tm ON tm.id = t.assignee_team_id";

pub(super) fn ticket_line(r: &Row<'_>) -> Result<TicketLine> {
    Ok(TicketLine {
        number: r.ticket_number(0)?,
        subject: r.string(1)?,
        requester_id: r.i64(2)?,
        requester_name: r.string(3)?,
        requester_email: r.string(4)?,
        org_key: r.opt_string(5)?,
        org_name: r.opt_string(6)?,
        assignee: r.opt_string(7)?,
        priority: r.word(8)?,
        status: r.word(9)?,
        created_at: r.i64(10)?,
        updated_at: r.i64(11)?,
        due_at: r.opt_i64(12)?,
        overdue_at: r.opt_i64(13)?,
    })
}

/// The lines of `ids`, in that order (search results).
pub fn lines_in_order(tx: &mut Tx<'_>, ids: &[TicketId]) -> Result<Vec<TicketLine>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {LINE_COLUMNS}, t.id FROM tickets t {LINE_JOINS} WHERE t.id IN ({})",
        placeholders.join(", ")
    );
    let values: Vec<Value<'_>> = ids.iter().map(|id| id.0.into()).collect();
    let mut found = tx.query_all(&sql, &values, |r| Ok((r.i64("id")?, ticket_line(r)?)))?;
    found.sort_by_key(|(id, _)| ids.iter().position(|wanted| wanted.0 == *id));
    Ok(found.into_iter().map(|(_, line)| line).collect())
}

/// A ticket as the console's ticket page shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TicketHeader {
    #[serde(skip)]
    pub id: TicketId,
    #[serde(flatten)]
    pub line: TicketLine,
    /// `agent` or `team` (with `assignee_key`) when assigned.
    pub assignee_kind: Option<String>,
    pub assignee_key: Option<String>,
    /// The `[[topics]]` key.
    pub topic: Option<String>,
    /// The ticket's own fields as stored (a JSON object).
    #[serde(skip)]
    pub custom: String,
}

pub fn ticket_header(tx: &mut Tx<'_>, number: &TicketNumber) -> Result<Option<TicketHeader>> {
    let sql = format!(
        "SELECT {LINE_COLUMNS}, t.id, CASE WHEN a.key IS NOT NULL THEN 'agent' WHEN tm.key IS NOT NULL THEN 'team' END,
                COALESCE(a.key, tm.key), t.topic, t.custom
           FROM tickets t {LINE_JOINS} WHERE t.number = $1"
    );
    tx.query_opt(&sql, params![number], |r| {
        Ok(TicketHeader {
            id: TicketId(r.i64(14)?),
            line: ticket_line(r)?,
            assignee_kind: r.opt_string(15)?,
            assignee_key: r.opt_string(16)?,
            topic: r.opt_string(17)?,
            custom: r.string(18)?,
        })
    })
}

/// An active agent or team a ticket can be assigned to.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Assignable {
    /// `agent` or `team`.
    pub kind: String,
    pub key: String,
    pub name: String,
}

/// Active agents, then active teams, each by name.
pub fn assignables(tx: &mut Tx<'_>) -> Result<Vec<Assignable>> {
    tx.query_all(
        "SELECT 'agent', key, name FROM agents WHERE active = 1
         UNION ALL SELECT 'team', key, name FROM teams WHERE active = 1
         ORDER BY 1, 3, 2",
        &[],
        |r| Ok(Assignable { kind: r.string(0)?, key: r.string(1)?, name: r.string(2)? }),
    )
}

/// A ticket a user takes part in, with their role on it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UserTicket {
    pub number: TicketNumber,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub role: Role,
    pub updated_at: i64,
}

/// The tickets `user` owns or collaborates on, most recently active first.
pub fn user_tickets(tx: &mut Tx<'_>, user: UserId, limit: i64) -> Result<Vec<UserTicket>> {
    tx.query_all(
        "SELECT t.number, t.subject, t.status, t.priority, p.role, t.updated_at
           FROM participants p JOIN tickets t ON t.id = p.ticket_id
          WHERE p.user_id = $1 ORDER BY t.updated_at DESC, t.id DESC LIMIT $2",
        params![user.0, limit],
        |r| {
            Ok(UserTicket {
                number: r.ticket_number(0)?,
                subject: r.string(1)?,
                status: r.word(2)?,
                priority: r.word(3)?,
                role: r.word(4)?,
                updated_at: r.i64(5)?,
            })
        },
    )
}

/// A user's record: profile, custom data, organization and login state.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// `guest`, `registered` or `disabled`.
    pub status: UserStatus,
    /// The `custom` JSON column as stored.
    pub custom_json: String,
    pub created_at: i64,
    pub has_password: bool,
    /// Set by an agent or admin: they choose their own at the next sign-in.
    pub password_temporary: bool,
    /// `ldap:NAME` when a directory keeps their password.
    pub auth_source: Option<String>,
    /// `None`: never signed in.
    pub last_login_at: Option<i64>,
    pub org_key: Option<String>,
    pub org_name: Option<String>,
}

pub fn user_record(tx: &mut Tx<'_>, user: UserId) -> Result<Option<UserRecord>> {
    tx.query_opt(
        "SELECT u.id, u.email, u.name, u.status, u.custom, u.created_at,
                CASE WHEN u.password_hash IS NULL THEN 0 ELSE 1 END, u.last_login_at, o.key, o.name,
                u.password_temporary, u.auth_source
           FROM users u LEFT JOIN orgs o ON o.id = u.org_id WHERE u.id = $1",
        params![user.0],
        |r| {
            Ok(UserRecord {
                id: UserId(r.i64(0)?),
                email: r.string(1)?,
                name: r.string(2)?,
                status: r.word(3)?,
                custom_json: r.string(4)?,
                created_at: r.i64(5)?,
                has_password: r.bool(6)?,
                last_login_at: r.opt_i64(7)?,
                org_key: r.opt_string(8)?,
                org_name: r.opt_string(9)?,
                password_temporary: r.bool(10)?,
                auth_source: r.opt_string(11)?,
            })
        },
    )
}

/// One line of the organization list.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OrgLine {
    pub key: String,
    pub name: String,
    pub domains: i64,
    pub members: i64,
    pub open_tickets: i64,
}

/// Active organizations by name, with their domain, member and open-ticket counts.
pub fn org_lines(tx: &mut Tx<'_>) -> Result<Vec<OrgLine>> {
    tx.query_all(
        "SELECT o.key, o.name,
                (SELECT COUNT(*) FROM org_domains d WHERE d.org_id = o.id),
                (SELECT COUNT(*) FROM users u WHERE u.org_id = o.id),
                (SELECT COUNT(*) FROM tickets t WHERE t.org_id = o.id AND t.status IN ('open', 'pending'))
           FROM orgs o WHERE o.active = 1 ORDER BY LOWER(o.name), o.key",
        &[],
        |r| {
            Ok(OrgLine {
                key: r.string(0)?,
                name: r.string(1)?,
                domains: r.i64(2)?,
                members: r.i64(3)?,
                open_tickets: r.i64(4)?,
            })
        },
    )
}

/// An organization's own row: who manages its account, and its custom data.
#[derive(Clone, Debug)]
pub struct OrgRecord {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub custom_json: String,
    /// `assign` (new tickets go to the manager) or `alert` (the manager is told).
    pub manager_mode: String,
    /// (kind `agent`|`team`, key, name) of the account manager.
    pub manager: Option<(String, String, String)>,
}

pub fn org_record(tx: &mut Tx<'_>, key: &str) -> Result<Option<OrgRecord>> {
    tx.query_opt(
        "SELECT o.id, o.key, o.name, o.custom, o.manager_mode,
                CASE WHEN a.key IS NOT NULL THEN 'agent' WHEN tm.key IS NOT NULL THEN 'team' END,
                COALESCE(a.key, tm.key), COALESCE(a.name, tm.name)
           FROM orgs o LEFT JOIN agents a ON a.id = o.manager_agent_id LEFT JOIN teams tm ON tm.id = o.manager_team_id
          WHERE o.key = $1 AND o.active = 1",
        params![key],
        |r| {
            let manager = match (r.opt_string(5)?, r.opt_string(6)?, r.opt_string(7)?) {
                (Some(kind), Some(key), Some(name)) => Some((kind, key, name)),
                _ => None,
            };
            Ok(OrgRecord {
                id: r.i64(0)?,
                key: r.string(1)?,
                name: r.string(2)?,
                custom_json: r.string(3)?,
                manager_mode: r.string(4)?,
                manager,
            })
        },
    )
}

pub fn org_domains(tx: &mut Tx<'_>, org: i64) -> Result<Vec<String>> {
    tx.query_all("SELECT domain FROM org_domains WHERE org_id = $1 ORDER BY domain", params![org], |r| {
        r.string(0)
    })
}

/// A user shown on an organization page.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OrgPerson {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub status: UserStatus,
}

fn org_person(r: &Row<'_>) -> Result<OrgPerson> {
    Ok(OrgPerson { id: r.i64(0)?, email: r.string(1)?, name: r.string(2)?, status: r.word(3)? })
}

/// The organization's primary contacts.
pub fn org_contacts(tx: &mut Tx<'_>, org: i64) -> Result<Vec<OrgPerson>> {
    tx.query_all(
        "SELECT u.id, u.email, u.name, u.status FROM org_contacts c JOIN users u ON u.id = c.user_id
          WHERE c.org_id = $1 ORDER BY u.email",
        params![org],
        org_person,
    )
}

/// Members of the organization by name (at most `limit`), and how many there are.
pub fn org_members(tx: &mut Tx<'_>, org: i64, limit: i64) -> Result<(Vec<OrgPerson>, i64)> {
    let members = tx.query_all(
        "SELECT id, email, name, status FROM users WHERE org_id = $1 ORDER BY LOWER(name), email LIMIT $2",
        params![org, limit],
        org_person,
    )?;
    let total = tx.query_one("SELECT COUNT(*) FROM users WHERE org_id = $1", params![org], |r| r.i64(0))?;
    Ok((members, total))
}

/// The organization's most recently active tickets.
pub fn org_tickets(tx: &mut Tx<'_>, org: i64, limit: i64) -> Result<Vec<TicketLine>> {
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM tickets t {LINE_JOINS}
          WHERE t.org_id = $1 ORDER BY t.updated_at DESC, t.id DESC LIMIT $2"
    );
    tx.query_all(&sql, params![org, limit], ticket_line)
}

/// What a canned response `agent` writes on `ticket` is filled with; `None` if either is gone.
pub fn canned_context(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    agent: crate::core::ids::AgentId,
    instance_name: &str,
) -> Result<Option<crate::canned::Context>> {
    use crate::canned::{AgentVars, Context, CustomerVars, TicketVars};
    tx.query_opt(
        "SELECT t.number, t.subject, t.status, u.name, u.email, a.name
           FROM tickets t JOIN users u ON u.id = t.user_id CROSS JOIN agents a
          WHERE t.id = $1 AND a.id = $2",
        params![ticket.0, agent.0],
        |r| {
            Ok(Context {
                ticket: TicketVars { number: r.string(0)?, subject: r.string(1)?, status: r.string(2)? },
                customer: CustomerVars::new(&r.string(3)?, &r.string(4)?),
                agent: AgentVars { name: r.string(5)? },
                instance_name: instance_name.to_string(),
            })
        },
    )
}
