//! Web sessions: ids stored as SHA-256 (a leaked table opens no session), who they belong to, how
//! far sign-in got (`stage`), and the CSRF token of their forms.

use super::{Result, Row, Tx};
use crate::core::ids::{AgentId, UserId};
use crate::params;

/// Whose session it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    User(UserId),
    Agent(AgentId),
}

/// How far sign-in got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Signed in.
    Full,
    /// Password right; the TOTP code (or a recovery code) is still due.
    SecondFactor,
    /// Password right; enrollment in 2FA is required before anything else.
    Enroll,
    /// A user signed in with a temporary password: choosing their own comes before anything else.
    ChangePassword,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Full => "full",
            Stage::SecondFactor => "second_factor",
            Stage::Enroll => "enroll",
            Stage::ChangePassword => "change_password",
        }
    }

    fn parse(text: &str) -> Stage {
        match text {
            "full" => Stage::Full,
            "enroll" => Stage::Enroll,
            "change_password" => Stage::ChangePassword,
            // Unknown stages grant the least.
            _ => Stage::SecondFactor,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SessionRow {
    pub holder: Holder,
    pub stage: Stage,
    pub csrf: String,
    pub created_at: i64,
    pub seen_at: i64,
}

pub fn insert_session(
    tx: &mut Tx<'_>,
    id_hash: &str,
    holder: Holder,
    stage: Stage,
    csrf: &str,
    now_ms: i64,
) -> Result<()> {
    let (user, agent) = match holder {
        Holder::User(user) => (Some(user.0), None),
        Holder::Agent(agent) => (None, Some(agent.0)),
    };
    tx.execute(
        "INSERT INTO sessions (id_hash, user_id, agent_id, stage, csrf, created_at, seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
        params![id_hash, user, agent, stage.as_str(), csrf, now_ms],
    )?;
    Ok(())
}

pub fn find_session(tx: &mut Tx<'_>, id_hash: &str) -> Result<Option<SessionRow>> {
    tx.query_opt(
        "SELECT user_id, agent_id, stage, csrf, created_at, seen_at FROM sessions WHERE id_hash = $1",
        params![id_hash],
        session_row,
    )
}

fn session_row(r: &Row<'_>) -> Result<SessionRow> {
    let holder = match (r.opt_i64(0)?, r.opt_i64(1)?) {
        (Some(user), _) => Holder::User(UserId(user)),
        (None, Some(agent)) => Holder::Agent(AgentId(agent)),
        (None, None) => {
            return Err(super::StoreError::decode(
                "sessions.agent_id, sessions.user_id",
                "a session without holder",
            ));
        }
    };
    Ok(SessionRow {
        holder,
        stage: Stage::parse(&r.string(2)?),
        csrf: r.string(3)?,
        created_at: r.i64(4)?,
        seen_at: r.i64(5)?,
    })
}

/// Records activity (the caller decides how often: a page view need not be a write).
pub fn touch_session(tx: &mut Tx<'_>, id_hash: &str, now_ms: i64) -> Result<()> {
    tx.execute("UPDATE sessions SET seen_at = $2 WHERE id_hash = $1", params![id_hash, now_ms])?;
    Ok(())
}

pub fn delete_session(tx: &mut Tx<'_>, id_hash: &str) -> Result<()> {
    tx.execute("DELETE FROM sessions WHERE id_hash = $1", params![id_hash])?;
    Ok(())
}

/// Ends every session of `holder` (password changed, 2FA reset, account disabled).
pub fn delete_sessions_of(tx: &mut Tx<'_>, holder: Holder) -> Result<u64> {
    match holder {
        Holder::User(user) => tx.execute("DELETE FROM sessions WHERE user_id = $1", params![user.0]),
        Holder::Agent(agent) => tx.execute("DELETE FROM sessions WHERE agent_id = $1", params![agent.0]),
    }
}

/// Drops sessions idle since `idle_before` or created before `created_before` (janitor).
pub fn purge_sessions(tx: &mut Tx<'_>, idle_before: i64, created_before: i64) -> Result<u64> {
    tx.execute(
        "DELETE FROM sessions WHERE seen_at < $1 OR created_at < $2",
        params![idle_before, created_before],
    )
}
