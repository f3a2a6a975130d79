//! Where an account's password is checked (`auth_source`: NULL for mailgate's own password,
//! `ldap:NAME` for a directory), and the directory's attributes written on each sign-in through
//! it (migration 0015). Which source wins is decided in `accounts`, not here.

use super::users::UserStatus;
use super::{Result, Tx};
use crate::core::address::EmailAddress;
use crate::core::ids::{AgentId, OrgId, UserId};
use crate::params;
use crate::store::sessions::Holder;

/// What a directory sign-in must know about an account before it may use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub has_password: bool,
    pub source: Option<String>,
}

/// An end user found by address, as a directory sign-in sees them.
#[derive(Clone, Debug)]
pub struct DirectoryUser {
    pub id: UserId,
    pub status: UserStatus,
    pub claim: Claim,
}

/// The source of `holder`'s password, if any other than mailgate's own.
pub fn source_of(tx: &mut Tx<'_>, holder: Holder) -> Result<Option<String>> {
    let found = match holder {
        Holder::User(user) => {
            tx.query_opt("SELECT auth_source FROM users WHERE id = $1", params![user.0], |r| r.opt_string(0))?
        }
        Holder::Agent(agent) => {
            tx.query_opt("SELECT auth_source FROM agents WHERE id = $1", params![agent.0], |r| {
                r.opt_string(0)
            })?
        }
    };
    Ok(found.flatten())
}

pub fn user_by_email(tx: &mut Tx<'_>, email: &EmailAddress) -> Result<Option<DirectoryUser>> {
    tx.query_opt(
        "SELECT id, status, CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END, auth_source FROM users WHERE email = $1",
        params![email.as_str()],
        |r| {
            Ok(DirectoryUser {
                id: UserId(r.i64(0)?),
                status: r.word(1)?,
                claim: Claim { has_password: r.bool(2)?, source: r.opt_string(3)? },
            })
        },
    )
}

/// A new registered account whose password is `source`'s; `None` when the address was taken
/// meanwhile (the caller looks again).
pub fn insert_directory_user(
    tx: &mut Tx<'_>,
    email: &EmailAddress,
    name: &str,
    org: Option<OrgId>,
    source: &str,
    now_ms: i64,
) -> Result<Option<UserId>> {
    tx.query_opt(
        "INSERT INTO users (email, name, org_id, status, auth_source, created_at, updated_at)
              VALUES ($1, $2, $3, 'registered', $4, $5, $5)
         ON CONFLICT (email) DO NOTHING RETURNING id",
        params![email.as_str(), name, org.map(|o| o.0), source, now_ms],
        |r| Ok(UserId(r.i64(0)?)),
    )
}

/// Makes a user without a password or source (a guest known from mail, an invitation not taken)
/// an account of `source`. `false` when they stood otherwise by now.
pub fn link_user(tx: &mut Tx<'_>, user: UserId, source: &str, now_ms: i64) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE users SET auth_source = $1, status = 'registered', updated_at = $2
          WHERE id = $3 AND auth_source IS NULL AND password_hash IS NULL AND status <> 'disabled'",
        params![source, now_ms, user.0],
    )?;
    Ok(changed == 1)
}

/// An active agent found by address, as a directory sign-in sees them.
pub fn agent_by_email(tx: &mut Tx<'_>, email: &EmailAddress) -> Result<Option<(AgentId, Claim)>> {
    tx.query_opt(
        "SELECT a.id, CASE WHEN a.password_hash IS NULL THEN 0 ELSE 1 END, a.auth_source FROM agents a
          WHERE a.active = 1 AND a.id IN (SELECT agent_id FROM agent_emails WHERE email = $1)",
        params![email.as_str()],
        |r| Ok((AgentId(r.i64(0)?), Claim { has_password: r.bool(1)?, source: r.opt_string(2)? })),
    )
}

/// Makes an agent without a password or source an account of `source`.
pub fn link_agent(tx: &mut Tx<'_>, agent: AgentId, source: &str) -> Result<bool> {
    let changed = tx.execute(
        "UPDATE agents SET auth_source = $1 WHERE id = $2 AND auth_source IS NULL AND password_hash IS NULL",
        params![source, agent.0],
    )?;
    Ok(changed == 1)
}

/// The user's phone number and custom data (a JSON object) as stored.
pub fn profile(tx: &mut Tx<'_>, user: UserId) -> Result<Option<(String, String)>> {
    tx.query_opt("SELECT phone, custom FROM users WHERE id = $1", params![user.0], |r| {
        Ok((r.string(0)?, r.string(1)?))
    })
}

/// What the directory says of a user: each `Some` replaces the stored value.
pub struct Attributes<'a> {
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub custom_json: Option<&'a str>,
}

pub fn update_from_directory(
    tx: &mut Tx<'_>,
    user: UserId,
    given: &Attributes<'_>,
    now_ms: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE users SET name = COALESCE($1, name), phone = COALESCE($2, phone),
                          custom = COALESCE($3, custom), updated_at = $4
          WHERE id = $5",
        params![given.name, given.phone, given.custom_json, now_ms, user.0],
    )?;
    Ok(())
}
