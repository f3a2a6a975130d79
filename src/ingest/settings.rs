//! What the pipeline needs from the configuration, built by `app::wiring::settings` and swapped
//! whole on reload.

use std::sync::Arc;

use crate::auth::token::Keyring;
use crate::core::address::EmailAddress;
use crate::core::ticket::NumberFormat;
use crate::parse::Limits;

/// What the pipeline needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub limits: Limits,
    pub own_addresses: Vec<EmailAddress>,
    pub message_id_domain: String,
    pub number_format: NumberFormat,
    pub reopen_days: u32,
    /// Resolved tickets close after this many days without activity; 0 = never.
    pub autoclose_days: u32,
    /// Whose Authentication-Results are believed for agents' mail (`[auth]`).
    pub trusted_authserv_id: Option<String>,
    pub max_collaborators: usize,
    pub notifications: crate::core::notify::Policy,
    /// Verifies reply addresses.
    pub keyring: Arc<Keyring>,
    /// `registration.locked_mail = "quarantine"`: mail from a locked user is quarantined, not
    /// taken in (and marked).
    pub locked_mail_quarantine: bool,
    /// `registration.reject_unregistered_email`: the reason told to senders without an account.
    pub registration_required: Option<String>,
    /// `[[topics]]` and what routes to them.
    pub topics: Arc<crate::core::routing::Topics>,
    /// `[[rules]]`, tried on every new ticket.
    pub rules: Arc<crate::core::rules::RuleBook>,
    /// `[[sla]]` plans and the default plan's key.
    pub sla_plans: Arc<Vec<crate::core::sla::Plan>>,
    pub default_sla: Option<String>,
    /// The `[[forms]]` entry with `applies_to = "user"`: users' custom data.
    pub user_form: Option<crate::core::forms::Form>,
    /// `[[canned]]` responses, for `#canned` and the console.
    pub canned: Arc<Vec<crate::canned::Canned>>,
    /// `instance.name`, which canned responses may use.
    pub instance_name: String,
}
