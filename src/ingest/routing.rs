//! Where a new ticket goes: the address it was written to (mail to the customer comes from it),
//! its help topic (by receiving address or mailbox, `core::routing`) and what the topic sets
//! (team or agent, priority). Runs inside the ingest transaction, before the ticket is inserted;
//! each decision is in the trace and, when it changes the ticket, in a system entry.

use super::{Incoming, Pipeline};
use crate::core::address::EmailAddress;
use crate::core::command::Priority;
use crate::core::trace::Trace;
use crate::store::lifecycle::{self as lifecycle_store, Assignee};
use crate::store::{self, Tx};

/// What routing decided for a new ticket.
#[derive(Clone, Debug)]
pub(super) struct Placement {
    pub topic: Option<String>,
    pub reply_from: Option<EmailAddress>,
    pub assignee: Option<Assignee>,
    pub priority: Priority,
    /// System entries to write once the ticket exists.
    pub notes: Vec<String>,
}

impl Pipeline {
    /// Routes `msg` to its topic and applies the topic's assignment and priority.
    pub(super) fn place(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        trace: &mut Trace,
    ) -> store::Result<Placement> {
        let email = msg.email;
        let to_cc: Vec<&EmailAddress> = email.to.iter().chain(&email.cc).map(|m| &m.email).collect();
        let routed = self.settings.topics.route(
            &msg.delivery.recipients,
            &to_cc,
            msg.delivery.mailbox.as_deref(),
            &self.settings.own_addresses,
        );
        let mut placement = Placement {
            topic: None,
            reply_from: routed.received_at.clone(),
            assignee: None,
            priority: Priority::Normal,
            notes: Vec::new(),
        };
        if let Some(address) = &routed.received_at {
            trace.record(
                "route",
                "received-at",
                format!("written to {address}: mail to the customer comes from it"),
            );
        }
        match &routed.topic {
            Some((key, why)) => {
                self.apply_topic(tx, key, &format!("by routing ({why})"), &mut placement, trace)?
            }
            None => trace.record("route", "no-topic", "no receiving address or mailbox names a topic"),
        }
        Ok(placement)
    }

    /// Sets topic `key` on `placement` with what it brings (assignment, priority), naming `why`.
    pub(super) fn apply_topic(
        &self,
        tx: &mut Tx<'_>,
        key: &str,
        why: &str,
        placement: &mut Placement,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let Some(topic) = self.settings.topics.get(key) else {
            trace.record("route", "unknown-topic", format!("{key} is no longer a [[topics]] entry"));
            return Ok(());
        };
        placement.topic = Some(topic.key.clone());
        let text = format!("Topic set to {} ({}) {why}", topic.key, topic.name);
        trace.record("route", "topic", text.clone());
        placement.notes.push(text);
        if let Some(priority) = topic.priority {
            placement.priority = priority;
        }
        if let Some(assign) = &topic.assign {
            match lifecycle_store::find_assignee(tx, assign)? {
                Some(assignee) => {
                    placement.assignee = Some(assignee);
                    let who = match assignee {
                        Assignee::Agent(_) => format!("agent {assign}"),
                        Assignee::Team(_) => format!("team {assign}"),
                    };
                    let text = format!("Assigned to {who} by topic {}", topic.key);
                    trace.record("route", "assign", text.clone());
                    placement.notes.push(text);
                }
                None => trace.record(
                    "route",
                    "unassigned",
                    format!("topic {} assigns to {assign}, which is not an active agent or team", topic.key),
                ),
            }
        }
        Ok(())
    }
}
