//! `[[orgs]]`: customer organizations, matched to senders by e-mail domain. Owns the rules that keep
//! that match unambiguous: one org per domain, never a free-mail domain.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::core::address::EmailAddress;
use crate::core::freemail::is_free_mail;

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::{check_directory_key, earlier_claim, is_plausible_domain, parse_addresses, required};
use super::staff::{Agent, Team};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Org {
    pub key: String,
    pub name: String,
    /// Lower-case, no trailing dot.
    pub domains: Vec<String>,
    pub primary_contacts: Vec<EmailAddress>,
    pub account_manager: Option<Manager>,
    pub manager_mode: ManagerMode,
    /// Always a JSON object.
    pub custom: serde_json::Value,
    pub share_tickets: ShareTickets,
}

/// Who sees the org's tickets on the portal besides the people on each ticket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareTickets {
    /// Nobody: each ticket is seen by its owner and collaborators only.
    #[default]
    None,
    /// The org's primary contacts see every ticket of the org.
    PrimaryContacts,
    /// Every member of the org (and its primary contacts) sees every ticket of the org.
    AllMembers,
}

impl ShareTickets {
    /// The word stored in `orgs.share_tickets`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareTickets::None => "none",
            ShareTickets::PrimaryContacts => "primary_contacts",
            ShareTickets::AllMembers => "all_members",
        }
    }
}

/// Who looks after an org's tickets. TOML: `"agent:alice"` or `"team:billing"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    Agent(String),
    Team(String),
}

/// What the account manager gets for a new ticket of the org.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagerMode {
    /// The ticket is assigned to them.
    Assign,
    /// They are alerted; assignment is left to the usual rules.
    Alert,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "an [[orgs]] table")]
pub(super) struct RawOrg {
    /// Unique key among orgs, `[a-z0-9_.-]`. Required.
    pub key: Option<String>,
    /// Display name. Default: the key.
    pub name: Option<String>,
    /// Mail domains of the org (subdomains match too); never free-mail, each in one org only.
    /// Default: none.
    pub domains: Vec<String>,
    /// Addresses added to every new ticket of the org. Default: none.
    pub primary_contacts: Vec<String>,
    /// `"agent:KEY"` or `"team:KEY"`. Default: none.
    pub account_manager: Option<String>,
    /// `"assign"` or `"alert"`; only with `account_manager`. Default: `"assign"`.
    pub manager_mode: Option<ManagerMode>,
    /// Free-form table shown on org pages, e.g. `{ tier = "gold" }`. Default: empty.
    pub custom: Option<toml::Value>,
    /// Who sees the org's tickets on the portal: `"none"` (each ticket's own people only),
    /// `"primary_contacts"` or `"all_members"`. Default: `"none"`.
    pub share_tickets: Option<ShareTickets>,
}

pub(super) fn validate_orgs(
    raw: &[RawOrg],
    agents: &[Agent],
    teams: &[Team],
    problems: &mut Problems<'_, '_>,
) -> Vec<Org> {
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut claimed: HashMap<String, usize> = HashMap::new();
    let mut orgs = Vec::new();
    for (index, org) in raw.iter().enumerate() {
        let path = KeyPath::top("orgs").at(index);
        let key = required(&org.key, &path.key("key"), problems);
        if org.key.is_some() {
            check_directory_key(key, &path.key("key"), problems);
            if let Some(first) = earlier_claim(&mut keys, key.to_string(), index) {
                problems.report(&path.key("key"), format!("{key:?} is already the key of orgs[{first}]"));
            }
        }
        let domains = validate_domains(&org.domains, index, &path, &mut claimed, problems);
        let primary_contacts =
            parse_addresses(&org.primary_contacts, &path.key("primary_contacts"), problems);
        let account_manager = org.account_manager.as_deref().and_then(|reference| {
            parse_manager(reference, agents, teams, &path.key("account_manager"), problems)
        });
        if org.manager_mode.is_some() && org.account_manager.is_none() {
            problems.report(&path.key("manager_mode"), "is set but account_manager is not");
        }
        orgs.push(Org {
            key: key.to_string(),
            name: org.name.clone().unwrap_or_else(|| key.to_string()),
            domains,
            primary_contacts,
            account_manager,
            manager_mode: org.manager_mode.unwrap_or(ManagerMode::Assign),
            custom: validate_custom(org.custom.as_ref(), &path.key("custom"), problems),
            share_tickets: org.share_tickets.unwrap_or_default(),
        });
    }
    orgs
}

fn validate_domains(
    raw: &[String],
    org: usize,
    path: &KeyPath,
    claimed: &mut HashMap<String, usize>,
    problems: &mut Problems<'_, '_>,
) -> Vec<String> {
    let mut domains = Vec::new();
    for (position, text) in raw.iter().enumerate() {
        let domain_path = path.key("domains").at(position);
        let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if !is_plausible_domain(&domain) || !domain.contains('.') {
            problems.report(&domain_path, format!("{text:?} is not a domain name such as \"example.com\""));
        } else if is_free_mail(&domain) {
            problems.report(
                &domain_path,
                format!("{domain:?} is a free-mail domain; organizations never match free-mail domains"),
            );
        } else if domains.contains(&domain) {
            problems.report(&domain_path, format!("{domain:?} is listed twice"));
        } else if let Some(other) = claimed.get(&domain) {
            problems.report(&domain_path, format!("{domain:?} already belongs to orgs[{other}]"));
        } else {
            claimed.insert(domain.clone(), org);
            domains.push(domain);
        }
    }
    domains
}

fn parse_manager(
    reference: &str,
    agents: &[Agent],
    teams: &[Team],
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> Option<Manager> {
    let (manager, known) = match reference.split_once(':') {
        Some(("agent", key)) => (Manager::Agent(key.to_string()), agents.iter().any(|a| a.key == key)),
        Some(("team", key)) => (Manager::Team(key.to_string()), teams.iter().any(|t| t.key == key)),
        _ => {
            problems.report(
                path,
                format!("{reference:?} must be \"agent:KEY\" or \"team:KEY\", e.g. \"agent:alice\""),
            );
            return None;
        }
    };
    if !known {
        let section = if matches!(manager, Manager::Agent(_)) { "[[agents]]" } else { "[[teams]]" };
        problems.report(path, format!("{reference:?} names no {section} entry"));
        return None;
    }
    Some(manager)
}

fn validate_custom(
    custom: Option<&toml::Value>,
    path: &KeyPath,
    problems: &mut Problems<'_, '_>,
) -> serde_json::Value {
    match custom {
        None => serde_json::Value::Object(serde_json::Map::new()),
        Some(table @ toml::Value::Table(_)) => to_json(table, path, problems),
        Some(_) => {
            problems.report(path, "must be a table, e.g. custom = { tier = \"gold\" }");
            serde_json::Value::Object(serde_json::Map::new())
        }
    }
}

/// TOML -> JSON; dates become strings, a non-finite float (not representable) is reported.
fn to_json(value: &toml::Value, path: &KeyPath, problems: &mut Problems<'_, '_>) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        toml::Value::String(text) => Json::String(text.clone()),
        toml::Value::Integer(number) => Json::from(*number),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number).map_or_else(
            || {
                problems.report(path, "nan and inf cannot be stored; use a string");
                Json::Null
            },
            Json::Number,
        ),
        toml::Value::Boolean(flag) => Json::Bool(*flag),
        toml::Value::Datetime(datetime) => Json::String(datetime.to_string()),
        toml::Value::Array(items) => Json::Array(
            items.iter().enumerate().map(|(i, item)| to_json(item, &path.at(i), problems)).collect(),
        ),
        toml::Value::Table(table) => Json::Object(
            table.iter().map(|(key, item)| (key.clone(), to_json(item, &path.key(key), problems))).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::ShareTickets;
    use crate::config::tests::{errors_of, valid};

    #[test]
    fn share_tickets_defaults_to_none_and_takes_three_words() {
        let org = |share: &str| format!("[[orgs]]\nkey = \"acme\"\ndomains = [\"acme.com\"]\n{share}");
        assert_eq!(valid(&org("")).orgs[0].share_tickets, ShareTickets::None);
        for (word, share) in [
            ("none", ShareTickets::None),
            ("primary_contacts", ShareTickets::PrimaryContacts),
            ("all_members", ShareTickets::AllMembers),
        ] {
            let config = valid(&org(&format!("share_tickets = \"{word}\"\n")));
            assert_eq!(config.orgs[0].share_tickets, share);
            assert_eq!(share.as_str(), word);
        }
        let errors = errors_of(&org("share_tickets = \"everyone\"\n"));
        let said = format!("{errors:?}");
        assert!(said.contains("everyone") && said.contains("all_members"), "{said}");
    }
}
