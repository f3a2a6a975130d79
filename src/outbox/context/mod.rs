//! The typed context of every mail template: what each template is given (`MailContext`), built
//! from an outbox row's stored facts (`Queued`) plus what the worker adds at send time
//! (`SendTime`), in one function (`MailContext::build`) that is the only place saying which mail
//! gets which variables. The samples `check-config` validates templates against are built by the
//! same function (`sample.rs`), so the contract cannot drift from what is sent. docs/templates.md
//! lists the same variables (checked by a test).

mod fields;
mod queued;
mod sample;

use serde::{Deserialize, Serialize};

pub use fields::{FieldForms, FieldRow, Fields, StoredCustom};
pub use queued::{Queued, QueuedMessage, QueuedRecipient, QueuedTicket};

use crate::core::notify::Mail;
use crate::core::quote::REPLY_MARKER;

/// Everything one template is given: what every mail has, and what its kind of mail adds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MailContext {
    /// `instance.name`; texts end with it.
    pub instance_name: String,
    /// The line the inbound quote stripper cuts replies at.
    pub reply_marker: &'static str,
    pub recipient: Recipient,
    /// Empty fields for mail about no ticket.
    pub ticket: Ticket,
    #[serde(flatten)]
    pub about: About,
}

/// Who the mail goes to.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Recipient {
    /// May be empty.
    pub name: String,
    pub email: String,
    /// Given to the collaborator notice only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<RecipientRole>,
}

/// Why a collaborator notice's recipient was added to the ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientRole {
    /// A primary contact of the ticket's organization.
    PrimaryContact,
    /// In copy of the message.
    Collaborator,
}

/// The ticket a mail is about, as stored when the mail was queued.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ticket {
    pub number: String,
    pub subject: String,
    pub status: String,
    /// The recipient's link, minted at send time; empty for agents or without links.
    pub url: String,
    /// The ticket's custom data (its topic's form), the owner's and the organization's, by label:
    /// every value for agents, the fields visible to users for anyone else (`fields.rs`).
    pub fields: Vec<FieldRow>,
    pub customer_fields: Vec<FieldRow>,
    pub org_fields: Vec<FieldRow>,
}

/// What a template gets beyond the fields every mail has, by kind of mail (`MailContext::build`
/// says which mail is which).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum About {
    /// `new_ticket_auto_response` (the text is always empty: the From is unverified) and
    /// `new_message_confirmation`.
    CustomerText { message: MessageText },
    /// `new_ticket_alert`, `new_message_alert`.
    Alert { message: AlertedMessage, organization: String, note_address: String },
    /// `collaborator_notice` (and `recipient.role`).
    Collaborator { owner: Person, organization: String },
    /// `rejection_notice`.
    Rejection { reason: String },
    /// `response_relay`.
    Relay { message: RelayedMessage },
    /// `held_notice`.
    Held { message: HeldMessage, reason: String },
    /// `assignment_alert`.
    Assignment { note_address: String, assignee: String, actor: String },
    /// `closed_notice`: nothing more.
    Closed {},
    /// `overdue_alert`: when the ticket was due and the plan.
    Overdue { note_address: String, due: String, plan: String },
    /// `access_link`: how long `ticket.url` works.
    Access { link_minutes: u64 },
    /// `account_confirm`, `account_invite`, `password_reset`.
    AccountLink { link: String, link_valid: String },
    /// `account_exists`.
    AccountExists { link: String },
    /// `bounce_alert`.
    Bounce { bounce: BounceReport },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageText {
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertedMessage {
    pub text: String,
    pub author_name: String,
    pub author_email: String,
    pub kind: MessageKind,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RelayedMessage {
    pub text: String,
    pub author_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeldMessage {
    pub text: String,
    pub author_name: String,
    pub author_email: String,
}

/// What the message behind a mail was; alerts say `note` for an agent's internal note.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Message,
    Note,
    Response,
    Held,
}

/// A name (may be empty) and an address.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Person {
    pub name: String,
    pub email: String,
}

/// A delivery failure of our mail.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BounceReport {
    /// The addresses that failed.
    pub recipients: Vec<String>,
    /// The report's text (may span lines).
    pub diagnostic: String,
}

/// What the worker adds to a queued row when it sends it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SendTime {
    pub instance_name: String,
    /// The text of the entry the mail quotes (already cut where it is a quote).
    pub text: Option<String>,
    /// The ticket's organization.
    pub organization: Option<String>,
    /// Whether the recipient is a primary contact of the ticket (the collaborator notice).
    pub primary_contact: bool,
    /// The recipient's ticket link.
    pub url: Option<String>,
    /// An agent's internal-note address on the ticket.
    pub note_address: Option<String>,
    /// How long an access link works.
    pub link_minutes: u64,
    /// The custom data this recipient may read.
    pub fields: Fields,
}

impl MailContext {
    /// The context of `mail` from its queued row and what the send adds. What a row lacks is empty.
    pub fn build(mail: Mail, queued: Queued, sent: SendTime) -> MailContext {
        let Queued {
            recipient,
            ticket,
            message,
            owner,
            reason,
            bounce,
            assignee,
            actor,
            link,
            link_valid,
            due,
            plan,
            ..
        } = queued;
        let message = message.unwrap_or_default();
        let text = sent.text.unwrap_or_default();
        let organization = sent.organization.unwrap_or_default();
        let note_address = sent.note_address.unwrap_or_default();
        let (reason, link) = (reason.unwrap_or_default(), link.unwrap_or_default());
        let about = match mail {
            Mail::NewTicketAutoResponse | Mail::NewMessageConfirmation => {
                About::CustomerText { message: MessageText { text } }
            }
            Mail::NewTicketAlert | Mail::NewMessageAlert => About::Alert {
                message: AlertedMessage {
                    text,
                    author_name: message.author_name,
                    author_email: message.author_email,
                    kind: message.kind,
                },
                organization,
                note_address,
            },
            Mail::CollaboratorNotice => {
                About::Collaborator { owner: owner.unwrap_or_default(), organization }
            }
            Mail::RejectionNotice => About::Rejection { reason },
            Mail::ResponseRelay => {
                About::Relay { message: RelayedMessage { text, author_name: message.author_name } }
            }
            Mail::HeldNotice => About::Held {
                message: HeldMessage {
                    text,
                    author_name: message.author_name,
                    author_email: message.author_email,
                },
                reason,
            },
            Mail::AssignmentAlert => About::Assignment {
                note_address,
                assignee: assignee.unwrap_or_default(),
                actor: actor.unwrap_or_default(),
            },
            Mail::ClosedNotice => About::Closed {},
            Mail::OverdueAlert => {
                About::Overdue { note_address, due: due.unwrap_or_default(), plan: plan.unwrap_or_default() }
            }
            Mail::AccessLink => About::Access { link_minutes: sent.link_minutes },
            Mail::AccountConfirm | Mail::AccountInvite | Mail::PasswordReset => {
                About::AccountLink { link, link_valid: link_valid.unwrap_or_default() }
            }
            Mail::AccountExists => About::AccountExists { link },
            Mail::BounceAlert => About::Bounce { bounce: bounce.unwrap_or_default() },
        };
        let role = (mail == Mail::CollaboratorNotice).then_some(match sent.primary_contact {
            true => RecipientRole::PrimaryContact,
            false => RecipientRole::Collaborator,
        });
        let ticket = ticket.unwrap_or_default();
        // The auto-response goes to an unverified From: it carries nothing the requester wrote.
        let shown = match mail {
            Mail::NewTicketAutoResponse => Fields::default(),
            _ => sent.fields,
        };
        MailContext {
            instance_name: sent.instance_name,
            reply_marker: REPLY_MARKER,
            recipient: Recipient { name: recipient.name.unwrap_or_default(), email: recipient.email, role },
            ticket: Ticket {
                number: ticket.number,
                subject: ticket.subject,
                status: ticket.status,
                url: sent.url.unwrap_or_default(),
                fields: shown.ticket,
                customer_fields: shown.customer,
                org_fields: shown.org,
            },
            about,
        }
    }

    /// The context `mail` is promised, every field filled (so validation takes every `{% if %}`
    /// branch and previews show everything).
    pub fn sample(mail: Mail) -> MailContext {
        let (queued, sent) = sample::facts(mail);
        MailContext::build(mail, queued, sent)
    }

    /// The sample with everything that may be empty emptied: agents get no link, names are
    /// unknown, the collaborator is in copy, and mail not about a ticket has empty ticket fields.
    pub fn sparse(mail: Mail) -> MailContext {
        let (queued, sent) = sample::sparse_facts(mail);
        MailContext::build(mail, queued, sent)
    }

    /// As JSON, the form the template checks read. Serializing strings, numbers and lists cannot
    /// fail; were it to, the value would be `null`, which no template renders with.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Every variable `mail`'s templates are given, as dotted paths (`ticket.url`), sorted; a list
/// (`bounce.recipients`) is one variable.
pub fn variables(mail: Mail) -> Vec<String> {
    let mut paths = Vec::new();
    collect_paths(&MailContext::sample(mail).to_value(), "", &mut paths);
    paths
}

fn collect_paths(value: &serde_json::Value, prefix: &str, paths: &mut Vec<String>) {
    match value.as_object() {
        Some(map) => {
            for (key, value) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                collect_paths(value, &path, paths);
            }
        }
        None => paths.push(prefix.to_string()),
    }
}

#[cfg(test)]
mod tests;
