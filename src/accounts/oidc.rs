//! Signing in with an identity an OpenID Connect provider vouched for (`auth::oidc`): which
//! account it is, and whether it may have one.
//!
//! - An (issuer, subject) pair linked before signs in to the account it was linked to, whatever
//!   address the provider gives today: a changed address at the provider cannot reach another
//!   account.
//! - Otherwise the provider's *verified* address links it: to the end user with that address
//!   (a registered account; a guest known from mail becomes one in the public mode, since the
//!   provider proved the mailbox), or to the declared agent with that address. An account already
//!   linked to another subject of the same issuer is not linked again.
//! - No account with that address: the public mode creates the end user; private and disabled
//!   modes refuse (staff make accounts there); agents come only from the configuration.
//!
//! Agents go on to their second factor as after a password.

use super::{AccountError, Accounts, Realm, SignIn, signup::single_line};
use crate::auth::oidc::Identity;
use crate::config::RegistrationMethod;
use crate::core::address::EmailAddress;
use crate::store::Tx;
use crate::store::accounts as account_store;
use crate::store::identities as identity_store;
use crate::store::second_factor as factor_store;
use crate::store::sessions::{Holder, Stage};
use crate::store::users::{self as user_store, UserStatus};

/// A name from a provider is kept to this many characters, like a name typed at sign-up.
const MAX_NAME_CHARS: usize = 40;

/// What became of a sign-in, decided in one transaction.
enum Linked {
    Holder(Holder),
    Refused(&'static str),
}

impl Accounts {
    /// Marks the sign-in whose `state` came back as finished; `false` when it was already (the
    /// provider's redirect replayed). Only the state's SHA-256 is kept, until `expires_at`.
    pub async fn spend_oidc_state(&self, state: &str, expires_at: i64) -> Result<bool, AccountError> {
        let (hash, now) = (crate::auth::secret::token_hash(state), self.now_ms());
        Ok(self.app.store().write(move |tx| identity_store::spend_state(tx, &hash, expires_at, now)).await?)
    }

    /// Signs in whoever `identity` is, in `realm`: links or creates the account as the module
    /// says. A refusal is `AccountError::Refused` with the sentence for the visitor.
    pub async fn sign_in_with_identity(
        &self,
        realm: Realm,
        identity: &Identity,
    ) -> Result<SignIn, AccountError> {
        let now = self.now_ms();
        let (identity, method, app) = (identity.clone(), self.registration.method, self.app.clone());
        let require_2fa = self.rules.require_agent_2fa;
        let answer = self
            .app
            .store()
            .write(move |tx| {
                let linked = match realm {
                    Realm::User => link_user(tx, &identity, method, &app, now)?,
                    Realm::Agent => link_agent(tx, &identity, now)?,
                };
                let holder = match linked {
                    Linked::Holder(holder) => holder,
                    Linked::Refused(why) => return Ok(Err(why)),
                };
                identity_store::touch_identity(
                    tx,
                    &identity.issuer,
                    &identity.subject,
                    realm == Realm::Agent,
                    now,
                )?;
                let stage = match holder {
                    Holder::User(user) => {
                        account_store::touch_user_login(tx, user, now)?;
                        Stage::Full
                    }
                    Holder::Agent(agent) => {
                        account_store::touch_agent_login(tx, agent, now)?;
                        match factor_store::totp(tx, agent)? {
                            Some(totp) if totp.enabled => Stage::SecondFactor,
                            _ if require_2fa => Stage::Enroll,
                            _ => Stage::Full,
                        }
                    }
                };
                Ok(Ok((holder, stage)))
            })
            .await?;
        match answer {
            Ok((holder, stage)) => {
                tracing::info!(realm = ?realm, "oidc: signed in");
                Ok(SignIn::Granted { holder, stage })
            }
            Err(why) => {
                tracing::info!(realm = ?realm, why, "oidc: sign-in refused");
                Err(AccountError::Refused(why.to_string()))
            }
        }
    }
}

fn link_user(
    tx: &mut Tx<'_>,
    identity: &Identity,
    method: RegistrationMethod,
    app: &crate::app::App,
    now: i64,
) -> crate::store::Result<Linked> {
    if let Some(holder @ Holder::User(user)) =
        identity_store::find_identity(tx, &identity.issuer, &identity.subject, false)?
    {
        return Ok(match account_store::user_login_by_id(tx, user)?.map(|u| u.status) {
            Some(UserStatus::Disabled) => Linked::Refused(LOCKED),
            // A linked account unlocked since (it has no password, so unlocking made it a guest).
            Some(UserStatus::Guest) => {
                identity_store::register_guest(tx, user, now)?;
                Linked::Holder(holder)
            }
            Some(UserStatus::Registered) => Linked::Holder(holder),
            None => Linked::Refused(NO_ACCOUNT),
        });
    }
    let Some(email) = EmailAddress::parse(&identity.email) else { return Ok(Linked::Refused(NO_ACCOUNT)) };
    let existing = account_store::user_login(tx, email.as_str())?;
    let user = match existing {
        Some(user) if user.status == UserStatus::Disabled => return Ok(Linked::Refused(LOCKED)),
        Some(user) if user.status == UserStatus::Registered => user.id,
        // Known from mail, no account yet: the provider proved the mailbox, as a confirmation link
        // would; only where visitors may make accounts.
        Some(user) if method == RegistrationMethod::Public => {
            identity_store::register_guest(tx, user.id, now)?;
            user.id
        }
        None if method == RegistrationMethod::Public => {
            let name = identity.name.as_deref().map(|n| single_line(n, MAX_NAME_CHARS)).unwrap_or_default();
            let org = app.org_of(&email);
            let (user, _) = user_store::ensure_user(tx, &email, Some(&name), org, now)?;
            account_store::complete_profile(tx, user, &name, org, now)?;
            if !identity_store::register_guest(tx, user, now)? {
                // Made meanwhile by someone else's sign-up and already registered or locked.
                if account_store::user_login_by_id(tx, user)?
                    .is_none_or(|u| u.status != UserStatus::Registered)
                {
                    return Ok(Linked::Refused(LOCKED));
                }
            }
            user
        }
        _ => return Ok(Linked::Refused(CLOSED)),
    };
    let holder = Holder::User(user);
    if identity_store::linked_elsewhere(tx, &identity.issuer, &identity.subject, holder)? {
        return Ok(Linked::Refused(CLAIMED));
    }
    identity_store::insert_identity(tx, &identity.issuer, &identity.subject, holder, email.as_str(), now)?;
    Ok(Linked::Holder(holder))
}

fn link_agent(tx: &mut Tx<'_>, identity: &Identity, now: i64) -> crate::store::Result<Linked> {
    if let Some(holder @ Holder::Agent(agent)) =
        identity_store::find_identity(tx, &identity.issuer, &identity.subject, true)?
    {
        // Removed from the configuration since: no longer an agent.
        return Ok(match account_store::agent_login_by_id(tx, agent)? {
            Some(_) => Linked::Holder(holder),
            None => Linked::Refused(NO_AGENT),
        });
    }
    // Keys have no `@`: only an address can match here.
    let Some(agent) =
        account_store::agent_login(tx, &identity.email)?.filter(|_| identity.email.contains('@'))
    else {
        return Ok(Linked::Refused(NO_AGENT));
    };
    let holder = Holder::Agent(agent.id);
    if identity_store::linked_elsewhere(tx, &identity.issuer, &identity.subject, holder)? {
        return Ok(Linked::Refused(CLAIMED));
    }
    identity_store::insert_identity(tx, &identity.issuer, &identity.subject, holder, &identity.email, now)?;
    Ok(Linked::Holder(holder))
}

const LOCKED: &str = "This account is locked. Contact us by mail if you think this is a mistake.";
const NO_ACCOUNT: &str = "There is no account for you here.";
const CLOSED: &str = "There is no account with that address here, and accounts here are made by our staff. You can still reach us by mail.";
const CLAIMED: &str = "The account with that address is already linked to another account at that provider. Sign in with that one, or with your password.";
const NO_AGENT: &str = "No agent here has that address.";
