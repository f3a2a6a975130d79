//! Managing the user directory: locking and unlocking a user (a locked user cannot sign in; their
//! mail is still taken in, or quarantined, as `registration.locked_mail` says), each with an
//! audit row naming who did it.

use super::Workflows;
use crate::core::ids::UserId;
use crate::ingest::IngestError;
use crate::store::audit as audit_store;
use crate::store::sessions::{self as session_store, Holder};
use crate::store::users as user_store;

/// What became of a lock or an unlock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locking {
    Done,
    /// The user already stood so; nothing was written.
    Already,
    NoUser,
}

impl Workflows {
    /// Locks `user` (by `actor`: "agent alice", "an admin"): their sessions end, they cannot sign
    /// in or reset their password; `reason` goes into the audit row.
    pub async fn lock_user(&self, user: UserId, actor: &str, reason: &str) -> Result<Locking, IngestError> {
        self.set_locked(user, true, actor, reason).await
    }

    /// Unlocks `user`: registered again if they have a password, else a guest.
    pub async fn unlock_user(&self, user: UserId, actor: &str) -> Result<Locking, IngestError> {
        self.set_locked(user, false, actor, "").await
    }

    async fn set_locked(
        &self,
        user: UserId,
        locked: bool,
        actor: &str,
        reason: &str,
    ) -> Result<Locking, IngestError> {
        let now = self.app().now_ms();
        let (actor, reason) = (actor.to_string(), reason.trim().to_string());
        let done = self
            .app()
            .store()
            .write(move |tx| {
                if crate::store::accounts::user_login_by_id(tx, user)?.is_none() {
                    return Ok(Locking::NoUser);
                }
                if !user_store::set_locked(tx, user, locked, now)? {
                    return Ok(Locking::Already);
                }
                if locked {
                    session_store::delete_sessions_of(tx, Holder::User(user))?;
                }
                let action = if locked { "lock" } else { "unlock" };
                audit_store::record(tx, now, &actor, action, Some(user), &reason)?;
                Ok(Locking::Done)
            })
            .await?;
        Ok(done)
    }
}
