//! Getting an account and getting back into one: sign-up (`/register`, confirmed by a mailed
//! link, where the mailbox's holder chooses the password), invitations from agents, and password
//! resets. Each answer to the visitor is the same
//! whether or not the address has an account; the mail says the rest, to the address's owner only.

use super::{AccountError, Accounts};
use crate::auth::secret::{random_token, token_hash};
use crate::core::address::EmailAddress;
use crate::core::ids::{AgentId, UserId};
use crate::core::notify::Mail;
use crate::store::accounts::{self as account_store, NewToken, TokenPurpose};
use crate::store::sessions::{self as session_store, Holder};
use crate::store::users::{self as user_store, UserStatus};

/// A sign-up name is kept to one line of this many characters.
const MAX_NAME_CHARS: usize = 100;

/// `text` on one line: control characters and runs of whitespace become one space, trimmed, at
/// most `max` characters.
pub(super) fn single_line(text: &str, max: usize) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// What a mailed link stands for, as its page shows it before anything is spent.
#[derive(Clone, Debug)]
pub struct Pending {
    pub email: String,
    pub name: String,
}

impl Accounts {
    /// `/register`: mails a confirmation link (or, when the address already has an account or
    /// cannot have one, a mail saying so). No password is taken here: whoever holds the mailbox
    /// chooses it when confirming, so nobody can pre-register someone else's address with a
    /// password they know. `Err` only for what the visitor must fix (a malformed address) or when
    /// sign-up is closed; the answer is otherwise the same whether or not the address has an account.
    pub async fn register(&self, email: &str, name: &str) -> Result<(), AccountError> {
        if !self.registration.self_service() {
            return Err(AccountError::Refused("Accounts are not open for sign-up here.".into()));
        }
        let Some(email) = EmailAddress::parse(email.trim()) else {
            return Err(AccountError::Refused("That is not an email address.".into()));
        };
        let name = single_line(name, MAX_NAME_CHARS);
        if self.app.settings().own_addresses.contains(&email) {
            return Ok(());
        }
        let token = random_token();
        let confirm = self.link(&format!("/register/{token}"));
        let exists = self.link("/reset");
        let (now, valid) = (self.now_ms(), self.rules.confirm_ms);
        let this = self.mailer();
        self.app
            .store()
            .write(move |tx| {
                let agent = account_store::agent_login(tx, email.as_str())?;
                let user = account_store::user_login(tx, email.as_str())?;
                // The greeting names the account as stored, never what the sign-up form said.
                let existing = match (agent, user) {
                    (Some(agent), _) => Some(agent.name),
                    (None, Some(user)) if user.status != UserStatus::Guest => Some(user.name),
                    _ => None,
                };
                if let Some(known_name) = existing {
                    return this.queue_mail(tx, Mail::AccountExists, &email, &known_name, &exists, 0);
                }
                account_store::insert_token(
                    tx,
                    &NewToken {
                        hash: &token_hash(&token),
                        purpose: TokenPurpose::Register,
                        email: email.as_str(),
                        name: &name,
                        password_hash: None,
                        now_ms: now,
                        expires_at: now + valid,
                    },
                )?;
                // The address is not verified yet: the mail carries no free text from the form
                // beyond a short single-line name.
                this.queue_mail(tx, Mail::AccountConfirm, &email, &name, &confirm, valid)
            })
            .await?;
        Ok(())
    }

    /// What the link `token` (of `purpose`) stands for, without spending it; `None` when it is
    /// unknown, used or expired.
    pub async fn pending(&self, token: &str, purpose: TokenPurpose) -> Result<Option<Pending>, AccountError> {
        let (hash, now) = (token_hash(token), self.now_ms());
        let found =
            self.app.store().read(move |tx| account_store::peek_token(tx, &hash, purpose, now)).await?;
        Ok(found.map(|t| Pending { email: t.email, name: t.name }))
    }

    /// The confirmation link was followed and the mailbox's holder chose `password`: the account
    /// exists from now on, with that password (never one stored at sign-up). `None` when the link
    /// is spent, expired or unknown.
    pub async fn confirm(&self, token: &str, password: &str) -> Result<Option<UserId>, AccountError> {
        let Some(pending) = self.pending(token, TokenPurpose::Register).await? else { return Ok(None) };
        self.policy().check(password, &[&pending.email, &pending.name])?;
        let password_hash = self.hash_password(password).await?;
        let (hash, now) = (token_hash(token), self.now_ms());
        let app = self.app.clone();
        Ok(self
            .app
            .store()
            .write(move |tx| {
                let Some(taken) = account_store::take_token(tx, &hash, TokenPurpose::Register, now)? else {
                    return Ok(None);
                };
                let Some(email) = EmailAddress::parse(&taken.email) else { return Ok(None) };
                let org = app.org_of(&email);
                let name = single_line(&taken.name, MAX_NAME_CHARS);
                let (user, _) = user_store::ensure_user(tx, &email, Some(&name), org, now)?;
                match account_store::user_login_by_id(tx, user)? {
                    // Confirmed twice through two sign-ups, or disabled meanwhile: the first stands.
                    Some(existing) if existing.status != UserStatus::Guest => return Ok(None),
                    _ => {}
                }
                account_store::complete_profile(tx, user, &name, org, now)?;
                account_store::set_user_password(tx, user, &password_hash, now)?;
                account_store::void_tokens(tx, email.as_str(), TokenPurpose::Register, now)?;
                Ok(Some(user))
            })
            .await?)
    }

    /// `/reset`: mails a reset link when `email` has an account; nothing otherwise. The page
    /// answers the same either way.
    pub async fn request_reset(&self, email: &str) -> Result<(), AccountError> {
        let Some(email) = EmailAddress::parse(email.trim()) else { return Ok(()) };
        let user = {
            let lookup = email.clone();
            self.app.store().read(move |tx| account_store::user_login(tx, lookup.as_str())).await?
        };
        match user {
            Some(user) if user.status == UserStatus::Registered => self.send_reset(user.id).await.map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Mails user `user` a reset link (their own request).
    pub async fn send_reset(&self, user: UserId) -> Result<bool, AccountError> {
        self.send_link(user, TokenPurpose::Reset, None).await
    }

    /// Mails user `user` a reset link on `actor`'s request ("agent alice", "an admin"), with an
    /// audit row naming them.
    pub async fn send_reset_by(&self, user: UserId, actor: &str) -> Result<bool, AccountError> {
        self.send_link(user, TokenPurpose::Reset, Some(actor.to_string())).await
    }

    /// Invites guest `user` to choose a password (agents, in the modes that allow it).
    pub async fn invite(&self, user: UserId, by: AgentId) -> Result<bool, AccountError> {
        if !self.registration.invitations() {
            return Err(AccountError::Refused("Accounts are disabled here: nobody can be invited.".into()));
        }
        tracing::info!(user = user.0, agent = by.0, "account invitation");
        self.send_link(user, TokenPurpose::Invite, None).await
    }

    async fn send_link(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        actor: Option<String>,
    ) -> Result<bool, AccountError> {
        if purpose == TokenPurpose::Reset {
            let refused = super::self_service::refuse_directory_account(self, Holder::User(user)).await;
            // Asked for on `/reset`, the answer is the same as for any address (nothing is said).
            if refused.is_err() && actor.is_none() {
                return Ok(false);
            }
            refused?;
        }
        let token = random_token();
        let (mail, path, valid, wanted) = match purpose {
            TokenPurpose::Reset => {
                (Mail::PasswordReset, "/reset", self.rules.reset_ms, UserStatus::Registered)
            }
            TokenPurpose::Invite => (Mail::AccountInvite, "/invite", self.rules.invite_ms, UserStatus::Guest),
            TokenPurpose::Register => unreachable!("sign-up links come from register()"),
        };
        let link = self.link(&format!("{path}/{token}"));
        let now = self.now_ms();
        let this = self.mailer();
        let sent = self
            .app
            .store()
            .write(move |tx| {
                let Some(found) = account_store::user_login_by_id(tx, user)? else { return Ok(Err(None)) };
                if found.status != wanted {
                    return Ok(Err(Some(found.status)));
                }
                let Some(email) = EmailAddress::parse(&found.email) else { return Ok(Err(None)) };
                // A new link voids the older ones of its kind.
                account_store::void_tokens(tx, email.as_str(), purpose, now)?;
                account_store::insert_token(
                    tx,
                    &NewToken {
                        hash: &token_hash(&token),
                        purpose,
                        email: email.as_str(),
                        name: &found.name,
                        password_hash: None,
                        now_ms: now,
                        expires_at: now + valid,
                    },
                )?;
                this.queue_mail(tx, mail, &email, &found.name, &link, valid)?;
                if let Some(actor) = &actor {
                    crate::store::audit::record(tx, now, actor, "reset link", Some(user), "")?;
                }
                Ok(Ok(()))
            })
            .await?;
        match sent {
            Ok(()) => Ok(true),
            Err(Some(status)) if purpose == TokenPurpose::Invite => {
                Err(AccountError::Refused(format!("This user cannot be invited: the account is {status}.")))
            }
            Err(Some(status)) => {
                Err(AccountError::Refused(format!("No reset link: the account is {status}, not registered.")))
            }
            Err(None) => Ok(false),
        }
    }

    /// Sets the password through a reset or invitation link and spends it; ends the user's other
    /// sessions. `Ok(None)` when the link is spent, expired or unknown.
    pub async fn set_password_by_link(
        &self,
        token: &str,
        purpose: TokenPurpose,
        password: &str,
    ) -> Result<Option<UserId>, AccountError> {
        let Some(pending) = self.pending(token, purpose).await? else { return Ok(None) };
        self.policy().check(password, &[&pending.email, &pending.name])?;
        let hash = self.hash_password(password).await?;
        let (token_hash, now) = (token_hash(token), self.now_ms());
        Ok(self
            .app
            .store()
            .write(move |tx| {
                let Some(taken) = account_store::take_token(tx, &token_hash, purpose, now)? else {
                    return Ok(None);
                };
                let Some(user) = account_store::user_login(tx, &taken.email)? else { return Ok(None) };
                if user.status == UserStatus::Disabled {
                    return Ok(None);
                }
                account_store::set_own_password(tx, user.id, &hash, now)?;
                account_store::void_tokens(tx, &taken.email, TokenPurpose::Reset, now)?;
                session_store::delete_sessions_of(tx, Holder::User(user.id))?;
                // Whoever holds the mailbox chose this password: the throttle's lockout is over.
                crate::store::users::clear_lockout(tx, user.id)?;
                Ok(Some(user.id))
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::single_line;

    #[test]
    fn names_become_one_short_line() {
        assert_eq!(single_line("  Ann\r\nBcc: x@y \t Lee ", 100), "Ann Bcc: x@y Lee");
        assert_eq!(single_line("a\u{0}b", 100), "a b");
        assert_eq!(single_line(&"é".repeat(300), 40).chars().count(), 40);
        assert_eq!(single_line("Ann Lee", 4), "Ann");
    }
}
