//! `[[topics]]`: help topics (what a ticket is about), with the team or agent, priority and
//! visibility of their tickets, and the receiving addresses and `[[mailbox]]`es that route to them.
//! Owns the cross-checks: every address routed is ours, every key named exists.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::core::address::EmailAddress;
use crate::core::command::Priority;
use crate::core::notify::AutoResponse;

use super::error::Problems;
use super::locate::KeyPath;
use super::mailbox::Mailbox;
use super::rules::{check_directory_key, earlier_claim, parse_addresses, required};
use super::staff::{Agent, Team};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Topic {
    pub key: String,
    pub name: String,
    /// An agent or team key.
    pub assign: Option<String>,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: Option<String>,
    pub public: bool,
    /// Our addresses whose mail is this topic's.
    pub addresses: Vec<EmailAddress>,
    /// The `[[sla]]` plan of the topic's tickets.
    pub sla: Option<String>,
    /// The `[[forms]]` ticket form of the topic.
    pub form: Option<String>,
    /// The auto-response its new tickets get.
    pub auto_response: AutoResponse,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [[topics]] table")]
pub(super) struct RawTopic {
    /// Unique key, `[a-z0-9_.-]`, used by `#topic KEY` and rules. Required.
    pub key: Option<String>,
    /// Display name. Default: the key.
    pub name: Option<String>,
    /// `"agent:KEY"` or `"team:KEY"`: new tickets of the topic are assigned there. Default: none.
    pub assign: Option<String>,
    /// `"low"`, `"normal"`, `"high"` or `"urgent"` for new tickets. Default: `"normal"`.
    pub priority: Option<String>,
    /// Offered to customers (`true`) or set by agents and rules only. Default: `true`.
    pub public: Option<bool>,
    /// Support or mailbox addresses whose mail is this topic's. Default: none.
    pub addresses: Vec<String>,
    /// The `[[sla]]` key of the topic's tickets. Default: the default plan, if any.
    pub sla: Option<String>,
    /// A `[[forms]]` key with `applies_to = "ticket"`: the topic's ticket fields. Default: none.
    pub form: Option<String>,
    /// `"skip"` (no auto-response for the topic's new tickets) or a template variant name
    /// (`new_ticket_auto_response.NAME.{subject,txt,html}.tera` in `templates.dir`).
    /// Default: the usual auto-response.
    pub auto_response: Option<String>,
}

pub(super) fn validate_topics(
    raw: &[RawTopic],
    agents: &[Agent],
    teams: &[Team],
    own: &[EmailAddress],
    plans: &[crate::core::sla::Plan],
    forms: &[crate::core::forms::Form],
    problems: &mut Problems<'_, '_>,
) -> Vec<Topic> {
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut routed: HashMap<EmailAddress, usize> = HashMap::new();
    let mut topics = Vec::new();
    for (index, topic) in raw.iter().enumerate() {
        let path = KeyPath::top("topics").at(index);
        let key = required(&topic.key, &path.key("key"), problems);
        if topic.key.is_some() {
            check_directory_key(key, &path.key("key"), problems);
            if let Some(first) = earlier_claim(&mut keys, key.to_string(), index) {
                problems.report(&path.key("key"), format!("{key:?} is already the key of topics[{first}]"));
            }
        }
        let assign = topic
            .assign
            .as_deref()
            .and_then(|reference| assignee_key(reference, agents, teams, &path.key("assign"), problems));
        if let Some(priority) = &topic.priority
            && Priority::parse(priority).is_none()
        {
            problems.report(
                &path.key("priority"),
                format!("{priority:?} must be \"low\", \"normal\", \"high\" or \"urgent\""),
            );
        }
        let addresses_path = path.key("addresses");
        let addresses = parse_addresses(&topic.addresses, &addresses_path, problems);
        for (position, address) in addresses.iter().enumerate() {
            let at = addresses_path.at(position);
            if !own.contains(address) {
                problems.report(
                    &at,
                    format!(
                        "{address} is not one of ours; list it in instance.support_addresses or a \
                         [[mailbox]]'s addresses"
                    ),
                );
            } else if let Some(first) = earlier_claim(&mut routed, address.clone(), index) {
                problems.report(&at, format!("{address} already routes to topics[{first}]"));
            }
        }
        if let Some(sla) = &topic.sla
            && !plans.iter().any(|plan| plan.key == *sla)
        {
            problems.report(&path.key("sla"), format!("{sla:?} names no [[sla]] entry"));
        }
        if let Some(form) = &topic.form {
            match forms.iter().find(|f| f.key == *form) {
                None => problems.report(&path.key("form"), format!("{form:?} names no [[forms]] entry")),
                Some(f) if f.applies_to != crate::core::forms::Subject::Ticket => problems.report(
                    &path.key("form"),
                    format!("{form:?} is not a ticket form (applies_to = \"ticket\")"),
                ),
                Some(_) => {}
            }
        }
        let auto_response = match topic.auto_response.as_deref().map(AutoResponse::parse) {
            None => AutoResponse::Usual,
            Some(Ok(choice)) => choice,
            Some(Err(problem)) => {
                problems.report(&path.key("auto_response"), problem);
                AutoResponse::Usual
            }
        };
        topics.push(Topic {
            key: key.to_string(),
            name: topic.name.clone().unwrap_or_else(|| key.to_string()),
            assign,
            priority: topic.priority.as_deref().and_then(Priority::parse).map(|p| p.as_str().to_string()),
            public: topic.public.unwrap_or(true),
            addresses,
            sla: topic.sla.clone(),
            form: topic.form.clone(),
            auto_response,
        });
    }
    topics
}

/// A `[[mailbox]]`'s `topic` names a topic.
pub(super) fn check_mailbox_topics(mailboxes: &[Mailbox], topics: &[Topic], problems: &mut Problems<'_, '_>) {
    for (index, mailbox) in mailboxes.iter().enumerate() {
        if let Some(key) = &mailbox.topic
            && !topics.iter().any(|topic| topic.key == *key)
        {
            problems.report(
                &KeyPath::top("mailbox").at(index).key("topic"),
                format!("{key:?} names no [[topics]] entry"),
            );
        }
    }
}

/// `"agent:KEY"` or `"team:KEY"` naming a declared agent or team: the key.
pub(super) fn assignee_key(
    reference: &str,
    agents: &[Agent],
    teams: &[Team],
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> Option<String> {
    let known = match reference.split_once(':') {
        Some(("agent", key)) => {
            agents.iter().any(|a| a.key == key).then(|| key.to_string()).ok_or("[[agents]]")
        }
        Some(("team", key)) => teams.iter().any(|t| t.key == key).then(|| key.to_string()).ok_or("[[teams]]"),
        _ => {
            problems.report(
                path,
                format!("{reference:?} must be \"agent:KEY\" or \"team:KEY\", e.g. \"team:billing\""),
            );
            return None;
        }
    };
    known.map_err(|section| problems.report(path, format!("{reference:?} names no {section} entry"))).ok()
}
