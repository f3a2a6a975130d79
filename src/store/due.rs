//! Due dates on tickets (`[[sla]]`): the plan and due time set at creation and on reopen, and the
//! janitor's overdue round, which marks each ticket overdue exactly once.

use super::queues::Lane;
use super::{Result, Tx};
use crate::core::ids::TicketId;
use crate::params;

/// Sets the ticket's plan and due time, and clears a past overdue mark and a paused remainder.
pub fn set_due(tx: &mut Tx<'_>, ticket: TicketId, sla: &str, due_at: i64) -> Result<()> {
    tx.execute(
        "UPDATE tickets SET sla = $1, due_at = $2, overdue_at = NULL, due_left_ms = NULL WHERE id = $3",
        params![sla, due_at, ticket.0],
    )
    .map(drop)
}

/// A ticket's plan, due time and the time it kept when paused.
#[derive(Clone, Debug)]
pub struct DueState {
    pub sla: String,
    pub due_at: Option<i64>,
    pub left_ms: Option<i64>,
}

pub fn due_state(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<DueState>> {
    let found =
        tx.query_opt("SELECT sla, due_at, due_left_ms FROM tickets WHERE id = $1", params![ticket.0], |r| {
            Ok((r.opt_string("sla")?, r.opt_i64("due_at")?, r.opt_i64("due_left_ms")?))
        })?;
    Ok(found.and_then(|(sla, due_at, left_ms)| Some(DueState { sla: sla?, due_at, left_ms })))
}

/// Keeps the time the ticket had left when it was paused (put on hold).
pub fn pause_due(tx: &mut Tx<'_>, ticket: TicketId, left_ms: i64) -> Result<()> {
    tx.execute("UPDATE tickets SET due_left_ms = $1 WHERE id = $2", params![left_ms, ticket.0]).map(drop)
}

/// The `[[sla]]` key of the ticket, if it has a plan.
pub fn ticket_sla(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<String>> {
    Ok(tx
        .query_opt("SELECT sla FROM tickets WHERE id = $1", params![ticket.0], |r| r.opt_string(0))?
        .flatten())
}

/// A ticket past its due time, not yet marked overdue.
#[derive(Clone, Debug)]
pub struct Due {
    pub ticket: TicketId,
    pub sla: String,
    pub due_at: i64,
    pub pending: bool,
}

/// Open and pending tickets due at or before `now_ms` and not marked overdue, oldest due first:
/// ranges of the two waiting lanes not overdue in the due order's index (migration 0021; a ticket
/// without a due time has the largest key).
pub fn past_due(tx: &mut Tx<'_>, now_ms: i64, limit: i64) -> Result<Vec<Due>> {
    let (assigned, unassigned) = (Lane::Waiting as i64, Lane::Unassigned as i64);
    tx.query_all(
        &format!(
            "SELECT id, sla, due_at, status FROM tickets
              WHERE lane IN ({assigned}, {unassigned}) AND due_key <= $1 ORDER BY due_key, id LIMIT $2"
        ),
        params![now_ms, limit],
        |r| {
            Ok(Due {
                ticket: TicketId(r.i64(0)?),
                sla: r.opt_string(1)?.unwrap_or_default(),
                due_at: r.i64(2)?,
                pending: r.string(3)? == "pending",
            })
        },
    )
}

/// Marks the ticket overdue; false when another round already did.
pub fn mark_overdue(tx: &mut Tx<'_>, ticket: TicketId, now_ms: i64) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE tickets SET overdue_at = $1 WHERE id = $2 AND overdue_at IS NULL",
        params![now_ms, ticket.0],
    )?;
    Ok(changed > 0)
}
