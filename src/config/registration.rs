//! `[registration]`: who may have an end-user account and whether a new ticket needs one (the six
//! modes of osTicket: `required` x `method`), and what happens to mail from people without one.

use serde::{Deserialize, Serialize};

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::check_positive;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Anyone may sign up.
    Public,
    /// Only agents create accounts (invitations).
    Private,
    /// Nobody gets a new account.
    Disabled,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Registration {
    pub required: bool,
    pub method: Method,
    pub reject_unregistered_email: bool,
    pub confirm_hours: u32,
    pub invite_days: u32,
    /// Mail from a locked user: taken in and marked for agents (`false`), or quarantined (`true`).
    pub locked_mail_quarantine: bool,
}

impl Registration {
    /// Whether a visitor may sign up on `/register`.
    pub fn self_service(&self) -> bool {
        self.method == Method::Public
    }

    /// Whether agents may invite users to make an account.
    pub fn invitations(&self) -> bool {
        self.method != Method::Disabled
    }

    /// Whether the web portal opens tickets at all (required + disabled: nobody could sign in to).
    pub fn web_tickets(&self) -> bool {
        !(self.required && self.method == Method::Disabled)
    }

    /// Whether a web ticket needs a signed-in user (otherwise a guest gives an address).
    pub fn web_tickets_need_login(&self) -> bool {
        self.required
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, expecting = "a [registration] table")]
pub(super) struct RawRegistration {
    pub required: bool,
    pub method: String,
    pub reject_unregistered_email: bool,
    pub confirm_hours: u32,
    pub invite_days: u32,
    pub locked_mail: String,
}

impl Default for RawRegistration {
    fn default() -> Self {
        Self {
            required: false,
            method: "public".to_string(),
            reject_unregistered_email: false,
            confirm_hours: 24,
            invite_days: 7,
            locked_mail: "ticket".to_string(),
        }
    }
}

pub(super) fn validate_registration(raw: &RawRegistration, problems: &mut Problems<'_, '_>) -> Registration {
    let path = KeyPath::top("registration");
    let method = match raw.method.trim() {
        "public" => Method::Public,
        "private" => Method::Private,
        "disabled" => Method::Disabled,
        other => {
            problems.report(
                &path.key("method"),
                format!(
                    "{other:?} is not a registration method; use \"public\", \"private\" or \"disabled\""
                ),
            );
            Method::Public
        }
    };
    check_positive(u64::from(raw.confirm_hours), &path.key("confirm_hours"), problems);
    check_positive(u64::from(raw.invite_days), &path.key("invite_days"), problems);
    let locked_mail_quarantine = match raw.locked_mail.trim() {
        "ticket" => false,
        "quarantine" => true,
        other => {
            problems
                .report(&path.key("locked_mail"), format!("{other:?} must be \"ticket\" or \"quarantine\""));
            false
        }
    };
    Registration {
        required: raw.required,
        method,
        reject_unregistered_email: raw.reject_unregistered_email,
        confirm_hours: raw.confirm_hours,
        invite_days: raw.invite_days,
        locked_mail_quarantine,
    }
}
