//! The views of the end-user portal (home, sign-in, sign-up, password links, my tickets, a new
//! ticket) and of agents' sign-in steps (the code, two-factor enrollment).

use serde::Serialize;

use super::View;
use super::console::TopicOption;
use super::samples;
use crate::accounts::TwoFactorState;
use crate::core::forms::FieldType;
use crate::store::web::MyTicket;

/// What the registration mode (`[registration]`) allows, for the pages' links and forms.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Modes {
    /// Visitors may sign up.
    pub register: bool,
    /// The portal opens tickets.
    pub web_tickets: bool,
    /// Only signed-in users open tickets.
    pub login_required: bool,
}

impl Modes {
    fn sample() -> Modes {
        Modes { register: true, web_tickets: true, login_required: false }
    }
}

/// What every page a visitor fills in gets: the anonymous CSRF token and the modes.
#[derive(Clone, Debug, Serialize)]
pub struct Visitor {
    pub csrf: String,
    pub modes: Modes,
}

impl Visitor {
    fn sample() -> Visitor {
        Visitor { csrf: "csrf".into(), modes: Modes::sample() }
    }
}

/// `home.html`.
#[derive(Clone, Debug, Serialize)]
pub struct Home {
    pub modes: Modes,
    pub signed_in: bool,
}

impl View for Home {
    const PAGE: &'static str = "home.html";

    fn sample() -> Self {
        Home { modes: Modes::sample(), signed_in: false }
    }

    fn variants() -> Vec<Self> {
        vec![Home { modes: Modes::default(), signed_in: true }]
    }
}

/// Which sign-in a page is: the portal's or the console's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginRealm {
    User,
    Agent,
}

/// `login.html`: the portal's and the console's sign-in (the console's gets no modes).
#[derive(Clone, Debug, Serialize)]
pub struct Login {
    pub realm: LoginRealm,
    #[serde(flatten)]
    pub visitor: Visitor,
    /// Why the last attempt failed; empty at first.
    pub error: String,
    /// "Sign in with ..." buttons: the `[[oidc]]` providers open to this realm, in order.
    pub providers: Vec<crate::auth::oidc::Button>,
}

impl View for Login {
    const PAGE: &'static str = "login.html";

    fn sample() -> Self {
        Login {
            realm: LoginRealm::User,
            visitor: Visitor::sample(),
            error: "Wrong email address or password.".into(),
            providers: vec![crate::auth::oidc::Button {
                name: "example".into(),
                label: "Sign in with Example".into(),
            }],
        }
    }

    fn variants() -> Vec<Self> {
        let visitor = Visitor { modes: Modes::default(), ..Visitor::sample() };
        vec![Login { realm: LoginRealm::Agent, visitor, error: String::new(), providers: Vec::new() }]
    }
}

/// `signed_in.html`: after a provider's redirect back, the step that sends the browser on to
/// `next` from our own page (a redirect would still count as the provider's navigation, and the
/// browser would hold back the SameSite=Strict session cookie).
#[derive(Clone, Debug, Serialize)]
pub struct SignedIn {
    /// A path of ours: `/tickets`, `/agent`, `/agent/login/code`, `/agent/2fa`.
    pub next: String,
}

impl View for SignedIn {
    const PAGE: &'static str = "signed_in.html";

    fn sample() -> Self {
        SignedIn { next: "/tickets".into() }
    }
}

/// `register.html`: the sign-up form, again with what was typed when it was refused.
#[derive(Clone, Debug, Serialize)]
pub struct Register {
    #[serde(flatten)]
    pub visitor: Visitor,
    pub error: String,
    pub email: String,
    pub name: String,
}

impl View for Register {
    const PAGE: &'static str = "register.html";

    fn sample() -> Self {
        Register {
            visitor: Visitor::sample(),
            error: "That address cannot be used.".into(),
            email: "ann@acme.com".into(),
            name: "Ann Example".into(),
        }
    }

    fn variants() -> Vec<Self> {
        vec![Register { error: String::new(), email: String::new(), name: String::new(), ..Self::sample() }]
    }
}

/// `confirm.html`: choosing the password that confirms a sign-up.
#[derive(Clone, Debug, Serialize)]
pub struct Confirm {
    #[serde(flatten)]
    pub visitor: Visitor,
    pub email: String,
    pub error: String,
    /// Where the form posts (`/register/<token>`).
    pub action: String,
}

impl View for Confirm {
    const PAGE: &'static str = "confirm.html";

    fn sample() -> Self {
        Confirm {
            visitor: Visitor::sample(),
            email: "ann@acme.com".into(),
            error: "The password is too short.".into(),
            action: "/register/tok".into(),
        }
    }

    fn variants() -> Vec<Self> {
        vec![Confirm { error: String::new(), ..Self::sample() }]
    }
}

/// `reset.html`: asking for a password reset link, or (`sent`) the answer.
#[derive(Clone, Debug, Serialize)]
pub struct Reset {
    #[serde(flatten)]
    pub visitor: Visitor,
    pub sent: bool,
}

impl View for Reset {
    const PAGE: &'static str = "reset.html";

    fn sample() -> Self {
        Reset { visitor: Visitor::sample(), sent: false }
    }

    fn variants() -> Vec<Self> {
        vec![Reset { sent: true, ..Self::sample() }]
    }
}

/// Which mailed link a password page was opened from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordLink {
    Reset,
    Invite,
}

impl PasswordLink {
    /// The link's path word (`/reset/<token>`, `/invite/<token>`).
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordLink::Reset => "reset",
            PasswordLink::Invite => "invite",
        }
    }
}

/// `password.html`: choosing a password from a reset link or an invitation.
#[derive(Clone, Debug, Serialize)]
pub struct Password {
    #[serde(flatten)]
    pub visitor: Visitor,
    pub kind: PasswordLink,
    pub email: String,
    pub error: String,
    /// Where the form posts (`/reset/<token>`, `/invite/<token>`).
    pub action: String,
}

impl View for Password {
    const PAGE: &'static str = "password.html";

    fn sample() -> Self {
        Password {
            visitor: Visitor::sample(),
            kind: PasswordLink::Invite,
            email: "ann@acme.com".into(),
            error: "The password is too short.".into(),
            action: "/invite/tok".into(),
        }
    }

    fn variants() -> Vec<Self> {
        let reset = Password { kind: PasswordLink::Reset, action: "/reset/tok".into(), ..Self::sample() };
        vec![Password { error: String::new(), email: String::new(), ..reset }]
    }
}

/// The signed-in user.
#[derive(Clone, Debug, Serialize)]
pub struct Me {
    /// May be empty.
    pub name: String,
    pub email: String,
}

impl Me {
    fn sample() -> Me {
        Me { name: "Ann Example".into(), email: "ann@acme.com".into() }
    }
}

/// `my_tickets.html`: the signed-in user's tickets.
#[derive(Clone, Debug, Serialize)]
pub struct MyTickets {
    pub me: Me,
    pub tickets: Vec<MyTicketRow>,
    /// The session's CSRF token (the sign-out form).
    pub csrf: String,
    pub modes: Modes,
}

/// One of "my tickets": the ticket, a link minted for this page, and when it last changed.
#[derive(Clone, Debug, Serialize)]
pub struct MyTicketRow {
    pub ticket: MyTicket,
    pub link: String,
    /// `2026-12-04 10:00 UTC`.
    pub updated: String,
}

impl View for MyTickets {
    const PAGE: &'static str = "my_tickets.html";

    fn sample() -> Self {
        let row = MyTicketRow {
            ticket: samples::my_ticket(),
            link: "/t/tok".into(),
            updated: "2026-12-04 10:00 UTC".into(),
        };
        let mut shared = row.clone();
        (shared.ticket.shared, shared.ticket.subject) = (true, "VPN down at the branch office".into());
        MyTickets {
            me: Me::sample(),
            tickets: vec![row, shared],
            csrf: "csrf".into(),
            modes: Modes::sample(),
        }
    }

    fn variants() -> Vec<Self> {
        let me = Me { name: String::new(), ..Me::sample() };
        vec![MyTickets { me, tickets: Vec::new(), modes: Modes::default(), ..Self::sample() }]
    }
}

/// A public topic offered on the new-ticket form.
#[derive(Clone, Debug, Serialize)]
pub struct TopicChoice {
    pub key: String,
    pub name: String,
    /// The one the visitor chose before the form came back.
    pub chosen: bool,
}

/// What the visitor typed into the new-ticket form (shown again when it is refused).
#[derive(Clone, Debug, Default, Serialize)]
pub struct TicketDraft {
    pub email: String,
    pub name: String,
    pub subject: String,
    pub message: String,
}

/// `new_ticket.html`: opening a ticket, as a signed-in user (`me`) or a guest.
#[derive(Clone, Debug, Serialize)]
pub struct NewTicket {
    pub me: Option<Me>,
    /// The session's token for a user, the anonymous one for a guest.
    pub csrf: String,
    pub error: String,
    pub topics: Vec<TopicChoice>,
    pub form: TicketDraft,
    /// The first of two steps: choose the topic (a public topic has a form).
    pub topic_step: bool,
    /// Some public topic has a form: the topic is chosen at a step of its own.
    pub two_steps: bool,
    /// The topic chosen at the first step.
    pub chosen_topic: Option<TopicOption>,
    /// The chosen topic's fields customers fill.
    pub form_fields: Vec<FieldInput>,
}

/// One input of a topic's ticket form (`[[forms]]`).
#[derive(Clone, Debug, Serialize)]
pub struct FieldInput {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub required: bool,
    pub choices: Vec<ChoiceInput>,
    /// What was posted (the first value), to show the form again.
    pub value: String,
    /// Whether anything was posted (a ticked checkbox).
    pub checked: bool,
}

/// A choice of a `choice` or `multi_choice` field.
#[derive(Clone, Debug, Serialize)]
pub struct ChoiceInput {
    pub value: String,
    pub chosen: bool,
}

impl View for NewTicket {
    const PAGE: &'static str = "new_ticket.html";

    fn sample() -> Self {
        NewTicket {
            me: Some(Me::sample()),
            csrf: "csrf".into(),
            error: "Please choose one of the topics offered.".into(),
            topics: vec![TopicChoice { key: "billing".into(), name: "Billing".into(), chosen: true }],
            form: TicketDraft {
                email: "ann@acme.com".into(),
                name: "Ann Example".into(),
                subject: "Printer on fire".into(),
                message: "The printer in room 4 is on fire.".into(),
            },
            topic_step: false,
            two_steps: true,
            chosen_topic: Some(TopicOption { key: "hardware".into(), name: "Hardware fault".into() }),
            form_fields: [
                FieldType::Text,
                FieldType::LongText,
                FieldType::Choice,
                FieldType::MultiChoice,
                FieldType::Bool,
                FieldType::Date,
                FieldType::Number,
                FieldType::Email,
                FieldType::Phone,
            ]
            .into_iter()
            .map(|kind| FieldInput {
                key: "product".into(),
                label: "Product".into(),
                kind,
                required: true,
                choices: vec![ChoiceInput { value: "Router".into(), chosen: true }],
                value: "Router".into(),
                checked: true,
            })
            .collect(),
        }
    }

    fn variants() -> Vec<Self> {
        let guest = NewTicket { me: None, error: String::new(), topics: Vec::new(), ..Self::sample() };
        let first_step =
            NewTicket { topic_step: true, chosen_topic: None, form_fields: Vec::new(), ..guest.clone() };
        let one_step =
            NewTicket { two_steps: false, chosen_topic: None, form_fields: Vec::new(), ..guest.clone() };
        vec![NewTicket { form: TicketDraft::default(), ..guest }, first_step, one_step]
    }
}

/// `agent_code.html`: the TOTP code after an agent's password.
#[derive(Clone, Debug, Serialize)]
pub struct AgentCode {
    /// The half-open session's CSRF token.
    pub csrf: String,
    pub error: String,
}

impl View for AgentCode {
    const PAGE: &'static str = "agent_code.html";

    fn sample() -> Self {
        AgentCode { csrf: "csrf".into(), error: "That code is not valid.".into() }
    }

    fn variants() -> Vec<Self> {
        vec![AgentCode { error: String::new(), ..Self::sample() }]
    }
}

/// What an authenticator app needs to enroll.
#[derive(Clone, Debug, Serialize)]
pub struct Enrollment {
    /// Upper-case base32, to type in.
    pub secret: String,
    /// A PNG of the QR code, base64.
    pub qr: String,
    /// The `otpauth://` URL the QR code holds.
    pub url: String,
}

impl From<crate::auth::totp::Enrollment> for Enrollment {
    fn from(enrollment: crate::auth::totp::Enrollment) -> Enrollment {
        Enrollment {
            secret: enrollment.secret_base32,
            qr: enrollment.qr_png_base64,
            url: enrollment.otpauth_url,
        }
    }
}

/// `agent_2fa.html`: the agent's two-factor state, the enrollment, or the recovery codes just made.
#[derive(Clone, Debug, Serialize)]
pub struct AgentTwoFactor {
    pub csrf: String,
    pub error: String,
    /// `None` when it could not be read after an enrollment (the codes are shown all the same).
    pub state: Option<TwoFactorState>,
    /// The session may do nothing else until enrolled (`auth.require_agent_2fa`).
    pub forced: bool,
    /// Offered while two-factor sign-in is available and off.
    pub enrollment: Option<Enrollment>,
    /// Shown once, right after enrolling.
    pub recovery_codes: Vec<String>,
}

impl View for AgentTwoFactor {
    const PAGE: &'static str = "agent_2fa.html";

    fn sample() -> Self {
        AgentTwoFactor {
            csrf: "csrf".into(),
            error: "That code is not valid.".into(),
            state: Some(TwoFactorState { available: true, enabled: false, recovery_left: 10 }),
            forced: true,
            enrollment: Some(Enrollment {
                secret: "JBSWY3DPEHPK3PXP".into(),
                qr: "iVBORw0KGgo=".into(),
                url: "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP".into(),
            }),
            recovery_codes: vec!["abcd-efgh".into()],
        }
    }

    /// The if-chain's other branches: enrolling, already on, not available; and the codes shown
    /// when the state could not be read.
    fn variants() -> Vec<Self> {
        let enrolling = AgentTwoFactor { recovery_codes: Vec::new(), ..Self::sample() };
        let on = TwoFactorState { available: true, enabled: true, recovery_left: 9 };
        let off = TwoFactorState { available: false, enabled: false, recovery_left: 0 };
        vec![
            AgentTwoFactor { state: Some(on), enrollment: None, error: String::new(), ..enrolling.clone() },
            AgentTwoFactor { state: Some(off), enrollment: None, forced: false, ..enrolling.clone() },
            AgentTwoFactor { state: None, enrollment: None, ..Self::sample() },
            enrolling,
        ]
    }
}
