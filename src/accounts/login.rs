//! Signing in: the attempt is counted first (per resolved account and client, in the database so
//! every daemon sees the same numbers; `throttle`), then the providers in order (`super::ldap`
//! says which: the account's directory, the directories, local passwords). The local
//! provider verifies argon2id on a blocking thread within the bound on concurrent hashes, with a
//! dummy hash for unknown accounts so the answer takes as long either way, and rehashes a password
//! whose parameters are out of date.

use std::net::IpAddr;

use super::{AccountError, Accounts, throttle};
use crate::auth::password::Verdict;
use crate::auth::provider::RequestInfo;
use crate::core::ids::AgentId;
use crate::store::Tx;
use crate::store::accounts::{self as account_store};
use crate::store::second_factor as factor_store;
use crate::store::sessions::{Holder, Stage};
use crate::store::users::UserStatus;

/// Which door: the agent console or the end-user portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Realm {
    Agent,
    User,
}

impl Realm {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Realm::Agent => "agent",
            Realm::User => "user",
        }
    }
}

/// The answer to a sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// Who it is and how far they got (agents may still owe a TOTP code or enrollment).
    Granted { holder: Holder, stage: Stage },
    /// Wrong login or password; the same answer whether or not the account exists.
    Denied,
    /// Too many failures for this account or this client: wait.
    Throttled,
    /// The `[[ldap]]` directory that must judge the password is not answering: try again later.
    /// Nothing weaker was tried instead.
    DirectoryDown,
}

/// The stored credentials of whoever `login` names in `realm`.
struct Stored {
    holder: Option<Holder>,
    hash: Option<String>,
    /// Where the password is checked when not here (`ldap:NAME`).
    source: Option<String>,
}

impl Accounts {
    /// Checks `login` + `password` (an email address, or an agent's key) from `client`. The
    /// attempt is counted before the password is checked (see [`super::throttle`]); a locked
    /// counter answers `Throttled` without running argon2.
    pub async fn sign_in(
        &self,
        realm: Realm,
        login: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<SignIn, AccountError> {
        let login = normalize_login(login);
        let typed = login.clone();
        let client = throttle::client_name(client);
        let now = self.now_ms();
        let rules = self.rules.clone();
        let (stored, account, charged) = self
            .app
            .store()
            .write(move |tx| {
                let stored = stored(tx, realm, &login)?;
                let account = throttle::account_name(stored.holder, realm.as_str(), &login);
                let charged = throttle::charge_password(tx, &rules, &account, &client, now)?;
                Ok((stored, (account, client), charged))
            })
            .await?;
        if charged.blocked {
            crate::observe::metrics::login_throttled(realm.as_str(), "password");
            return Ok(SignIn::Throttled);
        }
        let route = self.route(realm, stored.holder, stored.source.as_deref(), stored.hash.is_some());
        let charged = match self
            .sign_in_by_directory(realm, &typed, password, route, charged, account.clone())
            .await?
        {
            Ok(answer) => return Ok(answer),
            Err(charged) => charged,
        };
        let verdict = match self.hashing.verify(password, stored.hash).await {
            Ok(verdict) => verdict,
            Err(error) => {
                // Never judged (busy, or the task failed): the attempt does not count.
                self.app.store().write(move |tx| throttle::refund(tx, &charged, false)).await?;
                return Err(error);
            }
        };
        match (verdict, stored.holder) {
            (Verdict::Match, Some(holder)) => self.granted(holder, None, charged, account).await,
            (Verdict::MatchNeedsRehash, Some(holder)) => {
                self.granted(holder, Some(password.to_string()), charged, account).await
            }
            _ if charged.exhausted => {
                crate::observe::metrics::login_failed(realm.as_str(), "password");
                crate::observe::metrics::login_throttled(realm.as_str(), "password");
                Ok(SignIn::Throttled)
            }
            _ => {
                crate::observe::metrics::login_failed(realm.as_str(), "password");
                Ok(SignIn::Denied)
            }
        }
    }

    /// Signs in whoever a provider proves from the request alone (the reverse proxy's header).
    /// `None` when no provider claims the request.
    pub async fn sign_in_from_request(
        &self,
        realm: Realm,
        request: &RequestInfo<'_>,
    ) -> Result<Option<SignIn>, AccountError> {
        let Some(login) = self.providers.iter().find_map(|provider| provider.prove(request)) else {
            return Ok(None);
        };
        let login = normalize_login(&login);
        let stored = self.app.store().read(move |tx| stored(tx, realm, &login)).await?;
        let Some(holder) = stored.holder else {
            tracing::warn!(realm = realm.as_str(), "pass-through sign-in names no account");
            return Ok(Some(SignIn::Denied));
        };
        // The proxy authenticated the person, second factor included: the session is complete.
        let now = self.now_ms();
        self.app.store().write(move |tx| touch(tx, holder, now)).await?;
        Ok(Some(SignIn::Granted { holder, stage: Stage::Full }))
    }

    /// `account` is `(counter name of the account, counter name of the client)`.
    pub(super) async fn granted(
        &self,
        holder: Holder,
        rehash: Option<String>,
        charged: throttle::Charged,
        account: (String, String),
    ) -> Result<SignIn, AccountError> {
        let new_hash = match rehash {
            Some(password) => Some(self.hash_password(&password).await?),
            None => None,
        };
        let now = self.now_ms();
        let require_2fa = self.rules.require_agent_2fa;
        let stage = self
            .app
            .store()
            .write(move |tx| {
                throttle::refund(tx, &charged, true)?;
                account_store::remember_client(tx, &account.0, &account.1, now)?;
                if let Some(hash) = &new_hash {
                    match holder {
                        Holder::Agent(agent) => {
                            account_store::set_agent_password(tx, agent, hash).map(|_| ())?
                        }
                        Holder::User(user) => account_store::set_user_password(tx, user, hash, now)?,
                    }
                }
                touch(tx, holder, now)?;
                Ok(match holder {
                    // A temporary password: the user chooses their own before anything else.
                    Holder::User(user) if account_store::password_is_temporary(tx, user)? => {
                        Stage::ChangePassword
                    }
                    Holder::User(_) => Stage::Full,
                    Holder::Agent(agent) => match factor_store::totp(tx, agent)? {
                        Some(totp) if totp.enabled => Stage::SecondFactor,
                        _ if require_2fa => Stage::Enroll,
                        _ => Stage::Full,
                    },
                })
            })
            .await?;
        Ok(SignIn::Granted { holder, stage })
    }
}

/// The counter of agent `agent`'s second-factor codes (an admin's 2FA reset clears it).
pub(super) fn second_factor_key(agent: AgentId) -> String {
    format!("agent-2fa:{}", agent.0)
}

/// A login as typed, as looked up: trimmed, lower-case, without the angle brackets of
/// `<name@example.com>`. A NUL (which PostgreSQL refuses in text, so the lookup would fail as if
/// the database were down) becomes U+FFFD: such a login names nobody, on either engine.
fn normalize_login(login: &str) -> String {
    login.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase().replace('\0', "\u{FFFD}")
}

fn stored(tx: &mut Tx<'_>, realm: Realm, login: &str) -> crate::store::Result<Stored> {
    let mut stored = local(tx, realm, login)?;
    if let Some(holder) = stored.holder {
        stored.source = crate::store::account_source::source_of(tx, holder)?;
    }
    Ok(stored)
}

fn local(tx: &mut Tx<'_>, realm: Realm, login: &str) -> crate::store::Result<Stored> {
    Ok(match realm {
        Realm::Agent => match account_store::agent_login(tx, login)? {
            Some(agent) => {
                Stored { holder: Some(Holder::Agent(agent.id)), hash: agent.password_hash, source: None }
            }
            None => Stored { holder: None, hash: None, source: None },
        },
        Realm::User => match account_store::user_login(tx, login)? {
            // Only a registered account signs in; a guest has no password, a disabled one is off.
            Some(user) if user.status == UserStatus::Registered => {
                Stored { holder: Some(Holder::User(user.id)), hash: user.password_hash, source: None }
            }
            _ => Stored { holder: None, hash: None, source: None },
        },
    })
}

fn touch(tx: &mut Tx<'_>, holder: Holder, now: i64) -> crate::store::Result<()> {
    match holder {
        Holder::User(user) => account_store::touch_user_login(tx, user, now),
        Holder::Agent(agent) => account_store::touch_agent_login(tx, agent, now),
    }
}
