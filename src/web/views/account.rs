//! The views of self-service: a customer's profile and password pages on the portal, and an
//! agent's own account page in the console (password, recovery codes, a new authenticator).

use serde::Serialize;

use super::View;
use super::console::{ConsoleView, Nav};
use super::directory::CustomRow;
use super::portal::{ChoiceInput, Enrollment, FieldInput, Me};
use crate::accounts::TwoFactorState;
use crate::core::forms::FieldType;

/// `profile.html`: the signed-in user's name, phone and the custom fields they may change.
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    pub me: Me,
    /// The session's CSRF token.
    pub csrf: String,
    /// What the form shows: as stored, or as typed when it was refused.
    pub name: String,
    pub phone: String,
    /// The custom fields the user changes (`editable_by = "user"`, visible to them).
    pub fields: Vec<FieldInput>,
    /// The custom fields they only see (`visible_to_user`, set by agents).
    pub shown: Vec<CustomRow>,
    /// A fixed text after a change (`?done=`), never text from the URL.
    pub notice: Option<&'static str>,
    /// Why the last change was refused; empty otherwise.
    pub error: String,
}

impl View for Profile {
    const PAGE: &'static str = "profile.html";

    fn sample() -> Self {
        let input = |kind| FieldInput {
            key: "nickname".into(),
            label: "Nickname".into(),
            kind,
            required: true,
            choices: vec![ChoiceInput { value: "Gold".into(), chosen: true }],
            value: "Annie".into(),
            checked: true,
        };
        Profile {
            me: Me { name: "Ann Example".into(), email: "ann@acme.com".into() },
            csrf: "csrf".into(),
            name: "Ann Example".into(),
            phone: "+1 555 0100".into(),
            fields: [
                FieldType::Text,
                FieldType::LongText,
                FieldType::Choice,
                FieldType::MultiChoice,
                FieldType::Bool,
                FieldType::Date,
            ]
            .into_iter()
            .map(input)
            .collect(),
            shown: vec![CustomRow { key: "Support tier".into(), value: "gold".into() }],
            notice: Some("Your profile was saved."),
            error: "Phone (phone): \"call me\" is not a phone number".into(),
        }
    }

    fn variants() -> Vec<Self> {
        let me = Me { name: String::new(), email: "ann@acme.com".into() };
        vec![Profile {
            me,
            name: String::new(),
            phone: String::new(),
            fields: Vec::new(),
            shown: Vec::new(),
            notice: None,
            error: String::new(),
            ..Self::sample()
        }]
    }
}

/// `change_password.html`: a signed-in user changes their password, or (`forced`) replaces the
/// temporary one they signed in with before anything else.
#[derive(Clone, Debug, Serialize)]
pub struct ChangePassword {
    pub me: Me,
    pub csrf: String,
    /// Signed in with a temporary password: no current password asked, no other page reachable.
    pub forced: bool,
    /// `auth.min_password_length`.
    pub min_length: usize,
    pub error: String,
}

impl View for ChangePassword {
    const PAGE: &'static str = "change_password.html";

    fn sample() -> Self {
        ChangePassword {
            me: Me { name: "Ann Example".into(), email: "ann@acme.com".into() },
            csrf: "csrf".into(),
            forced: true,
            min_length: 10,
            error: "The current password is wrong.".into(),
        }
    }

    fn variants() -> Vec<Self> {
        let me = Me { name: String::new(), email: "ann@acme.com".into() };
        vec![ChangePassword { me, forced: false, error: String::new(), ..Self::sample() }]
    }
}

/// A new authenticator being set up: the new secret and the proof that the current code was
/// given (sent back with a code of the new secret).
#[derive(Clone, Debug, Serialize)]
pub struct Renewing {
    pub enrollment: Enrollment,
    pub proof: String,
    pub expires_at: i64,
}

/// `console/account.html`: the signed-in agent's own account.
#[derive(Clone, Debug, Serialize)]
pub struct AgentAccount {
    pub two_factor: TwoFactorState,
    /// `auth.min_password_length`.
    pub min_length: usize,
    /// A fixed text after a change (`?done=`).
    pub notice: Option<&'static str>,
    /// Why the last step was refused; empty otherwise.
    pub error: String,
    /// New recovery codes, shown once, right after they were made.
    pub recovery_codes: Vec<String>,
    /// The second step of setting up a new authenticator.
    pub renewing: Option<Renewing>,
}

impl ConsoleView for AgentAccount {
    const PAGE: &'static str = "console/account.html";
    const NAV: Nav = Nav::Account;

    fn sample() -> Self {
        AgentAccount {
            two_factor: TwoFactorState { available: true, enabled: true, recovery_left: 9 },
            min_length: 10,
            notice: Some("Your password was changed; your other sessions ended."),
            error: "That code is not valid.".into(),
            recovery_codes: vec!["k7mq-2xdn-9pfa-wr4c".into()],
            renewing: Some(Renewing {
                enrollment: Enrollment {
                    secret: "JBSWY3DPEHPK3PXP".into(),
                    qr: "iVBORw0KGgo=".into(),
                    url: "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP".into(),
                },
                proof: "00ff".into(),
                expires_at: 1_796_000_000_000,
            }),
        }
    }

    /// Without 2FA, 2FA not available, and the plain page.
    fn variants() -> Vec<Self> {
        let plain = AgentAccount {
            notice: None,
            error: String::new(),
            recovery_codes: Vec::new(),
            renewing: None,
            ..Self::sample()
        };
        vec![
            AgentAccount {
                two_factor: TwoFactorState { available: true, enabled: false, recovery_left: 0 },
                ..plain.clone()
            },
            AgentAccount {
                two_factor: TwoFactorState { available: false, enabled: false, recovery_left: 0 },
                ..plain.clone()
            },
            plain,
        ]
    }
}
