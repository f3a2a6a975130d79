//! Signing in: throttling first (per account and per client address, counted in the database so
//! every daemon sees the same numbers), then the providers in order. The local provider verifies
//! argon2id on a blocking thread, with a dummy hash for unknown accounts so the answer takes as
//! long either way, and rehashes a password whose parameters are out of date.

use std::net::IpAddr;

use super::{AccountError, Accounts};
use crate::auth::password::Verdict;
use crate::auth::provider::RequestInfo;
use crate::core::ids::AgentId;
use crate::store::accounts::{self as account_store};
use crate::store::second_factor as factor_store;
use crate::store::sessions::{Holder, Stage};
use crate::store::{StoreError, Tx};

/// Which door: the agent console or the end-user portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Realm {
    Agent,
    User,
}

impl Realm {
    fn as_str(self) -> &'static str {
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
}

/// The stored credentials of whoever `login` names in `realm`.
struct Stored {
    holder: Option<Holder>,
    hash: Option<String>,
}

impl Accounts {
    /// Checks `login` + `password` (an email address, or an agent's key) from `client`.
    pub async fn sign_in(
        &self,
        realm: Realm,
        login: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<SignIn, AccountError> {
        let login = login.trim().to_lowercase();
        let keys = throttle_keys(realm, &login, client);
        let now = self.now_ms();
        let blocked_keys = keys.clone();
        let lookup = login.clone();
        let (blocked, stored) = self
            .ingestor
            .store()
            .read(move |tx| {
                let blocked = account_store::is_blocked(tx, &blocked_keys[0], now)?
                    || account_store::is_blocked(tx, &blocked_keys[1], now)?;
                Ok((blocked, stored(tx, realm, &lookup)?))
            })
            .await?;
        if blocked {
            return Ok(SignIn::Throttled);
        }
        let verdict = self.verify(password, stored.hash).await?;
        match (verdict, stored.holder) {
            (Verdict::Match, Some(holder)) => self.granted(holder, None, keys).await,
            (Verdict::MatchNeedsRehash, Some(holder)) => {
                self.granted(holder, Some(password.to_string()), keys).await
            }
            _ => self.failed(keys).await,
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
        let login = login.trim().to_lowercase();
        let stored = self.ingestor.store().read(move |tx| stored(tx, realm, &login)).await?;
        let Some(holder) = stored.holder else {
            tracing::warn!(realm = realm.as_str(), "pass-through sign-in names no account");
            return Ok(Some(SignIn::Denied));
        };
        // The proxy authenticated the person, second factor included: the session is complete.
        let now = self.now_ms();
        self.ingestor.store().write(move |tx| touch(tx, holder, now)).await?;
        Ok(Some(SignIn::Granted { holder, stage: Stage::Full }))
    }

    /// The local password check, on a blocking thread; `stored` `None` still costs one argon2 run.
    async fn verify(&self, password: &str, stored: Option<String>) -> Result<Verdict, AccountError> {
        let policy = self.policy.clone();
        let password = password.to_string();
        Ok(tokio::task::spawn_blocking(move || policy.verify(&password, stored.as_deref()))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?)
    }

    async fn failed(&self, keys: [String; 2]) -> Result<SignIn, AccountError> {
        let now = self.now_ms();
        let (window, max, max_client) =
            (self.rules.lockout_ms, self.rules.max_failed, self.rules.max_failed_per_client);
        let blocked = self
            .ingestor
            .store()
            .write(move |tx| {
                let account = account_store::record_failure(tx, &keys[0], now, window, max)?;
                let client = account_store::record_failure(tx, &keys[1], now, window, max_client)?;
                Ok(account || client)
            })
            .await?;
        Ok(if blocked { SignIn::Throttled } else { SignIn::Denied })
    }

    async fn granted(
        &self,
        holder: Holder,
        rehash: Option<String>,
        keys: [String; 2],
    ) -> Result<SignIn, AccountError> {
        let new_hash = match rehash {
            Some(password) => Some(self.hash_password(&password).await?),
            None => None,
        };
        let now = self.now_ms();
        let require_2fa = self.rules.require_agent_2fa;
        let stage = self
            .ingestor
            .store()
            .write(move |tx| {
                account_store::clear_failures(tx, &keys[0])?;
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

    /// Counts a failed second factor against the account (a 6-digit code is guessable).
    pub(super) async fn second_factor_failed(
        &self,
        agent: AgentId,
        client: IpAddr,
    ) -> Result<bool, AccountError> {
        let keys = [format!("agent-2fa:{}", agent.0), format!("client:{client}")];
        Ok(self.failed(keys).await? == SignIn::Throttled)
    }

    pub(super) async fn second_factor_blocked(&self, agent: AgentId) -> Result<bool, AccountError> {
        let key = format!("agent-2fa:{}", agent.0);
        let now = self.now_ms();
        Ok(self.ingestor.store().read(move |tx| account_store::is_blocked(tx, &key, now)).await?)
    }
}

/// `[account key, client key]`.
fn throttle_keys(realm: Realm, login: &str, client: IpAddr) -> [String; 2] {
    [format!("{}:{login}", realm.as_str()), format!("client:{client}")]
}

fn stored(tx: &mut Tx<'_>, realm: Realm, login: &str) -> crate::store::Result<Stored> {
    Ok(match realm {
        Realm::Agent => match account_store::agent_login(tx, login)? {
            Some(agent) => Stored { holder: Some(Holder::Agent(agent.id)), hash: agent.password_hash },
            None => Stored { holder: None, hash: None },
        },
        Realm::User => match account_store::user_login(tx, login)? {
            // Only a registered account signs in; a guest has no password, a disabled one is off.
            Some(user) if user.status == "registered" => {
                Stored { holder: Some(Holder::User(user.id)), hash: user.password_hash }
            }
            _ => Stored { holder: None, hash: None },
        },
    })
}

fn touch(tx: &mut Tx<'_>, holder: Holder, now: i64) -> crate::store::Result<()> {
    match holder {
        Holder::User(user) => account_store::touch_user_login(tx, user, now),
        Holder::Agent(agent) => account_store::touch_agent_login(tx, agent, now),
    }
}
