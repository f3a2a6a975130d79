//! Passwords changed after sign-up: a temporary password an agent or admin sets (the user must
//! choose their own at the next sign-in: the session stays at `Stage::ChangePassword` until
//! then), and people changing their own. Proving the current password is a sign-in attempt like
//! any other (counted first, `throttle`), so a stolen session cannot be used to guess it faster
//! than the sign-in page allows. Nothing here logs or stores a password, only its argon2id hash.

use std::net::IpAddr;

use super::{AccountError, Accounts, Session, throttle};
use crate::auth::password::Verdict;
use crate::core::ids::{AgentId, UserId};
use crate::store::Tx;
use crate::store::accounts as account_store;
use crate::store::audit as audit_store;
use crate::store::second_factor as factor_store;
use crate::store::sessions::{self as session_store, Holder, Stage};
use crate::store::users::UserStatus;

/// How a change of one's own password ended.
#[derive(Debug)]
pub enum PasswordChange {
    /// Changed: every session of the account ended; this one replaces the caller's (cookie value,
    /// session).
    Changed(String, Session),
    /// The current password is wrong.
    WrongPassword,
    /// The agent's TOTP code is missing or wrong.
    WrongCode,
    /// Too many wrong passwords or codes: wait, as at sign-in.
    Throttled,
}

/// What proving the current password found.
enum Proof {
    Right,
    Wrong,
    Throttled,
}

/// Who a password belongs to, as the rules for new passwords need it.
struct Owner {
    hash: Option<String>,
    /// The address, name (and agent key) a new password may not contain.
    identity: Vec<String>,
}

impl Accounts {
    /// An agent (`actor`: "agent alice") or an admin ("an admin") sets `user`'s password to
    /// `password`, which the user must replace at their next sign-in. The rules of new passwords
    /// apply; the user's sessions end; an audit row names the actor (never the password). A locked
    /// user gets none; a guest only where accounts are not disabled.
    pub async fn set_temporary_password(
        &self,
        user: UserId,
        password: &str,
        actor: &str,
    ) -> Result<(), AccountError> {
        let found = self.app.store().read(move |tx| account_store::user_login_by_id(tx, user)).await?;
        let Some(found) = found else { return Err(AccountError::Refused(format!("no user {}", user.0))) };
        match found.status {
            UserStatus::Disabled => {
                return Err(AccountError::Refused(
                    "The user is locked: unlock them first; a locked user cannot sign in.".into(),
                ));
            }
            UserStatus::Guest if !self.registration.invitations() => {
                return Err(AccountError::Refused(
                    "Accounts are disabled here (registration.method = \"disabled\"): a guest cannot get a password."
                        .into(),
                ));
            }
            _ => {}
        }
        refuse_directory_account(self, Holder::User(user)).await?;
        self.policy().check(password, &[&found.email, &found.name])?;
        let hash = self.hash_password(password).await?;
        let (now, actor) = (self.now_ms(), actor.to_string());
        let set = self
            .app
            .store()
            .write(move |tx| {
                // Locked meanwhile: nothing is set.
                if !account_store::set_temporary_password(tx, user, &hash, now)? {
                    return Ok(false);
                }
                session_store::delete_sessions_of(tx, Holder::User(user))?;
                account_store::void_tokens(tx, &found.email, account_store::TokenPurpose::Reset, now)?;
                audit_store::record(tx, now, &actor, "temporary password", Some(user), "")?;
                Ok(true)
            })
            .await?;
        if !set {
            return Err(AccountError::Refused("The user was locked meanwhile; nothing was set.".into()));
        }
        tracing::info!(user = user.0, "temporary password set");
        Ok(())
    }

    /// A user who signed in with a temporary password (`session` at `Stage::ChangePassword`)
    /// chooses their own: not the temporary one again, and by the rules of new passwords. Their
    /// sessions end and a complete one replaces this one.
    pub async fn replace_temporary_password(
        &self,
        session: &Session,
        password: &str,
    ) -> Result<PasswordChange, AccountError> {
        let Holder::User(user) = session.holder else {
            return Err(AccountError::Refused("Only a customer's password is temporary.".into()));
        };
        if session.stage != Stage::ChangePassword {
            return Err(AccountError::Refused("The password is not temporary.".into()));
        }
        let owner = self.owner(session.holder).await?;
        let identity: Vec<&str> = owner.identity.iter().map(String::as_str).collect();
        self.policy().check(password, &identity)?;
        if self.hashing.verify(password, owner.hash).await?.is_match() {
            return Err(AccountError::Refused(
                "Choose a password of your own, not the temporary one you were given.".into(),
            ));
        }
        let hash = self.hash_password(password).await?;
        self.store_own_password(session.holder, hash, "replaced the temporary password")
            .await
            .map(|(id, fresh)| PasswordChange::Changed(id, fresh))
            .inspect(|_| tracing::info!(user = user.0, "temporary password replaced"))
    }

    /// A signed-in user or agent changes their own password: `current` proves it is them (counted
    /// like a sign-in attempt from `client`), an agent with two-factor sign-in also gives a TOTP
    /// `code`; `new` meets the rules of new passwords. Every session of the account ends; a new
    /// one replaces the caller's.
    pub async fn change_own_password(
        &self,
        session: &Session,
        current: &str,
        code: &str,
        new: &str,
        client: IpAddr,
    ) -> Result<PasswordChange, AccountError> {
        if session.stage != Stage::Full {
            return Err(AccountError::Refused("Sign in first.".into()));
        }
        let holder = session.holder;
        let owner = self.owner(holder).await?;
        let identity: Vec<&str> = owner.identity.iter().map(String::as_str).collect();
        self.policy().check(new, &identity)?;
        match self.prove_password(holder, current, owner.hash, client).await? {
            Proof::Right => {}
            Proof::Wrong => return Ok(PasswordChange::WrongPassword),
            Proof::Throttled => return Ok(PasswordChange::Throttled),
        }
        if let Holder::Agent(agent) = holder {
            let enabled = self
                .app
                .store()
                .read(move |tx| Ok(factor_store::totp(tx, agent)?.is_some_and(|t| t.enabled)))
                .await?;
            if enabled {
                match self.judge_code(agent, code, client, false).await? {
                    super::two_factor::Judged::Accepted => {}
                    super::two_factor::Judged::Rejected => return Ok(PasswordChange::WrongCode),
                    super::two_factor::Judged::Throttled => return Ok(PasswordChange::Throttled),
                }
            }
        }
        let hash = self.hash_password(new).await?;
        let (id, fresh) = self.store_own_password(holder, hash, "changed their password").await?;
        match holder {
            Holder::User(user) => tracing::info!(user = user.0, "password changed by its owner"),
            Holder::Agent(agent) => tracing::info!(agent = agent.0, "password changed by its owner"),
        }
        Ok(PasswordChange::Changed(id, fresh))
    }

    /// The stored hash and identity of `holder`; refused when the account is gone or locked, or
    /// when its password is a directory's (`[[ldap]]`): there is no password here to set or change.
    async fn owner(&self, holder: Holder) -> Result<Owner, AccountError> {
        let found = self
            .app
            .store()
            .read(move |tx| {
                Ok(match holder {
                    Holder::User(user) => account_store::user_login_by_id(tx, user)?
                        .filter(|u| u.status == UserStatus::Registered)
                        .map(|u| Owner { hash: u.password_hash, identity: vec![u.email, u.name] }),
                    Holder::Agent(agent) => account_store::agent_login_by_id(tx, agent)?
                        .map(|a| Owner { hash: a.password_hash, identity: vec![a.email, a.key, a.name] }),
                })
            })
            .await?;
        let owner =
            found.ok_or_else(|| AccountError::Refused("This account cannot sign in any more.".into()))?;
        refuse_directory_account(self, holder).await?;
        Ok(owner)
    }

    /// Checks `password` against `hash` as a sign-in attempt of `holder` from `client`: counted
    /// before it is judged, on the same counters as the sign-in page.
    async fn prove_password(
        &self,
        holder: Holder,
        password: &str,
        hash: Option<String>,
        client: IpAddr,
    ) -> Result<Proof, AccountError> {
        let realm = match holder {
            Holder::User(_) => "user",
            Holder::Agent(_) => "agent",
        };
        let account = throttle::account_name(Some(holder), realm, "");
        let client = throttle::client_name(client);
        let (now, rules) = (self.now_ms(), self.rules.clone());
        let charged = self
            .app
            .store()
            .write(move |tx| throttle::charge_password(tx, &rules, &account, &client, now))
            .await?;
        if charged.blocked {
            crate::observe::metrics::login_throttled(realm, "password");
            return Ok(Proof::Throttled);
        }
        let verdict = match self.hashing.verify(password, hash).await {
            Ok(verdict) => verdict,
            Err(error) => {
                self.app.store().write(move |tx| throttle::refund(tx, &charged, false)).await?;
                return Err(error);
            }
        };
        if matches!(verdict, Verdict::Match | Verdict::MatchNeedsRehash) {
            self.app.store().write(move |tx| throttle::refund(tx, &charged, true)).await?;
            return Ok(Proof::Right);
        }
        crate::observe::metrics::login_failed(realm, "password");
        Ok(if charged.exhausted { Proof::Throttled } else { Proof::Wrong })
    }

    /// Stores `hash` as `holder`'s own password, ends all their sessions and opens a complete one
    /// in place of the caller's; a user's change is an audit row (`detail` says which).
    async fn store_own_password(
        &self,
        holder: Holder,
        hash: String,
        detail: &'static str,
    ) -> Result<(String, Session), AccountError> {
        let now = self.now_ms();
        self.app
            .store()
            .write(move |tx| {
                write_own_password(tx, holder, &hash, now)?;
                session_store::delete_sessions_of(tx, holder)?;
                if let Holder::User(user) = holder {
                    audit_store::record(tx, now, "the user", "password", Some(user), detail)?;
                }
                Ok(())
            })
            .await?;
        self.open_session(holder, Stage::Full).await
    }
}

fn write_own_password(tx: &mut Tx<'_>, holder: Holder, hash: &str, now: i64) -> crate::store::Result<()> {
    match holder {
        Holder::User(user) => account_store::set_own_password(tx, user, hash, now),
        Holder::Agent(agent) => set_agent(tx, agent, hash),
    }
}

fn set_agent(tx: &mut Tx<'_>, agent: AgentId, hash: &str) -> crate::store::Result<()> {
    account_store::set_agent_password(tx, agent, hash).map(|_| ())
}

/// Refuses to set or change the password of an account whose password a directory keeps
/// (`auth_source = 'ldap:NAME'`, docs/accounts.md "Providers"): sign-in never checks a local
/// password for it, so one set here would be a password that silently does nothing.
pub(super) async fn refuse_directory_account(
    accounts: &Accounts,
    holder: Holder,
) -> Result<(), AccountError> {
    let source =
        accounts.app.store().read(move |tx| crate::store::account_source::source_of(tx, holder)).await?;
    match source.as_deref().and_then(|s| s.strip_prefix("ldap:")) {
        Some(name) => Err(AccountError::Refused(format!(
            "This password is kept by the directory \"{name}\": change it there; mailgate never checks a password of its own for this account."
        ))),
        None => Ok(()),
    }
}
