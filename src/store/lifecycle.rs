//! What agents' commands, the console and the janitor change on a ticket: assignment, priority,
//! collaborators, and the tickets due for automatic closing.

use super::queues::Lane;
use super::{Result, Tx};
use crate::core::ids::{AgentId, TeamId, TicketId, UserId};
use crate::params;

/// Whom a key names: an active agent or team (agents win when both use the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    Agent(AgentId),
    Team(TeamId),
}

pub fn find_assignee(tx: &mut Tx<'_>, key: &str) -> Result<Option<Assignee>> {
    let agent =
        tx.query_opt("SELECT id FROM agents WHERE key = $1 AND active = 1", params![key], |r| r.i64(0))?;
    if let Some(id) = agent {
        return Ok(Some(Assignee::Agent(AgentId(id))));
    }
    let team =
        tx.query_opt("SELECT id FROM teams WHERE key = $1 AND active = 1", params![key], |r| r.i64(0))?;
    Ok(team.map(|id| Assignee::Team(TeamId(id))))
}

/// Assigns the ticket to one agent or one team (replacing the other).
pub fn assign(tx: &mut Tx<'_>, ticket: TicketId, to: Assignee, now_ms: i64) -> Result<()> {
    let (agent, team) = match to {
        Assignee::Agent(agent) => (Some(agent.0), None),
        Assignee::Team(team) => (None, Some(team.0)),
    };
    tx.execute(
        "UPDATE tickets SET assignee_agent_id = $1, assignee_team_id = $2, updated_at = $3 WHERE id = $4",
        params![agent, team, now_ms, ticket.0],
    )
    .map(drop)
}

pub fn set_priority(tx: &mut Tx<'_>, ticket: TicketId, priority: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET priority = $1, updated_at = $2 WHERE id = $3",
        params![priority, now_ms, ticket.0],
    )
    .map(drop)
}

/// Sets the ticket's topic: `Some(previous topic)` when it changed, `None` when it already was `key`.
pub fn set_topic(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    key: &str,
    now_ms: i64,
) -> Result<Option<Option<String>>> {
    let previous =
        tx.query_one("SELECT topic FROM tickets WHERE id = $1", params![ticket.0], |r| r.opt_string(0))?;
    if previous.as_deref() == Some(key) {
        return Ok(None);
    }
    tx.execute(
        "UPDATE tickets SET topic = $1, updated_at = $2 WHERE id = $3",
        params![key, now_ms, ticket.0],
    )?;
    Ok(Some(previous))
}

/// The key of an agent, for naming them in system entries.
pub fn agent_key(tx: &mut Tx<'_>, agent: AgentId) -> Result<String> {
    tx.query_one("SELECT key FROM agents WHERE id = $1", params![agent.0], |r| r.string(0))
}

/// Removes a collaborator (never the owner). Returns whether one was removed.
pub fn remove_collaborator(tx: &mut Tx<'_>, ticket: TicketId, user: UserId) -> Result<bool> {
    let removed = tx.execute(
        "DELETE FROM participants WHERE ticket_id = $1 AND user_id = $2 AND role <> 'owner'",
        params![ticket.0, user.0],
    )?;
    Ok(removed > 0)
}

/// Resolved tickets with no activity since `before_ms`, oldest first: a range of the resolved
/// lane's index (migration 0021).
pub fn resolved_before(tx: &mut Tx<'_>, before_ms: i64, limit: i64) -> Result<Vec<TicketId>> {
    let resolved = Lane::Resolved.is("t");
    tx.query_all(
        &format!(
            "SELECT t.id FROM tickets t WHERE {resolved} AND t.updated_at < $1 ORDER BY t.updated_at LIMIT $2"
        ),
        params![before_ms, limit],
        |r| Ok(TicketId(r.i64(0)?)),
    )
}
