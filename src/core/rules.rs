//! Ticket filters (`[[rules]]`): conditions on what a new ticket's message says and who sent it,
//! tried in order, each with why it matched or not; the actions of those that matched, merged.
//! Pure: regexes are compiled once when the configuration is loaded (never per message), the
//! facts are gathered by the caller, and the caller applies the verdict.

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};

use super::command::Priority;
use super::email::RawHeader;
use super::notify::AutoResponse;
use super::ticket::Status;

/// One `[[rules]]` entry, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub name: String,
    /// `true`: every condition must hold (`match = "all"`); `false`: any one.
    pub all: bool,
    pub conditions: Vec<Condition>,
    pub actions: Actions,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Condition {
    pub field: Field,
    pub test: Test,
}

/// What a condition looks at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Field {
    /// The sender's address.
    Sender,
    /// The sender's domain.
    SenderDomain,
    /// Any recipient: envelope, To or Cc.
    Recipient,
    Subject,
    /// The message's text.
    Body,
    /// Any value of this header (lower-case name).
    Header(String),
    /// The classifier's verdict: `normal`, `auto_reply`, `list`, ...
    Class,
    /// The organization's key.
    Org,
    /// A key of the sender's custom data (`users.custom`).
    UserCustom(String),
    /// A key of the organization's custom data.
    OrgCustom(String),
    /// A key of the ticket's own fields (its topic's form, filled on the portal).
    TicketCustom(String),
    /// The topic, as routing or an earlier rule set it.
    Topic,
}

/// How a value is compared. Text comparisons ignore case, except regexes (use `(?i)`); build
/// `Contains` with [`Test::contains`], which lower-cases the needle once.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Test {
    Equals(String),
    Contains(String),
    Regex(Pattern),
    OneOf(Vec<String>),
}

/// A regex compiled at configuration load; compared and printed by its pattern.
#[derive(Clone, Debug)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

/// What a matching rule does. Several matching rules: later values win, collaborators add up,
/// a reject or discard ends the evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Actions {
    pub topic: Option<String>,
    /// An agent or team key.
    pub assign: Option<String>,
    #[serde(serialize_with = "priority_word")]
    pub priority: Option<Priority>,
    pub status: Option<Status>,
    pub add_collaborators: Vec<super::address::EmailAddress>,
    /// `Usual` when the rule has no say.
    pub auto_response: AutoResponse,
    /// Refuse the message; the sender is told this reason.
    pub reject: Option<String>,
    /// Drop the message: recorded with the rule's name, nobody is told.
    pub discard: bool,
    /// Try no further rules.
    pub stop: bool,
}

fn priority_word<S: Serializer>(priority: &Option<Priority>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_some(&priority.map(Priority::as_str))
}

/// The rules in force with what they read besides the message: organizations' custom data (from
/// the TOML) and whether any rule reads users' custom data (a query per new ticket otherwise saved).
#[derive(Clone, Debug, Default)]
pub struct RuleBook {
    pub rules: Vec<Rule>,
    /// Org key -> its custom data.
    pub org_custom: std::collections::HashMap<String, serde_json::Value>,
    pub reads_user_custom: bool,
}

impl RuleBook {
    pub fn new(
        rules: Vec<Rule>,
        org_custom: std::collections::HashMap<String, serde_json::Value>,
    ) -> RuleBook {
        let reads_user_custom = rules
            .iter()
            .flat_map(|rule| &rule.conditions)
            .any(|condition| matches!(condition.field, Field::UserCustom(_)));
        RuleBook { rules, org_custom, reads_user_custom }
    }
}

/// What the rules look at for one message.
#[derive(Clone, Debug, Default)]
pub struct Facts<'a> {
    pub sender: &'a str,
    pub recipients: Vec<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
    pub headers: &'a [RawHeader],
    pub class: &'a str,
    pub org: Option<&'a str>,
    pub user_custom: Option<&'a serde_json::Value>,
    pub org_custom: Option<&'a serde_json::Value>,
    pub ticket_custom: Option<&'a serde_json::Value>,
    pub topic: Option<String>,
    /// The subject and body lower-cased, made on first use.
    pub lowered: Lowered,
}

/// Lower-cased texts of a message, made once however many rules look.
#[derive(Clone, Debug, Default)]
pub struct Lowered {
    subject: std::cell::OnceCell<String>,
    body: std::cell::OnceCell<String>,
}

impl Facts<'_> {
    fn lower_subject(&self) -> &str {
        self.lowered.subject.get_or_init(|| self.subject.to_lowercase())
    }

    fn lower_body(&self) -> &str {
        self.lowered.body.get_or_init(|| self.body.to_lowercase())
    }
}

/// One rule tried: whether it matched, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tried {
    pub rule: String,
    pub matched: bool,
    pub why: String,
}

/// The rules' verdict: every rule tried, and the merged actions of those that matched.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    pub tried: Vec<Tried>,
    pub actions: Actions,
    /// The rule that rejected or discarded the message.
    pub ended_by: Option<String>,
}

/// Tries `rules` in order on `facts`. A rule that sets the topic changes what later rules see.
/// `why_not`: say why each rule that did not match failed (for `explain`); otherwise their `why`
/// is left empty and no text is made for them.
pub fn evaluate(rules: &[Rule], facts: &mut Facts<'_>, why_not: bool) -> Verdict {
    let mut verdict = Verdict::default();
    for rule in rules {
        let (matched, why) = rule_matches(rule, facts, why_not);
        verdict.tried.push(Tried { rule: rule.name.clone(), matched, why });
        if !matched {
            continue;
        }
        let actions = &rule.actions;
        if let Some(topic) = &actions.topic {
            facts.topic = Some(topic.clone());
        }
        merge(&mut verdict.actions, actions);
        if actions.reject.is_some() || actions.discard {
            verdict.ended_by = Some(rule.name.clone());
            break;
        }
        if actions.stop {
            break;
        }
    }
    verdict
}

fn merge(into: &mut Actions, from: &Actions) {
    let later = |into: &mut Option<_>, from: &Option<_>| {
        if from.is_some() {
            into.clone_from(from);
        }
    };
    later(&mut into.topic, &from.topic);
    later(&mut into.assign, &from.assign);
    if from.priority.is_some() {
        into.priority = from.priority;
    }
    if from.status.is_some() {
        into.status = from.status;
    }
    for address in &from.add_collaborators {
        if !into.add_collaborators.contains(address) {
            into.add_collaborators.push(address.clone());
        }
    }
    into.auto_response = std::mem::take(&mut into.auto_response).then(from.auto_response.clone());
    later(&mut into.reject, &from.reject);
    into.discard |= from.discard;
    into.stop |= from.stop;
}

/// Whether `rule` matches, with the condition that decided: the first failing one under `all`,
/// the first holding one under `any`.
fn rule_matches(rule: &Rule, facts: &Facts<'_>, why_not: bool) -> (bool, String) {
    if rule.conditions.is_empty() {
        return (true, "no conditions: matches every message".to_string());
    }
    let said = |condition: &Condition| {
        let seen = seen(&field_values(&condition.field, facts));
        format!("{} {} ({seen})", condition.field, condition.test)
    };
    for condition in &rule.conditions {
        match (rule.all, condition_holds(condition, facts)) {
            (true, false) if why_not => return (false, format!("not: {}", said(condition))),
            (true, false) => return (false, String::new()),
            (false, true) => return (true, said(condition)),
            _ => {}
        }
    }
    match rule.all {
        true => (true, format!("all {} conditions hold", rule.conditions.len())),
        false if why_not => (false, format!("none of {} conditions holds", rule.conditions.len())),
        false => (false, String::new()),
    }
}

/// Whether the condition holds.
fn condition_holds(condition: &Condition, facts: &Facts<'_>) -> bool {
    match (&condition.test, &condition.field) {
        // The long texts are lower-cased once per message, not once per rule.
        (Test::Contains(part), Field::Body) => facts.lower_body().contains(part.as_str()),
        (Test::Contains(part), Field::Subject) => facts.lower_subject().contains(part.as_str()),
        (test, field) => field_values(field, facts).iter().any(|value| test.holds(value)),
    }
}

/// What a field's value was (shortened), for the trace.
fn seen(values: &[Cow<'_, str>]) -> String {
    match values {
        [] => "absent".to_string(),
        [one] => format!("was {:?}", shorten(one)),
        many => format!("{} values", many.len()),
    }
}

/// The field's values: several for recipients, repeated headers and multi-choice custom data.
fn field_values<'f>(field: &Field, facts: &'f Facts<'_>) -> Vec<Cow<'f, str>> {
    let one = |value: &'f str| vec![Cow::Borrowed(value)];
    match field {
        Field::Sender => one(facts.sender),
        Field::SenderDomain => one(facts.sender.rsplit_once('@').map_or("", |(_, domain)| domain)),
        Field::Recipient => facts.recipients.iter().map(|r| Cow::Borrowed(*r)).collect(),
        Field::Subject => one(facts.subject),
        Field::Body => one(facts.body),
        Field::Header(name) => facts
            .headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| Cow::Borrowed(header.value.trim()))
            .collect(),
        Field::Class => one(facts.class),
        Field::Org => facts.org.map(one).unwrap_or_default(),
        Field::UserCustom(key) => custom_values(facts.user_custom, key).into_iter().map(Cow::Owned).collect(),
        Field::OrgCustom(key) => custom_values(facts.org_custom, key).into_iter().map(Cow::Owned).collect(),
        Field::TicketCustom(key) => {
            custom_values(facts.ticket_custom, key).into_iter().map(Cow::Owned).collect()
        }
        Field::Topic => facts.topic.as_deref().map(one).unwrap_or_default(),
    }
}

/// A custom field's value as text: strings as they are, numbers and booleans as written, each
/// element of a list (a multi-choice field); absent or null is no value.
fn custom_values(custom: Option<&serde_json::Value>, key: &str) -> Vec<String> {
    use serde_json::Value;
    let text = |value: &Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    };
    match custom.and_then(|custom| custom.get(key)) {
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        Some(value) => text(value).into_iter().collect(),
        None => Vec::new(),
    }
}

impl Test {
    pub fn contains(part: &str) -> Test {
        Test::Contains(part.to_lowercase())
    }

    fn holds(&self, value: &str) -> bool {
        match self {
            Test::Equals(expected) => value.trim().eq_ignore_ascii_case(expected),
            Test::Contains(part) => value.to_lowercase().contains(part.as_str()),
            Test::Regex(pattern) => pattern.0.is_match(value),
            Test::OneOf(choices) => choices.iter().any(|choice| value.trim().eq_ignore_ascii_case(choice)),
        }
    }
}

/// At most 60 characters of a value, for the trace.
fn shorten(value: &str) -> String {
    let mut short: String = value.chars().take(60).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    short
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Sender => f.write_str("sender"),
            Field::SenderDomain => f.write_str("sender_domain"),
            Field::Recipient => f.write_str("recipient"),
            Field::Subject => f.write_str("subject"),
            Field::Body => f.write_str("body"),
            Field::Header(name) => write!(f, "header.{name}"),
            Field::Class => f.write_str("class"),
            Field::Org => f.write_str("org"),
            Field::UserCustom(key) => write!(f, "user.{key}"),
            Field::OrgCustom(key) => write!(f, "org.{key}"),
            Field::TicketCustom(key) => write!(f, "ticket.{key}"),
            Field::Topic => f.write_str("topic"),
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Test::Equals(value) => write!(f, "equals {value:?}"),
            Test::Contains(value) => write!(f, "contains {value:?}"),
            Test::Regex(pattern) => write!(f, "matches /{}/", pattern.0.as_str()),
            Test::OneOf(values) => write!(f, "is one of {values:?}"),
        }
    }
}

impl Field {
    /// Reads a field name as written in `[[rules]]`: `sender`, `header.x-spam-flag`,
    /// `user.plan`, `org.tier`, ...
    pub fn parse(text: &str) -> Option<Field> {
        let text = text.trim();
        Some(match text {
            "sender" => Field::Sender,
            "sender_domain" => Field::SenderDomain,
            "recipient" => Field::Recipient,
            "subject" => Field::Subject,
            "body" => Field::Body,
            "class" => Field::Class,
            "org" => Field::Org,
            "topic" => Field::Topic,
            _ => {
                let (scope, key) = text.split_once('.')?;
                let key_ok = !key.is_empty()
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if !key_ok {
                    return None;
                }
                match scope {
                    "header" => Field::Header(key.to_ascii_lowercase()),
                    "user" => Field::UserCustom(key.to_string()),
                    "org" => Field::OrgCustom(key.to_string()),
                    "ticket" => Field::TicketCustom(key.to_string()),
                    _ => return None,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, all: bool, conditions: Vec<Condition>, actions: Actions) -> Rule {
        Rule { name: name.to_string(), all, conditions, actions }
    }

    fn cond(field: &str, test: Test) -> Condition {
        Condition { field: Field::parse(field).unwrap(), test }
    }

    fn headers() -> Vec<RawHeader> {
        vec![RawHeader { name: "X-Spam-Flag".into(), value: " YES".into() }]
    }

    #[test]
    fn conditions_combine_with_all_and_any_and_say_why() {
        let org_custom = serde_json::json!({ "tier": "gold", "regions": ["eu", "us"] });
        let headers = headers();
        let mut facts = Facts {
            sender: "ann@acme.com",
            subject: "Invoice 42 is wrong",
            headers: &headers,
            class: "normal",
            org: Some("acme"),
            org_custom: Some(&org_custom),
            ..Facts::default()
        };
        let gold = Actions { assign: Some("billing".into()), ..Actions::default() };
        let rules = [
            rule(
                "gold invoices",
                true,
                vec![
                    cond("org.tier", Test::Equals("Gold".into())),
                    cond("subject", Test::Regex(Pattern(regex::Regex::new(r"(?i)invoice \d+").unwrap()))),
                ],
                gold,
            ),
            rule(
                "asia",
                false,
                vec![cond("org.regions", Test::OneOf(vec!["apac".into(), "jp".into()]))],
                Actions { priority: Some(Priority::Low), ..Actions::default() },
            ),
        ];
        let verdict = evaluate(&rules, &mut facts, true);
        assert!(verdict.tried[0].matched);
        assert_eq!(verdict.tried[0].why, "all 2 conditions hold");
        assert_eq!(
            verdict.tried[1],
            Tried { rule: "asia".into(), matched: false, why: "none of 1 conditions holds".into() }
        );
        assert_eq!(verdict.actions.assign.as_deref(), Some("billing"));
        assert_eq!(verdict.actions.priority, None);
    }

    #[test]
    fn a_failing_condition_is_named_and_a_reject_ends_the_rules() {
        let headers = headers();
        let mut facts = Facts { sender: "x@spam.example", headers: &headers, ..Facts::default() };
        let rules = [
            rule(
                "domain",
                true,
                vec![cond("sender_domain", Test::Equals("acme.com".into()))],
                Actions::default(),
            ),
            rule(
                "spam",
                true,
                vec![cond("header.x-spam-flag", Test::Equals("yes".into()))],
                Actions { reject: Some("We do not accept spam.".into()), ..Actions::default() },
            ),
            rule("never reached", true, vec![], Actions { stop: true, ..Actions::default() }),
        ];
        let verdict = evaluate(&rules, &mut facts, true);
        assert_eq!(verdict.tried[0].why, "not: sender_domain equals \"acme.com\" (was \"spam.example\")");
        assert_eq!(verdict.ended_by.as_deref(), Some("spam"));
        assert_eq!(verdict.tried.len(), 2, "nothing after a reject");
    }

    #[test]
    fn a_topic_set_by_a_rule_is_seen_by_the_next_and_stop_stops() {
        let mut facts = Facts { sender: "a@b.example", ..Facts::default() };
        let rules = [
            rule("to sales", true, vec![], Actions { topic: Some("sales".into()), ..Actions::default() }),
            rule(
                "sales is urgent",
                true,
                vec![cond("topic", Test::Equals("sales".into()))],
                Actions { priority: Some(Priority::Urgent), stop: true, ..Actions::default() },
            ),
            rule("after stop", true, vec![], Actions { priority: Some(Priority::Low), ..Actions::default() }),
        ];
        let verdict = evaluate(&rules, &mut facts, true);
        assert_eq!(verdict.actions.priority, Some(Priority::Urgent));
        assert_eq!(verdict.tried.len(), 2);
        assert_eq!(facts.topic.as_deref(), Some("sales"));
    }

    #[test]
    fn field_names_parse_and_unknown_ones_do_not() {
        assert_eq!(Field::parse("header.X-Mailer"), Some(Field::Header("x-mailer".into())));
        assert_eq!(Field::parse("user.plan"), Some(Field::UserCustom("plan".into())));
        for bad in ["senderr", "header.", "custom.tier", "org.bad key"] {
            assert_eq!(Field::parse(bad), None, "{bad}");
        }
        let custom = serde_json::json!({ "seats": 12, "vip": true });
        let facts = Facts { user_custom: Some(&custom), ..Facts::default() };
        assert!(condition_holds(&cond("user.seats", Test::Equals("12".into())), &facts));
        assert!(condition_holds(&cond("user.vip", Test::Equals("true".into())), &facts));
        assert!(!condition_holds(&cond("user.missing", Test::contains("")), &facts), "absent never holds");
        let fields = serde_json::json!({ "product": ["Router", "Switch"] });
        let facts = Facts { ticket_custom: Some(&fields), ..Facts::default() };
        assert_eq!(Field::parse("ticket.product"), Some(Field::TicketCustom("product".into())));
        assert!(condition_holds(&cond("ticket.product", Test::Equals("switch".into())), &facts));
    }
}
