//! `[[rules]]`: ticket filters, tried in order on every new ticket (`core::rules`). Checked here
//! with their lines: unknown fields, bad or oversized regexes, unknown topics, agents and teams,
//! contradictory actions. Regexes are compiled here, once per load, never per message.

use std::collections::HashMap;

use serde::Deserialize;

use crate::core::command::Priority;
use crate::core::notify::AutoResponse;
use crate::core::rules::{Actions, Condition, Field, Pattern, Rule, Test};
use crate::core::ticket::Status;

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::{earlier_claim, parse_addresses, required};
use super::staff::{Agent, Team};
use super::topics::{Topic, assignee_key};

/// Compiled size a rule's regex may take; beyond it the pattern is refused (a few KB of pattern).
const MAX_REGEX_BYTES: usize = 1 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [[rules]] table")]
pub(super) struct RawRule {
    /// Unique name, shown in the trace and by `explain`. Required.
    pub name: Option<String>,
    /// `"all"` (every condition) or `"any"` (one is enough). Default: `"all"`.
    #[serde(rename = "match")]
    pub combine: Option<String>,
    /// `{ field = "...", equals | contains | regex | one_of = ... }`. Default: none (matches all).
    pub conditions: Vec<RawCondition>,
    /// A `[[topics]]` key to set. Default: none.
    pub topic: Option<String>,
    /// `"agent:KEY"` or `"team:KEY"`. Default: none.
    pub assign: Option<String>,
    /// `"low"`, `"normal"`, `"high"` or `"urgent"`. Default: none.
    pub priority: Option<String>,
    /// `"open"`, `"pending"` or `"resolved"` for the new ticket. Default: none.
    pub status: Option<String>,
    /// Addresses added as collaborators. Default: none.
    pub add_collaborators: Vec<String>,
    /// `"skip"` (no auto-response for this ticket) or a template variant name
    /// (`new_ticket_auto_response.NAME.{subject,txt,html}.tera` in `templates.dir`). Default: the
    /// topic's choice, else the usual auto-response.
    pub auto_response: Option<String>,
    /// Refuse the message; the sender is told this reason. Default: none.
    pub reject: Option<String>,
    /// Drop the message, recorded under the rule's name. Default: `false`.
    pub discard: bool,
    /// Try no further rules after this one matches. Default: `false`.
    pub stop: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a condition table, e.g. { field = \"subject\", contains = \"invoice\" }")]
pub(super) struct RawCondition {
    /// `sender`, `sender_domain`, `recipient`, `subject`, `body`, `class`, `org`, `topic`,
    /// `header.NAME`, `user.KEY`, `org.KEY`, `ticket.KEY`. Required.
    pub field: Option<String>,
    pub equals: Option<String>,
    pub contains: Option<String>,
    pub regex: Option<String>,
    pub one_of: Option<Vec<String>>,
}

/// What the validation of a rule may refer to.
pub(super) struct Known<'a> {
    pub agents: &'a [Agent],
    pub teams: &'a [Team],
    pub topics: &'a [Topic],
}

pub(super) fn validate_rules(
    raw: &[RawRule],
    known: &Known<'_>,
    problems: &mut Problems<'_, '_>,
) -> Vec<Rule> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut rules = Vec::new();
    for (index, rule) in raw.iter().enumerate() {
        let path = KeyPath::top("rules").at(index);
        let name = required(&rule.name, &path.key("name"), problems).trim().to_string();
        if rule.name.is_some() {
            if name.is_empty() {
                problems.report(&path.key("name"), "must not be empty");
            } else if let Some(first) = earlier_claim(&mut names, name.clone(), index) {
                problems.report(&path.key("name"), format!("{name:?} is already the name of rules[{first}]"));
            }
        }
        let all = match rule.combine.as_deref() {
            None | Some("all") => true,
            Some("any") => false,
            Some(other) => {
                problems.report(&path.key("match"), format!("{other:?} must be \"all\" or \"any\""));
                true
            }
        };
        let conditions = rule
            .conditions
            .iter()
            .enumerate()
            .filter_map(|(at, condition)| {
                validate_condition(condition, &path.key("conditions").at(at), problems)
            })
            .collect();
        let actions = validate_actions(rule, known, &path, problems);
        rules.push(Rule { name, all, conditions, actions });
    }
    rules
}

fn validate_condition(
    raw: &RawCondition,
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> Option<Condition> {
    let text = required(&raw.field, &path.key("field"), problems);
    let field = match Field::parse(text) {
        Some(field) => Some(field),
        None if raw.field.is_some() => {
            problems.report(
                &path.key("field"),
                format!(
                    "{text:?} is not a field; use sender, sender_domain, recipient, subject, body, class, \
                     org, topic, header.NAME, user.KEY, org.KEY or ticket.KEY"
                ),
            );
            None
        }
        None => None,
    };
    let given = [raw.equals.is_some(), raw.contains.is_some(), raw.regex.is_some(), raw.one_of.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        problems.report(path, "needs exactly one of equals, contains, regex and one_of");
        return None;
    }
    let test = if let Some(value) = &raw.equals {
        Test::Equals(value.trim().to_string())
    } else if let Some(value) = &raw.contains {
        Test::contains(value)
    } else if let Some(values) = &raw.one_of {
        if values.is_empty() {
            problems.report(&path.key("one_of"), "must list at least one value");
        }
        Test::OneOf(values.iter().map(|v| v.trim().to_string()).collect())
    } else {
        let pattern = raw.regex.as_deref().unwrap_or_default();
        match regex::RegexBuilder::new(pattern).size_limit(MAX_REGEX_BYTES).build() {
            Ok(regex) => Test::Regex(Pattern(regex)),
            Err(error) => {
                let first_line = error.to_string();
                let message = first_line.lines().last().unwrap_or("invalid").trim().to_string();
                problems.report(&path.key("regex"), format!("{pattern:?} is not a valid regex: {message}"));
                return None;
            }
        }
    };
    Some(Condition { field: field?, test })
}

fn validate_actions(
    raw: &RawRule,
    known: &Known<'_>,
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> Actions {
    if let Some(topic) = &raw.topic
        && !known.topics.iter().any(|t| t.key == *topic)
    {
        problems.report(&path.key("topic"), format!("{topic:?} names no [[topics]] entry"));
    }
    let assign = raw.assign.as_deref().and_then(|reference| {
        assignee_key(reference, known.agents, known.teams, &path.key("assign"), problems)
    });
    let priority = raw.priority.as_deref().and_then(|text| {
        let parsed = Priority::parse(text);
        if parsed.is_none() {
            problems.report(
                &path.key("priority"),
                format!("{text:?} must be \"low\", \"normal\", \"high\" or \"urgent\""),
            );
        }
        parsed
    });
    let status = raw.status.as_deref().and_then(|text| match Status::parse(text) {
        Some(Status::Closed) | None => {
            problems.report(
                &path.key("status"),
                format!("{text:?} must be \"open\", \"pending\" or \"resolved\""),
            );
            None
        }
        status => status,
    });
    let auto_response = match raw.auto_response.as_deref().map(AutoResponse::parse) {
        None => AutoResponse::Usual,
        Some(Ok(choice)) => choice,
        Some(Err(problem)) => {
            problems.report(&path.key("auto_response"), problem);
            AutoResponse::Usual
        }
    };
    let reject = raw.reject.as_deref().map(str::trim).map(str::to_string);
    if reject.as_deref() == Some("") {
        problems.report(&path.key("reject"), "must say why: the sender is told this reason");
    }
    if reject.is_some() && raw.discard {
        problems
            .report(&path.key("discard"), "is set and so is reject; a message is either refused or dropped");
    }
    let actions = Actions {
        topic: raw.topic.clone(),
        assign,
        priority,
        status,
        add_collaborators: parse_addresses(&raw.add_collaborators, &path.key("add_collaborators"), problems),
        auto_response,
        reject,
        discard: raw.discard,
        stop: raw.stop,
    };
    let does_nothing = raw.topic.is_none()
        && raw.assign.is_none()
        && raw.priority.is_none()
        && raw.status.is_none()
        && raw.add_collaborators.is_empty()
        && raw.auto_response.is_none()
        && raw.reject.is_none()
        && !raw.discard
        && !raw.stop;
    if does_nothing {
        problems.report(
            path,
            "has no action; set topic, assign, priority, status, add_collaborators, auto_response, reject, discard or stop",
        );
    }
    actions
}
