//! Agents' second factor: TOTP enrollment (a QR code drawn here, never by a web service; the
//! offered secret is derived per session and stored only when one valid code switches it on), the code at sign-in (within one step either way, never the same
//! step twice), and ten single-use recovery codes shown once and stored hashed.

use std::net::IpAddr;

use super::login::second_factor_key;
use super::{AccountError, Accounts, throttle};
use crate::auth::secret::SecretBox;
use crate::auth::totp::{self, Enrollment};
use crate::core::ids::AgentId;
use crate::store::accounts as account_store;
use crate::store::second_factor as factor_store;
use crate::store::sessions::{self as session_store, Holder};

/// What judging one second-factor code found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Judged {
    Accepted,
    Rejected,
    /// The agent's code budget (or the client's) is used up: not judged.
    Throttled,
}

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
            .app
            .store()
            .read(move |tx| {
                let enabled = factor_store::totp(tx, agent)?.is_some_and(|t| t.enabled);
                Ok((enabled, factor_store::recovery_codes_left(tx, agent)?))
            })
            .await?;
        Ok(TwoFactorState { available: self.sealer.is_some(), enabled, recovery_left })
    }

    /// The enrollment `agent` is offered in the session whose CSRF token is `session_csrf`: a
    /// secret derived from the sealing key and that session, so showing it writes nothing (a GET
    /// must not write) and reloading the page shows the same one. Refused when 2FA is already on
    /// (reset it first) or no sealing key is configured.
    pub async fn enrollment(
        &self,
        agent: AgentId,
        session_csrf: &str,
        account: &str,
    ) -> Result<Enrollment, AccountError> {
        let sealer = self.sealer.clone().ok_or_else(|| {
            AccountError::Refused("Two-factor sign-in needs auth.totp_key_file in the configuration.".into())
        })?;
        let enabled = self
            .app
            .store()
            .read(move |tx| Ok(factor_store::totp(tx, agent)?.is_some_and(|t| t.enabled)))
            .await?;
        if enabled {
            return Err(AccountError::Refused("Two-factor sign-in is already on.".into()));
        }
        let secret = pending_secret(&sealer, agent, session_csrf);
        // otpauth labels are `issuer:account`; totp-rs refuses a colon inside either.
        let issuer = self.instance_name.replace(':', " ");
        totp::enrollment(&secret, issuer.trim(), &account.replace(':', " "))
            .map_err(|e| AccountError::Refused(e.to_string()))
    }

    /// Switches 2FA on when `code` is valid for the secret offered in this session (see
    /// [`Accounts::enrollment`]); stores it sealed and returns the recovery codes (shown once).
    /// `Ok(None)`: the code is wrong.
    pub async fn finish_enrollment(
        &self,
        agent: AgentId,
        session_csrf: &str,
        code: &str,
    ) -> Result<Option<Vec<String>>, AccountError> {
        let Some(sealer) = self.sealer.clone() else { return Ok(None) };
        let now = self.now_ms();
        let secret = pending_secret(&sealer, agent, session_csrf);
        let sealed = sealer.seal(&secret, &seal_context(agent));
        let code = code.to_string();
        let codes = totp::recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery(c)).collect();
        let enabled = self
            .app
            .store()
            .write(move |tx| {
                if factor_store::totp(tx, agent)?.is_some_and(|row| row.enabled) {
                    return Ok(false);
                }
                let Some(step) = totp::check(&secret, &code, now, -1) else { return Ok(false) };
                factor_store::begin_enrollment(tx, agent, &sealed, now)?;
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
    /// recovery code. The attempt is counted before the code is checked, in the same transaction
    /// (concurrent guesses for one agent queue on its counter's row); a success takes it back.
    pub async fn second_factor(
        &self,
        agent: AgentId,
        code: &str,
        client: IpAddr,
    ) -> Result<bool, AccountError> {
        Ok(self.judge_code(agent, code, client, true).await? == Judged::Accepted)
    }

    /// Judges `code` for `agent` from `client`, counted first on the agent's second-factor
    /// budget (sign-in and the account page share it): a TOTP code of the enabled secret, or with
    /// `recovery` also an unused recovery code.
    pub(super) async fn judge_code(
        &self,
        agent: AgentId,
        code: &str,
        client: IpAddr,
        recovery: bool,
    ) -> Result<Judged, AccountError> {
        let Some(sealer) = self.sealer.clone() else { return Ok(Judged::Rejected) };
        let (context, now) = (seal_context(agent), self.now_ms());
        let code = code.to_string();
        let rules = self.rules.clone();
        let client = throttle::client_name(client);
        Ok(self
            .app
            .store()
            .write(move |tx| {
                let charged =
                    throttle::charge_second_factor(tx, &rules, &second_factor_key(agent), &client, now)?;
                if charged.blocked {
                    crate::observe::metrics::login_throttled("agent", "second_factor");
                    return Ok(Judged::Throttled);
                }
                let Some(row) = factor_store::totp(tx, agent)?.filter(|row| row.enabled) else {
                    return Ok(Judged::Rejected);
                };
                let Ok(secret) = sealer.open(&row.sealed_secret, &context) else {
                    return Ok(Judged::Rejected);
                };
                let accepted = match totp::check(&secret, &code, now, row.last_step) {
                    Some(step) => factor_store::advance_step(tx, agent, step)?,
                    None if recovery => {
                        let digits_only = code.trim().chars().all(|c| c.is_ascii_digit() || c == ' ');
                        let used = !digits_only
                            && factor_store::use_recovery_code(tx, agent, &totp::hash_recovery(&code), now)?;
                        if used {
                            tracing::warn!(agent = agent.0, "agent signed in with a recovery code");
                        }
                        used
                    }
                    None => false,
                };
                if accepted {
                    throttle::refund(tx, &charged, true)?;
                    Ok(Judged::Accepted)
                } else {
                    crate::observe::metrics::login_failed("agent", "second_factor");
                    Ok(Judged::Rejected)
                }
            })
            .await?)
    }

    /// `mailgate agent set-password`: checks the rules, stores the hash, ends the agent's sessions.
    pub async fn set_agent_password(&self, key: &str, password: &str) -> Result<(), AccountError> {
        let agent = self.agent_by_key(key).await?;
        self.policy().check(password, &[&agent.email, &agent.key, &agent.name])?;
        let hash = self.hash_password(password).await?;
        self.app
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
            .app
            .store()
            .write(move |tx| {
                let had = factor_store::reset(tx, agent.id)?;
                session_store::delete_sessions_of(tx, Holder::Agent(agent.id))?;
                account_store::clear_failures(tx, &second_factor_key(agent.id))?;
                Ok(had)
            })
            .await?)
    }

    async fn agent_by_key(&self, key: &str) -> Result<account_store::AgentLogin, AccountError> {
        let lookup = key.to_string();
        let found = self.app.store().read(move |tx| account_store::agent_login(tx, &lookup)).await?;
        found
            .filter(|a| a.key == key)
            .ok_or_else(|| AccountError::Refused(format!("no active agent has the key {key:?}")))
    }
}

/// The secret offered to `agent` in the session with CSRF token `session_csrf`.
pub(super) fn pending_secret(sealer: &SecretBox, agent: AgentId, session_csrf: &str) -> Vec<u8> {
    let derived = sealer.derive(format!("totp-enroll:agent:{}:{session_csrf}", agent.0).as_bytes());
    derived[..totp::SECRET_BYTES].to_vec()
}

/// Binds a sealed secret to its agent: moved to another agent's row, it does not open.
pub(super) fn seal_context(agent: AgentId) -> Vec<u8> {
    format!("totp:agent:{}", agent.0).into_bytes()
}
