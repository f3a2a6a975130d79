//! What signed tokens need from the database: who a recipient is on a ticket, the participant's
//! current `link_epoch` (revocation), and the generated signing key when none is configured.

use super::{Result, Tx};
use crate::auth::token::Participant;
use crate::core::address::EmailAddress;
use crate::core::ids::{AgentId, TicketId, UserId};
use crate::params;

const GENERATED_KEY: &str = "links.generated_key";

/// The participant a mail to `email` about `ticket` is for, with their epoch: a user taking part
/// in the ticket, else an active agent. `None` for anyone else (they get no token).
pub fn recipient(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    email: &EmailAddress,
) -> Result<Option<(Participant, u64)>> {
    let user = tx.query_opt(
        "SELECT p.user_id, p.link_epoch FROM participants p JOIN users u ON u.id = p.user_id
          WHERE p.ticket_id = $1 AND u.email = $2",
        params![ticket.0, email.as_str()],
        |r| Ok((Participant::User(UserId(r.i64(0)?)), r.i64(1)? as u64)),
    )?;
    if user.is_some() {
        return Ok(user);
    }
    tx.query_opt(
        "SELECT a.id, a.link_epoch FROM agent_emails e JOIN agents a ON a.id = e.agent_id
          WHERE e.email = $1 AND a.active = 1",
        params![email.as_str()],
        |r| Ok((Participant::Agent(AgentId(r.i64(0)?)), r.i64(1)? as u64)),
    )
}

/// The participant's current epoch and whether `from` is one of their addresses; `None` when they
/// no longer take part (a user removed from the ticket, an agent gone).
pub fn holder(
    tx: &mut Tx<'_>,
    ticket: TicketId,
    participant: Participant,
    from: &EmailAddress,
) -> Result<Option<(u64, bool)>> {
    match participant {
        Participant::User(user) => tx.query_opt(
            "SELECT p.link_epoch, u.email FROM participants p JOIN users u ON u.id = p.user_id
              WHERE p.ticket_id = $1 AND p.user_id = $2",
            params![ticket.0, user.0],
            |r| Ok((r.i64(0)? as u64, r.string(1)? == from.as_str())),
        ),
        Participant::Agent(agent) => tx.query_opt(
            "SELECT a.link_epoch,
                    CASE WHEN EXISTS (SELECT 1 FROM agent_emails e WHERE e.agent_id = a.id AND e.email = $2)
                         THEN 1 ELSE 0 END
               FROM agents a WHERE a.id = $1 AND a.active = 1",
            params![agent.0, from.as_str()],
            |r| Ok((r.i64(0)? as u64, r.i64(1)? != 0)),
        ),
    }
}

/// The current link epoch of `participant` on `ticket`; `None` when they no longer take part.
pub fn current_epoch(tx: &mut Tx<'_>, ticket: TicketId, participant: Participant) -> Result<Option<u64>> {
    match participant {
        Participant::User(user) => {
            let epoch = tx.query_opt(
                "SELECT link_epoch FROM participants WHERE ticket_id = $1 AND user_id = $2",
                params![ticket.0, user.0],
                |r| Ok(r.i64(0)? as u64),
            )?;
            // Someone the ticket's organization shares it with reads it by links of epoch 0
            // (`[[orgs]] share_tickets`); they stop working when the sharing ends.
            match epoch {
                None if super::web::shares_ticket(tx, ticket, user)? => Ok(Some(0)),
                epoch => Ok(epoch),
            }
        }
        Participant::Agent(agent) => tx.query_opt(
            "SELECT link_epoch FROM agents WHERE id = $1 AND active = 1",
            params![agent.0],
            |r| Ok(r.i64(0)? as u64),
        ),
    }
}

/// Revokes every token issued so far to the participant (on that ticket, for a user).
pub fn bump_epoch(tx: &mut Tx<'_>, ticket: TicketId, participant: Participant) -> Result<bool> {
    let changed = match participant {
        Participant::User(user) => tx.execute(
            "UPDATE participants SET link_epoch = link_epoch + 1 WHERE ticket_id = $1 AND user_id = $2",
            params![ticket.0, user.0],
        )?,
        Participant::Agent(agent) => {
            tx.execute("UPDATE agents SET link_epoch = link_epoch + 1 WHERE id = $1", params![agent.0])?
        }
    };
    Ok(changed > 0)
}

pub fn read_generated_key(tx: &mut Tx<'_>) -> Result<Option<String>> {
    tx.query_opt("SELECT value FROM meta WHERE key = $1", params![GENERATED_KEY], |r| r.string(0))
}

/// The generated signing key (hex), created by the first daemon to ask; later callers, on any
/// host sharing the database, read the same one.
pub fn generated_key(tx: &mut Tx<'_>, fresh_hex: &str) -> Result<String> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        params![GENERATED_KEY, fresh_hex],
    )?;
    tx.query_one("SELECT value FROM meta WHERE key = $1", params![GENERATED_KEY], |r| r.string(0))
}
