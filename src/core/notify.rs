//! Who gets which automatic mail after a message is ingested, and what the governor holds back.
//! Loop safety lives here: no automatic mail ever answers a machine, a list, or ourselves.

use super::address::EmailAddress;
use super::identify::{is_deliverable_address, is_machine_address};

/// The templates of automatic mail (their names in the outbox and under `templates/email/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mail {
    /// To the owner of a new ticket.
    NewTicketAutoResponse,
    /// To a customer whose reply was added to a ticket (off by default).
    NewMessageConfirmation,
    /// To the account manager / team / all agents about a new ticket.
    NewTicketAlert,
    /// To the assignee about a customer's reply.
    NewMessageAlert,
    /// To a collaborator added to a new ticket.
    CollaboratorNotice,
    /// To the assignee about a delivery failure on their ticket.
    BounceAlert,
    /// To the sender of a message we took in but cannot accept (over a size or structure limit).
    RejectionNotice,
    /// An agent's response, relayed to the owner and each collaborator (not automatic mail).
    ResponseRelay,
    /// To an agent: mail in their name was held (failed authentication), and why.
    HeldNotice,
    /// To the new assignee (the agent, or the team's members).
    AssignmentAlert,
    /// To the owner: the ticket was closed.
    ClosedNotice,
    /// To a participant who asked for a link on the access page: a short-lived link.
    AccessLink,
    /// To someone who signed up on `/register`: the link that confirms the address.
    AccountConfirm,
    /// To a sign-up or reset for an address whose account already exists (or cannot have one):
    /// says so, so the page itself never has to.
    AccountExists,
    /// To a user an agent invited: the link to choose a password.
    AccountInvite,
    /// To a user who asked to reset their password (or whose agent did): a single-use link.
    PasswordReset,
    /// To the assignee (or the team's members, or every agent): the ticket is past its due time.
    OverdueAlert,
}

impl Mail {
    pub const ALL: [Mail; 17] = [
        Mail::NewTicketAutoResponse,
        Mail::NewMessageConfirmation,
        Mail::NewTicketAlert,
        Mail::NewMessageAlert,
        Mail::CollaboratorNotice,
        Mail::BounceAlert,
        Mail::RejectionNotice,
        Mail::ResponseRelay,
        Mail::HeldNotice,
        Mail::AssignmentAlert,
        Mail::ClosedNotice,
        Mail::AccessLink,
        Mail::AccountConfirm,
        Mail::AccountExists,
        Mail::AccountInvite,
        Mail::PasswordReset,
        Mail::OverdueAlert,
    ];

    pub fn template(self) -> &'static str {
        match self {
            Mail::NewTicketAutoResponse => "new_ticket_auto_response",
            Mail::NewMessageConfirmation => "new_message_confirmation",
            Mail::NewTicketAlert => "new_ticket_alert",
            Mail::NewMessageAlert => "new_message_alert",
            Mail::CollaboratorNotice => "collaborator_notice",
            Mail::BounceAlert => "bounce_alert",
            Mail::RejectionNotice => "rejection_notice",
            Mail::ResponseRelay => "response_relay",
            Mail::HeldNotice => "held_notice",
            Mail::AssignmentAlert => "assignment_alert",
            Mail::ClosedNotice => "closed_notice",
            Mail::AccessLink => "access_link",
            Mail::AccountConfirm => "account_confirm",
            Mail::AccountExists => "account_exists",
            Mail::AccountInvite => "account_invite",
            Mail::PasswordReset => "password_reset",
            Mail::OverdueAlert => "overdue_alert",
        }
    }

    /// Whether the mail is about a ticket (its context has one); rejections and account mail are not.
    pub fn about_ticket(self) -> bool {
        !matches!(
            self,
            Mail::RejectionNotice
                | Mail::AccountConfirm
                | Mail::AccountExists
                | Mail::AccountInvite
                | Mail::PasswordReset
        )
    }

    /// The mail a template name (as stored in the outbox) stands for.
    pub fn from_template(name: &str) -> Option<Mail> {
        Mail::ALL.into_iter().find(|mail| mail.template() == name)
    }

    /// Mail to agents (every other mail goes to customers, collaborators or visitors).
    pub fn to_agents(self) -> bool {
        matches!(
            self,
            Mail::NewTicketAlert
                | Mail::NewMessageAlert
                | Mail::HeldNotice
                | Mail::AssignmentAlert
                | Mail::OverdueAlert
                | Mail::BounceAlert
        )
    }

    /// Mail to customers that answers their mail: the kind auto-responders loop on.
    pub fn answers_customer(self) -> bool {
        matches!(
            self,
            Mail::NewTicketAutoResponse
                | Mail::NewMessageConfirmation
                | Mail::CollaboratorNotice
                | Mail::RejectionNotice
                | Mail::AccessLink
        )
    }
}

/// Which auto-response a new ticket's customer gets: a topic's or a rule's choice
/// (`auto_response = "skip"` or the name of a template variant, docs/routing.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoResponse {
    /// The usual `new_ticket_auto_response` (if `[notifications]` sends it).
    #[default]
    Usual,
    /// None for this ticket.
    Skip,
    /// The variant `new_ticket_auto_response.NAME.*.tera` of the templates directory.
    Variant(String),
}

impl AutoResponse {
    /// `"skip"`, or a variant name: `[a-z0-9_-]`, at most 64 characters (it is part of a file name).
    pub fn parse(text: &str) -> Result<AutoResponse, String> {
        if text == "skip" {
            return Ok(AutoResponse::Skip);
        }
        if is_variant_name(text) {
            return Ok(AutoResponse::Variant(text.to_string()));
        }
        Err(format!(
            "{text:?} must be \"skip\" or a template variant name ([a-z0-9_-], at most 64 characters): \
             the files new_ticket_auto_response.NAME.{{subject,txt,html}}.tera in templates.dir"
        ))
    }

    /// The choice of a later source (a rule after the topic, a later rule): it wins, except that
    /// nothing undoes a skip.
    pub fn then(self, later: AutoResponse) -> AutoResponse {
        match (self, later) {
            (AutoResponse::Skip, _) => AutoResponse::Skip,
            (earlier, AutoResponse::Usual) => earlier,
            (_, later) => later,
        }
    }
}

/// Whether `name` can name a template variant (`<mail>.<name>.<part>.tera`).
pub fn is_variant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A template variant the configuration names, and where (`topics[1].auto_response`): the
/// templates directory must have it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WantedVariant {
    pub at: String,
    pub mail: Mail,
    pub name: String,
}

/// What happened to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    NewTicket,
    /// A customer message added to an existing ticket.
    Reply,
    /// An automatic message (auto-reply) stored on a ticket.
    AutomaticReply,
    /// A bounce of our mail stored on its ticket.
    Bounce,
    /// A message taken in but refused (quarantined): its sender is told.
    Rejected,
    /// An agent answered by email: the response goes to the customer side.
    AgentResponse,
    /// An agent wrote an internal note by email: the other agents on the ticket are alerted.
    AgentNote,
    /// Mail in an agent's name failed authentication and was held: that agent is told.
    Held,
    /// The ticket was assigned: the new assignee is alerted.
    Assigned,
    /// The ticket was closed: its owner is told.
    Closed,
    /// Someone asked for a link on the access page with this participant's address.
    AccessRequested,
    /// The ticket passed its due time (the janitor, once): the assignee is alerted.
    Overdue,
}

/// Which mails are switched on (`[notifications]` in the config).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    pub auto_response: bool,
    pub new_message_confirmation: bool,
    pub new_ticket_alert: bool,
    pub new_message_alert: bool,
    pub collaborator_notice: bool,
    pub bounce_alert: bool,
    pub rejection_notice: bool,
    pub assignment_alert: bool,
    pub closed_notice: bool,
    /// Automatic mails to one address per hour, all kinds together.
    pub max_automatic_per_address_per_hour: u32,
    /// Auto-responses per ticket.
    pub max_auto_responses_per_ticket: u32,
    /// With no assignee and no account manager, alert every active agent.
    pub alert_all_when_unassigned: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            auto_response: true,
            new_message_confirmation: false,
            new_ticket_alert: true,
            new_message_alert: true,
            collaborator_notice: true,
            bounce_alert: true,
            rejection_notice: true,
            assignment_alert: true,
            closed_notice: true,
            max_automatic_per_address_per_hour: 10,
            max_auto_responses_per_ticket: 1,
            alert_all_when_unassigned: true,
        }
    }
}

/// The people a message concerns, resolved by the ingest.
#[derive(Clone, Debug, Default)]
pub struct Audience {
    /// The sender (customer side); `None` when the sender is an agent or one of our addresses.
    pub customer: Option<EmailAddress>,
    /// Collaborators added by this message.
    pub new_collaborators: Vec<EmailAddress>,
    /// Agents to alert: the assignee (or its team's members), else the account manager, else per policy.
    pub agents: Vec<EmailAddress>,
    /// The customer side of the ticket (owner and collaborators), for an agent's response.
    pub customers: Vec<EmailAddress>,
}

/// One automatic mail to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub mail: Mail,
    pub to: EmailAddress,
}

/// One automatic mail held back, and why (recorded in the trace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppressed {
    pub mail: Mail,
    pub to: EmailAddress,
    pub reason: String,
}

/// The mails an event causes, before the governor (loop safety and policy applied).
pub fn plan(
    event: Event,
    is_normal_mail: bool,
    audience: &Audience,
    policy: &Policy,
) -> (Vec<Planned>, Vec<Suppressed>) {
    let mut wanted: Vec<(Mail, &EmailAddress, bool)> = Vec::new();
    let to_customer = |mail| audience.customer.iter().map(move |to| (mail, to));
    match event {
        Event::NewTicket => {
            wanted
                .extend(to_customer(Mail::NewTicketAutoResponse).map(|(m, t)| (m, t, policy.auto_response)));
            wanted.extend(
                audience
                    .new_collaborators
                    .iter()
                    .map(|t| (Mail::CollaboratorNotice, t, policy.collaborator_notice)),
            );
            wanted.extend(audience.agents.iter().map(|t| (Mail::NewTicketAlert, t, policy.new_ticket_alert)));
        }
        Event::Reply => {
            wanted.extend(
                to_customer(Mail::NewMessageConfirmation)
                    .map(|(m, t)| (m, t, policy.new_message_confirmation)),
            );
            wanted
                .extend(audience.agents.iter().map(|t| (Mail::NewMessageAlert, t, policy.new_message_alert)));
        }
        Event::AutomaticReply => {}
        Event::Bounce => {
            wanted.extend(audience.agents.iter().map(|t| (Mail::BounceAlert, t, policy.bounce_alert)));
        }
        Event::Rejected => {
            wanted.extend(to_customer(Mail::RejectionNotice).map(|(m, t)| (m, t, policy.rejection_notice)));
        }
        // An agent's response is the help desk's answer, not a notification: never switched off.
        Event::AgentResponse => {
            wanted.extend(audience.customers.iter().map(|t| (Mail::ResponseRelay, t, true)))
        }
        Event::AgentNote => {
            wanted
                .extend(audience.agents.iter().map(|t| (Mail::NewMessageAlert, t, policy.new_message_alert)));
        }
        Event::Held => wanted.extend(audience.agents.iter().map(|t| (Mail::HeldNotice, t, true))),
        Event::Assigned => {
            wanted
                .extend(audience.agents.iter().map(|t| (Mail::AssignmentAlert, t, policy.assignment_alert)));
        }
        Event::Closed => {
            wanted.extend(to_customer(Mail::ClosedNotice).map(|(m, t)| (m, t, policy.closed_notice)))
        }
        // A due date nobody hears about is no due date: never switched off.
        Event::Overdue => wanted.extend(audience.agents.iter().map(|t| (Mail::OverdueAlert, t, true))),
        // Asked for on the web page: the only way in without an earlier mail, never switched off.
        Event::AccessRequested => wanted.extend(to_customer(Mail::AccessLink).map(|(m, t)| (m, t, true))),
    }
    let mut planned = Vec::new();
    let mut suppressed = Vec::new();
    for (mail, to, enabled) in wanted {
        let hold = |reason: &str| Suppressed { mail, to: to.clone(), reason: reason.to_string() };
        if !enabled {
            continue;
        } else if mail.answers_customer() && !is_normal_mail {
            suppressed.push(hold("never answer automatic or list mail"));
        } else if is_machine_address(to) {
            suppressed.push(hold("machine address"));
        } else if !is_deliverable_address(to) {
            suppressed.push(hold("not a deliverable address"));
        } else if planned.iter().any(|p: &Planned| p.mail == mail && &p.to == to) {
            continue;
        } else {
            planned.push(Planned { mail, to: to.clone() });
        }
    }
    (planned, suppressed)
}

/// What the governor needs to know about earlier mail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// Automatic mails queued to this address in the last hour.
    pub automatic_to_address_last_hour: u32,
    /// Auto-responses already queued on this ticket.
    pub auto_responses_on_ticket: u32,
}

/// `Err(reason)` when the governor holds this mail back.
pub fn govern(planned: &Planned, history: History, policy: &Policy) -> Result<(), String> {
    if planned.mail == Mail::NewTicketAutoResponse
        && history.auto_responses_on_ticket >= policy.max_auto_responses_per_ticket
    {
        return Err(format!("already {} auto-response(s) on this ticket", history.auto_responses_on_ticket));
    }
    // Agents' alerts are not automatic replies to anyone; the per-address cap protects outside mailboxes.
    if planned.mail.answers_customer()
        && history.automatic_to_address_last_hour >= policy.max_automatic_per_address_per_hour
    {
        return Err(format!(
            "{} automatic mails to {} in the last hour (limit {})",
            history.automatic_to_address_last_hour, planned.to, policy.max_automatic_per_address_per_hour
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    fn audience() -> Audience {
        Audience {
            customer: Some(addr("jane@example.org")),
            new_collaborators: vec![addr("tom@example.org"), addr("noreply@example.org")],
            agents: vec![addr("alice@example.com")],
            customers: vec![addr("jane@example.org"), addr("tom@example.org")],
        }
    }

    #[test]
    fn auto_response_choices_parse_and_combine() {
        let billing = || AutoResponse::Variant("billing".into());
        assert_eq!(AutoResponse::parse("skip"), Ok(AutoResponse::Skip));
        assert_eq!(AutoResponse::parse("billing"), Ok(billing()));
        for bad in ["", "Billing", "a.b", "../x", "a b", "x\n", &"a".repeat(65)] {
            assert!(AutoResponse::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(AutoResponse::Usual.then(billing()), billing(), "a rule picks a variant");
        assert_eq!(billing().then(AutoResponse::Usual), billing(), "a rule without a say keeps it");
        assert_eq!(billing().then(AutoResponse::Variant("vip".into())), AutoResponse::Variant("vip".into()));
        assert_eq!(billing().then(AutoResponse::Skip), AutoResponse::Skip);
        assert_eq!(AutoResponse::Skip.then(billing()), AutoResponse::Skip, "nothing undoes a skip");
    }

    fn mails(planned: &[Planned]) -> Vec<(Mail, &str)> {
        planned.iter().map(|p| (p.mail, p.to.as_str())).collect()
    }

    #[test]
    fn a_new_ticket_answers_the_owner_and_alerts_agents() {
        let (planned, suppressed) = plan(Event::NewTicket, true, &audience(), &Policy::default());
        assert_eq!(
            mails(&planned),
            [
                (Mail::NewTicketAutoResponse, "jane@example.org"),
                (Mail::CollaboratorNotice, "tom@example.org"),
                (Mail::NewTicketAlert, "alice@example.com"),
            ]
        );
        assert_eq!(suppressed.len(), 1);
        assert_eq!(suppressed[0].reason, "machine address");
    }

    #[test]
    fn list_mail_is_never_answered_but_agents_hear_of_it() {
        let (planned, suppressed) = plan(Event::NewTicket, false, &audience(), &Policy::default());
        assert_eq!(mails(&planned), [(Mail::NewTicketAlert, "alice@example.com")]);
        assert!(suppressed.iter().all(|s| s.mail.answers_customer()));
    }

    #[test]
    fn replies_alert_the_assignee_and_confirm_only_when_enabled() {
        let (planned, _) = plan(Event::Reply, true, &audience(), &Policy::default());
        assert_eq!(mails(&planned), [(Mail::NewMessageAlert, "alice@example.com")]);
        let policy = Policy { new_message_confirmation: true, ..Policy::default() };
        let (planned, _) = plan(Event::Reply, true, &audience(), &policy);
        assert_eq!(planned[0], Planned { mail: Mail::NewMessageConfirmation, to: addr("jane@example.org") });
    }

    #[test]
    fn automatic_replies_cause_nothing_and_bounces_alert_agents() {
        assert!(plan(Event::AutomaticReply, false, &audience(), &Policy::default()).0.is_empty());
        let (planned, _) = plan(Event::Bounce, false, &audience(), &Policy::default());
        assert_eq!(mails(&planned), [(Mail::BounceAlert, "alice@example.com")]);
    }

    #[test]
    fn nothing_is_planned_to_an_undeliverable_address() {
        let audience = Audience {
            customer: Some(addr("jörg@example.org")),
            new_collaborators: vec![addr("tom@example.org")],
            ..Audience::default()
        };
        let (planned, suppressed) = plan(Event::NewTicket, true, &audience, &Policy::default());
        assert_eq!(mails(&planned), [(Mail::CollaboratorNotice, "tom@example.org")]);
        assert_eq!(suppressed[0].reason, "not a deliverable address");
    }

    #[test]
    fn the_governor_caps_auto_responses_and_mail_per_address() {
        let policy = Policy::default();
        let auto = Planned { mail: Mail::NewTicketAutoResponse, to: addr("jane@example.org") };
        assert!(govern(&auto, History::default(), &policy).is_ok());
        assert!(
            govern(&auto, History { auto_responses_on_ticket: 1, ..History::default() }, &policy).is_err()
        );
        let busy = History { automatic_to_address_last_hour: 10, ..History::default() };
        let err = govern(&auto, busy, &policy).unwrap_err();
        assert!(err.contains("limit 10"), "{err}");
        let alert = Planned { mail: Mail::NewTicketAlert, to: addr("alice@example.com") };
        assert!(govern(&alert, busy, &policy).is_ok(), "agents' alerts are not capped per address");
    }
}
