//! `audit_log`: who did what to the directory (a user locked or unlocked, ...), newest first.

use super::{Result, Tx};
use crate::core::ids::UserId;
use crate::params;

/// One action, as the user's record shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    pub done_at: i64,
    /// `agent alice`, `an admin`.
    pub actor: String,
    /// `lock`, `unlock`.
    pub action: String,
    pub detail: String,
}

pub fn record(
    tx: &mut Tx<'_>,
    at: i64,
    actor: &str,
    action: &str,
    user: Option<UserId>,
    detail: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_log (at, actor, action, user_id, detail) VALUES ($1, $2, $3, $4, $5)",
        params![at, actor, action, user.map(|u| u.0), detail],
    )?;
    Ok(())
}

/// The newest `limit` actions on `user`.
pub fn of_user(tx: &mut Tx<'_>, user: UserId, limit: i64) -> Result<Vec<AuditRow>> {
    tx.query_all(
        "SELECT at, actor, action, detail FROM audit_log WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        params![user.0, limit],
        |r| Ok(AuditRow { done_at: r.i64(0)?, actor: r.string(1)?, action: r.string(2)?, detail: r.string(3)? }),
    )
}
