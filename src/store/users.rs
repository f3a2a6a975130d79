//! `users`: the end-user directory (found or created on first contact) and its search.

use super::{Result, Row, Tx};
use crate::core::address::EmailAddress;
use crate::core::ids::{OrgId, UserId};
use crate::params;

/// Finds the user with `email`, or creates it; `true` when it was created. Safe against a concurrent
/// creator (the insert does nothing on conflict and the select sees the winner).
pub fn ensure_user(
    tx: &mut Tx<'_>,
    email: &EmailAddress,
    name: Option<&str>,
    org: Option<OrgId>,
    now_ms: i64,
) -> Result<(UserId, bool)> {
    if let Some(id) = find_user_id(tx, email)? {
        return Ok((id, false));
    }
    let inserted = tx.query_opt(
        "INSERT INTO users (email, name, org_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (email) DO NOTHING RETURNING id",
        params![email.as_str(), name.unwrap_or_default(), org.map(|o| o.0), now_ms],
        |r| r.i64(0),
    )?;
    match inserted {
        Some(id) => Ok((UserId(id), true)),
        None => Ok((find_user_id(tx, email)?.ok_or(super::StoreError::NotFound)?, false)),
    }
}

/// The user whose address, or one of whose additional addresses, `email` is.
pub fn find_user_id(tx: &mut Tx<'_>, email: &EmailAddress) -> Result<Option<UserId>> {
    tx.query_opt(
        "SELECT id FROM users WHERE email = $1 UNION ALL SELECT user_id FROM user_emails WHERE email = $1 LIMIT 1",
        params![email.as_str()],
        |r| Ok(UserId(r.i64(0)?)),
    )
}

/// A user's additional addresses, in order.
pub fn additional_emails(tx: &mut Tx<'_>, id: UserId) -> Result<Vec<String>> {
    tx.query_all("SELECT email FROM user_emails WHERE user_id = $1 ORDER BY email", params![id.0], |r| {
        r.string(0)
    })
}

/// Sets a user's additional addresses to exactly `emails` (checked by the caller).
pub fn set_additional_emails(tx: &mut Tx<'_>, id: UserId, emails: &[String]) -> Result<()> {
    tx.execute("DELETE FROM user_emails WHERE user_id = $1", params![id.0])?;
    for email in emails {
        tx.execute(
            "INSERT INTO user_emails (email, user_id) VALUES ($1, $2)",
            params![email.as_str(), id.0],
        )?;
    }
    Ok(())
}

/// The custom data (`users.custom`, a JSON object) of the user with `email`, if they exist.
pub fn find_user_custom(tx: &mut Tx<'_>, email: &EmailAddress) -> Result<Option<String>> {
    tx.query_opt("SELECT custom FROM users WHERE email = $1", params![email.as_str()], |r| r.string(0))
}

/// Sets the display name of a user that has none yet (first contact came without one).
pub fn fill_user_name(tx: &mut Tx<'_>, id: UserId, name: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE users SET name = $1, updated_at = $2 WHERE id = $3 AND name = ''",
        params![name, now_ms, id.0],
    )?;
    Ok(())
}

/// Where a user's account stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    /// Known from mail (or an invitation not yet taken); no password.
    Guest,
    /// Has a password and may sign in.
    Registered,
    /// May not sign in; mail from them is still stored.
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Guest => "guest",
            UserStatus::Registered => "registered",
            UserStatus::Disabled => "disabled",
        }
    }
}

/// Sort orders of the user directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UserSort {
    Name,
    Email,
    Created,
    Tickets,
}

/// One row of the user directory.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UserSummary {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub org_key: Option<String>,
    pub status: UserStatus,
    pub tickets: i64,
    pub created_at: i64,
}

const SUMMARY_COLUMNS: &str = "u.id, u.email, u.name, o.key, u.status,
    (SELECT COUNT(*) FROM tickets t WHERE t.user_id = u.id) AS tickets, u.created_at
    FROM users u LEFT JOIN orgs o ON o.id = u.org_id";

fn user_summary(r: &Row<'_>) -> Result<UserSummary> {
    Ok(UserSummary {
        id: UserId(r.i64(0)?),
        email: r.string(1)?,
        name: r.string(2)?,
        org_key: r.opt_string(3)?,
        status: r.word(4)?,
        tickets: r.i64(5)?,
        created_at: r.i64(6)?,
    })
}

/// Users whose email, name or a custom data value contains `query` (case-insensitive; empty
/// matches all), sorted.
pub fn search_users(tx: &mut Tx<'_>, query: &str, sort: UserSort, limit: i64) -> Result<Vec<UserSummary>> {
    search_users_page(tx, query, sort, limit, 0)
}

/// [`search_users`] from the `offset`th match on (the console's pages).
pub fn search_users_page(
    tx: &mut Tx<'_>,
    query: &str,
    sort: UserSort,
    limit: i64,
    offset: i64,
) -> Result<Vec<UserSummary>> {
    let order = match sort {
        UserSort::Name => "ORDER BY LOWER(u.name), u.email",
        UserSort::Email => "ORDER BY u.email",
        UserSort::Created => "ORDER BY u.created_at DESC, u.id DESC",
        UserSort::Tickets => "ORDER BY tickets DESC, u.email",
    };
    let pattern = format!("%{}%", escape_like(&query.to_lowercase()));
    // Custom data matches by its values (not its keys): each engine's own way to read JSON.
    let custom = match tx.backend() {
        super::Backend::Sqlite => {
            "EXISTS (SELECT 1 FROM json_each(u.custom) j WHERE LOWER(CAST(j.value AS TEXT)) LIKE $1 ESCAPE '\\')"
        }
        super::Backend::Postgres => {
            "EXISTS (SELECT 1 FROM jsonb_each_text(u.custom::jsonb) j WHERE LOWER(j.value) LIKE $1 ESCAPE '\\')"
        }
    };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} WHERE u.email LIKE $1 ESCAPE '\\' OR LOWER(u.name) LIKE $1 ESCAPE '\\'
            OR ($1 <> '%%' AND {custom}) {order} LIMIT $2 OFFSET $3"
    );
    tx.query_all(&sql, params![pattern.as_str(), limit, offset], user_summary)
}

/// Finds a user by email or numeric id.
pub fn find_user(tx: &mut Tx<'_>, email_or_id: &str) -> Result<Option<UserSummary>> {
    let id = email_or_id.parse::<i64>().unwrap_or(-1);
    let email = email_or_id.trim().to_lowercase();
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} WHERE u.email = $1 OR u.id = $2
            OR u.id = (SELECT ue.user_id FROM user_emails ue WHERE ue.email = $1)"
    );
    tx.query_opt(&sql, params![email.as_str(), id], user_summary)
}

pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Locks (`Disabled`) or unlocks a user: an unlocked user is registered again if they have a
/// password, else a guest. `false` when the user does not exist or already stood so.
pub fn set_locked(tx: &mut Tx<'_>, id: UserId, locked: bool, now_ms: i64) -> Result<bool> {
    let changed = if locked {
        tx.execute(
            "UPDATE users SET status = 'disabled', updated_at = $1 WHERE id = $2 AND status <> 'disabled'",
            params![now_ms, id.0],
        )?
    } else {
        tx.execute(
            "UPDATE users SET status = CASE WHEN password_hash IS NULL THEN 'guest' ELSE 'registered' END,
                              updated_at = $1
              WHERE id = $2 AND status = 'disabled'",
            params![now_ms, id.0],
        )?
    };
    Ok(changed == 1)
}

/// The id of the organization with `key` (organizations are declared in the configuration).
pub fn org_id(tx: &mut Tx<'_>, key: &str) -> Result<Option<OrgId>> {
    tx.query_opt("SELECT id FROM orgs WHERE key = $1", params![key], |r| Ok(OrgId(r.i64(0)?)))
}

/// Adds a user an agent or admin typed in; `None` when the address is already a user.
pub fn add_user(
    tx: &mut Tx<'_>,
    email: &EmailAddress,
    name: &str,
    org: Option<OrgId>,
    custom_json: &str,
    now_ms: i64,
) -> Result<Option<UserId>> {
    tx.query_opt(
        "INSERT INTO users (email, name, org_id, custom, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (email) DO NOTHING RETURNING id",
        params![email.as_str(), name, org.map(|o| o.0), custom_json, now_ms],
        |r| Ok(UserId(r.i64(0)?)),
    )
}

/// A user's name, organization (set by hand: mail never changes it afterwards) and custom data.
pub fn update_user(
    tx: &mut Tx<'_>,
    id: UserId,
    name: &str,
    org: Option<OrgId>,
    custom_json: &str,
    now_ms: i64,
) -> Result<()> {
    tx.execute(
        "UPDATE users SET name = $1, org_id = $2, custom = $3, updated_at = $4 WHERE id = $5",
        params![name, org.map(|o| o.0), custom_json, now_ms, id.0],
    )?;
    Ok(())
}

/// What `update_user` starts from: name, organization and custom data as stored.
pub fn editable(tx: &mut Tx<'_>, id: UserId) -> Result<Option<(String, Option<OrgId>, String)>> {
    tx.query_opt("SELECT name, org_id, custom FROM users WHERE id = $1", params![id.0], |r| {
        Ok((r.string(0)?, r.opt_i64(1)?.map(OrgId), r.string(2)?))
    })
}

/// A user's sign-in throttle as their record shows it (docs/accounts.md, "Throttling").
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lockout {
    /// Failed sign-ins counted in the current windows, from every client.
    pub failures: i64,
    /// Until when some counter refuses their sign-ins (from some or all clients), if it does.
    pub until_at: Option<i64>,
}

/// The throttle rows keyed on `user`: `login:user:N` (the account, for new clients) and
/// `login:user:N@client` (each client). Counts only windows that began after `since_ms`.
pub fn lockout(tx: &mut Tx<'_>, user: UserId, since_ms: i64, now_ms: i64) -> Result<Lockout> {
    let (account, pairs) = throttle_keys(user);
    let failures = tx.query_one(
        "SELECT CAST(COALESCE(SUM(failures), 0) AS BIGINT) FROM rate_limits
          WHERE key LIKE $1 ESCAPE '\\' AND (window_start >= $2 OR blocked_until > $3)",
        params![pairs.as_str(), since_ms, now_ms],
        |r| r.i64(0),
    )?;
    let locked_until = tx.query_one(
        "SELECT MAX(blocked_until) FROM rate_limits WHERE (key = $1 OR key LIKE $2 ESCAPE '\\') AND blocked_until > $3",
        params![account.as_str(), pairs.as_str(), now_ms],
        |r| r.opt_i64(0),
    )?;
    Ok(Lockout { failures, until_at: locked_until })
}

/// Forgets `user`'s throttle rows (an agent's unlock, a completed password reset); how many.
pub fn clear_lockout(tx: &mut Tx<'_>, user: UserId) -> Result<u64> {
    let (account, pairs) = throttle_keys(user);
    tx.execute(
        "DELETE FROM rate_limits WHERE key = $1 OR key LIKE $2 ESCAPE '\\'",
        params![account.as_str(), pairs.as_str()],
    )
}

/// The account counter's key and a LIKE pattern for the per-client ones (`accounts::throttle`).
fn throttle_keys(user: UserId) -> (String, String) {
    let account = format!("login:user:{}", user.0);
    let pairs = format!("{}@%", escape_like(&account));
    (account, pairs)
}

/// Sets a user's phone number (cleaned by the caller).
pub fn set_phone(tx: &mut Tx<'_>, id: UserId, phone: &str, now_ms: i64) -> Result<()> {
    tx.execute("UPDATE users SET phone = $1, updated_at = $2 WHERE id = $3", params![phone, now_ms, id.0])?;
    Ok(())
}

/// A user's phone number ('' when none).
pub fn phone(tx: &mut Tx<'_>, id: UserId) -> Result<String> {
    Ok(tx
        .query_opt("SELECT phone FROM users WHERE id = $1", params![id.0], |r| r.string(0))?
        .unwrap_or_default())
}

/// One user as the CSV export writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRow {
    pub email: String,
    /// Additional addresses, joined by `; `.
    pub emails: String,
    pub name: String,
    pub org_key: Option<String>,
    pub phone: String,
    pub custom_json: String,
}

/// Up to `limit` users (never tombstones) after `after_email` by address, of the organization
/// with id `org` when given: the export's pages.
pub fn export_page(
    tx: &mut Tx<'_>,
    org: Option<OrgId>,
    after_email: &str,
    limit: i64,
) -> Result<Vec<ExportRow>> {
    let org = org.map_or(-1, |o| o.0);
    let mut rows = tx.query_all(
        "SELECT u.email, u.name, o.key, u.phone, u.custom FROM users u LEFT JOIN orgs o ON o.id = u.org_id
          WHERE u.email > $1 AND u.email LIKE '%@%' AND ($2 < 0 OR u.org_id = $2)
          ORDER BY u.email LIMIT $3",
        params![after_email, org, limit],
        |r| {
            Ok(ExportRow {
                email: r.string(0)?,
                emails: String::new(),
                name: r.string(1)?,
                org_key: r.opt_string(2)?,
                phone: r.string(3)?,
                custom_json: r.string(4)?,
            })
        },
    )?;
    let Some(last) = rows.last().map(|row| row.email.clone()) else { return Ok(rows) };
    // The page's additional addresses in one query: the same users, by the page's address range.
    let extra = tx.query_all(
        "SELECT u.email, ue.email FROM user_emails ue JOIN users u ON u.id = ue.user_id
          WHERE u.email > $1 AND u.email <= $2 AND ($3 < 0 OR u.org_id = $3) ORDER BY u.email, ue.email",
        params![after_email, last.as_str(), org],
        |r| Ok((r.string(0)?, r.string(1)?)),
    )?;
    for row in &mut rows {
        let mine: Vec<&str> =
            extra.iter().filter(|(owner, _)| *owner == row.email).map(|(_, email)| email.as_str()).collect();
        row.emails = mine.join("; ");
    }
    Ok(rows)
}

/// Whether `id` is a deleted user's tombstone (`store::erase`).
pub fn is_deleted(tx: &mut Tx<'_>, id: UserId) -> Result<bool> {
    let email = tx.query_opt("SELECT email FROM users WHERE id = $1", params![id.0], |r| r.string(0))?;
    Ok(email.is_some_and(|email| super::erase::is_tombstone(&email)))
}
