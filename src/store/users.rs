//! `users`: the end-user directory (found or created on first contact) and its search.

use sqlx::Row;

use super::Conn;
use crate::core::address::EmailAddress;
use crate::core::ids::{OrgId, UserId};

/// Finds the user with `email`, or creates it; `true` when it was created. Safe against a concurrent
/// creator (the insert does nothing on conflict and the select sees the winner).
pub async fn ensure_user(
    conn: &mut Conn,
    email: &EmailAddress,
    name: Option<&str>,
    org: Option<OrgId>,
    now_ms: i64,
) -> sqlx::Result<(UserId, bool)> {
    if let Some(id) = find_user_id(&mut *conn, email).await? {
        return Ok((id, false));
    }
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO users (email, name, org_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email.as_str())
    .bind(name.unwrap_or_default())
    .bind(org.map(|o| o.0))
    .bind(now_ms)
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(id) => Ok((UserId(id), true)),
        None => {
            let id = find_user_id(conn, email).await?.ok_or(sqlx::Error::RowNotFound)?;
            Ok((id, false))
        }
    }
}

pub async fn find_user_id(conn: &mut Conn, email: &EmailAddress) -> sqlx::Result<Option<UserId>> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(id.map(UserId))
}

/// Sets the display name of a user that has none yet (first contact came without one).
pub async fn fill_user_name(conn: &mut Conn, id: UserId, name: &str, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET name = $1, updated_at = $2 WHERE id = $3 AND name = ''")
        .bind(name)
        .bind(now_ms)
        .bind(id.0)
        .execute(conn)
        .await?;
    Ok(())
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
#[derive(Clone, Debug)]
pub struct UserSummary {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub org_key: Option<String>,
    pub status: String,
    pub tickets: i64,
    pub created_at: i64,
}

/// Users whose email or name contains `query` (case-insensitive; empty matches all), sorted.
pub async fn search_users(
    conn: &mut Conn,
    query: &str,
    sort: UserSort,
    limit: i64,
) -> sqlx::Result<Vec<UserSummary>> {
    let order = match sort {
        UserSort::Name => "ORDER BY LOWER(u.name), u.email",
        UserSort::Email => "ORDER BY u.email",
        UserSort::Created => "ORDER BY u.created_at DESC, u.id DESC",
        UserSort::Tickets => "ORDER BY tickets DESC, u.email",
    };
    let pattern = format!("%{}%", escape_like(&query.to_lowercase()));
    let sql = format!(
        "SELECT u.id, u.email, u.name, o.key, u.status,
                (SELECT COUNT(*) FROM tickets t WHERE t.user_id = u.id) AS tickets, u.created_at
         FROM users u LEFT JOIN orgs o ON o.id = u.org_id
         WHERE u.email LIKE $1 ESCAPE '\\' OR LOWER(u.name) LIKE $1 ESCAPE '\\'
         {order} LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(pattern).bind(limit).fetch_all(conn).await?;
    rows.iter().map(user_summary).collect()
}

/// Finds a user by email or numeric id.
pub async fn find_user(conn: &mut Conn, email_or_id: &str) -> sqlx::Result<Option<UserSummary>> {
    let id = email_or_id.parse::<i64>().unwrap_or(-1);
    let email = email_or_id.trim().to_lowercase();
    let row = sqlx::query(
        "SELECT u.id, u.email, u.name, o.key, u.status,
                (SELECT COUNT(*) FROM tickets t WHERE t.user_id = u.id), u.created_at
         FROM users u LEFT JOIN orgs o ON o.id = u.org_id WHERE u.email = $1 OR u.id = $2",
    )
    .bind(email)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(|row| user_summary(&row)).transpose()
}

/// Maps the column list `id, email, name, org key, status, ticket count, created_at`.
fn user_summary(row: &sqlx::any::AnyRow) -> sqlx::Result<UserSummary> {
    Ok(UserSummary {
        id: UserId(row.try_get(0)?),
        email: row.try_get(1)?,
        name: row.try_get(2)?,
        org_key: row.try_get(3)?,
        status: row.try_get(4)?,
        tickets: row.try_get(5)?,
        created_at: row.try_get(6)?,
    })
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
