//! What an outbox row stores of its mail when it is queued (the `context` column, JSON): the facts
//! true when the event happened. Rows outlive upgrades, so the keys stay as they are and reading
//! is lenient: a key that is missing or `null` is empty, and unknown keys are ignored, so a row
//! queued by another mailgate version still renders. Links and reply addresses are never stored
//! (the worker mints them at send time), nor the text of an entry (it is referenced).

use serde::{Deserialize, Serialize};

use super::{BounceReport, MessageKind, Person};
use crate::core::address::EmailAddress;
use crate::core::ids::{EntryId, TicketId};
use crate::core::notify::{Mail, Planned};
use crate::core::thread::TicketState;

/// One queued mail's stored facts; each mail uses some of them (`MailContext::build`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Queued {
    /// The template name (the row's `template` column says the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// The variant of the template chosen by a topic or rule (`new_ticket_auto_response.VARIANT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub recipient: QueuedRecipient,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<QueuedTicket>,
    /// The message that caused the mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<QueuedMessage>,
    /// The ticket's owner, for the collaborator notice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Person>,
    /// The Message-ID the mail answers in its recipient's client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Why a message was held or refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounce: Option<BounceReport>,
    /// Who a ticket was assigned to ("team billing") and by whom ("agent alice").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// An account mail's single-use link and how long it works ("24 hours").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_valid: Option<String>,
    /// When an overdue ticket was due ("2026-12-04 17:00 Europe/Berlin") and under which plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueuedRecipient {
    pub email: String,
    /// Known for mail to the sender of a refused message and for account mail only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueuedTicket {
    /// `tickets.id`: the worker signs links and reply addresses for it.
    pub id: Option<i64>,
    pub number: String,
    pub subject: String,
    pub status: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueuedMessage {
    /// The entry whose text the mail quotes (read at send time; entries are immutable).
    pub entry_id: Option<i64>,
    pub kind: MessageKind,
    pub author_name: String,
    pub author_email: String,
}

impl Queued {
    /// A mail to `to` and nothing else yet.
    pub fn to(mail: Mail, to: &EmailAddress) -> Queued {
        Queued {
            mail: Some(mail.template().to_string()),
            recipient: QueuedRecipient { email: to.as_str().to_string(), name: None },
            ..Queued::default()
        }
    }

    /// With the recipient's name, where it is known when the mail is queued.
    pub fn named(mut self, name: String) -> Queued {
        self.recipient.name = Some(name);
        self
    }

    /// A planned mail about `ticket`, as it is now.
    pub fn on_ticket(planned: &Planned, ticket: &TicketState) -> Queued {
        Queued { ticket: Some(QueuedTicket::of(ticket)), ..Queued::to(planned.mail, &planned.to) }
    }

    /// Reads a stored row (see the module's comment on leniency).
    pub fn from_json(json: &str) -> Result<Queued, String> {
        let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("context: {e}"))?;
        drop_nulls(&mut value);
        serde_json::from_value(value).map_err(|e| format!("context: {e}"))
    }

    /// The stored form. Serializing strings, numbers and lists cannot fail; were it to, the row
    /// would hold `null` and the mail fail at send time with the reason, never go out with holes.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "null".to_string())
    }

    pub fn ticket_id(&self) -> Option<TicketId> {
        self.ticket.as_ref()?.id.map(TicketId)
    }

    pub fn entry_id(&self) -> Option<EntryId> {
        self.message.as_ref()?.entry_id.map(EntryId)
    }
}

impl QueuedTicket {
    pub fn of(state: &TicketState) -> QueuedTicket {
        QueuedTicket {
            id: Some(state.id.0),
            number: state.number.as_str().to_string(),
            subject: state.subject.clone(),
            status: state.status.as_str().to_string(),
        }
    }
}

/// Removes every `null` from objects, so that serde's defaults fill them as they fill absent keys.
pub(super) fn drop_nulls(value: &mut serde_json::Value) {
    if let Some(map) = value.as_object_mut() {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(drop_nulls);
    }
}
