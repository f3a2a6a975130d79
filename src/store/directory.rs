//! The declared directory: agents, teams and organizations are written here from the TOML config
//! (upsert by key; what the file no longer names becomes inactive), and read back as a snapshot.

use std::collections::HashMap;

use super::{Backend, Result, Tx};
use crate::core::address::EmailAddress;
use crate::core::identify::{Directory, Manager, ManagerTarget, OrgPolicy};
use crate::core::ids::{AgentId, OrgId, TeamId, UserId};
use crate::params;

/// An arbitrary constant: the advisory lock id a directory sync holds on PostgreSQL.
const DIRECTORY_LOCK: i64 = 0x6d67_6469_7265_6374;

/// Serialises directory syncs of concurrent processes until the transaction ends. SQLite's
/// `BEGIN IMMEDIATE` already does; on PostgreSQL two syncs would otherwise insert the same rows
/// at once and one would fail on a unique index.
pub fn lock_directory(tx: &mut Tx<'_>) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        tx.execute("SELECT pg_advisory_xact_lock($1)", params![DIRECTORY_LOCK])?;
    }
    Ok(())
}

/// An active agent by key, with the address their mail comes from (the first configured one);
/// `None` for an unknown or inactive key, or an agent without an address.
pub fn agent_with_alert_address(tx: &mut Tx<'_>, key: &str) -> Result<Option<(AgentId, String)>> {
    tx.query_opt(
        "SELECT id, email FROM agents WHERE key = $1 AND active = 1 AND email <> ''",
        params![key],
        |r| Ok((AgentId(r.i64(0)?), r.string(1)?)),
    )
}

pub fn get_meta(tx: &mut Tx<'_>, key: &str) -> Result<Option<String>> {
    tx.query_opt("SELECT value FROM meta WHERE key = $1", params![key], |r| r.string(0))
}

pub fn set_meta(tx: &mut Tx<'_>, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
        params![key, value],
    )?;
    Ok(())
}

/// Marks every agent, team and organization inactive and forgets their addresses, domains, members
/// and contacts; the sync then re-activates and re-links what the config declares.
pub fn deactivate_directory(tx: &mut Tx<'_>) -> Result<()> {
    tx.batch(
        "UPDATE agents SET active = 0; UPDATE teams SET active = 0; UPDATE orgs SET active = 0;
         DELETE FROM agent_emails; DELETE FROM team_members; DELETE FROM org_domains; DELETE FROM org_contacts;",
    )
}

/// `email` is the address alerts go to.
pub fn upsert_agent(tx: &mut Tx<'_>, key: &str, name: &str, email: &str) -> Result<AgentId> {
    tx.query_one(
        "INSERT INTO agents (key, name, email, active) VALUES ($1, $2, $3, 1)
         ON CONFLICT (key) DO UPDATE SET name = $2, email = $3, active = 1 RETURNING id",
        params![key, name, email],
        |r| Ok(AgentId(r.i64(0)?)),
    )
}

pub fn insert_agent_email(tx: &mut Tx<'_>, agent: AgentId, email: &EmailAddress) -> Result<()> {
    tx.execute(
        "INSERT INTO agent_emails (email, agent_id) VALUES ($1, $2)",
        params![email.as_str(), agent.0],
    )?;
    Ok(())
}

pub fn upsert_team(tx: &mut Tx<'_>, key: &str, name: &str) -> Result<TeamId> {
    tx.query_one(
        "INSERT INTO teams (key, name, active) VALUES ($1, $2, 1)
         ON CONFLICT (key) DO UPDATE SET name = $2, active = 1 RETURNING id",
        params![key, name],
        |r| Ok(TeamId(r.i64(0)?)),
    )
}

pub fn insert_team_member(tx: &mut Tx<'_>, team: TeamId, agent: AgentId) -> Result<()> {
    tx.execute(
        "INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        params![team.0, agent.0],
    )?;
    Ok(())
}

pub struct OrgRow<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub manager_agent: Option<AgentId>,
    pub manager_team: Option<TeamId>,
    /// `assign` or `alert`.
    pub manager_mode: &'a str,
    pub custom_json: &'a str,
    /// `none`, `primary_contacts` or `all_members` (`config::orgs::ShareTickets`).
    pub share_tickets: &'a str,
}

pub fn upsert_org(tx: &mut Tx<'_>, org: &OrgRow<'_>) -> Result<OrgId> {
    tx.query_one(
        "INSERT INTO orgs (key, name, manager_agent_id, manager_team_id, manager_mode, custom, share_tickets, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
         ON CONFLICT (key) DO UPDATE SET name = $2, manager_agent_id = $3, manager_team_id = $4,
             manager_mode = $5, custom = $6, share_tickets = $7, active = 1
         RETURNING id",
        params![
            org.key,
            org.name,
            org.manager_agent.map(|a| a.0),
            org.manager_team.map(|t| t.0),
            org.manager_mode,
            org.custom_json,
            org.share_tickets
        ],
        |r| Ok(OrgId(r.i64(0)?)),
    )
}

/// Claims `domain` for the org and associates existing users of that domain (or a subdomain) who
/// have no organization yet.
pub fn insert_org_domain(tx: &mut Tx<'_>, org: OrgId, domain: &str, now_ms: i64) -> Result<()> {
    tx.execute("INSERT INTO org_domains (domain, org_id) VALUES ($1, $2)", params![domain, org.0])?;
    let escaped = super::users::escape_like(domain);
    tx.execute(
        "UPDATE users SET org_id = $1, updated_at = $2
         WHERE org_id IS NULL AND (email LIKE $3 ESCAPE '\\' OR email LIKE $4 ESCAPE '\\')",
        params![org.0, now_ms, format!("%@{escaped}").as_str(), format!("%@%.{escaped}").as_str()],
    )?;
    Ok(())
}

pub fn insert_org_contact(tx: &mut Tx<'_>, org: OrgId, user: UserId) -> Result<()> {
    tx.execute(
        "INSERT INTO org_contacts (org_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        params![org.0, user.0],
    )?;
    Ok(())
}

/// The active directory as the pipeline needs it.
pub fn load_directory(tx: &mut Tx<'_>) -> Result<Directory> {
    let agents = tx.query_all(
        "SELECT ae.email, ae.agent_id FROM agent_emails ae JOIN agents a ON a.id = ae.agent_id WHERE a.active = 1",
        &[],
        |r| Ok((r.string(0)?, AgentId(r.i64(1)?))),
    )?;
    let domains = tx.query_all(
        "SELECT d.domain, d.org_id FROM org_domains d JOIN orgs o ON o.id = d.org_id WHERE o.active = 1",
        &[],
        |r| Ok((r.string(0)?, OrgId(r.i64(1)?))),
    )?;
    let mut orgs: HashMap<OrgId, OrgPolicy> = tx
        .query_all(
            "SELECT id, key, manager_agent_id, manager_team_id, manager_mode FROM orgs WHERE active = 1",
            &[],
            |r| {
                let target = match (r.opt_i64(2)?, r.opt_i64(3)?) {
                    (Some(agent), _) => Some(ManagerTarget::Agent(AgentId(agent))),
                    (None, Some(team)) => Some(ManagerTarget::Team(TeamId(team))),
                    (None, None) => None,
                };
                let assign = r.string(4)? != "alert";
                let manager = target.map(|target| Manager { target, assign });
                Ok((OrgId(r.i64(0)?), OrgPolicy { key: r.string(1)?, primary_contacts: Vec::new(), manager }))
            },
        )?
        .into_iter()
        .collect();
    let contacts = tx.query_all(
        "SELECT oc.org_id, u.email FROM org_contacts oc JOIN users u ON u.id = oc.user_id ORDER BY u.email",
        &[],
        |r| Ok((OrgId(r.i64(0)?), r.string(1)?)),
    )?;
    for (org, email) in contacts {
        if let (Some(policy), Some(email)) = (orgs.get_mut(&org), EmailAddress::parse(&email)) {
            policy.primary_contacts.push(email);
        }
    }
    Ok(Directory {
        agents_by_email: agents
            .into_iter()
            .filter_map(|(email, id)| Some((EmailAddress::parse(&email)?, id)))
            .collect(),
        org_by_domain: domains.into_iter().collect(),
        orgs,
    })
}

pub fn agent_key(tx: &mut Tx<'_>, id: AgentId) -> Result<String> {
    tx.query_one("SELECT key FROM agents WHERE id = $1", params![id.0], |r| r.string(0))
}

/// The display name of an agent (their key when they have none).
pub fn agent_name(tx: &mut Tx<'_>, id: AgentId) -> Result<String> {
    tx.query_one("SELECT COALESCE(NULLIF(name, ''), key) FROM agents WHERE id = $1", params![id.0], |r| {
        r.string(0)
    })
}

/// The display name of a team (its key when it has none).
pub fn team_name(tx: &mut Tx<'_>, id: TeamId) -> Result<String> {
    tx.query_one("SELECT COALESCE(NULLIF(name, ''), key) FROM teams WHERE id = $1", params![id.0], |r| {
        r.string(0)
    })
}

pub fn team_key(tx: &mut Tx<'_>, id: TeamId) -> Result<String> {
    tx.query_one("SELECT key FROM teams WHERE id = $1", params![id.0], |r| r.string(0))
}

/// The address alerts to `agent` go to, when the agent is active and has one.
pub fn agent_email(tx: &mut Tx<'_>, agent: AgentId) -> Result<Option<EmailAddress>> {
    let email = tx.query_opt(
        "SELECT email FROM agents WHERE id = $1 AND active = 1 AND email <> ''",
        params![agent.0],
        |r| r.string(0),
    )?;
    Ok(email.and_then(|e| EmailAddress::parse(&e)))
}

/// Every address of `agent`.
pub fn agent_emails(tx: &mut Tx<'_>, agent: AgentId) -> Result<Vec<EmailAddress>> {
    let emails =
        tx.query_all("SELECT email FROM agent_emails WHERE agent_id = $1", params![agent.0], |r| {
            r.string(0)
        })?;
    Ok(emails.iter().filter_map(|e| EmailAddress::parse(e)).collect())
}
