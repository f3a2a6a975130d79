//! A ticket an agent opens for a customer (`mailgate ticket new`, the console's `/agent/new`): the
//! agent's message, written as their mail to the customer, becomes the first entry — a response —
//! of a new ticket owned by the customer, who is found or created as mail-in finds its senders.
//! The response is relayed to the customer through the outbox with a signed reply address, so
//! their answer threads. A chosen topic routes the ticket (assignee, priority, due time); without
//! one the writing agent keeps it. `[[rules]]` judge mail that comes in and do not run here.

use super::notify::Notice;
use super::persist::{As, Author};
use super::routing::Placement;
use super::{Incoming, Outcome, Pipeline};
use crate::core::address::EmailAddress;
use crate::core::email::Mailbox;
use crate::core::ids::AgentId;
use crate::core::notify::Event;
use crate::core::subject::clean_subject;
use crate::core::thread::TicketState;
use crate::core::ticket::{Role, Status};
use crate::core::trace::Trace;
use crate::store::lifecycle::{self as lifecycle_store, Assignee};
use crate::store::tickets::{self as ticket_store, EntryKind, NewTicket};
use crate::store::{self, Tx};

/// Who a ticket is opened for and by, carried by the [`super::Delivery`] of the agent's message.
#[derive(Clone, Debug)]
pub struct OpenFor {
    pub customer: Mailbox,
    pub agent: AgentId,
    /// A `[[topics]]` key (any topic: agents are not limited to the public ones).
    pub topic: Option<String>,
}

impl Pipeline {
    /// Opens the ticket `open` describes with `msg` (the agent's message) as its first entry.
    pub(super) fn open_for_customer(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        open: &OpenFor,
        trace: &mut Trace,
    ) -> store::Result<Outcome> {
        let now = self.clock.now_ms();
        let agent_key = lifecycle_store::agent_key(tx, open.agent)?;
        trace.record("outbound", "open", format!("for {} by agent {agent_key}", open.customer.email));
        let mut placement = Placement::unrouted();
        if let Some(key) = &open.topic {
            self.apply_topic(tx, key, "by the agent who opened it", &mut placement, trace)?;
            placement.reply_from = self.topic_address(key);
        }
        let (owner, org) = self.identify(tx, &open.customer, trace)?;
        let Some(number) = self.mint_number(tx)? else {
            return Ok(super::quarantined(trace, "no free ticket number: widen tickets.number_format"));
        };
        let subject =
            clean_subject(&msg.email.subject, &self.settings.number_format.tags_in(&msg.email.subject));
        let assignee = placement.assignee.unwrap_or(Assignee::Agent(open.agent));
        let (assignee_agent, assignee_team) = match assignee {
            Assignee::Agent(agent) => (Some(agent), None),
            Assignee::Team(team) => (None, Some(team)),
        };
        let ticket = ticket_store::insert_ticket(
            tx,
            &NewTicket {
                number: &number,
                subject: &subject,
                user: owner,
                org,
                assignee_agent,
                assignee_team,
                alert_agent: None,
                alert_team: None,
                mailbox: None,
                linked_ticket: None,
                topic: placement.topic.as_deref(),
                reply_from: placement.reply_from.as_ref().map(EmailAddress::as_str),
                priority: placement.priority.as_str(),
                custom: "{}",
                now_ms: now,
            },
        )?;
        trace.record("ticket", "created", format!("#{number} \"{subject}\" for {}", open.customer.email));
        ticket_store::add_participant(tx, ticket, owner, Role::Owner, now)?;
        self.add_primary_contacts(tx, ticket, org, now, trace)?;
        let author = Author::Agent(open.agent);
        let entry =
            self.store_message(tx, msg, ticket, As { kind: EntryKind::Response, author, text: None }, now)?;
        let opened = format!("Opened for {} by agent {agent_key}", open.customer.email);
        self.system_entry(tx, ticket, &opened, None, now)?;
        for (note, seen) in &placement.notes {
            self.system_entry(tx, ticket, note, seen.as_deref(), now)?;
        }
        self.start_due(tx, ticket, placement.topic.as_deref(), trace)?;
        let state = TicketState { id: ticket, number, subject, status: Status::Open, closed_at: None };
        let notice = Notice {
            event: Event::AgentResponse,
            entry: Some(entry),
            author: Some(open.agent),
            ..Notice::new(&state)
        };
        self.notify(tx, msg, notice, trace)?;
        Ok(Outcome::Created { ticket, number: state.number, entry })
    }

    /// The first (in order) of our addresses routed to topic `key`: mail about its tickets comes
    /// from it.
    fn topic_address(&self, key: &str) -> Option<EmailAddress> {
        let topics = &self.settings.topics;
        topics.by_address.iter().filter(|(_, topic)| *topic == key).map(|(address, _)| address).min().cloned()
    }
}
