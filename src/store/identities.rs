//! `identities`: which account an OpenID Connect (issuer, subject) pair signs in to, per realm
//! (migration 0016). Written at the first sign-in through a provider; read on every later one.

use super::{Result, Tx};
use crate::core::ids::{AgentId, UserId};
use crate::params;
use crate::store::sessions::Holder;

/// The account `(issuer, subject)` was linked to in the realm of `agent` (true) or users.
pub fn find_identity(tx: &mut Tx<'_>, issuer: &str, subject: &str, agent: bool) -> Result<Option<Holder>> {
    let realm = if agent { "agent" } else { "user" };
    tx.query_opt(
        "SELECT user_id, agent_id FROM identities WHERE issuer = $1 AND subject = $2 AND realm = $3",
        params![issuer, subject, realm],
        |r| {
            Ok(match (r.opt_i64(0)?, r.opt_i64(1)?) {
                (_, Some(agent)) => Holder::Agent(AgentId(agent)),
                (Some(user), None) => Holder::User(UserId(user)),
                (None, None) => return Err(super::StoreError::NotFound),
            })
        },
    )
}

/// Whether `holder` is linked to a subject of `issuer` other than `subject` (an account already
/// claimed there by someone else).
pub fn linked_elsewhere(tx: &mut Tx<'_>, issuer: &str, subject: &str, holder: Holder) -> Result<bool> {
    let (column, id) = match holder {
        Holder::User(user) => ("user_id", user.0),
        Holder::Agent(agent) => ("agent_id", agent.0),
    };
    let sql =
        format!("SELECT COUNT(*) FROM identities WHERE issuer = $1 AND subject <> $2 AND {column} = $3");
    Ok(tx.query_one(&sql, params![issuer, subject, id], |r| r.i64(0))? > 0)
}

/// Links `(issuer, subject)` to `holder`; nothing when that pair is already linked in the realm.
pub fn insert_identity(
    tx: &mut Tx<'_>,
    issuer: &str,
    subject: &str,
    holder: Holder,
    email: &str,
    now_ms: i64,
) -> Result<()> {
    let (realm, user, agent) = match holder {
        Holder::User(user) => ("user", Some(user.0), None),
        Holder::Agent(agent) => ("agent", None, Some(agent.0)),
    };
    tx.execute(
        "INSERT INTO identities (issuer, subject, realm, user_id, agent_id, email, created_at, seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (issuer, subject, realm) DO NOTHING",
        params![issuer, subject, realm, user, agent, email, now_ms],
    )?;
    Ok(())
}

pub fn touch_identity(tx: &mut Tx<'_>, issuer: &str, subject: &str, agent: bool, now_ms: i64) -> Result<()> {
    let realm = if agent { "agent" } else { "user" };
    tx.execute(
        "UPDATE identities SET seen_at = $1 WHERE issuer = $2 AND subject = $3 AND realm = $4",
        params![now_ms, issuer, subject, realm],
    )?;
    Ok(())
}

/// Makes a guest (a user known from mail) an account holder without a password: they proved their
/// address at a provider. `false` when the user is not a guest (registered already, or disabled).
pub fn register_guest(tx: &mut Tx<'_>, user: UserId, now_ms: i64) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE users SET status = 'registered', updated_at = $1 WHERE id = $2 AND status = 'guest'",
        params![now_ms, user.0],
    )?;
    Ok(changed > 0)
}

/// Records that the sign-in with `state_hash` came back; `false` when it already had (a replay).
/// Drops the records of flows that have expired anyway.
pub fn spend_state(tx: &mut Tx<'_>, state_hash: &str, expires_at: i64, now_ms: i64) -> Result<bool> {
    tx.execute("DELETE FROM oidc_spent_states WHERE expires_at <= $1", params![now_ms])?;
    let inserted = tx.execute(
        "INSERT INTO oidc_spent_states (state_hash, expires_at) VALUES ($1, $2) ON CONFLICT (state_hash) DO NOTHING",
        params![state_hash, expires_at],
    )?;
    Ok(inserted == 1)
}
