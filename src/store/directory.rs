//! The declared directory: agents, teams and organizations are written here from the TOML config
//! (upsert by key; what the file no longer names becomes inactive), and read back as a snapshot.

use std::collections::HashMap;

use super::Conn;
use crate::core::address::EmailAddress;
use crate::core::identify::{Directory, Manager, ManagerTarget, OrgPolicy};
use crate::core::ids::{AgentId, OrgId, TeamId, UserId};

pub async fn get_meta(conn: &mut Conn, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(conn).await
}

pub async fn set_meta(conn: &mut Conn, key: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2")
        .bind(key)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks every agent, team and organization inactive and forgets their addresses, domains, members
/// and contacts; the sync then re-activates and re-links what the config declares.
pub async fn deactivate_directory(conn: &mut Conn) -> sqlx::Result<()> {
    for sql in [
        "UPDATE agents SET active = 0",
        "UPDATE teams SET active = 0",
        "UPDATE orgs SET active = 0",
        "DELETE FROM agent_emails",
        "DELETE FROM team_members",
        "DELETE FROM org_domains",
        "DELETE FROM org_contacts",
    ] {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn upsert_agent(conn: &mut Conn, key: &str, name: &str) -> sqlx::Result<AgentId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO agents (key, name, active) VALUES ($1, $2, 1)
         ON CONFLICT (key) DO UPDATE SET name = $2, active = 1 RETURNING id",
    )
    .bind(key)
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok(AgentId(id))
}

pub async fn insert_agent_email(conn: &mut Conn, agent: AgentId, email: &EmailAddress) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO agent_emails (email, agent_id) VALUES ($1, $2)")
        .bind(email.as_str())
        .bind(agent.0)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn upsert_team(conn: &mut Conn, key: &str, name: &str) -> sqlx::Result<TeamId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO teams (key, name, active) VALUES ($1, $2, 1)
         ON CONFLICT (key) DO UPDATE SET name = $2, active = 1 RETURNING id",
    )
    .bind(key)
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok(TeamId(id))
}

pub async fn insert_team_member(conn: &mut Conn, team: TeamId, agent: AgentId) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(team.0)
        .bind(agent.0)
        .execute(conn)
        .await?;
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
}

pub async fn upsert_org(conn: &mut Conn, org: &OrgRow<'_>) -> sqlx::Result<OrgId> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO orgs (key, name, manager_agent_id, manager_team_id, manager_mode, custom, active)
         VALUES ($1, $2, $3, $4, $5, $6, 1)
         ON CONFLICT (key) DO UPDATE SET name = $2, manager_agent_id = $3, manager_team_id = $4,
             manager_mode = $5, custom = $6, active = 1
         RETURNING id",
    )
    .bind(org.key)
    .bind(org.name)
    .bind(org.manager_agent.map(|a| a.0))
    .bind(org.manager_team.map(|t| t.0))
    .bind(org.manager_mode)
    .bind(org.custom_json)
    .fetch_one(conn)
    .await?;
    Ok(OrgId(id))
}

/// Claims `domain` for the org and associates existing users of that domain (or a subdomain) who
/// have no organization yet.
pub async fn insert_org_domain(conn: &mut Conn, org: OrgId, domain: &str, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO org_domains (domain, org_id) VALUES ($1, $2)")
        .bind(domain)
        .bind(org.0)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE users SET org_id = $1, updated_at = $2
         WHERE org_id IS NULL AND (email LIKE $3 ESCAPE '\\' OR email LIKE $4 ESCAPE '\\')",
    )
    .bind(org.0)
    .bind(now_ms)
    .bind(format!("%@{}", domain.replace('_', "\\_").replace('%', "\\%")))
    .bind(format!("%@%.{}", domain.replace('_', "\\_").replace('%', "\\%")))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_org_contact(conn: &mut Conn, org: OrgId, user: UserId) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO org_contacts (org_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(org.0)
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(())
}

/// The active directory as the pipeline needs it.
pub async fn load_directory(conn: &mut Conn) -> sqlx::Result<Directory> {
    let agent_rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT ae.email, ae.agent_id FROM agent_emails ae JOIN agents a ON a.id = ae.agent_id WHERE a.active = 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let domain_rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.domain, d.org_id FROM org_domains d JOIN orgs o ON o.id = d.org_id WHERE o.active = 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let org_rows: Vec<(i64, String, Option<i64>, Option<i64>, String)> = sqlx::query_as(
        "SELECT id, key, manager_agent_id, manager_team_id, manager_mode FROM orgs WHERE active = 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let contact_rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT oc.org_id, u.email FROM org_contacts oc JOIN users u ON u.id = oc.user_id ORDER BY u.email",
    )
    .fetch_all(&mut *conn)
    .await?;

    let mut orgs: HashMap<OrgId, OrgPolicy> = org_rows
        .into_iter()
        .map(|(id, key, agent, team, mode)| {
            let target = agent
                .map(|a| ManagerTarget::Agent(AgentId(a)))
                .or(team.map(|t| ManagerTarget::Team(TeamId(t))));
            let manager = target.map(|target| Manager { target, assign: mode != "alert" });
            (OrgId(id), OrgPolicy { key, primary_contacts: Vec::new(), manager })
        })
        .collect();
    for (org, email) in contact_rows {
        if let (Some(policy), Some(email)) = (orgs.get_mut(&OrgId(org)), EmailAddress::parse(&email)) {
            policy.primary_contacts.push(email);
        }
    }
    Ok(Directory {
        agents_by_email: agent_rows
            .into_iter()
            .filter_map(|(email, id)| Some((EmailAddress::parse(&email)?, AgentId(id))))
            .collect(),
        org_by_domain: domain_rows.into_iter().map(|(domain, id)| (domain, OrgId(id))).collect(),
        orgs,
    })
}

/// Names of agents and teams by id, for messages in the trace and system entries.
pub async fn agent_key(conn: &mut Conn, id: AgentId) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT key FROM agents WHERE id = $1").bind(id.0).fetch_one(conn).await
}

pub async fn team_key(conn: &mut Conn, id: TeamId) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT key FROM teams WHERE id = $1").bind(id.0).fetch_one(conn).await
}
