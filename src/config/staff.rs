//! `[[agents]]` and `[[teams]]`: who answers tickets. Agent and team keys share one namespace
//! because `#assign <key>` and `account_manager` name either; this module keeps them apart.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::core::address::EmailAddress;

use super::error::Problems;
use super::locate::KeyPath;
use super::rules::{check_directory_key, earlier_claim, parse_addresses, required};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agent {
    pub key: String,
    pub name: String,
    pub emails: Vec<EmailAddress>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Team {
    pub key: String,
    pub name: String,
    /// Agent keys.
    pub members: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "an [[agents]] table")]
pub(super) struct RawAgent {
    /// Unique key, `[a-z0-9_.-]`, shared namespace with team keys. Required.
    pub key: Option<String>,
    /// Display name. Default: the key.
    pub name: Option<String>,
    /// The agent's own addresses: alerts go to the first, replies are recognised from any.
    /// At least one. Default: none.
    pub emails: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, expecting = "a [[teams]] table")]
pub(super) struct RawTeam {
    /// Unique key, `[a-z0-9_.-]`, not also an agent key. Required.
    pub key: Option<String>,
    /// Display name. Default: the key.
    pub name: Option<String>,
    /// Agent keys. Default: none.
    pub members: Vec<String>,
}

pub(super) fn validate_agents(
    raw: &[RawAgent],
    own_addresses: &[EmailAddress],
    problems: &mut Problems<'_, '_>,
) -> Vec<Agent> {
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut owners: HashMap<EmailAddress, usize> = HashMap::new();
    let mut agents = Vec::new();
    for (index, agent) in raw.iter().enumerate() {
        let path = KeyPath::top("agents").at(index);
        let key = required(&agent.key, &path.key("key"), problems);
        if agent.key.is_some() {
            check_directory_key(key, &path.key("key"), problems);
            if let Some(first) = earlier_claim(&mut keys, key.to_string(), index) {
                problems.report(&path.key("key"), format!("{key:?} is already the key of agents[{first}]"));
            }
        }
        let emails_path = path.key("emails");
        let emails = parse_addresses(&agent.emails, &emails_path, problems);
        if agent.emails.is_empty() {
            problems.report(
                &emails_path,
                "needs at least one address: alerts go there and replies are recognised by it",
            );
        }
        for (position, email) in emails.iter().enumerate() {
            let email_path = emails_path.at(raw_index(&agent.emails, email).unwrap_or(position));
            if own_addresses.contains(email) {
                problems.report(
                    &email_path,
                    format!("{email} is a support address; an agent needs an address of their own"),
                );
            } else if let Some(other) = earlier_claim(&mut owners, email.clone(), index) {
                problems.report(&email_path, format!("{email} is already an address of agents[{other}]"));
            }
        }
        let name = agent.name.clone().unwrap_or_else(|| key.to_string());
        agents.push(Agent { key: key.to_string(), name, emails });
    }
    agents
}

pub(super) fn validate_teams(
    raw: &[RawTeam],
    agents: &[Agent],
    problems: &mut Problems<'_, '_>,
) -> Vec<Team> {
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut teams = Vec::new();
    for (index, team) in raw.iter().enumerate() {
        let path = KeyPath::top("teams").at(index);
        let key = required(&team.key, &path.key("key"), problems);
        if team.key.is_some() {
            check_directory_key(key, &path.key("key"), problems);
            if let Some(agent) = agents.iter().position(|agent| agent.key == key) {
                problems.report(
                    &path.key("key"),
                    format!(
                        "{key:?} is already the key of agents[{agent}]; agents and teams share one \
                         namespace (for #assign)"
                    ),
                );
            } else if let Some(first) = earlier_claim(&mut keys, key.to_string(), index) {
                problems.report(&path.key("key"), format!("{key:?} is already the key of teams[{first}]"));
            }
        }
        for (position, member) in team.members.iter().enumerate() {
            let member_path = path.key("members").at(position);
            if !agents.iter().any(|agent| agent.key == *member) {
                problems.report(&member_path, format!("{member:?} is not the key of any [[agents]] entry"));
            } else if team.members.iter().take(position).any(|earlier| earlier == member) {
                problems.report(&member_path, format!("{member:?} is listed twice"));
            }
        }
        let name = team.name.clone().unwrap_or_else(|| key.to_string());
        teams.push(Team { key: key.to_string(), name, members: team.members.clone() });
    }
    teams
}

/// Where `address` was written in `raw`, so an error points at its own array element.
fn raw_index(raw: &[String], address: &EmailAddress) -> Option<usize> {
    raw.iter().position(|text| EmailAddress::parse(text).as_ref() == Some(address))
}
