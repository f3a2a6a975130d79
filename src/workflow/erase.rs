//! Deleting a user (docs/directory.md, "Deleting a user"): the caller chooses what becomes of
//! their tickets (deleted with them, or kept with the owner anonymized); either way their personal
//! data is erased and their row becomes the tombstone "deleted user #N", in one transaction with
//! one audit row that names no one but the actor.

use super::Workflows;
use crate::core::ids::{AgentId, UserId};
use crate::ingest::IngestError;
use crate::store::audit as audit_store;
use crate::store::erase as erase_store;

/// What becomes of the tickets a deleted user owns; there is no default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TicketsChoice {
    /// Their tickets and everything in them go.
    Delete,
    /// Their tickets stay; the owner shows as "deleted user #N".
    Anonymize,
}

impl TicketsChoice {
    /// The word the audit row and the messages use.
    pub fn done_word(self) -> &'static str {
        match self {
            TicketsChoice::Delete => "deleted",
            TicketsChoice::Anonymize => "anonymized",
        }
    }
}

/// What a deletion did, or why it did nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted; how many tickets they owned (deleted or anonymized as chosen).
    Done {
        tickets: i64,
    },
    NoUser,
    /// Already a tombstone.
    AlreadyDeleted,
    /// A primary contact of these organizations in the configuration: the next directory sync
    /// would bring them back, so they are removed there first.
    PrimaryContact(Vec<String>),
    /// The address is one of the acting agent's own.
    Themselves,
}

impl Workflows {
    /// Deletes `user` by `actor` ("agent alice", "an admin"; `agent` when an agent acts, who
    /// cannot delete an account with one of their own addresses).
    pub async fn delete_user(
        &self,
        user: UserId,
        tickets: TicketsChoice,
        actor: &str,
        agent: Option<AgentId>,
    ) -> Result<Deletion, IngestError> {
        let (now, actor) = (self.app().now_ms(), actor.to_string());
        let done = self
            .app()
            .store()
            .write(move |tx| {
                let Some(found) = crate::store::accounts::user_login_by_id(tx, user)? else {
                    return Ok(Deletion::NoUser);
                };
                if erase_store::is_tombstone(&found.email) {
                    return Ok(Deletion::AlreadyDeleted);
                }
                if let Some(agent) = agent {
                    let own = crate::store::directory::agent_emails(tx, agent)?;
                    let mut theirs = crate::store::users::additional_emails(tx, user)?;
                    theirs.push(found.email.clone());
                    if own.iter().any(|address| theirs.iter().any(|t| t == address.as_str())) {
                        return Ok(Deletion::Themselves);
                    }
                }
                let contact_of = erase_store::contact_of(tx, user)?;
                if !contact_of.is_empty() {
                    return Ok(Deletion::PrimaryContact(contact_of));
                }
                let owned = erase_store::count_owned(tx, user)?;
                match tickets {
                    TicketsChoice::Delete => erase_store::delete_owned_tickets(tx, user)?,
                    TicketsChoice::Anonymize => erase_store::erase_raw_of_tickets(tx, user)?,
                }
                erase_store::erase_raw_of_author(tx, user)?;
                erase_store::erase_person(tx, user, &found.email, now)?;
                let detail = format!("user #{} deleted (tickets: {}, {owned})", user.0, tickets.done_word());
                audit_store::record(tx, now, &actor, "delete", Some(user), &detail)?;
                Ok(Deletion::Done { tickets: owned })
            })
            .await?;
        Ok(done)
    }

    /// Clears `user`'s sign-in throttle (failed attempts, a lockout) by `actor`, with an audit row
    /// when there was something to clear; whether there was.
    pub async fn clear_lockout(&self, user: UserId, actor: &str) -> Result<Option<bool>, IngestError> {
        let (now, actor) = (self.app().now_ms(), actor.to_string());
        let done = self
            .app()
            .store()
            .write(move |tx| {
                if crate::store::accounts::user_login_by_id(tx, user)?.is_none() {
                    return Ok(None);
                }
                let cleared = crate::store::users::clear_lockout(tx, user)?;
                if cleared > 0 {
                    audit_store::record(tx, now, &actor, "clear lockout", Some(user), "")?;
                }
                Ok(Some(cleared > 0))
            })
            .await?;
        Ok(done)
    }
}
