//! An agent renewing their own second factor: new recovery codes (the old ones void), or a new
//! TOTP secret (a new phone). Both start by proving a code of the current secret, judged on the
//! same budget as sign-in codes. Re-enrollment keeps the old secret until a code of the new one
//! confirms it: the proof of the old code travels to that second step as a tag bound to the
//! agent, the session and an expiry, so the page that shows the new secret writes nothing.

use std::net::IpAddr;

use super::two_factor::{Judged, pending_secret, seal_context};
use super::{AccountError, Accounts};
use crate::auth::secret::{SecretBox, constant_time_eq};
use crate::auth::totp;
use crate::core::ids::AgentId;
use crate::store::second_factor as factor_store;

/// How long the proof of the current code lets the agent confirm the new secret.
const REENROLL_MS: i64 = 10 * 60 * 1000;

/// The outcome of a step that needs the current TOTP code.
pub enum Renewal<T> {
    Done(T),
    /// The code is not a current, unused code of the enabled secret (or 2FA is off).
    WrongCode,
    /// Too many wrong codes: wait, as at sign-in.
    Throttled,
}

/// The second step of re-enrollment: the new secret to scan and the proof to send back with a
/// code of it.
pub struct Reenrollment {
    pub enrollment: totp::Enrollment,
    /// Proves the current code was given in this session, until `expires_at`.
    pub proof: String,
    pub expires_at: i64,
}

impl Accounts {
    /// Ten new recovery codes for `agent` when `code` is a current TOTP code: the old ones stop
    /// working. The codes are returned to be shown once; only their hashes are stored.
    pub async fn regenerate_recovery_codes(
        &self,
        agent: AgentId,
        code: &str,
        client: IpAddr,
    ) -> Result<Renewal<Vec<String>>, AccountError> {
        match self.judge_code(agent, code, client, false).await? {
            Judged::Accepted => {}
            Judged::Rejected => return Ok(Renewal::WrongCode),
            Judged::Throttled => return Ok(Renewal::Throttled),
        }
        let codes = totp::recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery(c)).collect();
        self.app.store().write(move |tx| factor_store::replace_recovery_codes(tx, agent, &hashes)).await?;
        tracing::info!(agent = agent.0, "recovery codes regenerated");
        Ok(Renewal::Done(codes))
    }

    /// The first step of re-enrollment: `code` proves the current secret; the answer is a new
    /// secret (derived from the session, like a first enrollment's, so showing it again writes
    /// nothing) and the proof the confirmation needs. The old secret keeps working.
    pub async fn start_reenrollment(
        &self,
        agent: AgentId,
        session_csrf: &str,
        account: &str,
        code: &str,
        client: IpAddr,
    ) -> Result<Renewal<Reenrollment>, AccountError> {
        let sealer = self.sealer()?;
        match self.judge_code(agent, code, client, false).await? {
            Judged::Accepted => {}
            Judged::Rejected => return Ok(Renewal::WrongCode),
            Judged::Throttled => return Ok(Renewal::Throttled),
        }
        let expires_at = self.now_ms() + REENROLL_MS;
        let proof = proof(&sealer, agent, session_csrf, expires_at);
        Ok(Renewal::Done(Reenrollment {
            enrollment: self.offered(agent, session_csrf, account)?,
            proof,
            expires_at,
        }))
    }

    /// The new secret offered in this session, to show again when its code was wrong.
    pub fn offered(
        &self,
        agent: AgentId,
        session_csrf: &str,
        account: &str,
    ) -> Result<totp::Enrollment, AccountError> {
        let sealer = self.sealer()?;
        let secret = new_secret(&sealer, agent, session_csrf);
        let issuer = self.instance_name.replace(':', " ");
        totp::enrollment(&secret, issuer.trim(), &account.replace(':', " "))
            .map_err(|e| AccountError::Refused(e.to_string()))
    }

    /// Whether `proof` (from [`Accounts::start_reenrollment`] in this session) still stands.
    pub fn reenrollment_proven(
        &self,
        agent: AgentId,
        session_csrf: &str,
        proof_text: &str,
        expires_at: i64,
    ) -> bool {
        let Ok(sealer) = self.sealer() else { return false };
        expires_at > self.now_ms()
            && constant_time_eq(
                proof(&sealer, agent, session_csrf, expires_at).as_bytes(),
                proof_text.as_bytes(),
            )
    }

    /// The second step: `code` from the new secret replaces the old secret, when `proof` stands.
    /// `Ok(false)`: the proof expired or the code is wrong (the old secret stays).
    pub async fn finish_reenrollment(
        &self,
        agent: AgentId,
        session_csrf: &str,
        proof_text: &str,
        expires_at: i64,
        code: &str,
    ) -> Result<bool, AccountError> {
        if !self.reenrollment_proven(agent, session_csrf, proof_text, expires_at) {
            return Ok(false);
        }
        let sealer = self.sealer()?;
        let secret = new_secret(&sealer, agent, session_csrf);
        let Some(step) = totp::check(&secret, code, self.now_ms(), -1) else { return Ok(false) };
        let sealed = sealer.seal(&secret, &seal_context(agent));
        let replaced =
            self.app.store().write(move |tx| factor_store::replace_secret(tx, agent, &sealed, step)).await?;
        if replaced {
            tracing::info!(agent = agent.0, "TOTP re-enrolled");
        }
        Ok(replaced)
    }

    fn sealer(&self) -> Result<std::sync::Arc<SecretBox>, AccountError> {
        self.sealer.clone().ok_or_else(|| {
            AccountError::Refused("Two-factor sign-in needs auth.totp_key_file in the configuration.".into())
        })
    }
}

/// The secret offered for re-enrollment: another derivation than a first enrollment's.
fn new_secret(sealer: &SecretBox, agent: AgentId, session_csrf: &str) -> Vec<u8> {
    pending_secret(sealer, agent, &format!("renew:{session_csrf}"))
}

fn proof(sealer: &SecretBox, agent: AgentId, session_csrf: &str, expires_at: i64) -> String {
    hex::encode(
        sealer.derive(format!("totp-renew-proof:agent:{}:{session_csrf}:{expires_at}", agent.0).as_bytes()),
    )
}
