//! Agents' TOTP: the sealed secret, whether enrollment finished, the last accepted time step (a code
//! is never accepted twice), and the hashes of their recovery codes.

use super::{Result, Tx};
use crate::core::ids::AgentId;
use crate::params;

#[derive(Clone, Debug)]
pub struct TotpRow {
    pub sealed_secret: Vec<u8>,
    pub enabled: bool,
    pub last_step: i64,
}

pub fn totp(tx: &mut Tx<'_>, agent: AgentId) -> Result<Option<TotpRow>> {
    tx.query_opt("SELECT secret, enabled, last_step FROM totp WHERE agent_id = $1", params![agent.0], |r| {
        Ok(TotpRow { sealed_secret: r.bytes(0)?, enabled: r.bool(1)?, last_step: r.i64(2)? })
    })
}

/// Starts (or restarts) enrollment with a new secret; not enabled until a code proves it.
pub fn begin_enrollment(tx: &mut Tx<'_>, agent: AgentId, sealed: &[u8], now_ms: i64) -> Result<()> {
    tx.execute("DELETE FROM totp WHERE agent_id = $1 AND enabled = 0", params![agent.0])?;
    tx.execute(
        "INSERT INTO totp (agent_id, secret, enabled, last_step, created_at) VALUES ($1, $2, 0, -1, $3)
         ON CONFLICT (agent_id) DO NOTHING",
        params![agent.0, sealed, now_ms],
    )?;
    Ok(())
}

/// Accepts time step `step` if it is later than any accepted before (compare-and-set: of two
/// concurrent logins with the same code, one wins).
pub fn advance_step(tx: &mut Tx<'_>, agent: AgentId, step: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE totp SET last_step = $2 WHERE agent_id = $1 AND last_step < $2",
        params![agent.0, step],
    )? == 1)
}

/// Switches 2FA on and replaces the recovery codes.
pub fn enable(tx: &mut Tx<'_>, agent: AgentId, recovery_hashes: &[String]) -> Result<()> {
    tx.execute("UPDATE totp SET enabled = 1 WHERE agent_id = $1", params![agent.0])?;
    tx.execute("DELETE FROM recovery_codes WHERE agent_id = $1", params![agent.0])?;
    for hash in recovery_hashes {
        tx.execute(
            "INSERT INTO recovery_codes (agent_id, code_hash) VALUES ($1, $2)",
            params![agent.0, hash.as_str()],
        )?;
    }
    Ok(())
}

/// Replaces the secret of an enabled TOTP by a new one proven at `step` (re-enrollment: the old
/// secret worked until this moment). False when 2FA was switched off meanwhile.
pub fn replace_secret(tx: &mut Tx<'_>, agent: AgentId, sealed: &[u8], step: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE totp SET secret = $2, last_step = $3 WHERE agent_id = $1 AND enabled = 1",
        params![agent.0, sealed, step],
    )? == 1)
}

/// Replaces every recovery code of `agent` (used or not) by `recovery_hashes`.
pub fn replace_recovery_codes(tx: &mut Tx<'_>, agent: AgentId, recovery_hashes: &[String]) -> Result<()> {
    tx.execute("DELETE FROM recovery_codes WHERE agent_id = $1", params![agent.0])?;
    for hash in recovery_hashes {
        tx.execute(
            "INSERT INTO recovery_codes (agent_id, code_hash) VALUES ($1, $2)",
            params![agent.0, hash.as_str()],
        )?;
    }
    Ok(())
}

/// Spends a recovery code: true for the first use of a code that exists.
pub fn use_recovery_code(tx: &mut Tx<'_>, agent: AgentId, hash: &str, now_ms: i64) -> Result<bool> {
    Ok(tx.execute(
        "UPDATE recovery_codes SET used_at = $3 WHERE agent_id = $1 AND code_hash = $2 AND used_at IS NULL",
        params![agent.0, hash, now_ms],
    )? == 1)
}

pub fn recovery_codes_left(tx: &mut Tx<'_>, agent: AgentId) -> Result<i64> {
    tx.query_one(
        "SELECT COUNT(*) FROM recovery_codes WHERE agent_id = $1 AND used_at IS NULL",
        params![agent.0],
        |r| r.i64(0),
    )
}

/// Removes 2FA (admin reset): the agent enrolls again at next login when 2FA is required.
pub fn reset(tx: &mut Tx<'_>, agent: AgentId) -> Result<bool> {
    tx.execute("DELETE FROM recovery_codes WHERE agent_id = $1", params![agent.0])?;
    Ok(tx.execute("DELETE FROM totp WHERE agent_id = $1", params![agent.0])? == 1)
}
