//! A ticket an agent opens for a customer (`mailgate ticket new`, the console's `/agent/new`): the
//! agent's message is written as their mail to the customer and run through the pipeline, which
//! opens the ticket with it as the first response and relays it (`ingest/outbound.rs`).

use super::Workflows;
use super::console::{ConsoleError, compose_raw};
use crate::core::address::EmailAddress;
use crate::core::email::{Mailbox, clean_display_name};
use crate::core::identify::is_own_address;
use crate::ingest::{Delivery, IngestError, OpenFor, Report};
use crate::store::directory as directory_store;
use crate::store::inbound::Source;

/// The longest subject taken, in characters (a subject line, not a message).
pub const MAX_SUBJECT_CHARS: usize = 200;

/// What an agent writes to open a ticket for a customer.
#[derive(Clone, Debug)]
pub struct NewForCustomer {
    /// The customer's address, as typed.
    pub to: String,
    pub name: Option<String>,
    pub subject: String,
    pub text: String,
    /// The writing agent's key.
    pub agent: String,
    /// A `[[topics]]` key.
    pub topic: Option<String>,
}

impl Workflows {
    /// Opens a ticket for the customer at `new.to` with `new.text` as agent `new.agent`'s first
    /// response, mailed to the customer with a signed reply address.
    pub async fn open_for_customer(&self, new: NewForCustomer) -> Result<Report, ConsoleError> {
        let refuse = |why: String| Err(ConsoleError::Refused(why));
        let Some(email) = EmailAddress::parse(new.to.trim()) else {
            return refuse(format!("{:?} is not an email address", new.to.trim()));
        };
        let snapshot = self.app().snapshot();
        if is_own_address(&email, &snapshot.settings.own_addresses) {
            return refuse(format!("{email} is one of our own addresses, not a customer's"));
        }
        if snapshot.directory.agents_by_email.contains_key(&email) {
            return refuse(format!("{email} is an agent's address, not a customer's"));
        }
        let subject = new.subject.split_whitespace().collect::<Vec<_>>().join(" ");
        if subject.is_empty() {
            return refuse("the subject is empty".to_string());
        }
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            return refuse(format!("the subject is longer than {MAX_SUBJECT_CHARS} characters"));
        }
        if new.text.trim().is_empty() {
            return refuse("there is nothing to send: the text is empty".to_string());
        }
        let topic = match new.topic.as_deref().map(str::trim).filter(|key| !key.is_empty()) {
            Some(key) => match snapshot.settings.topics.get(&key.to_ascii_lowercase()) {
                Some(topic) => Some(topic.key.clone()),
                None => return refuse(format!("no [[topics]] entry has the key {key:?}")),
            },
            None => None,
        };
        let key = new.agent.trim().to_ascii_lowercase();
        let found =
            self.app().store().read(move |tx| directory_store::agent_with_alert_address(tx, &key)).await;
        let Some((agent, from)) = found.map_err(IngestError::from)? else {
            return Err(ConsoleError::NoAgent(new.agent.trim().to_string()));
        };
        let customer = Mailbox { email, name: new.name.as_deref().and_then(clean_display_name) };
        let to = customer.email.to_string();
        let delivery = Delivery {
            authenticated: Some(
                "written by an agent signed in to the console, or an admin on the command line",
            ),
            open_for: Some(OpenFor { customer, agent, topic }),
            ..Delivery::new(Source::Console)
        };
        let text = new.text;
        self.ingest_composed(
            move || compose_raw(&from, &to, &subject, &text, Vec::new(), Source::Console),
            delivery,
        )
        .await
    }
}
