//! Accounts: sign-in records of users and agents, the single-use tokens mailed for sign-up,
//! invitation and reset (stored as SHA-256 only), sign-in attempt counters (counted before the
//! attempt is judged) and the client addresses each account signed in from.

use super::users::UserStatus;
use super::{Result, Row, Tx};
use crate::core::ids::{AgentId, OrgId, UserId};
use crate::params;

/// What a sign-in needs to know about an end user.
#[derive(Clone, Debug)]
pub struct UserLogin {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub status: UserStatus,
    pub password_hash: Option<String>,
}

/// What a sign-in needs to know about an agent.
#[derive(Clone, Debug)]
pub struct AgentLogin {
    pub id: AgentId,
    pub key: String,
    pub name: String,
    pub email: String,
    pub password_hash: Option<String>,
}

pub fn user_login(tx: &mut Tx<'_>, email: &str) -> Result<Option<UserLogin>> {
    tx.query_opt(
        "SELECT id, email, name, status, password_hash FROM users WHERE email = $1",
        params![email],
        user_login_row,
    )
}

pub fn user_login_by_id(tx: &mut Tx<'_>, id: UserId) -> Result<Option<UserLogin>> {
    tx.query_opt(
        "SELECT id, email, name, status, password_hash FROM users WHERE id = $1",
        params![id.0],
        user_login_row,
    )
}

fn user_login_row(r: &Row<'_>) -> Result<UserLogin> {
    Ok(UserLogin {
        id: UserId(r.i64(0)?),
        email: r.string(1)?,
        name: r.string(2)?,
        status: r.word(3)?,
        password_hash: r.opt_string(4)?,
    })
}

/// An active agent by any of their addresses, or by key.
pub fn agent_login(tx: &mut Tx<'_>, login: &str) -> Result<Option<AgentLogin>> {
    tx.query_opt(
        "SELECT a.id, a.key, a.name, a.email, a.password_hash FROM agents a
          WHERE a.active = 1 AND (a.key = $1 OR a.id IN (SELECT agent_id FROM agent_emails WHERE email = $1))",
        params![login],
        agent_login_row,
    )
}

pub fn agent_login_by_id(tx: &mut Tx<'_>, id: AgentId) -> Result<Option<AgentLogin>> {
    tx.query_opt(
        "SELECT id, key, name, email, password_hash FROM agents WHERE id = $1 AND active = 1",
        params![id.0],
        agent_login_row,
    )
}

fn agent_login_row(r: &Row<'_>) -> Result<AgentLogin> {
    Ok(AgentLogin {
        id: AgentId(r.i64(0)?),
        key: r.string(1)?,
        name: r.string(2)?,
        email: r.string(3)?,
        password_hash: r.opt_string(4)?,
    })
}

pub fn set_agent_password(tx: &mut Tx<'_>, agent: AgentId, hash: &str) -> Result<bool> {
    Ok(tx.execute("UPDATE agents SET password_hash = $1 WHERE id = $2", params![hash, agent.0])? == 1)
}

/// Sets a user's password and makes the account registered (confirmation, invitation, reset).
pub fn set_user_password(tx: &mut Tx<'_>, user: UserId, hash: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE users SET password_hash = $1, status = 'registered', updated_at = $2 WHERE id = $3",
        params![hash, now_ms, user.0],
    )?;
    Ok(())
}

/// Sets a password an agent or admin chose: the account is registered and its owner must choose
/// their own at the next sign-in. False when the user is locked (or gone).
pub fn set_temporary_password(tx: &mut Tx<'_>, user: UserId, hash: &str, now_ms: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE users SET password_hash = $1, status = 'registered', password_temporary = 1, updated_at = $2
          WHERE id = $3 AND status <> 'disabled'",
        params![hash, now_ms, user.0],
    )? == 1)
}

/// Sets the password its owner chose (a reset link, a change): no longer temporary.
pub fn set_own_password(tx: &mut Tx<'_>, user: UserId, hash: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE users SET password_hash = $1, status = 'registered', password_temporary = 0, updated_at = $2
          WHERE id = $3",
        params![hash, now_ms, user.0],
    )?;
    Ok(())
}

/// Whether `user`'s password was set by an agent or admin and not yet replaced by their own.
pub fn password_is_temporary(tx: &mut Tx<'_>, user: UserId) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT password_temporary FROM users WHERE id = $1", params![user.0], |r| r.bool(0))?
        .unwrap_or(false))
}

/// Fills in the name and organization of a user that has none yet.
pub fn complete_profile(
    tx: &mut Tx<'_>,
    user: UserId,
    name: &str,
    org: Option<OrgId>,
    now_ms: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE users SET name = CASE WHEN name = '' THEN $1 ELSE name END,
                          org_id = COALESCE(org_id, $2), updated_at = $3 WHERE id = $4",
        params![name, org.map(|o| o.0), now_ms, user.0],
    )?;
    Ok(())
}

pub fn touch_user_login(tx: &mut Tx<'_>, user: UserId, now_ms: i64) -> Result<()> {
    tx.execute("UPDATE users SET last_login_at = $1 WHERE id = $2", params![now_ms, user.0])?;
    Ok(())
}

pub fn touch_agent_login(tx: &mut Tx<'_>, agent: AgentId, now_ms: i64) -> Result<()> {
    tx.execute("UPDATE agents SET last_login_at = $1 WHERE id = $2", params![now_ms, agent.0])?;
    Ok(())
}

/// Why a mailed account token exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    Register,
    Invite,
    Reset,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Register => "register",
            TokenPurpose::Invite => "invite",
            TokenPurpose::Reset => "reset",
        }
    }
}

/// A stored token's payload.
#[derive(Clone, Debug)]
pub struct AccountToken {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
}

pub struct NewToken<'a> {
    pub hash: &'a str,
    pub purpose: TokenPurpose,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: Option<&'a str>,
    pub now_ms: i64,
    pub expires_at: i64,
}

pub fn insert_token(tx: &mut Tx<'_>, token: &NewToken<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO account_tokens (token_hash, purpose, email, name, password_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![
            token.hash,
            token.purpose.as_str(),
            token.email,
            token.name,
            token.password_hash,
            token.now_ms,
            token.expires_at
        ],
    )?;
    Ok(())
}

/// The token's payload when it is unused and unexpired (a GET shows the form; nothing is spent).
pub fn peek_token(
    tx: &mut Tx<'_>,
    hash: &str,
    purpose: TokenPurpose,
    now_ms: i64,
) -> Result<Option<AccountToken>> {
    tx.query_opt(
        "SELECT email, name, password_hash FROM account_tokens
          WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        params![hash, purpose.as_str(), now_ms],
        account_token,
    )
}

/// Spends the token: at most one caller ever gets its payload (the update is the check).
pub fn take_token(
    tx: &mut Tx<'_>,
    hash: &str,
    purpose: TokenPurpose,
    now_ms: i64,
) -> Result<Option<AccountToken>> {
    tx.query_opt(
        "UPDATE account_tokens SET used_at = $3
          WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
          RETURNING email, name, password_hash",
        params![hash, purpose.as_str(), now_ms],
        account_token,
    )
}

fn account_token(r: &Row<'_>) -> Result<AccountToken> {
    Ok(AccountToken { email: r.string(0)?, name: r.string(1)?, password_hash: r.opt_string(2)? })
}

/// Spends every open token of `email` for `purpose` (a new reset link voids the older ones; a
/// completed reset voids the rest).
pub fn void_tokens(tx: &mut Tx<'_>, email: &str, purpose: TokenPurpose, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE account_tokens SET used_at = $3 WHERE email = $1 AND purpose = $2 AND used_at IS NULL",
        params![email, purpose.as_str(), now_ms],
    )?;
    Ok(())
}

/// Drops tokens that expired or were used more than a day ago (janitor).
pub fn purge_tokens(tx: &mut Tx<'_>, now_ms: i64) -> Result<u64> {
    tx.execute(
        "DELETE FROM account_tokens WHERE expires_at < $1 OR used_at < $1",
        params![now_ms - 24 * 3600 * 1000],
    )
}

/// What counting one attempt against a throttle key found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Attempts within the key's window, this one included (successes are refunded).
    pub attempts: i64,
    /// The key is locked now: the attempt must not be judged.
    pub blocked: bool,
}

/// Counts one attempt against `key` *before* it is judged, in one atomic upsert (the row lock
/// serialises concurrent attempts, also across daemons on PostgreSQL): parallel attempts each see
/// their own count, so no more than `max` are ever judged per window. The attempt after the
/// `max`th blocks the key for `window_ms`.
pub fn count_attempt(tx: &mut Tx<'_>, key: &str, now_ms: i64, window_ms: i64, max: u32) -> Result<Counted> {
    let (attempts, blocked_until) = tx.query_one(
        "INSERT INTO rate_limits (key, failures, window_start, blocked_until) VALUES ($1, 1, $2, 0)
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN rate_limits.window_start <= $3 AND rate_limits.blocked_until <= $2
                           THEN 1 ELSE rate_limits.failures + 1 END,
           window_start = CASE WHEN rate_limits.window_start <= $3 AND rate_limits.blocked_until <= $2
                               THEN $2 ELSE rate_limits.window_start END
         RETURNING failures, blocked_until",
        params![key, now_ms, now_ms - window_ms],
        |r| Ok((r.i64(0)?, r.i64(1)?)),
    )?;
    if blocked_until > now_ms {
        return Ok(Counted { attempts, blocked: true });
    }
    if attempts > i64::from(max) {
        tx.execute(
            "UPDATE rate_limits SET blocked_until = $2 WHERE key = $1",
            params![key, now_ms + window_ms],
        )?;
        return Ok(Counted { attempts, blocked: true });
    }
    Ok(Counted { attempts, blocked: false })
}

/// Takes back one counted attempt (it succeeded, or was never judged).
pub fn refund_attempt(tx: &mut Tx<'_>, key: &str) -> Result<()> {
    tx.execute(
        "UPDATE rate_limits SET failures = failures - 1 WHERE key = $1 AND failures > 0",
        params![key],
    )?;
    Ok(())
}

/// Whether `client` signed `account` in since `since_ms`.
pub fn is_known_client(tx: &mut Tx<'_>, account: &str, client: &str, since_ms: i64) -> Result<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM login_clients WHERE account = $1 AND client = $2 AND last_success >= $3",
            params![account, client, since_ms],
            |r| r.i64(0),
        )?
        .is_some())
}

/// Remembers that `client` signed `account` in now.
pub fn remember_client(tx: &mut Tx<'_>, account: &str, client: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO login_clients (account, client, last_success) VALUES ($1, $2, $3)
         ON CONFLICT (account, client) DO UPDATE SET last_success = $3",
        params![account, client, now_ms],
    )?;
    Ok(())
}

/// Forgets clients that have not signed their account in since `older_than_ms` (janitor).
pub fn purge_login_clients(tx: &mut Tx<'_>, older_than_ms: i64) -> Result<u64> {
    tx.execute("DELETE FROM login_clients WHERE last_success < $1", params![older_than_ms])
}

pub fn clear_failures(tx: &mut Tx<'_>, key: &str) -> Result<()> {
    tx.execute("DELETE FROM rate_limits WHERE key = $1", params![key])?;
    Ok(())
}

pub fn purge_rate_limits(tx: &mut Tx<'_>, older_than_ms: i64) -> Result<u64> {
    tx.execute(
        "DELETE FROM rate_limits WHERE window_start < $1 AND blocked_until < $1",
        params![older_than_ms],
    )
}
