//! Where a new ticket goes: the address it was written to (mail to the customer comes from it),
//! its help topic (by receiving address or mailbox, `core::routing`), then the `[[rules]]`
//! (`core::rules`), which may change topic, assignment, priority and status, add collaborators,
//! skip the auto-response, or refuse or drop the message. Runs inside the ingest transaction
//! before the ticket (or its owner) is written; every rule tried is in the trace, and every
//! change to the ticket is a system entry.

use super::{Incoming, Pipeline};
use crate::core::address::EmailAddress;
use crate::core::command::Priority;
use crate::core::ids::OrgId;
use crate::core::notify::AutoResponse;
use crate::core::rules::{self, Facts, Rule};
use crate::core::ticket::Status;
use crate::core::trace::Trace;
use crate::store::lifecycle::{self as lifecycle_store, Assignee};
use crate::store::{self, Tx, users as user_store};

/// What routing and the rules decided for a new ticket.
#[derive(Clone, Debug)]
pub(super) struct Placement {
    pub topic: Option<String>,
    pub reply_from: Option<EmailAddress>,
    pub assignee: Option<Assignee>,
    pub priority: Priority,
    /// A status other than open, set by a rule.
    pub status: Option<Status>,
    pub add_collaborators: Vec<EmailAddress>,
    /// The auto-response the topic and the rules chose.
    pub auto_response: AutoResponse,
    /// A rule refused or dropped the message: no ticket.
    pub refusal: Option<Refusal>,
    /// System entries to write once the ticket exists: the agents' line, and the customer's.
    pub notes: Vec<(String, Option<String>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The sender is told `reason`.
    Reject { rule: String, reason: String },
    /// Recorded, nobody told.
    Discard { rule: String },
}

impl Placement {
    /// No topic, no rule: a ticket placed by hand.
    pub(super) fn unrouted() -> Placement {
        Placement {
            topic: None,
            reply_from: None,
            assignee: None,
            priority: Priority::Normal,
            status: None,
            add_collaborators: Vec::new(),
            auto_response: AutoResponse::Usual,
            refusal: None,
            notes: Vec::new(),
        }
    }
}

impl Pipeline {
    /// Routes `msg` (of a sender in `org`) to its topic, then tries the rules.
    pub(super) fn place(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        org: Option<OrgId>,
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
        let mut placement = Placement { reply_from: routed.received_at.clone(), ..Placement::unrouted() };
        if let Some(address) = &routed.received_at {
            trace.record(
                "route",
                "received-at",
                format!("written to {address}: mail to the customer comes from it"),
            );
        }
        let chosen = msg
            .delivery
            .topic
            .as_deref()
            .filter(|key| self.settings.topics.get(key).is_some_and(|t| t.public));
        match (chosen, &routed.topic) {
            (Some(key), _) => self.apply_topic(tx, key, "chosen on the portal", &mut placement, trace)?,
            (None, Some((key, why))) => {
                self.apply_topic(tx, key, &format!("by routing ({why})"), &mut placement, trace)?
            }
            (None, None) => {
                trace.record("route", "no-topic", "no receiving address or mailbox names a topic")
            }
        }
        if !self.settings.rules.rules.is_empty() {
            self.apply_rules(tx, msg, org, &to_cc, &mut placement, trace)?;
        }
        Ok(placement)
    }

    /// Tries every rule in order (each in the trace) and applies those that matched.
    fn apply_rules(
        &self,
        tx: &mut Tx<'_>,
        msg: &Incoming<'_>,
        org: Option<OrgId>,
        to_cc: &[&EmailAddress],
        placement: &mut Placement,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let book = self.settings.rules.clone();
        let org_key = org.and_then(|org| self.directory.orgs.get(&org)).map(|policy| policy.key.as_str());
        let user_custom = match book.reads_user_custom {
            true => user_store::find_user_custom(tx, &msg.sender.email)?
                .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok()),
            false => None,
        };
        let recipients: Vec<&str> =
            msg.delivery.recipients.iter().chain(to_cc.iter().copied()).map(EmailAddress::as_str).collect();
        let mut facts = Facts {
            sender: msg.sender.email.as_str(),
            recipients,
            subject: &msg.email.subject,
            body: &msg.email.text,
            headers: &msg.email.headers,
            class: msg.class.as_str(),
            org: org_key,
            user_custom: user_custom.as_ref(),
            org_custom: org_key.and_then(|key| book.org_custom.get(key)),
            ticket_custom: msg.delivery.ticket_fields.as_ref(),
            topic: placement.topic.clone(),
            lowered: rules::Lowered::default(),
        };
        let verdict = rules::evaluate(&book.rules, &mut facts, self.explaining);
        let mut unmatched = Vec::new();
        for (tried, rule) in verdict.tried.iter().zip(&book.rules) {
            if tried.matched {
                trace.record("rule", "matched", format!("{}: {}", tried.rule, tried.why));
                self.apply_rule(tx, rule, placement, trace)?;
            } else if self.explaining {
                trace.record("rule", "no-match", format!("{}: {}", tried.rule, tried.why));
            } else {
                unmatched.push(tried.rule.as_str());
            }
        }
        if !unmatched.is_empty() {
            let names = unmatched.join("; ");
            let text =
                format!("{} rules did not match ({names}); `mailgate explain` says why", unmatched.len());
            trace.record("rule", "no-match", text);
        }
        Ok(())
    }

    /// What one matching rule does to the new ticket.
    fn apply_rule(
        &self,
        tx: &mut Tx<'_>,
        rule: &Rule,
        placement: &mut Placement,
        trace: &mut Trace,
    ) -> store::Result<()> {
        let (actions, by) = (&rule.actions, format!("by rule {:?}", rule.name));
        if let Some(reason) = &actions.reject {
            placement.refusal = Some(Refusal::Reject { rule: rule.name.clone(), reason: reason.clone() });
            return Ok(());
        }
        if actions.discard {
            placement.refusal = Some(Refusal::Discard { rule: rule.name.clone() });
            return Ok(());
        }
        if let Some(topic) = &actions.topic {
            self.apply_topic(tx, topic, &by, placement, trace)?;
        }
        if let Some(key) = &actions.assign {
            self.assign_to(tx, key, &by, placement, trace)?;
        }
        if let Some(priority) = actions.priority {
            placement.priority = priority;
            placement.notes.push((format!("Priority set to {} {by}", priority.as_str()), None));
        }
        if let Some(status) = actions.status {
            placement.status = Some(status);
        }
        for address in &actions.add_collaborators {
            if !placement.add_collaborators.contains(address) {
                placement.add_collaborators.push(address.clone());
            }
        }
        choose_auto_response(placement, &actions.auto_response, &format!("rule {:?}", rule.name), trace);
        if actions.stop {
            trace.record("rule", "stop", format!("{}: no further rules", rule.name));
        }
        Ok(())
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
        placement.notes.push((text, None));
        if let Some(priority) = topic.priority {
            placement.priority = priority;
        }
        if let Some(assign) = &topic.assign {
            self.assign_to(tx, assign, &format!("by topic {}", topic.key), placement, trace)?;
        }
        choose_auto_response(placement, &topic.auto_response, &format!("topic {}", topic.key), trace);
        Ok(())
    }

    fn assign_to(
        &self,
        tx: &mut Tx<'_>,
        key: &str,
        why: &str,
        placement: &mut Placement,
        trace: &mut Trace,
    ) -> store::Result<()> {
        match lifecycle_store::find_assignee(tx, key)? {
            Some(assignee) => {
                placement.assignee = Some(assignee);
                let (who, seen) = super::lifecycle::assignee_lines(tx, assignee, key)?;
                let text = format!("Assigned to {who} {why}");
                trace.record("route", "assign", text.clone());
                // The customer reads only who has the ticket in the end (a rule may reassign it).
                placement
                    .notes
                    .iter_mut()
                    .filter(|(line, _)| line.starts_with("Assigned to "))
                    .for_each(|(_, customer)| *customer = None);
                placement.notes.push((text, seen));
            }
            None => {
                trace.record("route", "unassigned", format!("{key} ({why}) is not an active agent or team"))
            }
        }
        Ok(())
    }
}

/// Applies a topic's or a rule's auto-response choice (`who`), recording a change in the trace.
fn choose_auto_response(placement: &mut Placement, choice: &AutoResponse, who: &str, trace: &mut Trace) {
    let chosen = std::mem::take(&mut placement.auto_response).then(choice.clone());
    if *choice != AutoResponse::Usual {
        let said = match &chosen {
            AutoResponse::Skip => "none".to_string(),
            AutoResponse::Variant(name) => format!("the variant {name}"),
            AutoResponse::Usual => "the usual one".to_string(),
        };
        trace.record("route", "auto-response", format!("{said} (by {who})"));
    }
    placement.auto_response = chosen;
}
