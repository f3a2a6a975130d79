//! Accounts: who may sign in and how. End users (sign-up with a confirmed address, invitations,
//! password resets) and agents (password, then TOTP when enrolled), sessions, and login throttling
//! kept in the database. The web handlers call this; nothing here knows about HTTP beyond
//! [`crate::auth::provider::RequestInfo`].
//!
//! Every mail this module sends goes through the outbox like any other mail; a link in it is a
//! random token stored only as its SHA-256, single-use, with its expiry checked in the query.

mod hashing;
mod ldap;
mod login;
mod mail;
mod oidc;
mod profile;
mod self_service;
mod sessions;
mod signup;
mod throttle;
mod totp_renewal;
mod two_factor;

use std::sync::Arc;

pub use hashing::{RETRY_AFTER_SECS, capacity as hashing_capacity};
pub use login::{Realm, SignIn};
pub use profile::{MAX_NAME_CHARS, ProfileEdit, user_editable};
pub use self_service::PasswordChange;
pub use sessions::Session;
pub use totp_renewal::{Reenrollment, Renewal};
pub use two_factor::TwoFactorState;

use crate::app::App;
use crate::auth::client::ClientResolver;
use crate::auth::password::{Argon2Params, PasswordPolicy, Weak};
use crate::auth::provider::Provider;
use crate::auth::secret::SecretBox;
use crate::config::{Config, Registration};
use crate::store::StoreError;

const MINUTE_MS: i64 = 60 * 1000;

/// The timings and limits of `[auth]` and `[registration]`, in milliseconds.
#[derive(Clone, Debug)]
pub struct Rules {
    pub session_idle_ms: i64,
    pub session_max_ms: i64,
    pub max_failed: u32,
    pub max_failed_per_client: u32,
    pub max_failed_per_account: u32,
    pub lockout_ms: i64,
    pub reset_ms: i64,
    pub confirm_ms: i64,
    pub invite_ms: i64,
    pub require_agent_2fa: bool,
}

impl Rules {
    pub fn from_config(config: &Config) -> Rules {
        let auth = &config.auth;
        let registration = &config.registration;
        Rules {
            session_idle_ms: i64::from(auth.session_idle_minutes) * MINUTE_MS,
            session_max_ms: i64::from(auth.session_max_hours) * 60 * MINUTE_MS,
            max_failed: auth.max_failed_logins,
            max_failed_per_client: auth.max_failed_logins_per_client,
            max_failed_per_account: auth.max_failed_logins_per_account,
            lockout_ms: i64::from(auth.lockout_minutes) * MINUTE_MS,
            reset_ms: i64::from(auth.reset_minutes) * MINUTE_MS,
            confirm_ms: i64::from(registration.confirm_hours) * 60 * MINUTE_MS,
            invite_ms: i64::from(registration.invite_days) * 24 * 60 * MINUTE_MS,
            require_agent_2fa: auth.require_agent_2fa,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The database cannot answer now.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// A new password that the rules refuse; the message is for the person choosing it.
    #[error("{0}")]
    Weak(#[from] Weak),
    /// Not allowed here (the registration mode, the account's state); the message says why.
    #[error("{0}")]
    Refused(String),
    /// Too many passwords are being checked at once: come back in a few seconds.
    #[error("too many sign-ins at once; try again in a few seconds")]
    Busy,
}

/// The account workflows over one store, one configuration.
pub struct Accounts {
    app: App,
    hashing: hashing::Hashing,
    registration: Registration,
    rules: Rules,
    sealer: Option<Arc<SecretBox>>,
    providers: Vec<Box<dyn Provider>>,
    /// `[[ldap]]`, in the configured order.
    directories: Vec<crate::auth::ldap::Directory>,
    /// The user form: directory attributes mapped to custom fields are checked against it.
    user_form: Option<crate::core::forms::Form>,
    clients: ClientResolver,
    base_url: String,
    instance_name: String,
    /// `[[oidc]]`: OpenID Connect providers and what they told us (metadata, keys).
    oidc: crate::auth::oidc::Providers,
}

impl Accounts {
    pub fn new(config: &Config, app: App) -> Accounts {
        let auth = &config.auth;
        let params = Argon2Params {
            memory_kib: auth.argon2_memory_kib,
            iterations: auth.argon2_iterations,
            parallelism: auth.argon2_parallelism,
        };
        let sealer =
            auth.totp_key.as_deref().and_then(|key| SecretBox::from_key_material(key).ok()).map(Arc::new);
        Accounts {
            app,
            hashing: hashing::Hashing::new(PasswordPolicy { params, min_length: auth.min_password_length }),
            registration: config.registration.clone(),
            rules: Rules::from_config(config),
            sealer,
            providers: crate::auth::provider::configured(auth),
            directories: config.ldap.iter().map(crate::auth::ldap::Directory::new).collect(),
            user_form: config
                .forms
                .iter()
                .find(|f| f.applies_to == crate::core::forms::Subject::User)
                .cloned(),
            clients: ClientResolver::new(&config.web.trusted_proxies),
            base_url: config.web.base_url.clone(),
            instance_name: config.instance.name.clone(),
            oidc: crate::auth::oidc::Providers::new(&config.oidc, &config.web.base_url),
        }
    }

    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// The OpenID Connect providers (`[[oidc]]`).
    pub fn oidc(&self) -> &crate::auth::oidc::Providers {
        &self.oidc
    }

    /// The client of a request from `peer`: the forwarded address when `peer` is one of
    /// `web.trusted_proxies`, `peer` otherwise. Throttling and rate limits count this.
    pub fn client_address(
        &self,
        peer: std::net::IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        self.clients.client(peer, headers)
    }

    /// The shortest new password allowed (`auth.min_password_length`), for the forms' hints.
    pub fn min_password_length(&self) -> usize {
        self.policy().min_length
    }

    /// Whether cookies must carry `Secure` (the site is reached over https).
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    fn now_ms(&self) -> i64 {
        self.app.now_ms()
    }

    /// The rules new passwords must meet.
    fn policy(&self) -> &PasswordPolicy {
        self.hashing.policy()
    }

    /// Hashes a new password on a blocking thread, within the bound on concurrent argon2 runs.
    async fn hash_password(&self, password: &str) -> Result<String, AccountError> {
        self.hashing.hash(password).await
    }
}
