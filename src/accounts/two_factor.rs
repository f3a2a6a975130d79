//! Agents' second factor: TOTP enrollment (a QR code drawn here, never by a web service; switched
//! on only after one valid code), the code at sign-in (within one step either way, never the same
//! step twice), and ten single-use recovery codes shown once and stored hashed.

use std::net::IpAddr;

use super::{AccountError, Accounts};
use crate::auth::totp::{self, Enrollment};
use crate::core::ids::AgentId;
use crate::store::accounts as account_store;
use crate::store::second_factor as factor_store;
use crate::store::sessions::{self as session_store, Holder};

/// An agent's 2FA as their settings page shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TwoFactorState {
    /// `auth.totp_key_file` is set (without it nobody can enroll).
    pub available: bool,
    pub enabled: bool,
    pub recovery_left: i64,
}

impl Accounts {
    pub async fn two_factor(&self, agent: AgentId) -> Result<TwoFactorState, AccountError> {
        let (enabled, recovery_left) = self
            .ingestor
            .store()
            .read(move |tx| {
                let enabled = factor_store::totp(tx, agent)?.is_some_and(|t| t.enabled);
                Ok((enabled, factor_store::recovery_codes_left(tx, agent)?))
            })
            .await?;
        Ok(TwoFactorState { available: self.sealer.is_some(), enabled, recovery_left })
    }

    /// The enrollment in progress for `agent` (a new secret when none is pending); refused when
    /// 2FA is already on (reset it first) or no sealing key is configured.
    pub async fn enrollment(&self, agent: AgentId, account: &str) -> Result<Enrollment, AccountError> {
        let sealer = self.sealer.clone().ok_or_else(|| {
            AccountError::Refused("Two-factor sign-in needs auth.totp_key_file in the configuration.".into())
        })?;
        let context = seal_context(agent);
        let now = self.now_ms();
        let secret = self
            .ingestor
            .store()
            .write(move |tx| match factor_store::totp(tx, agent)? {
                Some(row) if row.enabled => Ok(Err("Two-factor sign-in is already on.")),
                Some(row) => Ok(sealer
                    .open(&row.sealed_secret, &context)
                    .map_err(|_| "The pending secret cannot be read; start again.")),
                None => {
                    let secret = totp::new_secret();
                    factor_store::begin_enrollment(tx, agent, &sealer.seal(&secret, &context), now)?;
                    Ok(Ok(secret))
                }
            })
            .await?
            .map_err(|why| AccountError::Refused(why.into()))?;
        // otpauth labels are `issuer:account`; totp-rs refuses a colon inside either.
        let issuer = self.instance_name.replace(':', " ");
        totp::enrollment(&secret, issuer.trim(), &account.replace(':', " "))
            .map_err(|e| AccountError::Refused(e.to_string()))
    }

    /// Switches 2FA on when `code` is valid for the pending secret; returns the recovery codes
    /// (shown once). `Ok(None)`: the code is wrong.
    pub async fn finish_enrollment(
        &self,
        agent: AgentId,
        code: &str,
    ) -> Result<Option<Vec<String>>, AccountError> {
        let Some(sealer) = self.sealer.clone() else { return Ok(None) };
        let (context, now) = (seal_context(agent), self.now_ms());
        let code = code.to_string();
        let codes = totp::recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery(c)).collect();
        let enabled = self
            .ingestor
            .store()
            .write(move |tx| {
                let Some(row) = factor_store::totp(tx, agent)? else { return Ok(false) };
                if row.enabled {
                    return Ok(false);
                }
                let Ok(secret) = sealer.open(&row.sealed_secret, &context) else { return Ok(false) };
                let Some(step) = totp::check(&secret, &code, now, row.last_step) else { return Ok(false) };
                if !factor_store::advance_step(tx, agent, step)? {
                    return Ok(false);
                }
                factor_store::enable(tx, agent, &hashes)?;
                Ok(true)
            })
            .await?;
        Ok(enabled.then_some(codes))
    }

    /// The second step of an agent's sign-in: a TOTP code (never one already used) or an unused
    /// recovery code. Failures count toward the lockout.
    pub async fn second_factor(
        &self,
        agent: AgentId,
        code: &str,
        client: IpAddr,
    ) -> Result<bool, AccountError> {
        if self.second_factor_blocked(agent).await? {
            return Ok(false);
        }
        let Some(sealer) = self.sealer.clone() else { return Ok(false) };
        let (context, now) = (seal_context(agent), self.now_ms());
        let code = code.to_string();
        let accepted = self
            .ingestor
            .store()
            .write(move |tx| {
                let Some(row) = factor_store::totp(tx, agent)? else { return Ok(false) };
                let Ok(secret) = sealer.open(&row.sealed_secret, &context) else { return Ok(false) };
                if let Some(step) = totp::check(&secret, &code, now, row.last_step) {
                    return factor_store::advance_step(tx, agent, step);
                }
                let digits_only = code.trim().chars().all(|c| c.is_ascii_digit() || c == ' ');
                if !digits_only
                    && factor_store::use_recovery_code(tx, agent, &totp::hash_recovery(&code), now)?
                {
                    tracing::warn!(agent = agent.0, "agent signed in with a recovery code");
                    return Ok(true);
                }
                Ok(false)
            })
            .await?;
        if !accepted {
            self.second_factor_failed(agent, client).await?;
        }
        Ok(accepted)
    }

    /// `mailgate agent set-password`: checks the rules, stores the hash, ends the agent's sessions.
    pub async fn set_agent_password(&self, key: &str, password: &str) -> Result<(), AccountError> {
        let agent = self.agent_by_key(key).await?;
        self.policy.check(password, &[&agent.email, &agent.key, &agent.name])?;
        let hash = self.hash_password(password).await?;
        self.ingestor
            .store()
            .write(move |tx| {
                account_store::set_agent_password(tx, agent.id, &hash)?;
                session_store::delete_sessions_of(tx, Holder::Agent(agent.id))?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// `mailgate agent reset-2fa`: removes the agent's TOTP and recovery codes and ends their
    /// sessions. Returns whether 2FA was set up.
    pub async fn reset_agent_2fa(&self, key: &str) -> Result<bool, AccountError> {
        let agent = self.agent_by_key(key).await?;
        Ok(self
            .ingestor
            .store()
            .write(move |tx| {
                let had = factor_store::reset(tx, agent.id)?;
                session_store::delete_sessions_of(tx, Holder::Agent(agent.id))?;
                account_store::clear_failures(tx, &format!("agent-2fa:{}", agent.id.0))?;
                Ok(had)
            })
            .await?)
    }

    async fn agent_by_key(&self, key: &str) -> Result<account_store::AgentLogin, AccountError> {
        let lookup = key.to_string();
        let found = self.ingestor.store().read(move |tx| account_store::agent_login(tx, &lookup)).await?;
        found
            .filter(|a| a.key == key)
            .ok_or_else(|| AccountError::Refused(format!("no active agent has the key {key:?}")))
    }
}

/// Binds a sealed secret to its agent: moved to another agent's row, it does not open.
fn seal_context(agent: AgentId) -> Vec<u8> {
    format!("totp:agent:{}", agent.0).into_bytes()
}
