//! Sessions: a random id in an HttpOnly cookie, stored as its SHA-256; idle and absolute expiry
//! checked on every request; a new id at every step up (sign-in, second factor), so an id planted
//! before sign-in never becomes a signed-in one.

use super::{AccountError, Accounts};
use crate::auth::secret::{random_token, token_hash};
use crate::store::Tx;
use crate::store::accounts::{self as account_store, AgentLogin};
use crate::store::sessions::{self as session_store, Holder, Stage};

/// Activity is recorded at most this often per session.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A live session as a request sees it.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub holder: Holder,
    pub stage: Stage,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Accounts {
    /// Opens a session; returns the cookie value (the only copy of the id) and the session.
    pub async fn open_session(
        &self,
        holder: Holder,
        stage: Stage,
    ) -> Result<(String, Session), AccountError> {
        let id = random_token();
        let session = Session { id_hash: token_hash(&id), holder, stage, csrf: random_token() };
        let (row, now) = (session.clone(), self.now_ms());
        self.app
            .store()
            .write(move |tx| {
                session_store::insert_session(tx, &row.id_hash, row.holder, row.stage, &row.csrf, now)
            })
            .await?;
        Ok((id, session))
    }

    /// The session a cookie names, when it exists and has not expired (an expired one is removed).
    /// A read, plus a write at most once a minute per session (activity) or on expiry.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, AccountError> {
        Ok(self.session_with(cookie, |_, _| Ok(())).await?.map(|(session, ())| session))
    }

    /// [`Accounts::session`] for the console: the session of an active agent, and that agent, in
    /// one read (the guard runs on every console request).
    pub async fn agent_session(&self, cookie: &str) -> Result<Option<(Session, AgentLogin)>, AccountError> {
        let found = self
            .session_with(cookie, |tx, holder| match holder {
                Holder::Agent(agent) => account_store::agent_login_by_id(tx, agent),
                Holder::User(_) => Ok(None),
            })
            .await?;
        Ok(found.and_then(|(session, agent)| agent.map(|agent| (session, agent))))
    }

    /// The live session behind `cookie` and what `also` reads about its holder in the same read.
    async fn session_with<T: Send + 'static>(
        &self,
        cookie: &str,
        also: impl FnOnce(&mut Tx<'_>, Holder) -> crate::store::Result<T> + Send + 'static,
    ) -> Result<Option<(Session, T)>, AccountError> {
        let id_hash = token_hash(cookie);
        let now = self.now_ms();
        let (idle, max) = (self.rules.session_idle_ms, self.rules.session_max_ms);
        let lookup = id_hash.clone();
        let found = self
            .app
            .store()
            .read(move |tx| match session_store::find_session(tx, &lookup)? {
                Some(row) => {
                    let extra = also(tx, row.holder)?;
                    Ok(Some((row, extra)))
                }
                None => Ok(None),
            })
            .await?;
        let Some((row, extra)) = found else { return Ok(None) };
        let expired = now - row.seen_at > idle || now - row.created_at > max;
        if expired || now - row.seen_at > TOUCH_EVERY_MS {
            let hash = id_hash.clone();
            self.app
                .store()
                .write(move |tx| {
                    if expired {
                        session_store::delete_session(tx, &hash)
                    } else {
                        session_store::touch_session(tx, &hash, now)
                    }
                })
                .await?;
        }
        if expired {
            return Ok(None);
        }
        Ok(Some((Session { id_hash, holder: row.holder, stage: row.stage, csrf: row.csrf }, extra)))
    }

    /// Replaces `old` by a new session at `stage` (new id, new CSRF token).
    pub async fn rotate(&self, old: &Session, stage: Stage) -> Result<(String, Session), AccountError> {
        let id = random_token();
        let session = Session { id_hash: token_hash(&id), holder: old.holder, stage, csrf: random_token() };
        let (row, old_hash, now) = (session.clone(), old.id_hash.clone(), self.now_ms());
        self.app
            .store()
            .write(move |tx| {
                session_store::delete_session(tx, &old_hash)?;
                session_store::insert_session(tx, &row.id_hash, row.holder, row.stage, &row.csrf, now)
            })
            .await?;
        Ok((id, session))
    }

    pub async fn close_session(&self, session: &Session) -> Result<(), AccountError> {
        let id_hash = session.id_hash.clone();
        self.app.store().write(move |tx| session_store::delete_session(tx, &id_hash)).await?;
        Ok(())
    }

    /// Drops expired sessions, tokens, throttling rows and forgotten sign-in clients (the janitor,
    /// hourly).
    pub async fn purge(&self) -> Result<u64, AccountError> {
        let now = self.now_ms();
        // The per-account counter's window is an hour, longer than the lockout's.
        let window = self.rules.lockout_ms.max(super::throttle::ACCOUNT_WINDOW_MS);
        let (idle, max) = (self.rules.session_idle_ms, self.rules.session_max_ms);
        Ok(self
            .app
            .store()
            .write(move |tx| {
                Ok(session_store::purge_sessions(tx, now - idle, now - max)?
                    + crate::store::accounts::purge_tokens(tx, now)?
                    + crate::store::accounts::purge_rate_limits(tx, now - window)?
                    + crate::store::accounts::purge_login_clients(
                        tx,
                        now - super::throttle::KNOWN_CLIENT_MS,
                    )?)
            })
            .await?)
    }
}
