//! Merged tickets: the move itself (entries, participants, Message-IDs and unsent mail from the
//! source to the target, the source closed and pointing at the target) and the pointer followed
//! wherever a ticket is found by its number, a reply address or a link.

use super::{Backend, Result, Tx};
use crate::core::ids::{OrgId, TicketId, UserId};
use crate::core::thread::TicketState;
use crate::core::ticket::TicketNumber;
use crate::params;

/// What a merge is checked against: a ticket's customer and its own pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeFacts {
    pub owner: UserId,
    pub owner_email: String,
    pub org: Option<OrgId>,
    /// The ticket this one was merged into, by number.
    pub merged_into: Option<TicketNumber>,
}

pub fn merge_facts(tx: &mut Tx<'_>, ticket: TicketId) -> Result<Option<MergeFacts>> {
    tx.query_opt(
        "SELECT t.user_id, u.email, t.org_id, m.number FROM tickets t JOIN users u ON u.id = t.user_id
           LEFT JOIN tickets m ON m.id = t.merged_into WHERE t.id = $1",
        params![ticket.0],
        |r| {
            Ok(MergeFacts {
                owner: UserId(r.i64(0)?),
                owner_email: r.string(1)?,
                org: r.opt_i64(2)?.map(OrgId),
                merged_into: r.opt_ticket_number(3)?,
            })
        },
    )
}

/// The ticket that stands for `ticket` now: the one it was merged into, else itself. Pointers are
/// one hop long ([`merge_tickets`] re-points older ones).
pub fn current_ticket(tx: &mut Tx<'_>, ticket: TicketId) -> Result<TicketId> {
    let found = tx.query_opt(
        "SELECT COALESCE(merged_into, id) FROM tickets WHERE id = $1",
        params![ticket.0],
        |r| r.i64(0),
    )?;
    Ok(found.map_or(ticket, TicketId))
}

/// `state`, or the state of the ticket it was merged into.
pub fn follow(tx: &mut Tx<'_>, state: TicketState) -> Result<TicketState> {
    let current = current_ticket(tx, state.id)?;
    if current == state.id {
        return Ok(state);
    }
    Ok(super::tickets::find_ticket_state(tx, current)?.unwrap_or(state))
}

/// The number of the ticket `number` was merged into; `None` when it was not merged (or is unknown).
pub fn merged_into_number(tx: &mut Tx<'_>, number: &TicketNumber) -> Result<Option<TicketNumber>> {
    let found = tx.query_opt(
        "SELECT m.number FROM tickets t JOIN tickets m ON m.id = t.merged_into WHERE t.number = $1",
        params![number],
        |r| r.ticket_number(0),
    )?;
    Ok(found)
}

/// An arbitrary constant: the advisory lock merges hold on PostgreSQL.
const MERGE_LOCK: i64 = 0x6d67_6d65_7267_6531;

/// Serialises merges and locks both tickets' rows, so the checks that follow read what an earlier
/// merge committed (two agents merging A into B and B into A at once must not make a loop). On
/// PostgreSQL a transaction-level advisory lock (merges are rare); SQLite's writers are serial.
pub fn lock_for_merge(tx: &mut Tx<'_>, source: TicketId, target: TicketId) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        tx.execute("SELECT pg_advisory_xact_lock($1)", params![MERGE_LOCK])?;
    }
    tx.execute(
        "UPDATE tickets SET updated_at = updated_at WHERE id IN ($1, $2)",
        params![source.0, target.0],
    )?;
    Ok(())
}

/// What moved from the source to the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    pub entries: u64,
    /// Participants that joined the target (those already on it are not counted).
    pub people: u64,
    pub message_ids: u64,
}

/// Moves everything of `source` to `target` (every statement reads by an index on the ticket) and
/// leaves `source` closed, pointing at `target`.
/// A participant of both keeps the higher link epoch, so a link revoked on either stays revoked;
/// the source's owner joins as a collaborator. Tickets merged into `source` before now point at
/// `target`. Checks (itself, already merged, customers) are the caller's.
pub fn merge_tickets(tx: &mut Tx<'_>, source: TicketId, target: TicketId, now_ms: i64) -> Result<Moved> {
    let (s, t) = (source.0, target.0);
    let entries = tx.execute("UPDATE entries SET ticket_id = $2 WHERE ticket_id = $1", params![s, t])?;
    let message_ids =
        tx.execute("UPDATE message_ids SET ticket_id = $2 WHERE ticket_id = $1", params![s, t])?;
    // Mail not sent yet (or to be retried) is minted its reply addresses on the target. Sent mail
    // and inbound rows stay as the history of where things went (neither has an index on its
    // ticket); this reads only the unsent rows, through `outbox_due`.
    tx.execute(
        "UPDATE outbox SET ticket_id = $2
          WHERE status IN ('queued', 'sending', 'failed', 'dead') AND ticket_id = $1",
        params![s, t],
    )?;
    tx.execute(
        "UPDATE participants AS p
            SET link_epoch = (SELECT o.link_epoch FROM participants o WHERE o.ticket_id = $1 AND o.user_id = p.user_id)
          WHERE p.ticket_id = $2
            AND EXISTS (SELECT 1 FROM participants o
                         WHERE o.ticket_id = $1 AND o.user_id = p.user_id AND o.link_epoch > p.link_epoch)",
        params![s, t],
    )?;
    tx.execute(
        "DELETE FROM participants
          WHERE ticket_id = $1 AND user_id IN (SELECT user_id FROM participants WHERE ticket_id = $2)",
        params![s, t],
    )?;
    let people = tx.execute(
        "UPDATE participants SET ticket_id = $2, role = CASE WHEN role = 'owner' THEN 'cc' ELSE role END
          WHERE ticket_id = $1",
        params![s, t],
    )?;
    tx.execute("UPDATE tickets SET merged_into = $2 WHERE merged_into = $1", params![s, t])?;
    tx.execute(
        "UPDATE tickets SET merged_into = $2, status = 'closed', closed_at = COALESCE(closed_at, $3),
                updated_at = $3, due_at = NULL, due_left_ms = NULL
          WHERE id = $1",
        params![s, t, now_ms],
    )?;
    tx.execute("UPDATE tickets SET updated_at = $2 WHERE id = $1", params![t, now_ms])?;
    Ok(Moved { entries, people, message_ids })
}
